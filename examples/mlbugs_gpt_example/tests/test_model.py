from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tinygpt.model import GPT, MLP, Block, CausalSelfAttention, GPTConfig, LayerNorm
from torch import nn


def test_forward_with_targets_gives_logits_for_every_position_and_a_scalar_loss(model, tokens):
    logits, loss = model(tokens, tokens)
    assert logits.shape == (2, 8, 32)
    assert loss.shape == ()


def test_forward_without_targets_gives_only_the_last_position(model, tokens):
    logits, loss = model(tokens)
    assert logits.shape == (2, 1, 32)
    assert loss is None
    full, _ = model(tokens, tokens)
    torch.testing.assert_close(logits[:, 0], full[:, -1])


def test_loss_at_init_is_close_to_uniform(model, tokens):
    # small initial weights: every token about equally likely
    targets = torch.randint(0, 32, (2, 8), generator=torch.Generator().manual_seed(2))
    _, loss = model(tokens, targets)
    assert abs(loss.item() - math.log(32)) < 0.1


def test_loss_is_the_cross_entropy_of_the_logits(model, tokens):
    targets = torch.roll(tokens, -1, dims=1)
    logits, loss = model(tokens, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 32), targets.reshape(-1)))


def test_targets_of_minus_one_are_left_out_of_the_loss(model, tokens):
    targets = tokens.clone()
    targets[:, :3] = -1
    logits, loss = model(tokens, targets)
    expected = F.cross_entropy(logits[:, 3:].reshape(-1, 32), tokens[:, 3:].reshape(-1))
    torch.testing.assert_close(loss, expected)


def test_a_position_does_not_see_later_tokens(model, tokens):
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 32
    before, _ = model(tokens, tokens)
    after, _ = model(changed, changed)
    torch.testing.assert_close(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5:], after[:, 5:])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("length", [5, 8])
def test_explicit_attention_equals_scaled_dot_product_attention(config, tokens, bias, length):
    config.bias = bias
    torch.manual_seed(0)
    fast = GPT(config)
    config.flash = False
    slow = GPT(config)
    slow.load_state_dict(fast.state_dict())
    idx = tokens[:, :length].contiguous()
    torch.testing.assert_close(slow(idx, idx)[0], fast(idx, idx)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("flash", [True, False])
def test_attention_matches_torch_multihead_attention_with_a_causal_mask(config, flash):
    config.flash = flash
    torch.manual_seed(0)
    attn = CausalSelfAttention(config)
    torch.nn.init.normal_(attn.c_attn.bias)
    torch.nn.init.normal_(attn.c_proj.bias)
    mha = nn.MultiheadAttention(16, num_heads=2, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.c_attn.weight)
        mha.in_proj_bias.copy_(attn.c_attn.bias)
        mha.out_proj.weight.copy_(attn.c_proj.weight)
        mha.out_proj.bias.copy_(attn.c_proj.bias)
    x = torch.randn(2, 6, 16)
    blocked = torch.ones(6, 6, dtype=torch.bool).triu(1)  # True where MultiheadAttention may not look
    expected, _ = mha(x, x, x, attn_mask=blocked, need_weights=False)
    torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-5)


def test_layer_norm_matches_torch_even_on_nearly_constant_rows():
    norm = LayerNorm(16, bias=True)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    reference = nn.LayerNorm(16)
    reference.load_state_dict(norm.state_dict())
    x = torch.randn(3, 16)
    x[1] = 2.0 + 1e-4 * x[1]  # variance far below eps
    torch.testing.assert_close(norm(x), reference(x))


def test_all_zero_embeddings_still_give_finite_logits(model, tokens):
    with torch.no_grad():
        model.transformer.wte.weight.zero_()
        model.transformer.wpe.weight.zero_()
    logits, loss = model(tokens, tokens)
    assert torch.isfinite(logits).all() and torch.isfinite(loss)


def test_mlp_is_a_gelu_between_two_projections(config):
    mlp = MLP(config)
    x = torch.randn(2, 3, 16)
    expected = mlp.c_proj(F.gelu(mlp.c_fc(x)))
    torch.testing.assert_close(mlp(x), expected)


def test_block_is_pre_norm_with_a_residual_around_each_sublayer(config):
    torch.manual_seed(0)
    block = Block(config)
    for norm in (block.ln_1, block.ln_2):  # distinct gains, so that swapping them would show
        torch.nn.init.normal_(norm.weight)
        torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 5, 16)
    h = x + block.attn(F.layer_norm(x, (16,), block.ln_1.weight, block.ln_1.bias))
    expected = h + block.mlp(F.layer_norm(h, (16,), block.ln_2.weight, block.ln_2.bias))
    torch.testing.assert_close(block(x), expected)


def test_every_parameter_gets_a_gradient(model, tokens):
    _, loss = model(tokens, torch.roll(tokens, -1, dims=1))
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_the_model_can_be_built_and_run_on_the_meta_device(config):
    # how a large model is built before its weights are loaded: no memory is allocated
    with torch.device("meta"):
        model = GPT(config)
        idx = torch.zeros(2, 5, dtype=torch.long)
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"meta"}
    logits, _ = model(idx, idx)
    assert logits.shape == (2, 5, 32) and logits.device.type == "meta"


def test_dropout_is_random_in_training_and_off_in_evaluation(config, tokens):
    config.dropout = 0.5
    model = GPT(config)
    model.train()
    assert not torch.equal(model(tokens, tokens)[0], model(tokens, tokens)[0])
    model.eval()
    assert torch.equal(model(tokens, tokens)[0], model(tokens, tokens)[0])


def test_sequences_longer_than_the_block_size_are_refused(model):
    with pytest.raises(ValueError, match="block size"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_the_output_head_shares_the_token_embedding(model):
    assert model.lm_head.weight is model.transformer.wte.weight


def test_parameter_count_leaves_out_the_position_table(model, config):
    total = sum(p.numel() for p in model.parameters())
    assert model.get_num_params() == total - config.block_size * config.n_embd
    assert model.get_num_params(non_embedding=False) == total


def test_gpt2_small_has_gpt2s_124m_parameters():
    # built on the meta device: the shapes without the memory
    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=50257))
    assert model.get_num_params(non_embedding=False) == 124_439_808
    assert model.get_num_params() == 123_653_376


def test_weights_are_initialised_as_in_gpt2():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=256, n_layer=4, n_head=4, n_embd=64))
    params = dict(model.named_parameters())
    residual_projections = torch.cat([p.flatten() for n, p in params.items() if n.endswith("c_proj.weight")])
    others = torch.cat(
        [p.flatten() for n, p in params.items() if p.dim() == 2 and not n.endswith("c_proj.weight")]
    )
    assert residual_projections.std().item() == pytest.approx(0.02 / math.sqrt(2 * 4), rel=0.05)
    assert others.std().item() == pytest.approx(0.02, rel=0.05)
    assert abs(residual_projections.mean().item()) < 1e-3 and abs(others.mean().item()) < 1e-3
    assert all(not p.any() for n, p in params.items() if n.endswith("bias"))
    assert all(
        p.eq(1).all() for n, p in params.items() if n.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight"))
    )


def test_an_empty_vocabulary_is_refused(config):
    config.vocab_size = 0
    with pytest.raises(ValueError, match="must be positive"):
        GPT(config)


def test_the_causal_mask_is_a_buffer_that_checkpoints_do_not_carry(model):
    assert "transformer.h.0.attn.mask" in dict(model.named_buffers())
    assert not any(name.endswith(".mask") for name in model.state_dict())


def test_biases_can_be_switched_off(config):
    config.bias = False
    model = GPT(config)
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]


def test_width_must_split_evenly_into_heads(config):
    config.n_head = 3
    with pytest.raises(ValueError, match="multiple"):
        GPT(config)


def test_weight_decay_applies_to_matrices_only(model):
    optimizer = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), "cpu")
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    assert all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert optimizer.defaults["lr"] == 6e-4 and optimizer.defaults["betas"] == (0.9, 0.95)


def test_frozen_parameters_are_left_out_of_the_optimizer(model):
    model.transformer.wpe.weight.requires_grad_(False)
    optimizer = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), "cpu")
    optimized = [p for group in optimizer.param_groups for p in group["params"]]
    assert not any(p is model.transformer.wpe.weight for p in optimized)
    assert len(optimized) == len(list(model.parameters())) - 1


def test_crop_block_size_shortens_the_context(model):
    model.crop_block_size(4)
    assert model.transformer.wpe.weight.shape == (4, 16)
    logits, _ = model(torch.zeros(1, 4, dtype=torch.long))
    assert logits.shape == (1, 1, 32)
    with pytest.raises(ValueError):
        model(torch.zeros(1, 5, dtype=torch.long))


def test_generate_appends_new_tokens_to_the_prompt(model, tokens):
    model.eval()
    out = model.generate(tokens[:, :3], max_new_tokens=10)
    assert out.shape == (2, 13)
    assert torch.equal(out[:, :3], tokens[:, :3])
    assert out.min() >= 0 and out.max() < 32


def test_generate_is_reproducible_with_a_seeded_generator(model, tokens):
    model.eval()
    first = model.generate(tokens[:, :2], 6, generator=torch.Generator().manual_seed(3))
    second = model.generate(tokens[:, :2], 6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


def test_generate_with_top_k_of_one_is_greedy(model, tokens):
    model.eval()
    out = model.generate(tokens[:, :2], 4, top_k=1)
    idx = tokens[:, :2]
    for _ in range(4):
        logits, _ = model(idx)
        idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, idx)


def test_overfits_a_single_batch(config, tokens):
    torch.manual_seed(0)
    model = GPT(config)
    optimizer = model.configure_optimizers(0.0, 1e-2, (0.9, 0.99), "cpu")
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    for _ in range(50):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5
