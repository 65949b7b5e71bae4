"""Several processes on CPU (gloo): every rank joins every collective, stops at the same step without a host
sync per step, and draws its own random stream after a resume with more processes than saved RNG states."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.conftest import TINY, pretrain_args, run_cli
from tests.sync_spy import steps_with_sync
from tests.test_trackers import read_scalars


def run_processes(args: list[str], env: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "electra_cli", *args, "--num-processes", "2"], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_evaluation_with_fewer_validation_rows_than_processes(tmp_path):
    """One validation row, two processes: rank 1 has nothing to evaluate and must still join the reduction."""
    corpus = tmp_path / "two-docs.txt"
    corpus.write_text("the big cat sees a dog near the tree .\n\nthe small bird likes a car under this house .\n")
    assert run_cli("vocab", corpus, "--out", tmp_path / "vocab", "--vocab-size", "60").exit_code == 0
    result = run_cli("shard", corpus, "--vocab", tmp_path / "vocab", "--out", tmp_path / "shards",
                     "--max-seq-len", "32", "--workers", "1", "--validation-fraction", "0.000001")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert manifest["splits"]["validation"]["rows"] == 1
    run = tmp_path / "run"
    out = run_processes(pretrain_args(tmp_path / "shards", run, 4, "--set", "train.eval_every=2",
                                      "--set", "train.log_every=2", "--report-to", "tensorboard"))
    assert out.returncode == 0, out.stderr[-3000:]
    validation = [json.loads(line)["validation"] for line in (run / "metrics.jsonl").read_text().splitlines()
                  if '"validation"' in line]
    assert [v["step"] for v in validation] == [2, 4] and all(v["disc_loss"] > 0 for v in validation)
    # only the main process logs to the trackers: one event file, each step once
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert [step for step, _ in read_scalars(run / "tensorboard")["validation/disc_loss"]] == [2, 4]


SPY = """
import atexit, json, os
if os.environ.get("SYNC_SPY_DIR") and os.environ.get("LOCAL_RANK") is not None:
    from tests.sync_spy import install
    calls = []
    install(calls)
    def dump():
        with open(os.path.join(os.environ["SYNC_SPY_DIR"], f"rank{os.environ['LOCAL_RANK']}.json"), "w") as f:
            json.dump(calls, f)
    atexit.register(dump)
"""


def test_two_processes_make_no_host_sync_outside_log_and_save_steps(tiny_shards, tmp_path):
    """The same spy as the one-process test, inside each rank (a sitecustomize on PYTHONPATH)."""
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    (spy_dir / "sitecustomize.py").write_text(SPY)
    repo = Path(__file__).resolve().parent.parent  # for `import tests.sync_spy` inside each rank
    env = {"SYNC_SPY_DIR": str(spy_dir), "PYTHONPATH": os.pathsep.join([str(spy_dir), str(repo)])}
    out = run_processes(pretrain_args(tiny_shards, tmp_path / "run", 12, "--set", "train.log_every=6",
                                      "--set", "train.save_every=12"), env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    for rank in (0, 1):
        calls = json.loads((spy_dir / f"rank{rank}.json").read_text())
        assert steps_with_sync(calls, 12) - {12} == {6}, (rank, calls[:5])


def test_ranks_without_a_saved_rng_state_get_their_own_streams(tiny_pretrained):
    """A checkpoint from one process, resumed by three: ranks 1 and 2 must not share one stream."""
    from electra_cli.core.schedule import lr_lambda
    from electra_cli.pretraining.checkpoint import load_checkpoint, seed_rank
    from electra_cli.pretraining.model import Electra, parameter_groups
    from electra_cli.pretraining.recipe import load_pretrain_config

    checkpoint = tiny_pretrained / "checkpoints" / "step-00000100"
    cfg = load_pretrain_config("electra-tiny", TINY)
    draws = {}
    for rank in (1, 2):
        torch.manual_seed(0)  # what set_seed leaves every rank with before loading
        model = Electra(cfg.model, json.loads((checkpoint / "shards-manifest.json").read_text())["vocab"]["size"])
        optimizer = torch.optim.AdamW(parameter_groups(model, 0.01))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(10, 100))
        load_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler, scaler=None, rank=rank,
                        seed=cfg.train.seed)
        draws[rank] = torch.rand(8)
        seed_rank(cfg.train.seed, rank, 100)
        assert torch.equal(draws[rank], torch.rand(8))  # seeded from (seed, rank, step): reproducible
    assert not torch.equal(draws[1], draws[2])
