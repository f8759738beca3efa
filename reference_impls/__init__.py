"""Correct, readable reference implementations of the contracts in docs/contracts.md.

Shipped as ``pytest_mlbugs.reference_impls``. The files are also read as text: they are the
sources the mutators rewrite.
"""
