"""One Hypothesis property suite per contract of docs/contracts.md; each module defines ``SUITE``."""
