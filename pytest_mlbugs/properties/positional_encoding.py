"""Contract 2: ``positional_encoding.PositionalEncoding``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.utils.deterministic

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.positional import PositionalCase, positional_cases
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "positional_encoding",
    names=("PositionalEncoding",),
    contract="contract 2: PositionalEncoding",
)

RICH = PositionalCase(batch=2, seq_len=5, half_width=4, max_len=9, seed=1)
#: one sequence, and length, table length and half the width all equal: a table sliced by the
#: batch size or on the wrong axis still broadcasts, and shows in the values, not as a shape error
SQUARE = PositionalCase(batch=1, seq_len=3, half_width=3, max_len=3, seed=3)
#: a float32 table may differ from the closed form by this much at far positions (contract 2)
TABLE_ATOL = 1e-3
ATOL = 1e-5
#: the default ``max_len``: the table is compared there too, where errors grow
DEFAULT_MAX_LEN = 5000


def closed_form(max_len: int, d_model: int) -> torch.Tensor:
    """The sinusoidal table (1, max_len, d_model), in float64 on the CPU, then rounded to
    float32 and put on the session's device."""
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    frequency = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return devices.put(table.to(torch.float32).unsqueeze(0))


@contextlib.contextmanager
def uninitialised_memory_is_nan() -> Iterator[None]:
    """``torch.empty`` gives NaN (integers: their largest value) in the body instead of whatever
    the memory held: a table allocated and never filled shows at once, and never matches by luck
    (memory just freed may still hold the table an earlier example built). torch's switch for
    this is deterministic mode's ``fill_uninitialized_memory``; it is set through ``torch._C``,
    because ``torch.use_deterministic_algorithms`` imports ``torch._inductor`` (seconds) on its
    first call. ``warn_only``: an operation without a deterministic kernel still runs."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch._C._set_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill  # type: ignore[attr-defined]


def make(impl: Any, d_model: int, **options: Any) -> Any:
    """``PositionalEncoding(d_model, **options)`` built with uninitialised memory as NaN."""
    with uninitialised_memory_is_nan():
        module = impl.PositionalEncoding(d_model, **options)
    return devices.put(module)


def build(impl: Any, case: PositionalCase, *, dropout: float | None = None) -> Any:
    """The module with ``dropout``, or with the contract's default (0) when it is ``None``."""
    torch.manual_seed(case.seed)
    if dropout is None:
        return make(impl, case.d_model, max_len=case.max_len)
    return make(impl, case.d_model, max_len=case.max_len, dropout=dropout)


def inputs(case: PositionalCase) -> torch.Tensor:
    return devices.put(normal(generator(case.seed), (case.batch, case.seq_len, case.d_model)))


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="the positional table drifts during training, or is missing from checkpoints",
    cases=positional_cases(),
    explicit=[RICH],
    max_examples=3,
)
def pe_is_a_persistent_buffer(impl: Any, case: PositionalCase) -> None:
    """``pe`` is not a persistent buffer of shape (1, max_len, d_model): it is trained by the
    optimizer as a parameter, or left out of the state_dict and of ``.to()``."""
    module = build(impl, case)
    parameters = dict(module.named_parameters())
    assert "pe" not in parameters, "pe is a parameter: the optimizer trains the fixed table"
    assert not any(p.requires_grad for p in parameters.values()), (
        f"trainable parameters {sorted(parameters)} in a module that has nothing to learn"
    )
    buffers = dict(module.named_buffers())
    assert "pe" in buffers, "pe is not a registered buffer: .to() and the state_dict miss it"
    assert "pe" in module.state_dict(), "pe is not persistent: checkpoints miss it"
    shape = tuple(buffers["pe"].shape)
    assert shape == (1, case.max_len, case.d_model), f"pe has shape {shape}"


@SUITE.property(
    layer=Layer.DATA,
    symptom="the model cannot tell positions apart: word order is ignored, long inputs degrade",
    cases=positional_cases(),
    explicit=[SQUARE, RICH],
    max_examples=5,
)
def table_matches_the_closed_form(impl: Any, case: PositionalCase) -> None:
    """The table differs from sin(pos / 10000^(2i/d)) on even columns and cos on odd ones:
    sine and cosine are swapped, or a frequency, a sign or the positions are off."""
    module = build(impl, case)
    table = module.pe.detach()
    torch.testing.assert_close(table, closed_form(case.max_len, case.d_model), atol=TABLE_ATOL, rtol=0.0)


@SUITE.property(layer=Layer.DATA, symptom="long inputs degrade: far positions get wrong encodings")
def far_positions_match_the_closed_form(impl: Any) -> None:
    """With the default ``max_len`` the table drifts from the closed form by more than 1e-3 at
    far positions (float32 angles computed carelessly), or the default is not 5000."""
    d_model = 16
    table = make(impl, d_model).pe.detach()
    assert tuple(table.shape) == (1, DEFAULT_MAX_LEN, d_model), f"pe has shape {tuple(table.shape)}"
    error = (table - closed_form(DEFAULT_MAX_LEN, d_model)).abs()
    worst = int(error.flatten().argmax())
    assert float(error.max()) <= TABLE_ATOL, (
        f"pe differs from the closed form by {float(error.max()):.3g} at position {worst // d_model}, "
        f"column {worst % d_model}"
    )


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="loss is worse than expected; every position gets the same (or a shifted) encoding",
    cases=positional_cases(),
    explicit=[SQUARE, RICH, PositionalCase(batch=1, seq_len=4, half_width=2, max_len=6, seed=2)],
    max_examples=5,
)
def forward_adds_the_first_rows_of_the_table(impl: Any, case: PositionalCase) -> None:
    """With the default dropout (0), ``forward(x)`` is not ``x + pe[:, :T]`` (in train and eval
    mode): the table is sliced on the wrong axis, by the batch size, or not added at all."""
    module = build(impl, case)
    x = inputs(case)
    expected = x + closed_form(case.max_len, case.d_model)[:, : case.seq_len]
    for training in (True, False):
        module.train(training)
        with torch.no_grad():
            actual = module(x)
        assert actual.shape == x.shape, f"output shape {tuple(actual.shape)}, input {tuple(x.shape)}"
        torch.testing.assert_close(actual, expected, atol=TABLE_ATOL, rtol=0.0)


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="the model overfits: training loss falls while validation loss rises",
    cases=positional_cases(max_batch=2, max_seq_len=4, max_half_width=3),
    explicit=[RICH],
    max_examples=3,
)
def dropout_applies_in_train_mode_only(impl: Any, case: PositionalCase) -> None:
    """Dropout on the sum is skipped in training mode (p = 1 must zero everything, p = 0.5 must
    zero some entries and scale the rest by 2), or is still applied in eval mode."""
    x = inputs(case)
    expected = x + closed_form(case.max_len, case.d_model)[:, : case.seq_len]
    with torch.no_grad():
        dropped = build(impl, case, dropout=1.0).train()(x)
        torch.testing.assert_close(dropped, torch.zeros_like(x), atol=0.0, rtol=0.0)
        half = build(impl, case, dropout=0.5).train()(x)
        kept = half != 0
        assert not bool(kept.all()), "p = 0.5 in train mode zeroed nothing"
        torch.testing.assert_close(half[kept], 2 * expected[kept], atol=2 * TABLE_ATOL, rtol=0.0)
        evaluated = build(impl, case, dropout=1.0).eval()(x)
        torch.testing.assert_close(evaluated, expected, atol=TABLE_ATOL, rtol=0.0)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=positional_cases(max_half_width=3),
    explicit=[RICH],
    max_examples=2,
)
def output_follows_the_module_device(impl: Any, case: PositionalCase) -> None:
    """After ``.to("meta")`` the table stayed behind or the output lands elsewhere: something
    is a plain attribute instead of a buffer, or created on a hard-coded device."""
    module = build(impl, case).to("meta")
    output = module(inputs(case).to("meta"))
    assert output.device.type == "meta", f"output on {output.device}"
    assert tuple(output.shape) == (case.batch, case.seq_len, case.d_model), f"shape {tuple(output.shape)}"
