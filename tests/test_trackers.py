"""`--report-to`: TensorBoard events read back with tensorboard's own reader, W&B offline, missing packages, a
tracker failing mid-run. Runs are the tiny model of conftest (seconds each)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from electra_cli.core.errors import UsageError
from electra_cli.watching.trackers import (
    Trackers,
    flatten_scalars,
    hyperparameters,
    parse_report_to,
)
from tests.conftest import pretrain_args, run_cli


def read_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in `folder`'s event files as (step, value) pairs, as TensorBoard shows them (orphaned
    events of an earlier attempt purged)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def metrics(run) -> tuple[list[dict], list[dict]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "validation" not in r], [r["validation"] for r in records if "validation" in r]


def test_tensorboard_holds_every_metric_and_a_resumed_run_repeats_no_step(tiny_shards, tmp_path):
    run = tmp_path / "run"
    args = pretrain_args(tiny_shards, run, 40, "--report-to", "tensorboard", "--set", "train.eval_every=20",
                         "--set", "train.save_every=20")
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    assert f"tensorboard --logdir {run / 'tensorboard'}" in result.output
    scalars = read_scalars(run / "tensorboard")
    train, validation = metrics(run)
    for name in ("loss", "gen_loss", "disc_loss", "disc_loss_ratio", "disc_auc", "gen_acc", "lr", "grad_norm",
                 "tokens_per_s", "tokens_seen", "elapsed_s"):
        assert [s for s, _ in scalars[f"train/{name}"]] == [10, 20, 30, 40], name
        assert [v for _, v in scalars[f"train/{name}"]] == pytest.approx([r[name] for r in train], rel=1e-6), name
    for name in ("loss", "disc_loss_ratio", "disc_auc", "gen_acc"):
        assert [s for s, _ in scalars[f"validation/{name}"]] == [20, 40], name
        assert [v for _, v in scalars[f"validation/{name}"]] == pytest.approx([r[name] for r in validation], rel=1e-6)
    assert "train/step" not in scalars and "train/mfu" not in scalars  # the x axis, and None on a CPU
    hparams = next((run / "tensorboard").glob("*/hparams.yml")).read_text()
    assert "optim.lr" in hparams and "model.layers: 2" in hparams

    # The run died after logging steps 30 and 40 but before its step-40 checkpoint was complete: resuming from
    # step 20 logs 30 and 40 again; TensorBoard must show each step once, the resumed run's values.
    shutil.rmtree(run / "checkpoints" / "step-00000040")
    shutil.rmtree(run / "final")
    result = run_cli(*args, "--resume", "auto")
    assert result.exit_code == 0, result.output
    scalars = read_scalars(run / "tensorboard")
    train, validation = metrics(run)
    assert [r["step"] for r in train] == [10, 20, 30, 40, 30, 40]  # metrics.jsonl keeps both attempts
    for name in ("loss", "elapsed_s", "tokens_per_s"):
        assert [s for s, _ in scalars[f"train/{name}"]] == [10, 20, 30, 40], name
        # steps 30 and 40: the resumed attempt's figures (its elapsed time and speed differ from the first's)
        assert [v for _, v in scalars[f"train/{name}"]] == pytest.approx([r[name] for r in train[:2] + train[4:]],
                                                                          rel=1e-6), name
    assert [s for s, _ in scalars["validation/loss"]] == [20, 40]


def test_wandb_offline_writes_its_run_folder_and_respects_its_environment(tiny_shards, tmp_path, monkeypatch):
    wandb_dir = tmp_path / "wandb-home"
    wandb_dir.mkdir()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_PROJECT", "electra-cli-test-project")
    run = tmp_path / "wandb-run"
    result = run_cli(*pretrain_args(tiny_shards, run, 20, "--report-to", "wandb", "--set", "train.eval_every=10"))
    assert result.exit_code == 0, result.output
    run_id = (run / "wandb-run-id").read_text().strip()
    folders = list((wandb_dir / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(folders) == 1, list((wandb_dir / "wandb").iterdir())
    data = (folders[0] / f"run-{run_id}.wandb").read_bytes()  # the run's records (protobuf; strings are plain)
    for expected in (b"electra-cli-test-project", b"wandb-run", b"train/disc_loss_ratio", b"validation/disc_auc",
                     b"optim.lr"):
        assert expected in data, expected
    assert not (run / "tensorboard").exists() and not (run / "wandb").exists()  # WANDB_DIR wins over RUN/wandb


def test_report_to_parsing_and_a_missing_package(tiny_shards, tmp_path, monkeypatch):
    assert parse_report_to(["tensorboard,wandb"]) == ["tensorboard", "wandb"]
    assert parse_report_to(["wandb", "tensorboard", "wandb"]) == ["wandb", "tensorboard"]
    assert parse_report_to(["none"]) == [] and parse_report_to(None) == []
    with pytest.raises(UsageError, match="unknown tracker"):
        parse_report_to(["tensorbored"])
    with pytest.raises(UsageError, match="cannot be combined"):
        parse_report_to(["none,wandb"])

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` now raises ImportError
    run = tmp_path / "run"
    result = run_cli(*pretrain_args(tiny_shards, run, 20, "--report-to", "wandb,tensorboard"))
    assert result.exit_code == 2, result.output
    assert "pip install 'electra-cli[tensorboard]'" in result.output and "Traceback" not in result.output
    assert not (run / "metrics.jsonl").exists()  # refused before any training


def test_a_tracker_failing_mid_run_is_reported_once_and_training_goes_on(tiny_shards, tmp_path, monkeypatch):
    from accelerate.tracking import TensorBoardTracker

    calls = []

    def broken(self, values, step=None, **kwargs):
        calls.append(step)
        raise OSError("disk full")

    monkeypatch.setattr(TensorBoardTracker, "log", broken)
    run = tmp_path / "run"
    result = run_cli(*pretrain_args(tiny_shards, run, 30, "--report-to", "tensorboard"))
    assert result.exit_code == 0, result.output
    assert calls == [10]  # switched off after its first failure
    assert result.output.count("--report-to tensorboard: log failed (OSError: disk full)") == 1
    train, _ = metrics(run)
    assert [r["step"] for r in train] == [10, 20, 30] and (run / "final" / "discriminator").is_dir()


def test_log_values_and_hyperparameters_are_flat_scalars():
    assert flatten_scalars({"train": {"loss": 1.5, "mfu": None, "note": "x", "nan": float("nan")}, "ok": True,
                            "seed-1": {"validation": {"accuracy": 0.5}}}) == {"train/loss": 1.5,
                                                                             "seed-1/validation/accuracy": 0.5}
    assert hyperparameters({"model": {"layers": 2, "objective": "electra"}, "init": {"sources": ["a", "b"]},
                            "run": {"changes": [], "x": None}}) == {
        "model.layers": 2, "model.objective": "electra", "init.sources": "a, b", "run.changes": ""}
    assert not Trackers() and Trackers().log({"a": 1.0}, step=1) is None  # no tracker: nothing to do


def test_a_tracker_that_cannot_start_is_left_out(tiny_shards, tmp_path, monkeypatch):
    from accelerate.tracking import TensorBoardTracker

    def refuse(self):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(TensorBoardTracker, "start", refuse)
    run = tmp_path / "run"
    result = run_cli(*pretrain_args(tiny_shards, run, 10, "--report-to", "tensorboard"))
    assert result.exit_code == 0, result.output
    assert "--report-to tensorboard: could not start (PermissionError: read-only file system)" in result.output
    assert len(metrics(run)[0]) == 1


def test_the_api_as_fine_tuning_uses_it(tmp_path):
    """One set of trackers over several seeds (fine-tuning builds an Accelerator per seed): nested values."""
    from electra_cli.watching.trackers import open_trackers

    with open_trackers("tensorboard", tmp_path, "ft", {"lr": 1e-3, "seeds": [1, 2]}) as trackers:
        for seed in (1, 2):
            for epoch in (1, 2, 3):
                trackers.log({f"seed-{seed}": {"validation": {"accuracy": seed / 10 + epoch / 100}}}, step=epoch)
    trackers.log({"late": 1.0}, step=4)  # after close: nothing, no error
    scalars = read_scalars(tmp_path / "tensorboard")
    assert scalars["seed-2/validation/accuracy"] == [(1, pytest.approx(0.21)), (2, pytest.approx(0.22)),
                                                     (3, pytest.approx(0.23))]
    assert open_trackers(["tensorboard"], tmp_path / "other", "ft", {}, main_process=False).trackers == {}
    assert not (tmp_path / "other").exists()  # other processes write nothing


def test_the_progress_line_shows_the_last_validation():
    from electra_cli.pretraining.train import progress_line

    record = {"loss": 20.5, "disc_loss": 0.35, "disc_entropy": 0.39, "disc_loss_ratio": 0.897, "gen_acc": 0.25,
              "tokens_per_s": 51234.0}
    assert progress_line(record) == ("loss 20.500 | disc 0.350 vs plateau 0.390 (ratio 0.90) | gen acc 0.25 | "
                                     "51,234 tok/s")
    line = progress_line(record, {"disc_loss_ratio": 0.85, "disc_auc": 0.712, "step": 500})
    assert line.endswith("| val ratio 0.85 AUC 0.71 @ 500")
    mlm = {"loss": 4.1, "gen_acc": 0.3, "tokens_per_s": 10.0}
    assert progress_line(mlm, {"gen_loss": 4.0, "step": 20}).endswith("| val gen loss 4.000 @ 20")
