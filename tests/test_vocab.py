"""`electra-cli vocab` end to end: the folder contract, the three loaders agreeing, exit codes, determinism."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from transformers import AutoTokenizer, BertTokenizer, ElectraTokenizerFast

from electra_cli.core.atomic import sha256_file
from electra_cli.vocab.load import load_vocab_manifest
from electra_cli.vocab import train as vocab_train
from electra_cli.vocab.continuations import ContinuationScanner
from electra_cli.vocab.train import canonical_order
from electra_cli.vocab.wordpiece import SPECIAL_TOKENS, new_tokenizer
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


MIXED_LINES = ("Naïve café owners in São Paulo. Straße und Größe. Ωμέγα και ΣΑΣ. İstanbul'da. ﬁne ½ 3rd x\x01y\n"
         "中文字符和english混合。日本語のテキスト「かな」と한국어 텍스트. CamelCase iPhone eBay snake_case a1b2\n")


def test_same_vocab_in_every_process(tmp_path):
    """tokenizers' trainer numbers the `##` characters in a per-process hash order, which decides tied merges;
    fixing their ids first (vocab/continuations.py) gives the same vocab.txt in fresh processes, any hash seed."""
    corpus = write_text_corpus(tmp_path / "c.txt", docs=1500, seed=11)
    with open(corpus, "a", encoding="utf-8") as f:
        f.write("\n" + MIXED_LINES * 3)
    digests, outputs = set(), []
    for seed in ("0", "1", "2", "random"):
        out = tmp_path / seed
        cmd = [sys.executable, "-m", "electra_cli", "vocab", str(corpus), "--out", str(out), "--vocab-size", "400"]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr
        assert "may differ in another run" not in done.stdout + done.stderr
        digests.add(hashlib.sha256((out / "vocab.txt").read_bytes()).hexdigest())
        outputs.append((out / "vocab.txt").read_text().splitlines())
    assert len(digests) == 1, digests
    vocab = outputs[0]
    assert vocab[:5] == SPECIAL_TOKENS and "##ß" in vocab and "##ς" not in vocab  # cased letters lowercased
    assert "中" in vocab and "##中" not in vocab and "##キ" in vocab  # Chinese characters are words of their own


def test_continuation_scan_matches_the_trainers_own_pipeline():
    """The scan finds exactly the characters that BERT's normalizer + pre-tokenizer put after a word's first."""
    texts = [MIXED_LINES, "tab\tsep\x0bz vertical\x0ctab ÀÉÎ ǅungla ΣΑΣ", write_text_corpus.__doc__ or "", "αβγ-δε ab.cd"]
    for lowercase in (True, False):
        tokenizer = new_tokenizer(lowercase)
        expected = set()
        for text in texts:
            for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text)):
                expected.update(word[1:])
        scanner = ContinuationScanner(lowercase)
        for text in texts:
            scanner.add(text)
        assert scanner.characters == sorted(expected), lowercase


def test_held_text_spills_to_a_file_and_trains_the_same(tmp_path, monkeypatch):
    corpus = write_text_corpus(tmp_path / "c.txt", docs=300, seed=7)
    assert run_cli("vocab", corpus, "--out", tmp_path / "a", "--vocab-size", "150").exit_code == 0
    monkeypatch.setattr(vocab_train, "HELD_TEXT_BYTES", 2000)  # all but the first batches go through a temp file
    assert run_cli("vocab", corpus, "--out", tmp_path / "b", "--vocab-size", "150").exit_code == 0
    assert (tmp_path / "a" / "vocab.txt").read_bytes() == (tmp_path / "b" / "vocab.txt").read_bytes()
    with vocab_train.HeldText(limit=10) as held:
        for text in ("first\nlines", "second", "third\nfourth"):
            held.append(text)
        assert held.file is not None and "\n".join(held) == "first\nlines\nsecond\nthird\nfourth\n"
        name = held.file.name
    assert not os.path.exists(name)


def test_a_limited_alphabet_drops_the_unused_continuations(tmp_path):
    corpus = write_text_corpus(tmp_path / "c.txt", docs=300, seed=7)
    assert run_cli("vocab", corpus, "--out", tmp_path / "v", "--vocab-size", "150", "--limit-alphabet", "12").exit_code == 0
    vocab = (tmp_path / "v" / "vocab.txt").read_text().splitlines()
    singles = {t for t in vocab if len(t) == 1}
    assert len(singles) == 12 and all(t[2:] in singles for t in vocab if len(t) == 3 and t.startswith("##"))


def test_canonical_order_is_independent_of_input_order():
    tokens = ["##b", "[UNK]", "ab", "a", "[PAD]", "##ab", "b", "[CLS]", "[SEP]", "[MASK]"]
    expected = SPECIAL_TOKENS + ["a", "b", "##b", "ab", "##ab"]
    assert canonical_order(tokens) == expected
    assert canonical_order(list(reversed(tokens))) == expected
