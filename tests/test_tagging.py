"""Tagging (NER) scored and written as everyone does (issue 32, items 0, 2, 5, 9): entity-level F1 equal to
seqeval's as the headline, one tag per input word in every prediction file however long the sentence, every
character a position in character-level tasks, CLUE's `get_entity_bio` reading for CLUE's micro F1, and
tokens/tags JSON lines recognised as tagging data."""

import json
import random

import pytest
import torch
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

from electra_cli.tasks import ner
from electra_cli.tasks.presets import read_char_tags, read_cluener
from tests.conftest import run_cli
from tests.published import write_hfl_chinese_electra_small

TYPES = ("PER", "LOC", "ORG")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny random HFL-layout Chinese model (Google's Chinese BERT vocab layout: one token per CJK character)."""
    return write_hfl_chinese_electra_small(tmp_path_factory.mktemp("zh-model"))[0]


def random_tags(rng, n):
    """Tags as a tagger may write them: well-formed BIO, stray I- of another type, BIOES, S- singletons."""
    return [rng.choice(["O", "O", "O"] + [f"{p}-{t}" for p in "BIES" for t in TYPES]) for _ in range(n)]


def test_entity_scores_equal_seqeval_on_the_same_tags():
    from electra_cli.finetuning.entities import entity_scores, entity_spans

    rng = random.Random(0)
    gold = [random_tags(rng, rng.randint(1, 30)) for _ in range(300)]
    # predictions: the gold with some tags changed, so that there are right, wrong and missed entities
    predicted = [[t if rng.random() < 0.8 else random_tags(rng, 1)[0] for t in row] for row in gold]
    ours = entity_scores(gold, predicted)
    assert ours["entity_f1"] == pytest.approx(f1_score(gold, predicted))
    assert ours["entity_precision"] == pytest.approx(precision_score(gold, predicted))
    assert ours["entity_recall"] == pytest.approx(recall_score(gold, predicted))
    report = classification_report(gold, predicted, output_dict=True)
    for kind in TYPES:
        assert ours["per_type"][kind]["f1"] == pytest.approx(report[kind]["f1-score"])
        assert ours["per_type"][kind]["precision"] == pytest.approx(report[kind]["precision"])
        assert ours["per_type"][kind]["support"] == report[kind]["support"]
    for row in gold[:100]:
        assert entity_spans(row) == get_entities(row)


def test_clue_micro_f1_reads_tags_as_get_entity_bio():
    """CLUENER2020 pytorch_version/processors/utils_ner.py, get_entity_bio: an I- of another type inside a span is
    skipped without ending it; an I- outside a span starts nothing; S-/E- close a span; a span open at the last
    tag is kept."""
    assert ner.tags_to_spans(["B-name", "I-address", "I-name", "O"]) == [("name", 0, 2)]
    assert ner.tags_to_spans(["I-PER", "B-LOC", "I-PER", "S-ORG", "B-PER", "E-PER"]) == [("LOC", 1, 1), ("PER", 4, 4)]
    assert ner.tags_to_spans(["B-a", "B-a", "I-a"]) == [("a", 0, 0), ("a", 1, 2)]  # adjacent spans
    assert ner.tags_to_spans(["O", "B-game"]) == [("game", 1, 1)]
    assert ner.tags_to_spans(["B-a", "I-b"]) == [("a", 0, 0)]
    # the strict reading (seqeval's, the runs' headline): there I-address ends the name and starts an address
    assert get_entities(["B-name", "I-address", "I-name", "O"]) == [("name", 0, 0), ("address", 1, 1), ("name", 2, 2)]


def test_score_cluener_micro_f1_as_the_clue_baseline(tmp_path):
    reference = tmp_path / "dev.json"
    reference.write_text(json.dumps({"text": "张三住北京", "label": {"name": {"张三住": [[0, 2]]}}},
                                    ensure_ascii=False) + "\n", encoding="utf-8")
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(json.dumps({"id": 0, "tags": ["B-name", "I-address", "I-name", "O", "O"]}) + "\n")
    result = run_cli("score", reference, predictions, "--task", "cluener")
    assert result.exit_code == 0, result.output
    assert "micro_f1 100.000" in result.output


def test_char_files_keep_spaces_and_full_width_characters(tmp_path):
    """People's Daily / MSRA lines are `char TAG`; a space is a character (`  O`), as is a full-width digit."""
    path = tmp_path / "example.dev"
    path.write_text("玩 O\nN B-game\nB I-game\nA I-game\n  I-game\n２ I-game\nK I-game\n\n"
                    "\u3000 O\n王 B-PER\n\n", encoding="utf-8")
    rows = [row for _, row in read_char_tags(path, "dev")]
    assert rows[0]["text"] == "玩NBA ２K" and rows[0]["tokens"][4] == " " and len(rows[0]["tags"]) == 7
    assert get_entities(rows[0]["tags"]) == [("game", 1, 6)]
    assert rows[1]["tokens"] == ["\u3000", "王"]


def test_every_character_is_a_position(model):
    """CLUENER2020's CNerTokenizer: each character is itself or [UNK], so a space keeps its tag."""
    from transformers import AutoTokenizer

    from electra_cli.finetuning import tagging

    tokenizer = AutoTokenizer.from_pretrained(model)
    record = {"text": "玩NBA 2K", "label": {"game": {"NBA 2K": [[1, 6]]}}}
    path = model.parent / "cluener.json"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    (_, row), = read_cluener(path, "dev")
    assert tagging.single_characters([row["tokens"]])
    (window,) = tagging.windows(tokenizer, [row["tokens"]], 128, characters=True)
    assert window.first_of == [None, 0, 1, 2, 3, 4, 5, 6, None]
    assert window.input_ids[5] == tokenizer.unk_token_id  # the space
    spans = get_entities(row["tags"])
    assert spans == [("game", 1, 6)] and row["text"][1:7] == "NBA 2K"


def test_long_sentences_are_tagged_through_windows(model):
    from transformers import AutoTokenizer

    from electra_cli.finetuning import tagging

    tokenizer = AutoTokenizer.from_pretrained(model)
    words = [f"w{i}" for i in range(60)] + ["\u200b"]  # a zero-width word the tokenizer drops: [UNK]
    cut = tagging.windows(tokenizer, [words], 12, characters=False)
    assert len(cut) > 1 and all(len(w.input_ids) <= 12 for w in cut)
    assert {word for w in cut for word in w.first_of if word is not None} == set(range(len(words)))
    logits = [torch.randn(len(w.input_ids), 3) for w in cut]
    (merged,) = tagging.word_logits(cut, logits, [len(words)])
    assert merged.shape == (len(words), 3) and bool((merged != 0).any(-1).all())


def people_daily_jsonl(path, count, rng, long_every=7):
    """Tokens/tags JSON lines of character-level sentences, some longer than the model's window, some with a
    space inside an entity."""
    rows = []
    for i in range(count):
        head = "".join(rng.choice("的一是在不了有和人这中大为上个国我") for _ in range(rng.randint(3, 8)))
        name = rng.choice("王李张刘") + rng.choice("伟芳娜敏")
        place = rng.choice("江河湖山") + rng.choice(["", " "]) + rng.choice("省市县")
        tail = "".join(rng.choice("的一是在不了有和人这中大为上个国我") for _ in range(40 if i % long_every == 0 else 4))
        text = head + name + "在" + place + tail
        tags = ["O"] * len(text)
        for kind, start, surface in (("PER", len(head), name), ("LOC", len(head) + len(name) + 1, place)):
            tags[start] = f"B-{kind}"
            tags[start + 1 : start + len(surface)] = [f"I-{kind}"] * (len(surface) - 1)
        rows.append({"id": f"s{i}", "tokens": list(text), "tags": tags})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return rows


def test_tokens_tags_jsonl_run_is_scored_by_entity_f1_and_tags_every_word(model, tmp_path):
    """No --task-type: the tokens/tags layout is tagging; the headline is entity F1 (equal to seqeval's on the
    prediction file), accuracy the second figure; the prediction file has one tag per character of sentences
    three times the model's window, with the gold, the text and entities whose text is text[start:end+1]."""
    rng = random.Random(1)
    train = people_daily_jsonl(tmp_path / "train.jsonl", 60, rng)
    dev = people_daily_jsonl(tmp_path / "dev.jsonl", 21, rng)
    out = tmp_path / "ft"
    result = run_cli("finetune", "--model", model, "--train", tmp_path / "train.jsonl", "--validation",
                     tmp_path / "dev.jsonl", "--out", out, "--max-seq-len", "16", "--epochs", "2", "--lr", "1e-3",
                     "--batch-size", "8")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["task_type"] == "token-classification" and summary["metric"] == "entity_f1"
    assert list(summary["seeds"][0])[:5] == ["seed", "entity_f1", "entity_precision", "entity_recall", "accuracy"]
    assert set(summary["per_type"]) <= {"PER", "LOC"} and summary["collapse"]["seeds"] == 1
    rows = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in dev]
    for row, source in zip(rows, dev):
        assert row["tokens"] == source["tokens"] and row["gold"] == source["tags"]
        assert len(row["tags"]) == len(row["tokens"]) and None not in row["tags"]
        assert row["text"] == "".join(source["tokens"])
        for entity in row["entities"]:
            assert row["text"][entity["start"] : entity["end"] + 1] == entity["text"]
    assert max(len(r["tokens"]) for r in rows) > 3 * 16
    gold, predicted = [r["gold"] for r in rows], [r["tags"] for r in rows]
    assert summary["median"] == pytest.approx(f1_score(gold, predicted)) == summary["seeds"][0]["entity_f1"]
    flat = [(g, p) for r in rows for g, p in zip(r["gold"], r["tags"])]
    assert summary["seeds"][0]["accuracy"] == pytest.approx(sum(g == p for g, p in flat) / len(flat))


def test_predict_tags_every_character_and_spans_index_the_text(model, tmp_path):
    """CLUENER preset, then predict with the model made to answer I-game everywhere: `玩NBA 2K` gets seven tags
    (the space too) and one entity whose text is text[start:end+1]."""
    data = tmp_path / "cluener_public"
    data.mkdir()
    rows = [{"text": "玩NBA 2K", "label": {"game": {"NBA 2K": [[1, 6]]}}},
            {"text": "浙商银行企业信贷部叶老桂博士", "label": {"name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}}}]
    for name in ("train.json", "dev.json"):
        (data / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows * 3), encoding="utf-8")
    out = tmp_path / "ft"
    result = run_cli("finetune", "--model", model, "--task", "cluener", "--data-dir", tmp_path, "--out", out,
                     "--epochs", "1", "--batch-size", "4", "--max-seq-len", "48")
    assert result.exit_code == 0, result.output
    predictions = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
    assert predictions[0]["tokens"] == list("玩NBA 2K")
    assert get_entities(predictions[0]["gold"]) == [("game", 1, 6)]

    from safetensors.torch import load_file, save_file

    config = json.loads((out / "config.json").read_text())
    weights = load_file(out / "model.safetensors")
    weights["classifier.weight"].zero_()
    weights["classifier.bias"].zero_()
    weights["classifier.bias"][config["label2id"]["I-game"]] = 10.0
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    source = tmp_path / "input.jsonl"
    source.write_text(json.dumps({"text": "玩NBA 2K"}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = run_cli("predict", "--model", out, source, "--out", tmp_path / "tags.jsonl")
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "tags.jsonl").read_text())
    assert row["tokens"] == list("玩NBA 2K") and row["tags"] == ["I-game"] * 7
    assert row["entities"] == [{"type": "game", "start": 0, "end": 6, "text": "玩NBA 2K"}]
    assert row["text"][0:7] == row["entities"][0]["text"]


def test_score_peoples_daily_reports_seqeval_entity_f1(tmp_path):
    """`score` on People's Daily: entity_f1 is seqeval's F1 on the same tags (CLUE's micro F1 stays beside it)."""
    sentences = [("周恩来访问上海", ["B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]),
                 ("新华社报道", ["B-ORG", "I-ORG", "I-ORG", "O", "O"]),
                 ("厦门与金门", ["B-LOC", "I-LOC", "O", "B-LOC", "I-LOC"])]
    reference = tmp_path / "example.dev"
    reference.write_text("".join("".join(f"{c} {t}\n" for c, t in zip(text, tags)) + "\n" for text, tags in sentences),
                         encoding="utf-8")
    predicted = [["B-PER", "I-LOC", "I-PER", "O", "O", "B-LOC", "I-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O", "O"],
                 ["I-LOC", "I-LOC", "O", "B-LOC", "B-LOC"]]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": i, "tags": tags}) + "\n" for i, tags in enumerate(predicted)))
    result = run_cli("score", reference, predictions, "--task", "peoples-daily", "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    gold = [tags for _, tags in sentences]
    assert scores["entity_f1"] == pytest.approx(100 * f1_score(gold, predicted), abs=1e-3)
    assert scores["entity_f1"] != scores["micro_f1"]  # CLUE's get_entity_bio reads B-PER I-LOC I-PER as one name
