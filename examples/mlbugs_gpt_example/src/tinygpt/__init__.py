"""A small GPT language model and its training step: the code ``--mlbugs-target`` mutation-tests."""
