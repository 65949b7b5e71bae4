"""TF1 ELECTRA checkpoints without TensorFlow (issue 24): the tensor-bundle reader against TensorFlow's own reading,
`convert --from-tf` against logits TensorFlow computed from the same weights, `pretrain --init-from` a TF1 folder,
and damaged files.

The fixture in tests/data/tf1/ was written by real TensorFlow (see make_checkpoint.py there): electra-tiny/ is a
google-research/electra-style checkpoint (discriminator hidden 16 with 2 heads, generator hidden 12, embedding 8,
2 layers, 46 tokens, Adam slots and global_step), reference.npz what tf.train.load_checkpoint reads back from it
and both models' logits computed with TensorFlow ops.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining

from tests.conftest import flip_byte, run_cli, write_grammar_corpus
from tests.test_published import RUN

DATA = Path(__file__).resolve().parent / "data" / "tf1"
TF_DIR = DATA / "electra-tiny"
PREFIX = TF_DIR / "model.ckpt-1200"
INDEX = Path(f"{PREFIX}.index")
SHARD = Path(f"{PREFIX}.data-00000-of-00001")


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "reference.npz") as ref:
        return {name: ref[name] for name in ref.files}


def tf_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "electra_small"
    shutil.copytree(TF_DIR, folder)
    return folder


def assert_logits_match(reference, discriminator, generator):
    """Both models' logits equal TensorFlow's at the real (non-pad) positions, to float32 rounding."""
    ids = torch.tensor(reference["input_ids"], dtype=torch.long)
    mask = torch.tensor(reference["input_mask"], dtype=torch.long)
    real = reference["input_mask"].astype(bool)
    with torch.no_grad():
        disc = discriminator.eval()(input_ids=ids, attention_mask=mask).logits.numpy()
        gen = generator.eval()(input_ids=ids, attention_mask=mask).logits.numpy()
    np.testing.assert_allclose(disc[real], reference["discriminator_logits"][real], rtol=0, atol=1e-5)
    np.testing.assert_allclose(gen[real], reference["generator_logits"][real], rtol=0, atol=1e-5)


def test_every_tensor_equals_tensorflows_reading(reference):
    from electra_cli.pretraining.tf_checkpoint import Bundle, find_checkpoint

    assert find_checkpoint(TF_DIR) == PREFIX  # named by the `checkpoint` file
    bundle = Bundle(PREFIX)
    assert bundle.header == {"num_shards": 1, "endianness": "little"}
    expected = {name[len("tensor:"):]: value for name, value in reference.items() if name.startswith("tensor:")}
    assert set(bundle.entries) == set(expected) and len(expected) == 247  # weights, Adam slots, global_step
    for name, value in expected.items():
        ours = bundle.read(name)
        assert ours.dtype == value.dtype and ours.shape == value.shape, name
        assert np.array_equal(ours, value), name
    assert bundle.read("global_step") == 1200


def test_crc32c_matches_the_reference_values():
    from electra_cli.pretraining import tf_checkpoint

    assert tf_checkpoint.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert tf_checkpoint.crc32c(b"") == 0
    data = np.random.default_rng(0).integers(0, 256, 300_007, dtype=np.uint8).tobytes()
    slow = tf_checkpoint._crc_bytes(0xFFFFFFFF, data) ^ 0xFFFFFFFF  # byte at a time
    assert tf_checkpoint.crc32c(data) == slow  # numpy lanes joined by the zero-shift map
    assert tf_checkpoint.unmask_crc(0xA282EAD8 + 0) == 0


def test_convert_from_tf_reproduces_tensorflows_logits(reference, tmp_path):
    folder = tf_copy(tmp_path)
    out = tmp_path / "hf"
    result = run_cli("convert", "--from-tf", folder, "--out", out)
    assert result.exit_code == 0, result.output
    assert "sanity check" in result.output
    for role in ("discriminator", "generator"):
        assert sorted(p.name for p in (out / role).iterdir()) == [
            "config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"]
    disc_config = json.loads((out / "discriminator" / "config.json").read_text())
    gen_config = json.loads((out / "generator" / "config.json").read_text())
    sizes = ("hidden_size", "embedding_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
             "max_position_embeddings", "vocab_size")
    # heads from discriminator_config.json beside the checkpoint; the generator's by ELECTRA's rule max(1, h // 64)
    assert [disc_config[k] for k in sizes] == [16, 8, 2, 2, 32, 40, 46]
    assert [gen_config[k] for k in sizes] == [12, 8, 2, 1, 48, 40, 46]
    discriminator = ElectraForPreTraining.from_pretrained(out / "discriminator")
    generator = ElectraForMaskedLM.from_pretrained(out / "generator")
    assert_logits_match(reference, discriminator, generator)
    # the shared embeddings are the same tensor TensorFlow stored once, in both folders
    table = reference["tensor:electra/embeddings/word_embeddings"]
    for model in (discriminator, generator):
        assert np.array_equal(model.electra.embeddings.word_embeddings.weight.detach().numpy(), table)
    tokenizer = AutoTokenizer.from_pretrained(out / "discriminator")
    vocab = (folder / "vocab.txt").read_text().split()
    ids = tokenizer("The big cat sees a dog .")["input_ids"]
    assert ids == [vocab.index(t) for t in "[CLS] the big cat sees a dog . [SEP]".split()]


def test_convert_from_tf_config_option_and_refusals(tmp_path):
    folder = tf_copy(tmp_path)
    config = tmp_path / "bert_config.json"
    config.write_text(json.dumps({"hidden_size": 16, "num_attention_heads": 4}))
    result = run_cli("convert", "--from-tf", folder, "--config", config, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "a" / "discriminator" / "config.json").read_text())["num_attention_heads"] == 4

    config.write_text(json.dumps({"hidden_size": 768, "num_attention_heads": 12}))
    result = run_cli("convert", "--from-tf", folder, "--config", config, "--out", tmp_path / "b")
    assert result.exit_code == 2 and "matches no model" in result.output
    result = run_cli("convert", folder, "--out", tmp_path / "c")  # a TF folder as SOURCE: say how
    assert result.exit_code == 2 and "--from-tf" in result.output
    result = run_cli("convert", folder, "--from-tf", folder, "--out", tmp_path / "d")
    assert result.exit_code == 2 and "either SOURCE or --from-tf" in result.output
    result = run_cli("convert", "--from-tf", tmp_path / "b", "--out", tmp_path / "e")
    assert result.exit_code == 2 and "no such folder" in result.output
    (folder / "vocab.txt").unlink()
    result = run_cli("convert", "--from-tf", folder, "--out", tmp_path / "f")
    assert result.exit_code == 2 and "no vocab.txt" in result.output
    assert not any((tmp_path / name).exists() for name in "bcdef")


def test_a_bert_checkpoint_is_refused_naming_why(tmp_path):
    from electra_cli.pretraining.tf_checkpoint import find_checkpoint

    bert = DATA / "bert-tiny"
    assert find_checkpoint(bert) == bert / "bert_model.ckpt"  # no `checkpoint` file, no step: the only index
    result = run_cli("convert", "--from-tf", bert, "--out", tmp_path / "out")
    assert result.exit_code == 3 and "not an ELECTRA checkpoint" in result.output, result.output
    assert "bert/embeddings/word_embeddings" in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["flip-data", "truncate-data", "flip-index", "truncate-index", "missing-data"])
def test_a_damaged_checkpoint_is_exit_3_naming_the_file(tmp_path, damage):
    from electra_cli.pretraining.tf_checkpoint import Bundle

    folder = tf_copy(tmp_path)
    index, shard = folder / INDEX.name, folder / SHARD.name
    if damage == "flip-data":  # one bit of a weight (a damaged Adam slot goes unnoticed: it is never read)
        entry = Bundle(PREFIX).entries["electra/encoder/layer_1/output/dense/kernel"]
        flip_byte(shard, (entry.offset + 5.5) / SHARD.stat().st_size, 0x10)
    elif damage == "truncate-data":
        shard.write_bytes(shard.read_bytes()[:-1000])
    elif damage == "flip-index":
        flip_byte(index, 0.3, 0x04)
    elif damage == "truncate-index":
        index.write_bytes(index.read_bytes()[:-20])
    else:
        shard.unlink()
    result = run_cli("convert", "--from-tf", folder, "--out", tmp_path / "out")
    assert result.exit_code == 3, result.output
    named = index if damage in ("flip-index", "truncate-index", "missing-data") else shard
    assert str(named) in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def tf_shards(tmp_path_factory) -> Path:
    """The grammar corpus sharded with the TF1 folder's vocab.txt (`shard --vocab` takes the folder as it is)."""
    tmp = tmp_path_factory.mktemp("tf1")
    corpus = write_grammar_corpus(tmp / "corpus.txt", docs=150)
    result = run_cli("shard", corpus, "--vocab", TF_DIR, "--out", tmp / "shards", "--max-seq-len", "32",
                     "--workers", "1", "--validation-fraction", "0.05")
    assert result.exit_code == 0, result.output
    return tmp / "shards"


def test_pretrain_starts_exactly_from_a_tf1_checkpoint(reference, tf_shards, tmp_path):
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import setup

    cfg = load_pretrain_config("electra-tiny", RUN[3::2] + [f'init.from_dir="{TF_DIR}"'])
    run = setup(cfg, tf_shards, tmp_path / "run", None, None, overwrite=False)
    model = run.raw_model
    assert (cfg.model.layers, cfg.model.hidden, cfg.model.embedding, cfg.model.heads) == (2, 16, 8, 2)
    assert model.discriminator.electra.embeddings is model.generator.electra.embeddings  # one table in TF: tied
    assert_logits_match(reference, model.discriminator, model.generator)
    assert all("model.ckpt-1200.index sha256" in s for s in cfg.init.sources) and len(cfg.init.sources) == 2


def test_pretrain_init_from_a_tf1_checkpoint_runs(tf_shards, tmp_path):
    run = tmp_path / "run"
    result = run_cli("pretrain", "--shards", tf_shards, "--out", run, "--max-steps", "4", *RUN,
                     "--init-from", TF_DIR)
    assert result.exit_code == 0, result.output
    assert "discriminator: loaded 43 tensors" in result.output and "generator: loaded" in result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "step" in r and "loss" in r][-1] == 4
    disc = ElectraForPreTraining.from_pretrained(run / "final" / "discriminator")
    assert disc.config.hidden_size == 16 and disc.config.num_attention_heads == 2
    assert os.path.getsize(run / "final" / "generator" / "model.safetensors") > 0


def test_a_windows_vocab_txt_is_read_as_googles_load_vocab_reads_it(tmp_path):
    """Line ends and trailing blanks are not part of a token (google-research's load_vocab strips each line)."""
    from electra_cli.pretraining.tf_electra import read_vocab

    tokens = read_vocab(TF_DIR)
    (tmp_path / "vocab.txt").write_bytes("".join(f"{t} \r\n" for t in tokens).encode("utf-8"))
    assert read_vocab(tmp_path) == tokens and "[PAD]" in tokens


def test_inspect_says_what_shard_and_pretrain_accept_of_a_tf1_release_folder(tf_shards, tmp_path):
    """inspect recognises a TF1 release (vocab.txt + checkpoint + config JSON) and gives yes where `shard --vocab`
    (tf_shards) and `pretrain --init-from` (the tests above) take it, a pointer to convert --from-tf elsewhere."""
    folder = tf_copy(tmp_path)
    result = run_cli("inspect", folder, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "tf1 checkpoint" and data["checkpoint"] == "model.ckpt-1200"
    assert data["sizes"]["hidden"] == 16 and data["sizes"]["heads"] == 2 and data["vocab"]["size"] == 46
    ok = {role: verdict["ok"] for role, verdict in data["roles"].items()}
    assert ok == {"shard --vocab": True, "pretrain --init-discriminator": False, "pretrain --init-generator": False,
                  "finetune --model": False, "predict --model": False, "pretrain --init-from": True}
    assert "convert --from-tf" in data["roles"]["finetune --model"]["why"]
    assert "--init-from" in data["roles"]["pretrain --init-discriminator"]["why"]
    bert = json.loads(run_cli("inspect", DATA / "bert-tiny", "--json").output)
    assert bert["roles"]["shard --vocab"]["ok"] and not bert["roles"]["pretrain --init-from"]["ok"]
    assert "not an ELECTRA checkpoint" in bert["roles"]["pretrain --init-from"]["why"]
