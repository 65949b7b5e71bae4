"""The pretraining recipe's schema, and how a resumed run reconciles its saved config with the flags given again.

Precedence for a new run: dataclass defaults < recipe TOML < `--set` (and the flag shortcuts). A resumed run
starts from the config saved in its checkpoint instead: the recipe is not re-read, and a flag given again must
agree with the saved value, or change only what is safe to change mid-run (RESUME_SAFE).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from electra_cli.core import config as configlib
from electra_cli.core.errors import UsageError
from electra_cli.pretraining.model import ModelConfig


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
    epochs: float = 0.0  # passes over the shards' training examples; > 0 sets `steps` from them (0: use `steps`)
    batch_size: int = 128  # sequences per optimizer step, global: all processes on all machines together
    micro_batch_size: int = 0  # sequences per forward on one process; 0 = batch_size / processes
    seed: int = 1234  # initialisation, data order and masking
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"  # auto: bf16 on GPUs with bf16 tensor cores (compute capability >= 8.0), fp16 below, fp32 on CPU
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
        if self.epochs < 0:
            problems.append(f"train.epochs must be >= 0, got {self.epochs}")
        if self.keep_last < 2:
            problems.append(f"train.keep_last must be >= 2, got {self.keep_last}")
        if problems:
            raise UsageError("; ".join(problems))


@dataclass
class InitConfig:
    """Published weights the run starts from (`--init-from`, `--init-discriminator`, `--init-generator`)."""

    from_dir: str = ""  # a folder with discriminator/ and/or generator/ HF folders (a run's final/, or convert's)
    discriminator: str = ""  # an HF folder: ELECTRA discriminator, or a masked LM (ELECTRA or BERT: two-stage)
    generator: str = ""  # an HF folder: ELECTRA generator (ElectraForMaskedLM)
    required: bool = False  # a continued-pretraining recipe: refuse to start from random weights
    sources: list[str] = field(default_factory=list)  # written by the tool: each folder and its files' sha256

    @property
    def given(self) -> bool:
        return bool(self.from_dir or self.discriminator or self.generator)


@dataclass
class RunRecord:
    """Where the run came from; written by the tool, not by recipes."""

    recipe: str = ""  # the recipe the run was created from (a bundled name or a file)
    changes: list[str] = field(default_factory=list)  # fields changed on resume: "step N: field old -> new"


@dataclass
class PretrainConfig:
    """A pretraining recipe."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    init: InitConfig = field(default_factory=InitConfig)
    run: RunRecord = field(default_factory=RunRecord)


DEFAULT_RECIPE = "electra-small"
# Fields a resumed run may change: they touch neither the weights' shapes, the optimizer, the data order nor the
# masking. `train.steps` re-shapes the lr schedule from the current step on (the decay now ends at the new count);
# `train.micro_batch_size` keeps the global batch, and with it the data order.
RESUME_SAFE = frozenset({
    "train.steps", "train.epochs", "train.stop_at", "train.log_every", "train.eval_every", "train.eval_batches", "train.save_every",
    "train.keep_last", "train.max_nonfinite", "train.compile", "train.compile_backend", "train.compile_mode",
    "train.micro_batch_size", "data.verify",
})


# The recipe a run from published weights takes when no --recipe is given, by the discriminator's width.
CONTINUE_RECIPES = ((256, "electra-continue-small"), (None, "electra-continue-base"))


def continue_recipe_for(hidden: int) -> str:
    """The bundled continue recipe for a published discriminator of this width (Small up to 256, else Base)."""
    return next(name for most, name in CONTINUE_RECIPES if most is None or hidden <= most)


def steps_for_epochs(epochs: float, examples: int, batch_size: int) -> int:
    """Optimizer steps for `epochs` passes over `examples` training rows at `batch_size` (global) per step."""
    return max(1, math.ceil(epochs * examples / batch_size))


def load_pretrain_config(recipe: str | None, overrides: list[str]) -> PretrainConfig:
    """A new run's config: defaults < recipe < overrides; the recipe's name is recorded in `run.recipe`."""
    name = recipe or DEFAULT_RECIPE
    cfg = configlib.load_config(PretrainConfig, configlib.find_recipe(name, "pretrain"), overrides)
    cfg.run = RunRecord(recipe=name)
    return cfg


def resume_config(saved: Path, recipe: str | None, overrides: list[str], step: int) -> tuple[PretrainConfig, list[str]]:
    """The config of a run resumed at `step`: the one saved in its checkpoint, changed only by `overrides`.

    Returns the config and the changes made (each also appended to `run.changes`). A `recipe` other than the
    run's own, or an override of a field outside RESUME_SAFE that differs from the saved value, is a usage error
    naming every such field.
    """
    old = configlib.load_config(PretrainConfig, saved, [])
    problems = []
    if recipe and old.run.recipe and Path(recipe).stem != Path(old.run.recipe).stem:
        problems.append(f"--recipe {recipe}: this run was created from {old.run.recipe} (resume reads its saved "
                        "config; drop --recipe)")
    new = configlib.load_config(PretrainConfig, saved, overrides)
    if new.train.steps != old.train.steps:  # --max-steps now gives the length, not the epochs the run started with
        new.train.epochs = 0.0
    changes = []
    for name, before, after in differences(old, new):
        if name.startswith("run.") or name == "init.sources":
            problems.append(f"{name} is written by the tool, not set")
        elif name in RESUME_SAFE:
            changes.append(f"step {step}: {name} {before} -> {after}")
        else:
            problems.append(f"{name}: the run has {before}, the flags say {after} (cannot change when resuming)")
    if problems:
        raise UsageError("; ".join(problems))
    new.run.changes = [*old.run.changes, *changes]
    return new, changes


def differences(a, b, prefix: str = "") -> list[tuple[str, object, object]]:
    """(dotted name, a's value, b's value) for every leaf field where two configs differ."""
    out = []
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(x):
            out += differences(x, y, name + ".")
        elif x != y:
            out.append((name, x, y))
    return out
