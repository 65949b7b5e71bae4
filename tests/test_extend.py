"""Extending a published vocabulary for a domain (issue 35): `vocab --extend`, shards with it, `pretrain --init-*`
growing both models' rows, resume, export and `inspect`; compared with what transformers does with the folders."""

from __future__ import annotations

import json
import random
import re

import pytest
import torch
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining

from tests.conftest import WORDS, make_sentences, run_cli
from tests.published import (
    COMMON_CJK,
    load_weights,
    write_google_electra_small,
    write_hfl_chinese_electra_small,
)
from tests.test_published import RUN

DOMAIN = ["electroencephalography", "neurophysiology", "photosynthesis", "thermodynamics"]
UNUSED = re.compile(r"\[unused\d+\]")


def domain_corpus(path, seed=0, invented=130):
    """Everyday sentences with domain words, a character the uncased Google vocab lacks (☃), and `invented`
    made-up words seen 3 times each (more candidates than the 109 [unused] slots, so that some are appended)."""
    rng = random.Random(seed)
    made_up = ["".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(5))
               for _ in range(invented)]
    docs = []
    for i in range(120):
        lines = make_sentences(rng, rng.randint(2, 5))
        lines.append(f"The {rng.choice(DOMAIN)} of the {rng.choice(DOMAIN)} ☃ study.")
        if i < len(made_up):
            lines.append(f"{made_up[i]} {made_up[i]} {made_up[i]} river.")
        docs.append("\n".join(lines))
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """A google/electra-small-style pair, a domain corpus, the vocabulary extended by 120, shards with it."""
    tmp = tmp_path_factory.mktemp("extend")
    disc, gen = write_google_electra_small(tmp / "hub", WORDS)
    text = domain_corpus(tmp / "domain.txt")
    result = run_cli("vocab", text, "--extend", disc, "--add", "120", "--out", tmp / "vocab")
    assert result.exit_code == 0, result.output
    result = run_cli("shard", text, "--vocab", tmp / "vocab", "--out", tmp / "shards", "--max-seq-len", "32",
                     "--workers", "1", "--validation-fraction", "0.05")
    assert result.exit_code == 0, result.output
    added = json.loads((tmp / "vocab" / "added.json").read_text())
    return {"disc": disc, "gen": gen, "corpus": text, "vocab": tmp / "vocab", "shards": tmp / "shards",
            "added": added["tokens"], "base": added["base"], "output": result.output, "tmp": tmp}


def lines_of(folder):
    return (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()


def test_published_ids_are_kept_and_unused_slots_fill_first(extended):
    published, grown = lines_of(extended["disc"]), lines_of(extended["vocab"])
    added = extended["added"]
    slots = [i for i, t in enumerate(published) if UNUSED.fullmatch(t)]
    assert len(added) == 120 and len(slots) == 109
    assert [a["id"] for a in added] == slots + list(range(len(published), len(published) + 11))
    assert all(grown[a["id"]] == a["token"] for a in added)
    kept = [i for i in range(len(published)) if i not in set(slots)]
    assert all(grown[i] == published[i] for i in kept)  # every published token keeps its id
    assert len(grown) == len(published) + 11
    assert extended["base"] == {**extended["base"], "vocab_size": len(published), "added": 120,
                                "filled_unused": 109, "appended": 11}
    # the unknown character first, then the words that save the most pieces
    assert added[0]["token"] == "☃" and added[0]["pieces_before"] == ["[UNK]"]
    assert {a["token"] for a in added} >= set(DOMAIN)
    assert {a["reason"] for a in added} <= {"unknown character", "word", "continuation"}


def test_transformers_tokenizes_each_added_word_as_one_token(extended):
    ours = AutoTokenizer.from_pretrained(extended["vocab"])
    theirs = AutoTokenizer.from_pretrained(extended["disc"])
    for a in extended["added"]:
        if a["token"].startswith("##"):
            continue
        assert ours.tokenize(a["token"].upper()) == [a["token"]]  # lowercased as the published one
        assert a["pieces_before"] == theirs.tokenize(a["token"])  # recorded as transformers split it before
        assert theirs.convert_tokens_to_ids(a["pieces_before"]) == a["piece_ids_before"]
    text = "The city river was built in the north."  # no added word: the same ids as before
    assert ours(text)["input_ids"] == theirs(text)["input_ids"]
    # tokenizer.json, tokenizer_config.json and vocab.txt agree: the fast tokenizer's vocab is vocab.txt's
    assert ours.get_vocab() == {t: i for i, t in enumerate(lines_of(extended["vocab"]))}
    config = json.loads((extended["vocab"] / "tokenizer_config.json").read_text())
    assert config["do_lower_case"] is True and config["tokenize_chinese_chars"] is True
    # the closing table and its figures
    figures = json.loads((extended["vocab"] / "vocab.json").read_text())["figures"]
    assert figures["after"]["unk_rate"] == 0 < figures["before"]["unk_rate"]
    assert figures["after"]["pieces_per_word"] < figures["before"]["pieces_per_word"]


def test_shards_use_the_added_tokens(extended):
    import pyarrow as pa

    manifest = json.loads((extended["shards"] / "manifest.json").read_text())
    assert manifest["vocab"]["size"] == len(lines_of(extended["vocab"]))
    ids = set()
    for shard in manifest["splits"]["train"]["shards"]:
        with pa.memory_map(str(extended["shards"] / shard["file"])) as source:
            ids.update(t for row in pa.ipc.open_stream(source).read_all().column("input_ids").to_pylist() for t in row)
    assert {a["id"] for a in extended["added"] if a["token"] in DOMAIN + ["☃"]} <= ids
    assert 100 not in ids  # no [UNK] left


@pytest.mark.parametrize("sharing", ["tied", "gdes"])
def test_the_start_is_exact_on_published_tokens_and_new_rows_are_their_pieces_mean(extended, tmp_path, sharing):
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import setup

    overrides = RUN[3::2] + [f'init.discriminator="{extended["disc"]}"', f'init.generator="{extended["gen"]}"',
                             f'model.embedding_sharing="{sharing}"']
    cfg = load_pretrain_config("electra-tiny", overrides)
    model = setup(cfg, extended["shards"], tmp_path / "run", None, None, overwrite=False).raw_model.eval()
    size = len(lines_of(extended["vocab"]))
    new_ids = [a["id"] for a in extended["added"]]
    words = [lines_of(extended["vocab"]).index(w) for w in ("the", "city", "river", "north", "music")]
    ids = torch.tensor([[101, *words[:3], 102, *words[3:], 102]])  # published tokens only
    with torch.no_grad():
        if sharing == "gdes":
            embeds = torch.nn.functional.embedding(ids, model.discriminator_word_embeddings())
            ours_d = model.discriminator(inputs_embeds=embeds).logits
        else:
            ours_d = model.discriminator(input_ids=ids).logits
        ours_g = model.generator(input_ids=ids).logits
        theirs_d = ElectraForPreTraining.from_pretrained(extended["disc"]).eval()(input_ids=ids).logits
        theirs_g = ElectraForMaskedLM.from_pretrained(extended["gen"]).eval()(input_ids=ids).logits
    published = [i for i in range(theirs_g.shape[-1]) if i not in set(new_ids)]
    assert torch.allclose(ours_d, theirs_d, atol=1e-6 if sharing == "gdes" else 0)
    assert torch.equal(ours_g[..., published], theirs_g[..., published]) and ours_g.shape[-1] == size

    key = "electra.embeddings.word_embeddings.weight"
    source_d, source_g = load_weights(extended["disc"]), load_weights(extended["gen"])
    matrices = {"generator": (model.generator.electra.embeddings.word_embeddings.weight, source_g[key]),
                "discriminator": (model.discriminator_word_embeddings(), source_d[key]),
                "generator bias": (model.generator.generator_lm_head.bias, source_g["generator_lm_head.bias"])}
    for name, (grown, before) in matrices.items():
        assert grown.shape[0] == size, name
        assert torch.equal(grown[published], before[published]) or sharing == "gdes", name
        for a in extended["added"]:
            rows = before if a["pieces_before"] == ["[UNK]"] else before[a["piece_ids_before"]]
            assert torch.allclose(grown[a["id"]], rows.double().mean(0).float(), atol=1e-6), (name, a["token"])


def test_an_extended_run_resumes_exports_and_inspects(extended, tmp_path):
    init = ["--init-discriminator", extended["disc"], "--init-generator", extended["gen"]]
    straight, split = tmp_path / "straight", tmp_path / "split"
    result = run_cli("pretrain", "--shards", extended["shards"], "--out", straight, "--max-steps", "4", *RUN, *init)
    assert result.exit_code == 0, result.output
    assert "vocabulary extended by 120 tokens (109 in [unused] slots, 11 appended: 353 -> 364 rows)" in " ".join(
        result.output.split())
    result = run_cli("pretrain", "--shards", extended["shards"], "--out", split, "--max-steps", "4", *RUN, *init,
                     "--set", "train.stop_at=2", "--set", "train.save_every=2")
    assert result.exit_code == 0, result.output
    result = run_cli("pretrain", "--shards", extended["shards"], "--out", split, "--resume", "auto")
    assert result.exit_code == 0, result.output
    a, b = load_weights(straight / "final" / "discriminator"), load_weights(split / "final" / "discriminator")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    for role, model_class in (("discriminator", ElectraForPreTraining), ("generator", ElectraForMaskedLM)):
        folder = straight / "final" / role
        assert (folder / "vocab.txt").read_bytes() == (extended["vocab"] / "vocab.txt").read_bytes()
        model, info = model_class.from_pretrained(folder, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"] and model.config.vocab_size == 364
        tokenizer = AutoTokenizer.from_pretrained(folder)
        assert tokenizer.tokenize("Electroencephalography ☃") == ["electroencephalography", "☃"]
        result = run_cli("inspect", folder)
        assert result.exit_code == 0, result.output
        assert "published base of 353 tokens + 120 added" in " ".join(result.output.split())
    result = run_cli("inspect", extended["vocab"])
    assert "published base of 353 tokens + 120 added (109 in [unused] slots, 11 appended)" in " ".join(
        result.output.split())
    # a later run continues from the export, whose vocabulary is already the extended one
    result = run_cli("pretrain", "--shards", extended["shards"], "--out", tmp_path / "again", "--max-steps", "2",
                     *RUN, "--init-from", straight / "final")
    assert result.exit_code == 0, result.output
    assert "vocabulary extended" not in result.output


def test_a_chinese_folder_gets_its_unknown_characters_first(tmp_path):
    """HFL's Chinese ELECTRA: rare characters are [UNK] (the text is lost); they are added before a more frequent
    unknown non-Chinese character, most frequent first, and transformers keeps them as one token each."""
    disc, _ = write_hfl_chinese_electra_small(tmp_path / "hub")
    rng = random.Random(0)
    lines = []
    for i in range(60):
        common = "".join(rng.choice(COMMON_CJK) for _ in range(12))
        lines.append(f"{common}龘{common[:3]}" + ("靐" if i % 2 else "") + ("䶮" if i % 10 == 0 else "") + " ☃ ☃ ☃")
    text = tmp_path / "zh.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("vocab", text, "--extend", disc, "--add", "3", "--out", tmp_path / "vocab")
    assert result.exit_code == 0, result.output
    added = json.loads((tmp_path / "vocab" / "added.json").read_text())["tokens"]
    assert [(a["token"], a["reason"], a["count"]) for a in added] == [
        ("龘", "unknown Chinese character", 60), ("靐", "unknown Chinese character", 30),
        ("䶮", "unknown Chinese character", 6)]
    published = lines_of(disc)
    assert [a["id"] for a in added] == [published.index(f"[unused{k}]") for k in (1, 2, 3)]
    ours, theirs = AutoTokenizer.from_pretrained(tmp_path / "vocab"), AutoTokenizer.from_pretrained(disc)
    sample = lines[1]
    assert theirs.tokenize(sample).count("[UNK]") == 2 + 3  # 龘 and 靐 lost, and the three snowmen
    assert ours.tokenize(sample).count("[UNK]") == 3  # only the snowmen: --add 3 took the Chinese ones first
    assert [t for t in ours.tokenize(sample) if t in ("龘", "靐")] == ["龘", "靐"]
    assert ours.tokenize("中文") == theirs.tokenize("中文") == ["中", "文"]  # characters still split one per token
    assert "<S>" in lines_of(tmp_path / "vocab")


def test_usage_errors(extended, tmp_path):
    text = extended["corpus"]
    result = run_cli("vocab", text, "--extend", extended["disc"], "--out", tmp_path / "a")
    assert result.exit_code == 2 and "--add" in result.output
    result = run_cli("vocab", text, "--extend", extended["disc"], "--add", "5", "--cased", "--out", tmp_path / "b")
    assert result.exit_code == 2 and "casing" in result.output
    result = run_cli("vocab", text, "--extend", extended["disc"], "--add", "0", "--out", tmp_path / "c")
    assert result.exit_code == 2 and "--add must be at least 1" in result.output
    # shards of the extended vocabulary and a folder that is not its base: refused, naming both
    other, _ = write_google_electra_small(tmp_path / "other", WORDS[:-3])
    result = run_cli("pretrain", "--shards", extended["shards"], "--out", tmp_path / "run", "--max-steps", "1",
                     *RUN, "--init-discriminator", other)
    assert result.exit_code == 2 and "vocabulary" in result.output and "Traceback" not in result.output


def test_a_shared_word_rest_is_added_as_the_continuation_wordpiece_uses(extended, tmp_path):
    """Words seen once each (no whole word qualifies) that share a long rest after their first piece: the rest is
    added as `##synthesis`, which transformers then uses right after each word's first piece."""
    firsts = ["city", "river", "music", "game", "film", "school", "team", "world"]
    text = tmp_path / "rests.txt"
    text.write_text("\n".join(f"The {w}synthesis was new." for w in firsts) + "\n", encoding="utf-8")
    result = run_cli("vocab", text, "--extend", extended["disc"], "--add", "1", "--out", tmp_path / "vocab")
    assert result.exit_code == 0, result.output
    (added,) = json.loads((tmp_path / "vocab" / "added.json").read_text())["tokens"]
    theirs = AutoTokenizer.from_pretrained(extended["disc"])
    assert (added["token"], added["reason"], added["count"]) == ("##synthesis", "continuation", 8)
    assert added["pieces_before"] == theirs.tokenize("citysynthesis")[1:]  # the rest's pieces, as transformers split it
    ours = AutoTokenizer.from_pretrained(tmp_path / "vocab")
    assert all(ours.tokenize(f"{w}synthesis") == [w, "##synthesis"] for w in firsts)
