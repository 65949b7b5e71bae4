"""`electra-cli inspect DIR`: what a folder is and which roles it can play, through the CLI, on the zoo of
published layouts and on our own folders (vocab, shards, run, fine-tuned model)."""

from __future__ import annotations

import json

from tests.conftest import WORDS, run_cli
from tests.published import write_zoo_folder


def report(folder):
    result = run_cli("inspect", folder, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_sentence_transformers_export_is_explained(tmp_path):
    folder = write_zoo_folder(tmp_path, "sentence-transformers", WORDS)
    result = run_cli("inspect", folder)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "BertModel" in text and "special ids: pad 0, unk 100, cls 101, sep 102, mask 103" in text
    assert "padding (to 128)" in text and "truncation (at 128)" in text and "lowercased" in text
    data = report(folder)
    assert data["kind"] == "model" and data["sizes"]["hidden"] == 64 and data["vocab"]["size"] == 353
    ok = {role: verdict["ok"] for role, verdict in data["roles"].items()}
    assert ok == {"shard --vocab": True, "pretrain --init-discriminator": True, "pretrain --init-generator": False,
                  "finetune --model": True, "predict --model": False}
    assert "not an ELECTRA generator" in data["roles"]["pretrain --init-generator"]["why"]


def test_every_zoo_folder_says_what_it_is(tmp_path):
    expected = {  # name -> (casing, Chinese split, can start the generator)
        "electra-small": (True, True, False), "electra-small-generator": (True, True, True),
        "chinese-electra-180g-small": (True, True, False), "bert-base-chinese": (False, True, False),
        "chinese-roberta-wwm-ext": (True, True, False), "bert-base-cased": (False, True, False),
        "electra-model": (True, True, False)}
    for name, (lowercase, chinese, generator) in expected.items():
        data = report(write_zoo_folder(tmp_path, name, WORDS))
        assert data["vocab"]["tokenizer"]["lowercase"] is lowercase, name
        assert data["vocab"]["tokenizer"]["chinese_chars_split"] is chinese, name
        assert data["roles"]["pretrain --init-discriminator"]["ok"], (name, data["roles"])
        assert data["roles"]["pretrain --init-generator"]["ok"] is generator, name
        assert data["roles"]["shard --vocab"]["ok"] and data["roles"]["finetune --model"]["ok"], name


def test_a_japanese_bert_is_refused_for_every_role_that_tokenizes(tmp_path):
    data = report(write_zoo_folder(tmp_path, "bert-base-japanese"))
    for role in ("shard --vocab", "pretrain --init-discriminator"):
        assert not data["roles"][role]["ok"] and "BertJapaneseTokenizer" in data["roles"][role]["why"], role
    # finetune uses transformers' own tokenizer, whatever its class: it works where transformers can build it
    try:
        import fugashi  # noqa: F401
    except ImportError:
        assert not data["roles"]["finetune --model"]["ok"] and "fugashi" in data["roles"]["finetune --model"]["why"]


def test_our_vocab_and_shards_folders(tiny_shards):
    shards = report(tiny_shards)
    assert shards["kind"] == "shards" and shards["max_seq_len"] == 32
    assert shards["splits"]["train"]["rows"] > 0 and shards["roles"]["pretrain --shards"]["ok"]
    assert not shards["roles"]["finetune --model"]["ok"]
    vocab = report(tiny_shards.parent / "vocab")
    assert vocab["kind"] == "vocab" and vocab["vocab"]["special_ids"]["cls"] == 2
    assert vocab["roles"]["shard --vocab"]["ok"] and not vocab["roles"]["pretrain --init-discriminator"]["ok"]


def test_not_a_folder_we_know_is_one_line_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("inspect", tmp_path / "empty")
    assert result.exit_code == 2 and "not a folder electra-cli knows" in result.output
    assert run_cli("inspect", tmp_path / "missing").exit_code == 2
