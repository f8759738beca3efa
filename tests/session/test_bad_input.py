"""Bad input to every option of the seeded session: one line naming the option, exit 4, no traceback.

The table runs in-process (a usage error stops pytest before any variant runs, so torch's
import state cannot leak between runs, and 60 subprocesses would cost minutes); one case runs
in a subprocess to show the real exit status and stderr.
"""

from __future__ import annotations

import os

import pytest

import pytest_mlbugs.session.session  # noqa: F401  (see below)
from pytest_mlbugs.registry import builtin_registry

# In-process runs restore sys.modules afterwards: import what a run imports first, so that it is
# kept (torch and its dependants cannot be imported twice into one process).
builtin_registry()

#: files each case can point at
FILES = {
    "broken.py": b"def f(:\n",
    "binary.py": b"\x00\x01\x02",
    "latin1.py": "x = 'caf\xe9'\n".encode("latin-1"),
    "empty.py": b"x = 1\n",
    "raises.py": b"1 / 0\n",
    "exits.py": b"import sys\nsys.exit(0)\n",
    "notes.txt": b"These are my notes about attention, not Python.\n",
    "wrong_kind.py": b"MultiHeadAttention = 3\n",
    "wrong_kinds.py": b"softmax = 'softmax'\nlog_softmax = logsumexp = cross_entropy = None\n"
    b"def binary_cross_entropy_with_logits(logits, targets):\n    return logits\n",
    "precious.py": b"print('a user file that a report must never overwrite')\n",
    "other.json": b'{"not": "a report"}\n',
    "plain_file": b"x",
}

BAD_INPUT = [
    # --mlbugs-seed: wrong types, negative, huge
    (["--mlbugs-seed=abc"], "--mlbugs-seed=abc: not an integer; give a non-negative integer"),
    (["--mlbugs-seed=1.5"], "--mlbugs-seed=1.5: not an integer"),
    (["--mlbugs-seed=1e3"], "--mlbugs-seed=1e3: not an integer"),
    (["--mlbugs-seed="], "--mlbugs-seed=: not an integer"),
    (["--mlbugs-seed=\u00b2"], "--mlbugs-seed=\u00b2: not an integer"),
    (["--mlbugs-seed=-1"], "--mlbugs-seed=-1: must be at least 0"),
    (["--mlbugs-seed=18446744073709551616"], "--mlbugs-seed=18446744073709551616: must be at most"),
    (["--mlbugs-seed=" + "9" * 5000], "--mlbugs-seed=999"),
    # --mlbugs-count
    (["--mlbugs-count=0"], "--mlbugs-count=0: must be at least 1"),
    (["--mlbugs-count=-5"], "--mlbugs-count=-5: must be at least 1"),
    (["--mlbugs-count=many"], "--mlbugs-count=many: not an integer"),
    (["--mlbugs-count=2.0"], "--mlbugs-count=2.0: not an integer"),
    (["--mlbugs-count=1000001"], "--mlbugs-count=1000001: must be at most 1000000"),
    # --mlbugs-max-bugs
    (["--mlbugs-max-bugs=0"], "--mlbugs-max-bugs=0: must be at least 1"),
    (["--mlbugs-max-bugs=17"], "--mlbugs-max-bugs=17: must be at most 16"),
    (["--mlbugs-max-bugs=two"], "--mlbugs-max-bugs=two: not an integer"),
    # --mlbugs-mutators, --mlbugs-components: unknown IDs, empty lists
    (
        ["--mlbugs-mutators=no_such_bug"],
        "--mlbugs-mutators: unknown bug ID no_such_bug; run pytest --mlbugs-list",
    ),
    (["--mlbugs-mutators=softmax_wrong_dim,nope"], "--mlbugs-mutators: unknown bug ID nope"),
    (["--mlbugs-mutators=,"], "--mlbugs-mutators=',': the list is empty"),
    (["--mlbugs-mutators="], "--mlbugs-mutators='': the list is empty"),
    (["--mlbugs-components=nothing"], "--mlbugs-components: unknown component nothing"),
    (["--mlbugs-components= , "], "--mlbugs-components=' , ': the list is empty"),
    # --mlbugs-timeout (and its ini twin)
    (["--mlbugs-timeout=-3"], "--mlbugs-timeout=-3: must be a positive number"),
    (["--mlbugs-timeout=0"], "--mlbugs-timeout=0: must be a positive number"),
    (["--mlbugs-timeout=abc"], "--mlbugs-timeout=abc: not a number"),
    (["--mlbugs-timeout=inf"], "--mlbugs-timeout=inf: must be a positive number"),
    (["--mlbugs-timeout=nan"], "--mlbugs-timeout=nan: must be a positive number"),
    (["--mlbugs-timeout=1e9"], "--mlbugs-timeout=1e9: must be a positive number of seconds, at most"),
    (["--mlbugs-seed=1", "-o", "mlbugs_timeout=soon"], "--mlbugs-timeout=soon: not a number"),
    # --mlbugs-isolation (and its ini twin)
    (["--mlbugs-isolation=thread"], "--mlbugs-isolation=thread: choose 'worker', 'fork' or 'none'"),
    (["--mlbugs-isolation="], "--mlbugs-isolation=: choose 'worker', 'fork' or 'none'"),
    (["--mlbugs-seed=1", "-o", "mlbugs_isolation=spawn"], "--mlbugs-isolation=spawn: choose"),
    # --mlbugs-shard
    (["--mlbugs-shard=1"], "--mlbugs-shard=1: expected I/N"),
    (["--mlbugs-shard=0/3"], "--mlbugs-shard=0/3: shard numbers run from 1 to"),
    (["--mlbugs-shard=4/3"], "--mlbugs-shard=4/3: shard 4 of 3 does not exist"),
    (["--mlbugs-shard=1/0"], "--mlbugs-shard=1/0: shard numbers run from 1 to"),
    (["--mlbugs-shard=a/b"], "--mlbugs-shard=a/b: not I/N with whole numbers"),
    (["--mlbugs-shard=1/3/5"], "--mlbugs-shard=1/3/5: not I/N with whole numbers"),
    (["--mlbugs-shard=1/100000"], "--mlbugs-shard=1/100000: shard numbers run from 1 to 10000"),
    # --mlbugs-memory-limit (and its ini twin)
    (["--mlbugs-memory-limit=-1"], "--mlbugs-memory-limit=-1: must be at least 0"),
    (["--mlbugs-memory-limit=lots"], "--mlbugs-memory-limit=lots: not an integer; give MiB"),
    (["--mlbugs-memory-limit=4G"], "--mlbugs-memory-limit=4G: not an integer"),
    (["--mlbugs-memory-limit=99999999999"], "--mlbugs-memory-limit=99999999999: must be at most"),
    (["--mlbugs-seed=1", "-o", "mlbugs_memory_limit=x"], "--mlbugs-memory-limit=x: not an integer"),
    # --mlbugs-report: paths that cannot be written, or must not be
    (["--mlbugs-report="], "--mlbugs-report: empty path"),
    (["--mlbugs-report=nowhere/r.json"], "--mlbugs-report=nowhere/r.json: folder nowhere does not exist"),
    (["--mlbugs-report=."], "--mlbugs-report=.: is a directory"),
    (["--mlbugs-report=plain_file/r.json"], "--mlbugs-report=plain_file/r.json: plain_file is not a folder"),
    (
        ["--mlbugs-report=precious.py"],
        "--mlbugs-report=precious.py: the file exists and is not a pytest-mlbugs",
    ),
    (
        ["--mlbugs-report=other.json"],
        "--mlbugs-report=other.json: the file exists and is not a pytest-mlbugs",
    ),
    # --mlbugs-impl: malformed, unknown component, every kind of unusable path or file
    (["--mlbugs-impl=attention"], "--mlbugs-impl=attention: expected COMPONENT=PATH"),
    (["--mlbugs-impl=attention="], "--mlbugs-impl=attention=: expected COMPONENT=PATH"),
    (["--mlbugs-impl==x.py"], "--mlbugs-impl==x.py: expected COMPONENT=PATH"),
    (["--mlbugs-impl=nothing=x.py"], "--mlbugs-impl: unknown component nothing"),
    (["--mlbugs-impl=attention=missing.py"], "--mlbugs-impl: missing.py does not exist"),
    (["--mlbugs-impl=attention=."], "--mlbugs-impl: . is a directory"),
    (["--mlbugs-impl=attention=fifo"], "--mlbugs-impl: fifo is not a regular file"),
    (["--mlbugs-impl=attention=/dev/zero"], "--mlbugs-impl: /dev/zero is not a regular file"),
    (["--mlbugs-impl=attention=big.py"], "--mlbugs-impl: big.py is larger than 10 MiB"),
    (["--mlbugs-impl=attention=broken.py"], "--mlbugs-impl: broken.py:1: syntax error"),
    (["--mlbugs-impl=attention=notes.txt"], "--mlbugs-impl: notes.txt:1: syntax error"),
    (["--mlbugs-impl=attention=binary.py"], "--mlbugs-impl: binary.py is a binary file"),
    (["--mlbugs-impl=attention=latin1.py"], "--mlbugs-impl: latin1.py is not UTF-8 text"),
    (["--mlbugs-impl=attention=empty.py"], "--mlbugs-impl: empty.py does not define MultiHeadAttention"),
    (["--mlbugs-impl=attention=raises.py"], "--mlbugs-impl: importing raises.py raised ZeroDivisionError"),
    (["--mlbugs-impl=attention=exits.py"], "--mlbugs-impl: importing exits.py raised SystemExit"),
    # contract files that define the wrong kinds of object
    (
        ["--mlbugs-impl=attention=wrong_kind.py"],
        "--mlbugs-impl: wrong_kind.py defines MultiHeadAttention as int;",
    ),
    (
        ["--mlbugs-impl=numerics=wrong_kinds.py"],
        "--mlbugs-impl: wrong_kinds.py defines softmax as str, log_softmax as NoneType, "
        "logsumexp as NoneType, "
        "cross_entropy as NoneType;",
    ),
]


@pytest.fixture
def folder(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, data in FILES.items():
        pytester.path.joinpath(name).write_bytes(data)
    os.mkfifo(pytester.path / "fifo")
    with pytester.path.joinpath("big.py").open("wb") as stream:
        stream.truncate(11 * 1024 * 1024)  # sparse: large, costs no disk
    return pytester


def _one_usage_error(result: pytest.RunResult, message: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {message}"), result.errlines
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a)[:60] for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_naming_the_option(folder, args, message):
    result = folder.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)
    _one_usage_error(result, message)


def test_a_report_path_that_holds_a_user_file_leaves_it_untouched_in_a_real_run(folder):
    before = folder.path.joinpath("precious.py").read_bytes()
    result = folder.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:benchmark", "--mlbugs-seed=1", "--mlbugs-report=precious.py"
    )
    _one_usage_error(result, "--mlbugs-report=precious.py: the file exists and is not a pytest-mlbugs report")
    assert folder.path.joinpath("precious.py").read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_impl_file_is_a_usage_error(folder):
    path = folder.path / "secret.py"
    path.write_text("x = 1\n")
    path.chmod(0)
    result = folder.runpytest_inprocess("-p", "no:cacheprovider", "--mlbugs-impl=attention=secret.py")
    _one_usage_error(result, "--mlbugs-impl: secret.py is not readable")
