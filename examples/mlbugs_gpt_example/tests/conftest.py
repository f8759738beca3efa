from __future__ import annotations

import pytest
import torch
from tinygpt.model import GPT, GPTConfig

# the models here are tiny: OpenMP's threads only add overhead, and they fight over a busy machine
torch.set_num_threads(1)


@pytest.fixture
def config() -> GPTConfig:
    """A GPT small enough that a forward pass takes well under a millisecond."""
    return GPTConfig(block_size=8, vocab_size=32, n_layer=2, n_head=2, n_embd=16, dropout=0.0, bias=True)


@pytest.fixture
def model(config: GPTConfig) -> GPT:
    torch.manual_seed(0)
    return GPT(config)


@pytest.fixture
def tokens() -> torch.Tensor:
    """A (2, 8) batch of token ids."""
    return torch.randint(0, 32, (2, 8), generator=torch.Generator().manual_seed(1))
