"""The published-folder fixtures (tests/published.py) are what they claim: transformers loads them as it loads the
real Hub folders, offline, with Google's special-token ids and no missing or unexpected weights."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertForMaskedLM,
    ElectraForMaskedLM,
    ElectraForPreTraining,
)

from tests.conftest import WORDS
from tests.published import (
    GOOGLE_SPECIAL_IDS,
    ZOO,
    google_vocab,
    load_weights,
    sha256_of,
    write_bert_mlm,
    write_electra_pair,
    write_google_electra_small,
    write_hfl_chinese_electra_small,
    write_sentencepiece_like,
    write_zoo_folder,
)

EMBEDDINGS = ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
              "LayerNorm.weight", "LayerNorm.bias")


def load_clean(model_class, folder):
    model, info = model_class.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    return model


def embeddings_equal(a, b) -> bool:
    return all(torch.equal(a.electra.embeddings.get_parameter(k), b.electra.embeddings.get_parameter(k))
               for k in EMBEDDINGS)


@pytest.mark.parametrize("cased,chinese", [(False, False), (True, False), (False, True)])
def test_google_vocab_layout(cased, chinese):
    vocab = google_vocab(WORDS + ["Paris"], cased=cased, chinese=chinese)
    assert {t: vocab.index(t) for t in GOOGLE_SPECIAL_IDS} == GOOGLE_SPECIAL_IDS
    assert all(t.startswith("[unused") for t in vocab[1:100])
    assert len(vocab) == len(set(vocab)) and 200 < len(vocab) < 1500
    assert {"[", "]", ".", ",", "##a", "the"} <= set(vocab)
    assert ("Paris" in vocab) == cased and ("paris" in vocab) == (not cased)
    assert ("中" in vocab and "##中" in vocab) == chinese


@pytest.mark.parametrize("weights", ["bin", "safetensors"])
def test_google_electra_folders_load_like_the_hub(tmp_path, weights):
    disc_dir, gen_dir = write_google_electra_small(tmp_path, WORDS, weights=weights)
    assert (disc_dir.name, gen_dir.name) == ("electra-small-discriminator", "electra-small-generator")
    for folder, cls, arch in ((disc_dir, ElectraForPreTraining, "ElectraForPreTraining"),
                              (gen_dir, ElectraForMaskedLM, "ElectraForMaskedLM")):
        files = {p.name for p in folder.iterdir()}
        weight_file = "pytorch_model.bin" if weights == "bin" else "model.safetensors"
        assert files == {"config.json", "vocab.txt", "tokenizer_config.json", weight_file}
        assert json.loads((folder / "tokenizer_config.json").read_text()) == {"do_lower_case": True,
                                                                               "model_max_length": 512}
        config = AutoConfig.from_pretrained(folder)
        assert config.architectures == [arch] and config.vocab_size == len(google_vocab(WORDS))
        load_clean(cls, folder)
        tok = AutoTokenizer.from_pretrained(folder)
        assert (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.mask_token_id, tok.unk_token_id) == (
            101, 102, 0, 103, 100)
        assert tok.tokenize("The City.") == ["the", "city", "."]
        assert tok("the city")["input_ids"][0] == 101 and tok("the city")["input_ids"][-1] == 102
    assert sha256_of(disc_dir / "vocab.txt") == sha256_of(gen_dir / "vocab.txt")
    disc, gen = ElectraForPreTraining.from_pretrained(disc_dir), ElectraForMaskedLM.from_pretrained(gen_dir)
    assert embeddings_equal(disc, gen)
    assert gen.config.hidden_size < disc.config.hidden_size
    assert gen.config.embedding_size == disc.config.embedding_size


def test_untied_pair_differs_and_seed_reproduces(tmp_path):
    vocab = google_vocab(WORDS)
    disc_dir, gen_dir = write_electra_pair(tmp_path / "a", vocab, tie_embeddings=False)
    assert (disc_dir.name, gen_dir.name) == ("discriminator", "generator")
    disc, gen = load_clean(ElectraForPreTraining, disc_dir), load_clean(ElectraForMaskedLM, gen_dir)
    assert not torch.equal(disc.electra.embeddings.word_embeddings.weight, gen.electra.embeddings.word_embeddings.weight)
    # the generator's output layer stays tied to its own input embeddings
    assert torch.equal(gen.generator_lm_head.weight, gen.electra.embeddings.word_embeddings.weight)
    again, _ = write_electra_pair(tmp_path / "b", vocab, tie_embeddings=False)
    assert sha256_of(again / "model.safetensors") == sha256_of(disc_dir / "model.safetensors")


def test_cased_folder_with_tokenizer_json(tmp_path):
    vocab = google_vocab(WORDS + ["Paris"], cased=True)
    disc_dir, _ = write_electra_pair(tmp_path, vocab, do_lower_case=False, tokenizer_json=True,
                                     special_tokens_map=True, tokenizer_class="ElectraTokenizer")
    assert {"tokenizer.json", "special_tokens_map.json"} <= {p.name for p in disc_dir.iterdir()}
    tok = AutoTokenizer.from_pretrained(disc_dir)
    assert tok.tokenize("Paris the") == ["Paris", "the"]
    assert tok.tokenize("The") == ["T", "##h", "##e"]  # no lowercasing: "The" is not a word of the vocab
    assert tok("Paris", "the")["input_ids"] == [101, vocab.index("Paris"), 102, vocab.index("the"), 102]
    assert tok("Paris", "the")["token_type_ids"] == [0, 0, 0, 1, 1]


def test_hfl_chinese_splits_characters(tmp_path):
    disc_dir, gen_dir = write_hfl_chinese_electra_small(tmp_path, ["the", "city"])
    assert disc_dir.name == "chinese-electra-180g-small-discriminator"
    load_clean(ElectraForPreTraining, disc_dir)
    tok = AutoTokenizer.from_pretrained(disc_dir)
    assert tok.cls_token_id == 101 and tok.mask_token_id == 103
    assert tok.tokenize("我的中文很好。The city") == ["我", "的", "中", "文", "很", "好", "[UNK]", "the", "city"]


def test_vocab_only_folder_needs_config_or_class(tmp_path):
    """Found while writing these fixtures: AutoTokenizer on vocab.txt alone cannot pick a class; Google's folders
    get it from config.json's model_type, or from tokenizer_class in tokenizer_config.json."""
    vocab = google_vocab(WORDS)
    disc_dir, _ = write_electra_pair(tmp_path / "no-tokcfg", vocab, tokenizer_config=False, weights="bin")
    assert AutoTokenizer.from_pretrained(disc_dir).tokenize("The City") == ["the", "city"]
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "vocab.txt").write_text((disc_dir / "vocab.txt").read_text())
    with pytest.raises(ValueError):
        AutoTokenizer.from_pretrained(tmp_path / "bare")


@pytest.mark.parametrize("weights", ["bin", "safetensors"])
def test_bert_mlm_loads(tmp_path, weights):
    vocab = google_vocab(WORDS)
    folder = write_bert_mlm(tmp_path / "bert-base-uncased", vocab, weights=weights)
    assert AutoConfig.from_pretrained(folder).architectures == ["BertForMaskedLM"]
    model = load_clean(BertForMaskedLM, folder)
    assert model.config.vocab_size == len(vocab)
    tok = AutoTokenizer.from_pretrained(folder)
    assert (tok.cls_token_id, tok.pad_token_id, tok.mask_token_id) == (101, 0, 103)


def test_bert_mlm_with_the_hub_file_quirks(tmp_path):
    """bert-base-uncased's pytorch_model.bin holds BertForPreTraining's weights under 2018 names (gamma/beta)."""
    folder = write_bert_mlm(tmp_path, google_vocab(WORDS), pretraining_heads=True, legacy_names=True)
    assert any(k.endswith("LayerNorm.gamma") for k in load_weights(folder))
    model, info = BertForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"]
    assert info["unexpected_keys"] and all(k.startswith(("bert.pooler.", "cls.seq_relationship."))
                                           for k in info["unexpected_keys"])
    stored = load_weights(folder)["bert.embeddings.LayerNorm.gamma"]
    assert torch.equal(model.bert.embeddings.LayerNorm.weight, stored)


@pytest.mark.parametrize("kind,model_type", [("unigram", "Unigram"), ("bpe", "BPE")])
def test_sentencepiece_like_is_not_wordpiece(tmp_path, kind, model_type):
    folder = write_sentencepiece_like(tmp_path / kind, kind)
    assert not (folder / "vocab.txt").exists()
    assert json.loads((folder / "tokenizer.json").read_text())["model"]["type"] == model_type
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok("the city")["input_ids"]
    assert len(ids) >= 4 and tok.unk_token_id not in ids[1:-1]


ZOO_FILES = {
    "electra-small": {"config.json", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json", "vocab.txt"},
    "electra-small-generator": {"config.json", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json",
                                "vocab.txt"},
    "chinese-electra-180g-small": {"config.json", "pytorch_model.bin", "tokenizer_config.json", "vocab.txt"},
    "chinese-electra-180g-small-generator": {"config.json", "pytorch_model.bin", "tokenizer_config.json", "vocab.txt"},
    "bert-base-chinese": {"config.json", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json", "vocab.txt"},
    "chinese-roberta-wwm-ext": {"added_tokens.json", "config.json", "pytorch_model.bin", "special_tokens_map.json",
                                "tokenizer.json", "tokenizer_config.json", "vocab.txt"},
    "bert-base-cased": {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"},
    "sentence-transformers": {"1_Pooling", "config.json", "config_sentence_transformers.json", "model.safetensors",
                              "modules.json", "sentence_bert_config.json", "special_tokens_map.json",
                              "tokenizer.json", "tokenizer_config.json"},
    "bert-base-japanese": {"config.json", "pytorch_model.bin", "tokenizer_config.json", "vocab.txt"},
    "electra-model": {"config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"},
}


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_folders_have_the_hub_file_sets_and_load(tmp_path, name):
    """Each zoo folder has its Hub model's file set and loads with transformers' class for its architecture with
    nothing missing (the BERT masked LMs carry BertForPreTraining's pooler and NSP head, unused as on the Hub)."""
    import transformers

    folder = write_zoo_folder(tmp_path, name, WORDS)
    assert {p.name for p in folder.iterdir()} == ZOO_FILES[name]
    architecture = AutoConfig.from_pretrained(folder).architectures[0]
    _, info = getattr(transformers, architecture).from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    assert all(k.startswith(("bert.pooler.", "cls.seq_relationship.")) for k in info["unexpected_keys"]), info
    if not ZOO[name][1]:
        assert json.loads((folder / "config.json").read_text())["tokenizer_class"] == "BertJapaneseTokenizer"
        return
    tok = AutoTokenizer.from_pretrained(folder)
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (
        0, 100, 101, 102, 103)


def test_zoo_tokenizer_settings_are_the_hubs(tmp_path):
    """The settings that make these folders hard: bert-base-chinese and bert-base-cased are cased; HFL's
    roberta-wwm-ext says nothing (so lowercases); the sentence-transformers tokenizer.json pads and truncates."""
    cased = AutoTokenizer.from_pretrained(write_zoo_folder(tmp_path, "bert-base-cased", WORDS))
    assert cased.tokenize("Zürich city") == ["Zürich", "city"]
    chinese = AutoTokenizer.from_pretrained(write_zoo_folder(tmp_path, "bert-base-chinese"))
    assert chinese.tokenize("City 中文") == ["[UNK]", "中", "文"]  # cased, and its vocab has no capitals
    wwm = write_zoo_folder(tmp_path, "chinese-roberta-wwm-ext")
    assert json.loads((wwm / "tokenizer_config.json").read_text()) == {"init_inputs": []}
    assert AutoTokenizer.from_pretrained(wwm).tokenize("City 中文") == ["city", "中", "文"]
    st = json.loads((write_zoo_folder(tmp_path, "sentence-transformers", WORDS) / "tokenizer.json").read_text())
    assert st["padding"]["strategy"] == {"Fixed": 128} and st["truncation"]["max_length"] == 128
