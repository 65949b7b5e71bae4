"""The Chinese presets against the reference code (issue 32): the cases below are what the named reference function
does with the same input, read in its source; each test names the file and the function."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

# CLUEbenchmark/CLUE baselines/models_pytorch/classifier_pytorch/processors/clue.py, WscProcessor._create_examples:
# the span that starts first gets its marks first (the pronoun when span2_index <= span1_index), then the other
# span's marks are inserted at its original offsets + 2. (text, span1_text, span1_index, span2_text, span2_index)
WSC_CASES = [
    # pronoun directly before the candidate: CLUE closes the pronoun before opening the candidate
    (("他小明很累", "小明", 1, "他", 0), "[他]_小明_很累"),
    # candidate directly before the pronoun
    (("小明他很累", "小明", 0, "他", 2), "_小明_[他]很累"),
    # candidate first, apart (CLUEWSC2020's own kind of row)
    (("小明把书借给了小红，他希望她喜欢。", "小明", 0, "他", 10), "_小明_把书借给了小红，[他]希望她喜欢。"),
    # pronoun first, apart, two-character pronoun (a row of cluewsc2020_public/test.json)
    (("作为代价，这个兵种在不拔剑的时候，他们看起来就跟普通的精锐没什么区别，顺带从这里也可以看出来曹操给曹真补了"
      "这五千多锐士是怎么个想法，很明显曹操也不是好鸟。", "曹操", 46, "他们", 17),
     "作为代价，这个兵种在不拔剑的时候，[他们]看起来就跟普通的精锐没什么区别，顺带从这里也可以看出来_曹操_给曹真补了"
     "这五千多锐士是怎么个想法，很明显曹操也不是好鸟。"),
    # a row of test1.0.json: the same pronoun character right after the candidate is not the marked one
    (("杨百顺他爹是个卖豆腐的。别人叫他卖豆腐的老杨。", "杨百顺", 0, "他", 15),
     "_杨百顺_他爹是个卖豆腐的。别人叫[他]卖豆腐的老杨。"),
    # both at the same offset: the pronoun is marked first, then the candidate's marks land where CLUE puts them
    (("他们他们", "他们", 0, "他们", 0), "[他_们]_他们"),
]


@pytest.mark.parametrize("args,expected", WSC_CASES)
def test_wsc_markup_is_clue_wscprocessor_create_examples(args, expected):
    from electra_cli.tasks.presets import wsc_markup

    text, query, query_at, pronoun, pronoun_at = args
    assert wsc_markup(text, query, query_at, pronoun, pronoun_at, "x") == expected


def test_wsc_rows_are_marked_as_clue_marks_them_through_the_reader(tmp_path):
    from electra_cli.tasks.presets import read_wsc

    (text, query, query_at, pronoun, pronoun_at), expected = WSC_CASES[0]
    row = {"target": {"span2_index": pronoun_at, "span1_index": query_at, "span1_text": query, "span2_text": pronoun},
           "idx": 0, "label": "true", "text": text}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert [r["text"] for _, r in read_wsc(path, "train")] == [expected]


# ---- score: CLUE drops the rows labelled `-` (processors/clue.py skips them; HF datasets' clue.py too) ---------


def test_score_skips_and_counts_predictions_for_rows_clue_drops(tmp_path):
    """CMNLI's dev.json has rows labelled `-`; predictions made for every row of the file (as `predict` makes
    them) are scored on the others, the skipped ones counted, as CLUE drops those rows."""
    rows = [{"sentence1": "他在北京工作。", "sentence2": "他有一份工作。", "label": "entailment"},
            {"sentence1": "他笑了。", "sentence2": "他很开心。", "label": "-"},
            {"sentence1": "她正在睡觉。", "sentence2": "她在跑步。", "label": "contradiction"}]
    reference = tmp_path / "cmnli_public" / "dev.json"
    reference.parent.mkdir()
    reference.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": i, "label": label}) + "\n" for i, label in
                                   enumerate(["entailment", "neutral", "neutral"])), encoding="utf-8")
    result = run_cli("score", "--task", "cmnli", reference, predictions, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output[result.output.index("{"):])
    assert scores["accuracy"] == 50.0 and scores["total"] == 2 and scores["missing"] == 0
    assert scores["skipped_dropped"] == 1
    result = run_cli("score", "--task", "cmnli", reference, predictions)
    assert result.exit_code == 0 and "1 prediction for rows labelled '-' skipped" in " ".join(result.output.split())


def test_score_matches_predict_rows_of_a_tsv_with_a_header(tmp_path):
    """LCQMC's dev.tsv has a header line (HFL's classification_tasks.py skips it): `predict` numbers the data rows
    from 0, and `score` must give the reference's rows the same ids (the header is not row 0)."""
    from tests import zh_data

    folder = zh_data.pairs(tmp_path, "lcqmc")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": i, "label": y}) + "\n" for i, (_, _, y) in
                                   enumerate(zh_data.PAIRS)), encoding="utf-8")
    result = run_cli("score", "--task", "lcqmc", folder / "dev.tsv", predictions, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output[result.output.index("{"):])
    assert (scores["accuracy"], scores["total"], scores["missing"]) == (100.0, 4, 0)
