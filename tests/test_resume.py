"""`--resume auto` continues the run it finds: its own recipe and overrides, safe changes recorded, others refused."""

import json
import subprocess
import sys

from safetensors.torch import load_file

from electra_cli.core import config as configlib
from electra_cli.pretraining.recipe import PretrainConfig
from tests.conftest import pretrain_args, run_cli


def final_weights(run):
    return load_file(run / "final" / "discriminator" / "model.safetensors")


def test_resume_without_recipe_or_max_steps_continues_the_same_run(tiny_shards, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    result = run_cli(*pretrain_args(tiny_shards, straight, 20, "--set", "train.save_every=10", "--verbose"))
    assert result.exit_code == 0, result.output
    assert "model.intermediate" in result.output and "256 (4 x hidden)" in result.output  # zeros resolved
    result = run_cli(*pretrain_args(tiny_shards, split, 20, "--set", "train.save_every=10", "--set", "train.stop_at=10"))
    assert result.exit_code == 0 and not (split / "final").exists()
    assert "pretrain: electra-tiny (electra, 2 layers x 64 hidden)" in " ".join(result.output.split())
    assert "model.intermediate" not in result.output  # one line by default, not the 40-row table
    # only the inputs and --resume: not the recipe (electra-small would be the default), not --max-steps
    result = run_cli("pretrain", "--shards", tiny_shards, "--out", split, "--resume", "auto")
    assert result.exit_code == 0, result.output
    a, b = final_weights(straight), final_weights(split)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # exactly the straight run
    saved = configlib.load_config(PretrainConfig, split / "config.toml", [])
    assert saved.train.steps == 20 and saved.run.recipe == "electra-tiny" and saved.run.changes == []

    # a finished run says so and leaves its exports alone
    before = (split / "final" / "discriminator" / "model.safetensors").stat().st_mtime_ns
    result = run_cli("pretrain", "--shards", tiny_shards, "--out", split, "--resume", "auto")
    assert result.exit_code == 0 and "is finished (step 20 of 20)" in result.output
    assert (split / "final" / "discriminator" / "model.safetensors").stat().st_mtime_ns == before

    # extending is safe: said in one line and recorded with the step it changed at
    result = run_cli("pretrain", "--shards", tiny_shards, "--out", split, "--resume", "auto", "--max-steps", "30")
    assert result.exit_code == 0, result.output
    assert "train.steps 20 -> 30" in result.output
    saved = configlib.load_config(PretrainConfig, split / "config.toml", [])
    assert saved.train.steps == 30 and saved.run.changes == ["step 20: train.steps 20 -> 30"]
    state = json.loads(sorted((split / "checkpoints").iterdir())[-1].joinpath("state.json").read_text())
    assert state["step"] == 30


def test_resume_refuses_a_conflicting_flag_or_recipe(tiny_shards, tmp_path):
    run = tmp_path / "run"
    assert run_cli(*pretrain_args(tiny_shards, run, 10, "--set", "train.stop_at=5", "--set", "train.save_every=5")).exit_code == 0
    result = run_cli("pretrain", "--shards", tiny_shards, "--out", run, "--resume", "auto",
                     "--set", "model.layers=3", "--set", "optim.lr=1e-3")
    assert result.exit_code == 2
    assert "model.layers: the run has 2, the flags say 3" in result.output and "optim.lr" in result.output
    assert "Traceback" not in result.output
    result = run_cli("pretrain", "--shards", tiny_shards, "--out", run, "--resume", "auto", "--recipe", "electra-small")
    assert result.exit_code == 2 and "created from electra-tiny" in result.output
    # repeating the run's own command line is fine
    result = run_cli(*pretrain_args(tiny_shards, run, 10, "--set", "train.stop_at=5", "--set", "train.save_every=5",
                                    "--resume", "auto"))
    assert result.exit_code == 0, result.output


def test_without_a_terminal_pretrain_prints_progress_lines_an_eta_warning_and_a_final_line(tiny_shards, tmp_path):
    """As under nohup or SLURM: stdout/stderr are files, so no progress bar; log lines instead."""
    run = tmp_path / "run"
    args = pretrain_args(tiny_shards, run, 12, "--set", "train.log_every=4")
    out = subprocess.run([sys.executable, "-m", "electra_cli", *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    text = " ".join(out.stderr.split())  # rich wraps long lines at the console width
    for step in (4, 8, 12):
        assert f"step {step}/12 | loss" in text
    assert "ETA" in text and "vs plateau" in text and "tok/s" in text
    assert f"pretrain: done at step 12; discriminator and generator in {run / 'final'}" in text
    # a schedule far longer than a CPU session: said up front, with the ETA the first steps imply, and it goes on
    long = tmp_path / "long"
    args = pretrain_args(tiny_shards, long, 50_000_000, "--set", "train.stop_at=5", "--set", "train.save_every=5")
    out = subprocess.run([sys.executable, "-m", "electra_cli", *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    text = " ".join(out.stderr.split())
    assert "on a CPU at" in text and "would take" in text and "--recipe electra-tiny" in text
