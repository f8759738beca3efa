"""pytest-mlbugs: seeded ML bugs, and the property tests that must catch them."""

from __future__ import annotations

__version__ = "0.1.0"
