"""ELECTRA generator + discriminator as one nn.Module, the masking and the loss (as the reference fixes them).

Masking happens here, on the device, fresh every step: round(mask_prob * n) real tokens per sequence (at most
int((mask_prob + 0.005) * L), the reference's cap), 85% of them replaced by [MASK], 15% kept. The number of
masked slots per sequence is static; sequences with fewer masked tokens carry invalid slots that the loss
ignores, so every step has the same shapes and compiled graphs are reused. Whole-word masking (`masking =
"whole-word"`) chooses words instead of tokens, with the same slots, split and labels (`whole_word_positions`).

`forward` returns the loss terms and, apart, a `metrics` dict of detached tensors: nothing a caller keeps for
logging holds on to the training graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining
from transformers.activations import ACT2FN

from electra_cli.core.errors import UsageError
from electra_cli.vocab.wordpiece import OUR_SPECIAL_IDS

MASK_PROB = 0.15  # share of real tokens masked per sequence
MASK_SLOT_MARGIN = 0.005  # static number of masked slots: int((mask_prob + 0.005) * max_seq_len), as the reference
MASK_TOKEN_PROB = 0.85  # of the masked positions, this share shows [MASK]; the rest keep the original token
DISC_WEIGHT = 50.0  # loss = generator MLM + 50 x discriminator BCE


@dataclass
class ModelConfig:
    """Sizes and objective. The generator has the same depth and embedding size, a narrower hidden size."""

    layers: int = 12  # transformer layers (discriminator and generator)
    hidden: int = 256  # discriminator hidden size
    embedding: int = 128  # embedding size, shared by both models
    heads: int = 4  # discriminator attention heads
    intermediate: int = 0  # discriminator feed-forward size; 0 means 4 x hidden
    generator_multiplier: float = 0.25  # generator hidden = hidden x this; heads = hidden / 64; ffn = 4 x hidden
    generator_hidden_size: int = 0  # exact generator sizes (a published generator's); 0: by the rule above
    generator_heads: int = 0
    generator_intermediate: int = 0
    dropout: float = 0.1  # hidden and attention dropout
    max_position: int = 512  # position embeddings (>= the shards' max_seq_len)
    objective: Literal["electra", "mlm"] = "electra"  # mlm: the BERT-style baseline (one discriminator-sized MLM)
    embedding_sharing: Literal["tied", "gdes", "none"] = "tied"  # gdes: DeBERTaV3 gradient-disentangled sharing
    disc_weight: float = DISC_WEIGHT  # weight of the discriminator loss
    mask_prob: float = MASK_PROB  # share of real tokens masked
    # whole-word: every token of a chosen word (## pieces, or Chinese words from `shard --segment rjieba`)
    masking: Literal["token", "whole-word"] = "token"
    # The function a published config may choose otherwise (pretrain --init-* takes them from its folders):
    hidden_act: str = "gelu"  # feed-forward activation, by transformers' name (gelu, gelu_new, relu, ...)
    layer_norm_eps: float = 1e-12  # LayerNorm epsilon (Google's and HFL's models: 1e-12)
    position_embedding_type: Literal["absolute", "relative_key", "relative_key_query"] = "absolute"

    def __post_init__(self) -> None:
        problems = []
        if self.hidden % self.heads:
            problems.append(f"model.hidden ({self.hidden}) must be divisible by model.heads ({self.heads})")
        if not 0 < self.generator_multiplier <= 1:
            problems.append(f"model.generator_multiplier must be in (0, 1], got {self.generator_multiplier}")
        if self.layers < 1 or self.hidden < 1 or self.embedding < 1:
            problems.append("model.layers, model.hidden and model.embedding must be positive")
        if not 0 < self.mask_prob < 1:
            problems.append(f"model.mask_prob must be in (0, 1), got {self.mask_prob}")
        if self.hidden_act not in ACT2FN:
            problems.append(f"model.hidden_act {self.hidden_act!r} is not an activation transformers knows")
        if not self.layer_norm_eps > 0:
            problems.append(f"model.layer_norm_eps must be > 0, got {self.layer_norm_eps}")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def generator_hidden(self) -> int:
        return self.generator_hidden_size or max(1, int(self.hidden * self.generator_multiplier))


def masked_slots(seq_len: int, mask_prob: float = MASK_PROB) -> int:
    """Static number of masked slots per sequence: int((mask_prob + 0.005) * L), the reference's cap."""
    return max(1, int((mask_prob + MASK_SLOT_MARGIN) * seq_len))


def hf_configs(cfg: ModelConfig, vocab_size: int, pad_id: int = OUR_SPECIAL_IDS["pad"]) -> tuple[ElectraConfig, ElectraConfig]:
    """(discriminator, generator) ElectraConfigs; for the mlm objective the "generator" is discriminator-sized."""
    common = dict(
        vocab_size=vocab_size,
        embedding_size=cfg.embedding,
        num_hidden_layers=cfg.layers,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        max_position_embeddings=cfg.max_position,
        type_vocab_size=2,
        pad_token_id=pad_id,
        hidden_act=cfg.hidden_act,
        layer_norm_eps=cfg.layer_norm_eps,
        position_embedding_type=cfg.position_embedding_type,
    )
    disc = ElectraConfig(
        hidden_size=cfg.hidden,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate or 4 * cfg.hidden,
        **common,
    )
    if cfg.objective == "mlm":
        return disc, ElectraConfig.from_dict(disc.to_dict())
    g_hidden = cfg.generator_hidden
    gen = ElectraConfig(
        hidden_size=g_hidden,
        num_attention_heads=cfg.generator_heads or max(1, g_hidden // 64),
        intermediate_size=cfg.generator_intermediate or 4 * g_hidden,
        **common,
    )
    return disc, gen


def mask_positions(
    input_ids: torch.Tensor, num_slots: int, mask_prob: float = MASK_PROB, generator: torch.Generator | None = None,
    specials: dict[str, int] = OUR_SPECIAL_IDS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose round(mask_prob * n) real tokens per sequence (at least 1, at most num_slots), uniformly; `specials`
    are the vocabulary's ids of [PAD], [CLS] and [SEP] (found by name: 0/101/102 in Google's vocab).

    Returns positions (B, S) and valid (B, S): slot j of row i is a chosen position when valid[i, j].
    """
    real = (input_ids != specials["pad"]) & (input_ids != specials["cls"]) & (input_ids != specials["sep"])  # (B, L)
    n_real = real.sum(dim=1)
    n_mask = torch.round(n_real.float() * mask_prob).long().clamp(min=1, max=num_slots)
    n_mask = torch.minimum(n_mask, n_real)
    scores = torch.rand(input_ids.shape, device=input_ids.device, generator=generator)
    scores = scores.masked_fill(~real, 2.0)  # never chosen before a real token
    positions = scores.topk(num_slots, dim=1, largest=False, sorted=True).indices  # (B, S) random order
    valid = torch.arange(num_slots, device=input_ids.device)[None, :] < n_mask[:, None]
    return positions, valid


WHOLE_WORD_PASSES = 4  # vectorized passes of BERT's skip rule; each pass goes at least to the next skipped word


def whole_word_positions(
    input_ids: torch.Tensor, continues: torch.Tensor, num_slots: int, mask_prob: float = MASK_PROB,
    generator: torch.Generator | None = None, specials: dict[str, int] = OUR_SPECIAL_IDS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole-word masking: words in random order, each taken whole while it fits in what is left of
    round(mask_prob * n) (at least 1, at most num_slots); a word that would overflow the count is skipped and
    later, shorter words still fill it (the rule of Google's BERT-wwm `create_pretraining_data.py`).

    `continues` (B, L) is 1 where a token continues the previous token's word (a `##` piece, or a later character
    of a segmented Chinese word); a token right after [CLS]/[SEP] always starts a word. The skip rule is
    sequential; here it runs as WHOLE_WORD_PASSES vectorized passes (each takes, in the random order, the words
    that fit until the next one that does not), which equals the sequential rule unless a row needs more passes:
    then it stops a few tokens short of the count (never over it; tests/test_wwm.py measures how rarely).
    A word longer than the count is never masked in that row. Returns positions (B, S) and valid (B, S) as
    `mask_positions` does.
    """
    batch, seq_len = input_ids.shape
    device = input_ids.device
    real = (input_ids != specials["pad"]) & (input_ids != specials["cls"]) & (input_ids != specials["sep"])  # (B, L)
    n_real = real.sum(dim=1)
    n_mask = torch.round(n_real.float() * mask_prob).long().clamp(min=1, max=num_slots)
    n_mask = torch.minimum(n_mask, n_real)  # (B,)
    after_real = F.pad(real[:, :-1], (1, 0), value=False)
    starts = real & ~(continues.bool() & after_real)  # (B, L): the first token of each word
    word = torch.where(real, starts.long().cumsum(dim=1) - 1, seq_len)  # (B, L): word index; seq_len = no word
    lengths = torch.zeros(batch, seq_len + 1, dtype=torch.long, device=device)
    lengths.scatter_add_(1, word, real.long())  # (B, W): tokens per word, W = L + 1 (the last: no word)
    order = torch.rand(lengths.shape, device=device, generator=generator).argsort(dim=1)  # (B, W) random order
    sorted_len = lengths.gather(1, order)  # (B, W)
    taken = torch.zeros_like(sorted_len, dtype=torch.bool)
    for _ in range(WHOLE_WORD_PASSES):
        deficit = (n_mask - (sorted_len * taken).sum(dim=1))[:, None]  # (B, 1)
        candidate = ~taken & (sorted_len > 0) & (sorted_len <= deficit)
        cumulative = (sorted_len * candidate).cumsum(dim=1)  # (B, W): non-decreasing, so the fits are a prefix
        taken |= candidate & (cumulative <= deficit)
    word_taken = torch.zeros_like(taken).scatter(1, order, taken)  # (B, W) back to word order
    chosen = word_taken.gather(1, word) & real  # (B, L)
    index = torch.arange(seq_len, device=device)
    key = torch.where(chosen, index, index + seq_len)  # chosen positions first, in order
    positions = key.topk(num_slots, dim=1, largest=False, sorted=True).indices  # (B, S)
    valid = torch.arange(num_slots, device=device)[None, :] < chosen.sum(dim=1, keepdim=True)
    return positions, valid


def gumbel_sample(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample token ids from softmax(logits) with the Gumbel-max trick, in fp32, without gradient."""
    logits = logits.detach().float()
    uniform = torch.rand(logits.shape, device=logits.device, generator=generator).clamp_(1e-9, 1.0 - 1e-9)
    return (logits - torch.log(-torch.log(uniform))).argmax(dim=-1)


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of a Bernoulli(p): the discriminator loss of always answering the base rate."""
    p = p.clamp(1e-6, 1 - 1e-6)
    return -(p * p.log() + (1 - p) * (1 - p).log())


class Electra(nn.Module):
    """Generator (masked LM) and discriminator (replaced-token detection) trained jointly."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, specials: dict[str, int] | None = None,
                 word_pieces: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.specials = dict(specials or OUR_SPECIAL_IDS)
        # (V,) bool, True for `##` pieces: whole-word boundaries of WordPiece text; on the device, not saved
        self.register_buffer("word_pieces", word_pieces, persistent=False)
        disc_config, gen_config = hf_configs(cfg, vocab_size, self.specials["pad"])
        self.generator = ElectraForMaskedLM(gen_config)
        self.discriminator = ElectraForPreTraining(disc_config) if cfg.objective == "electra" else None
        self.gdes_delta = None
        if self.discriminator is not None:
            gen_emb = self.generator.electra.embeddings
            if cfg.embedding_sharing == "tied":
                self.discriminator.electra.embeddings = gen_emb  # word, position, type embeddings and LayerNorm
            elif cfg.embedding_sharing == "gdes":
                # DeBERTaV3: E_disc = stop_gradient(E_gen) + delta, delta learned from zero.
                self.gdes_delta = nn.Parameter(torch.zeros_like(gen_emb.word_embeddings.weight))
                self.discriminator.electra.embeddings.word_embeddings.weight.requires_grad_(False)

    def discriminator_word_embeddings(self) -> torch.Tensor:
        """The discriminator's effective word embedding matrix (materialized for gdes)."""
        if self.gdes_delta is not None:
            return self.generator.electra.embeddings.word_embeddings.weight.detach() + self.gdes_delta
        return self.discriminator.electra.embeddings.word_embeddings.weight

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor,
                word_continues: torch.Tensor | None = None) -> dict:
        """One training (or evaluation) forward pass: mask, generate, sample, discriminate. (B, L) inputs;
        `word_continues` (B, L): the shards' word boundaries (whole-word masking of segmented text)."""
        seq_len = input_ids.shape[1]
        slots = masked_slots(seq_len, self.cfg.mask_prob)
        if self.cfg.masking == "whole-word":
            if word_continues is None:
                if self.word_pieces is None:
                    raise UsageError("whole-word masking needs word boundaries: the shards' word_continues column "
                                     "or the vocabulary's ## pieces (Electra(..., word_pieces=...))")
                word_continues = self.word_pieces[input_ids]
            positions, valid = whole_word_positions(input_ids, word_continues, slots, self.cfg.mask_prob,
                                                    specials=self.specials)
        else:
            positions, valid = mask_positions(input_ids, slots, self.cfg.mask_prob, specials=self.specials)
        originals = input_ids.gather(1, positions)  # (B, S)
        show_mask = valid & (torch.rand(valid.shape, device=valid.device) < MASK_TOKEN_PROB)
        masked_ids = input_ids.scatter(1, positions, torch.where(show_mask, self.specials["mask"], originals))

        # Generator: encoder over the whole sequence, LM head only at the masked slots.
        hidden = self.generator.electra(
            input_ids=masked_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state  # (B, L, Hg)
        picked = hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))  # (B, S, Hg)
        logits = self.generator.generator_lm_head(self.generator.generator_predictions(picked))  # (B, S, V)
        valid_f = valid.float()
        n_valid = valid_f.sum().clamp(min=1)
        token_loss = F.cross_entropy(logits.float().flatten(0, 1), originals.flatten(), reduction="none")
        gen_loss = (token_loss * valid_f.flatten()).sum() / n_valid
        metrics = {"gen_loss": gen_loss.detach()}
        with torch.no_grad():
            metrics["gen_acc"] = ((logits.argmax(-1) == originals).float() * valid_f).sum() / n_valid
        if self.discriminator is None:
            metrics["loss"] = gen_loss.detach()
            return {"loss": gen_loss, "gen_loss": gen_loss, "metrics": metrics}

        with torch.no_grad():
            sampled = torch.where(valid, gumbel_sample(logits), originals)  # (B, S)
            corrupted = input_ids.scatter(1, positions, sampled)
            labels = (corrupted != input_ids).float()  # (B, L): 1 = replaced; a sample equal to the original is not
        if self.gdes_delta is not None:
            embeds = F.embedding(corrupted, self.discriminator_word_embeddings())
            disc_logits = self.discriminator(
                inputs_embeds=embeds, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits
        else:
            disc_logits = self.discriminator(
                input_ids=corrupted, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits  # (B, L)
        weights = attention_mask.float()
        n_tokens = weights.sum().clamp(min=1)
        bce = F.binary_cross_entropy_with_logits(disc_logits.float(), labels, reduction="none")
        disc_loss = (bce * weights).sum() / n_tokens
        loss = gen_loss + self.cfg.disc_weight * disc_loss
        metrics.update(disc_metrics(disc_logits.detach(), labels, weights))
        metrics.update(loss=loss.detach(), disc_loss=disc_loss.detach())
        return {"loss": loss, "gen_loss": gen_loss, "disc_loss": disc_loss, "metrics": metrics}


@torch.no_grad()
def disc_metrics(disc_logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> dict[str, torch.Tensor]:
    """Replaced-token detection figures of one batch, on the device (no host sync). (B, L) inputs."""
    n_tokens = weights.sum().clamp(min=1)
    predicted = (disc_logits > 0).float()
    replaced = (labels * weights).sum()
    true_pos = (predicted * labels * weights).sum()
    replaced_frac = replaced / n_tokens
    return {
        "disc_acc": ((predicted == labels).float() * weights).sum() / n_tokens,
        "replaced_frac": replaced_frac,
        "disc_precision": true_pos / (predicted * weights).sum().clamp(min=1),
        "disc_recall": true_pos / replaced.clamp(min=1),
        "disc_entropy": binary_entropy(replaced_frac),
        # for AUC: logits and labels of the batch (the caller decides whether to keep them)
        "disc_logits": disc_logits,
        "disc_labels": labels,
        "token_weights": weights,
    }


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices, none on LayerNorm weights and biases (as the reference)."""
    decay, no_decay, seen = [], [], set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        (no_decay if param.ndim < 2 or "LayerNorm" in name or name.endswith(".bias") else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def count_params(module: nn.Module, exclude_embeddings: bool = False) -> int:
    """Parameters, each shared tensor once; `exclude_embeddings` leaves out the lookup tables (no FLOPs) but
    keeps `embeddings_project`, a real matmul when the embedding size differs from the hidden size."""
    seen, total = set(), 0
    for name, p in module.named_parameters():
        if id(p) in seen or (exclude_embeddings and name.startswith("embeddings.")):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def flops_per_token(model: Electra, seq_len: int) -> float:
    """Training FLOPs per input token: 6 x matmul parameters touched per token + attention (fwd + bwd).

    Per encoder: 6 x (non-embedding parameters, `embeddings_project` included) + 12 x layers x hidden x seq_len
    (attention scores and values). The generator's LM head (embedding x vocab) runs only at the masked slots;
    the discriminator head is in its non-embedding parameters. Embedding lookups cost no FLOPs.
    """
    total = 0.0
    vocab = model.generator.config.vocab_size
    encoders = [model.generator] + ([model.discriminator] if model.discriminator is not None else [])
    for hf in encoders:
        cfg = hf.config
        encoder_params = count_params(hf.electra, exclude_embeddings=True)
        total += 6 * encoder_params + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len
    head = model.generator.generator_predictions
    slot_share = masked_slots(seq_len, model.cfg.mask_prob) / seq_len
    total += 6 * (count_params(head) + model.cfg.embedding * vocab) * slot_share
    if model.discriminator is not None:
        total += 6 * count_params(model.discriminator.discriminator_predictions)
    return total


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve (rank statistic); NaN when only one class is present."""
    scores, labels = scores.float().flatten(), labels.float().flatten()
    n_pos = labels.sum().item()
    n_neg = labels.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = scores.argsort()
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, scores.numel() + 1, dtype=scores.dtype, device=scores.device)
    return float((ranks[labels > 0].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
