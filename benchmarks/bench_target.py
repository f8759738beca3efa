"""Mutants per second on an example project: ``--mlbugs-target`` against mutmut 3, side by side.

Both tools mutate the example's package and run the same suite, each in its own copy of the
example (neither writes into this repository). Two examples:

- ``mlbugs_target_example`` (the default): a small attention classifier, ``src/tinyclf``, and its
  strong suite ``tests_strong``;
- ``mlbugs_gpt_example``: a GPT of a few hundred lines in the style of nanoGPT's ``model.py`` and
  its training step, ``src/tinygpt``, with the suite such a project would have (``tests``).

mutmut is never a dependency of pytest-mlbugs: give its interpreter with ``--mutmut-python`` (a
venv with ``pip install 'mutmut>=3,<4' torch==2.13.0 numpy pytest``; without numpy, torch warns
on import, which the GPT example's ``filterwarnings = error`` makes fatal), or the benchmark
measures ours alone and says so. mutmut runs with ``process_isolation = "forkserver"`` (set in
each example's ``[tool.mutmut]``): its default fork mode hangs once torch is imported. Both rates
are mutants judged over the whole run's wall time, starting Python and importing torch included,
both with Python's default bytecode cache (``PYTHONDONTWRITEBYTECODE`` is left out of their
environment).

    python benchmarks/bench_target.py [--example mlbugs_gpt_example] [--mutmut-python /tmp/mmvenv/bin/python]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


@dataclasses.dataclass(frozen=True)
class Example:
    """An example project both tools run on: the package to mutate, the suite, and every mutmut
    mutant the suite does not kill, with the reason."""

    target: str
    tests: str
    #: mutmut's mutants that no test can kill, each with the reason
    equivalent: dict[str, str]
    #: mutmut's mutants that a test could kill but this suite does not (the example's suite is a
    #: realistic one, not a perfect one), each with what it misses
    missed: dict[str, str] = dataclasses.field(default_factory=dict)


_M = "tinygpt.model.xǁ"
_NOT_FUSED = "fused or not, AdamW makes the same update; only its speed changes"
_SCALER_OFF = "a disabled loss scaler does nothing, whatever its device string"
_SCALER_ON = (
    "an enabled scaler multiplies the loss by a power of two and divides the gradients by it "
    "again: in float32, with no overflow, the step is the same"
)

#: mutmut 3.8.1's mutants of the GPT example that no test can kill, each with the reason
GPT_EQUIVALENT = {
    f"{_M}LayerNormǁforward__mutmut_10": "eps left out: F.layer_norm's default, 1e-5, is the eps every "
    "LayerNorm of the model is built with",
    f"{_M}CausalSelfAttentionǁ__init____mutmut_28": "flash = None: the explicit path computes the same "
    "attention as scaled_dot_product_attention (a test checks it), only slower",
    f"{_M}CausalSelfAttentionǁ__init____mutmut_31": "persistent=None: as falsy as False",
    f"{_M}CausalSelfAttentionǁforward__mutmut_66": "attn_mask=None left out: its default",
    f"{_M}CausalSelfAttentionǁforward__mutmut_79": "k.transpose(+2, -1): on the 4-D (B, nh, T, hs) keys, "
    "axis 2 is axis -2",
    f"{_M}CausalSelfAttentionǁforward__mutmut_94": 'float("-INF"): float() parses "-INF" as -inf too',
    f"{_M}GPTǁ__init____mutmut_46": "lm_head bias=None: as falsy as False",
    f"{_M}GPTǁ__init____mutmut_60": "mean=0.0 left out: nn.init.normal_'s default",
    f"{_M}GPTǁ_init_weights__mutmut_5": "mean=0.0 left out: nn.init.normal_'s default",
    f"{_M}GPTǁ_init_weights__mutmut_15": "mean=0.0 left out: nn.init.normal_'s default",
    f"{_M}GPTǁforward__mutmut_7": "arange(0, t, dtype=None): integer bounds give int64 anyway",
    f"{_M}GPTǁforward__mutmut_9": "arange(t) is arange(0, t)",
    f"{_M}GPTǁforward__mutmut_11": "dtype left out of arange(0, t): integer bounds give int64 anyway",
    **{
        f"{_M}GPTǁconfigure_optimizers__mutmut_{n}": _NOT_FUSED
        for n in (18, 19, 20, 21, 22, 24, 25, 26, 28, 29, 32, 39)
    },
    "tinygpt.train.x_get_lr__mutmut_1": "it <= warmup_iters: at it == warmup_iters the warm-up gives "
    "learning_rate, and so does the cosine at its start",
    "tinygpt.train.x_get_lr__mutmut_8": "it >= lr_decay_iters: at it == lr_decay_iters the cosine is at "
    "its end, min_lr, the floor's value",
    **{f"tinygpt.train.x_train_step__mutmut_{n}": _SCALER_OFF for n in (6, 7, 8, 10, 11)},
    "tinygpt.train.x_train_step__mutmut_9": _SCALER_ON,
    "tinygpt.train.x_train_step__mutmut_12": _SCALER_ON,
}

#: mutmut 3.8.1's mutants of the GPT example that a test could kill and its suite does not
GPT_MISSED = {
    f"{_M}CausalSelfAttentionǁforward__mutmut_67": "no attention dropout in the fused path: every test "
    "builds its model with dropout 0 (our pe_dropout_skipped survives for the same reason)",
    f"{_M}CausalSelfAttentionǁforward__mutmut_69": "no attention dropout in the fused path (as above)",
    f"{_M}CausalSelfAttentionǁforward__mutmut_71": "dropout_p=1.0 in eval mode zeroes attention's output: "
    "the eval-mode tests compare the model with itself or check a loss range",
    f"{_M}GPTǁ__init____mutmut_2": "a vocabulary of one token refused: no test builds one",
    f"{_M}GPTǁ__init____mutmut_3": "a vocabulary of one token refused: no test builds one",
    f"{_M}GPTǁ__init____mutmut_4": "a context of one position refused: no test builds one",
    f"{_M}GPTǁ__init____mutmut_5": "a context of one position refused: no test builds one",
    f"{_M}GPTǁ__init____mutmut_7": '"XX...XX" around the message keeps the words the test matches',
    f"{_M}GPTǁforward__mutmut_8": "positions on the default device, not the input's: only a run on "
    "another device shows it (our device_hard_coded survives for the same reason)",
    f"{_M}GPTǁforward__mutmut_12": "positions on the default device, not the input's (as above)",
    f"{_M}GPTǁforward__mutmut_20": "tok_emb - pos_emb: a model trained from scratch learns the negated "
    "table; only trained weights (a GPT-2 checkpoint) would show it",
    f"{_M}GPTǁcrop_block_size__mutmut_1": "cropping to the current block size refused: no test does it",
    f"{_M}GPTǁcrop_block_size__mutmut_2": "no test asks to grow the block size",
    f"{_M}GPTǁcrop_block_size__mutmut_6": "the mask dropped when cropping: no test runs the explicit "
    "attention after a crop",
    f"{_M}GPTǁconfigure_optimizers__mutmut_30": "an unknown AdamW keyword, passed on CUDA only: no test "
    "configures for CUDA",
    f"{_M}GPTǁconfigure_optimizers__mutmut_31": "an unknown AdamW keyword, passed on CUDA only (as above)",
    "tinygpt.train.x_train_step__mutmut_1": "the default clip 2.0 instead of 1.0: no test relies on the "
    "default",
    "tinygpt.train.x_train_step__mutmut_3": "the caller's loss scaler ignored: no test looks at the "
    "scaler's state after a step (float32 steps are the same without it)",
}

#: mutmut 3.8.1's mutants that the example's suite does not kill; any other survivor is listed
#: by the benchmark as unexplained
EXAMPLES = {
    "mlbugs_target_example": Example(
        target="src/tinyclf",
        tests="tests_strong",
        equivalent={
            "tinyclf.model.xǁSelfAttentionǁforward__mutmut_60": "k.transpose(+2, -1): on the 4-D (B, H, "
            "T, d_k) keys, axis 2 is axis -2",
            "tinyclf.model.xǁSelfAttentionǁforward__mutmut_74": 'float("-INF"): float() parses "-INF" as '
            "-inf too",
        },
    ),
    "mlbugs_gpt_example": Example(
        target="src/tinygpt", tests="tests", equivalent=GPT_EQUIVALENT, missed=GPT_MISSED
    ),
}


#: both tools run with Python's default bytecode cache, as on a user's machine, even where this
#: shell turns it off (PYTHONDONTWRITEBYTECODE): without it every run compiles the imports of
#: pytest-mlbugs, an editable install here, and pytest rewrites Hypothesis' asserts again
ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def _load() -> str:
    """The load averages over 1, 5 and 15 minutes, as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _copy(name: str, into: Path) -> Path:
    project = into / "example"
    shutil.copytree(
        EXAMPLES_DIR / name, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "mutants")
    )
    return project


def run_ours(name: str, workdir: Path) -> dict[str, Any]:
    example = EXAMPLES[name]
    project = _copy(name, workdir)
    report = workdir / "report.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:benchmark", example.tests,
               f"--mlbugs-target={example.target}", f"--mlbugs-report={report}"]  # fmt: skip
    started = time.perf_counter()
    # exit status 1 is a survivor (the GPT example has some); anything else is a broken run
    run = subprocess.run(command, cwd=project, capture_output=True, text=True, env=ENVIRONMENT)
    first = time.perf_counter() - started
    if run.returncode not in (0, 1) or not report.exists():
        raise SystemExit(
            f"pytest --mlbugs-target failed ({run.returncode}): {(run.stdout + run.stderr)[-2000:]}"
        )
    data = json.loads(report.read_text())
    judged = [m for m in data["mlbugs"]["mutants"] if m["status"] != "ignored"]
    started = time.perf_counter()
    rerun = subprocess.run(command, cwd=project, capture_output=True, text=True, env=ENVIRONMENT)
    second = time.perf_counter() - started
    took = [
        float(x)
        for out in (run.stdout, rerun.stdout)
        for x in re.findall(r"mutation testing took ([\d.]+) s", out)
    ]
    return {
        "mutants": len(judged),
        "detected": sum(m["status"] == "detected" for m in judged),
        "not_detected": [(m["status"], m["id"]) for m in judged if m["status"] != "detected"],
        "seconds": first,
        "mutants_per_second": len(judged) / first,
        "rerun_seconds": second,
        "mutation_phase_seconds": took[0],
        "rerun_mutation_phase_seconds": took[1],
    }


def run_mutmut(name: str, workdir: Path, python: str) -> dict[str, Any] | str:
    project = _copy(name, workdir)
    mutmut = [python, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
    started = time.perf_counter()
    try:
        run = subprocess.run(
            [*mutmut, "run"], cwd=project, capture_output=True, text=True, timeout=1800, env=ENVIRONMENT
        )
    except subprocess.TimeoutExpired:
        return "mutmut run did not finish within 30 minutes"
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        return f"mutmut run failed ({run.returncode}): {(run.stderr or run.stdout)[-400:]}"
    results = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=project, capture_output=True, text=True
    )
    found = re.findall(r"^\s*(\S+):\s*(killed|survived|timeout|suspicious|no tests|segfault|skipped)\s*$",
                       results.stdout, flags=re.MULTILINE)  # fmt: skip
    statuses = [status for _, status in found]
    total = len(statuses)
    return {
        "mutants": total,
        "killed": statuses.count("killed"),
        "seconds": seconds,
        "mutants_per_second": total / seconds if seconds else float("nan"),
        "not_killed": {name: status for name, status in found if status != "killed"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--example", choices=sorted(EXAMPLES), default="mlbugs_target_example",
                        help="the example project both tools run on (default: %(default)s)")  # fmt: skip
    parser.add_argument("--mutmut-python", help="an interpreter that has mutmut 3 installed")
    args = parser.parse_args()
    example = EXAMPLES[args.example]
    print(f"example: examples/{args.example} ({example.target}, {example.tests}); load average {_load()}")
    with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
        ours = run_ours(args.example, Path(tmp) / "ours")
        print(
            f"pytest-mlbugs --mlbugs-target: {ours['mutants']} mutants ({ours['detected']} detected) in "
            f"{ours['seconds']:.1f} s = {ours['mutants_per_second']:.2f} mutants/s; rerun with nothing "
            f"changed {ours['rerun_seconds']:.1f} s; mutation phase {ours['mutation_phase_seconds']:.2f} s, "
            f"on the rerun {ours['rerun_mutation_phase_seconds']:.2f} s"
        )
        for status, mutant in ours["not_detected"]:
            print(f"    {status:9} {mutant}")
        if not args.mutmut_python:
            print("mutmut: not measured (give --mutmut-python=PATH to an interpreter with mutmut 3)")
            return
        theirs = run_mutmut(args.example, Path(tmp) / "mutmut", args.mutmut_python)
        if isinstance(theirs, str):
            print(f"mutmut: could not be measured: {theirs}")
            return
        print(
            f"mutmut 3 (forkserver): {theirs['mutants']} mutants ({theirs['killed']} killed) in "
            f"{theirs['seconds']:.1f} s = {theirs['mutants_per_second']:.2f} mutants/s"
        )
        print(f"ratio: {ours['mutants_per_second'] / theirs['mutants_per_second']:.1f}x mutmut's rate "
              f"(load average {_load()} at the end)")  # fmt: skip
        not_killed = theirs["not_killed"]
        equivalent = [name for name in not_killed if name in example.equivalent]
        missed = [name for name in not_killed if name in example.missed]
        print(f"mutmut mutants not killed by {example.tests}: {len(not_killed)}: "
              f"equivalent {len(equivalent)}, missed by the suite {len(missed)}, "
              f"unexplained {len(not_killed) - len(equivalent) - len(missed)}")  # fmt: skip
        for name, status in not_killed.items():
            reason = (
                f"equivalent: {example.equivalent[name]}" if name in example.equivalent
                else f"missed: {example.missed[name]}" if name in example.missed
                else f"UNEXPLAINED: strengthen {example.tests} or list it in EXAMPLES"
            )  # fmt: skip
            print(f"    {status:9} {name}: {reason}")
        stale = sorted((set(example.equivalent) | set(example.missed)) - set(not_killed))
        if stale:
            print(f"listed but killed or gone (stale): {', '.join(stale)}")


if __name__ == "__main__":
    main()
