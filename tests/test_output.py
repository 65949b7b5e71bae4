"""What a cluster job's log shows: plain progress lines without a terminal, the corpus summary once, a last
line naming the outputs, and no transformers load report."""

import os
import re
import subprocess
import sys

from transformers.utils import logging as hf_logging

from tests.conftest import run_cli, write_family_task, write_text_corpus


def electra_cli(*args, cwd):
    """The real console script's code path in a subprocess: stderr is a pipe, not a terminal."""
    env = {**os.environ, "ELECTRA_CLI_PROGRESS_SECONDS": "0"}  # a line at every progress update
    return subprocess.run([sys.executable, "-m", "electra_cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_vocab_and_shard_log_plain_progress_lines_and_end_naming_their_outputs(tmp_path):
    corpus = write_text_corpus(tmp_path / "corpus.txt", docs=300)
    vocab = electra_cli("vocab", corpus, "--out", "vocab", "--vocab-size", "30522", cwd=tmp_path)
    assert vocab.returncode == 0, vocab.stderr
    lines = vocab.stderr.splitlines()
    assert any(re.search(r" INFO vocab: reading [\d.]+ kB / [\d.]+ kB \(100%\), [\d.]+ [kMG]?B/s", line)
               for line in lines), vocab.stderr
    assert any("fewer than the 30,522 asked: the corpus ran out of merges" in line for line in lines)
    assert re.search(r" INFO wrote vocab: \d+ tokens, sha256 [0-9a-f]{12}$", lines[-1]), lines[-1]
    assert vocab.stderr.count("corpus read") == 1 and "first seen at" not in vocab.stderr

    shard = electra_cli("shard", corpus, "--vocab", "vocab", "--out", "shards", "--workers", "1", cwd=tmp_path)
    assert shard.returncode == 0, shard.stderr
    lines = shard.stderr.splitlines()
    assert any(re.search(r" INFO shard: tokenizing \+ packing [\d.]+ kB / [\d.]+ kB \(100%\), .*docs/s", line)
               for line in lines), shard.stderr
    assert re.search(r" INFO wrote shards: \d+ train \+ \d+ validation examples", lines[-1]), lines[-1]
    assert shard.stdout == "" and vocab.stdout == ""


def test_fine_tuning_shows_no_load_report(tiny_pretrained, tmp_path, capfd, monkeypatch):
    """The CLI, and the Python function called without the CLI's logging setup (a notebook)."""
    train, val = write_family_task(tmp_path / "task", n_train=40, n_val=10)
    model = tiny_pretrained / "final" / "discriminator"
    result = run_cli("finetune", "--model", model, "--train", train, "--validation", val, "--out", tmp_path / "a",
                     "--epochs", "1", "--lr", "1e-3")
    assert result.exit_code == 0, result.output
    assert "columns text='text', label='label'; labels animal, place" in result.output
    assert "wrote " + str(tmp_path / "a") in result.output.replace("\n", "")

    from electra_cli.finetuning.config import FinetuneConfig
    from electra_cli.tasks.dispatch import finetune

    monkeypatch.setattr(hf_logging, "_tqdm_active", True)  # as in a fresh process: bars on, warnings shown
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    try:
        finetune(FinetuneConfig(epochs=1, lr=1e-3), model, train, val, tmp_path / "b")
    finally:
        hf_logging.set_verbosity(verbosity)
    captured = capfd.readouterr()
    for text in (result.output, captured.out, captured.err):
        assert "LOAD REPORT" not in text and "newly initialized" not in text and "Loading weights" not in text


def test_every_command_ends_with_a_line_naming_its_outputs(tiny_pretrained, tiny_shards, tmp_path):
    def last_line(result):
        assert result.exit_code == 0, result.output
        return result.output.strip().splitlines()[-1]

    checkpoint = sorted((tiny_pretrained / "checkpoints").iterdir())[-1]
    line = last_line(run_cli("convert", checkpoint, "--out", tmp_path / "exported"))
    assert f"wrote {tmp_path / 'exported'}/discriminator and {tmp_path / 'exported'}/generator" in line
    line = last_line(run_cli("convert", tmp_path / "exported" / "generator", "--out", tmp_path / "copy"))
    assert f"wrote {tmp_path / 'copy'}: " in line and "ElectraForMaskedLM" in line
    assert f"match {tiny_shards}/manifest.json" in last_line(run_cli("verify", tiny_shards))
    train, val = write_family_task(tmp_path / "task", n_train=20, n_val=10)
    line = last_line(run_cli("finetune", "--model", tiny_pretrained / "final" / "discriminator", "--train", train,
                             "--validation", val, "--out", tmp_path / "ft", "--epochs", "1", "--lr", "1e-3"))
    assert f"wrote {tmp_path / 'ft'}: " in line
    line = last_line(run_cli("predict", "--model", tmp_path / "ft", val, "--out", tmp_path / "p.jsonl"))
    assert line.endswith(f"wrote {tmp_path / 'p.jsonl'}: 10 predictions")
