"""The HTML report (``--mlbugs-html``): the writer on a hand-built report, the option through
pytest in a seeded session and in target mode, and the page in a real headless browser."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs import options
from pytest_mlbugs.reports import stryker
from pytest_mlbugs.reports.html import DATA_ID, render, write_html
from pytest_mlbugs.reports.html_view import (
    categories,
    mutants,
    replacement_rows,
    statuses,
    unified_rows,
)
from tests.reports.dom import Node, parse
from tests.reports.webdriver import chromium_session

NO_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:benchmark")

ATTENTION = (
    "import torch\n"
    "\n"
    "\n"
    "def attend(q, k):  # </script><script>alert('source')</script> <!-- <b>\n"
    "    scores = q @ k.transpose(-2, -1)\n"
    "    return torch.softmax(scores, dim=-1)\n"
)
MASKS = "def mask(n):\n    return n > 0\n"
HOSTILE_ID = 'v-error"><svg onload=alert(1)>'
#: the unified diff our details carry for one variant: the page prefers it to the schema's fields
KILLED_DIFF = (
    "--- reference_impls/attention.py\n"
    "+++ reference_impls/attention.py (variant)\n"
    "@@ -5,2 +5,2 @@\n"
    "     scores = q @ k.transpose(-2, -1)\n"
    "-    return torch.softmax(scores, dim=-1)\n"
    "+    return torch.softmax(scores, dim=-2)\n"
)


def span(source: str, line: int, text: str, replacement: str) -> tuple[str, dict[str, Any]]:
    """A schema location of ``text`` on ``line`` of ``source`` (1-based, end exclusive)."""
    column = source.splitlines()[line - 1].index(text) + 1
    return replacement, stryker.location(line, column, line, column + len(text))


def variant(mutant_id: str, status: str, where: tuple[str, dict[str, Any]], **fields: Any) -> dict[str, Any]:
    replacement, location = where
    return stryker.mutant(
        mutant_id=mutant_id,
        mutator_name=fields.pop("mutator", "softmax_wrong_dim"),
        replacement=replacement,
        where=location,
        status=status,
        status_reason=fields.pop("reason", ""),
        description=fields.pop("description", "take the softmax over the wrong axis"),
        seconds=0.1,
        **fields,
    )


def hand_built_report() -> dict[str, Any]:
    """A seeded session's report with every verdict, a variant of two bug families, and text
    that would break a page that did not escape it."""
    files = {
        "reference_impls/attention.py": stryker.source_file(ATTENTION),
        "reference_impls/masks.py": stryker.source_file(MASKS),
    }
    files["reference_impls/attention.py"]["mutants"] = [
        variant(
            "v-killed",
            "Killed",
            span(ATTENTION, 6, "-1", "-2"),
            killed_by=["attention.matches_scaled_dot_product_attention"],
            reason="AssertionError: <b>not equal</b> & off",
        ),
        variant(
            "v-survived",
            "Survived",
            span(ATTENTION, 5, "(-2, -1)", "(-1, -2)"),
            mutator="scores_transposed",
            description="transpose the scores <img src=x onerror=alert(1)>",
        ),
        variant(
            "v-timeout",
            "Timeout",
            span(ATTENTION, 6, "torch.softmax(scores, dim=-1)", "torch.softmax(scores + 1e-9, dim=-2)"),
            mutator="softmax_wrong_dim+epsilon_added",
        ),
        variant(HOSTILE_ID, "RuntimeError", span(ATTENTION, 4, "q, k", "k, q"), mutator="arguments_swapped"),
    ]
    files["reference_impls/masks.py"]["mutants"] = [
        variant("m-survived", "Survived", span(MASKS, 2, ">", ">="), mutator="mask_off_by_one"),
    ]

    def details(mutant_id: str, component: str, cats: list[str], **more: Any) -> dict[str, Any]:
        return {"id": mutant_id, "component": component, "categories": cats, "bugs": [], **more}

    return stryker.report(
        files,
        project_root=".",
        details={
            "seed": 42,
            "settings": {"count": None, "max_bugs": 2},
            "score": 20.0,
            "variants": [
                details("v-killed", "attention", ["shapes"], case="AttentionCase(batch=2)", diff=KILLED_DIFF),
                details("v-survived", "attention", ["numerics"]),
                details("v-timeout", "attention", ["numerics", "shapes"]),
                details(HOSTILE_ID, "attention", ["state/device"]),
                details("m-survived", "masks", ["data"]),
            ],
            "references": [
                {"component": "attention", "status": "passed"},
                {"component": "masks", "status": "passed"},
            ],
        },
    )


def every_mutant(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [mutant for file in report["files"].values() for mutant in file["mutants"]]


def visible_cards(page: Node) -> dict[str, Node]:
    """The mutant cards not hidden, by the mutant ID they show."""
    cards = page.find_all("article", lambda node: node.has_class("mutant") and not node.hidden)
    return {card.find_all("code", lambda node: node.has_class("mid"))[0].text(): card for card in cards}


def total_row(page: Node) -> dict[str, int]:
    (total,) = page.by_id("table").find_all("tr", lambda node: node.has_class("total"))
    return {
        cell.attrs["data-status"]: int(cell.text())
        for cell in total.find_all("td")
        if "data-status" in cell.attrs
    }


def score_shown(page: Node) -> str:
    (value,) = page.by_id("score").find_all("div", lambda node: node.has_class("score-value"))
    return value.text()


def embedded(page: Node) -> Any:
    return json.loads(page.by_id(DATA_ID).text())


# -- the writer --------------------------------------------------------------------------------


def test_every_mutant_has_a_card_with_its_status_and_a_mark_on_its_line() -> None:
    report = hand_built_report()
    page = parse(render(report))
    cards = visible_cards(page)
    assert sorted(cards) == sorted(m["id"] for m in every_mutant(report))
    words = {"Killed": "detected", "Survived": "survived", "Timeout": "timeout", "RuntimeError": "error"}
    for mutant in every_mutant(report):
        card = cards[mutant["id"]]
        assert card.attrs["data-status"] == words[mutant["status"]]
        assert mutant["description"] in card.text()
        for killer in mutant.get("killedBy", []):
            assert killer in card.text()
        line = mutant["location"]["start"]["line"]
        # its mark sits on that line of its file's source, and links to the card
        (row,) = page.find_all(
            "div",
            lambda n, c=card: n.has_class("line") and c.attrs["data-m"] in n.attrs.get("data-m", "").split(),
        )
        assert row.find_all("span", lambda n: n.has_class("ln"))[0].text() == str(line)
        assert [a.attrs["href"] for a in row.find_all("a")].count(f"#{card.attrs['id']}") == 1
    assert "AssertionError: <b>not equal</b> & off" in cards["v-killed"].text()
    assert "AttentionCase(batch=2)" in cards["v-killed"].text()


def test_text_from_the_report_is_escaped_and_its_json_cannot_close_its_element() -> None:
    report = hand_built_report()
    text = render(report)
    page = parse(text)
    assert "<script>alert" not in text and "<svg" not in text and "<img" not in text and "<b>" not in text
    assert not page.find_all("svg") and not page.find_all("img") and not page.find_all("b")
    scripts = page.find_all("script")
    assert [s.attrs.get("type") for s in scripts] == ["application/json", None]
    assert embedded(page) == report
    assert "<" not in page.by_id(DATA_ID).text()
    # the source still reads as written, and the hostile ID is only ever text
    assert "# </script><script>alert('source')</script> <!-- <b>" in page.by_id("f0-L4").text()
    assert HOSTILE_ID in visible_cards(page)


def test_the_page_fetches_nothing() -> None:
    text = render(hand_built_report())
    assert "default-src 'none'" in text
    assert re.findall(r'\b(?:src|href|action)="(?!#)[^"]*"', text) == []
    outside_json = re.sub(r'<script type="application/json".*?</script>', "", text, flags=re.S)
    assert "http:" not in outside_json and "https:" not in outside_json and "@import" not in outside_json


def test_the_filters_and_the_table_count_every_status_and_category() -> None:
    report = hand_built_report()
    views = mutants(report)
    assert statuses(views) == ["survived", "timeout", "error", "detected"]
    assert categories(views) == ["data", "numerics", "shapes", "state/device"]
    page = parse(render(report))
    chips = {
        (box.attrs["name"], box.attrs["value"]): int(label.find_all("span")[0].text())
        for label in page.find_all("label", lambda n: n.has_class("chip"))
        for box in label.find_all("input")
    }
    assert chips == {
        ("status", "survived"): 2,
        ("status", "timeout"): 1,
        ("status", "error"): 1,
        ("status", "detected"): 1,
        ("category", "data"): 1,
        ("category", "numerics"): 2,  # the variant of two families counts in each
        ("category", "shapes"): 2,
        ("category", "state/device"): 1,
    }
    assert json.loads(visible_cards(page)["v-timeout"].attrs["data-categories"]) == ["numerics", "shapes"]
    rows = [
        [cell.text() for cell in row.find_all("td")]
        for row in page.by_id("table").find_all("tr")
        if row.find_all("td") and not row.has_class("total")
    ]
    assert rows == [
        # component, category, variants, detected, survived, timeout, error
        ["attention", "numerics", "1", "0", "1", "0", "0"],
        ["attention", "numerics+shapes", "1", "0", "0", "1", "0"],
        ["attention", "shapes", "1", "1", "0", "0", "0"],
        ["attention", "state/device", "1", "0", "0", "0", "1"],
        ["masks", "data", "1", "0", "1", "0", "0"],
    ]
    assert total_row(page) == {"detected": 1, "survived": 2, "timeout": 1, "error": 1}
    assert score_shown(page) == "20.0%"
    link = page.by_id("table").find_all("a", lambda n: n.text() == "state/device")[0]
    assert link.attrs["href"] == "#category=state%2Fdevice"


def test_a_diff_marks_only_the_characters_that_changed() -> None:
    (killed, *_) = every_mutant(hand_built_report())
    (minus, plus) = replacement_rows(ATTENTION, killed)
    assert minus[:2] == ("-", 6) and plus[0] == "+"
    assert "".join(text for text, _ in minus[2]) == "    return torch.softmax(scores, dim=-1)"
    assert "".join(text for text, _ in plus[2]) == "    return torch.softmax(scores, dim=-2)"
    assert [text for text, marked in minus[2] if marked] == ["1"]
    assert [text for text, marked in plus[2] if marked] == ["2"]

    rows = unified_rows(KILLED_DIFF)
    assert [(sign, line) for sign, line, _ in rows] == [("@", None), (" ", 5), ("-", 6), ("+", 6)]
    assert [text for text, marked in rows[3][2] if marked] == ["2"]

    nowhere = {**killed, "location": stryker.location(40, 1, 41, 1)}  # beyond the source
    assert replacement_rows(ATTENTION, nowhere) == [("+", None, [("-2", True)])]


def test_target_mode_names_files_and_shows_what_no_test_ran_and_what_was_ignored() -> None:
    source = "def f(x):\n    return x.softmax(dim=-1)\n\n\ndef g(x):\n    return x.softmax(dim=-1)\n"
    where = span(source, 2, "-1", "-2")
    unrun = span(source, 6, "-1", "-2")
    file = stryker.source_file(source)
    file["mutants"] = [
        variant("ops.py:softmax_wrong_dim:0", "Survived", where, covered_by=["test_ops.py::test_f"]),
        variant("ops.py:softmax_wrong_dim:1", "NoCoverage", unrun, covered_by=[]),
        variant(
            "ops.py:log_of_softmax:0", "Ignored", where, mutator="log_of_softmax", reason="equivalent here"
        ),
    ]
    records = [
        {
            "id": m["id"],
            "bug_id": m["mutatorName"],
            "category": "shapes",
            "properties": ["attention.rows_sum_to_one"],
        }
        for m in file["mutants"]
    ]
    report = stryker.report(
        {"pkg/ops.py": file},
        project_root="/project",
        details={
            "mode": "target",
            "targets": ["pkg/ops.py"],
            "seed": 3,
            "count": None,
            "score": 0.0,
            "mutants": records,
        },
    )
    page = parse(render(report))
    header = [cell.text() for cell in page.by_id("table").find_all("th")]
    assert header[:3] == ["file", "category", "mutants"] and header[-2:] == ["no coverage", "ignored"]
    assert total_row(page) == {
        "detected": 0,
        "survived": 1,
        "timeout": 0,
        "error": 0,
        "no coverage": 1,
        "ignored": 1,
    }
    cards = visible_cards(page)
    assert "test_ops.py::test_f" in cards["ops.py:softmax_wrong_dim:0"].text()
    assert "attention.rows_sum_to_one" in cards["ops.py:softmax_wrong_dim:0"].text()
    assert "equivalent here" in cards["ops.py:log_of_softmax:0"].text()
    assert "--mlbugs-target=pkg/ops.py" in page.find_all("header")[0].text()
    assert "0 of 2 mutants detected" in page.by_id("score").text()  # the ignored site is not judged


def test_a_report_without_mutants_still_reads(tmp_path: Path) -> None:
    """``--mlbugs-impl`` alone, or every item skipped: the page says there is nothing to score."""
    report = stryker.report(
        {}, project_root=".", details={"seed": 1, "settings": {}, "score": None, "variants": []}
    )
    page = parse(render(report))
    assert score_shown(page) == "n/a"
    assert total_row(page) == {"detected": 0, "survived": 0, "timeout": 0, "error": 0}
    assert page.by_id("shown").text() == "0 of 0 variants shown" and not visible_cards(page)


def test_write_html_makes_the_folder_atomically_and_the_option_knows_it_as_ours(tmp_path: Path) -> None:
    folder = tmp_path / "html"
    index = write_html(hand_built_report(), folder)
    assert index == folder / "index.html" and sorted(p.name for p in folder.iterdir()) == ["index.html"]
    assert options.html_folder(str(folder)) == folder  # a second run may overwrite its own page
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "index.html").write_text("<html>someone's page</html>")
    with pytest.raises(pytest.UsageError, match="exists and is not a pytest-mlbugs report"):
        options.html_folder(str(tmp_path / "theirs"))


# -- through pytest --------------------------------------------------------------------------------


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*NO_PLUGINS, *args)


def page_of(folder: Path) -> Node:
    assert sorted(p.name for p in folder.iterdir()) == ["index.html"]  # no temporary file left
    return parse((folder / "index.html").read_text(encoding="utf-8"))


def test_a_seeded_session_writes_the_page_from_the_json_reports_data(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        "--mlbugs-seed=42",
        "--mlbugs-components=masks",
        "--mlbugs-html=html",
        "--mlbugs-report=r.json",
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["report written to r.json", "HTML report written to html/index.html"])
    report = json.loads((pytester.path / "r.json").read_text())
    page = page_of(pytester.path / "html")
    assert embedded(page) == report
    assert sorted(visible_cards(page)) == sorted(m["id"] for m in every_mutant(report))
    assert sum(total_row(page).values()) == len(report["mlbugs"]["variants"]) > 0
    assert all(v["categories"] for v in report["mlbugs"]["variants"])  # what the table groups by


#: a package with one mutant a test kills, one no test runs and one site the user ignores
TARGET_OPS = textwrap.dedent(
    """
    import torch.nn.functional as F


    def predict(logits):
        return F.softmax(logits, dim=-1)


    def unused(logits):
        return F.softmax(logits, dim=-1)


    def rows(logits):
        return F.softmax(logits, dim=-1)  # mlbugs: ignore[softmax_wrong_dim] a square input
    """
)
TARGET_TESTS = textwrap.dedent(
    """
    import torch

    from minipkg.ops import predict


    def test_predict_rows_sum_to_one():
        torch.testing.assert_close(predict(torch.randn(2, 3)).sum(dim=-1), torch.ones(2))
    """
)


def test_target_mode_writes_the_page_with_every_mutant(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("minipkg")
    pytester.path.joinpath("minipkg", "ops.py").write_text(TARGET_OPS)
    pytester.makepyfile(test_ops=TARGET_TESTS)
    result = run(
        pytester,
        "--mlbugs-target=minipkg/ops.py",
        "--mlbugs-mutators=softmax_wrong_dim",
        "--mlbugs-html=html",
        "--mlbugs-report=r.json",
    )
    result.stdout.fnmatch_lines(["HTML report written to html/index.html"])
    report = json.loads((pytester.path / "r.json").read_text())
    page = page_of(pytester.path / "html")
    assert embedded(page) == report
    statuses_seen = {m["id"]: m["status"] for m in every_mutant(report)}
    assert sorted(statuses_seen.values()) == ["Ignored", "Killed", "NoCoverage"]
    cards = visible_cards(page)
    assert sorted(cards) == sorted(statuses_seen)
    assert total_row(page) == {
        "detected": 1,
        "survived": 0,
        "timeout": 0,
        "error": 0,
        "no coverage": 1,
        "ignored": 1,
    }
    (killed,) = [cards[i] for i, s in statuses_seen.items() if s == "Killed"]
    assert "test_ops.py::test_predict_rows_sum_to_one" in killed.text()


def test_bad_html_folders_are_one_line_usage_errors_and_nothing_is_overwritten(
    pytester: pytest.Pytester,
) -> None:
    pytester.path.joinpath("a_file").write_text("keep me")
    pytester.mkdir("theirs").joinpath("index.html").write_text("<html>keep me</html>")
    for value, message in (
        ("a_file", "--mlbugs-html=a_file: is a file, not a folder"),
        ("theirs", "--mlbugs-html=theirs: theirs/index.html exists and is not a pytest-mlbugs report"),
    ):
        result = run(pytester, "--mlbugs-seed=1", f"--mlbugs-html={value}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        errors = [line for line in result.errlines if line.startswith("ERROR:")]
        assert len(errors) == 1 and errors[0].startswith(f"ERROR: {message}"), result.errlines
        assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert pytester.path.joinpath("a_file").read_text() == "keep me"
    assert pytester.path.joinpath("theirs", "index.html").read_text() == "<html>keep me</html>"


NOT_OURS = "exists and is not a pytest-mlbugs report; choose another folder (it will not be overwritten)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nowhere/html", "--mlbugs-html=nowhere/html: folder nowhere does not exist; create it first"),
        ("", "--mlbugs-html: empty path; give a folder to write index.html into"),
        ("theirs", f"--mlbugs-html=theirs: theirs/index.html {NOT_OURS}"),
        ("a_link", f"--mlbugs-html=a_link: a_link/index.html {NOT_OURS}"),
    ],
)
def test_the_html_folder_is_refused_where_writing_could_destroy_something(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("theirs").mkdir()
    Path("theirs", "index.html").write_text("<html>not ours</html>")
    Path("a_link").mkdir()
    write_html(hand_built_report(), Path("elsewhere"))
    Path("a_link", "index.html").symlink_to(Path("elsewhere", "index.html").resolve())  # ours, but a link
    with pytest.raises(pytest.UsageError) as refused:
        options.html_folder(value)
    assert str(refused.value) == message
    # a folder that does not exist yet is made at the end of the run, not now
    assert options.html_folder("new") == Path("new") and not Path("new").exists()


# -- in a real browser ----------------------------------------------------------------------------

#: Chromium as distributions name it
BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
#: generous: a loaded 2-core machine starts a browser in seconds, not milliseconds
BROWSER_TIMEOUT = 180
#: headless, as root in a container, and nothing fetched that the page did not ask for
HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture
def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium); the browser tests need it")


class Chromium:
    """Headless Chromium, one fresh profile per call, nothing fetched from the network."""

    def __init__(self, executable: str, folder: Path) -> None:
        self.executable = executable
        self.folder = folder
        self.calls = 0

    def __call__(self, url: str, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        profile = self.folder / f"chromium-profile-{self.calls}"
        command = [self.executable, *HEADLESS, f"--user-data-dir={profile}", *args, url]
        env = {**os.environ, "HOME": str(self.folder)}
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, env=env, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    def dom(self, url: str) -> Node:
        """The DOM after the page's script ran."""
        return parse(self(url, "--dump-dom").stdout)


def test_the_page_in_a_headless_browser_shows_what_its_json_holds(
    tmp_path: Path, browser: str, record_property: Any
) -> None:
    report = hand_built_report()
    index = write_html(report, tmp_path / "html")
    chromium = Chromium(browser, tmp_path)

    page = chromium.dom(index.as_uri())
    assert page.find_all("html")[0].has_class("js")  # the script ran
    assert embedded(page) == report
    assert sorted(visible_cards(page)) == sorted(m["id"] for m in every_mutant(report))
    words = {"Killed": "detected", "Survived": "survived", "Timeout": "timeout", "RuntimeError": "error"}
    expected = collections.Counter(words[m["status"]] for m in every_mutant(report))
    assert total_row(page) == {status: expected[status] for status in total_row(page)}
    assert score_shown(page) == f"{report['mlbugs']['score']:.1f}%"
    assert page.by_id("shown").text() == "5 of 5 variants shown"

    filtered = chromium.dom(index.as_uri() + "#status=survived,timeout&category=numerics")
    assert sorted(visible_cards(filtered)) == ["v-survived", "v-timeout"]
    assert filtered.by_id("shown").text() == "2 of 5 variants shown"
    marks = filtered.find_all("a", lambda n: n.has_class("mark") and not n.hidden)
    assert sorted(m.attrs["href"] for m in marks) == sorted(
        f"#{c.attrs['id']}" for c in visible_cards(filtered).values()
    )
    masks_section = filtered.find_all(
        "section", lambda n: n.attrs.get("data-file") == "reference_impls/masks.py"
    )
    assert masks_section[0].hidden  # nothing of it passes the filter
    line5 = filtered.by_id("f0-L5")
    assert line5.has_class("st-survived")

    screenshot = tmp_path / "report.png"
    chromium(index.as_uri(), f"--screenshot={screenshot}", "--window-size=1280,1800", "--hide-scrollbars")
    record_property("screenshot", str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


@pytest.fixture
def chromedriver(browser: str) -> str:
    found = shutil.which("chromedriver")
    if found is None:
        pytest.skip("chromedriver is not installed (Debian: apt-get install -y chromium-driver)")
    return found


#: what the page shows after a click: the hash it wrote, its count, the cards left
PAGE_STATE = """
return {
  hash: location.hash,
  shown: document.getElementById("shown").textContent,
  visible: Array.from(
    document.querySelectorAll("article.mutant:not([hidden]) code.mid"), (n) => n.textContent
  ),
};
"""


#: whether the page's count reads as the argument
SHOWN = 'return document.getElementById("shown").textContent === arguments[0];'


def test_clicking_the_filters_hides_what_they_leave_out_and_keeps_the_view_in_the_hash(
    tmp_path: Path, browser: str, chromedriver: str
) -> None:
    index = write_html(hand_built_report(), tmp_path / "html")
    args = [*HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000"]
    log = tmp_path / "chromedriver.log"
    with chromium_session(chromedriver, browser, args, log=log, timeout=BROWSER_TIMEOUT) as session:
        session.open(index.as_uri())
        session.click('#filters input[name="status"][value="detected"]')
        session.click('#filters input[name="category"][value="data"]')
        state = session.run(PAGE_STATE)
        assert state["hash"] == "#status=survived,timeout,error&category=numerics,shapes,state%2Fdevice"
        assert sorted(state["visible"]) == sorted([HOSTILE_ID, "v-survived", "v-timeout"])
        assert state["shown"] == "3 of 5 variants shown"

        session.click('#filters a[href="#all"]')
        assert session.until(SHOWN, "5 of 5 variants shown")
        assert len(session.run(PAGE_STATE)["visible"]) == 5

        session.click('#table a[href="#category=data"]')  # a category in the table
        assert session.until(SHOWN, "1 of 5 variants shown")
        assert session.run(PAGE_STATE)["visible"] == ["m-survived"]
