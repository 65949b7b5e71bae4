"""Chinese benchmark presets end to end: tiny files in each dataset's distributed layout (real Chinese text, a
few rows), one tiny HFL-layout model, `finetune --task NAME --data-dir DIR` through the CLI; CLUE submission
files for the unlabelled test sets; the official span scores for NER."""

import json

import pytest

from tests.conftest import run_cli
from tests.published import write_hfl_chinese_electra_small
from tests.zh_data import char_tags

POS = ["这家酒店的服务很好，房间也干净。", "味道不错，下次还会再来。", "性价比很高，推荐大家购买。"]
NEG = ["房间太小了，隔音也很差。", "服务态度恶劣，再也不来了。", "质量很差，用了两天就坏了。"]
PAIRS = [("花呗怎么还款", "花呗如何还钱", "1"), ("借呗额度怎么提升", "今天天气怎么样", "0"),
         ("银行卡丢了怎么办", "银行卡丢失如何挂失", "1"), ("我想开通信用卡", "附近有什么好吃的", "0")]
NLI = [("他在北京工作。", "他有一份工作。", "entailment"), ("她正在睡觉。", "她在跑步。", "contradiction"),
       ("孩子们在公园里玩。", "今天是星期天。", "neutral")]
SMALL = ["--epochs", "1", "--batch-size", "4", "--max-seq-len", "48", "--seeds", "1"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """One tiny random HFL-layout Chinese model for every preset (hfl/chinese-electra-180g-small's files)."""
    return write_hfl_chinese_electra_small(tmp_path_factory.mktemp("zh-model"))[0]


def lines(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def jsonl(path, records):
    return lines(path, [json.dumps(r, ensure_ascii=False) for r in records])


def write_chnsenticorp(root):
    rows = [f"1\t{t}" for t in POS] + [f"0\t{t}" for t in NEG]
    for split in ("train", "dev", "test"):
        lines(root / "chnsenticorp" / f"{split}.tsv", ["label\ttext_a"] + rows)


def write_pairs(root, folder, header):
    rows = [f"{a}\t{b}\t{y}" for a, b, y in PAIRS]
    for split in ("train", "dev", "test"):
        lines(root / folder / f"{split}.tsv", (["text_a\ttext_b\tlabel"] if header else []) + rows)


def write_xnli(root):
    train = ["premise\thypo\tlabel"] + [f"{a}\t{b}\t{'contradictory' if y == 'contradiction' else y}" for a, b, y in NLI]
    lines(root / "XNLI-MT-1.0" / "multinli" / "multinli.train.zh.tsv", train)
    header = "language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tpromptID\tpairID"
    rows = [f"zh\t{y}\t\t\t\t\t{a}\t{b}\t1\t{i}" for i, (a, b, y) in enumerate(NLI)]
    rows.append("en\tneutral\t\t\t\t\tA man sleeps.\tA man is tired.\t1\t9")  # other languages are filtered out
    for split in ("dev", "test"):
        lines(root / "XNLI-1.0" / f"xnli.{split}.tsv", [header] + rows)


def clue_files(folder, labelled, unlabelled, train_name="train.json"):
    jsonl(folder / train_name, labelled)
    jsonl(folder / "dev.json", labelled)
    jsonl(folder / "test.json", [{"id": i, **r} for i, r in enumerate(unlabelled)])


def write_afqmc(root):
    rows = [{"sentence1": a, "sentence2": b, "label": y} for a, b, y in PAIRS]
    clue_files(root / "afqmc_public", rows, [{k: v for k, v in r.items() if k != "label"} for r in rows])


TNEWS = [("上课时学生手机响个不停，老师一怒之下把手机摔了", "108", "news_edu"),
         ("股市大涨，沪指重回三千点", "104", "news_finance"),
         ("国足客场战平对手，出线形势仍不明朗", "103", "news_sports")]


def write_tnews(root):
    folder = root / "tnews_public"
    rows = [{"label": y, "label_desc": d, "sentence": s, "keywords": ""} for s, y, d in TNEWS]
    clue_files(folder, rows, [{"sentence": s, "keywords": ""} for s, _, _ in TNEWS])
    jsonl(folder / "labels.json", [{"label": y, "label_desc": d} for _, y, d in TNEWS] +
          [{"label": "100", "label_desc": "news_story"}])


def write_iflytek(root):
    rows = [{"label": "11", "label_des": "薅羊毛", "sentence": "每天签到领红包，积分兑换礼品"},
            {"label": "2", "label_des": "免费WIFI", "sentence": "一键连接附近的免费无线网络"}]
    folder = root / "iflytek_public"
    clue_files(folder, rows, [{"sentence": r["sentence"]} for r in rows])
    jsonl(folder / "labels.json", [{"label": r["label"], "label_des": r["label_des"]} for r in rows])


def write_nli(root, folder, train_name):
    rows = [{"sentence1": a, "sentence2": b, "label": y, "genre": "news"} for a, b, y in NLI]
    rows.append({"sentence1": "他笑了。", "sentence2": "他很开心。", "label": "-", "genre": "news"})  # dropped
    clue_files(root / folder, rows, [{"sentence1": a, "sentence2": b} for a, b, _ in NLI], train_name)


def write_csl(root):
    rows = [{"id": 0, "abst": "本文提出一种基于深度学习的中文分词方法，在多个数据集上取得了较好的效果。",
             "keyword": ["深度学习", "中文分词"], "label": "1"},
            {"id": 1, "abst": "研究了城市交通拥堵的成因，并提出了缓解措施。", "keyword": ["蛋白质", "基因"], "label": "0"}]
    clue_files(root / "csl_public", rows, [{k: v for k, v in r.items() if k != "label"} for r in rows])


WSC = [{"target": {"span2_index": 10, "span1_index": 0, "span1_text": "小明", "span2_text": "他"},
        "idx": 0, "label": "true", "text": "小明把书借给了小红，他希望她喜欢。"},
       {"target": {"span2_index": 10, "span1_index": 7, "span1_text": "小红", "span2_text": "他"},
        "idx": 1, "label": "false", "text": "小明把书借给了小红，他希望她喜欢。"}]


def write_wsc(root):
    clue_files(root / "cluewsc2020_public", WSC, [{k: v for k, v in r.items() if k != "label"} for r in WSC])


CLUENER = [{"text": "浙商银行企业信贷部叶老桂博士则从另一个角度对五道门槛进行了解读。",
            "label": {"name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}}},
           {"text": "生生不息CSOL生化狂潮让你填弹狂扫", "label": {"game": {"CSOL": [[4, 7]]}}},
           {"text": "温格的球队终于又踢了一场经典的比赛，2比1战胜曼联之后枪手仍然留在了夺冠集团之内，",
            "label": {"organization": {"曼联": [[23, 24]]}, "name": {"温格": [[0, 1]]}}}]


def write_cluener(root):
    clue_files(root / "cluener_public", CLUENER, [{"text": r["text"]} for r in CLUENER])


PD = [("海钓比赛地点在厦门与金门之间的海域。", [("LOC", 7, 8), ("LOC", 10, 11)]),
      ("周恩来总理访问了上海。", [("PER", 0, 2), ("LOC", 8, 9)]),
      ("新华社记者报道，中国队获得冠军。", [("ORG", 0, 2), ("ORG", 8, 10)])]


def write_peoples_daily(root):
    for split in ("train", "dev", "test"):
        lines(root / "peoples_daily" / f"example.{split}", char_tags(PD))


def write_msra(root):
    for name in ("msra_train_bio", "msra_test_bio"):
        lines(root / "msra" / name, char_tags(PD * 2))


WRITERS = {
    "chnsenticorp": write_chnsenticorp,
    "lcqmc": lambda root: write_pairs(root, "lcqmc", header=True),
    "bq": lambda root: write_pairs(root, "bq_corpus", header=False),
    "xnli-zh": write_xnli,
    "afqmc": write_afqmc,
    "tnews": write_tnews,
    "iflytek": write_iflytek,
    "ocnli": lambda root: write_nli(root, "ocnli_public", "train.50k.json"),
    "cmnli": lambda root: write_nli(root, "cmnli_public", "train.json"),
    "csl": write_csl,
    "cluewsc2020": write_wsc,
    "cluener": write_cluener,
    "msra": write_msra,
    "peoples-daily": write_peoples_daily,
}
SUBMISSIONS = {"afqmc": "afqmc_predict.json", "tnews": "tnews11_predict.json", "iflytek": "iflytek_predict.json",
               "ocnli": "ocnli_50k_predict.json", "cmnli": "cmnli_predict.json", "csl": "csl_predict.json",
               "cluewsc2020": "cluewsc11_predict.json", "cluener": "cluener_predict.json"}


@pytest.mark.parametrize("task", list(WRITERS))
def test_each_preset_runs_end_to_end_from_its_distributed_files(task, model, tmp_path):
    data = tmp_path / "data"
    WRITERS[task](data)
    out = tmp_path / "ft"
    result = run_cli("finetune", "--model", model, "--task", task, "--data-dir", data, "--out", out, *SMALL)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert summary["task"] == task and summary["preset"]["task"] == task
    assert summary["config"]["lr"] == 3e-4  # HFL's rate for a small (hidden 256 or less) model, not a search
    if task in ("msra", "peoples-daily", "cluener"):
        assert summary["task_type"] == "token-classification"
        official = summary["official"]["validation"]
        assert {"macro_f1", "micro_f1"} <= set(official) and 0 <= official["micro_f1"] <= 1
    else:
        assert summary["metric"] == "accuracy" and 0 <= summary["median"] <= 1
    if task in SUBMISSIONS:
        rows = [json.loads(line) for line in (out / SUBMISSIONS[task]).read_text(encoding="utf-8").splitlines()]
        assert [r["id"] for r in rows] == list(range(len(rows))) and rows
        assert summary["submission"] == SUBMISSIONS[task]
        if task == "cluener":
            assert all(isinstance(r["label"], dict) for r in rows)
        else:
            assert all(r["label"] in summary["labels"] for r in rows)
        if task == "tnews":
            assert all(r["label_desc"].startswith("news_") for r in rows)
            # the submission's labels are what `predict` gives for the same rows of test.json
            result = run_cli("predict", "--model", out, data / "tnews_public" / "test.json", "--text-field",
                             "sentence", "--id-field", "id", "--out", tmp_path / "p.jsonl")
            assert result.exit_code == 0, result.output
            predicted = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()]
            assert [(p["id"], p["label"]) for p in predicted] == [(r["id"], r["label"]) for r in rows]
    elif task not in ("msra",):
        assert "test" in summary  # a labelled test split is scored once


DRCD_CONTEXT = "廣州是京廣鐵路、廣深鐵路、廣茂鐵路、廣梅汕鐵路的終點站。2009年底，武廣客運專線投入運營。"


def test_drcd_preset_reads_traditional_chinese_squad_layout_and_scores_test(model, tmp_path):
    qas = [{"id": "1001-1-1", "question": "武廣客運專線何時投入運營？", "answers": [{"text": "2009年底", "answer_start": 28}]},
           {"id": "1001-1-2", "question": "廣州是哪些鐵路的終點站？", "answers": [{"text": "京廣鐵路", "answer_start": 3}]}]
    assert all(DRCD_CONTEXT[q["answers"][0]["answer_start"]:].startswith(q["answers"][0]["text"]) for q in qas)
    data = {"version": "1.3", "data": [{"title": "廣州", "id": "1001",
                                        "paragraphs": [{"id": "1001-1", "context": DRCD_CONTEXT, "qas": qas}]}]}
    for name in ("DRCD_training.json", "DRCD_dev.json", "DRCD_test.json"):
        (tmp_path / "DRCD").mkdir(exist_ok=True)
        (tmp_path / "DRCD" / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "ft"
    result = run_cli("finetune", "--model", model, "--task", "drcd", "--data-dir", tmp_path, "--out", out,
                     "--epochs", "1", "--max-seq-len", "64", "--set", "max_query_len=16", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert summary["task"] == "drcd" and summary["language"] == "zh" and "average" in summary["seeds"][0]
    assert "test" in summary and summary["config"]["lr"] == 3e-4


def test_preset_counts_dropped_rows_filters_xnli_and_carves_msra_dev(model, tmp_path):
    from electra_cli.tasks.presets import carve_dev, read_split
    from electra_cli.finetuning.config import FinetuneConfig

    write_nli(tmp_path, "ocnli_public", "train.50k.json")
    split = read_split("ocnli", tmp_path, "train")
    assert (len(split.rows), split.dropped) == (3, 1)  # the `-` row dropped and counted
    write_xnli(tmp_path)
    dev = read_split("xnli-zh", tmp_path, "dev")
    assert [r["label"] for r in dev.rows] == ["entailment", "contradiction", "neutral"]  # the English row filtered
    train = read_split("xnli-zh", tmp_path, "train")
    assert "contradictory" not in {r["label"] for r in train.rows}
    rows = [{"text": f"第{i}句话。"} for i in range(40)]
    first, second = carve_dev(rows), carve_dev(list(reversed(rows)))
    assert {r["text"] for r in first[1]} == {r["text"] for r in second[1]} and 0 < len(first[1]) < 40
    cfg = FinetuneConfig()
    from electra_cli.tasks.presets import zh_setup

    write_msra(tmp_path)
    prepared = zh_setup("msra", tmp_path, cfg, model, tmp_path, epochs_set=False)
    assert prepared.counts["dev_carved_from_train"] >= 1 and cfg.task_type == "token-classification"


@pytest.mark.parametrize("task,folder,name,line,bad", [
    ("afqmc", "afqmc_public", "dev.json", 2, '{"sentence1": "a", "sentence2": "b", "label": "2"}'),
    ("tnews", "tnews_public", "train.json", 2, '{"sentence": "新闻", "label": "999"}'),
    ("cluener", "cluener_public", "train.json", 2, '{"text": "浙商银行", "label": {"company": {"浙商": [[0, 3]]}}}'),
    ("chnsenticorp", "chnsenticorp", "train.tsv", 3, "好评"),
])
def test_bad_rows_are_one_line_naming_file_and_line(task, folder, name, line, bad, model, tmp_path):
    WRITERS[task](tmp_path)
    path = tmp_path / folder / name
    rows = path.read_text(encoding="utf-8").splitlines()
    rows.insert(line - 1, bad)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_cli("finetune", "--model", model, "--task", task, "--data-dir", tmp_path, "--out", tmp_path / "ft", *SMALL)
    assert result.exit_code == 3, result.output
    assert f"{name}:{line}" in result.output and "Traceback" not in result.output


def test_unknown_task_and_missing_files_are_usage_errors(model, tmp_path):
    result = run_cli("finetune", "--model", model, "--task", "tnews2", "--data-dir", tmp_path, "--out", tmp_path / "ft")
    assert result.exit_code == 2 and "cluener" in result.output and "peoples-daily" in result.output
    result = run_cli("finetune", "--model", model, "--task", "tnews", "--data-dir", tmp_path, "--out", tmp_path / "ft")
    assert result.exit_code == 2 and "train.json" in result.output


@pytest.mark.parametrize("hidden,lr", [(256, 3e-4), (768, 1e-4), (1024, 5e-5)])
def test_hfl_learning_rate_by_model_size_unless_given(hidden, lr, tmp_path):
    from electra_cli.tasks.presets import zh_setup
    from electra_cli.finetuning.config import FinetuneConfig

    write_chnsenticorp(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"hidden_size": hidden}))
    cfg = FinetuneConfig()
    zh_setup("chnsenticorp", tmp_path, cfg, tmp_path / "m", tmp_path, epochs_set=False)
    assert (cfg.lr, cfg.epochs, cfg.metric) == (lr, 3.0, "accuracy")
    cfg = FinetuneConfig(lr=[1e-4, 2e-4])
    zh_setup("chnsenticorp", tmp_path, cfg, tmp_path / "m", tmp_path, epochs_set=False)
    assert cfg.lr == [1e-4, 2e-4]  # the user's search wins
