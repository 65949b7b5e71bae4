"""The pretraining loop: one `train()` read top to bottom, with Accelerate for devices, DDP and mixed precision.

lr -> micro-batches -> generator + discriminator loss -> accumulate -> clip -> step -> log -> eval -> save -> stop.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch

from electra_cli import config as configlib
from electra_cli.atomic import sha256_file
from electra_cli.checkpoint import (
    SHARDS_MANIFEST_COPY,
    TOKENIZER_FILES,
    TrainingState,
    complete_checkpoints,
    find_resume,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
    step_dir,
)
from electra_cli.console import console, count_progress, log
from electra_cli.data import ShardSet, TrainOrder, eval_batches, train_batches
from electra_cli.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, DataError, ElectraCliError, UsageError
from electra_cli.export import export_models
from electra_cli.precision import device_peak_flops, resolve_precision
from electra_cli.schedule import lr_lambda
from electra_cli.model import Electra, ModelConfig, flops_per_token, parameter_groups, roc_auc
from electra_cli.shard import MANIFEST as SHARDS_MANIFEST
from electra_cli.shard import load_manifest, recorded_vocab_dir
from electra_cli.vocab import load_vocab_manifest

PLATEAU_RATIO = 0.9  # discriminator loss / entropy of the replaced fraction above this: still on the plateau
EVAL_SEED = 20200  # masking for validation is the same every time, so validation figures are comparable


@dataclass
class DataConfig:
    """What the run expects of its shards."""

    max_seq_len: int = 128  # must equal the shards' max_seq_len (`electra-cli shard --max-seq-len`)
    verify: Literal["sizes", "hashes"] = "sizes"  # start-up check: sizes always; "hashes" re-hashes every shard


@dataclass
class OptimConfig:
    """AdamW with linear warmup and linear decay to 0 (the reference's settings)."""

    lr: float = 5e-4  # peak learning rate
    warmup_steps: int = 10_000  # linear warmup from 0
    weight_decay: float = 0.01  # none on LayerNorm weights and biases
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-6
    clip_norm: float = 1.0  # gradient clipping (global norm)


@dataclass
class TrainConfig:
    """How long, how big, how often."""

    steps: int = 1_000_000  # optimizer steps; the schedule decays to 0 at this step
    batch_size: int = 128  # sequences per optimizer step, all processes together
    micro_batch_size: int = 0  # sequences per forward on one process; 0 = batch_size / processes
    seed: int = 1234  # initialisation, data order and masking
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"  # auto: bf16 on GPUs that have it, else fp16; fp32 on CPU
    compile: bool = False  # torch.compile the model (eager fallback if compilation fails)
    compile_backend: str = "inductor"  # torch.compile backend ("aot_eager" to debug graph breaks quickly)
    compile_mode: str = ""  # e.g. "max-autotune" (CUDA graphs + autotuned kernels); "" = default
    log_every: int = 100  # steps between metrics lines (and host syncs for logging)
    eval_every: int = 1000  # steps between validation passes (0: only at the end)
    eval_batches: int = 20  # validation micro-batches per process
    save_every: int = 10_000  # steps between checkpoints (one is always written at the end)
    keep_last: int = 3  # complete checkpoints kept (at least 2)
    max_nonfinite: int = 10  # consecutive steps with a non-finite loss before the run stops
    stop_at: int = 0  # save and stop after this step (to fit a job time limit); 0: run to `steps`

    def __post_init__(self) -> None:
        problems = []
        for name in ("steps", "batch_size", "log_every", "save_every", "eval_batches"):
            if getattr(self, name) < 1:
                problems.append(f"train.{name} must be >= 1")
        if self.keep_last < 2:
            problems.append(f"train.keep_last must be >= 2, got {self.keep_last}")
        if problems:
            raise UsageError("; ".join(problems))


@dataclass
class PretrainConfig:
    """A pretraining recipe."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class StopTraining(ElectraCliError):
    """The run stopped early on purpose (signal) after saving; carries the exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def load_pretrain_config(recipe: str | None, overrides: list[str]) -> PretrainConfig:
    path = configlib.find_recipe(recipe, "pretrain") if recipe else None
    return configlib.load_config(PretrainConfig, path, overrides)


class SignalFlag:
    """SIGTERM / SIGINT set a flag; the loop saves a checkpoint at the end of the step and exits 143 / 130."""

    def __init__(self):
        self.signum: int | None = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def pretrain(
    cfg: PretrainConfig,
    shards: Path,
    out: Path,
    resume: str | None = None,
    vocab_dir: Path | None = None,
    overwrite: bool = False,
) -> dict:
    """Pretrain ELECTRA on `shards`, writing checkpoints, metrics and the final HF folders under `out`."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    shards, out = Path(shards), Path(out)
    accelerator = Accelerator(
        mixed_precision=resolve_precision(cfg.train.mixed_precision), cpu=not torch.cuda.is_available()
    )
    rank, world, device = accelerator.process_index, accelerator.num_processes, accelerator.device
    is_main = accelerator.is_main_process

    # ---- inputs: shards, vocab, run folder -----------------------------------------------------------
    manifest = load_manifest(shards)
    shards_sha = sha256_file(shards / SHARDS_MANIFEST)
    vocab_dir = Path(vocab_dir or recorded_vocab_dir(shards, manifest) or manifest["vocab"]["path"])
    if not vocab_dir.is_dir():
        raise UsageError(f"{vocab_dir}: vocab folder recorded in the shards manifest not found; pass --vocab")
    vocab = load_vocab_manifest(vocab_dir)
    problems = []
    if vocab["vocab_sha256"] != manifest["vocab"]["sha256"]:
        problems.append(f"{vocab_dir} is not the vocabulary the shards in {shards} were built with (sha256 differs)")
    seq_len = int(manifest["max_seq_len"])
    if seq_len != cfg.data.max_seq_len:
        problems.append(
            f"shards have max_seq_len {seq_len}, the recipe expects {cfg.data.max_seq_len} "
            f"(re-shard, or --set data.max_seq_len={seq_len})"
        )
    if seq_len > cfg.model.max_position:
        problems.append(f"max_seq_len {seq_len} exceeds model.max_position {cfg.model.max_position}")
    micro = cfg.train.micro_batch_size or cfg.train.batch_size // world
    if micro < 1 or cfg.train.batch_size % (micro * world):
        problems.append(
            f"train.batch_size {cfg.train.batch_size} is not a multiple of micro_batch_size {micro} x {world} processes"
        )
    checkpoints = out / "checkpoints"
    if resume is None and complete_checkpoints(checkpoints) and not overwrite:
        problems.append(f"{out} already has checkpoints: pass --resume auto to continue, or --overwrite to start over")
    if problems:
        raise UsageError("; ".join(problems))
    if cfg.data.verify == "hashes" and is_main:
        from electra_cli.shard import verify_shards

        verify_shards(shards)
    train_set = ShardSet(shards, "train")
    val_set = ShardSet(shards, "validation")
    accumulation = cfg.train.batch_size // (micro * world)

    # ---- model, optimizer, schedule, resume ----------------------------------------------------------
    set_seed(cfg.train.seed)  # the same initial weights on every rank
    model = Electra(cfg.model, vocab["vocab_size"])
    optimizer = torch.optim.AdamW(
        parameter_groups(model, cfg.optim.weight_decay),
        lr=cfg.optim.lr,
        betas=(cfg.optim.beta1, cfg.optim.beta2),
        eps=cfg.optim.eps,
        fused=True,  # one kernel for all parameters, and it can skip a non-finite step on the device
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.optim.warmup_steps, cfg.train.steps))
    scaler = getattr(accelerator, "scaler", None)  # fp16 loss scaling only
    state = TrainingState(shards_sha256=shards_sha, vocab_sha256=vocab["vocab_sha256"])
    resume_from = find_resume(checkpoints, resume)
    if resume_from is not None:
        state = load_checkpoint(resume_from, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, rank=rank)
        if state.shards_sha256 != shards_sha:
            raise DataError(f"{resume_from}: was trained on other shards (manifest sha256 differs from {shards})")
        if state.vocab_sha256 != vocab["vocab_sha256"]:
            raise DataError(f"{resume_from}: was trained with another vocabulary than {vocab_dir}")
        log.info("resuming from %s (step %d)", resume_from, state.step)
    else:
        torch.manual_seed(cfg.train.seed * 1000 + rank)  # each rank masks differently
    config_toml = configlib.dumps(cfg)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(config_toml)
        show_config(cfg, shards, out, world, micro, accumulation, device)
    model, optimizer = accelerator.prepare(model, optimizer)
    forward = maybe_compile(model, cfg.train.compile, cfg.train.compile_backend, cfg.train.compile_mode or None)
    raw_model = accelerator.unwrap_model(model)
    flops_token = flops_per_token(raw_model, seq_len)
    peak = device_peak_flops(device)

    order = TrainOrder(len(train_set), cfg.train.seed, cfg.train.batch_size, micro, rank, world)
    batches = train_batches(train_set, order, state.step, seq_len, pin=device.type == "cuda")
    metrics_file = open(out / "metrics.jsonl", "a", encoding="utf-8") if is_main else None  # noqa: SIM115
    window = MetricWindow()
    streak = torch.zeros((), device=device)
    skipped = torch.full((), float(state.skipped_steps), device=device)
    sync_free = scaler is None and getattr(optimizer.optimizer, "_step_supports_amp_scaling", False)
    # fp16 loss scaling overflows a few times in a row while it calibrates: allow for that before stopping
    max_nonfinite = cfg.train.max_nonfinite + (20 if scaler is not None else 0)
    in_a_row = 0
    last_eval: dict = {}
    window_start, window_steps = time.perf_counter(), 0
    progress = count_progress("pretrain") if is_main else contextlib.nullcontext()

    standalone_files = {name: vocab_dir / name for name in TOKENIZER_FILES}
    standalone_files[SHARDS_MANIFEST_COPY] = shards / SHARDS_MANIFEST

    def checkpoint() -> None:
        save_checkpoint(
            step_dir(checkpoints, state.step), model=raw_model, optimizer=optimizer, scheduler=scheduler,
            scaler=scaler, state=state, config_toml=config_toml,
            rank=rank, world=world, barrier=accelerator.wait_for_everyone, extra_files=standalone_files,
        )
        if is_main:
            prune_checkpoints(checkpoints, cfg.train.keep_last)

    # ---- the loop ------------------------------------------------------------------------------------
    try:
        with SignalFlag() as stop, progress as bar:
            task = bar.add_task("pretrain", total=cfg.train.steps, completed=state.step, status="") if is_main else None
            model.train()
            while state.step < cfg.train.steps:
                micro_batches = next(batches)
                lr = scheduler.get_last_lr()[0]
                for i, mb in enumerate(micro_batches):
                    mb = {k: v.to(device, non_blocking=True) for k, v in mb.items()}
                    sync = i == len(micro_batches) - 1
                    with contextlib.nullcontext() if sync else accelerator.no_sync(model):
                        with accelerator.autocast():
                            outputs = forward(**mb)
                        accelerator.backward(outputs["loss"] / accumulation)
                    window.add(outputs)
                grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.optim.clip_norm)
                # A non-finite gradient norm (the same on every rank) skips the update. Without loss scaling the
                # fused AdamW skips it on the device (found_inf), so the step needs no host sync; fp16's
                # GradScaler does its own check.
                found_inf = (~torch.isfinite(grad_norm)).float()
                streak = (streak + found_inf) * found_inf  # consecutive skipped steps, on the device
                skipped = skipped + found_inf
                if sync_free:
                    optimizer.optimizer.found_inf = found_inf
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                state.tokens_seen += cfg.train.batch_size * seq_len
                window_steps += 1
                window.grad_norm(grad_norm)

                at_end = state.step == cfg.train.steps
                if state.step % cfg.train.log_every == 0 or state.step % cfg.train.save_every == 0 or at_end:
                    in_a_row = check_nonfinite(state, streak, skipped, max_nonfinite, checkpoints)  # a host sync, only here
                if state.step % cfg.train.log_every == 0 or at_end:
                    seconds = time.perf_counter() - window_start
                    record = window.summary(accelerator)
                    seq_per_s = window_steps * cfg.train.batch_size / seconds
                    record.update(
                        step=state.step, lr=lr, seq_per_s=seq_per_s, tokens_per_s=seq_per_s * seq_len,
                        mfu=(seq_per_s * seq_len * flops_token / (peak * world)) if peak else None,
                        tokens_seen=state.tokens_seen, skipped_steps=state.skipped_steps,
                        memory_gb=torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None,
                        epoch=order.epoch_of(state.step),
                    )
                    if is_main:
                        metrics_file.write(json.dumps(record) + "\n")
                        metrics_file.flush()
                        status = f"loss {record['loss']:.3f}"
                        if "disc_loss" in record:
                            status += f" disc {record['disc_loss']:.3f}/{record['disc_entropy']:.3f}"
                        bar.update(task, completed=state.step, status=f"{status} {seq_per_s * seq_len:,.0f} tok/s")
                    window_start, window_steps = time.perf_counter(), 0
                elif is_main:
                    bar.update(task, completed=state.step)

                if len(val_set) and ((cfg.train.eval_every and state.step % cfg.train.eval_every == 0) or at_end):
                    last_eval = evaluate(model, forward, val_set, micro, cfg.train.eval_batches, seq_len, accelerator)
                    last_eval["step"] = state.step
                    if is_main:
                        metrics_file.write(json.dumps({"validation": last_eval}) + "\n")
                        metrics_file.flush()
                if (state.step % cfg.train.save_every == 0 or at_end) and in_a_row == 0:
                    checkpoint()  # never in the middle of a run of non-finite steps
                if cfg.train.stop_at and state.step == cfg.train.stop_at and not at_end:
                    if state.step % cfg.train.save_every:
                        checkpoint()
                    log.info("stopped at step %d as train.stop_at asks; continue with --resume auto", state.step)
                    break
                if world > 1:  # every rank must agree to stop, or the others wait forever in the next all-reduce
                    flag = torch.tensor([stop.signum or 0], device=device)
                    stop.signum = int(accelerator.reduce(flag, reduction="sum").item()) or None
                if stop.signum is not None and not at_end:
                    if state.step % cfg.train.save_every:
                        checkpoint()
                    terminated = stop.signum == signal.SIGTERM
                    raise StopTraining(
                        f"{'terminated' if terminated else 'interrupted'} at step {state.step}; checkpoint saved, "
                        f"continue with --resume auto", EXIT_TERMINATED if terminated else EXIT_INTERRUPTED,
                    )
    finally:
        batches.close()
        if metrics_file:
            metrics_file.close()
    if state.step < cfg.train.steps:  # stopped by train.stop_at: no export yet
        end_distributed()
        return {"step": state.step, "health": {}, "validation": last_eval, "out": str(out), "stopped": True}

    # ---- the end: health, export ---------------------------------------------------------------------
    health = health_report(last_eval or window.last_summary, cfg)
    if is_main:
        export_models(raw_model, out / "final", vocab_dir, cfg, state, health, manifest)
        if health.get("on_plateau"):
            log.warning(
                "the discriminator is still on the plateau (loss %.3f vs %.3f for always answering 'original'): "
                "it has not learned yet. Train longer, or lower optim.lr / raise optim.warmup_steps "
                "(see README, 'Pretraining health')", health["disc_loss"], health["disc_entropy"],
            )
    accelerator.wait_for_everyone()
    end_distributed()
    return {"step": state.step, "health": health, "validation": last_eval, "out": str(out)}


def end_distributed() -> None:
    """Tear the process group down before exit (a live gloo group at interpreter exit can abort the process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def check_nonfinite(state: TrainingState, streak: torch.Tensor, skipped: torch.Tensor, limit: int, checkpoints) -> int:
    """Read the device-side counters of skipped steps; stop the run when too many came in a row."""
    in_a_row, total = int(streak.item()), int(skipped.item())
    if total > state.skipped_steps:
        log.warning("%d step(s) skipped for a non-finite loss or gradient (%d in all)", total - state.skipped_steps, total)
    state.skipped_steps = total
    if in_a_row >= limit:
        raise DataError(
            f"{in_a_row} steps in a row had a non-finite loss (up to step {state.step}); stopped. "
            f"The last good checkpoint is kept in {checkpoints}; try a lower optim.lr"
        )
    return in_a_row


def maybe_compile(model, enabled: bool, backend: str = "inductor", mode: str | None = None):
    """torch.compile with static shapes (dynamic=False: every step has the same shapes, so one graph serves
    them all); falls back to eager when compilation is not available."""
    if not enabled:
        return model
    try:
        return torch.compile(model, dynamic=False, backend=backend, mode=mode)
    except Exception as err:  # noqa: BLE001 - any compiler failure: keep training, eagerly
        log.warning("torch.compile failed (%s); training eagerly", err)
        return model


class MetricWindow:
    """Sums of the step metrics on the device between two log lines (no host sync until `summary`)."""

    KEYS = ("loss", "gen_loss", "gen_acc", "disc_loss", "disc_acc", "replaced_frac", "disc_precision",
            "disc_recall", "disc_entropy")

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.norms: list[torch.Tensor] = []
        self.last = None
        self.last_summary: dict = {}

    def add(self, outputs: dict) -> None:
        for key in self.KEYS:
            if key in outputs:
                value = outputs[key].detach().float()
                self.sums[key] = self.sums.get(key, 0) + value
        self.count += 1
        self.last = outputs

    def grad_norm(self, norm: torch.Tensor) -> None:
        self.norms.append(norm.detach().float())

    def summary(self, accelerator) -> dict:
        keys = sorted(self.sums)
        stacked = torch.stack([self.sums[k] for k in keys]) / max(1, self.count)
        stacked = accelerator.reduce(stacked, reduction="mean")
        record = {k: float(v) for k, v in zip(keys, stacked.tolist())}
        record["grad_norm"] = float(torch.stack(self.norms).mean()) if self.norms else None
        if self.last is not None and "disc_logits" in self.last:
            record.update(disc_scores(self.last))
        if "disc_loss" in record:
            record["disc_loss_ratio"] = record["disc_loss"] / max(record["disc_entropy"], 1e-9)
        record["gen_perplexity"] = math.exp(min(record["gen_loss"], 50.0))
        self.sums, self.count, self.norms, self.last = {}, 0, [], None
        self.last_summary = record
        return record


def disc_scores(outputs: dict) -> dict:
    """AUC and F1 of replaced-token detection on the real tokens of one batch."""
    keep = outputs["token_weights"].flatten() > 0
    logits = outputs["disc_logits"].flatten()[keep].float()
    labels = outputs["disc_labels"].flatten()[keep]
    precision, recall = float(outputs["disc_precision"]), float(outputs["disc_recall"])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"disc_auc": roc_auc(logits, labels), "disc_f1": f1}


@torch.no_grad()
def evaluate(model, forward, val_set: ShardSet, micro: int, max_batches: int, seq_len: int, accelerator) -> dict:
    """Validation metrics with the same masking every time (the training RNG is left untouched)."""
    model.eval()
    window = MetricWindow()
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    all_logits, all_labels = [], []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(EVAL_SEED + accelerator.process_index)
        for batch in eval_batches(val_set, micro, max_batches, accelerator.process_index, accelerator.num_processes, seq_len):
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                outputs = forward(**batch)
            window.add(outputs)
            if "disc_logits" in outputs:
                keep = outputs["token_weights"] > 0
                all_logits.append(outputs["disc_logits"][keep].float())
                all_labels.append(outputs["disc_labels"][keep])
    model.train()
    if window.count == 0:
        return {}
    record = window.summary(accelerator)
    if all_logits:
        record["disc_auc"] = roc_auc(torch.cat(all_logits), torch.cat(all_labels))
    return record


def health_report(metrics: dict, cfg: PretrainConfig) -> dict:
    """Where the discriminator stands against the plateau (loss equal to the entropy of the replaced share)."""
    if cfg.model.objective != "electra" or "disc_loss" not in metrics:
        return {k: metrics[k] for k in ("gen_loss", "gen_acc") if k in metrics}
    ratio = metrics["disc_loss"] / max(metrics["disc_entropy"], 1e-9)
    return {
        "disc_loss": metrics["disc_loss"],
        "disc_entropy": metrics["disc_entropy"],
        "disc_loss_ratio": ratio,
        "disc_auc": metrics.get("disc_auc"),
        "disc_f1": metrics.get("disc_f1"),
        "gen_loss": metrics.get("gen_loss"),
        "gen_acc": metrics.get("gen_acc"),
        "on_plateau": ratio > PLATEAU_RATIO,
    }


def show_config(cfg: PretrainConfig, shards: Path, out: Path, world: int, micro: int, accumulation: int, device) -> None:
    from rich.table import Table

    table = Table(title="pretrain: resolved config", show_header=False)
    for group, values in asdict(cfg).items():
        for key, value in values.items():
            table.add_row(f"{group}.{key}", str(value))
    table.add_row("shards", str(shards))
    table.add_row("run folder", str(out))
    table.add_row("processes x micro-batch x accumulation", f"{world} x {micro} x {accumulation} on {device}")
    console.print(table)


def launch_processes(num_processes: int, argv: list[str]) -> int:
    """Re-run this command under torch.distributed.run with `num_processes` processes (DDP; gloo on CPU)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={num_processes}",
           "-m", "electra_cli", *argv]
    log.info("launching: %s", " ".join(cmd))
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.call(cmd, env=env)
