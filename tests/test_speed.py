"""What can be proven about speed on a CPU: a sync-free step, static shapes (one compiled graph), the bench."""

import json
import sys

import pytest
import torch

from electra_cli.pretraining.model import Electra, ModelConfig
from electra_cli.pretraining.train import maybe_compile
from tests.conftest import pretrain_args, run_cli
from tests.test_model import SMALL, VOCAB, batch


def test_training_steps_make_no_host_sync_outside_log_and_save_steps(tiny_shards, tmp_path, monkeypatch):
    """Every `.item()` / `bool(tensor)` / `.tolist()` our code makes is counted by the step it happens in."""
    from tests.sync_spy import install, steps_with_sync

    calls = []
    install(calls, monkeypatch.setattr)
    run = tmp_path / "run"
    result = run_cli(*pretrain_args(tiny_shards, run, 12, "--set", "train.log_every=6", "--set", "train.save_every=12"))
    assert result.exit_code == 0, result.output
    assert steps_with_sync(calls, 12) - {12} == {6}, calls[:5]


def test_static_shapes_one_compiled_graph_for_all_batches():
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = Electra(ModelConfig(**SMALL), VOCAB)
    compiled = maybe_compile(model, True, backend="aot_eager")
    with torch._dynamo.config.patch(error_on_recompile=True):
        for lengths in ([40, 40], [33, 12], [8, 40], [5, 6]):  # different real lengths, same padded shape
            out = compiled(**batch(lengths))
            out["loss"].backward()
    assert torch.isfinite(out["loss"])


def test_compile_falls_back_to_eager_on_failure(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    model = Electra(ModelConfig(**SMALL), VOCAB)
    assert maybe_compile(model, True) is model and "training eagerly" in caplog.text


def test_bench_command_reports_both_steps_and_the_ratio():
    result = run_cli("bench", "--recipe", "electra-tiny", "--vocab", "2000", "--steps", "2", "--micro-batch", "4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    for key in ("naive", "ours"):
        assert data[key]["steps_per_s"] > 0 and data[key]["tokens_per_s"] == pytest.approx(
            data[key]["steps_per_s"] * 4 * 128)
    assert data["ratio"] == pytest.approx(data["ours"]["steps_per_s"] / data["naive"]["steps_per_s"])
    assert data["flops_per_token"] > 0 and data["ours"]["mfu"] is None  # no peak known for a CPU


def test_ddp_with_the_compiled_model_and_gradient_accumulation(tiny_shards, tmp_path):
    """2 processes (gloo), torch.compile (aot_eager: the same graph capture as inductor, without codegen, so
    that CI stays fast), micro-batch 4 of 16 per step = 2 accumulation steps per process."""
    import subprocess

    run = tmp_path / "ddp-compiled"
    args = pretrain_args(tiny_shards, run, 6, "--compile", "--set", "train.compile_backend=aot_eager",
                         "--set", "train.micro_batch_size=4", "--set", "train.log_every=3")
    out = subprocess.run([sys.executable, "-m", "electra_cli", *args, "--num-processes", "2"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "training eagerly" not in out.stderr  # the compiled model was used
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"validation"' not in line]
    assert [m["step"] for m in metrics] == [3, 6] and all(m["loss"] > 0 for m in metrics)
    assert (run / "checkpoints" / "step-00000006" / "rng-rank001.pt").is_file()
