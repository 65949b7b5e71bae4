"""Reliability promises, one test (or group) each; the README's "Guarantees" table lists them by name."""

import ast
import errno
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from electra_cli.pretraining.checkpoint import COMPLETE
from tests.conftest import flip_byte, pretrain_args, run_cli, write_text_corpus

PACKAGE = Path(__file__).resolve().parents[2] / "electra_cli"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "electra_cli", *map(str, args)]


def final_weights(run: Path, step: int) -> dict:
    return load_file(run / "checkpoints" / f"step-{step:08d}" / "model.safetensors")


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.fixture(scope="module")
def straight(tiny_shards, tmp_path_factory):
    """An uninterrupted 30-step run: the reference every interrupted run must reproduce bitwise."""
    run = tmp_path_factory.mktemp("straight") / "run"
    assert run_cli(*pretrain_args(tiny_shards, run, 30, "--set", "train.save_every=5")).exit_code == 0
    return run


# 1. Resume equals uninterrupted (also with accumulation and with 2 processes) ---------------------------

@pytest.mark.parametrize("extra", [[], ["--set", "train.micro_batch_size=4"]], ids=["plain", "accumulation"])
def test_resume_equals_uninterrupted(tiny_shards, tmp_path, extra):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(*pretrain_args(tiny_shards, a, 12, "--set", "train.save_every=4", *extra)).exit_code == 0
    assert run_cli(*pretrain_args(tiny_shards, b, 12, "--set", "train.save_every=4", "--set", "train.stop_at=4", *extra)).exit_code == 0
    assert run_cli(*pretrain_args(tiny_shards, b, 12, "--set", "train.save_every=4", "--resume", "auto", *extra)).exit_code == 0
    assert_same_weights(final_weights(a, 12), final_weights(b, 12))
    opt_a = torch.load(a / "checkpoints" / "step-00000012" / "optimizer.pt", weights_only=True)
    opt_b = torch.load(b / "checkpoints" / "step-00000012" / "optimizer.pt", weights_only=True)
    for key in opt_a["state"]:
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(opt_a["state"][key][name], opt_b["state"][key][name])


def test_resume_equals_uninterrupted_with_two_processes(tiny_shards, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--set", "train.save_every=4", "--num-processes", "2"]
    for run, extra in ((a, []), (b, ["--set", "train.stop_at=4"]), (b, ["--resume", "auto"])):
        out = subprocess.run(cli(*pretrain_args(tiny_shards, run, 8), *common, *extra), capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
    assert_same_weights(final_weights(a, 8), final_weights(b, 8))


# 2. kill -9 at random moments, then --resume auto --------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_kill_9_then_resume_auto_reaches_the_same_weights(tiny_shards, straight, tmp_path, trial):
    run = tmp_path / "killed"
    rng = random.Random(trial)
    # save_every=1 in the last trial: a checkpoint is being written almost all the time, so the kill lands in one
    save_every = "1" if trial == 2 else "5"
    args = cli(*pretrain_args(tiny_shards, run, 30, "--set", f"train.save_every={save_every}", "--set", "train.keep_last=2"))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoints").is_dir() or not any((run / "checkpoints").glob("step-*")):
        assert proc.poll() is None and time.time() < deadline, "run ended before its first checkpoint"
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(cli(*pretrain_args(tiny_shards, run, 30, "--set", "train.save_every=5", "--resume", "auto")),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_weights(final_weights(straight, 30), final_weights(run, 30))


# 3. SIGTERM: checkpoint saved, exit 143, resume continues exactly ------------------------------------------

def test_sigterm_saves_exits_143_and_resumes_exactly(tiny_shards, straight, tmp_path):
    run = tmp_path / "term"
    args = cli(*pretrain_args(tiny_shards, run, 30, "--set", "train.save_every=5", "--set", "train.log_every=1"))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while not metrics.is_file() or len(metrics.read_text().splitlines()) < 3:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    assert "terminated at step" in stderr and "--resume auto" in stderr
    saved = [p for p in (run / "checkpoints").iterdir() if (p / COMPLETE).is_file()]
    assert saved
    resumed = subprocess.run(cli(*pretrain_args(tiny_shards, run, 30, "--set", "train.save_every=5", "--resume", "auto")),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_weights(final_weights(straight, 30), final_weights(run, 30))


# 4. Non-finite loss: see tests/test_pretrain.py::test_non_finite_loss_is_skipped_then_stops -----------------

# 5. A corrupted newest checkpoint is detected; --resume auto falls back to the previous one -----------------

@pytest.mark.parametrize("damage", ["truncated", "no_complete"])
def test_damaged_newest_checkpoint_falls_back(tiny_shards, straight, tmp_path, damage, caplog):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(straight, run)
    newest = run / "checkpoints" / "step-00000030"
    if damage == "truncated":
        weights = newest / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        (newest / COMPLETE).unlink()
    result = run_cli(*pretrain_args(tiny_shards, run, 30, "--set", "train.save_every=5", "--resume", "auto"))
    assert result.exit_code == 0, result.output
    if damage == "truncated":
        assert "damaged" in caplog.text and "falling back" in caplog.text
    assert "resuming from" in caplog.text and "step-00000025" in caplog.text
    assert_same_weights(final_weights(straight, 30), final_weights(run, 30))


# 6. A flipped byte in a shard: caught by verify and by pretraining's start-up check --------------------------

def test_flipped_shard_byte_is_caught(tiny_shards, tmp_path):
    import shutil

    shards = tmp_path / "shards"
    shutil.copytree(tiny_shards, shards)
    shard = shards / "train-00000.arrow"
    data = flip_byte(shard, 1 / 3, 0x10)
    result = run_cli("verify", shards)
    assert result.exit_code == 3 and "train-00000.arrow" in result.output
    result = run_cli(*pretrain_args(shards, tmp_path / "run", 5, "--set", "data.verify=hashes"))
    assert result.exit_code == 3 and "train-00000.arrow" in result.output
    shard.write_bytes(data[:-100])  # truncation is caught by the default (sizes) check
    result = run_cli(*pretrain_args(shards, tmp_path / "run2", 5))
    assert result.exit_code == 3 and "train-00000.arrow" in result.output


# 7. Other vocab / other shards refused: see tests/test_pretrain.py::test_refusals ---------------------------

# 8. Hostile corpora: see tests/test_corpus.py, plus the cases below ------------------------------------------

def test_a_200_mb_line_is_skipped_with_bounded_memory(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as f:
        f.write(b"before\n\n")
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            f.write(chunk)
        f.write(b"\n\nafter\n")
    # VmHWM (peak RSS of this process image): ru_maxrss would include the pytest parent's peak, inherited by fork
    code = (
        "import re; from electra_cli.text.corpus import Corpus;"
        f"c = Corpus([{str(path)!r}]); docs = list(c.documents());"
        "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024;"
        "print(docs, dict(c.stats.skipped), hwm)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[['before'], ['after']]" in out and "'line_too_long': 1" in out
    assert int(out.split()[-1]) < 100  # MB: far below the 200 MB line (measured ~21)


def test_unreadable_folder_and_file_are_counted_not_fatal(tmp_path, monkeypatch):
    from electra_cli.text import corpus as corpus_module

    (tmp_path / "ok.txt").write_text("fine line\n")
    (tmp_path / "locked.txt").write_text("secret\n")
    real_open = open

    def guarded(path, *args, **kwargs):
        if str(path).endswith("locked.txt"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(corpus_module, "open", guarded, raising=False)
    c = corpus_module.Corpus([str(tmp_path)])
    assert list(c.documents()) == [["fine line"]] and c.stats.skipped["unreadable"] == 1
    monkeypatch.setattr(os, "walk", lambda top, onerror=None: (onerror(PermissionError(errno.EACCES, "denied", str(tmp_path / "sub"))), iter([(str(tmp_path), [], ["ok.txt"])]))[1])
    c = corpus_module.Corpus([str(tmp_path)], corpus_module.CorpusOptions())
    docs = list(c.documents())
    assert docs == [["fine line"]] and c.stats.skipped["unreadable"] == 1
    with pytest.raises(corpus_module.DataError, match="sub: unreadable"):
        list(corpus_module.Corpus([str(tmp_path)], corpus_module.CorpusOptions(strict=True)).documents())


# 9. Disk full during shard and during a checkpoint ------------------------------------------------------------

def test_disk_full_during_shard_leaves_nothing_that_looks_complete(tiny_shards, tmp_path):
    corpus = write_text_corpus(tmp_path / "c.txt", docs=3000)
    vocab = tiny_shards.parent / "vocab"
    out = tmp_path / "shards"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run(cli("shard", corpus, "--vocab", vocab, "--out", out, "--workers", "1", "--max-seq-len", "32"),
                          capture_output=True, text=True, preexec_fn=limit)
    assert proc.returncode == 1 and "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".shards.tmp-*"))  # no half-written shards folder


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tiny_shards, tmp_path, monkeypatch):
    from electra_cli.pretraining import checkpoint as ckpt

    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, path, *args, **kwargs):
        if str(path).endswith("optimizer.pt"):
            calls["n"] += 1
            if calls["n"] == 2:  # the second checkpoint hits a full disk
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", failing_save)
    run = tmp_path / "run"
    result = run_cli(*pretrain_args(tiny_shards, run, 20, "--set", "train.save_every=5"))
    assert result.exit_code == 1 and "No space left on device" in result.output
    complete = sorted(p.name for p in (run / "checkpoints").iterdir() if (p / COMPLETE).is_file())
    assert complete == ["step-00000005"]
    assert ckpt.is_loadable(run / "checkpoints" / "step-00000005") is None
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    result = run_cli(*pretrain_args(tiny_shards, run, 20, "--set", "train.save_every=5", "--resume", "auto"))
    assert result.exit_code == 0, result.output  # and the run continues from it


# 10. Loading is safe ---------------------------------------------------------------------------------------

def test_every_torch_load_is_weights_only_and_no_remote_code():
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        assert "trust_remote_code=True" not in source, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" and \
                    getattr(getattr(node.func, "value", None), "id", "") == "torch":
                kwargs = {k.arg: k.value for k in node.keywords}
                assert "weights_only" in kwargs and getattr(kwargs["weights_only"], "value", None) is True, \
                    f"{path}:{node.lineno}: torch.load without weights_only=True"


def test_model_weights_are_safetensors(straight):
    for folder in [*(straight / "checkpoints").iterdir(), straight / "final" / "discriminator", straight / "final" / "generator"]:
        names = {p.name for p in folder.iterdir()}
        assert "model.safetensors" in names and not any(n.endswith(".bin") for n in names), folder
