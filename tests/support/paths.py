"""Where things are in this checkout, for tests in any folder."""

from __future__ import annotations

from pathlib import Path

#: the root of the repository
ROOT = Path(__file__).resolve().parents[2]
#: the worked examples a user would copy
PLUGIN_EXAMPLE = ROOT / "examples" / "mlbugs_plugin_example"
TARGET_EXAMPLE = ROOT / "examples" / "mlbugs_target_example"
GPT_EXAMPLE = ROOT / "examples" / "mlbugs_gpt_example"
