"""Shared fixtures: the real CLI entry point, and tiny corpora written into tmp folders."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from electra_cli.cli import app

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

WORDS = (
    "the a of and to in is was for on that with as by at from his her it an were are which this be or has had "
    "not but their one all new two first after also been other who its into more when time than can there "
    "city river music game season film school war team world government people year party station company "
    "played became built known located population album released university north south village county"
).split()


def flip_byte(path: Path, fraction: float, mask: int) -> bytes:
    """Flip bits `mask` of the byte at `fraction` of `path`; returns the new contents."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * fraction)] ^= mask
    path.write_bytes(bytes(data))
    return bytes(data)


def run_cli(*args: str, input: str | None = None):
    """Invoke the Typer app like a user would; returns click's Result (exit_code, output)."""
    return CliRunner().invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def make_sentences(rng: random.Random, n: int, min_words: int = 4, max_words: int = 14) -> list[str]:
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(min_words, max_words))]
        out.append(" ".join(words).capitalize() + ".")
    return out


def write_text_corpus(path: Path, docs: int = 50, seed: int = 0, sentences: tuple[int, int] = (2, 8)) -> Path:
    """Plain text: one sentence per line, blank line between documents."""
    rng = random.Random(seed)
    blocks = ["\n".join(make_sentences(rng, rng.randint(*sentences))) for _ in range(docs)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def text_corpus(tmp_path: Path) -> Path:
    return write_text_corpus(tmp_path / "corpus" / "wiki.txt", docs=60)


GRAMMAR = {
    "det": "the a this that every".split(),
    "adj": "big small red green old young quick lazy bright dark".split(),
    "noun": "cat dog bird fish horse river city house tree car".split(),
    "verb": "sees chases likes finds watches follows hears paints".split(),
    "prep": "near behind under above beside".split(),
}


def grammar_sentence(rng: random.Random) -> str:
    """A sentence with strong local structure (det adj noun verb det noun prep det noun), so that a replaced
    word is detectable from its neighbours: what a tiny discriminator can learn in a few hundred steps."""
    g = GRAMMAR
    words = [rng.choice(g["det"]), rng.choice(g["adj"]), rng.choice(g["noun"]), rng.choice(g["verb"]),
             rng.choice(g["det"]), rng.choice(g["noun"]), rng.choice(g["prep"]), rng.choice(g["det"]),
             rng.choice(g["noun"])]
    return " ".join(words) + " ."


def write_grammar_corpus(path: Path, docs: int = 400, seed: int = 0) -> Path:
    rng = random.Random(seed)
    blocks = ["\n".join(grammar_sentence(rng) for _ in range(rng.randint(3, 8))) for _ in range(docs)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory) -> Path:
    """vocab + shards (max_seq_len 32) of the grammar corpus, built once through the real CLI."""
    tmp = tmp_path_factory.mktemp("tiny")
    corpus = write_grammar_corpus(tmp / "corpus.txt", docs=600)
    assert run_cli("vocab", corpus, "--out", tmp / "vocab", "--vocab-size", "200").exit_code == 0
    result = run_cli("shard", corpus, "--vocab", tmp / "vocab", "--out", tmp / "shards", "--max-seq-len", "32",
                     "--workers", "1", "--validation-fraction", "0.05")
    assert result.exit_code == 0, result.output
    return tmp / "shards"


# A model small enough for many CPU test runs: (--set overrides on top of the electra-tiny recipe)
TINY = ["model.layers=2", "model.hidden=64", "model.embedding=32", "model.heads=2", "model.generator_multiplier=0.5",
        "model.max_position=64", "data.max_seq_len=32", "train.batch_size=16", "train.log_every=10",
        "train.eval_every=0", "train.eval_batches=2", "optim.warmup_steps=10"]


def pretrain_args(shards: Path, out: Path, steps: int, *extra: str) -> list[str]:
    args = ["pretrain", "--shards", str(shards), "--out", str(out), "--recipe", "electra-tiny", "--max-steps", str(steps)]
    for override in TINY:
        args += ["--set", override]
    return args + list(extra)


FAMILY_A = "cat dog bird fish horse".split()
FAMILY_B = "river city house tree car".split()
FILLER = "the a this that sees chases near behind big small".split()


def family_example(rng: random.Random) -> tuple[str, str]:
    """Label 'animal' or 'place' by which word family dominates the text: learnable, but not from one word."""
    n_a = rng.randint(0, 6)
    n_b = rng.choice([k for k in range(0, 7) if k != n_a])
    words = [rng.choice(FAMILY_A) for _ in range(n_a)] + [rng.choice(FAMILY_B) for _ in range(n_b)]
    words += [rng.choice(FILLER) for _ in range(rng.randint(2, 6))]
    rng.shuffle(words)
    return " ".join(words), "animal" if n_a > n_b else "place"


def write_family_task(folder: Path, n_train: int = 400, n_val: int = 120, seed: int = 0) -> tuple[Path, Path]:
    """A CSV train file and a JSONL validation file of the word-family task."""
    import csv
    import json

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    train, val = folder / "train.csv", folder / "validation.jsonl"
    with open(train, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for _ in range(n_train):
            writer.writerow(family_example(rng))
    with open(val, "w") as f:
        for _ in range(n_val):
            text, label = family_example(rng)
            f.write(json.dumps({"text": text, "label": label}) + "\n")
    return train, val


@pytest.fixture(scope="session")
def tiny_pretrained(tiny_shards, tmp_path_factory) -> Path:
    """A pretrained tiny run (100 steps); its final/discriminator and final/generator are HF folders."""
    run = tmp_path_factory.mktemp("pretrained") / "run"
    result = run_cli(*pretrain_args(tiny_shards, run, 100, "--set", "train.save_every=50"))
    assert result.exit_code == 0, result.output
    return run



@pytest.fixture
def fresh_accelerator_state():
    """Let this test's Accelerator choose its own mixed precision: Accelerate keeps the first one of a process
    (a singleton), so it is cleared before the test and again after it."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
