"""Built-in mutators: one bug category per module, the module named after its bug ID.

Shipped as ``pytest_mlbugs.mutators``.
"""
