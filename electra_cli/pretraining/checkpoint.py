"""Checkpoints: atomic step folders, keep-last-K, resume, and export to Hugging Face folders.

A step folder holds everything needed to continue exactly: model weights (safetensors), optimizer and
scheduler state, the gradient scaler, every rank's RNG state, and state.json (step, tokens seen, shards and
vocab identity). It is written under a temporary name and renamed into place; COMPLETE is written last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from electra_cli.core.atomic import write_json_atomic, write_text_atomic
from electra_cli.core.console import log
from electra_cli.core.errors import DataError, UsageError

STEP_DIR = re.compile(r"^step-(\d{8})$")
COMPLETE = "COMPLETE"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
SCALER_FILE = "scaler.pt"
STATE_FILE = "state.json"
SHARDS_MANIFEST_COPY = "shards-manifest.json"  # the manifest of the shards trained on, for exports and checks
# added.json: an extended vocabulary's record of its published base and added tokens (vocab/extend.py)
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added.json")


def rng_file(rank: int) -> str:
    return f"rng-rank{rank:03d}.pt"


@dataclass
class TrainingState:
    """Progress that travels with a checkpoint."""

    step: int = 0  # optimizer steps done; also the data position (see data.TrainOrder)
    tokens_seen: int = 0  # non-pad tokens trained on, all ranks
    skipped_steps: int = 0  # steps skipped for a non-finite loss
    shards_sha256: str = ""  # identity of the shards manifest the run reads
    vocab_sha256: str = ""  # identity of the vocabulary


def step_dir(checkpoints: Path, step: int) -> Path:
    return Path(checkpoints) / f"step-{step:08d}"


def complete_checkpoints(checkpoints: Path) -> list[Path]:
    """Complete step folders, oldest first."""
    if not Path(checkpoints).is_dir():
        return []
    found = [p for p in Path(checkpoints).iterdir() if STEP_DIR.match(p.name) and (p / COMPLETE).is_file()]
    return sorted(found, key=lambda p: p.name)


def is_loadable(folder: Path) -> str | None:
    """None when the checkpoint looks whole, else why not (cheap: files present and sizes as recorded)."""
    if not (folder / COMPLETE).is_file():
        return f"no {COMPLETE} marker"
    try:
        sizes = json.loads((folder / COMPLETE).read_text())
    except ValueError:
        return f"{COMPLETE} marker unreadable"
    for name, size in sizes.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return f"{name} missing or truncated"
    ranks = saved_world(folder)
    if ranks and not all(rng_file(r) in sizes for r in range(ranks)):
        return "the RNG states listed are not those of ranks 0..N-1"
    return None


def saved_world(folder: Path) -> int:
    """How many processes saved this checkpoint (one RNG state each, listed in its COMPLETE marker)."""
    try:
        sizes = json.loads((Path(folder) / COMPLETE).read_text())
    except (OSError, ValueError):
        return 0
    return sum(1 for name in sizes if name.startswith("rng-rank"))


def world_change(folder: Path, saved: int, world: int, step: int) -> str | None:
    """What resuming with another number of processes means, in one line (None when it is the same)."""
    if not saved or saved == world:
        return None
    same = ("the data continues at step {step} in the same order (it depends on the seed, the step and the global "
            "batch only); the optimizer and the weights are the same").format(step=step)
    if world < saved:
        return (f"{folder} was saved by {saved} processes and is resumed by {world}: {same}; the random streams of "
                f"ranks {world}..{saved - 1} (masking, sampling, dropout) are dropped")
    return (f"{folder} was saved by {saved} processes and is resumed by {world}: {same}; ranks {saved}..{world - 1} "
            "start new random streams seeded from (seed, rank, step)")


def find_resume(checkpoints: Path, resume: str | None) -> Path | None:
    """`auto`: newest complete, loadable checkpoint (falling back past damaged ones), or None; else the PATH."""
    if resume is None:
        return None
    if resume != "auto":
        path = Path(resume)
        if not path.is_dir():
            raise UsageError(f"--resume {resume}: no such checkpoint folder")
        problem = is_loadable(path)
        if problem:
            raise DataError(f"{path}: not a loadable checkpoint ({problem})")
        return path
    for candidate in reversed(complete_checkpoints(checkpoints)):
        problem = is_loadable(candidate)
        if problem is None:
            return candidate
        log.warning("checkpoint %s is damaged (%s); falling back to the previous one", candidate, problem)
    return None


def save_checkpoint(
    folder: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    scaler,
    state: TrainingState,
    config_toml: str,
    rank: int,
    world: int,
    barrier,
    extra_files: dict[str, Path] | None = None,
) -> None:
    """Write a step folder atomically: every rank writes its RNG state, rank 0 the rest, then renames.

    `extra_files` (name -> source) are copied in, so that a checkpoint stands alone (tokenizer, shards manifest).
    """
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    if not tmp.is_dir():  # rank 0 made it: a machine that cannot see it does not share the run folder
        raise UsageError(f"{tmp}: made by rank 0 but not visible to rank {rank}; with several machines the run folder "
                         "(--out) must be on a filesystem every machine shares")
    torch.save(rng_state(), tmp / rng_file(rank))
    if rank == 0:
        save_model(model, str(tmp / MODEL_FILE))
        torch.save(optimizer.state_dict(), tmp / OPTIMIZER_FILE)
        torch.save(scheduler.state_dict(), tmp / SCHEDULER_FILE)
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / SCALER_FILE)
        write_json_atomic(tmp / STATE_FILE, asdict(state))
        write_text_atomic(tmp / "config.toml", config_toml)
        for name, source in (extra_files or {}).items():
            if Path(source).is_file():
                shutil.copy2(source, tmp / name)
    barrier()
    if rank == 0:
        for f in tmp.iterdir():  # make the bytes durable before the marker says they are there
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        sizes = {f.name: f.stat().st_size for f in sorted(tmp.iterdir())}
        missing = [r for r in range(world) if rng_file(r) not in sizes]
        if missing:  # the checkpoint is complete only with every rank's state in it
            raise UsageError(f"{tmp}: no state from rank(s) {missing}; with several machines the run folder (--out) "
                             "must be on a filesystem every machine shares")
        write_json_atomic(tmp / COMPLETE, sizes)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    barrier()


def prune_checkpoints(checkpoints: Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` complete checkpoints (and stale temporaries)."""
    complete = complete_checkpoints(checkpoints)
    for old in complete[: max(0, len(complete) - keep_last)]:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in Path(checkpoints).glob(".step-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)


def load_checkpoint(folder: Path, *, model, optimizer, scheduler, scaler, rank: int, seed: int) -> TrainingState:
    """Restore everything `save_checkpoint` wrote (weights_only loads: nothing in a checkpoint runs code).

    A rank the checkpoint has no RNG state for (it was saved by fewer processes) is seeded from (seed, rank,
    step), so that every rank still masks, samples and drops out differently.
    """
    folder = Path(folder)
    try:
        missing, unexpected = load_model(model, str(folder / MODEL_FILE), strict=False)
        if unexpected or [m for m in missing if not is_tied_alias(model, m)]:
            raise DataError(f"{folder}: weights do not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})")
        optimizer.load_state_dict(torch.load(folder / OPTIMIZER_FILE, weights_only=True, map_location="cpu"))
        scheduler.load_state_dict(torch.load(folder / SCHEDULER_FILE, weights_only=True))
        if scaler is not None and (folder / SCALER_FILE).is_file():
            scaler.load_state_dict(torch.load(folder / SCALER_FILE, weights_only=True))
        state = TrainingState(**json.loads((folder / STATE_FILE).read_text()))
        rng = folder / rng_file(rank)
        if rng.is_file():
            set_rng_state(torch.load(rng, weights_only=True))
        else:
            seed_rank(seed, rank, state.step)
            log.warning("%s has no RNG state for rank %d (saved by fewer processes); seeded from (seed %d, rank %d, "
                        "step %d)", folder, rank, seed, rank, state.step)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{folder}: cannot load checkpoint ({type(err).__name__}: {err})") from None
    return state


def is_tied_alias(model: torch.nn.Module, name: str) -> bool:
    """safetensors stores a shared tensor once; the other names it is known by come back as 'missing'."""
    tensors = dict(model.state_dict())
    target = tensors.get(name)
    return target is not None and any(
        other != name and t.data_ptr() == target.data_ptr() for other, t in tensors.items()
    )


def seed_rank(seed: int, rank: int, step: int) -> None:
    """Seed this process's torch RNGs (CPU and GPU) from (seed, rank, step): distinct streams per rank."""
    import numpy as np

    torch.manual_seed(int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0] >> 1))


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def copy_tokenizer(vocab_dir: Path, folder: Path) -> None:
    for name in TOKENIZER_FILES:
        source = Path(vocab_dir) / name
        if source.is_file():
            shutil.copy2(source, Path(folder) / name)
