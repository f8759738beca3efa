"""Hostile variants: code that fights the harness still gets an honest verdict, on time.

A conftest registers mutators that prepend hostile statements to ``forward`` of the attention
reference: endless loops, exits, a segfault, unbounded memory, immortal threads, writes outside
the scratch folder, changes of torch's global state. A probe variant checks that the state it
starts in is clean (it exits with an error when not), so a leak between variants shows as an
``error`` verdict on the probe.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from pytest_mlbugs.isolation import run_isolated, write_sandbox_available
from pytest_mlbugs.verdict import Verdict

#: bug ID -> the statements prepended to ``forward`` (``{outside}``: a folder outside the scratch space)
HOSTILE = {
    "hostile_loop": "while True:\n    pass",
    "hostile_sleep": "import time\ntime.sleep(3600)",
    "hostile_sys_exit": "import sys\nsys.exit(3)",
    "hostile_os_exit": "import os\nos._exit(0)",
    "hostile_keyboard_interrupt": "raise KeyboardInterrupt",
    "hostile_system_exit": "raise SystemExit('bye')",
    "hostile_segfault": "import ctypes\nctypes.string_at(0)",
    "hostile_memory": "hoard = []\nwhile True:\n    hoard.append(bytearray(1 << 26))",
    "hostile_threads": (  # once per child: a thread per call would run into the memory limit
        "import threading, time\n"
        "if not hasattr(threading, 'hostile_started'):\n"
        "    threading.hostile_started = True\n"
        "    threading.Thread(target=time.sleep, args=(3600,)).start()\n"
        "    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()"
    ),
    "hostile_writes": (
        "open('hostile_relative.txt', 'w').write('x')\n"
        "open({outside!r} + '/hostile_absolute.txt', 'w').write('x')"
    ),
    "hostile_grad_off": "import torch\ntorch.set_grad_enabled(False)",
    "hostile_dtype": "import torch\ntorch.set_default_dtype(torch.float64)",
    "hostile_device": "import torch\ntorch.set_default_device('meta')",
    "hostile_seed": "import torch\ntorch.manual_seed(0)",
    "hostile_deterministic": "import torch\ntorch.use_deterministic_algorithms(True)",
    "hostile_num_threads": "import torch\ntorch.set_num_threads(7)",
    "hostile_matmul_precision": "import torch\ntorch.set_float32_matmul_precision('medium')",
    # A decorator of forward, so it runs when the variant is imported, before any property sets
    # up its own context (no_grad, the meta device): behaviour unchanged when the state the
    # variant starts in is clean (it survives), an error verdict when it is not.
    "state_probe": (
        "@(lambda f, torch=__import__('torch'): f if (torch.is_grad_enabled()"
        " and torch.get_default_dtype() == torch.float32 and torch.get_default_device().type == 'cpu'"
        " and not torch.are_deterministic_algorithms_enabled()"
        " and torch.get_float32_matmul_precision() == 'highest') else __import__('sys').exit('dirty state'))"
    ),
}

TORCH_STATE = [name for name in HOSTILE if name.startswith("hostile_") and "torch." in HOSTILE[name]]

CONFTEST = textwrap.dedent(
    '''
    import libcst as cst

    from pytest_mlbugs.api import Category, Layer, Mutator

    HOSTILE = {hostile!r}


    def make(bug_id, code):
        # a probe writes two variants (its second spelling differs only in a default argument),
        # so that a second round of a session judges it again after every hostile variant
        codes = [code, code.replace("torch=", "again=True, torch=", 1)] if bug_id == "state_probe" else [code]

        def parts(code):
            if code.startswith("@"):
                return (cst.Decorator(cst.parse_expression(code[1:])),), ()
            return (), cst.parse_module(code + "\\n").body

        class Hostile(Mutator):
            """A variant that fights the harness."""

            components = ("attention",)
            category = Category.SHAPES
            layer = Layer.SHAPES
            symptom = hint = fix = "none"
            description = "hostile: " + bug_id
            node_types = (cst.FunctionDef,)
            EXAMPLES = ()

            def mutations(self, node):
                if node.name.value != "forward":
                    return ()
                written = []
                for decorators, statements in map(parts, codes):
                    body = node.body.with_changes(body=(*statements, *node.body.body))
                    written.append(node.with_changes(body=body, decorators=(*decorators, *node.decorators)))
                return tuple(written)

        Hostile.bug_id = bug_id
        Hostile.__qualname__ = Hostile.__name__ = bug_id
        return Hostile


    def pytest_mlbugs_register(registry):
        for bug_id, code in HOSTILE.items():
            registry.add_mutator(make(bug_id, code), origin="tests conftest")
    '''
)

TIMEOUT = 4.0


def _session(
    pytester: pytest.Pytester, outside: Path, names: list[str], *args: str, timeout: float = TIMEOUT
) -> tuple[dict, float]:
    hostile = {name: HOSTILE[name].format(outside=str(outside)) for name in names}
    pytester.makeconftest(CONFTEST.format(hostile=hostile))
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:benchmark",
        "--mlbugs-seed=5",
        "--mlbugs-components=attention",
        f"--mlbugs-mutators={','.join(names)}",
        f"--mlbugs-timeout={timeout:g}",
        "--mlbugs-report=report.json",
        *args,
    )
    wall = time.monotonic() - started
    assert result.ret in (0, 1), result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str()
    report = json.loads(Path(pytester.path, "report.json").read_text())
    # the totals add up: one verdict per variant, in the report and in the terminal summary
    outcomes = result.parseoutcomes()
    variants = report["mlbugs"]["variants"]
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(variants) + 1  # + the reference
    (total,) = [line for line in result.outlines if line.startswith("total ")]
    assert total.split()[1] == str(len(variants))
    return report, wall


def _verdicts(report: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for variant in report["mlbugs"]["variants"]:
        found.setdefault(variant["bugs"][0]["id"], []).append(variant)
    return found


@pytest.mark.slow
def test_hanging_variants_time_out_within_their_budget_in_forked_children(pytester, tmp_path):
    hanging = ["hostile_loop", "hostile_sleep"]
    report, _ = _session(pytester, tmp_path, hanging)
    verdicts = {bug: found[0] for bug, found in _verdicts(report).items()}
    assert sorted(verdicts) == hanging
    for name in hanging:
        assert verdicts[name]["status"] == "timeout", verdicts[name]
        # the child is killed at its limit: the verdict takes the limit, plus the fork and the
        # kill (seconds on a busy machine, never the minutes the variant would hang)
        assert TIMEOUT <= verdicts[name]["seconds"] <= TIMEOUT + 20, verdicts[name]


@pytest.mark.slow
def test_every_other_hostile_variant_gets_its_own_verdict_in_forked_children(pytester, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    others = [name for name in HOSTILE if name not in ("hostile_loop", "hostile_sleep")]
    # none of these hangs: a generous budget keeps a busy machine from turning verdicts into timeouts
    report, _ = _session(pytester, outside, others, "--mlbugs-memory-limit=512", timeout=60)
    verdicts = {bug: found[0] for bug, found in _verdicts(report).items()}
    assert sorted(verdicts) == sorted(others)

    for name in ("hostile_sys_exit", "hostile_keyboard_interrupt", "hostile_system_exit"):
        assert verdicts[name]["status"] == "error" and "the variant raised" in verdicts[name]["message"]
    assert verdicts["hostile_os_exit"]["status"] == "error"
    assert "exited with status 0 before a verdict" in verdicts["hostile_os_exit"]["message"]
    assert verdicts["hostile_segfault"]["status"] == "error"
    assert "SIGSEGV" in verdicts["hostile_segfault"]["message"]
    assert verdicts["hostile_memory"]["status"] == "error"
    assert "ran out of memory" in verdicts["hostile_memory"]["message"]
    # immortal threads cannot keep a child alive past its verdict; the code is otherwise unchanged
    assert verdicts["hostile_threads"]["status"] == "survived"
    assert verdicts["state_probe"]["status"] == "survived", verdicts["state_probe"]
    for name in TORCH_STATE:
        assert verdicts[name]["status"] in ("detected", "survived"), verdicts[name]

    assert not list(pytester.path.rglob("hostile_relative.txt"))
    if write_sandbox_available():
        assert verdicts["hostile_writes"]["status"] == "error"
        assert "refused a write outside its scratch folder" in verdicts["hostile_writes"]["message"]
        assert not (outside / "hostile_absolute.txt").exists()


def test_in_process_verdicts_restore_torch_state_for_the_next_variant(pytester, tmp_path):
    names = [
        *TORCH_STATE,
        "state_probe",
        "hostile_keyboard_interrupt",
        "hostile_system_exit",
        "hostile_memory",
    ]
    # Two rounds: the probe's second variant runs after every hostile variant of the first round
    # (a session holds no variant twice: the other second-round places carry several bugs).
    # none of these hangs: a generous budget keeps a busy machine from turning verdicts into timeouts
    report, _ = _session(
        pytester,
        tmp_path,
        names,
        "--mlbugs-isolation=none",
        "--mlbugs-memory-limit=512",
        f"--mlbugs-count={2 * len(names)}",
        timeout=60,
    )
    verdicts = _verdicts(report)
    assert len(verdicts["state_probe"]) == 2
    hostile_round = [v["ordinal"] for name in names[:-4] + names[-3:] for v in verdicts[name][:1]]
    assert max(v["ordinal"] for v in verdicts["state_probe"]) > max(hostile_round)
    assert [v["status"] for v in verdicts["state_probe"]] == ["survived", "survived"], verdicts["state_probe"]
    for name in ("hostile_keyboard_interrupt", "hostile_system_exit"):
        assert {v["status"] for v in verdicts[name]} == {"error"}
    # the address-space cap holds in-process too
    assert {v["status"] for v in verdicts["hostile_memory"]} == {"error"}
    assert all("ran out of memory" in v["message"] for v in verdicts["hostile_memory"])


def test_the_in_process_memory_cap_is_lifted_after_the_variant():
    resource = pytest.importorskip("resource")
    before = resource.getrlimit(resource.RLIMIT_AS)
    seen: list[int] = []

    def job() -> Verdict:
        seen.append(resource.getrlimit(resource.RLIMIT_AS)[0])
        return Verdict("survived", 0.0)

    assert run_isolated(job, timeout=30, isolation="none").status == "survived"
    assert seen and seen[0] != resource.RLIM_INFINITY and (before[0] == -1 or seen[0] <= before[0])
    assert resource.getrlimit(resource.RLIMIT_AS) == before
