"""Our pretraining step against a naive one built from the same HF classes, measured side by side.

    python bench/pretrain.py                                  # CPU, electra-tiny (CI-sized)
    python bench/pretrain.py --recipe electra-small --device cuda --precision bf16 [--compile]
    python bench/pretrain.py --recipe electra-base --device cuda --precision bf16 --micro-batch 64

The naive step is what one writes first with the HF classes: full-vocabulary generator logits at every
position (labels=-100 elsewhere), a data-dependent number of masked positions (dynamic shapes), sampling with
torch.multinomial on the softmax, unfused AdamW. Both steps run the same model sizes on the same random batches.
Prints steps/s, sequences/s, tokens/s and (on a GPU with a known peak) MFU for both, and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from electra_cli.model import Electra, flops_per_token, parameter_groups  # noqa: E402
from electra_cli.pretrain import device_peak_flops, load_pretrain_config  # noqa: E402
from electra_cli.vocab import CLS_ID, MASK_ID, PAD_ID, SEP_ID  # noqa: E402


def random_batch(batch: int, seq: int, vocab: int, device) -> dict:
    """Packed-looking rows: [CLS] A [SEP] B [SEP], full length (as most packed examples are)."""
    ids = torch.randint(5, vocab, (batch, seq), device=device)
    ids[:, 0] = CLS_ID
    ids[:, seq // 2] = SEP_ID
    ids[:, -1] = SEP_ID
    types = torch.zeros_like(ids)
    types[:, seq // 2 + 1 :] = 1
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": types}


def naive_loss(model: Electra, batch: dict) -> torch.Tensor:
    ids = batch["input_ids"]
    real = (ids != PAD_ID) & (ids != CLS_ID) & (ids != SEP_ID)
    chosen = real & (torch.rand(ids.shape, device=ids.device) < 0.15)  # a data-dependent count
    masked = torch.where(chosen, torch.full_like(ids, MASK_ID), ids)
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    gen = model.generator(input_ids=masked, attention_mask=batch["attention_mask"],
                          token_type_ids=batch["token_type_ids"], labels=labels)  # logits over the full vocab
    with torch.no_grad():
        probs = F.softmax(gen.logits[chosen].float(), dim=-1)
        sampled = torch.multinomial(probs, 1).squeeze(-1)
        corrupted = ids.clone()
        corrupted[chosen] = sampled
        disc_labels = (corrupted != ids).long()
    disc = model.discriminator(input_ids=corrupted, attention_mask=batch["attention_mask"],
                               token_type_ids=batch["token_type_ids"], labels=disc_labels)
    return gen.loss + 50 * disc.loss


def ours_loss(model, batch: dict) -> torch.Tensor:
    return model(**batch)["loss"]


def measure(name, loss_fn, model, optimizer, batches, steps, warmup, precision, device) -> float:
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        batch = batches[i % len(batches)]
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_fn(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="electra-tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "no", "bf16", "fp16"])
    parser.add_argument("--micro-batch", type=int, default=0, help="default: the recipe's batch size")
    parser.add_argument("--vocab", type=int, default=30522)
    parser.add_argument("--steps", type=int, default=0, help="measured steps (default 20 on CPU, 100 on GPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our model (static shapes)")
    args = parser.parse_args()
    device = torch.device(args.device)
    precision = args.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "no"
    cfg = load_pretrain_config(args.recipe, [])
    batch, seq = args.micro_batch or cfg.train.batch_size, cfg.data.max_seq_len
    steps = args.steps or (100 if device.type == "cuda" else 20)
    warmup = 10 if device.type == "cuda" else 3
    torch.manual_seed(0)
    batches = [random_batch(batch, seq, args.vocab, device) for _ in range(4)]
    results = {}
    for name in ("naive", "ours"):
        torch.manual_seed(0)
        model = Electra(cfg.model, args.vocab).to(device).train()
        fused = device.type == "cuda" and name == "ours"
        optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-4, eps=1e-6, fused=fused)
        loss_fn = naive_loss if name == "naive" else ours_loss
        if name == "ours" and args.compile:
            compiled = torch.compile(model, dynamic=False)
            loss_fn = lambda m, b: compiled(**b)["loss"]  # noqa: E731
        results[name] = measure(name, loss_fn, model, optimizer, batches, steps, warmup, precision, device)
        flops = flops_per_token(model, seq)
        del model, optimizer
    peak = device_peak_flops(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{args.recipe} on {name}: batch {batch} x seq {seq}, vocab {args.vocab}, precision {precision}, "
          f"compile {args.compile}, {steps} measured steps")
    print(f"model FLOPs per token (training): {flops / 1e6:.1f} M")
    for key, steps_per_s in results.items():
        mfu = f"{steps_per_s * batch * seq * flops / peak:6.1%}" if peak else "   n/a"
        print(f"{key:6s} {steps_per_s:8.2f} steps/s {steps_per_s * batch:9.1f} seq/s "
              f"{steps_per_s * batch * seq:11,.0f} tokens/s  MFU {mfu}")
    print(f"ratio ours / naive: {results['ours'] / results['naive']:.2f}x")


if __name__ == "__main__":
    main()
