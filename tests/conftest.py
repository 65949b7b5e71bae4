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
