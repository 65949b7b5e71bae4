"""Packing that keeps the corpus (`shard --overflow carry`, the default) and the reference's (`--overflow truncate`).

The reference mode's shards are pinned by sha256: the digests below were computed by the code before `carry`
existed, on a fixed corpus and a fixed vocabulary built here, so any change to the reference's output fails.
"""

import hashlib
import itertools
import json
import random
from collections import Counter

import pytest

from electra_cli.core.atomic import write_json_atomic
from electra_cli.shards.write import CLS_ID, SEP_ID, pack_document
from electra_cli.vocab.train import write_tokenizer_folder
from electra_cli.vocab.wordpiece import SPECIAL_TOKENS, add_post_processor, new_tokenizer
from tests.conftest import WORDS, make_sentences, run_cli

# sha256 of each shard file written by `shard` (reference behaviour) before --overflow existed: see fixed_inputs.
REFERENCE_SHARDS = {
    "train-00000.arrow": "9385ace37a086f3cb22171163534df87581371dd6b2dd982d3490ebbc05e98a7",
    "train-00001.arrow": "c4a61b6f13d98abb9e04a07b9ec935e0d85b868efb5e20d27ad6cb257efd2bd4",
    "train-00002.arrow": "1deddb7cb1307871b95576bd8c9a2b64e3e9eebc4e3af11a86d55ed443a790ee",
    "validation-00000.arrow": "ff489cd67c316555e108c8f22a3b4fdda7ce305188b8153315b3747abd5db651",
}


PIECED = {"population", "government", "university", "released", "located", "station", "company", "season"}


def write_fixed_vocab(folder):
    """A vocab folder from a fixed token list (the trainer's output is not needed, and would vary); the words of
    PIECED are left out, so they are tokenized into `##` pieces."""
    chars = "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"()-"
    tokens = SPECIAL_TOKENS + list(chars) + [f"##{c}" for c in chars if c.isalnum()] + sorted(set(WORDS) - PIECED)
    tokens += ["##s", "##ed", "##ing", "##er"]
    tokenizer = new_tokenizer(True, {t: i for i, t in enumerate(dict.fromkeys(tokens))})
    add_post_processor(tokenizer)
    folder.mkdir(parents=True)
    write_json_atomic(folder / "vocab.json", write_tokenizer_folder(tokenizer, folder, True))
    return folder


def write_fixed_corpus(path, seed=29):
    """Sentence-per-line documents, paragraph-per-line documents and a few lines longer than an example."""
    rng = random.Random(seed)
    docs = []
    for i in range(120):
        if i % 3 == 0:
            docs.append("\n".join(make_sentences(rng, rng.randint(1, 8))))
        elif i % 3 == 1:
            docs.append("\n".join(" ".join(make_sentences(rng, rng.randint(2, 7), 6, 20)) for _ in range(4)))
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(40, 200))]
            docs.append(" ".join(words) + "\n" + " ".join(make_sentences(rng, 3)))
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fixed_inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("packing")
    return write_fixed_corpus(tmp / "corpus.txt"), write_fixed_vocab(tmp / "vocab")


def shard(corpus, vocab, out, *extra):
    result = run_cli("shard", corpus, "--vocab", vocab, "--out", out, "--max-seq-len", "32", "--rows-per-shard",
                     "300", "--validation-fraction", "0.05", *extra)
    assert result.exit_code == 0, result.output
    return json.loads((out / "manifest.json").read_text()), result.output


def shard_digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.arrow"))}


def test_reference_mode_keeps_the_output_byte_for_byte(fixed_inputs, tmp_path):
    corpus, vocab = fixed_inputs
    manifest, output = shard(corpus, vocab, tmp_path / "s", "--workers", "2", "--overflow", "truncate")
    assert shard_digests(tmp_path / "s") == REFERENCE_SHARDS
    assert manifest["packing"]["overflow"] == "truncate"
    ex = manifest["examples"]
    dropped = ex["truncated_tokens"]
    assert dropped > 0.05 * ex["input_tokens"]  # the fixed corpus overshoots often: the pin means something
    kept = ex["input_tokens"] - dropped
    assert f"kept {kept:,} of the corpus' {ex['input_tokens']:,} tokens ({kept / ex['input_tokens']:.1%}), " \
           f"dropped {dropped:,}" in " ".join(output.split())


@pytest.mark.parametrize("overflow", ["carry", "truncate"])
def test_byte_identical_for_any_worker_count_in_both_modes(fixed_inputs, tmp_path, overflow):
    corpus, vocab = fixed_inputs
    for workers in ("1", "2"):
        shard(corpus, vocab, tmp_path / workers, "--workers", workers, "--overflow", overflow)
    assert shard_digests(tmp_path / "1") == shard_digests(tmp_path / "2")
    assert (tmp_path / "1" / "manifest.json").read_text().replace(str(tmp_path / "1"), "") == \
        (tmp_path / "2" / "manifest.json").read_text().replace(str(tmp_path / "2"), "").replace('"../2"', '"../1"')


def test_carry_keeps_every_token_of_paragraphs_of_long_sentences(fixed_inputs, tmp_path):
    """The default: the fixed corpus (paragraphs of 6-20 word sentences, long lines) at 32 tokens per example."""
    corpus, vocab = fixed_inputs
    manifest, output = shard(corpus, vocab, tmp_path / "s", "--workers", "1")
    ex = manifest["examples"]
    assert manifest["packing"]["overflow"] == "carry"
    assert ex["input_tokens"] == 30147  # the same corpus' tokens as in the reference mode ...
    assert (ex["input_tokens"] - ex.get("truncated_tokens", 0)) / ex["input_tokens"] >= 0.99  # ... all kept
    assert ex.get("truncated_tokens", 0) == 0 and ex["carried_sentences"] > 100
    rows = [row for split in ("train", "validation") for row in rows_of(tmp_path / "s", manifest, split)]
    assert sum(len(r) - 1 - r.count(3) for r in rows) == ex["input_tokens"]  # content = every token once
    assert "kept 30,147 of the corpus' 30,147 tokens (100.0%), dropped 0 (0.0%)" in " ".join(output.split())
    # the 5% short targets and the 10% single-segment draws stay as they are
    assert 0.02 < ex["short_target"] / ex["examples"] < 0.09
    assert 0.06 < ex["single_segment_drawn"] / ex["multi_sentence"] < 0.14
    # cut at word boundaries: an example starts inside a word (a `##` piece, PIECED's words have many) only when
    # the one before it holds nothing but that word (a short target smaller than the word)
    vocab_tokens = (vocab / "vocab.txt").read_text().split("\n")
    pieced = [(a, b) for a, b in zip(rows, rows[1:]) if vocab_tokens[b[1]].startswith("##")]
    assert all(vocab_tokens[t].startswith("##") for a, _ in pieced for t in a[2:-1]), pieced
    assert len(pieced) <= ex["short_target"]


def rows_of(folder, manifest, split):
    import pyarrow as pa

    rows = []
    for info in manifest["splits"][split]["shards"]:
        with pa.memory_map(str(folder / info["file"])) as source:
            rows += pa.ipc.open_stream(source).read_all().column("input_ids").to_pylist()
    return rows


def test_carry_puts_every_token_in_order_and_cuts_before_a_word():
    """pack_document alone: rows' contents laid end to end are the document; a cut avoids `##` pieces."""
    rng, data_rng = random.Random(0), random.Random(1)
    continuation = set(range(50, 60))  # ids 50..59 continue a word
    for _ in range(300):
        doc = [[data_rng.randint(10, 69) for _ in range(data_rng.randint(1, 90))] for _ in range(data_rng.randint(1, 9))]
        counts = Counter()
        rows = list(pack_document(doc, 32, rng, counts, overflow="carry", continues_word=continuation.__contains__))
        assert [t for r in rows for t in r if t not in (CLS_ID, SEP_ID)] == [t for s in doc for t in s]
        assert all(len(r) <= 32 for r in rows) and counts["truncated_tokens"] == 0
        starts = set(itertools.accumulate([0] + [len(s) for s in doc]))  # token positions where a sentence begins
        at = 0
        for previous, row in zip(rows, rows[1:]):
            at += len(previous) - 1 - previous.count(SEP_ID)
            if row[1] in continuation and at not in starts:  # cut mid-word: only an example of one word may
                assert all(t in continuation for t in previous[2:] if t != SEP_ID), (previous, row)
    assert list(pack_document([[60] * 40], 16, rng, Counter(), overflow="carry",
                              continues_word=lambda t: True)) != []  # one long word: cut at the word piece


def test_overflow_is_checked(fixed_inputs, tmp_path):
    corpus, vocab = fixed_inputs
    result = run_cli("shard", corpus, "--vocab", vocab, "--out", tmp_path / "s", "--overflow", "drop")
    assert result.exit_code == 2 and "--overflow must be one of carry, truncate" in result.output
