"""Chinese benchmark folders laid out exactly as they are distributed, for tests that run the presets on them.

Each builder writes a few real-looking rows in the distribution's own file names, headers, field names and
quirks, as read in the sources named beside it:
- CLUE's zips (storage.googleapis.com/cluebenchmark/tasks/<task>_public.zip; field names from CLUE's README and
  baselines/models_pytorch/classifier_pytorch/processors/clue.py; file lists from HF datasets' clue.py and
  PaddleNLP's clue.py): `tnews_public/` and `cluewsc2020_public/` hold `test.json` (CLUE 1.1) beside
  `test1.0.json` (CLUE 1.0), TNEWS keeps an empty `keywords` field, OCNLI's train is `train.50k.json` (with
  `train.3k.json` beside it) and its rows carry `level`, `label0..4`, `genre`, `prem_id`, `id`; CMNLI and OCNLI
  dev hold rows labelled `-`; test rows carry an `id`, CLUEWSC's train/dev rows an `idx`.
- CLUE's own download script (download_clue_data.py) unzips each into `DATA/<task>/` (afqmc, cmnli, csl, iflytek,
  tnews, wsc, cmrc, drcd): cmnli_public.zip holds a `cmnli_public/` folder, so CMNLI lands in
  `DATA/cmnli/cmnli_public/`.
- HFL's classification files (ymcui/Chinese-ELECTRA finetune/classification/classification_tasks.py: a header
  line skipped; ChnSentiCorp `label, text_a`; LCQMC and BQ `text_a, text_b, label`); the ChnSentiCorp copies in
  circulation (Baidu ERNIE / PaddleNLP / Senta) carry a `qid` column first in dev (`qid, label, text_a`) and test
  (`qid, text_a`, no label), with traditional characters and full-width digits in the text.
- XNLI: XNLI-MT-1.0's `multinli/multinli.train.zh.tsv` (premise, hypo, label with `contradictory`; the Chinese
  text word-segmented with spaces) and XNLI-1.0's `xnli.dev.tsv` / `xnli.test.tsv` (19 columns, all 15
  languages).
- CLUENER2020 (`cluener_public/`: train.json, dev.json, test.json with `id`, README.md and the example
  `cluener_predict.json`); MSRA's `msra_train_bio` / `msra_test_bio` (`char<TAB>tag`); People's Daily
  (`china-people-daily-ner-corpus/example.train|dev|test`, `char tag`): text with a full-width space character
  and full-width digits.
- CMRC 2018 (HFL's `cmrc2018_train.json`, `cmrc2018_dev.json`, `cmrc2018_trial.json`) and DRCD
  (`DRCD_training.json`, `DRCD_dev.json`, `DRCD_test.json`), SQuAD layout; CLUE's copies name them
  `train.json`, `dev.json`.
"""

from __future__ import annotations

import json
from pathlib import Path


def lines(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def jsonl(path: Path, records: list[dict]) -> Path:
    return lines(path, [json.dumps(r, ensure_ascii=False) for r in records])


POS = ["这家酒店的服务很好，房间也干净。", "味道不错，下次还会再来。", "性价比很高，推荐大家购买。",
       "環境優雅，\"早餐\"丰富，２００１年来福州就住在这里。"]
NEG = ["房间太小了，隔音也很差。", "服务态度恶劣，再也不来了。", "质量很差，用了两天就坏了。",
       "前台态度冷淡，设施陈旧。"]
PAIRS = [("花呗怎么还款", "花呗如何还钱", "1"), ("借呗额度怎么提升", "今天天气怎么样", "0"),
         ("银行卡丢了怎么办", "银行卡丢失如何挂失", "1"), ("我想开通信用卡", "附近有什么好吃的", "0")]
NLI = [("他在北京工作。", "他有一份工作。", "entailment"), ("她正在睡觉。", "她在跑步。", "contradiction"),
       ("孩子们在公园里玩。", "今天是星期天。", "neutral")]


def chnsenticorp(root: Path) -> Path:
    """Baidu's `chnsenticorp/` (ERNIE, PaddleNLP): train `label, text_a`; dev `qid, label, text_a`; test
    `qid, text_a`, unlabelled. (HFL's copy has `label, text_a` in all three: tests/test_zh_presets.py.)"""
    folder = root / "chnsenticorp"
    rows = [("1", t) for t in POS] + [("0", t) for t in NEG]
    lines(folder / "train.tsv", ["label\ttext_a"] + [f"{y}\t{t}" for y, t in rows])
    lines(folder / "dev.tsv", ["qid\tlabel\ttext_a"] + [f"{i}\t{y}\t{t}" for i, (y, t) in enumerate(rows)])
    lines(folder / "test.tsv", ["qid\ttext_a"] + [f"{i}\t{t}" for i, (_, t) in enumerate(rows)])
    return folder


def pairs(root: Path, folder: str) -> Path:
    """LCQMC / BQ Corpus as HFL reads them: `text_a, text_b, label`, a header line."""
    for split in ("train", "dev", "test"):
        lines(root / folder / f"{split}.tsv", ["text_a\ttext_b\tlabel"] + [f"{a}\t{b}\t{y}" for a, b, y in PAIRS])
    return root / folder


XNLI_HEADER = ("language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
               "sentence2_parse\tsentence1\tsentence2\tpromptID\tpairID\tgenre\tlabel1\tlabel2\tlabel3\tlabel4\t"
               "label5\tsentence1_tokenized\tsentence2_tokenized\tmatch")


def xnli(root: Path) -> Path:
    train = ["premise\thypo\tlabel"] + [f"{' '.join(a)}\t{' '.join(b)}\t{'contradictory' if y == 'contradiction' else y}"
                                        for a, b, y in NLI]
    lines(root / "XNLI-MT-1.0" / "multinli" / "multinli.train.zh.tsv", train)
    rows = []
    for i, (a, b, y) in enumerate(NLI):
        rows.append(f"en\t{y}\t( x )\t( y )\t(ROOT x)\t(ROOT y)\tA man works.\tA man has a job.\t{i}\t{i}\tfacetoface"
                    f"\t{y}\t{y}\t{y}\t{y}\t{y}\tA man works .\tA man has a job .\tTrue")
        rows.append(f"zh\t{y}\t\t\t\t\t{a}\t{b}\t{i}\t{i + 100}\tfacetoface\t{y}\t{y}\t{y}\t{y}\t{y}\t{a}\t{b}\tTrue")
    for split in ("dev", "test"):
        lines(root / "XNLI-1.0" / f"xnli.{split}.tsv", [XNLI_HEADER] + rows)
    return root


def clue_folder(folder: Path, train: list[dict], dev: list[dict], test: list[dict], train_name: str = "train.json",
                test10: list[dict] | None = None) -> Path:
    jsonl(folder / train_name, train)
    jsonl(folder / "dev.json", dev)
    jsonl(folder / "test.json", test)
    if test10 is not None:
        jsonl(folder / "test1.0.json", test10)
    return folder


def afqmc(root: Path, folder: str = "afqmc_public") -> Path:
    rows = [{"sentence1": a, "sentence2": b, "label": y} for a, b, y in PAIRS]
    rows.append({"sentence1": "双十一花呗提额在哪", "sentence2": "里可以提花呗额度", "label": "0"})  # CLUE's README
    test = [{"id": i, "sentence1": r["sentence1"], "sentence2": r["sentence2"]} for i, r in enumerate(rows)]
    return clue_folder(root / folder, rows, rows, test)


TNEWS = [("上课时学生手机响个不停，老师一怒之下把手机摔了，家长拿发票让老师赔，大家怎么看待这种事？", "108", "news_edu", ""),
         ("江疏影甜甜圈自拍，迷之角度竟这么好看，美吸引一切事物", "102", "news_entertainment", "江疏影,美少女,经纪人,甜甜圈"),
         ("股市大涨，沪指重回三千点", "104", "news_finance", ""),
         ("国足客场战平对手，出线形势仍不明朗", "103", "news_sports", "国足,出线")]
TNEWS_LABELS = [("100", "news_story"), ("101", "news_culture"), ("102", "news_entertainment"), ("103", "news_sports"),
                ("104", "news_finance"), ("106", "news_house"), ("107", "news_car"), ("108", "news_edu"),
                ("109", "news_tech"), ("110", "news_military"), ("112", "news_travel"), ("113", "news_world"),
                ("114", "news_stock"), ("115", "news_agriculture"), ("116", "news_game")]


def tnews(root: Path, folder: str = "tnews_public") -> Path:
    rows = [{"label": y, "label_desc": d, "sentence": s, "keywords": k} for s, y, d, k in TNEWS]
    test = [{"id": i, "sentence": s, "keywords": k} for i, (s, _, _, k) in enumerate(TNEWS)]
    test10 = [{"id": i, "sentence": "在设计史上，每当相对稳定的发展时期，这种设计思想就会成为主导", "keywords": "民族性,设计思想"}
              for i in range(len(TNEWS) + 1)]  # another test set, another length
    path = clue_folder(root / folder, rows, rows, test, test10=test10)
    jsonl(path / "labels.json", [{"label": y, "label_desc": d} for y, d in TNEWS_LABELS])
    return path


def iflytek(root: Path, folder: str = "iflytek_public") -> Path:
    rows = [{"label": "11", "label_des": "薅羊毛", "sentence": "每天签到领红包，积分兑换礼品"},
            {"label": "2", "label_des": "免费WIFI", "sentence": "一键连接附近的免费无线网络"},
            {"label": "110", "label_des": "社区超市", "sentence": "朴朴快送超市创立于2016年，专注于打造移动端30分钟即时配送一站式购物平台"}]
    test = [{"id": i, "sentence": r["sentence"]} for i, r in enumerate(rows)]
    path = clue_folder(root / folder, rows, rows, test)
    jsonl(path / "labels.json", [{"label": str(i), "label_des": f"类别{i}"} for i in range(119)])
    return path


def ocnli(root: Path, folder: str = "ocnli_public") -> Path:
    def row(i, a, b, y):
        return {"level": "medium", "sentence1": a, "sentence2": b, "label": y, "label0": y, "label1": y, "label2": y,
                "label3": y, "label4": y, "genre": "news", "prem_id": f"news_{i}", "id": i}

    rows = [row(i, a, b, y) for i, (a, b, y) in enumerate(NLI)]
    dev = rows + [row(9, "他笑了。", "他很开心。", "-")]
    test = [{"level": "easy", "sentence1": a, "sentence2": b, "genre": "news", "prem_id": f"news_{i}", "id": i}
            for i, (a, b, _) in enumerate(NLI)]
    path = clue_folder(root / folder, rows, dev, test, train_name="train.50k.json")
    jsonl(path / "train.3k.json", rows[:2])
    return path


def cmnli(root: Path, folder: str = "cmnli_public") -> Path:
    rows = [{"sentence1": a, "sentence2": b, "label": y} for a, b, y in NLI]
    rows.append({"sentence1": "新的权利已经足够好了", "sentence2": "每个人都很喜欢最新的福利", "label": "neutral"})
    dev = rows + [{"sentence1": "他笑了。", "sentence2": "他很开心。", "label": "-"}]
    test = [{"id": i, "sentence1": r["sentence1"], "sentence2": r["sentence2"]} for i, r in enumerate(rows)]
    return clue_folder(root / folder, rows, dev, test)


def csl(root: Path, folder: str = "csl_public") -> Path:
    rows = [{"id": 1, "abst": "为解决传统均匀FFT波束形成算法引起的3维声呐成像分辨率降低的问题,该文提出分区域FFT波束形成算法.",
             "keyword": ["水声学", "FFT", "波束形成", "3维成像声呐"], "label": "1"},
            {"id": 2, "abst": "研究了城市交通拥堵的成因，并提出了缓解措施。", "keyword": ["蛋白质", "基因"], "label": "0"}]
    test = [{k: v for k, v in r.items() if k != "label"} for r in rows]
    return clue_folder(root / folder, rows, rows, test)


WSC = [{"target": {"span2_index": 27, "span1_index": 3, "span1_text": "伤口", "span2_text": "它们"}, "idx": 258,
        "label": "false", "text": "裂开的伤口涂满尘土，里面有碎石子和木头刺，我小心翼翼把它们剔除出去。"},
       {"target": {"span2_index": 35, "span1_index": 6, "span1_text": "洋人", "span2_text": "他们"}, "idx": 1,
        "label": "true", "text": "有些这样的“洋人”就站在大众之间，如同鹤立鸡群，毫不掩饰自己的优越感。他们排在非凡的甲菜盆后面，虽然人数寥寥无几，但却特别惹眼。"},
       {"target": {"span2_index": 0, "span1_index": 1, "span1_text": "小明", "span2_text": "他"}, "idx": 2,
        "label": "true", "text": "他小明很累"}]
WSC_TEST = [{"id": 0, "target": {"span1_index": 46, "span1_text": "曹操", "span2_index": 17, "span2_text": "他们"},
             "text": "作为代价，这个兵种在不拔剑的时候，他们看起来就跟普通的精锐没什么区别，顺带从这里也可以看出来曹操给曹真补了这五千多锐士是怎么个想法，很明显曹操也不是好鸟。"}]
WSC_TEST10 = [{"target": {"span2_index": 15, "span1_index": 0, "span1_text": "杨百顺", "span2_text": "他"}, "id": i,
               "text": "杨百顺他爹是个卖豆腐的。别人叫他卖豆腐的老杨。"} for i in range(2)]


def cluewsc2020(root: Path, folder: str = "cluewsc2020_public") -> Path:
    return clue_folder(root / folder, WSC, WSC, WSC_TEST, test10=WSC_TEST10)


CLUENER = [{"text": "浙商银行企业信贷部叶老桂博士则从另一个角度对五道门槛进行了解读。",
            "label": {"name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}}},
           {"text": "生生不息CSOL生化狂潮让你填弹狂扫", "label": {"game": {"CSOL": [[4, 7]]}}},
           {"text": "温格的球队终于又踢了一场经典的比赛，2比1战胜曼联之后枪手仍然留在了夺冠集团之内，",
            "label": {"organization": {"曼联": [[23, 24]]}, "name": {"温格": [[0, 1]]}}},
           {"text": "玩NBA 2K的时候我最喜欢用科比", "label": {"game": {"NBA 2K": [[1, 6]]}, "name": {"科比": [[15, 16]]}}}]


def cluener(root: Path, folder: str = "cluener_public") -> Path:
    path = clue_folder(root / folder, CLUENER, CLUENER, [{"id": i, "text": r["text"]} for i, r in enumerate(CLUENER)])
    lines(path / "README.md", ["# CLUENER2020", "train.json dev.json test.json"])
    jsonl(path / "cluener_predict.json", [{"id": 0, "label": {"address": {"丹棱县": [[11, 13]]}}}])
    return path


def char_tags(sentences, separator: str = " ") -> list[str]:
    """One `char<sep>tag` line per character, a blank line after each sentence (BIO)."""
    out = []
    for text, spans in sentences:
        tags = ["O"] * len(text)
        for kind, start, end in spans:
            tags[start] = f"B-{kind}"
            for i in range(start + 1, end + 1):
                tags[i] = f"I-{kind}"
        out += [f"{c}{separator}{t}" for c, t in zip(text, tags)] + [""]
    return out


# a full-width space character inside a sentence, full-width digits, an entity right after the space
PD = [("海钓比赛地点在厦门与金门之间的海域。", [("LOC", 7, 8), ("LOC", 10, 11)]),
      ("１９９７年，周恩来总理的故乡淮安。", [("PER", 6, 8), ("LOC", 14, 15)]),
      ("新华社记者报道，中国队获得冠军。", [("ORG", 0, 2), ("ORG", 8, 10)]),
      ("记者　王小明报道：北京电", [("PER", 3, 5), ("LOC", 9, 10)])]


def peoples_daily(root: Path, folder: str = "china-people-daily-ner-corpus") -> Path:
    for split in ("train", "dev", "test"):
        lines(root / folder / f"example.{split}", char_tags(PD))
    return root / folder


def msra(root: Path, folder: str = "msra") -> Path:
    for name in ("msra_train_bio", "msra_test_bio"):
        lines(root / folder / name, char_tags(PD * 3, separator="\t"))
    return root / folder


QA_CONTEXT = "廣州是京廣鐵路、廣深鐵路、廣茂鐵路、廣梅汕鐵路的終點站。2009年底，武廣客運專線投入運營。"
QA = [("武廣客運專線何時投入運營？", "2009年底", 28), ("廣州是哪些鐵路的終點站？", "京廣鐵路", 3)]


def squad_layout(prefix: str) -> dict:
    qas = [{"id": f"{prefix}-{i}", "question": q, "answers": [{"text": a, "answer_start": s}]}
           for i, (q, a, s) in enumerate(QA)]
    assert all(QA_CONTEXT[s:].startswith(a) for _, a, s in QA)
    return {"version": "1.3", "data": [{"title": "廣州", "id": prefix,
                                        "paragraphs": [{"id": f"{prefix}-1", "context": QA_CONTEXT, "qas": qas}]}]}


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def drcd(root: Path, folder: str = "DRCD", names=("DRCD_training.json", "DRCD_dev.json", "DRCD_test.json")) -> Path:
    for name in names:
        write_json(root / folder / name, squad_layout("1001"))
    return root / folder


def cmrc2018(root: Path, names=("cmrc2018_train.json", "cmrc2018_dev.json", "cmrc2018_trial.json")) -> Path:
    for name in names:
        write_json(root / name, squad_layout("TRAIN_1"))
    return root


# preset -> builder of its distributed folder under a root (the layout users download)
DISTRIBUTED = {
    "chnsenticorp": chnsenticorp,
    "lcqmc": lambda root: pairs(root, "lcqmc"),
    "bq": lambda root: pairs(root, "bq_corpus"),
    "xnli-zh": xnli,
    "afqmc": afqmc,
    "tnews": tnews,
    "iflytek": iflytek,
    "ocnli": ocnli,
    "cmnli": cmnli,
    "csl": csl,
    "cluewsc2020": cluewsc2020,
    "cluener": cluener,
    "msra": msra,
    "peoples-daily": peoples_daily,
    "drcd": drcd,
    "cmrc2018": cmrc2018,
}

# CLUE's download_clue_data.py: DATA/<its task name>/ holding what the zip holds (cmnli's zip: a cmnli_public/)
CLUE_SCRIPT = {
    "afqmc": lambda root: afqmc(root, "afqmc"),
    "tnews": lambda root: tnews(root, "tnews"),
    "iflytek": lambda root: iflytek(root, "iflytek"),
    "cmnli": lambda root: cmnli(root, "cmnli/cmnli_public"),
    "csl": lambda root: csl(root, "csl"),
    "cluewsc2020": lambda root: cluewsc2020(root, "wsc"),
    "drcd": lambda root: drcd(root, "drcd", ("train.json", "dev.json")),
    "cmrc2018": lambda root: cmrc2018(root / "cmrc", ("train.json", "dev.json", "trial.json")),
}

# HFL's run_finetuning.py layout (ymcui/Chinese-ELECTRA README): DATA/finetuning_data/<task name>/ with
# train/dev/test.tsv (chnsenticorp, lcqmc, bqcorpus, xnli) or the SQuAD files renamed train.json, dev.json
# (cmrc2018, drcd); HFL's xnli/dev.tsv and test.tsv keep XNLI-1.0's columns (it reads 6, 7 and 1).


def xnli_hfl(root: Path) -> Path:
    folder, source_root = root / "xnli", xnli(root.parent / "xnli-source")
    for source, name in (("XNLI-MT-1.0/multinli/multinli.train.zh.tsv", "train.tsv"), ("XNLI-1.0/xnli.dev.tsv", "dev.tsv"),
                         ("XNLI-1.0/xnli.test.tsv", "test.tsv")):
        rows = (source_root / source).read_text(encoding="utf-8").splitlines()
        lines(folder / name, [r for r in rows if not r.startswith("en\t")])  # HFL's hold the Chinese rows
    return folder


HFL_LAYOUT = {
    "xnli-zh": xnli_hfl,
    "bq": lambda root: pairs(root, "bqcorpus"),
    "drcd": lambda root: drcd(root, "drcd", ("train.json", "dev.json")),
    "cmrc2018": lambda root: cmrc2018(root / "cmrc2018", ("train.json", "dev.json")),
}
