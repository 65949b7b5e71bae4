"""Packing that keeps the corpus (`shard --overflow carry`, the default) and the reference's (`--overflow truncate`).

The reference mode's shards are pinned by sha256: the digests below were computed by the code before `carry`
existed, on a fixed corpus and a fixed vocabulary built here, so any change to the reference's output fails.
"""

import hashlib
import json
import random

import pytest

from electra_cli.core.atomic import write_json_atomic
from electra_cli.vocab.train import write_tokenizer_folder
from electra_cli.vocab.wordpiece import SPECIAL_TOKENS, add_post_processor, new_tokenizer
from tests.conftest import WORDS, make_sentences, run_cli

# sha256 of each shard file written by `shard` (reference behaviour) before --overflow existed: see fixed_inputs.
REFERENCE_SHARDS = {
    "train-00000.arrow": "c4308661c6a9a92340c610980b387c587afaba99981263c7a2383408178be140",
    "train-00001.arrow": "763f2dfb7b1b1c857eb97960787882213740510c776e248a7cc4ecef8426d90a",
    "validation-00000.arrow": "8eac52bd922a9e2d3258687369a2a8ceda8943bbe011fad530051366c6d77fab",
}


def write_fixed_vocab(folder):
    """A vocab folder from a fixed token list (the trainer's output is not needed, and would vary)."""
    chars = "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"()-"
    tokens = SPECIAL_TOKENS + list(chars) + [f"##{c}" for c in chars if c.isalnum()] + sorted(set(WORDS))
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
    manifest, _ = shard(corpus, vocab, tmp_path / "s", "--workers", "2")
    print(manifest["examples"])
    assert shard_digests(tmp_path / "s") == REFERENCE_SHARDS
