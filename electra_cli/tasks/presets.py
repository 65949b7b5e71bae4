"""Chinese benchmark presets: each dataset read from its files exactly as distributed, with its label set, its
metric and the settings HFL and CLUE fine-tuned with; `finetune --task NAME --data-dir DIR`.

Sources (facts, not code): HFL's readers and settings in ymcui/Chinese-ELECTRA (finetune/classification/
classification_tasks.py: ChnSentiCorp `label<TAB>text_a` with a header, LCQMC and BQ `text_a<TAB>text_b<TAB>label`
with a header, XNLI-MT train + XNLI-1.0 dev/test with label `contradictory`; configure_finetuning.py: 3 epochs for
classification, 2 and 512 tokens for QA, batch 32, layer decay 0.8 (0.9 large); README: lr 3e-4 small, 1e-4 base);
CLUE's in CLUEbenchmark/CLUE (baselines/models_pytorch/classifier_pytorch/processors/clue.py: the JSON-lines fields
of AFQMC, TNEWS, IFLYTEK, OCNLI, CMNLI, CSL and CLUEWSC2020, rows labelled `-` dropped, CSL's keywords joined with
spaces as the first text, CLUEWSC's query marked `_..._` and pronoun `[...]` in the text) and CLUENER2020's
JSON lines (`label: {type: {surface: [[start, end]]}}`, end inclusive).

Each preset converts its files into the JSON lines `finetuning` reads (text, text_pair, label; or tokens, tags)
in a scratch folder, so classification and tagging run as any other file would.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from electra_cli.tasks import ner
from electra_cli.core.errors import DataError, UsageError
from electra_cli.finetuning.search import default_lr
from electra_cli.finetuning.tagging import conll_line

Row = dict  # {"id", "text", "text_pair", "label"} or {"id", "text", "tokens", "tags"}; label/tags None if unlabelled
Reader = Callable[[Path, str], Iterator[tuple[str, Row]]]


# ---- readers: (location, row) per record, `location` naming file and line for errors ---------------------


def _tsv_rows(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Tab-separated lines, no quoting (HFL's files hold raw quotes in the text)."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield f"{path}:{lineno}", line.split("\t")


def _columns(location: str, fields: list[str], count: int) -> list[str]:
    if len(fields) < count:
        raise DataError(f"{location}: expected {count} tab-separated columns, found {len(fields)}")
    return fields


def read_chnsenticorp(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    """`label<TAB>text_a` with a header row (HFL reads column 1 as text, 0 as label, and skips line 1). Baidu's
    copies (ERNIE, PaddleNLP) put a `qid` column first in dev (`qid, label, text_a`) and leave the label out of
    test (`qid, text_a`): the header names the columns, and a file without `label` is unlabelled, its ids the qids."""
    rows = _tsv_rows(path)
    header = next(rows, None)
    names = header[1] if header else []
    text_at = names.index("text_a") if "text_a" in names else 1
    label_at = names.index("label") if "label" in names else (None if "text_a" in names else 0)
    qid_at = names.index("qid") if "qid" in names else None
    for index, (location, fields) in enumerate(rows):
        _columns(location, fields, max(label_at or 0, text_at, qid_at or 0) + 1)
        yield location, {"id": fields[qid_at] if qid_at is not None else index, "text": fields[text_at],
                         "text_pair": None, "label": fields[label_at] if label_at is not None else None}


def read_pairs_tsv(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    """LCQMC and BQ Corpus: `text_a<TAB>text_b<TAB>label`; the first line is a header when its label column is
    not a label (the files circulate with and without one). Ids count the data rows from 0, as `predict` numbers
    the rows of the same file."""
    index = 0
    for lineno, (location, fields) in enumerate(_tsv_rows(path)):
        _columns(location, fields, 3)
        if lineno == 0 and fields[2].strip() not in ("0", "1"):
            continue
        yield location, {"id": index, "text": fields[0], "text_pair": fields[1], "label": fields[2].strip()}
        index += 1


XNLI_LABELS = {"contradictory": "contradiction"}  # XNLI-MT's train files spell it so; XNLI-1.0 does not


def read_xnli(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    """XNLI-MT's `multinli.train.zh.tsv` (premise, hypo, label) or XNLI-1.0's `xnli.dev.tsv` / `xnli.test.tsv`
    (all 15 languages: the `zh` rows, gold_label, sentence1, sentence2), by the header's column names."""
    rows = _tsv_rows(path)
    header = next(rows, None)
    if header is None:
        return
    names = header[1]
    if "premise" in names:
        a, b, label, language = names.index("premise"), names.index("hypo"), names.index("label"), None
    elif "gold_label" in names:
        a, b, label = names.index("sentence1"), names.index("sentence2"), names.index("gold_label")
        language = names.index("language")
    else:
        raise DataError(f"{header[0]}: not an XNLI header (premise/hypo/label or language/gold_label/sentence1/...)")
    index = 0
    for location, fields in rows:
        _columns(location, fields, max(a, b, label) + 1)
        if language is not None and fields[language] != "zh":
            continue
        gold = fields[label].strip()
        yield location, {"id": index, "text": fields[a], "text_pair": fields[b], "label": XNLI_LABELS.get(gold, gold)}
        index += 1


def _json_lines(path: Path) -> Iterator[tuple[str, int, dict]]:
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        index = 0
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as err:
                raise DataError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object")
            yield f"{path}:{lineno}", index, record
            index += 1


def _field(record: dict, name: str, location: str):
    if name not in record:
        raise DataError(f"{location}: no field {name!r} (fields: {', '.join(record)})")
    return record[name]


def clue_reader(text: str, pair: str | None = None) -> Reader:
    """A CLUE JSON-lines file with these fields; the row's id is its `id` field (test files) or its index."""

    def read(path: Path, split: str) -> Iterator[tuple[str, Row]]:
        for location, index, record in _json_lines(path):
            label = record.get("label")
            yield location, {"id": record.get("id", index), "text": str(_field(record, text, location)),
                             "text_pair": str(_field(record, pair, location)) if pair else None,
                             "label": None if label is None else str(label)}

    return read


def read_csl(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    """CSL: the keywords joined by spaces, paired with the abstract (CLUE's CslProcessor)."""
    for location, index, record in _json_lines(path):
        keywords = _field(record, "keyword", location)
        if not isinstance(keywords, list):
            raise DataError(f"{location}: 'keyword' must be a list")
        label = record.get("label")
        yield location, {"id": record.get("id", index), "text": " ".join(map(str, keywords)),
                         "text_pair": str(_field(record, "abst", location)), "label": None if label is None else str(label)}


def wsc_markup(text: str, query: str, query_at: int, pronoun: str, pronoun_at: int, location: str) -> str:
    """CLUE's WscProcessor markup: the candidate wrapped in `_`, the pronoun in `[` `]`, in the text itself.

    As CLUE inserts them: the span that starts first is marked first (the pronoun when both start at the same
    place), then the other's two marks go in at its original offsets moved by the two marks already there. So a
    pronoun right before the candidate closes before the candidate opens (`[他]_小明_`), and overlapping spans
    give what CLUE gives."""
    if text[query_at : query_at + len(query)] != query or text[pronoun_at : pronoun_at + len(pronoun)] != pronoun:
        raise DataError(f"{location}: span1_text/span2_text do not match the text at span1_index/span2_index")
    query_marks, pronoun_marks = (query_at, len(query), "_", "_"), (pronoun_at, len(pronoun), "[", "]")
    first, second = (query_marks, pronoun_marks) if pronoun_at > query_at else (pronoun_marks, query_marks)
    chars = list(text)
    for (at, length, opening, closing), shift in ((first, 0), (second, 2)):
        chars.insert(at + shift, opening)
        chars.insert(at + shift + length + 1, closing)
    return "".join(chars)


def read_wsc(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    for location, index, record in _json_lines(path):
        text = str(_field(record, "text", location))
        target = _field(record, "target", location)
        try:
            marked = wsc_markup(text, target["span1_text"], int(target["span1_index"]), target["span2_text"],
                                int(target["span2_index"]), location)
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{location}: 'target' needs span1_text, span1_index, span2_text, span2_index") from None
        label = record.get("label")
        yield location, {"id": record.get("id", index), "text": marked, "text_pair": None,
                         "label": None if label is None else str(label)}


def read_cluener(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    """CLUENER2020 JSON lines: text and (not in test.json) the label dict, as one BIO tag per character."""
    for location, index, record in _json_lines(path):
        text = str(_field(record, "text", location))
        tags = None
        if "label" in record:
            tags = ner.spans_to_tags(len(text), ner.label_dict_spans(record["label"], text, location))
        yield location, {"id": record.get("id", index), "text": text, "tokens": list(text), "tags": tags}


def read_char_tags(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    """MSRA / People's Daily: one `char TAG` per line, a blank line between sentences. A space or another
    whitespace character is a character of the sentence too (its line is `  O`), kept at its position, as
    CLUENER2020's reader keeps every character (`line.split(" ")`: the character is what precedes the separator)."""
    chars, tags, index, start = [], [], 0, None
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            char, tag = conll_line(line)
            if tag is None:
                if chars:
                    yield f"{path}:{start}", {"id": index, "text": "".join(chars), "tokens": chars, "tags": tags}
                    chars, tags, index = [], [], index + 1
                continue
            if char is None or len(line.split()) > 2:
                raise DataError(f"{path}:{lineno}: expected 'character TAG'")
            start = start if chars else lineno
            chars.append(char)
            tags.append(tag)
    if chars:
        yield f"{path}:{start}", {"id": index, "text": "".join(chars), "tokens": chars, "tags": tags}


# ---- the presets ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZhTask:
    kind: str  # "classification", "ner" or "question-answering"
    folders: tuple[str, ...]  # where under --data-dir the files live (the first that exists; "" = --data-dir)
    files: dict[str, tuple[str, ...]]  # split -> accepted file names, the distributed one first
    reader: Reader | None = None
    labels: tuple[str, ...] = ()  # the label set ("" : read labels.json, or any)
    submission: str = ""  # CLUE's submission file for the unlabelled test set
    pair: bool = False
    carve_dev: bool = False  # no dev split is distributed: carve one from train (MSRA)
    label_file: str = ""  # labels.json with descriptions (TNEWS, IFLYTEK)
    description_key: str = ""
    notes: dict = field(default_factory=dict)


TNEWS_LABELS = tuple(str(100 + i) for i in range(17) if i not in (5, 11))  # CLUE's TnewsProcessor: 15 classes
NLI_LABELS = ("contradiction", "entailment", "neutral")
TSV = {"train": ("train.tsv",), "dev": ("dev.tsv",), "test": ("test.tsv",)}
CLUE_JSON = {"train": ("train.json",), "dev": ("dev.json",), "test": ("test.json",)}

ZH_TASKS: dict[str, ZhTask] = {
    # HFL's six (ymcui/Chinese-ELECTRA README, "Baselines"); test sets labelled, scored once with the kept model
    "chnsenticorp": ZhTask("classification", ("chnsenticorp", "ChnSentiCorp", ""), TSV, read_chnsenticorp, ("0", "1")),
    "lcqmc": ZhTask("classification", ("lcqmc", "LCQMC", ""), TSV, read_pairs_tsv, ("0", "1"), pair=True),
    "bq": ZhTask("classification", ("bq_corpus", "bq", "BQ", "bqcorpus", ""), TSV, read_pairs_tsv, ("0", "1"), pair=True),
    "xnli-zh": ZhTask("classification", ("", "XNLI", "xnli"),  # xnli/: HFL's finetuning_data/xnli/*.tsv
                      {"train": ("XNLI-MT-1.0/multinli/multinli.train.zh.tsv", "multinli.train.zh.tsv", "train.tsv"),
                       "dev": ("XNLI-1.0/xnli.dev.tsv", "xnli.dev.tsv", "dev.tsv"),
                       "test": ("XNLI-1.0/xnli.test.tsv", "xnli.test.tsv", "test.tsv")},
                      read_xnli, NLI_LABELS, pair=True),
    "drcd": ZhTask("question-answering", ("DRCD", "drcd_public", "drcd", ""),  # CLUE's copy: train.json, dev.json
                   {"train": ("DRCD_training.json", "train.json"), "dev": ("DRCD_dev.json", "dev.json"),
                    "test": ("DRCD_test.json",)}),
    # CLUE 1.0 classification (CLUEbenchmark/CLUE); test labels hidden: submission files
    "afqmc": ZhTask("classification", ("afqmc_public", "afqmc", ""), CLUE_JSON, clue_reader("sentence1", "sentence2"),
                    ("0", "1"), "afqmc_predict.json", pair=True),
    "tnews": ZhTask("classification", ("tnews_public", "tnews", ""), CLUE_JSON, clue_reader("sentence"), TNEWS_LABELS,
                    "tnews11_predict.json", label_file="labels.json", description_key="label_desc"),
    "iflytek": ZhTask("classification", ("iflytek_public", "iflytek", ""), CLUE_JSON, clue_reader("sentence"),
                      tuple(str(i) for i in range(119)), "iflytek_predict.json", label_file="labels.json",
                      description_key="label_des"),
    "ocnli": ZhTask("classification", ("ocnli_public", "ocnli", ""),
                    {"train": ("train.50k.json", "train.json"), "dev": ("dev.json",), "test": ("test.json",)},
                    clue_reader("sentence1", "sentence2"), NLI_LABELS, "ocnli_50k_predict.json", pair=True),
    "cmnli": ZhTask("classification", ("cmnli_public", "cmnli", ""), CLUE_JSON, clue_reader("sentence1", "sentence2"),
                    NLI_LABELS, "cmnli_predict.json", pair=True),
    "csl": ZhTask("classification", ("csl_public", "csl", ""), CLUE_JSON, read_csl, ("0", "1"), "csl_predict.json",
                  pair=True),
    "cluewsc2020": ZhTask("classification", ("cluewsc2020_public", "cluewsc2020", "wsc", ""), CLUE_JSON, read_wsc,
                          ("true", "false"), "cluewsc11_predict.json"),
    # Chinese NER
    "cluener": ZhTask("ner", ("cluener_public", "cluener", ""), CLUE_JSON, read_cluener, submission="cluener_predict.json"),
    "msra": ZhTask("ner", ("msra", "MSRA", ""),
                   {"train": ("msra_train_bio", "msra_train_bio.txt", "train.txt"),
                    "test": ("msra_test_bio", "msra_test_bio.txt", "test.txt")}, read_char_tags, carve_dev=True),
    "peoples-daily": ZhTask("ner", ("peoples_daily", "china-people-daily-ner-corpus", ""),
                            {"train": ("example.train",), "dev": ("example.dev",), "test": ("example.test",)},
                            read_char_tags),
}
ZH_QA_TASKS = ("cmrc2018", "drcd")  # cmrc2018 is squad.py's preset; both score with CMRC's official algorithm

# CLUE 1.1 (instructions of 2021-09-04) renewed the test sets of TNEWS and CLUEWSC2020; the 1.0 ones ship beside
# them as test1.0.json. A submission file is named for the test set it predicts: <task><version>_predict.json;
# the other tasks' test sets and names are the same in both versions.
CLUE_VERSIONS = ("1.1", "1.0")
CLUE_RENEWED = {"tnews": "tnews", "cluewsc2020": "cluewsc"}


def check_clue_version(version: str) -> str:
    if version not in CLUE_VERSIONS:
        raise UsageError(f"--clue-version {version}: choose {' or '.join(CLUE_VERSIONS)}")
    return version


def clue_test(name: str, version: str) -> tuple[tuple[str, ...], str]:
    """(accepted test file names, submission file name) of preset `name` for CLUE `version`."""
    check_clue_version(version)
    spec = ZH_TASKS[name]
    if name not in CLUE_RENEWED:
        return spec.files.get("test", ()), spec.submission
    test = "test.json" if version == "1.1" else "test1.0.json"
    return (test,), f"{CLUE_RENEWED[name]}{version.replace('.', '')}_predict.json"

# HFL's configure_finetuning.py (ymcui/Chinese-ELECTRA; google-research/electra's has the same values):
# weight_decay_rate 0.01 for every task; 3 epochs, except tasks named "*qa*"/"*squad*" (cmrc2018, drcd): 512
# tokens and 2 epochs. Tagging has no HFL setting of its own; it takes the same weight decay and epochs.
HFL_SETTINGS = {"classification": {"weight_decay": 0.01, "epochs": 3.0},
                "ner": {"weight_decay": 0.01, "epochs": 3.0},
                "question-answering": {"weight_decay": 0.01, "epochs": 2.0, "max_seq_len": 512}}


def preset_defaults(name: str) -> list[str]:
    """HFL's settings for Chinese preset `name` as `key=value` overrides, to go under the user's own (flags and
    --set win; a --recipe says its own settings and replaces these)."""
    kind = "question-answering" if name in ZH_QA_TASKS else ZH_TASKS[name].kind
    return [f"{key}={value}" for key, value in HFL_SETTINGS[kind].items()]


def task_folder(name: str, data_dir: Path) -> Path:
    """The folder under `data_dir` that holds preset `name`'s training file: one of its folder names, or two of
    them nested, as CLUE's download script leaves cmnli_public.zip (whose files sit in a folder of their own)
    in DATA/cmnli/cmnli_public/."""
    spec = ZH_TASKS[name]
    named = [f for f in spec.folders if f]
    candidates = [Path(data_dir) / f for f in spec.folders] + [Path(data_dir) / a / b for a in named for b in named]
    for candidate in candidates:
        if candidate.is_dir() and any((candidate / f).is_file() for f in spec.files["train"]):
            return candidate
    return Path(data_dir)


def split_file(name: str, data_dir: Path, split: str, required: bool = True,
               names: tuple[str, ...] | None = None) -> Path | None:
    """The file of `split` for preset `name` under `data_dir` (the distributed name first, or one of `names`)."""
    names = names or ZH_TASKS[name].files.get(split, ())
    folder = task_folder(name, data_dir)
    for file_name in names:
        if (folder / file_name).is_file():
            return folder / file_name
    if required:
        raise UsageError(f"{folder}: no {split} file for --task {name} (expected {' or '.join(names)})")
    return None


@dataclass
class Split:
    """One split read and checked: its rows, and how many were dropped (label `-`)."""

    path: Path
    rows: list[Row]
    labelled: bool
    dropped: int = 0


def label_descriptions(name: str, data_dir: Path) -> dict[str, str]:
    """TNEWS / IFLYTEK's labels.json: label -> description (for the submission files); {} where absent."""
    spec = ZH_TASKS[name]
    if not spec.label_file:
        return {}
    path = task_folder(name, data_dir) / spec.label_file
    if not path.is_file():
        return {}
    return {str(record["label"]): str(record.get(spec.description_key, "")) for _, _, record in _json_lines(path)
            if "label" in record}


def label_set(name: str, data_dir: Path) -> tuple[str, ...]:
    descriptions = label_descriptions(name, data_dir)
    return tuple(descriptions) if descriptions else ZH_TASKS[name].labels


def read_split(name: str, data_dir: Path, split: str, path: Path | None = None) -> Split:
    """Read one split; labels outside the task's label set are bad data (file and line named), rows labelled
    `-` (annotators disagreed: OCNLI, CMNLI) dropped and counted, as CLUE's baseline does."""
    spec = ZH_TASKS[name]
    path = path or split_file(name, data_dir, split)
    labels = set(label_set(name, data_dir))
    rows, dropped, labelled = [], 0, None
    for location, row in spec.reader(path, split):
        gold = row.get("label") if spec.kind == "classification" else row.get("tags")
        if spec.kind == "classification" and gold is not None and gold.strip() == "-":
            dropped += 1
            continue
        if gold is not None and spec.kind == "classification" and labels and gold not in labels:
            raise DataError(f"{location}: label {gold!r} is not one of {name}'s labels ({', '.join(sorted(labels))})")
        labelled = (gold is not None) if labelled is None else labelled
        if (gold is not None) != labelled:
            raise DataError(f"{location}: some rows of {path.name} have labels and some do not")
        row["location"] = location
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no examples")
    return Split(path, rows, bool(labelled), dropped)


def carve_dev(rows: list[Row], every: int = 10) -> tuple[list[Row], list[Row]]:
    """A dev split for a dataset distributed without one (MSRA): the sentences whose CRC-32 of their text is
    0 mod `every` (about 10%), stable across runs and file orders."""
    train = [r for r in rows if zlib.crc32(r["text"].encode("utf-8")) % every]
    dev = [r for r in rows if not zlib.crc32(r["text"].encode("utf-8")) % every]
    if not dev or not train:  # a tiny file: the last sentence
        train, dev = rows[:-1], rows[-1:]
    return train, dev


@dataclass
class Prepared:
    """A preset's files in the form fine-tuning reads, and what the end of the run needs."""

    task: str
    train: Path
    validation: Path
    test: Path | None  # a labelled test split, scored once with the kept model
    unlabelled: Path | None  # an unlabelled test split: CLUE's submission file is written from it
    counts: dict
    submission: str = ""  # the submission file's name, for the CLUE version chosen
    clue_version: str = ""
    test_source: Path | None = None  # the test file as distributed


def write_jsonl(path: Path, rows: list[Row], kind: str) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            if kind == "ner":
                record = {"id": row["id"], "tokens": row["tokens"], "tags": row["tags"]}
            else:
                record = {"id": row["id"], "text": row["text"], "label": row["label"]}
                if row.get("text_pair") is not None:
                    record["text_pair"] = row["text_pair"]
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def model_hidden_size(model_dir: Path) -> int:
    try:
        return int(json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))["hidden_size"])
    except (OSError, ValueError, KeyError):
        return 256


def zh_setup(name: str, data_dir: Path, cfg, model_dir: Path, workdir: Path, epochs_set: bool,
             clue_version: str = "1.1") -> Prepared:
    """Read preset `name` from `data_dir`, write its splits as JSON lines into `workdir`, and set the task's
    columns, metric and HFL's lr on `cfg` (by model size where none was given: 3e-4 small, 1e-4 base, 5e-5
    large); HFL's other settings come in under the user's through `preset_defaults`. Returns the files to train,
    validate and test on; the test file and submission name are `clue_version`'s (TNEWS and CLUEWSC2020 differ
    between 1.0 and 1.1)."""
    spec = ZH_TASKS[name]
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir}: no such folder (--data-dir)")
    if cfg.lr in (0.0, [0.0]):
        cfg.lr = default_lr(model_hidden_size(model_dir))  # HFL: "the learning rate of the original paper"
    if spec.kind == "question-answering":
        cfg.task_type, cfg.language = "question-answering", "zh"
        if cfg.null_answers is None:
            cfg.null_answers = False
        test = split_file(name, data_dir, "test", required=False)
        return Prepared(name, split_file(name, data_dir, "train"), split_file(name, data_dir, "dev"), test, None, {})
    train = read_split(name, data_dir, "train")
    counts = {"train": len(train.rows), "dropped": {"train": train.dropped}}
    if spec.carve_dev:
        train_rows, dev_rows = carve_dev(train.rows)
        counts |= {"train": len(train_rows), "dev_carved_from_train": len(dev_rows)}
    else:
        dev = read_split(name, data_dir, "dev")
        train_rows, dev_rows = train.rows, dev.rows
        counts["dropped"]["dev"] = dev.dropped
    if not train.labelled or (not spec.carve_dev and not dev.labelled):
        raise DataError(f"{train.path.parent}: the training and dev files of --task {name} must be labelled")
    counts["dev"] = len(dev_rows)
    test_names, submission = clue_test(name, clue_version)
    test_path = split_file(name, data_dir, "test", required=False, names=test_names)
    test = unlabelled = None
    if test_path is not None:
        test_split = read_split(name, data_dir, "test", test_path)
        counts["test"] = len(test_split.rows)
        counts["dropped"]["test"] = test_split.dropped
        target = workdir / ("test.jsonl" if test_split.labelled else "test-unlabelled.jsonl")
        (write_jsonl if test_split.labelled else write_unlabelled)(target, test_split.rows, spec.kind)
        test, unlabelled = (target, None) if test_split.labelled else (None, target)
    train_file = write_jsonl(workdir / "train.jsonl", train_rows, spec.kind)
    dev_file = write_jsonl(workdir / "dev.jsonl", dev_rows, spec.kind)
    if spec.kind == "ner":
        cfg.task_type, cfg.tokens_field, cfg.tags_field = "token-classification", "tokens", "tags"
    else:
        cfg.task_type, cfg.text_field, cfg.label_field = "classification", "text", "label"
        cfg.text_pair_field = "text_pair" if spec.pair else ""
        cfg.metric = cfg.metric or "accuracy"
    if not epochs_set:
        cfg.epochs = 3.0  # HFL's configure_finetuning.py for classification
    return Prepared(name, train_file, dev_file, test, unlabelled, counts, submission, clue_version, test_path)


def write_unlabelled(path: Path, rows: list[Row], kind: str) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            if kind == "ner":
                record = {"id": row["id"], "tokens": row["tokens"], "text": row["text"]}
            else:
                record = {"id": row["id"], "text": row["text"]}
                if row.get("text_pair") is not None:  # pairs only: "" would add a second segment
                    record["text_pair"] = row["text_pair"]
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
