"""What a ``--mlbugs-impl`` failure tells a person: the check that failed, the line of their file,
the contract's section, and, when their file does not meet the contract at all, that first.

Subprocess runs, as in test_plugin.py.
"""

from __future__ import annotations

import fnmatch
import re

import pytest

from pytest_mlbugs.failures import contract_reference
from pytest_mlbugs.registry import builtin_registry
from tests.support.paths import ROOT

REGISTRY = builtin_registry()
ATTENTION = REGISTRY.components["attention"].reference_source
MASKS = REGISTRY.components["masks"].reference_source
PLUGINS = ("-p", "no:cacheprovider", "-p", "no:benchmark")
ATTENTION_LINK = "docs/contracts.md#1-attention on pytest-mlbugs' home page"

#: a wrapper around nn.MultiheadAttention: it computes attention, but has no q_proj..out_proj
WRAPPER = """
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        self.attention = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)

    def forward(self, query, key, value, mask=None):
        blocked = None if mask is None else ~mask
        return self.attention(query, key, value, attn_mask=blocked, need_weights=False)[0]
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*PLUGINS, "--mlbugs-seed=3", *args)


def failure_heads(result: pytest.RunResult) -> list[str]:
    """The first line of each failure: the line after its ``____ title ____`` separator."""
    lines = result.outlines
    return [lines[i + 1] for i, line in enumerate(lines) if re.fullmatch(r"_{3,} .* _{3,}", line)]


def replaced(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


def test_a_wrapper_without_the_contracts_submodules_is_told_it_does_not_meet_the_contract(pytester):
    pytester.path.joinpath("wrapper.py").write_text(WRAPPER)
    result = run(pytester, "--mlbugs-impl=attention=wrapper.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    heads = failure_heads(result)
    assert heads, result.stdout.str()
    # the expression that failed (Python 3.11 on; before, the statement that holds it)
    assert fnmatch.fnmatch(
        heads[0],
        "wrapper.py does not meet the attention contract: MultiHeadAttention has no attribute q_proj; "
        f"the contract requires module.q_proj* (see {ATTENTION_LINK})",
    ), heads[0]
    # the traceback is still there, below
    result.stdout.fnmatch_lines(["E * AttributeError: 'MultiHeadAttention' object has no attribute 'q_proj'"])
    assert "broke the harness" not in result.stdout.str()


@pytest.mark.slow
def test_a_projection_without_a_bias_and_a_forward_without_mask_are_reported_as_what_they_are(pytester):
    no_bias = replaced(
        ATTENTION,
        "self.k_proj = nn.Linear(d_model, d_model)",
        "self.k_proj = nn.Linear(d_model, d_model, bias=False)",
    )
    pytester.path.joinpath("no_bias.py").write_text(no_bias)
    no_mask = replaced(ATTENTION, "        mask: torch.Tensor | None = None,\n", "")
    no_mask = replaced(no_mask, "if mask is not None:", "if False:")
    pytester.path.joinpath("no_mask.py").write_text(no_mask)

    heads = failure_heads(run(pytester, "--mlbugs-impl=attention=no_bias.py"))
    expected = "no_bias.py does not meet the attention contract: k_proj has no bias: contract 1 gives each "
    assert heads and all(head.startswith(expected + "projection one") for head in heads), heads
    assert all(ATTENTION_LINK in head for head in heads)

    heads = failure_heads(run(pytester, "--mlbugs-impl=attention=no_mask.py"))
    assert heads and all(
        head.startswith(
            "no_mask.py does not meet the attention contract: TypeError: MultiHeadAttention.forward() got an "
            "unexpected keyword argument 'mask'; the contract requires module("
        )
        for head in heads
    ), heads


def test_an_attribute_error_in_the_users_own_code_is_their_bug_shown_at_their_line(pytester):
    # the file meets the contract; its forward() misspells its own submodule
    own_bug = replaced(ATTENTION, "return self.out_proj(context)", "return self.output_proj(context)")
    pytester.path.joinpath("own_bug.py").write_text(own_bug)
    line = own_bug.splitlines().index("        return self.output_proj(context)") + 1
    result = run(pytester, "--mlbugs-impl=attention=own_bug.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    heads = failure_heads(result)
    assert heads and all(head.startswith("own_bug.py breaks the attention contract: ") for head in heads)
    result.stdout.fnmatch_lines(
        [
            "own_bug.py breaks the attention contract: matches_scaled_dot_product_attention",
            "What failed: module(query, key, value, mask=mask) raised AttributeError: "
            "'MultiHeadAttention' object has no attribute 'output_proj'",
            f"In your file: own_bug.py:{line}: return self.output_proj(context)",
            "What it means: The output differs from torch's scaled_dot_product_attention *",
            "Debugging layer 3 of 7 (shapes); in training you would see: *",
            f"The contract: {ATTENTION_LINK}",
        ]
    )


def test_what_failed_is_the_assertions_message_or_else_the_suites_failing_line(pytester):
    # the assertion's own message: a causal mask of the wrong dtype
    float_masks = replaced(
        MASKS, "torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)", "torch.ones(seq_len, seq_len)"
    )
    float_masks = replaced(float_masks, "return torch.tril(ones, diagonal=0)", "return torch.tril(ones)")
    pytester.path.joinpath("float_masks.py").write_text(float_masks)
    # no message: the suite's own line, and what it raised
    unscaled = replaced(ATTENTION, " / math.sqrt(self.d_k)", "")
    pytester.path.joinpath("unscaled.py").write_text(unscaled)

    result = run(pytester, "--mlbugs-impl=masks=float_masks.py", "--mlbugs-impl=attention=unscaled.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "float_masks.py breaks the masks contract: causal_mask_is_lower_triangular",
            "What failed: create_causal_mask(T) has dtype torch.float32, not torch.bool",
            "What it means: The causal mask is not ``torch.tril(ones).bool()``*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "unscaled.py breaks the attention contract: matches_scaled_dot_product_attention",
            "What failed: torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL) raised "
            "AssertionError: Tensor-likes are not close!",
            "What it means: *",
        ]
    )
    # the check failed in the suite, not in the file: no line of the file to show
    assert "In your file: unscaled.py" not in result.stdout.str()


def test_every_built_in_contract_links_a_section_that_docs_contracts_md_has():
    headings = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8").splitlines()
    anchors = {
        re.sub(r"[^\w\- ]", "", line[4:].strip().lower()).replace(" ", "-")
        for line in headings
        if line.startswith("### ")
    }
    for name, component in REGISTRY.components.items():
        reference = contract_reference(component.suite)
        link = reference.split()[0]
        assert link.startswith("docs/contracts.md#"), (name, reference)
        assert link.split("#")[1] in anchors, (name, reference)
        assert "CONTRACTS.md" not in component.suite.contract
