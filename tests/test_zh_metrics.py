"""The Chinese benchmarks' official metrics on hand-computed cases, and `electra-cli score` through the CLI:
CMRC 2018's mixed segmentation with nltk (numbers stay whole), CLUENER's macro-F1 with a type never predicted
and the baseline's micro span F1, CLUE accuracy with missing predictions, bad input as one line and exit 3."""

import json

import pytest

from electra_cli.tasks import ner
from electra_cli.tasks.presets import wsc_markup
from electra_cli.qa import metrics as qa_metrics
from tests.conftest import run_cli
from tests.test_zh_presets import CLUENER, jsonl, write_afqmc


def test_cmrc_keeps_numbers_whole_as_the_official_script():
    nltk = pytest.importorskip("nltk")
    # cmrc2018_evaluate.py: each CJK character alone, other runs through nltk.word_tokenize
    assert qa_metrics.cmrc_segments("3.5亿元") == ["3.5", "亿", "元"]
    assert qa_metrics.cmrc_segments("1,200人跑了9.58秒") == ["1,200", "人", "跑", "了", "9.58", "秒"]
    assert nltk.word_tokenize("9.58", preserve_line=True) == ["9.58"]
    # gold 3.5亿元 (3 pieces), answer 3.5亿 (2): common run 2, P 1, R 2/3 -> F1 0.8 (0.889 when 3.5 was 3 pieces)
    assert qa_metrics.cmrc_f1("3.5亿元", "3.5亿") == pytest.approx(0.8)
    assert qa_metrics.cmrc_f1("1,200人", "1,200") == pytest.approx(2 / 3)  # P 1, R 1/2
    assert qa_metrics.cmrc_f1("9.58秒", "9.58") == pytest.approx(2 / 3)
    assert qa_metrics.cmrc_exact("3.5亿元", "3.5亿") == 0.0


def test_cluener_macro_f1_with_a_type_never_predicted_and_the_micro_span_f1():
    texts = [r["text"] for r in CLUENER]
    gold = [ner.label_dict_spans(r["label"], r["text"], "gold") for r in CLUENER]
    third = CLUENER[2]["text"]
    extra = third.index("枪手")
    predicted = [[("name", 9, 11)], [("game", 4, 7)],
                 [("name", 0, 1), ("organization", 23, 24), ("name", extra, extra + 1)]]
    scores = ner.ner_scores(texts, gold, predicted, ner.CLUENER_TYPES)
    # name: 2 right of 3 predicted, 2 gold -> P 2/3, R 1, F1 0.8; company never predicted -> 0 (not 0/0);
    # game 1, organization 1; the six types absent from both score 0; mean over ten: (0.8 + 1 + 1) / 10
    assert scores["per_type"]["company"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert scores["per_type"]["name"]["f1"] == pytest.approx(0.8)
    assert scores["macro_f1"] == pytest.approx(0.28)
    # micro over spans: 4 right of 5 predicted, 5 gold -> 0.8
    assert scores["micro_f1"] == pytest.approx(0.8)


def test_tags_and_cluener_spans_round_trip():
    text = CLUENER[0]["text"]
    spans = ner.label_dict_spans(CLUENER[0]["label"], text, "here")
    tags = ner.spans_to_tags(len(text), spans)
    assert tags[:5] == ["B-company", "I-company", "I-company", "I-company", "O"] and tags[9:12] == ["B-name", "I-name", "I-name"]
    assert sorted(ner.tags_to_spans(tags)) == sorted(spans)
    assert ner.spans_to_label_dict(text, ner.tags_to_spans(tags)) == CLUENER[0]["label"]
    # read as CLUENER2020's get_entity_bio: an I- without its B- starts nothing, an I- of another type inside a
    # span is skipped, S-/E- close a span (tests/test_tagging.py has the cases)
    assert ner.tags_to_spans(["I-PER", "B-LOC", "I-PER", "S-ORG", "B-PER", "E-PER"]) == [("LOC", 1, 1), ("PER", 4, 4)]


def test_cluewsc_markup_as_clue_baseline():
    text = "小明把书借给了小红，他希望她喜欢。"
    assert wsc_markup(text, "小明", 0, "他", 10, "x") == "_小明_把书借给了小红，[他]希望她喜欢。"
    assert wsc_markup("他说小明会来。", "小明", 2, "他", 0, "x") == "[他]说_小明_会来。"


def squad(path, rows):
    qas = [{"id": qid, "question": "问题？", "answers": [{"text": a, "answer_start": 0} for a in answers]}
           for qid, answers in rows]
    path.write_text(json.dumps({"version": "v1.0", "data": [{"paragraphs": [{"context": "上下文", "qas": qas}]}]},
                               ensure_ascii=False), encoding="utf-8")
    return path


def test_score_cmrc2018_official_prediction_file_with_a_missing_answer(tmp_path):
    pytest.importorskip("nltk")
    reference = squad(tmp_path / "cmrc2018_dev.json", [("q1", ["3.5亿元"]), ("q2", ["北京", "北京市"]), ("q3", ["上海"])])
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps({"q1": "3.5亿", "q2": "北京"}, ensure_ascii=False), encoding="utf-8")
    result = run_cli("score", "--task", "cmrc2018", reference, predictions, "--json")
    assert result.exit_code == 0, result.output
    # q1: EM 0, F1 0.8; q2: 1, 1; q3 missing: 0, 0 -> EM 33.333, F1 60, average 46.667
    assert json.loads(result.output) == {"em": 33.333, "f1": 60.0, "average": 46.667, "total": 3, "missing": 1}
    jsonl(tmp_path / "predict.jsonl", [{"id": "q1", "answer": "3.5亿", "score": 0.9}, {"id": "q3", "answer": "上海"}])
    result = run_cli("score", "--task", "drcd", reference, tmp_path / "predict.jsonl", "--json")
    assert json.loads(result.output)["f1"] == 60.0 and "1 without" not in result.output


def test_score_cluener_official_file_and_predict_jsonl(tmp_path):
    reference = jsonl(tmp_path / "dev.json", CLUENER)
    official = jsonl(tmp_path / "cluener_predict.json", [
        {"id": 0, "label": {"name": {"叶老桂": [[9, 11]]}}},
        {"id": 2, "label": {"name": {"温格": [[0, 1]], "枪手": [[28, 29]]}, "organization": {"曼联": [[23, 24]]}}}])
    result = run_cli("score", "--task", "cluener", reference, official, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    # the game sentence has no prediction: game scores 0 -> macro (0.8 + 1) / 10; micro: 3 right of 4, 5 gold
    assert (scores["macro_f1"], scores["micro_f1"], scores["missing"], scores["total"]) == (18.0, 66.667, 1, 3)
    tags = ner.spans_to_tags(len(CLUENER[1]["text"]), [("game", 4, 7)])
    jsonl(tmp_path / "tags.jsonl", [{"id": 1, "tokens": list(CLUENER[1]["text"]), "tags": tags}])
    scores = json.loads(run_cli("score", "--task", "cluener", reference, tmp_path / "tags.jsonl", "--json").output)
    assert scores["per_type_f1"]["game"] == 100.0 and scores["missing"] == 2
    bad = jsonl(tmp_path / "bad.json", [{"id": 0, "label": {"person": {"叶老桂": [[9, 11]]}}}])
    result = run_cli("score", "--task", "cluener", reference, bad)
    assert result.exit_code == 3 and "bad.json:1" in result.output and "person" in result.output


def test_score_clue_classification_missing_and_bad_input(tmp_path):
    write_afqmc(tmp_path)
    reference = tmp_path / "afqmc_public" / "dev.json"  # labels 1, 0, 1, 0
    predictions = jsonl(tmp_path / "afqmc_predict.json", [{"id": 0, "label": "1"}, {"id": 1, "label": "1"},
                                                         {"id": 2, "label": "1"}])
    result = run_cli("score", "--task", "afqmc", reference, predictions)
    assert result.exit_code == 0, result.output
    assert "accuracy 50.000" in result.output and "1 without a prediction" in result.output
    cases = {"unknown.json": '{"id": 0, "label": "2"}\n', "broken.json": '{"id": 0, "label": "1"}\n{"id": 1,\n',
             "noid.json": '{"label": "1"}\n', "stranger.json": '{"id": 0, "label": "1"}\n{"id": 99, "label": "0"}\n'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        result = run_cli("score", "--task", "afqmc", reference, tmp_path / name)
        assert result.exit_code == 3, (name, result.output)
        assert name in result.output and "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert "broken.json:2" in run_cli("score", "--task", "afqmc", reference, tmp_path / "broken.json").output
    result = run_cli("score", "--task", "nosuch", reference, predictions)
    assert result.exit_code == 2


def test_score_peoples_daily_from_predict_jsonl_and_squad_v1(tmp_path):
    from tests.test_zh_presets import PD, write_peoples_daily

    write_peoples_daily(tmp_path)
    reference = tmp_path / "peoples_daily" / "example.dev"
    # sentence 0: both LOC right; sentence 1: PER right, LOC missed; sentence 2: no prediction (missing)
    rows = []
    for i, (text, spans) in enumerate(PD[:2]):
        keep = spans if i == 0 else spans[:1]
        tags = ner.spans_to_tags(len(text), keep)
        rows.append({"id": i, "tokens": list(text), "tags": tags, "scores": [1.0] * len(text)})
    scores = json.loads(run_cli("score", "--task", "peoples-daily", reference, jsonl(tmp_path / "p.jsonl", rows),
                                "--json").output)
    # micro: 3 right of 3 predicted, 6 gold -> P 1, R 1/2, F1 2/3; per type LOC 2/2 of 3 -> 0.8, PER 1/1 of 1 -> 1,
    # ORG 0 of 2 -> 0; macro over the three types in the gold: 1.8 / 3
    assert (scores["micro_f1"], scores["macro_f1"], scores["missing"]) == (66.667, 60.0, 1)
    reference = squad(tmp_path / "dev-v1.1.json", [("a", ["The Broncos", "Denver Broncos"]), ("b", ["1066"])])
    predictions = tmp_path / "squad.json"
    predictions.write_text(json.dumps({"a": "broncos", "b": "in 1066"}), encoding="utf-8")
    scores = json.loads(run_cli("score", "--task", "squad-v1", reference, predictions, "--json").output)
    assert scores == {"em": 50.0, "f1": 83.333, "total": 2, "missing": 0}  # b: P 1/2, R 1 -> F1 2/3
