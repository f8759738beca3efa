from __future__ import annotations

import copy

import pytest
import torch
from tinygpt.train import estimate_loss, get_batch, get_lr, train_step


def test_batches_are_windows_of_the_data_and_targets_are_shifted_by_one():
    data = torch.arange(100)
    x, y = get_batch(data, batch_size=4, block_size=8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert x.dtype == torch.long
    assert torch.equal(y, x + 1)
    assert torch.equal(x[:, 1:] - x[:, :-1], torch.ones(4, 7, dtype=torch.long))


def test_the_same_generator_seed_gives_the_same_batches():
    data = torch.arange(1000)
    first = get_batch(data, 4, 8, generator=torch.Generator().manual_seed(5))
    second = get_batch(data, 4, 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first[0], second[0])


def test_lr_warms_up_then_decays_to_the_floor():
    kwargs = dict(learning_rate=1.0, warmup_iters=10, lr_decay_iters=100, min_lr=0.1)
    warmup = [get_lr(it, **kwargs) for it in range(10)]
    assert warmup == pytest.approx([(it + 1) / 11 for it in range(10)])  # linear, never 0
    assert get_lr(10, **kwargs) == pytest.approx(1.0)
    assert get_lr(100, **kwargs) == pytest.approx(0.1)
    assert get_lr(1000, **kwargs) == 0.1
    assert get_lr(55, **kwargs) == pytest.approx(0.55)  # half-way down the cosine


def test_train_step_sets_the_learning_rate_and_lowers_the_loss(model, tokens):
    optimizer = model.configure_optimizers(0.0, 1.0, (0.9, 0.95), "cpu")
    batch = [(tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous())]
    first = train_step(model, optimizer, batch, lr=1e-2)
    assert isinstance(first, float)
    assert optimizer.param_groups[0]["lr"] == 1e-2
    for _ in range(5):
        last = train_step(model, optimizer, batch, lr=1e-2)
    assert last < first
    assert all(p.grad is None for p in model.parameters())


def sgd_reference_step(model, micro_batches, lr, grad_clip):
    """The step train_step must take with plain SGD: the mean gradient over every token of the big
    batch, clipped to ``grad_clip`` by its total norm (0: not clipped)."""
    reference = copy.deepcopy(model)
    x = torch.cat([x for x, _ in micro_batches])
    y = torch.cat([y for _, y in micro_batches])
    _, loss = reference(x, y)
    loss.backward()
    grads = [p.grad for p in reference.parameters()]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = min(1.0, grad_clip / (norm.item() + 1e-6)) if grad_clip > 0 else 1.0
    with torch.no_grad():
        for p, g in zip(reference.parameters(), grads, strict=True):
            p -= lr * scale * g
    return reference, loss.item()


@pytest.mark.parametrize(("use_scaler", "grad_clip"), [(False, 0.1), (True, 0.1), (False, 0.0)])
def test_train_step_is_one_sgd_step_on_the_clipped_mean_gradient(model, use_scaler, grad_clip):
    data = torch.randint(0, 32, (200,), generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)
    micro_batches = [get_batch(data, 2, 8, generator) for _ in range(2)]
    expected, expected_loss = sgd_reference_step(model, micro_batches, lr=0.5, grad_clip=grad_clip)
    optimizer = torch.optim.SGD(model.parameters(), lr=123.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0) if use_scaler else None
    loss = train_step(model, optimizer, micro_batches, lr=0.5, grad_clip=grad_clip, scaler=scaler)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for (name, p), q in zip(model.named_parameters(), expected.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5, msg=name)


def test_estimate_loss_runs_the_model_in_eval_mode_without_a_graph(model):
    seen = []
    model.register_forward_hook(
        lambda module, args, out: seen.append((module.training, torch.is_grad_enabled()))
    )
    data = torch.randint(0, 32, (100,), generator=torch.Generator().manual_seed(0))
    estimate_loss(model, {"val": data}, eval_iters=3, batch_size=2, block_size=8)
    assert seen == [(False, False)] * 3


def test_estimate_loss_reports_each_split_and_restores_train_mode(model):
    data = torch.randint(0, 32, (200,), generator=torch.Generator().manual_seed(0))
    model.train()
    losses = estimate_loss(model, {"train": data, "val": data[:50]}, eval_iters=2, batch_size=2, block_size=8)
    assert set(losses) == {"train", "val"}
    assert all(3.0 < v < 4.0 for v in losses.values())
    assert model.training
