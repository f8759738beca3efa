"""A weak suite, of the kind many projects have: shapes and 'the loss is finite'."""

from __future__ import annotations

import torch
from tinyclf.model import Classifier, causal_mask
from tinyclf.train import evaluate, train_epoch


def make_batches(n_batches: int = 2):
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randint(1, 20, (4, 6), generator=generator), torch.randint(0, 3, (4,), generator=generator))
        for _ in range(n_batches)
    ]


def test_logits_have_one_score_per_class():
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3)
    logits = model(torch.randint(1, 20, (4, 6)))
    assert logits.shape == (4, 3)


def test_causal_mask_is_square():
    assert causal_mask(5).shape == (5, 5)


def test_training_returns_one_finite_loss_per_batch():
    torch.manual_seed(0)
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = train_epoch(model, make_batches(), optimizer, torch.nn.CrossEntropyLoss())
    assert len(losses) == 2
    assert all(torch.isfinite(torch.tensor(loss)) for loss in losses)


def test_evaluation_gives_an_accuracy_between_zero_and_one():
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3)
    accuracy, _ = evaluate(model, make_batches())
    assert 0.0 <= accuracy <= 1.0
