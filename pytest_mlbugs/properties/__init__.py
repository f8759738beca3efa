"""One Hypothesis property suite per contract of CONTRACTS.md; each module defines ``SUITE``."""
