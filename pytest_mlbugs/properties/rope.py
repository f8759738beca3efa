"""Contract 15: ``rope.RotaryEmbedding`` (half-split layout).

The oracle is the contract's closed form in float64. The exact invariants come next: position 0
is the identity, a rotation keeps the norm of every pair, the dot product of a rotated query and
key depends only on the distance of their positions, and ``start_pos`` is the same as slicing a
longer pass. A float32 table differs from the closed form by about 1e-7 per unit of position
(the float32 rounding of the angles), and the tolerances grow with the position accordingly.
"""

from __future__ import annotations

from typing import Any

import torch

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.rope import RopeCase, rope_cases
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "rope",
    names=("RotaryEmbedding",),
    contract="contract 15: RotaryEmbedding(head_dim, max_seq_len=2048, base=10000.0), half-split",
)

RICH = RopeCase(batch=2, heads=2, seq_len=4, half_dim=3, start_pos=5, spare_positions=1, base=10000.0, seed=1)
#: the default table, far positions: where angles computed in half precision go wrong
FAR = RopeCase(
    batch=1, heads=2, seq_len=5, half_dim=4, start_pos=2040, spare_positions=3, base=10000.0, seed=2
)
DEFAULT_MAX_SEQ_LEN = 2048


def angles(positions: torch.Tensor, head_dim: int, base: float) -> torch.Tensor:
    """(T, D/2), in float64 on the CPU: pair ``j`` at position ``p`` turns by ``p * base^(-2j / D)``."""
    exponent = -2.0 * torch.arange(head_dim // 2, dtype=torch.float64) / head_dim
    frequency = torch.pow(torch.tensor(base, dtype=torch.float64), exponent)  # (D/2,)
    return positions.to(torch.float64).unsqueeze(-1) * frequency


def rotate_closed_form(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """Contract 15's rotation of ``x`` (..., T, D) at ``positions`` (T,), in float64 on the CPU:
    the pair ``(j, j + D/2)`` turned by its angle."""
    half = x.shape[-1] // 2
    turned = angles(positions, x.shape[-1], base)  # (T, D/2)
    cos, sin = turned.cos(), turned.sin()
    wide = devices.to_cpu(x.detach()).to(torch.float64)
    first, second = wide[..., :half], wide[..., half:]
    return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)


def positions(case: RopeCase) -> torch.Tensor:
    return torch.arange(case.start_pos, case.start_pos + case.seq_len)


def float32_atol(end: int, x: torch.Tensor) -> float:
    """What float32 angles may cost at positions below ``end``, for inputs of ``x``'s size."""
    return (1e-5 + 1e-7 * end) * max(1.0, x.detach().abs().max().item())


def build(impl: Any, case: RopeCase, *, max_seq_len: int | None = None) -> Any:
    length = case.max_seq_len if max_seq_len is None else max_seq_len
    return devices.put(impl.RotaryEmbedding(case.head_dim, max_seq_len=length, base=case.base))


def rotate(module: Any, x: torch.Tensor, start_pos: int) -> torch.Tensor:
    with torch.no_grad():
        out = module(x, start_pos=start_pos)
    assert out.shape == x.shape, f"output shape {tuple(out.shape)}, expected {tuple(x.shape)}"
    return out


@SUITE.property(
    layer=Layer.DATA,
    symptom="every position is encoded one step late; a checkpoint trained elsewhere loses quality",
    cases=rope_cases(max_start_pos=0),
    explicit=[
        RopeCase(
            batch=1, heads=2, seq_len=3, half_dim=2, start_pos=0, spare_positions=0, base=10000.0, seed=3
        )
    ],
    max_examples=2,
)
def position_zero_is_the_identity(impl: Any, case: RopeCase) -> None:
    """At position 0 the rotation changed the input: positions do not start at 0 (the first
    row is rotated as position 1), or the pairing is not a rotation."""
    module = build(impl, case)
    x = case.make_input()
    out = rotate(module, x, 0)
    torch.testing.assert_close(out[..., 0, :], x[..., 0, :], atol=1e-6, rtol=0)


@SUITE.property(
    layer=Layer.DATA,
    symptom="the model ignores word order or degrades with length; pretrained weights give garbage",
    cases=rope_cases(),
    explicit=[RICH, FAR],
    max_examples=6,
)
def matches_the_closed_form(impl: Any, case: RopeCase) -> None:
    """The rotation differs from ``x * cos + rotate_half(x) * sin`` with pair j at angle
    ``p * base^(-2j / D)``: the pairing (half-split, with the sign on the first half), the
    frequencies, the positions or the sin/cos tables are off."""
    module = build(impl, case)
    x = case.make_input()
    out = rotate(module, x, case.start_pos)
    expected = devices.put(rotate_closed_form(x, positions(case), case.base).to(torch.float32))
    atol = float32_atol(case.max_seq_len, x)
    torch.testing.assert_close(out, expected, atol=atol, rtol=0)


@SUITE.property(
    layer=Layer.DATA,
    symptom="attention cannot learn relative positions; long-context quality collapses",
    cases=rope_cases(min_seq_len=2),
    explicit=[RICH],
    max_examples=3,
)
def dot_products_depend_only_on_distance(impl: Any, case: RopeCase) -> None:
    """Shifting every position of a query and a key by the same amount changed their rotated
    dot products: the rotation is not one, or the pairs do not use the same angle."""
    module = build(impl, case, max_seq_len=case.max_seq_len + 7)
    q, k = case.make_input(), case.make_input(seed_offset=1)
    scores = []
    for start in (case.start_pos, case.start_pos + 7):
        scores.append(rotate(module, q, start) @ rotate(module, k, start).transpose(-2, -1))
    atol = float32_atol(case.max_seq_len + 7, q) * max(1.0, k.abs().max().item()) * case.head_dim
    torch.testing.assert_close(scores[1], scores[0], atol=atol, rtol=0)


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="activations grow or shrink with position; attention logits drift along the sequence",
    cases=rope_cases(),
    explicit=[RICH],
    max_examples=3,
)
def rotation_keeps_the_norm_of_every_pair(impl: Any, case: RopeCase) -> None:
    """The rotated pair (j, j + D/2) does not have the norm of the input pair: features are
    paired wrongly (flipped, interleaved) or cos and sin come from different angles."""
    module = build(impl, case)
    x = case.make_input()
    out = rotate(module, x, case.start_pos)
    half = case.half_dim

    def pair_norms(t: torch.Tensor) -> torch.Tensor:
        return t[..., :half].pow(2) + t[..., half:].pow(2)

    torch.testing.assert_close(
        pair_norms(out), pair_norms(x), atol=float32_atol(case.max_seq_len, x) * 10, rtol=1e-5
    )


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="generation with a KV cache is garbage after the prompt although a full pass is fine",
    cases=rope_cases(min_seq_len=2, max_start_pos=6),
    explicit=[RICH],
    max_examples=3,
)
def start_pos_equals_slicing_a_longer_pass(impl: Any, case: RopeCase) -> None:
    """Rotating rows ``s .. s + t`` with ``start_pos=s`` differs from rotating the whole
    sequence and slicing: ``start_pos`` is ignored or added twice."""
    module = build(impl, case)
    full_len = case.start_pos + case.seq_len
    prefix = torch.zeros(case.batch, case.heads, case.start_pos, case.head_dim)
    longer = torch.cat([devices.put(prefix), case.make_input()], dim=2)
    whole = rotate(module, longer, 0)[..., case.start_pos : full_len, :]
    piece = rotate(module, longer[..., case.start_pos : full_len, :].contiguous(), case.start_pos)
    torch.testing.assert_close(piece, whole, atol=float32_atol(full_len, longer), rtol=0)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="a long generation crashes with a shape error, or silently reuses the last position",
    cases=rope_cases(),
    explicit=[RICH],
    max_examples=3,
)
def overflow_raises_and_changes_nothing(impl: Any, case: RopeCase) -> None:
    """A position at or beyond ``max_seq_len`` did not raise ValueError, changed the input or the
    tables before raising, or the last position below ``max_seq_len`` was refused."""
    module = build(impl, case)
    x = case.make_input()
    last_ok = case.max_seq_len - case.seq_len
    rotate(module, x, last_ok)  # ends exactly at max_seq_len: allowed
    tables = {name: buffer.clone() for name, buffer in module.named_buffers()}
    before = x.clone()
    for start in (last_ok + 1, case.max_seq_len):
        try:
            module(x, start_pos=start)
        except ValueError:
            pass
        else:
            raise AssertionError(
                f"positions {start}..{start + case.seq_len - 1} with max_seq_len={case.max_seq_len} "
                "did not raise ValueError"
            )
    torch.testing.assert_close(x, before, atol=0, rtol=0, msg="the refused call changed its input")
    for name, buffer in module.named_buffers():
        if name in tables:
            torch.testing.assert_close(
                buffer, tables[name], atol=0, rtol=0, msg=f"the refused call changed {name}"
            )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="bfloat16 models lose long-context quality: far positions collapse onto each other",
    cases=rope_cases(max_start_pos=DEFAULT_MAX_SEQ_LEN - 8, max_spare_positions=0),
    explicit=[FAR],
    max_examples=2,
)
def half_precision_keeps_its_dtype_and_its_angles(impl: Any, case: RopeCase) -> None:
    """With the default table and a half-precision input, the output has another dtype or is
    more than two steps of the dtype (at the input's scale) from the closed form: the angles were
    computed in half precision (positions above 256 are not exact in bfloat16) or the result is
    not cast back. A float64 input must stay float64."""
    module = devices.put(impl.RotaryEmbedding(case.head_dim, base=case.base))
    for dtype in (torch.bfloat16, torch.float16, torch.float64):
        x = case.make_input(dtype=dtype)
        out = rotate(module, x, case.start_pos)
        assert out.dtype == dtype, f"a {dtype} input gave a {out.dtype} output"
        expected = devices.put(rotate_closed_form(x, positions(case), case.base))
        scale = max(1.0, x.abs().max().item())
        atol = (
            float32_atol(DEFAULT_MAX_SEQ_LEN, x)
            if dtype == torch.float64
            else 2 * torch.finfo(dtype).eps * scale
        )
        torch.testing.assert_close(out.to(torch.float64), expected, atol=atol, rtol=0)


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="the rotation tables drift during training, or are missing from the GPU copy of the model",
    cases=rope_cases(max_start_pos=3),
    explicit=[RICH],
    max_examples=2,
)
def tables_are_buffers(impl: Any, case: RopeCase) -> None:
    """After a forward pass, ``cos`` and ``sin`` are not buffers of shape (max_seq_len, head_dim)
    holding the cosines and sines of the contract's angles, pair j in columns j and j + D/2:
    they are parameters the optimizer would train, plain attributes that ``.to()`` does not
    move, persistent buffers that ``state_dict()`` saves, swapped, or laid out for another
    pairing."""
    module = build(impl, case)
    rotate(module, case.make_input(), case.start_pos)
    buffers = dict(module.named_buffers())
    parameters = dict(module.named_parameters())
    saved = module.state_dict()
    table_angles = angles(torch.arange(case.max_seq_len), case.head_dim, case.base)
    table_angles = torch.cat((table_angles, table_angles), dim=-1)  # (S, D)
    for name, expected in (("cos", table_angles.cos()), ("sin", table_angles.sin())):
        assert name not in parameters, f"{name} is a parameter: the optimizer would train it"
        assert name in buffers, f"{name} is not a buffer (buffers: {sorted(buffers)})"
        assert name not in saved, (
            f"{name} is saved in state_dict(): a checkpoint without tables (Llama's) does not load strictly"
        )
        table = buffers[name]
        assert tuple(table.shape) == tuple(expected.shape), f"{name} has shape {tuple(table.shape)}"
        torch.testing.assert_close(
            table.to(torch.float64), devices.put(expected), atol=1e-6 + 1e-7 * case.max_seq_len, rtol=0
        )


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=rope_cases(max_start_pos=3),
    explicit=[RICH],
    max_examples=2,
)
def follows_the_device(impl: Any, case: RopeCase) -> None:
    """Built under another default device (meta) or moved there, the tables or the output
    landed elsewhere: a tensor is created on a hard-coded device, or a table is not a buffer."""
    with torch.device("meta"):
        created = impl.RotaryEmbedding(case.head_dim, max_seq_len=case.max_seq_len, base=case.base)
    moved = impl.RotaryEmbedding(case.head_dim, max_seq_len=case.max_seq_len, base=case.base).to("meta")
    x = case.make_input().to("meta")
    for where, module in (("built under torch.device('meta')", created), ("after .to('meta')", moved)):
        out = module(x, start_pos=case.start_pos)
        assert out.device.type == "meta", f"{where}, the output is on {out.device}"
        assert out.shape == x.shape, f"{where}, the output has shape {tuple(out.shape)}"
        for name, buffer in module.named_buffers():
            assert buffer.device.type == "meta", f"{where}, buffer {name} is on {buffer.device}"


@SUITE.property(
    layer=Layer.DATA,
    symptom="pretrained weights degrade with the defaults; a long prompt is refused or accepted a token off",
    cases=rope_cases(max_start_pos=0, bases=(10000.0,)),
    explicit=[RICH],
    max_examples=2,
)
def defaults_are_the_contracts(impl: Any, case: RopeCase) -> None:
    """``RotaryEmbedding(head_dim)`` called without ``start_pos`` does not rotate as positions
    ``0..T-1`` with base 10000, does not rotate up to position 2047 as the closed form does, or
    accepts position 2048: a default (``start_pos=0``, ``base=10000.0``, ``max_seq_len=2048``) is
    not contract 15's."""
    module = devices.put(impl.RotaryEmbedding(case.head_dim))
    x = case.make_input()
    atol = float32_atol(DEFAULT_MAX_SEQ_LEN, x)
    with torch.no_grad():
        out = module(x)
    assert out.shape == x.shape, f"output shape {tuple(out.shape)}, expected {tuple(x.shape)}"
    expected = rotate_closed_form(x, torch.arange(case.seq_len), 10000.0).to(torch.float32)
    torch.testing.assert_close(
        out, devices.put(expected), atol=atol, rtol=0, msg=lambda detail: f"without start_pos: {detail}"
    )
    last = DEFAULT_MAX_SEQ_LEN - case.seq_len  # the last rows end at position 2047
    expected = rotate_closed_form(x, torch.arange(last, DEFAULT_MAX_SEQ_LEN), 10000.0).to(torch.float32)
    torch.testing.assert_close(
        rotate(module, x, last),
        devices.put(expected),
        atol=atol,
        rtol=0,
        msg=lambda detail: f"at start_pos={last}: {detail}",
    )
    try:
        module(x, start_pos=last + 1)
    except ValueError:
        return
    raise AssertionError(f"position {DEFAULT_MAX_SEQ_LEN} was accepted by a table of the default max_seq_len")
