"""A worked example of a pytest-mlbugs extension: the label_smoothing component and one mutator."""

__version__ = "0.1.0"
