"""Export to Hugging Face folders: what users keep from a run (weights, tokenizer, a model card)."""

from __future__ import annotations

from pathlib import Path

import torch

from electra_cli import __version__
from electra_cli.core import config as configlib
from electra_cli.core.atomic import atomic_dir
from electra_cli.pretraining.checkpoint import copy_tokenizer


def export_models(model, final: Path, vocab_dir: Path, cfg, state, health: dict, manifest: dict) -> None:
    """Write `final/discriminator` (ElectraForPreTraining) and `final/generator` (ElectraForMaskedLM) atomically."""
    with atomic_dir(final) as tmp:
        if model.discriminator is not None:
            folder = tmp / "discriminator"
            with materialized_embeddings(model):
                model.discriminator.save_pretrained(folder, safe_serialization=True)
            copy_tokenizer(vocab_dir, folder)
            (folder / "README.md").write_text(model_card("discriminator", cfg, state, health, manifest))
        folder = tmp / "generator"
        model.generator.save_pretrained(folder, safe_serialization=True)
        copy_tokenizer(vocab_dir, folder)
        (folder / "README.md").write_text(model_card("generator", cfg, state, health, manifest))


def exported_discriminator(run: Path) -> Path | None:
    """`run/final/discriminator` when `run` is a pretrain run folder that has one: for the hint when a run folder
    is given where a model folder is expected."""
    folder = Path(run) / "final" / "discriminator"
    return folder if (folder / "config.json").is_file() else None


class materialized_embeddings:
    """For gdes sharing, write E_gen + delta into the discriminator's own embedding matrix while saving."""

    def __init__(self, model):
        self.model = model
        self.saved = None

    def __enter__(self):
        if self.model.gdes_delta is not None:
            weight = self.model.discriminator.electra.embeddings.word_embeddings.weight
            self.saved = weight.detach().clone()
            with torch.no_grad():
                weight.copy_(self.model.discriminator_word_embeddings())
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            with torch.no_grad():
                self.model.discriminator.electra.embeddings.word_embeddings.weight.copy_(self.saved)


def model_card(role: str, cfg, state, health: dict, manifest: dict) -> str:
    """A Hugging Face model card (YAML front matter + markdown) with the recipe and the run's health figures."""
    kind = {"discriminator": "ElectraForPreTraining", "generator": "ElectraForMaskedLM"}[role]
    lines = [
        "---",
        "library_name: transformers",
        "tags:",
        "  - electra",
        f"  - {role}",
        "  - electra-cli",
        f"pipeline_tag: {'fill-mask' if role == 'generator' else 'feature-extraction'}",
        "---",
        "",
        f"# ELECTRA {role}, pretrained with electra-cli {__version__}",
        "",
        f"Load with `transformers.{kind}.from_pretrained(<this folder>)`; fine-tune the discriminator with "
        "`electra-cli finetune` or `AutoModelForSequenceClassification`.",
        "",
        "## Training",
        "",
        f"- objective: {cfg.model.objective}, embedding sharing: {cfg.model.embedding_sharing}",
        f"- masking: {masking_line(cfg.model, manifest)}",
        f"- steps: {state.step:,} (skipped for non-finite loss: {state.skipped_steps})",
        f"- tokens seen: {state.tokens_seen:,}",
        f"- max_seq_len: {manifest['max_seq_len']}, vocab: {manifest['vocab']['size']} tokens "
        f"(sha256 {manifest['vocab']['sha256'][:16]})",
        f"- shards manifest sha256: {state.shards_sha256}",
        "",
        "## Health",
        "",
    ]
    if "disc_loss_ratio" in health:
        verdict = {"off the plateau": "off the plateau: it detects replaced tokens",
                   "still learning": "still learning: not yet at the plateau's level, not yet useful",
                   "stuck on the plateau": "stuck on the plateau: it answers 'original' everywhere, not useful"
                   }.get(health.get("verdict"), "on the plateau" if health["on_plateau"] else "off the plateau")
        lines += [
            "| metric | value |",
            "| --- | --- |",
            f"| discriminator loss | {health['disc_loss']:.4f} |",
            f"| entropy of the replaced share (plateau) | {health['disc_entropy']:.4f} |",
            f"| ratio | {health['disc_loss_ratio']:.3f} ({verdict}) |",
            f"| discriminator AUC (replaced tokens) | {_fmt(health.get('disc_auc'))} |",
            f"| discriminator F1 (replaced tokens) | {_fmt(health.get('disc_f1'))} |",
            f"| generator loss / accuracy | {_fmt(health.get('gen_loss'))} / {_fmt(health.get('gen_acc'))} |",
        ]
    else:
        lines += [f"- generator loss {_fmt(health.get('gen_loss'))}, accuracy {_fmt(health.get('gen_acc'))}"]
    if cfg.init.sources:
        two_stage = any(k in src for src in cfg.init.sources for k in ("MaskedLM", "BertForPreTraining")
                        if src.startswith("discriminator:"))
        lines += ["", "## Started from", ""]
        lines += [f"- {src}" for src in cfg.init.sources]
        if two_stage:
            lines += ["- two-stage: the discriminator started from a masked LM's encoder, its replaced-token head fresh"]
    lines += ["", "## Recipe", "", "```toml", configlib.dumps(cfg).rstrip(), "```", ""]
    return "\n".join(lines)


def masking_line(model_cfg, manifest: dict) -> str:
    """The masking mode and, for whole-word masking, where the words came from."""
    if model_cfg.masking != "whole-word":
        return f"{model_cfg.masking} (mask_prob {model_cfg.mask_prob})"
    words = manifest.get("words") or {}
    if words.get("segmenter"):
        user = words.get("user_dict") or {}
        source = (f"words from the segmenter {words['segmenter']} {words.get('version', '')} at shard time"
                  + (f", user dictionary of {user['entries']} entries (sha256 {user['sha256'][:16]})" if user else ""))
    else:
        source = "words from the vocabulary's ## pieces"
    return f"whole-word (mask_prob {model_cfg.mask_prob}; {source})"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
