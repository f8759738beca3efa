"""A tiny attention classifier: the code that ``--mlbugs-target`` mutation-tests in the example."""
