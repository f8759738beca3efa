"""Hypothesis strategies, one module per concern, shared by the property suites."""
