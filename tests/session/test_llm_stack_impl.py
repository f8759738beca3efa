"""``--mlbugs-impl`` on the LLM-stack contracts (14-18), seen from the command line.

Users' files in styles the references do not use (PyTorch's fused functions, Hugging Face's
layouts, sibling modules importing each other) pass every property; files with bugs nobody's
mutator wrote fail, naming the property and its debugging layer. Subprocess runs, as in
``test_plugin.py``: torch's import state would otherwise leak between runs.
"""

from __future__ import annotations

import textwrap

import pytest

from pytest_mlbugs.registry import builtin_registry

LLM_COMPONENTS = ("rmsnorm", "rope", "gqa", "llama_block", "lm_loss")

CORRECT = {
    "rmsnorm": """
        import torch
        import torch.nn.functional as F
        from torch import nn


        class RMSNorm(nn.Module):
            def __init__(self, dim, eps=1e-6):
                super().__init__()
                self.eps = eps
                self.weight = nn.Parameter(torch.ones(dim))

            def forward(self, x):
                return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        """,
    "rope": """
        import torch
        from torch import nn


        class RotaryEmbedding(nn.Module):
            def __init__(self, head_dim, max_seq_len=2048, base=10000.0):
                super().__init__()
                self.max_seq_len = max_seq_len
                inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
                freqs = torch.outer(torch.arange(max_seq_len).float(), inv_freq)
                emb = torch.cat((freqs, freqs), dim=-1)
                self.register_buffer("cos", emb.cos(), persistent=False)
                self.register_buffer("sin", emb.sin(), persistent=False)

            def forward(self, x, start_pos=0):
                end = start_pos + x.shape[-2]
                if end > self.max_seq_len:
                    raise ValueError(f"position {end - 1} is past max_seq_len={self.max_seq_len}")
                cos = self.cos[start_pos:end].to(x.dtype)
                sin = self.sin[start_pos:end].to(x.dtype)
                x1, x2 = x.chunk(2, dim=-1)
                return x * cos + torch.cat((-x2, x1), dim=-1) * sin
        """,
    "gqa": """
        import torch
        import torch.nn.functional as F
        from torch import nn

        from my_rope import RotaryEmbedding


        class GroupedQueryAttention(nn.Module):
            def __init__(self, d_model, num_heads, num_kv_heads, max_seq_len=2048, rope_base=10000.0):
                super().__init__()
                self.head_dim = d_model // num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=False)
                self.k_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=False)
                self.v_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=False)
                self.o_proj = nn.Linear(d_model, d_model, bias=False)
                self.rotary_emb = RotaryEmbedding(self.head_dim, max_seq_len, rope_base)

            def forward(self, x, past_kv=None):
                bsz, q_len, _ = x.shape
                offset = 0 if past_kv is None else past_kv[0].shape[2]
                q = self.q_proj(x).unflatten(-1, (-1, self.head_dim)).transpose(1, 2)
                k = self.k_proj(x).unflatten(-1, (-1, self.head_dim)).transpose(1, 2)
                v = self.v_proj(x).unflatten(-1, (-1, self.head_dim)).transpose(1, 2)
                q, k = self.rotary_emb(q, offset), self.rotary_emb(k, offset)
                if past_kv is not None:
                    k, v = torch.cat((past_kv[0], k), dim=2), torch.cat((past_kv[1], v), dim=2)
                mask = torch.ones(q_len, k.shape[2], dtype=torch.bool, device=x.device).tril(offset)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
                return self.o_proj(out.transpose(1, 2).flatten(2)), (k, v)
        """,
    "llama_block": """
        import torch.nn.functional as F
        from torch import nn

        from my_gqa import GroupedQueryAttention


        class FeedForward(nn.Module):
            def __init__(self, d_model, hidden_dim):
                super().__init__()
                self.w1 = nn.Linear(d_model, hidden_dim, bias=False)
                self.w2 = nn.Linear(hidden_dim, d_model, bias=False)
                self.w3 = nn.Linear(d_model, hidden_dim, bias=False)

            def forward(self, x):
                return self.w2(F.silu(self.w1(x)) * self.w3(x))


        class TransformerBlock(nn.Module):
            def __init__(self, d_model, num_heads, num_kv_heads, hidden_dim, eps=1e-6):
                super().__init__()
                self.attention_norm = nn.RMSNorm(d_model, eps=eps)
                self.attention = GroupedQueryAttention(d_model, num_heads, num_kv_heads)
                self.ffn_norm = nn.RMSNorm(d_model, eps=eps)
                self.feed_forward = FeedForward(d_model, hidden_dim)

            def forward(self, hidden_states, past_kv=None):
                residual = hidden_states
                hidden_states, present = self.attention(self.attention_norm(hidden_states), past_kv)
                hidden_states = residual + hidden_states
                return hidden_states + self.feed_forward(self.ffn_norm(hidden_states)), present
        """,
    "lm_loss": """
        import torch
        import torch.nn.functional as F


        def causal_lm_loss(logits, labels, ignore_index=-100):
            shift_logits = logits[..., :-1, :].contiguous()
            shift_labels = labels[..., 1:].contiguous()
            return F.cross_entropy(
                shift_logits.view(-1, shift_logits.size(-1)).float(),
                shift_labels.view(-1),
                ignore_index=ignore_index,
            )


        def labels_from_batch(input_ids, attention_mask, ignore_index=-100):
            return torch.where(attention_mask.bool(), input_ids, torch.full_like(input_ids, ignore_index))
        """,
}

#: (component, a correct file with a bug of its own, the property that names it, its layer)
BUGGY = [
    (
        "rmsnorm",
        # Hugging Face's RMSNorm without its float32 upcast
        CORRECT["rmsnorm"].replace(
            "return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)",
            "return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))",
        ),
        "half_precision_is_reduced_in_float32",
        "Debugging layer 5 of 7 (numerics)*",
    ),
    (
        "rope",
        # positions counted from 1
        CORRECT["rope"].replace("torch.arange(max_seq_len)", "torch.arange(1, max_seq_len + 1)"),
        "position_zero_is_the_identity",
        "Debugging layer 1 of 7 (data)*",
    ),
    (
        "gqa",
        # the causal mask not offset by the cached positions
        CORRECT["gqa"].replace(".tril(offset)", ".tril()"),
        "pieces_through_past_kv_equal_one_pass",
        "Debugging layer 3 of 7 (shapes)*",
    ),
    (
        "llama_block",
        # GPT-J/NeoX's parallel residual: the feed-forward reads the block's input
        CORRECT["llama_block"].replace(
            "return hidden_states + self.feed_forward(self.ffn_norm(hidden_states)), present",
            "return hidden_states + self.feed_forward(self.ffn_norm(residual)), present",
        ),
        "matches_a_block_of_pytorch_parts",
        "Debugging layer 3 of 7 (shapes)*",
    ),
    (
        "lm_loss",
        # the labels scored without the shift
        CORRECT["lm_loss"].replace("logits[..., :-1, :]", "logits").replace("labels[..., 1:]", "labels"),
        "first_label_and_last_logits_do_not_count",
        "Debugging layer 2 of 7 (target)*",
    ),
]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


def write(pytester: pytest.Pytester, name: str, source: str) -> None:
    pytester.path.joinpath(f"{name}.py").write_text(textwrap.dedent(source))


def test_impl_accepts_correct_files_in_other_styles_for_every_llm_contract(pytester):
    for component in LLM_COMPONENTS:
        write(pytester, f"my_{component}", CORRECT[component])
    options = [f"--mlbugs-impl={c}=my_{c}.py" for c in LLM_COMPONENTS]
    result = run(pytester, "--mlbugs-seed=1", *options)
    registry = builtin_registry()
    properties = sum(len(registry.components[c].suite.properties) for c in LLM_COMPONENTS)
    result.assert_outcomes(passed=properties)


def test_impl_rejects_a_buggy_file_naming_the_property_and_its_debugging_layer(pytester):
    # the siblings a buggy gqa or block file imports are the correct ones
    write(pytester, "my_rope", CORRECT["rope"])
    write(pytester, "my_gqa", CORRECT["gqa"])
    for component, source, _, _ in BUGGY:
        write(pytester, f"buggy_{component}", source)
    result = run(pytester, "--mlbugs-seed=1", *[f"--mlbugs-impl={c}=buggy_{c}.py" for c, *_ in BUGGY])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    for component, _, prop, layer in BUGGY:
        result.stdout.fnmatch_lines(
            [f"*buggy_{component}.py breaks the {component} contract: {prop}", "What it means: *", layer]
        )


@pytest.mark.parametrize(
    ("component", "missing"),
    [
        ("rmsnorm", "RMSNorm"),
        ("rope", "RotaryEmbedding"),
        ("gqa", "GroupedQueryAttention"),
        ("llama_block", "FeedForward"),
        ("lm_loss", "causal_lm_loss"),
    ],
)
def test_a_file_missing_a_contract_name_is_one_usage_error(pytester, component, missing):
    write(
        pytester,
        "partial",
        "class TransformerBlock:\n    pass\n\n\ndef labels_from_batch(ids, mask):\n    return ids\n",
    )
    result = run(pytester, f"--mlbugs-impl={component}=partial.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert (
        len(errors) == 1
        and f"does not define {missing}, which the {component} contract requires" in errors[0]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
