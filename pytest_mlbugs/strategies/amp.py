"""Models, batches and scalers for the amp suite (contract 22).

Every weight, input and target is a small multiple of 1/4, and the scaler's scale a power of
two, so that the forward pass in bfloat16 (float16 on CUDA) rounds nothing that matters: a step
under autocast and a gradient scaler can be compared with a plain float32 step. The device and
the autocast dtype come from :mod:`pytest_mlbugs.devices`: bfloat16 with
``torch.amp.GradScaler("cpu")`` on the CPU, float16 with a CUDA scaler under
``--mlbugs-device=cuda`` (that path has not run on a GPU yet).
"""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, seeds

#: the scaler's first scale: large enough that a scaled gradient is visibly wrong
INIT_SCALE = 2.0**10
#: plain SGD: a wrongly scaled gradient moves the weights by as much
LR = 0.125


@dataclasses.dataclass(frozen=True)
class AmpCase:
    batch: int
    in_features: int
    out_features: int
    #: 0 for no clipping; otherwise ``max_grad_norm`` in percent of the gradients' true norm
    clip_percent: int
    seed: int


def amp_cases(
    *, clipping: bool | None = None, max_batch: int = 4, max_features: int = 4
) -> st.SearchStrategy[AmpCase]:
    """Cases with clipping (``clipping=True``), without (``False``), or either (``None``)."""
    if max_batch < 1 or max_features < 1:
        raise ValueError(f"need max_batch >= 1 and max_features >= 1, got {max_batch}, {max_features}")
    if clipping is None:
        clip = st.sampled_from((0, 30, 60))
    else:
        clip = st.sampled_from((30, 60)) if clipping else st.just(0)
    return st.builds(
        AmpCase,
        batch=st.integers(1, max_batch),
        in_features=st.integers(1, max_features),
        out_features=st.integers(1, max_features),
        clip_percent=clip,
        seed=seeds(),
    )


def amp_setup() -> tuple[str, torch.dtype]:
    """The session's device type and its autocast dtype: float16 on CUDA, bfloat16 elsewhere."""
    device_type = devices.current().type
    return device_type, torch.float16 if device_type == "cuda" else torch.bfloat16


def make_scaler() -> torch.amp.GradScaler:
    """A scaler that doubles its scale after every finite step (``growth_interval=1``), so that
    a missing ``update()`` shows after one step."""
    device_type, _ = amp_setup()
    return torch.amp.GradScaler(device_type, init_scale=INIT_SCALE, growth_interval=1)


def quarters(gen: torch.Generator, shape: tuple[int, ...], *, largest: int = 4) -> torch.Tensor:
    """Multiples of 1/4 between -largest/4 and largest/4, never 0."""
    magnitude = torch.randint(1, largest + 1, shape, generator=gen).float() / 4
    sign = torch.randint(0, 2, shape, generator=gen).float() * 2 - 1
    return magnitude * sign


def make_model(case: AmpCase) -> nn.Linear:
    gen = generator(case.seed)
    model = nn.Linear(case.in_features, case.out_features)
    with torch.no_grad():
        model.weight.copy_(quarters(gen, (case.out_features, case.in_features), largest=2))
        model.bias.copy_(quarters(gen, (case.out_features,), largest=2))
    return devices.put(model)


def make_batch(case: AmpCase, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = generator(case.seed + 1 + offset)
    inputs = quarters(gen, (case.batch, case.in_features))
    targets = quarters(gen, (case.batch, case.out_features), largest=8)
    return devices.put(inputs), devices.put(targets)
