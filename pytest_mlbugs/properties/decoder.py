"""Contract 6: ``decoder.TransformerDecoderLayer`` (pre-norm).

The oracle is ``nn.TransformerDecoderLayer(norm_first=True, batch_first=True)`` wired to the
implementation's own parts: the attention weights are copied into its ``nn.MultiheadAttention``
blocks (contract 1 names them), and its norms and feed-forward block *are* the implementation's
``norm1``..``norm3`` and ``ffn`` (a norm may be ``nn.LayerNorm`` or a hand-written one). What the
oracle checks is the wiring around them; the feed-forward block's own structure (pinned in
contract 6: two linear layers with biases, ReLU or GELU between them) and the dropout on the
attention weights are checked on ``ffn``, ``self_attn`` and ``cross_attn`` themselves.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.properties.attention import copy_into_nn_multihead_attention
from pytest_mlbugs.strategies.decoder import DecoderCase, decoder_cases
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite, require

SUITE = Suite(
    "decoder",
    names=("TransformerDecoderLayer",),
    contract="contract 6: TransformerDecoderLayer (pre-norm)",
)

RICH = DecoderCase(
    batch=2,
    tgt_len=4,
    src_len=5,
    num_heads=2,
    head_dim=4,
    d_ff=8,
    self_mask="causal",
    cross_mask="keys",
    seed=1,
)
ATOL = 1e-5
RTOL = 1e-4


def build(impl: Any, case: DecoderCase, *, dropout: float | None = None) -> Any:
    """The layer with ``dropout``, or with the contract's default (0.1) when it is ``None``."""
    torch.manual_seed(case.seed)
    if dropout is None:
        module = impl.TransformerDecoderLayer(case.d_model, case.num_heads, case.d_ff)
    else:
        module = impl.TransformerDecoderLayer(case.d_model, case.num_heads, case.d_ff, dropout=dropout)
    with torch.no_grad():
        # Distinct random norm parameters and biases: one norm used in place of another, or a
        # dropped bias, cannot hide behind the default ones and zeros.
        for parameter in module.parameters():
            if parameter.dim() == 1:
                parameter.normal_()
    return devices.put(module)


def inputs(case: DecoderCase) -> tuple[torch.Tensor, torch.Tensor]:
    gen = generator(case.seed)
    x = normal(gen, (case.batch, case.tgt_len, case.d_model))
    memory = normal(gen, (case.batch, case.src_len, case.d_model))
    return devices.put(x), devices.put(memory)


def oracle(module: Any, case: DecoderCase) -> nn.TransformerDecoderLayer:
    """PyTorch's pre-norm decoder layer computing with ``module``'s weights, norms and ffn."""
    reference: Any = nn.TransformerDecoderLayer(
        case.d_model,
        case.num_heads,
        dim_feedforward=case.d_ff,
        dropout=0.0,
        batch_first=True,
        norm_first=True,
    )
    reference = devices.put(reference)
    copy_into_nn_multihead_attention(reference.self_attn, module.self_attn)
    copy_into_nn_multihead_attention(reference.multihead_attn, module.cross_attn)
    reference.norm1, reference.norm2, reference.norm3 = module.norm1, module.norm2, module.norm3
    # nn computes linear2(dropout(activation(linear1(x)))); the contract's ffn is the whole of it.
    reference.linear1, reference.linear2 = nn.Identity(), nn.Identity()
    reference.activation = module.ffn
    return reference


def expected_output(module: Any, case: DecoderCase, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """The contract's output, with the masks turned into nn's convention (True = blocked)."""
    reference = oracle(module, case)
    reference.train(module.training)
    self_mask = case.make_self_mask()
    cross_mask = case.make_cross_mask()
    memory_mask = memory_key_padding_mask = None
    if cross_mask is not None and case.cross_mask == "keys":
        memory_key_padding_mask = ~cross_mask.reshape(case.batch, case.src_len)
    elif cross_mask is not None:
        blocked = ~cross_mask.expand(case.batch, case.num_heads, case.tgt_len, case.src_len)
        memory_mask = blocked.reshape(case.batch * case.num_heads, case.tgt_len, case.src_len)
    return reference(
        x,
        memory,
        tgt_mask=None if self_mask is None else ~self_mask,
        memory_mask=memory_mask,
        memory_key_padding_mask=memory_key_padding_mask,
    )


def run(module: Any, case: DecoderCase, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    return module(x, memory, self_attn_mask=case.make_self_mask(), cross_attn_mask=case.make_cross_mask())


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="the decoder trains worse than nn.TransformerDecoderLayer, or diverges as layers are stacked",
    cases=decoder_cases(),
    # Equal lengths first: a mask or a memory given to the wrong block then fails on values,
    # not on shapes.
    explicit=[
        DecoderCase(
            batch=2,
            tgt_len=3,
            src_len=3,
            num_heads=2,
            head_dim=3,
            d_ff=6,
            self_mask="none",
            cross_mask="full",
            seed=2,
        ),
        RICH,
    ],
    max_examples=8,
)
def matches_nn_transformer_decoder_layer(impl: Any, case: DecoderCase) -> None:
    """With the same weights, norms and feed-forward block, the layer computes something other
    than PyTorch's pre-norm TransformerDecoderLayer: a residual, a norm, a mask or the memory
    is wired wrongly (x + self_attn(norm1(x)), x + cross_attn(norm2(x), memory), x + ffn(norm3(x)))."""
    module = build(impl, case).eval()
    x, memory = inputs(case)
    with torch.no_grad():
        actual = run(module, case, x, memory)
        expected = expected_output(module, case, x, memory)
    assert actual.shape == x.shape, f"output shape {tuple(actual.shape)}, expected {tuple(x.shape)}"
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)


#: d_ff differs from d_model, so that the two linear layers of the block tell apart by shape
FEED_FORWARD = DecoderCase(
    batch=2,
    tgt_len=3,
    src_len=2,
    num_heads=2,
    head_dim=3,
    d_ff=10,
    self_mask="none",
    cross_mask="none",
    seed=4,
)
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ReLU": F.relu,
    "GELU": F.gelu,
    "GELU (tanh)": lambda t: F.gelu(t, approximate="tanh"),
}


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="a deep stack trains no better than a linear model, or worse than nn.TransformerDecoderLayer",
    cases=decoder_cases(max_len=4),
    explicit=[FEED_FORWARD],
    max_examples=3,
)
def feed_forward_is_linear_activation_linear(impl: Any, case: DecoderCase) -> None:
    """ffn is not Linear(d_model, d_ff) -> ReLU or GELU -> Linear(d_ff, d_model) with a bias
    in each linear layer: the activation is missing (the block is affine), a bias is dropped,
    or the layers are another shape."""
    module = build(impl, case).eval()
    x, _ = inputs(case)
    with torch.no_grad():
        output = module.ffn(x)
        assert output.shape == x.shape, f"ffn maps {tuple(x.shape)} to {tuple(output.shape)}"
        # zero for an affine map, whatever its weights
        bend = output + module.ffn(-x) - 2 * module.ffn(torch.zeros_like(x))
        assert float(bend.abs().max()) > 1e-3, "ffn is affine: there is no activation between its layers"
        linears = [m for m in module.ffn.modules() if isinstance(m, nn.Linear)]
        if not linears:
            return  # a block with weights of its own: only its outputs can be checked
        shapes = [(m.in_features, m.out_features) for m in linears]
        ups = [m for m in linears if (m.in_features, m.out_features) == (case.d_model, case.d_ff)]
        downs = [m for m in linears if (m.in_features, m.out_features) == (case.d_ff, case.d_model)]
        assert len(linears) == 2 and ups and downs, (
            f"ffn's linear layers (in, out) are {shapes}, not ({case.d_model}, {case.d_ff}) then "
            f"({case.d_ff}, {case.d_model})"
        )
        up, down = linears if case.d_ff == case.d_model else (ups[0], downs[0])
        for which, layer in (("first", up), ("second", down)):
            require(layer.bias is not None, f"ffn's {which} linear layer has no bias")
        hidden = up(x)
        errors = {name: float((down(act(hidden)) - output).abs().max()) for name, act in ACTIVATIONS.items()}
        assert min(errors.values()) <= ATOL + RTOL * float(output.abs().max()), (
            f"ffn(x) is not second(activation(first(x))) for ReLU or GELU; max errors {errors}"
        )


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="training loss is suspiciously low, generation is garbage: the decoder reads the future",
    cases=decoder_cases(self_masks=("causal",), cross_masks=("none",), min_len=2),
    explicit=[
        DecoderCase(
            batch=2,
            tgt_len=5,
            src_len=3,
            num_heads=2,
            head_dim=3,
            d_ff=8,
            self_mask="causal",
            cross_mask="none",
            seed=5,
        )
    ],
    max_examples=5,
)
def causal_self_attention_hides_the_future(impl: Any, case: DecoderCase) -> None:
    """With a causal self_attn_mask, changing decoder tokens after position t changed the
    output at t: the self-attention mask is not applied (or applied to the wrong block)."""
    module = build(impl, case).eval()
    x, memory = inputs(case)
    cut = (case.tgt_len - 1) // 2
    changed = x.clone()
    changed[:, cut + 1 :] = devices.put(normal(generator(case.seed + 2), changed[:, cut + 1 :].shape))
    with torch.no_grad():
        before = run(module, case, x, memory)[:, : cut + 1]
        after = run(module, case, changed, memory)[:, : cut + 1]
    torch.testing.assert_close(after, before, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="predictions change with the amount of source padding",
    cases=decoder_cases(cross_masks=("keys",)),
    explicit=[
        DecoderCase(
            batch=2,
            tgt_len=3,
            src_len=6,
            num_heads=2,
            head_dim=2,
            d_ff=4,
            self_mask="none",
            cross_mask="keys",
            seed=7,
        )
    ],
    max_examples=5,
)
def cross_attention_ignores_masked_encoder_positions(impl: Any, case: DecoderCase) -> None:
    """Changing the encoder output at positions the cross_attn_mask blocks changed the output:
    the cross-attention mask is dropped, inverted or given to self-attention."""
    module = build(impl, case).eval()
    x, memory = inputs(case)
    allowed = case.make_cross_mask()
    assert allowed is not None
    blocked = ~allowed.reshape(case.batch, case.src_len, 1)
    noise = devices.put(normal(generator(case.seed + 3), memory.shape, scale=3.0))
    changed = torch.where(blocked, noise, memory)
    with torch.no_grad():
        before = run(module, case, x, memory)
        after = run(module, case, x, changed)
    torch.testing.assert_close(after, before, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="the model overfits: training loss far below validation loss, dropout seems to do nothing",
    cases=decoder_cases(max_len=4),
    explicit=[RICH],
    max_examples=5,
)
def full_dropout_leaves_the_residual_stream(impl: Any, case: DecoderCase) -> None:
    """In training mode with dropout=1, a sub-layer's output still reached the residual
    stream: a residual branch has no dropout (the output must equal the input exactly), or
    dropout is applied to the stream itself."""
    module = build(impl, case, dropout=1.0).train()
    x, memory = inputs(case)
    with torch.no_grad():
        output = run(module, case, x, memory)
    torch.testing.assert_close(output, x, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="validation metrics jump from run to run although nothing changed",
    cases=decoder_cases(max_len=4),
    max_examples=4,
)
def eval_mode_is_deterministic_with_dropout(impl: Any, case: DecoderCase) -> None:
    """In eval mode a dropout still changed the output, or the layer computed something else
    than the dropout-free layer."""
    module = build(impl, case, dropout=0.5).eval()
    x, memory = inputs(case)
    with torch.no_grad():
        first = run(module, case, x, memory)
        second = run(module, case, x, memory)
        expected = expected_output(module, case, x, memory)
    torch.testing.assert_close(first, second, atol=0.0, rtol=0.0)
    torch.testing.assert_close(first, expected, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="the encoder does not learn (its gradients are zero or wrong) while the decoder does",
    cases=decoder_cases(max_len=4),
    max_examples=3,
)
def gradients_match_nn_transformer_decoder_layer(impl: Any, case: DecoderCase) -> None:
    """The gradients reaching the decoder input and the encoder output differ from PyTorch's
    layer with the same weights: something is detached or computed outside autograd."""
    module = build(impl, case).eval()
    x, memory = inputs(case)
    weights = devices.put(normal(generator(case.seed + 4), x.shape))
    grads = []
    for forward in (run, lambda m, c, a, b: expected_output(m, c, a, b)):
        x_leaf = x.clone().requires_grad_(True)
        memory_leaf = memory.clone().requires_grad_(True)
        (forward(module, case, x_leaf, memory_leaf) * weights).sum().backward()
        assert x_leaf.grad is not None and memory_leaf.grad is not None, "no gradient reached an input"
        grads.append((x_leaf.grad, memory_leaf.grad))
    (x_grad, memory_grad), (x_expected, memory_expected) = grads
    torch.testing.assert_close(x_grad, x_expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(memory_grad, memory_expected, atol=1e-4, rtol=1e-4)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=decoder_cases(max_len=4),
    max_examples=2,
)
def output_follows_the_input_device(impl: Any, case: DecoderCase) -> None:
    """On the meta device the layer failed or produced a tensor elsewhere: something is
    created on a hard-coded device or with the wrong shape. Deprecated calls are errors here."""
    module = build(impl, case).to("meta")
    x, memory = (t.to("meta") for t in inputs(case))
    self_mask, cross_mask = case.make_self_mask(), case.make_cross_mask()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        output = module(
            x,
            memory,
            self_attn_mask=None if self_mask is None else self_mask.to("meta"),
            cross_attn_mask=None if cross_mask is None else cross_mask.to("meta"),
        )
    assert output.device.type == "meta", f"output on {output.device}"
    assert output.shape == x.shape, f"output shape {tuple(output.shape)}"


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="the model overfits: attention patterns memorize the training set, dropout seems weak",
    cases=decoder_cases(max_len=4),
    explicit=[RICH],
    max_examples=3,
)
def dropout_reaches_the_attention_weights(impl: Any, case: DecoderCase) -> None:
    """With dropout=1 in training mode, self_attn or cross_attn still let an attention weight
    through (their output is not out_proj's bias alone): the layer's dropout does not reach the
    attention blocks."""
    module = build(impl, case, dropout=1.0).train()
    x, memory = inputs(case)
    with torch.no_grad():
        for name, source in (("self_attn", x), ("cross_attn", memory)):
            attention = getattr(module, name)
            output = attention(x, source, source)
            expected = attention.out_proj.bias.expand_as(output)
            torch.testing.assert_close(
                output, expected, atol=ATOL, rtol=RTOL, msg=f"{name}'s output is not out_proj's bias alone"
            )
