"""What one fine-tuning step is, shared by classification/tagging (train.py) and question answering:
padded batches, the layer-wise optimizer and schedule of the reference, and one optimizer step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from electra_cli.core.schedule import UncorrectedAdamW, lr_lambda
from electra_cli.finetuning.config import FinetuneConfig


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
