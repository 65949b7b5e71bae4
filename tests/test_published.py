"""Starting from published folders (issue 14): Google/HFL-style vocabularies as `shard --vocab`, `pretrain --init-*`
from ELECTRA pairs and masked LMs, an exact start, the tying decision, every refusal, resume, exports."""

from __future__ import annotations

import json
import random

import pytest
import torch
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining

from tests.conftest import WORDS, make_sentences, run_cli, write_family_task
from tests.published import (
    GOOGLE_SPECIAL_IDS,
    ZOO,
    google_vocab,
    load_weights,
    write_bert_mlm,
    write_electra_pair,
    write_google_electra_small,
    write_hfl_chinese_electra_small,
    write_sentencepiece_like,
    write_wordpiece_tokenizer,
    write_zoo_folder,
)

RUN = ["--recipe", "electra-tiny", "--set", "data.max_seq_len=32", "--set", "train.batch_size=8",
       "--set", "train.log_every=2", "--set", "train.eval_every=0", "--set", "train.eval_batches=1",
       "--set", "optim.warmup_steps=2"]


def corpus(path, seed=0, cased=False):
    rng = random.Random(seed)
    docs = ["\n".join(make_sentences(rng, rng.randint(2, 6))) for _ in range(120)]
    text = "\n\n".join(docs) + "\n"
    path.write_text(text if cased else text.lower())
    return path


@pytest.fixture(scope="module")
def google(tmp_path_factory):
    """A google/electra-small-style pair (separate folders, .bin, vocab.txt only) and shards made with its vocab."""
    tmp = tmp_path_factory.mktemp("google")
    disc, gen = write_google_electra_small(tmp / "hub", WORDS)
    text = corpus(tmp / "corpus.txt")
    result = run_cli("shard", text, "--vocab", disc, "--out", tmp / "shards", "--max-seq-len", "32", "--workers", "1",
                     "--validation-fraction", "0.05")
    assert result.exit_code == 0, result.output
    return {"disc": disc, "gen": gen, "shards": tmp / "shards", "corpus": text, "tmp": tmp}


def shard_rows(folder, split="train"):
    import pyarrow as pa

    manifest = json.loads((folder / "manifest.json").read_text())
    rows = []
    for shard in manifest["splits"][split]["shards"]:
        with pa.memory_map(str(folder / shard["file"])) as source:
            rows += pa.ipc.open_stream(source).read_all().column("input_ids").to_pylist()
    return manifest, rows


def test_a_google_folder_is_a_vocabulary_with_its_own_special_ids(google):
    manifest, rows = shard_rows(google["shards"])
    assert manifest["vocab"]["special_ids"] == {"pad": 0, "unk": 100, "cls": 101, "sep": 102, "mask": 103}
    assert all(r[0] == 101 and r[-1] == 102 for r in rows)
    assert not any(t in (0, 103) or 1 <= t <= 4 for r in rows for t in r[1:-1] if t != 102)
    # the same ids as transformers' own tokenizer for that folder
    tokenizer = AutoTokenizer.from_pretrained(google["disc"])
    line = google["corpus"].read_text().splitlines()[0]
    assert any(r[1 : 1 + len(tokenizer(line, add_special_tokens=False)["input_ids"])]
               == tokenizer(line, add_special_tokens=False)["input_ids"] for r in rows)


def test_casing_follows_the_folders_tokenizer_config(tmp_path):
    vocab = google_vocab(WORDS + ["City", "River"], cased=True)
    cased, _ = write_electra_pair(tmp_path / "cased", vocab, do_lower_case=False)
    uncased, _ = write_electra_pair(tmp_path / "uncased", vocab, do_lower_case=True)
    text = tmp_path / "t.txt"
    text.write_text("City river\n\nRiver city\n")
    ids = {}
    for name, folder in (("cased", cased), ("uncased", uncased)):
        result = run_cli("shard", text, "--vocab", folder, "--out", tmp_path / f"s-{name}", "--max-seq-len", "16",
                         "--workers", "1", "--validation-fraction", "0")
        assert result.exit_code == 0, result.output
        ids[name] = shard_rows(tmp_path / f"s-{name}")[1]
        expected = AutoTokenizer.from_pretrained(folder)("City river", add_special_tokens=False)["input_ids"]
        assert any(r[1:-1] == expected for r in ids[name])
    assert vocab.index("City") in ids["cased"][0] + ids["cased"][1]
    assert vocab.index("City") not in ids["uncased"][0] + ids["uncased"][1]


def test_chinese_folder_splits_characters(tmp_path):
    disc, _ = write_hfl_chinese_electra_small(tmp_path / "hfl")
    text = tmp_path / "zh.txt"
    text.write_text("我的中文很好\n\n今天天气很好\n")  # characters the fixture's vocab has
    result = run_cli("shard", text, "--vocab", disc, "--out", tmp_path / "s", "--max-seq-len", "16", "--workers", "1",
                     "--validation-fraction", "0")
    assert result.exit_code == 0, result.output
    manifest, rows = shard_rows(tmp_path / "s")
    vocab = (disc / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tokens = [vocab[t] for r in rows for t in r]
    assert "[UNK]" not in tokens and {"我", "的", "好", "天"} <= set(tokens) and tokens.count("[CLS]") == len(rows)


def test_a_non_wordpiece_tokenizer_is_a_clear_error(tmp_path):
    folder = write_sentencepiece_like(tmp_path / "spm")
    text = corpus(tmp_path / "c.txt")
    result = run_cli("shard", text, "--vocab", folder, "--out", tmp_path / "s")
    assert result.exit_code == 2 and "not WordPiece" in result.output and "Traceback" not in result.output


def test_the_start_is_exact_and_the_embeddings_are_tied(google, tmp_path):
    """At step 0 both models' logits equal the published models' on the same input (fp32, eval mode)."""
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import setup

    overrides = RUN[3::2] + [f'init.discriminator="{google["disc"]}"', f'init.generator="{google["gen"]}"']
    cfg = load_pretrain_config("electra-tiny", overrides)
    run = setup(cfg, google["shards"], tmp_path / "run", None, None, overwrite=False)
    model = run.raw_model.eval()
    assert (cfg.model.hidden, cfg.model.embedding, cfg.model.heads, cfg.model.generator_hidden) == (64, 32, 2, 32)
    assert model.discriminator.electra.embeddings is model.generator.electra.embeddings  # equal copies: tied
    ids = torch.tensor([[101, 110, 120, 130, 102, 140, 150, 102]])
    with torch.no_grad():
        ours_d = model.discriminator(input_ids=ids).logits
        ours_g = model.generator(input_ids=ids).logits
        theirs_d = ElectraForPreTraining.from_pretrained(google["disc"]).eval()(input_ids=ids).logits
        theirs_g = ElectraForMaskedLM.from_pretrained(google["gen"]).eval()(input_ids=ids).logits
    assert torch.equal(ours_d, theirs_d) and torch.equal(ours_g, theirs_g)
    assert model.specials == {"pad": 0, "unk": 100, "cls": 101, "sep": 102, "mask": 103}
    assert any("Electra" in s and "sha256" in s for s in cfg.init.sources)


def test_untied_copies_follow_embedding_sharing(google, tmp_path):
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import setup

    disc, gen = write_electra_pair(tmp_path / "untied", google_vocab(WORDS), tie_embeddings=False)
    key = "electra.embeddings.word_embeddings.weight"
    for sharing, winner in (("tied", disc), ("none", None), ("gdes", None)):
        cfg = load_pretrain_config("electra-tiny", RUN[3::2] + [
            f'init.from_dir="{tmp_path / "untied"}"', f'model.embedding_sharing="{sharing}"'])
        model = setup(cfg, google["shards"], tmp_path / f"run-{sharing}", None, None, False).raw_model
        gen_emb = model.generator.electra.embeddings.word_embeddings.weight
        if winner is not None:  # tied: the discriminator's copy serves both
            assert torch.equal(gen_emb, load_weights(disc)[key])
        else:  # none: each keeps its own; gdes: the generator's, and a delta that makes the discriminator's its own
            assert torch.equal(gen_emb, load_weights(gen)[key])
            assert torch.allclose(model.discriminator_word_embeddings(), load_weights(disc)[key], atol=1e-6)


def test_continued_run_trains_resumes_exactly_and_exports_the_sources_tokenizer(google, tmp_path):
    init = ["--init-discriminator", google["disc"], "--init-generator", google["gen"]]
    straight, split = tmp_path / "straight", tmp_path / "split"
    result = run_cli("pretrain", "--shards", google["shards"], "--out", straight, "--max-steps", "6", *RUN, *init)
    assert result.exit_code == 0, result.output
    assert "loaded" in result.output and "recipe's [model] sizes are ignored" in result.output
    result = run_cli("pretrain", "--shards", google["shards"], "--out", split, "--max-steps", "6", *RUN, *init,
                     "--set", "train.stop_at=3", "--set", "train.save_every=3")
    assert result.exit_code == 0, result.output
    result = run_cli("pretrain", "--shards", google["shards"], "--out", split, "--resume", "auto")
    assert result.exit_code == 0, result.output
    assert "loaded" not in result.output  # resumed from its checkpoint, not from the published folders again
    a, b = load_weights(straight / "final" / "discriminator"), load_weights(split / "final" / "discriminator")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for role, source in (("discriminator", google["disc"]), ("generator", google["gen"])):
        folder = straight / "final" / role
        for name in ("vocab.txt", "tokenizer_config.json"):
            assert (folder / name).read_bytes() == (source / name).read_bytes()  # unchanged
        tokenizer = AutoTokenizer.from_pretrained(folder)
        assert tokenizer.cls_token_id == GOOGLE_SPECIAL_IDS["[CLS]"] and tokenizer.mask_token_id == 103
        model_class = ElectraForPreTraining if role == "discriminator" else ElectraForMaskedLM
        _, info = model_class.from_pretrained(folder, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"]
    card = (straight / "final" / "discriminator" / "README.md").read_text()
    assert "## Started from" in card and str(google["disc"].resolve()) in card


def test_two_stage_from_a_bert_masked_lm(google, tmp_path):
    """The discriminator's encoder from BertForMaskedLM (bert.* names, old gamma/beta names, pooler and NSP head
    in the file): mapped by name; its replaced-token head starts fresh and is named as such."""
    bert = write_bert_mlm(tmp_path / "bert", google_vocab(WORDS), hidden=32, heads=2, pretraining_heads=True,
                          legacy_names=True)
    run = tmp_path / "run"
    result = run_cli("pretrain", "--shards", google["shards"], "--out", run, "--max-steps", "2", *RUN,
                     "--init-discriminator", bert)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "starting fresh: discriminator_predictions" in text and "not used: " in text and "cls." in text
    exported = load_weights(run / "final" / "discriminator")
    source = load_weights(bert)
    assert exported["electra.encoder.layer.1.output.dense.weight"].shape == source["bert.encoder.layer.1.output.dense.weight"].shape
    card = (run / "final" / "discriminator" / "README.md").read_text()
    assert "two-stage" in card and "BertForMaskedLM" in card


def test_two_stage_from_our_own_mlm_run(google, tmp_path):
    mlm = tmp_path / "mlm"
    result = run_cli("pretrain", "--shards", google["shards"], "--out", mlm, "--max-steps", "2", *RUN,
                     "--init-discriminator", google["disc"], "--set", "model.objective=mlm")
    assert result.exit_code == 0, result.output
    result = run_cli("pretrain", "--shards", google["shards"], "--out", tmp_path / "electra", "--max-steps", "2", *RUN,
                     "--init-discriminator", mlm / "final" / "generator")
    assert result.exit_code == 0, result.output
    assert "discriminator: loaded" in result.output


def test_refusals(google, tmp_path, text_corpus):
    base = ["pretrain", "--shards", google["shards"], "--max-steps", "2", *RUN]
    # an encoder that does not load: weights under names nothing maps
    broken, _ = write_electra_pair(tmp_path / "broken", google_vocab(WORDS), weights="safetensors")
    from safetensors.torch import save_file

    state = load_weights(broken)
    save_file({k.replace("electra.", "roberta."): v.contiguous() for k, v in state.items()}, str(broken / "model.safetensors"))
    result = run_cli(*base, "--out", tmp_path / "r1", "--init-discriminator", broken)
    assert result.exit_code == 2 and "encoder did not load" in result.output
    # a size that contradicts the checkpoint
    result = run_cli(*base, "--out", tmp_path / "r2", "--init-from", google["disc"].parent / "nothing")
    assert result.exit_code == 2 and "no such folder" in result.output
    result = run_cli(*base, "--out", tmp_path / "r3", "--init-discriminator", google["disc"], "--set", "model.hidden=128")
    assert result.exit_code == 2 and "model.hidden: --set says 128" in result.output and "has 64" in result.output
    # a generator folder that is not a generator
    result = run_cli(*base, "--out", tmp_path / "r4", "--init-generator", google["disc"])
    assert result.exit_code == 2 and "not an ELECTRA generator" in result.output
    # shards made with another vocabulary than the init folders'
    assert run_cli("vocab", text_corpus, "--out", tmp_path / "v", "--vocab-size", "150").exit_code == 0
    assert run_cli("shard", text_corpus, "--vocab", tmp_path / "v", "--out", tmp_path / "s", "--max-seq-len", "32",
                   "--workers", "1").exit_code == 0
    result = run_cli("pretrain", "--shards", tmp_path / "s", "--out", tmp_path / "r5", "--max-steps", "2", *RUN,
                     "--init-discriminator", google["disc"])
    assert result.exit_code == 2 and "vocabulary" in result.output and str(google["disc"]) in " ".join(result.output.split())
    # a continued-pretraining recipe without published weights
    result = run_cli("pretrain", "--shards", google["shards"], "--out", tmp_path / "r6", "--recipe", "electra-continue-small",
                     "--set", "data.max_seq_len=32")
    assert result.exit_code == 2 and "--init-from" in result.output
    assert all("Traceback" not in r for r in (result.output,))


# ---- the zoo: every published layout, tokenized as transformers tokenizes it ----------------------------------

# English with case and accents, Chinese, digits, full-width forms, literal specials (split as text, never ids),
# and a line of 140 tokens: past the truncation at 128 a sentence-transformers tokenizer.json switches on.
MIXED = ["The Café in Zürich [SEP] naïve résumé 我的中文很好 2024 ＡＢＣ１２３ city river",
         "ÉCOLE Ñandú [PAD] [CLS] 你好 x² ½ the [MASK] season",
         " ".join(["city river"] * 70)]


def zoo_shards(tmp_path, folder, lines=MIXED, max_seq_len="256"):
    text = tmp_path / "mixed.txt"
    text.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / f"shards-{folder.name}"
    result = run_cli("shard", text, "--vocab", folder, "--out", out, "--max-seq-len", max_seq_len, "--workers", "1",
                     "--validation-fraction", "0")
    assert result.exit_code == 0, result.output
    return shard_rows(out)


def expected_ids(folder, lines=MIXED):
    """What transformers' own tokenizer for the folder gives, literal specials split as text as shards do."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return tokenizer, [tokenizer(line, add_special_tokens=False, split_special_tokens=True)["input_ids"] for line in lines]


@pytest.mark.parametrize("name", [name for name, (_, accepted) in ZOO.items() if accepted])
def test_zoo_shard_ids_are_transformers_ids(tmp_path, name):
    """One tokenizer rule: shard rows hold exactly AutoTokenizer's ids, whole (no padding, no truncation at the
    folder's 128), between one [CLS] and [SEP]; the manifest counts those tokens and no others."""
    folder = write_zoo_folder(tmp_path, name, WORDS)
    manifest, rows = zoo_shards(tmp_path, folder)
    tokenizer, expected = expected_ids(folder)
    sep = tokenizer.sep_token_id
    assert sorted([t for t in r[1:-1] if t != sep] for r in rows) == sorted(expected)
    assert all(r[0] == tokenizer.cls_token_id and r[-1] == sep and tokenizer.pad_token_id not in r for r in rows)
    assert manifest["splits"]["train"]["tokens"] == sum(map(len, rows))
    assert manifest["vocab"]["tokenizer"]["lowercase"] == tokenizer.backend_tokenizer.normalizer.lowercase
    assert run_cli("verify", tmp_path / f"shards-{folder.name}").exit_code == 0


@pytest.mark.parametrize("tokenizer_json,config,text", [
    ({"do_lower_case": False}, {"model_max_length": 512}, "Paris Café"),  # cased tokenizer.json, default lowercases
    ({"do_lower_case": True}, {"do_lower_case": False}, "Paris Café"),  # uncased tokenizer.json, config says cased
    ({"do_lower_case": True}, {"do_lower_case": True, "strip_accents": False}, "café Paris"),  # uncased, accents kept
])
def test_tokenizer_config_casing_wins_over_tokenizer_json(tmp_path, tokenizer_json, config, text):
    """Issue 24 item 2: transformers applies tokenizer_config.json's casing to a tokenizer.json; so do the shards,
    and the manifest's lowercase says what was done."""
    folder = tmp_path / "casing"
    vocab = google_vocab(WORDS + ["Paris", "paris", "café", "cafe", "Café"], cased=True)
    write_wordpiece_tokenizer(folder, vocab, tokenizer_json=True, **tokenizer_json)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    manifest, rows = zoo_shards(tmp_path, folder, [text])
    tokenizer, expected = expected_ids(folder, [text])
    assert [r[1:-1] for r in rows] == expected
    lowercase = config.get("do_lower_case", True)
    assert manifest["vocab"]["tokenizer"]["lowercase"] == lowercase
    from electra_cli.vocab.load import load_vocab_manifest

    assert load_vocab_manifest(folder)["lowercase"] == lowercase


def test_vocab_txt_lines_are_read_as_transformers_reads_them(tmp_path):
    """Issue 24 item 5: Windows line ends and trailing blanks in vocab.txt are not part of the tokens."""
    folder = tmp_path / "crlf"
    vocab = google_vocab(WORDS)
    write_wordpiece_tokenizer(folder, vocab)
    (folder / "vocab.txt").write_bytes("".join(f"{t} \r\n" if i % 2 else f"{t}\r\n" for i, t in enumerate(vocab))
                                       .encode("utf-8"))
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    manifest, rows = zoo_shards(tmp_path, folder, ["the city river of the world"])
    tokenizer, expected = expected_ids(folder, ["the city river of the world"])
    assert [r[1:-1] for r in rows] == expected and 100 not in expected[0]  # no [UNK]: "the" is "the", not "the\r"


def test_a_japanese_bert_is_refused_naming_its_tokenizer(tmp_path, text_corpus):
    """Issue 24 item 4: BertJapaneseTokenizer (MeCab words, named in config.json) is not BERT's basic tokenizer."""
    folder = write_zoo_folder(tmp_path, "bert-base-japanese")
    result = run_cli("shard", text_corpus, "--vocab", folder, "--out", tmp_path / "s")
    assert result.exit_code == 2 and "BertJapaneseTokenizer" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3  # one message (rich may wrap it)


# ---- encoder-only starts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sentence-transformers", "electra-model"])
def test_an_encoder_without_heads_starts_the_discriminator_exactly(google, tmp_path, name):
    """Issue 24 item 6 and the BertModel refusal: a bare encoder's weights (no bert./electra. prefix) become the
    discriminator's encoder, exactly; the replaced-token head starts fresh."""
    from transformers import AutoModel

    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import setup

    folder = write_zoo_folder(tmp_path, name, WORDS)
    cfg = load_pretrain_config("electra-tiny", RUN[3::2] + [f'init.discriminator="{folder}"'])
    model = setup(cfg, google["shards"], tmp_path / "run", None, None, overwrite=False).raw_model.eval()
    ids = torch.tensor([[101, 110, 120, 130, 102, 140, 150, 102]])
    with torch.no_grad():
        ours = model.discriminator.electra(input_ids=ids).last_hidden_state
        theirs = AutoModel.from_pretrained(folder).eval()(input_ids=ids).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_a_sentence_transformers_folder_pretrains_and_finetunes(google, tmp_path):
    folder = write_zoo_folder(tmp_path, "sentence-transformers", WORDS)
    result = run_cli("pretrain", "--shards", google["shards"], "--out", tmp_path / "run", "--max-steps", "2", *RUN,
                     "--init-discriminator", folder)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "discriminator: loaded" in text and "starting fresh: discriminator_predictions" in text
    assert "not used: pooler." in text
    train, val = write_family_task(tmp_path / "task", n_train=48, n_val=16)
    for model in (folder, write_zoo_folder(tmp_path, "electra-model", WORDS)):
        out = tmp_path / f"ft-{model.name}"
        result = run_cli("finetune", "--model", model, "--train", train, "--validation", val, "--out", out,
                         "--epochs", "1", "--batch-size", "16", "--lr", "1e-3")
        assert result.exit_code == 0, result.output
        assert (out / "metrics.json").is_file()
    # inspect on our own run and fine-tuned folders
    fine_tuned = json.loads(run_cli("inspect", out, "--json").output)
    assert fine_tuned["kind"] == "fine-tuned model" and fine_tuned["roles"]["predict --model"]["ok"]
    run = json.loads(run_cli("inspect", tmp_path / "run", "--json").output)
    assert run["kind"] == "run" and run["final"] == ["discriminator", "generator"]
    assert run["roles"]["finetune --model"]["ok"] and not run["roles"]["predict --model"]["ok"]
    assert run["checkpoints"] == ["step-00000002"] and run["roles"]["pretrain --resume"]["ok"]
    step = json.loads(run_cli("inspect", tmp_path / "run" / "checkpoints" / "step-00000002", "--json").output)
    assert step["kind"] == "checkpoint" and list(step["roles"]) == ["pretrain --resume"]


def test_gdes_with_only_a_discriminator_keeps_its_published_embeddings(google, tmp_path):
    """Issue 24 item 3: under gdes the discriminator reads the generator's embeddings plus a delta; with only
    --init-discriminator the generator starts from the published copy, so the discriminator starts exactly."""
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import setup

    cfg = load_pretrain_config("electra-tiny", RUN[3::2] + [
        f'init.discriminator="{google["disc"]}"', 'model.embedding_sharing="gdes"'])
    run = setup(cfg, google["shards"], tmp_path / "run", None, None, overwrite=False)
    published = load_weights(google["disc"])["electra.embeddings.word_embeddings.weight"]
    assert torch.equal(run.raw_model.discriminator_word_embeddings(), published)


def test_a_bare_tokenizer_json_is_taken_as_transformers_takes_it(tmp_path):
    """A folder with only a BERT tokenizer.json (no class named anywhere): transformers uses the file as it is;
    so do the shards, with the special tokens found by BERT's names."""
    from tests.published import wordpiece_tokenizer_json

    folder = tmp_path / "bare"
    folder.mkdir()
    wordpiece_tokenizer_json(google_vocab(WORDS)).save(str(folder / "tokenizer.json"))
    manifest, rows = zoo_shards(tmp_path, folder, MIXED[:2])
    tokenizer, expected = expected_ids(folder, MIXED[:2])
    assert sorted([t for t in r[1:-1] if t != 102] for r in rows) == sorted(expected)
    assert manifest["vocab"]["special_ids"] == {"pad": 0, "unk": 100, "cls": 101, "sep": 102, "mask": 103}
