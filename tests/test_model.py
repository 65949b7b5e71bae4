"""The objective as DESIGN.md fixes it: masking counts, specials, the 85/15 split, static shapes, labels, gradients."""

import math

import pytest
import torch

from electra_cli.pretraining.model import (
    Electra,
    ModelConfig,
    binary_entropy,
    flops_per_token,
    gumbel_sample,
    mask_positions,
    masked_slots,
    parameter_groups,
    roc_auc,
)
from electra_cli.vocab.wordpiece import CLS_ID, MASK_ID, PAD_ID, SEP_ID

VOCAB = 120
SMALL = dict(layers=2, hidden=64, embedding=32, heads=2, generator_multiplier=0.5, max_position=64, dropout=0.0)


def batch(lengths, seq_len=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), seq_len), PAD_ID)
    for i, n in enumerate(lengths):
        body = torch.randint(5, VOCAB, (n - 3,), generator=g)
        cut = (n - 3) // 2
        ids[i, :n] = torch.cat([torch.tensor([CLS_ID]), body[:cut], torch.tensor([SEP_ID]), body[cut:], torch.tensor([SEP_ID])])
    attention = (ids != PAD_ID).long()
    types = torch.zeros_like(ids)
    return {"input_ids": ids, "attention_mask": attention, "token_type_ids": types}


def test_mask_count_specials_and_static_shapes():
    lengths = [40, 33, 20, 8, 5]
    b = batch(lengths)
    slots = masked_slots(40)
    for seed in range(20):
        torch.manual_seed(seed)
        positions, valid = mask_positions(b["input_ids"], slots)
        assert positions.shape == valid.shape == (5, slots)  # the same shape whatever the lengths
        for i, n in enumerate(lengths):
            real = n - 3
            expected = min(slots, max(1, round(0.15 * real)))
            chosen = positions[i][valid[i]]
            assert len(chosen) == expected and len(set(chosen.tolist())) == expected
            tokens = b["input_ids"][i, chosen]
            assert not ((tokens == CLS_ID) | (tokens == SEP_ID) | (tokens == PAD_ID)).any()


def test_mask_count_is_capped_at_0155_of_max_len():
    b = batch([128], seq_len=128)
    assert masked_slots(128) == int(0.155 * 128) == 19
    positions, valid = mask_positions(b["input_ids"], masked_slots(128))
    assert valid.sum() == min(int(0.155 * 128), round(0.15 * 125)) == 19


@pytest.mark.parametrize("mask_prob", [0.15, 0.25, 0.4])
def test_mask_prob_is_not_capped_at_15_percent(mask_prob):
    """The cap follows mask_prob as in the reference: int((mask_prob + 0.005) L), not a constant int(0.155 L)."""
    torch.manual_seed(0)
    model = Electra(ModelConfig(**SMALL, mask_prob=mask_prob), VOCAB)
    seen = {}
    gen_forward = model.generator.electra.forward

    def gen_spy(input_ids=None, **kwargs):
        seen["masked"] = input_ids
        return gen_forward(input_ids=input_ids, **kwargs)

    model.generator.electra.forward = gen_spy
    b = batch([64] * 32, seq_len=64)
    chosen = 0
    for _ in range(10):
        model(**b)
        chosen += int((seen["masked"] == MASK_ID).sum())
    share = chosen / (10 * 32 * 61) / 0.85  # [MASK] is shown at 85% of the chosen positions
    assert masked_slots(64, mask_prob) == int((mask_prob + 0.005) * 64)
    assert abs(share - round(mask_prob * 61) / 61) < 0.02, share


def test_85_15_split_over_many_draws_and_labels_where_samples_differ():
    torch.manual_seed(0)
    model = Electra(ModelConfig(**SMALL), VOCAB)
    b = batch([40] * 64)
    seen = {}

    original_forward = model.discriminator.forward

    def spy(input_ids=None, **kwargs):
        seen["corrupted"] = input_ids
        return original_forward(input_ids=input_ids, **kwargs)

    model.discriminator.forward = spy
    gen_forward = model.generator.electra.forward

    def gen_spy(input_ids=None, **kwargs):
        seen["masked"] = input_ids
        return gen_forward(input_ids=input_ids, **kwargs)

    model.generator.electra.forward = gen_spy
    shown = 0
    for _ in range(30):
        out = model(**b)
        masked, corrupted = seen["masked"], seen["corrupted"]
        changed = masked != b["input_ids"]
        assert (masked[changed] == MASK_ID).all()  # never a random replacement, only [MASK]
        shown += int(changed.sum())
        replaced = corrupted != b["input_ids"]
        assert torch.equal(out["metrics"]["disc_labels"].bool(), replaced)  # labels exactly where the sample differs
        # the corrupted input differs from the original only at masked positions
        chosen = changed | (corrupted != b["input_ids"])
        assert (corrupted[~chosen] == b["input_ids"][~chosen]).all()
        assert torch.equal(out["metrics"]["token_weights"], b["attention_mask"].float())
    n_masked = 30 * 64 * round(0.15 * 37)
    assert abs(shown / n_masked - 0.85) < 0.02


def test_gumbel_sampling_follows_the_distribution():
    torch.manual_seed(0)
    probs = torch.tensor([0.7, 0.2, 0.1])
    logits = probs.log().expand(20000, 3).clone().requires_grad_(True)
    samples = gumbel_sample(logits)
    freq = torch.bincount(samples, minlength=3).float() / 20000
    assert torch.allclose(freq, probs, atol=0.015)
    assert not samples.requires_grad and samples.dtype == torch.long


def test_gradients_reach_both_models_and_the_shared_embeddings():
    torch.manual_seed(0)
    model = Electra(ModelConfig(**SMALL), VOCAB)
    assert model.discriminator.electra.embeddings is model.generator.electra.embeddings
    out = model(**batch([40, 30]))
    out["loss"].backward()
    assert model.generator.electra.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert model.generator.electra.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    assert model.discriminator.electra.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    assert model.discriminator.discriminator_predictions.dense.weight.grad.abs().sum() > 0
    assert math.isclose(out["loss"].item(), (out["gen_loss"] + 50 * out["disc_loss"]).item(), rel_tol=1e-5)


def test_gdes_detaches_the_generator_embeddings():
    torch.manual_seed(0)
    model = Electra(ModelConfig(**SMALL, embedding_sharing="gdes"), VOCAB)
    out = model(**batch([40, 30]))
    out["disc_loss"].backward()  # the loss terms carry the graph; out["metrics"] never does
    assert not any(v.requires_grad for v in out["metrics"].values())
    assert model.gdes_delta.grad.abs().sum() > 0
    gen_grad = model.generator.electra.embeddings.word_embeddings.weight.grad
    assert gen_grad is None or gen_grad.abs().sum() == 0  # the discriminator's loss does not move E_gen


def test_none_sharing_and_mlm_objective():
    model = Electra(ModelConfig(**SMALL, embedding_sharing="none"), VOCAB)
    assert model.discriminator.electra.embeddings is not model.generator.electra.embeddings
    mlm = Electra(ModelConfig(**SMALL, objective="mlm"), VOCAB)
    assert mlm.discriminator is None and mlm.generator.config.hidden_size == 64
    out = mlm(**batch([40]))
    assert set(out["metrics"]) >= {"loss", "gen_loss", "gen_acc"} and "disc_loss" not in out["metrics"]


def test_generator_sizes_follow_the_multiplier():
    model = Electra(ModelConfig(layers=2, hidden=256, embedding=128, heads=4, generator_multiplier=0.25), VOCAB)
    g = model.generator.config
    assert (g.hidden_size, g.num_attention_heads, g.intermediate_size, g.num_hidden_layers) == (64, 1, 256, 2)
    assert g.embedding_size == model.discriminator.config.embedding_size == 128


def test_no_weight_decay_on_layernorm_and_bias():
    model = Electra(ModelConfig(**SMALL), VOCAB)
    decay, no_decay = parameter_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim >= 2 for p in decay["params"])
    assert any("LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0


def test_helpers():
    assert math.isclose(float(binary_entropy(torch.tensor(0.13))), 0.3864, abs_tol=1e-3)
    assert roc_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == 0.75
    model = Electra(ModelConfig(**SMALL), VOCAB)
    assert flops_per_token(model, 32) > 6 * 2 * 64 * 64 * 12


def test_flops_count_the_embedding_projection():
    """embedding 32 != hidden 64: the discriminator's embeddings_project is a (32 -> 64) matmul, 6 FLOPs per weight
    and token (the generator, hidden 32, has none)."""
    model = Electra(ModelConfig(**SMALL), VOCAB)
    project = model.discriminator.electra.embeddings_project
    projections = project.weight.numel() + project.bias.numel()
    without = Electra(ModelConfig(**SMALL), VOCAB)
    del without.discriminator.electra.embeddings_project  # the same model with the projection removed
    assert flops_per_token(model, 32) - flops_per_token(without, 32) == pytest.approx(6 * projections)


@pytest.mark.parametrize("objective", ["electra", "mlm"])
def test_bad_sizes_are_usage_errors(objective):
    from electra_cli.core.errors import UsageError

    with pytest.raises(UsageError, match="divisible"):
        ModelConfig(hidden=100, heads=3, objective=objective)
