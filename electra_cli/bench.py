"""`electra-cli bench`: our pretraining step against a naive one built from the same HF classes, side by side.

    electra-cli bench                                          # CPU, electra-tiny (CI-sized)
    electra-cli bench --recipe electra-small --precision bf16 [--compile] [--json]
    electra-cli bench --recipe electra-base --precision bf16 --micro-batch 64

The naive step is what one writes first with the HF classes: full-vocabulary generator logits at every
position (labels=-100 elsewhere), a data-dependent number of masked positions (dynamic shapes), sampling with
torch.multinomial on the softmax, unfused AdamW. Both steps run the same model sizes on the same random batches.
Prints steps/s, sequences/s, tokens/s and (on a GPU with a known peak) MFU for both, and their ratio.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from electra_cli.core.precision import device_peak_flops, resolve_precision
from electra_cli.pretraining.model import Electra, flops_per_token, parameter_groups
from electra_cli.pretraining.recipe import load_pretrain_config
from electra_cli.pretraining.train import maybe_compile
from electra_cli.vocab.wordpiece import CLS_ID, MASK_ID, PAD_ID, SEP_ID


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


def measure(loss_fn, model, optimizer, batches, steps, warmup, precision, device) -> float:
    """Steps per second of forward + backward + clip + optimizer step, after `warmup` steps."""
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


def run_bench(recipe: str = "electra-tiny", precision: str = "auto", micro_batch: int = 0, vocab: int = 30522,
              steps: int = 0, compile_model: bool = False, compile_mode: str | None = None,
              compile_backend: str = "inductor", overrides: list[str] | None = None) -> dict:
    """Measure both steps on the current device; returns the figures (printed by the CLI). `overrides` are
    `--set` strings on the recipe (bench/gpu.py's dry run shrinks the model with them)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = resolve_precision(precision)
    cfg = load_pretrain_config(recipe, list(overrides or []))
    batch, seq = micro_batch or cfg.train.batch_size, cfg.data.max_seq_len
    steps = steps or (100 if device.type == "cuda" else 10)
    warmup = 10 if device.type == "cuda" else 2
    torch.manual_seed(0)
    batches = [random_batch(batch, seq, vocab, device) for _ in range(4)]
    peak = device_peak_flops(device)
    results = {}
    flops = 0.0
    for name in ("naive", "ours"):
        torch.manual_seed(0)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        model = Electra(cfg.model, vocab).to(device).train()
        optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-4, eps=1e-6, fused=name == "ours")
        loss_fn = naive_loss
        if name == "ours":
            compiled = maybe_compile(model, compile_model, backend=compile_backend, mode=compile_mode)
            loss_fn = lambda m, b: compiled(**b)["loss"]  # noqa: E731
        steps_per_s = measure(loss_fn, model, optimizer, batches, steps, warmup, precision, device)
        flops = flops_per_token(model, seq)
        tokens_per_s = steps_per_s * batch * seq
        results[name] = {
            "steps_per_s": steps_per_s, "seq_per_s": steps_per_s * batch, "tokens_per_s": tokens_per_s,
            "mfu": tokens_per_s * flops / peak if peak else None,
            "peak_memory_gb": torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None,
        }
        del model, optimizer
    return {
        "recipe": recipe, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "batch": batch, "seq_len": seq, "vocab": vocab, "precision": precision, "compile": compile_model,
        "steps": steps, "flops_per_token": flops, "peak_flops": peak, **results,
        "ratio": results["ours"]["steps_per_s"] / results["naive"]["steps_per_s"],
    }


def format_bench(r: dict) -> str:
    lines = [f"{r['recipe']} on {r['device']}: batch {r['batch']} x seq {r['seq_len']}, vocab {r['vocab']}, "
             f"precision {r['precision']}, compile {r['compile']}, {r['steps']} measured steps",
             f"model FLOPs per token (training): {r['flops_per_token'] / 1e6:.1f} M"]
    for key in ("naive", "ours"):
        x = r[key]
        mfu = f"{x['mfu']:6.1%}" if x["mfu"] is not None else "   n/a"
        memory = f"  peak {x['peak_memory_gb']:.1f} GB" if x["peak_memory_gb"] is not None else ""
        lines.append(f"{key:6s} {x['steps_per_s']:8.2f} steps/s {x['seq_per_s']:9.1f} seq/s "
                     f"{x['tokens_per_s']:11,.0f} tokens/s  MFU {mfu}{memory}")
    lines.append(f"ratio ours / naive: {r['ratio']:.2f}x")
    return "\n".join(lines)
