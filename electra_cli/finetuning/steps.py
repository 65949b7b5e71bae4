"""What one fine-tuning step is, shared by classification/tagging (train.py) and question answering:
padded batches, the layer-wise optimizer and schedule of the reference, and one optimizer step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch

from electra_cli.core.schedule import UncorrectedAdamW, lr_lambda
from electra_cli.finetuning.config import FinetuneConfig

FOLDER_CONFIG_FILE = "finetune_config.json"  # a classification/tagging folder's settings that predict needs


def padded_inputs(input_ids: Sequence, token_type_ids: Sequence, indices: Sequence[int], pad_id: int) -> dict:
    """input_ids, token_type_ids and attention_mask of the rows `indices` (lists or arrays), padded to the longest
    of them (dynamic padding: a batch of short rows stays short)."""
    width = max(len(input_ids[i]) for i in indices)
    ids = torch.full((len(indices), width), pad_id, dtype=torch.long)  # (B, T)
    types = torch.zeros((len(indices), width), dtype=torch.long)
    mask = torch.zeros((len(indices), width), dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(input_ids[i])
        ids[row, :n] = torch.as_tensor(input_ids[i])
        types[row, :n] = torch.as_tensor(token_type_ids[i])
        mask[row, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def layerwise_groups(model: torch.nn.Module, lr: float, decay: float, weight_decay: float,
                     style: Literal["reference", "contiguous"] = "reference") -> list[dict]:
    """Parameter groups with lr = base x decay^(top - depth): embeddings depth 0, layer i depth i + 1, everything
    above the encoder (pooler, classifier) depth top, so the head gets the base lr.

    style "reference": top = L + 2, as google-research/electra's `_get_layer_lrs` (a depth is skipped: the last
    layer gets lr x d^2, the embeddings lr x d^(L+2); its author called it a bug in google-research/electra#51, but
    the published numbers used it). "contiguous": top = L + 1, the last layer gets lr x d.
    """
    layers = model.config.num_hidden_layers
    top = layers + 2 if style == "reference" else layers + 1
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if "embeddings" in name:
            depth = 0
        elif ".layer." in name:
            depth = int(name.split(".layer.")[1].split(".")[0]) + 1
        else:
            depth = top
        no_decay = param.ndim < 2 or "LayerNorm" in name or name.endswith(".bias")
        key = (depth, no_decay)
        if key not in groups:
            groups[key] = {
                "params": [], "lr": lr * decay ** (top - depth), "weight_decay": 0.0 if no_decay else weight_decay,
                "depth": depth,
            }
        groups[key]["params"].append(param)
    return [groups[k] for k in sorted(groups)]


def make_optimizer(model: torch.nn.Module, cfg: FinetuneConfig, lr: float, decay: float, total: int):
    """The optimizer and lr scheduler of one fine-tuning run of `total` steps, as `cfg` says (the reference's by
    default): AdamW with or without bias correction, layer-wise lrs, eps 1e-6, the schedule's shape."""
    groups = layerwise_groups(model, lr, decay, cfg.weight_decay, cfg.layer_decay_style)
    adamw = torch.optim.AdamW if cfg.adam_bias_correction else UncorrectedAdamW
    optimizer = adamw(groups, lr=lr, eps=1e-6)
    schedule = lr_lambda(int(cfg.warmup_ratio * total), total, cfg.schedule)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def training_step(model, batch: dict, optimizer, scheduler, accelerator, weights: torch.Tensor | None) -> torch.Tensor:
    """One optimizer step; with class weights the loss is the weighted cross-entropy of the logits."""
    with accelerator.autocast():
        if weights is None:
            loss = model(**batch).loss
        else:
            labels = batch.pop("labels")
            logits = model(**batch).logits  # (B, k) or (B, T, k)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                                     weight=weights, ignore_index=-100)
    accelerator.backward(loss)
    accelerator.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


@contextmanager
def full_precision(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Evaluate `model` as it is saved and as `predict` runs it: in fp32. Accelerate's mixed precision replaces the
    model's `forward` with an autocast (bf16/fp16) wrapper and keeps the plain one as `_original_forward`; the
    weights stay fp32, so putting the plain forward back for the evaluation gives exactly the saved model's
    outputs (validation figures, the collapse check and the no-answer threshold then hold for the folder)."""
    wrapped, plain = model.__dict__.get("forward"), model.__dict__.get("_original_forward")
    if wrapped is None or plain is None:  # no mixed precision (fp32, or a model Accelerate never prepared)
        yield model
        return
    model.forward = plain
    try:
        yield model
    finally:
        model.forward = wrapped


def record_max_seq_len(folder: Path, max_seq_len: int) -> None:
    """Write the fine-tuning length into the saved tokenizer's `tokenizer_config.json` (`model_max_length`), so that
    transformers' tokenizer and `pipeline()` truncate where training did instead of at the base model's 512."""
    path = Path(folder) / "tokenizer_config.json"
    settings = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    settings["model_max_length"] = max_seq_len
    path.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
