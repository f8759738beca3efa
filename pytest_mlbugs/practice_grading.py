"""The import path of practice folders written before practice mode became a package.

Their generated ``conftest.py`` and ``test_<exercise>.py`` files import this module and call
:func:`register`, :func:`property_names` and :func:`grade`; it stays, so that a folder of
exercises keeps grading after an upgrade. New folders import
:mod:`pytest_mlbugs.practice.grading` directly.
"""

from __future__ import annotations

from pytest_mlbugs.practice.grading import grade, property_names, register

__all__ = ["grade", "property_names", "register"]
