"""The pretraining loop, with Accelerate for devices, DDP and mixed precision.

`pretrain()` reads top to bottom: `setup()` builds everything (inputs, model, optimizer, resume), `train()` runs
lr -> micro-batches -> generator + discriminator loss -> accumulate -> clip -> step -> log -> eval -> save -> stop,
with `training_step()` one optimizer step that a test can call alone, and `finish()` judges health and exports.
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

import torch

from electra_cli.core import config as configlib
from electra_cli.core.atomic import sha256_file, write_text_atomic
from electra_cli.core.console import console, count_progress, format_duration, log
from electra_cli.core.errors import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    DataError,
    ElectraCliError,
    UsageError,
)
from electra_cli.core.precision import device_peak_flops, resolve_precision
from electra_cli.core.schedule import lr_lambda
from electra_cli.pretraining.checkpoint import (
    SHARDS_MANIFEST_COPY,
    TOKENIZER_FILES,
    TrainingState,
    complete_checkpoints,
    find_resume,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
    saved_world,
    seed_rank,
    step_dir,
    world_change,
)
from electra_cli.pretraining.export import export_models
from electra_cli.pretraining.grow import Growth, vocab_growth
from electra_cli.pretraining.model import (
    Electra,
    flops_per_token,
    parameter_groups,
    roc_auc,
)
from electra_cli.pretraining.published import (
    apply_sources,
    find_sources,
    length_note,
    load_sources,
    source_sizes,
    source_vocab_sha,
)
from electra_cli.pretraining.recipe import (
    PretrainConfig,
    continue_recipe_for,
    load_pretrain_config,
    resume_config,
    steps_for_epochs,
)
from electra_cli.pretraining.words import whole_word_setup
from electra_cli.shards.read import ShardSet, TrainOrder, eval_batches, train_batches
from electra_cli.shards.write import MANIFEST as SHARDS_MANIFEST
from electra_cli.shards.write import load_manifest, recorded_vocab_dir
from electra_cli.vocab.load import load_vocab_manifest
from electra_cli.watching.health import health_report
from electra_cli.watching.trackers import Trackers, open_trackers, parse_report_to

EVAL_SEED = 20200  # masking for validation is the same every time, so validation figures are comparable
CPU_ETA_WARNING_S = 3600  # on a CPU, say so when the first steps imply a run longer than this


class StopTraining(ElectraCliError):
    """The run stopped early on purpose (signal) after saving; carries the exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class LostContact(ElectraCliError):
    """Another process of the run died or became unreachable; this one stops instead of waiting forever."""

    exit_code = 1


PEER_FAILURES = ("connection closed", "connection reset", "connection refused", "broken pipe", "timed out", "timeout",
                 "remote process", "by peer")


def run_config(out: Path, resume: str | None, recipe: str | None, overrides: list[str]) -> PretrainConfig:
    """The config a `pretrain` command runs with: a new run's from the recipe, a resumed run's from its checkpoint."""
    explicit = configlib.flatten(configlib.parse_overrides(overrides))
    if "train.steps" in explicit and "train.epochs" in explicit:
        raise UsageError("give the run's length once: --max-steps (train.steps) or --epochs (train.epochs)")
    checkpoint = find_resume(Path(out) / "checkpoints", resume) if resume else None
    if checkpoint is None or not (checkpoint / "config.toml").is_file():
        return new_run_config(recipe, overrides)
    step = json.loads((checkpoint / "state.json").read_text())["step"]
    cfg, changes = resume_config(checkpoint / "config.toml", recipe, overrides, step)
    for change in changes:
        log.info("changed on resume at %s", change)
    return cfg


def new_run_config(recipe: str | None, overrides: list[str]) -> PretrainConfig:
    """A new run's config. From published weights without --recipe it takes the continue recipe of their size;
    with a from-scratch recipe given, one line says what that means; either way one line says the length the
    published model was trained at and what continuing at another means."""
    explicit = configlib.flatten(configlib.parse_overrides(overrides))
    cfg = load_pretrain_config(recipe, overrides)
    if not cfg.init.given:
        return cfg
    sources = find_sources(cfg.init.from_dir, cfg.init.discriminator, cfg.init.generator)
    fitting = continue_recipe_for(source_sizes(sources, cfg.model)["hidden"])
    if recipe is None:
        cfg = load_pretrain_config(fitting, overrides)
        log.info("starting from published weights without --recipe: %s, %s (--recipe NAME for another)",
                 fitting, schedule_of(cfg))
    elif not cfg.init.required:
        log.warning("--recipe %s is a from-scratch schedule (%s): the published weights continue at that rate and "
                    "length; %s is the recipe for continuing them (%s)", recipe, schedule_of(cfg), fitting,
                    schedule_of(load_pretrain_config(fitting, [])))
    apply_sources(cfg, sources, explicit)
    log.info("%s", length_note(sources, cfg.data.max_seq_len))
    return cfg


def schedule_of(cfg: PretrainConfig) -> str:
    """A recipe's schedule in words: peak lr, warmup and length."""
    length = f"train.epochs {cfg.train.epochs:g}" if cfg.train.epochs else f"{cfg.train.steps:,} steps"
    return f"lr {cfg.optim.lr:g}, {cfg.optim.warmup_steps:,} warmup steps, {length}"


@dataclass
class Run:
    """Everything `train()` needs, built by `setup()`."""

    cfg: PretrainConfig
    accelerator: object
    model: torch.nn.Module  # as prepared by Accelerate (DDP-wrapped with several processes)
    raw_model: Electra
    forward: object  # the model, compiled or not
    optimizer: object
    scheduler: object
    scaler: object
    state: TrainingState
    train_set: ShardSet
    val_set: ShardSet
    order: TrainOrder
    seq_len: int
    micro: int
    accumulation: int
    out: Path
    vocab_dir: Path
    manifest: dict
    config_toml: str
    standalone_files: dict = field(default_factory=dict)
    report_to: list[str] = field(default_factory=list)  # trackers (tensorboard, wandb): views of metrics.jsonl

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process


def pretrain(
    cfg: PretrainConfig,
    shards: Path,
    out: Path,
    resume: str | None = None,
    vocab_dir: Path | None = None,
    overwrite: bool = False,
    verbose: bool = False,
    report_to: list[str] | str | None = None,
) -> dict:
    """Pretrain ELECTRA on `shards`, writing checkpoints, metrics and the final HF folders under `out`.

    report_to: trackers that show the metrics too ("tensorboard", "wandb"; see watching/trackers.py).
    """
    run = setup(cfg, Path(shards), Path(out), resume, vocab_dir, overwrite, verbose, report_to)
    final = run.out / "final"
    if run.state.step >= cfg.train.steps and final.is_dir():
        log.info("%s is finished (step %d of %d); its models are in %s. To train further: --resume auto --max-steps N",
                 run.out, run.state.step, cfg.train.steps, final)
        end_distributed()
        return {"step": run.state.step, "health": {}, "validation": {}, "out": str(run.out), "finished": True}
    with lost_contact_as_error(run):
        last_eval, last_window = train(run)
        if run.state.step < cfg.train.steps:  # stopped by train.stop_at: no export yet
            end_distributed()
            return {"step": run.state.step, "health": {}, "validation": last_eval, "out": str(run.out), "stopped": True}
        health = finish(run, last_eval or last_window)
    return {"step": run.state.step, "health": health, "validation": last_eval, "out": str(run.out)}


@contextlib.contextmanager
def lost_contact_as_error(run: Run):
    """A collective that fails because a peer is gone (a killed rank, a lost machine) becomes one line that says
    so and where to resume from, instead of a backend traceback (or a hang: see README 'On a cluster')."""
    try:
        yield
    except RuntimeError as err:
        world = run.accelerator.num_processes
        if world == 1 or not any(word in str(err).lower() for word in PEER_FAILURES):
            raise
        newest = complete_checkpoints(run.checkpoints)
        where = f"the newest complete checkpoint is {newest[-1]}" if newest else "no checkpoint was completed yet"
        text = str(err).strip()
        first_line = text.splitlines()[0].split(". ")[0] if text else type(err).__name__
        raise LostContact(
            f"rank {run.accelerator.process_index} of {world} lost contact with the other processes near step "
            f"{run.state.step} (another rank or machine died or is unreachable: {first_line}); {where}: restart every "
            "machine with --resume auto"
        ) from None


# ---- setup ---------------------------------------------------------------------------------------------


def setup(cfg: PretrainConfig, shards: Path, out: Path, resume: str | None, vocab_dir: Path | None,
          overwrite: bool, verbose: bool = False, report_to: list[str] | str | None = None) -> Run:
    """Check the inputs against the recipe, build model and optimizer, and restore a checkpoint when resuming."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    trackers = parse_report_to(report_to)  # an unknown or missing tracker fails before any work
    precision = resolve_precision(cfg.train.mixed_precision)
    accelerator = Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())
    rank, world = accelerator.process_index, accelerator.num_processes

    resume_from = find_resume(out / "checkpoints", resume)
    sources = {}
    if cfg.init.given and resume_from is None:
        sources = find_sources(cfg.init.from_dir, cfg.init.discriminator, cfg.init.generator)
        if not cfg.init.sources:  # called from Python, not through run_config
            apply_sources(cfg, sources, {})
    elif cfg.init.required and resume_from is None:
        raise UsageError(f"recipe {cfg.run.recipe or ''} continues a published model: give --init-from DIR, or "
                         "--init-discriminator D / --init-generator G")
    manifest = load_manifest(shards)
    shards_sha = sha256_file(shards / SHARDS_MANIFEST)
    vocab_dir = Path(vocab_dir or recorded_vocab_dir(shards, manifest) or manifest["vocab"]["path"])
    if not vocab_dir.is_dir():
        raise UsageError(f"{vocab_dir}: vocab folder recorded in the shards manifest not found; pass --vocab")
    vocab = load_vocab_manifest(vocab_dir)
    seq_len = int(manifest["max_seq_len"])
    if cfg.train.epochs:  # passes over the corpus -> steps (resumed: the same count, or that of a changed --epochs)
        cfg.train.steps = steps_for_epochs(cfg.train.epochs, manifest["splits"]["train"]["rows"], cfg.train.batch_size)
    micro = cfg.train.micro_batch_size or cfg.train.batch_size // world
    check_inputs(cfg, vocab, vocab_dir, manifest, shards, out, world, micro, resume, overwrite)
    growth = vocab_growth(vocab, vocab_dir) if sources else None  # shards of an extended published vocabulary
    check_sources(sources, vocab, shards, growth)
    if cfg.data.verify == "hashes" and accelerator.is_main_process:
        from electra_cli.shards.write import verify_shards

        verify_shards(shards)

    set_seed(cfg.train.seed)  # the same initial weights on every rank
    # whole-word masking reads the shards' word column when they have one, else the vocabulary's ## pieces
    train_set = ShardSet(shards, "train", words=cfg.model.masking == "whole-word")
    word_pieces = whole_word_setup(cfg.model, train_set, shards, vocab_dir)
    model = Electra(cfg.model, vocab["vocab_size"], vocab["special_ids"], word_pieces)
    if sources:
        load_sources(model, sources, growth)
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
    if resume_from is not None:
        state = load_checkpoint(resume_from, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                                rank=rank, seed=cfg.train.seed)
        if state.shards_sha256 != shards_sha:
            raise DataError(f"{resume_from}: was trained on other shards (manifest sha256 differs from {shards})")
        if state.vocab_sha256 != vocab["vocab_sha256"]:
            raise DataError(f"{resume_from}: was trained with another vocabulary than {vocab_dir}")
        log.info("resuming from %s (step %d)", resume_from, state.step)
        change = world_change(resume_from, saved_world(resume_from), world, state.step)
        if change and accelerator.is_main_process:
            log.warning(change)
    else:
        seed_rank(cfg.train.seed, rank, 0)  # each rank masks differently
    config_toml = configlib.dumps(cfg)
    accumulation = cfg.train.batch_size // (micro * world)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "config.toml", config_toml)
        show_config(cfg, shards, out, world, micro, accumulation, accelerator.device, precision, verbose,
                    examples=manifest["splits"]["train"]["rows"])
    prepared, optimizer = accelerator.prepare(model, optimizer)
    forward = maybe_compile(prepared, cfg.train.compile, cfg.train.compile_backend, cfg.train.compile_mode or None)
    standalone = {name: vocab_dir / name for name in TOKENIZER_FILES}
    standalone[SHARDS_MANIFEST_COPY] = shards / SHARDS_MANIFEST
    return Run(
        cfg=cfg, accelerator=accelerator, model=prepared, raw_model=accelerator.unwrap_model(prepared),
        forward=forward, optimizer=optimizer, scheduler=scheduler, scaler=scaler, state=state,
        train_set=train_set, val_set=ShardSet(shards, "validation", words=train_set.words),
        order=TrainOrder(len(train_set), cfg.train.seed, cfg.train.batch_size, micro, rank, world),
        seq_len=seq_len, micro=micro, accumulation=accumulation, out=out, vocab_dir=vocab_dir,
        manifest=manifest, config_toml=config_toml, standalone_files=standalone, report_to=trackers,
    )


def check_inputs(cfg, vocab: dict, vocab_dir: Path, manifest: dict, shards: Path, out: Path, world: int, micro: int,
                 resume: str | None, overwrite: bool) -> None:
    """Every way the shards, the vocabulary, the recipe and the run folder can disagree, in one error."""
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
    if micro < 1 or cfg.train.batch_size % (micro * world):
        problems.append(
            f"train.batch_size {cfg.train.batch_size} is not a multiple of micro_batch_size {micro} x {world} processes"
        )
    if resume is None and complete_checkpoints(out / "checkpoints") and not overwrite:
        problems.append(f"{out} already has checkpoints: pass --resume auto to continue, or --overwrite to start over")
    if problems:
        raise UsageError("; ".join(problems))


def check_sources(sources: dict, vocab: dict, shards: Path, growth: Growth | None = None) -> None:
    """The init folders must speak the shards' vocabulary: same size, and the same vocab.txt where they carry one;
    or be the published base of the shards' extended vocabulary (`growth`), whose rows the load grows."""
    problems = []
    for source in sources.values():
        if growth is not None and growth.fits(source.config["vocab_size"], source_vocab_sha(source)):
            continue
        if source.config["vocab_size"] != vocab["vocab_size"]:
            problems.append(f"{source.folder} has a vocabulary of {source.config['vocab_size']} tokens, the shards in "
                            f"{shards} {vocab['vocab_size']}")
            continue
        sha = source_vocab_sha(source)
        if sha is not None and sha != vocab["vocab_sha256"]:
            problems.append(f"{source.folder} has another vocabulary (sha256 {sha[:12]}) than the shards in {shards} "
                            f"({vocab['vocab_sha256'][:12]}): re-shard with --vocab {source.folder}")
    if problems:
        raise UsageError("; ".join(problems))


# ---- the loop --------------------------------------------------------------------------------------------


@dataclass
class DeviceCounters:
    """Running counts kept on the device, so that a step needs no host sync; read at log and save steps."""

    streak: torch.Tensor  # consecutive skipped steps
    skipped: torch.Tensor  # skipped steps in all
    tokens: torch.Tensor  # non-pad tokens this rank trained on since the last read

    @classmethod
    def on(cls, device, skipped: int) -> DeviceCounters:
        zero = torch.zeros((), device=device)
        return cls(streak=zero.clone(), skipped=torch.full((), float(skipped), device=device), tokens=zero.clone())


def training_step(run: Run, micro_batches: list[dict], counters: DeviceCounters) -> dict[str, torch.Tensor]:
    """One optimizer step over this rank's micro-batches; returns the step's detached metrics (device tensors).

    No host-device sync: a non-finite gradient norm (the same on every rank) skips the update on the device.
    """
    accelerator, device = run.accelerator, run.accelerator.device
    metrics: dict[str, torch.Tensor] = {}
    for i, mb in enumerate(micro_batches):
        mb = {k: v.to(device, non_blocking=True) for k, v in mb.items()}
        sync = i == len(micro_batches) - 1  # DDP all-reduces gradients on the last micro-batch only
        with contextlib.nullcontext() if sync else accelerator.no_sync(run.model):
            with accelerator.autocast():
                outputs = run.forward(**mb)
            accelerator.backward(outputs["loss"] / run.accumulation)
        counters.tokens += mb["attention_mask"].sum()
        for key, value in outputs["metrics"].items():  # (B, L) tensors: keep the last micro-batch's, for AUC
            metrics[key] = value if value.ndim else metrics.get(key, 0) + value / len(micro_batches)
    grad_norm = accelerator.clip_grad_norm_(run.model.parameters(), run.cfg.optim.clip_norm)
    # Without loss scaling the fused AdamW skips a non-finite step on the device (found_inf); fp16's GradScaler
    # does its own check.
    found_inf = (~torch.isfinite(grad_norm)).float()
    counters.streak = (counters.streak + found_inf) * found_inf
    counters.skipped = counters.skipped + found_inf
    if run.scaler is None and getattr(run.optimizer.optimizer, "_step_supports_amp_scaling", False):
        run.optimizer.optimizer.found_inf = found_inf
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    metrics["grad_norm"] = grad_norm.detach().float()
    return metrics


def train(run: Run) -> tuple[dict, dict]:
    """Steps until `train.steps` (or `train.stop_at`, or a signal); returns the last validation and window figures."""
    cfg, state, accelerator = run.cfg, run.state, run.accelerator
    device, world = accelerator.device, accelerator.num_processes
    batches = train_batches(run.train_set, run.order, state.step, run.seq_len, pin=device.type == "cuda")
    metrics_file = open(run.out / "metrics.jsonl", "a", encoding="utf-8") if run.is_main else None  # noqa: SIM115
    trackers = open_trackers(run.report_to, run.out, run.out.name, configlib.to_dict(cfg), state.step or None,
                             main_process=run.is_main)
    counters = DeviceCounters.on(device, state.skipped_steps)
    window = MetricWindow()
    speed = Speedometer(run, flops_per_token(run.raw_model, run.seq_len), device_peak_flops(device))
    # fp16 loss scaling overflows a few times in a row while it calibrates: allow for that before stopping
    max_nonfinite = cfg.train.max_nonfinite + (20 if run.scaler is not None else 0)
    in_a_row = 0
    last_eval: dict = {}
    # Without a terminal the loop logs a line per log_every steps itself; the bar adds a line only after a minute
    # of silence (slow steps), unless ELECTRA_CLI_PROGRESS_SECONDS says otherwise.
    every = None if "ELECTRA_CLI_PROGRESS_SECONDS" in os.environ else 60.0
    progress = count_progress("pretrain", every=every) if run.is_main else contextlib.nullcontext()
    try:
        with SignalFlag(world) as stop, progress as bar:
            task = bar.add_task("pretrain", total=cfg.train.steps, completed=state.step, status="") if run.is_main else None
            run.model.train()
            while state.step < cfg.train.steps:
                lr = run.scheduler.get_last_lr()[0]
                window.add(training_step(run, next(batches), counters))
                state.step += 1
                speed.tick(state.step)
                at_end = state.step == cfg.train.steps
                logging_step = state.step % cfg.train.log_every == 0 or at_end
                saving_step = state.step % cfg.train.save_every == 0 or at_end
                if logging_step or saving_step:  # the only host syncs: read the device counters
                    in_a_row = read_counters(run, counters, max_nonfinite)
                if logging_step:
                    record = window.summary(accelerator) | speed.record(state.step, lr) | {
                        "tokens_seen": state.tokens_seen, "skipped_steps": state.skipped_steps,
                        "epoch": run.order.epoch_of(state.step)}
                    write_metrics(metrics_file, record, trackers)
                    report_progress(run, bar, task, record, last_eval)
                elif run.is_main:
                    bar.update(task, completed=state.step)
                if len(run.val_set) and ((cfg.train.eval_every and state.step % cfg.train.eval_every == 0) or at_end):
                    last_eval = evaluate(run) | {"step": state.step}
                    write_metrics(metrics_file, {"validation": last_eval}, trackers)
                if saving_step and in_a_row == 0:
                    save(run)  # never in the middle of a run of non-finite steps
                if cfg.train.stop_at and state.step == cfg.train.stop_at and not at_end:
                    if not saving_step:
                        read_counters(run, counters, max_nonfinite)
                        save(run)
                    log.info("stopped at step %d as train.stop_at asks; continue with --resume auto", state.step)
                    break
                signum = stop.agreed()  # every rank learns of a signal at the same step
                if signum is not None and not at_end:
                    if not saving_step:
                        read_counters(run, counters, max_nonfinite)
                        save(run)
                    terminated = signum == signal.SIGTERM
                    raise StopTraining(
                        f"{'terminated' if terminated else 'interrupted'} at step {state.step}; checkpoint saved, "
                        f"continue with --resume auto", EXIT_TERMINATED if terminated else EXIT_INTERRUPTED,
                    )
    finally:
        batches.close()
        if metrics_file:
            metrics_file.close()
        trackers.close()
    return last_eval, window.last_summary


def read_counters(run: Run, counters: DeviceCounters, limit: int) -> int:
    """Move the device counters into the state (tokens summed over ranks); stop when too many steps in a row
    had a non-finite loss. Returns the current streak of skipped steps."""
    state = run.state
    tokens = run.accelerator.reduce(counters.tokens.detach().clone(), reduction="sum")
    state.tokens_seen += int(tokens.item())
    counters.tokens.zero_()
    in_a_row, total = int(counters.streak.item()), int(counters.skipped.item())
    if total > state.skipped_steps:
        log.warning("%d step(s) skipped for a non-finite loss or gradient (%d in all)", total - state.skipped_steps, total)
    state.skipped_steps = total
    if in_a_row >= limit:
        raise DataError(
            f"{in_a_row} steps in a row had a non-finite loss (up to step {state.step}); stopped. "
            f"The last good checkpoint is kept in {run.checkpoints}; try a lower optim.lr"
        )
    return in_a_row


def save(run: Run) -> None:
    save_checkpoint(
        step_dir(run.checkpoints, run.state.step), model=run.raw_model, optimizer=run.optimizer,
        scheduler=run.scheduler, scaler=run.scaler, state=run.state, config_toml=run.config_toml,
        rank=run.accelerator.process_index, world=run.accelerator.num_processes,
        barrier=run.accelerator.wait_for_everyone, extra_files=run.standalone_files,
    )
    if run.is_main:
        prune_checkpoints(run.checkpoints, run.cfg.train.keep_last)


def write_metrics(metrics_file, record: dict, trackers: Trackers | None = None) -> None:
    """One line of metrics.jsonl (the source of truth), then the same figures to the trackers: a training
    record's as `train/<name>`, a validation record's as `validation/<name>`, at the record's step."""
    if metrics_file is not None:
        metrics_file.write(json.dumps(record) + "\n")
        metrics_file.flush()
    if trackers:
        figures = record.get("validation", record)
        group = "validation" if "validation" in record else "train"
        trackers.log({group: {k: v for k, v in figures.items() if k != "step"}}, step=figures["step"])


class Speedometer:
    """Throughput between log lines, the ETA, and a one-time warning when a CPU run would take hours."""

    def __init__(self, run: Run, flops_token: float, peak: float | None):
        self.run, self.flops_token, self.peak = run, flops_token, peak
        self.start_step = run.state.step
        self.started = time.perf_counter()
        self.window_start, self.window_steps = self.started, 0
        self.warned = run.accelerator.device.type != "cpu"
        self.seconds_per_step = math.nan

    def tick(self, step: int) -> None:
        self.window_steps += 1
        if not self.warned and step - self.start_step == 3:  # the first steps, past warm-up allocations
            self.warned = True
            seconds = (time.perf_counter() - self.window_start) / self.window_steps
            remaining = seconds * (self.run.cfg.train.steps - step)
            if remaining > CPU_ETA_WARNING_S and self.run.is_main:
                log.warning(
                    "on a CPU at %.1f s/step, the %s steps of this recipe would take %s. For a CPU smoke run use "
                    "--recipe electra-tiny (or fewer steps: --max-steps N); go on if you mean it.",
                    seconds, f"{self.run.cfg.train.steps:,}", format_duration(remaining))

    def record(self, step: int, lr: float) -> dict:
        seconds = time.perf_counter() - self.window_start
        batch, seq_len, world = self.run.cfg.train.batch_size, self.run.seq_len, self.run.accelerator.num_processes
        seq_per_s = self.window_steps * batch / seconds
        self.seconds_per_step = seconds / max(1, self.window_steps)
        self.window_start, self.window_steps = time.perf_counter(), 0
        device = self.run.accelerator.device
        return {
            "step": step, "lr": lr, "seq_per_s": seq_per_s, "tokens_per_s": seq_per_s * seq_len,
            "mfu": (seq_per_s * seq_len * self.flops_token / (self.peak * world)) if self.peak else None,
            "memory_gb": torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None,
            "eta_s": self.seconds_per_step * (self.run.cfg.train.steps - step),
            "elapsed_s": round(time.perf_counter() - self.started, 3),  # this process's training time (0 on resume)
        }


def report_progress(run: Run, bar, task, record: dict, last_eval: dict | None = None) -> None:
    """The progress bar's status (the bar itself shows the step of N, elapsed time and ETA); without a terminal
    (nohup, SLURM, CI) a plain log line instead, with the ETA."""
    if not run.is_main:
        return
    line = progress_line(record, last_eval)
    bar.update(task, completed=record["step"], status=line)
    if not console.is_terminal:
        log.info("step %d/%d | %s | ETA %s", record["step"], run.cfg.train.steps, line, format_duration(record["eta_s"]))


def progress_line(record: dict, last_eval: dict | None = None) -> str:
    """e.g. "loss 12.345 | disc 0.345 vs plateau 0.391 (ratio 0.88) | gen acc 0.12 | 5,120 tok/s | val ratio 0.90
    AUC 0.71 @ 500": the training window's figures, then the last validation's (MLM runs: its generator loss)."""
    line = f"loss {record['loss']:.3f}"
    if "disc_loss" in record:
        line += (f" | disc {record['disc_loss']:.3f} vs plateau {record['disc_entropy']:.3f} "
                 f"(ratio {record['disc_loss_ratio']:.2f})")
    line += f" | gen acc {record['gen_acc']:.2f} | {record['tokens_per_s']:,.0f} tok/s"
    if last_eval and "disc_loss_ratio" in last_eval:
        auc = last_eval.get("disc_auc")
        line += f" | val ratio {last_eval['disc_loss_ratio']:.2f}" + (f" AUC {auc:.2f}" if auc is not None else "")
        line += f" @ {last_eval['step']}"
    elif last_eval and "gen_loss" in last_eval:
        line += f" | val gen loss {last_eval['gen_loss']:.3f} @ {last_eval['step']}"
    return line


# ---- the end ---------------------------------------------------------------------------------------------


def finish(run: Run, metrics: dict) -> dict:
    """Judge the discriminator against the plateau, export the final HF folders, say where they are."""
    health = health_report(metrics, run.cfg.model.objective, run.cfg.optim.warmup_steps, run.state.step)
    if run.is_main:
        export_models(run.raw_model, run.out / "final", run.vocab_dir, run.cfg, run.state, health, run.manifest)
        if health.get("verdict") in ("stuck on the plateau", "still learning"):
            log.warning(
                "the discriminator is %s (loss %.3f vs %.3f for always answering 'original'): it is not yet a "
                "useful model. Train longer, or lower optim.lr / raise optim.warmup_steps "
                "(see README, 'Pretraining health')", health["verdict"], health["disc_loss"], health["disc_entropy"],
            )
        final = run.out / "final"
        kept = "discriminator and generator" if run.raw_model.discriminator is not None else "generator"
        console.print(f"pretrain: done at step {run.state.step:,}; {kept} in {final}/ "
                      f"(load with transformers' from_pretrained), metrics in {run.out / 'metrics.jsonl'}",
                      highlight=False, soft_wrap=True)
    run.accelerator.wait_for_everyone()
    end_distributed()
    return health


def end_distributed() -> None:
    """Tear the process group down before exit (a live gloo group at interpreter exit can abort the process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


# ---- helpers ---------------------------------------------------------------------------------------------


class SignalFlag:
    """SIGTERM / SIGINT set a flag; the loop saves a checkpoint at the end of the step and exits 143 / 130.

    With several processes every rank must stop at the same step, or the others wait forever in the next
    collective. The flag is reduced (max: SIGTERM beats SIGINT) over ranks on a CPU (gloo) group, asynchronously:
    the reduction started at step s is read at step s + 1, so all ranks agree on the same step and the device
    stream never waits.
    """

    def __init__(self, world: int = 1):
        self.signum: int | None = None
        self._previous = {}
        self._group = None
        self._pending = None  # (work, buffer) of the reduction started last step
        if world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            self._group = torch.distributed.new_group(backend="gloo")

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signum = signum

    def agreed(self) -> int | None:
        """The signal every rank has agreed on (None: go on). Call once per step on every rank."""
        if self._group is None:
            return self.signum
        agreed = None
        if self._pending is not None:
            work, buffer = self._pending
            work.wait()
            agreed = int(buffer.numpy()[0]) or None  # a CPU tensor: no device sync
        buffer = torch.tensor([self.signum or 0], dtype=torch.int64)
        work = torch.distributed.all_reduce(buffer, op=torch.distributed.ReduceOp.MAX, group=self._group, async_op=True)
        self._pending = (work, buffer)
        return agreed

    def __exit__(self, *exc):
        if self._pending is not None:
            self._pending[0].wait()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


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
            "disc_recall", "disc_entropy", "grad_norm")
    BATCH_KEYS = ("disc_logits", "disc_labels", "token_weights")  # (B, L), kept from the last step for AUC

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.last_batch: dict[str, torch.Tensor] = {}
        self.last_summary: dict = {}

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        """Add one step's (or one evaluation batch's) detached metrics."""
        for key in self.KEYS:
            if key in metrics:
                self.sums[key] = self.sums.get(key, 0) + metrics[key].float()
        self.last_batch = {k: metrics[k] for k in self.BATCH_KEYS if k in metrics}
        self.count += 1

    def summary(self, accelerator, keys: tuple[str, ...] = ()) -> dict:
        """Means over the window and over all ranks. Every rank must call it (it is a collective), also a rank
        that added nothing: its sums count as zeros and its count as 0."""
        keys = keys or tuple(k for k in self.KEYS if k in self.sums)
        device = accelerator.device
        values = [self.sums[k] if k in self.sums else torch.zeros((), device=device) for k in keys]
        stacked = torch.stack([torch.as_tensor(v, device=device, dtype=torch.float32) for v in values]
                              + [torch.tensor(float(self.count), device=device)])
        stacked = accelerator.reduce(stacked, reduction="sum")
        count = float(stacked[-1])
        record = {k: float(v) / count for k, v in zip(keys, stacked[:-1].tolist())} if count else {}
        if record and self.last_batch:
            record.update(disc_scores(self.last_batch, record))
        if "disc_loss" in record:
            record["disc_loss_ratio"] = record["disc_loss"] / max(record["disc_entropy"], 1e-9)
        if "gen_loss" in record:
            record["gen_perplexity"] = math.exp(min(record["gen_loss"], 50.0))
        self.sums, self.count, self.last_batch = {}, 0, {}
        self.last_summary = record
        return record


def disc_scores(batch: dict, record: dict) -> dict:
    """AUC (on one batch's real tokens) and F1 of replaced-token detection."""
    keep = batch["token_weights"].flatten() > 0
    logits = batch["disc_logits"].flatten()[keep].float()
    labels = batch["disc_labels"].flatten()[keep]
    precision, recall = record.get("disc_precision", 0.0), record.get("disc_recall", 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"disc_auc": roc_auc(logits, labels), "disc_f1": f1}


@torch.no_grad()
def evaluate(run: Run) -> dict:
    """Validation metrics with the same masking every time (the training RNG is left untouched).

    Runs the unwrapped model (no DDP collectives inside), so a rank with fewer validation rows, or none,
    cannot deadlock the others; the one collective is the summary, which every rank joins.
    """
    accelerator, model = run.accelerator, run.raw_model
    model.eval()
    window = MetricWindow()
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    all_logits, all_labels = [], []
    rank, world = accelerator.process_index, accelerator.num_processes
    with torch.random.fork_rng(devices=devices):
        seed_rank(EVAL_SEED, rank, 0)
        for batch in eval_batches(run.val_set, run.micro, run.cfg.train.eval_batches, rank, world, run.seq_len):
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                metrics = model(**batch)["metrics"]
            window.add(metrics)
            if "disc_logits" in metrics:
                keep = metrics["token_weights"] > 0
                all_logits.append(metrics["disc_logits"][keep].float())
                all_labels.append(metrics["disc_labels"][keep])
    run.model.train()
    keys = MetricWindow.KEYS[:-1] if run.cfg.model.objective == "electra" else ("loss", "gen_loss", "gen_acc")
    record = window.summary(accelerator, keys)
    if record and all_logits:
        record["disc_auc"] = roc_auc(torch.cat(all_logits), torch.cat(all_labels))  # this rank's rows
    return record


def show_config(cfg: PretrainConfig, shards: Path, out: Path, world: int, micro: int, accumulation: int, device,
                precision: str, verbose: bool, examples: int = 0) -> None:
    """One line (the full resolved config with --verbose; it is in RUN/config.toml either way): what it trains,
    how long in steps and in passes over the shards' `examples`, and how the global batch is spread."""
    m = cfg.model
    passes = cfg.train.steps * cfg.train.batch_size / max(examples, 1)
    how = f"train.epochs {cfg.train.epochs:g}: " if cfg.train.epochs else ""
    console.print(
        f"pretrain: {cfg.run.recipe or 'recipe'} ({m.objective}, {m.layers} layers x {m.hidden} hidden), "
        f"{cfg.train.steps:,} steps of {cfg.train.batch_size} x {cfg.data.max_seq_len} tokens ({how}{passes:,.2f} "
        f"passes over {examples:,} training examples), global batch {cfg.train.batch_size} = "
        f"{world} process(es) x {micro} x {accumulation} accumulation on {device}, precision "
        f"{'fp32' if precision == 'no' else precision}; config in {out / 'config.toml'}",
        highlight=False, soft_wrap=True,
    )
    if not verbose:
        return
    from rich.table import Table

    resolved = {"model.intermediate": f"{m.intermediate or 4 * m.hidden} (4 x hidden)" if not m.intermediate else None,
                "train.micro_batch_size": f"{micro} (batch / processes)" if not cfg.train.micro_batch_size else None}
    table = Table(title="pretrain: resolved config", show_header=False)
    for group, values in asdict(cfg).items():
        for key, value in values.items():
            name = f"{group}.{key}"
            shown = resolved.get(name) or ('""' if value == "" else "[]" if value == [] else str(value))
            table.add_row(name, shown)
    table.add_row("shards", str(shards))
    table.add_row("run folder", str(out))
    console.print(table)


@dataclass(frozen=True)
class Machines:
    """Where this launch sits in a multi-machine run (torchrun's static rendezvous); one machine by default."""

    count: int = 1  # --num-machines
    rank: int = 0  # --machine-rank: 0 on the head machine, whose address is main_ip
    main_ip: str = "127.0.0.1"  # --main-process-ip: the head machine's address, as every machine reaches it
    main_port: int = 29500  # --main-process-port: free on the head machine, the same on every machine

    def problems(self, num_processes: int) -> list[str]:
        found = []
        if self.count < 1:
            found.append(f"--num-machines must be >= 1, got {self.count}")
        elif num_processes % self.count:
            found.append(f"--num-processes is the total over all machines: {num_processes} is not a multiple of "
                         f"--num-machines {self.count}")
        if not 0 <= self.rank < max(self.count, 1):
            found.append(f"--machine-rank must be in 0..{self.count - 1}, got {self.rank}")
        if not 1 <= self.main_port <= 65535:
            found.append(f"--main-process-port must be in 1..65535, got {self.main_port}")
        if self.count > 1 and not self.main_ip:
            found.append("--main-process-ip is needed with --num-machines > 1 (the head machine's address)")
        return found


def launch_processes(num_processes: int, argv: list[str], machines: Machines | None = None) -> int:
    """Re-run this command under torch.distributed.run with `num_processes` processes in all (DDP; gloo on CPU):
    all on this machine, or `num_processes / machines.count` here as machine `machines.rank` of a multi-machine
    run. Global process index = machine rank x processes per machine + local rank, so the data order (a function
    of the seed, the step and the global index) is the same however the processes are spread."""
    import subprocess
    import sys

    machines = machines or Machines()
    problems = machines.problems(num_processes)
    if problems:
        raise UsageError("; ".join(problems))
    per_machine = num_processes // machines.count
    if machines.count == 1:
        where = ["--standalone"]
    else:
        where = [f"--nnodes={machines.count}", f"--node_rank={machines.rank}", f"--master_addr={machines.main_ip}",
                 f"--master_port={machines.main_port}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc_per_node={per_machine}",
           "-m", "electra_cli", *argv]
    log.info("launching: %s", " ".join(cmd))
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.call(cmd, env=env)
