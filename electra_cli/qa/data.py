"""Extractive QA data: SQuAD-layout JSON and HF `squad` rows in, checked examples and windowed features out.

SQuAD 1.1/2.0, CMRC 2018 and DRCD share one JSON layout: {"data": [{"paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}. HF's `squad` datasets hold one row per
question (id, question, context, answers: {text: [...], answer_start: [...]}) in JSONL or Parquet. An answer
whose answer_start does not point at its text is named and skipped (or stops the run with `strict`): training
on it would teach a span that is not the answer.

Features as google-research/electra builds them: [CLS] question [SEP] context-window [SEP], the question cut to
`max_query_len` tokens, consecutive windows starting `doc_stride` tokens apart; a window that does not hold the
whole answer, and a question without one, point at [CLS]. Token offsets map every context token back to
characters, so answers are cut from the original context, not rebuilt from word pieces.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from electra_cli.core.errors import DataError, UsageError
from electra_cli.text.tables import read_records, require_field


@dataclass
class QAExample:
    qid: str
    question: str
    context: str
    answers: list[str]  # gold answer texts; empty for a question without an answer
    starts: list[int]  # their character offsets in `context`
    location: str  # file and question id, for errors


@dataclass
class QAData:
    """The checked questions of one file and what was skipped or flagged (reason -> question locations)."""

    path: Path
    examples: list[QAExample]
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def has_unanswerable(self) -> bool:
        return any(not ex.answers for ex in self.examples)


# ---- reading -----------------------------------------------------------------------------------------------

_SQUAD_HEAD = re.compile(r'^\s*\{.*?"data"\s*:\s*\[', re.DOTALL)


def is_squad_json(path: Path) -> bool:
    """A single JSON document in the SQuAD layout (judged from its first 64 KB; reading it checks the rest)."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() == ".parquet":
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(1 << 16)
    line, newline, rest = head.partition("\n")
    if newline and rest.strip():  # a whole object on the first line and more after it: JSONL rows, not one document
        try:
            json.loads(line)
            return False
        except ValueError:
            pass  # the first line of a pretty-printed document
    return bool(_SQUAD_HEAD.match(head)) and bool(re.search(r'"(paragraphs|qas|context)"', head))


def is_qa_rows(path: Path, question_field: str = "question", context_field: str = "context",
               answers_field: str = "answers") -> bool:
    """JSONL/Parquet rows in HF's `squad` layout (judged from the first row)."""
    path = Path(path)
    if not path.is_file() or is_squad_json(path):
        return False
    try:
        _, first = next(iter(read_records(path)))
    except (StopIteration, DataError, UnicodeError, ValueError):
        return False
    return all(name in first for name in (question_field, context_field, answers_field))


def looks_like_qa(path: Path | None, cfg=None) -> bool:
    """Whether a training file holds QA data (so the task type is question answering whatever the default)."""
    if path is None:
        return False
    fields = (cfg.question_field, cfg.context_field, cfg.answers_field) if cfg is not None else ()
    return is_squad_json(path) or is_qa_rows(path, *fields)


def read_qa_file(path: Path, cfg, training: bool) -> QAData:
    """Read and check one file. Training: a question whose first answer (the one trained on) is misplaced is
    skipped. Evaluation: scores use the answer texts only, as the official scripts do, so such a question is kept
    and reported. With cfg.strict either stops the run (exit 3)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    raw = _squad_json(path) if is_squad_json(path) else _hf_rows(path, cfg)
    data = QAData(path, [])
    seen: set[str] = set()
    for ex in raw:
        if not ex.context.strip() or not ex.question.strip():
            data.problems.setdefault("empty question or context", []).append(ex.location)
            continue
        if ex.qid in seen:
            raise DataError(f"{ex.location}: question id {ex.qid!r} appears twice")
        seen.add(ex.qid)
        bad = [i for i, (text, start) in enumerate(zip(ex.answers, ex.starts))
               if not isinstance(start, int) or ex.context[start : start + len(text)] != text]
        if bad:
            text, start = ex.answers[bad[0]], ex.starts[bad[0]]
            message = (f"{ex.location}: answer_start {start} does not point at its answer {text!r} (the context "
                       f"there reads {ex.context[start : start + len(text)]!r})" if isinstance(start, int) else
                       f"{ex.location}: answer_start {start!r} is not a number")
            if cfg.strict:
                raise DataError(message)
            data.problems.setdefault("answer_start not at the answer text", []).append(message)
            if training and 0 in bad:
                continue
        data.examples.append(ex)
    if not data.examples:
        raise DataError(f"{path}: no usable questions")
    return data


def _squad_json(path: Path) -> list[QAExample]:
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: invalid JSON ({err})") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise DataError(f"{path}: not the SQuAD layout (no top-level \"data\" list)")
    examples = []
    for a, article in enumerate(document["data"]):
        for p, paragraph in enumerate(article.get("paragraphs") or []):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = paragraph.get("context")
            if not isinstance(context, str) or not isinstance(paragraph.get("qas"), list):
                raise DataError(f"{where}: needs a \"context\" string and a \"qas\" list")
            for q, qa in enumerate(paragraph["qas"]):
                qid = str(qa.get("id", f"{a}-{p}-{q}"))
                location = f"{path}: question {qid}"
                if not isinstance(qa.get("question"), str):
                    raise DataError(f"{location}: no \"question\" string")
                answers = [] if qa.get("is_impossible") else (qa.get("answers") or [])
                if not all(isinstance(x, dict) and "text" in x and "answer_start" in x for x in answers):
                    raise DataError(f"{location}: each answer needs \"text\" and \"answer_start\"")
                examples.append(QAExample(qid, qa["question"], context, [str(x["text"]) for x in answers],
                                          [x["answer_start"] for x in answers], location))
    return examples


def _hf_rows(path: Path, cfg) -> list[QAExample]:
    examples = []
    for index, (location, record) in enumerate(read_records(path)):
        answers = require_field(record, cfg.answers_field, location)
        if not isinstance(answers, dict) or not isinstance(answers.get("text"), list) \
                or not isinstance(answers.get("answer_start"), list) \
                or len(answers["text"]) != len(answers["answer_start"]):
            raise DataError(f"{location}: {cfg.answers_field!r} must be {{\"text\": [...], \"answer_start\": [...]}} "
                            "of equal length (HF's squad layout)")
        qid = str(record.get(cfg.id_field, index))
        examples.append(QAExample(qid, str(require_field(record, cfg.question_field, location)),
                                  str(require_field(record, cfg.context_field, location)),
                                  [str(t) for t in answers["text"]], list(answers["answer_start"]),
                                  f"{location} (question {qid})"))
    return examples


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def detect_language(examples: list[QAExample]) -> str:
    """"zh" when CJK characters make up more than a quarter of the contexts' non-space characters, else "en"."""
    sample = "".join(ex.context for ex in examples[:200])
    letters = [ch for ch in sample if not ch.isspace()]
    return "zh" if letters and len(_CJK.findall(sample)) > 0.25 * len(letters) else "en"


# ---- features ----------------------------------------------------------------------------------------------


@dataclass
class Features:
    """Windows over the examples' contexts. offsets[i] is (T, 2) character spans in the context, -1 outside it."""

    input_ids: list[np.ndarray] = field(default_factory=list)
    token_type_ids: list[np.ndarray] = field(default_factory=list)
    offsets: list[np.ndarray] = field(default_factory=list)
    example_index: list[int] = field(default_factory=list)
    start_positions: list[int] = field(default_factory=list)  # answer tokens (the [CLS] index when none)
    end_positions: list[int] = field(default_factory=list)
    cls_index: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


def check_tokenizer(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError("question answering needs a fast tokenizer (character offsets); this folder's tokenizer "
                         f"({type(tokenizer).__name__}) is not one")


def build_features(examples: list[QAExample], tokenizer, max_seq_len: int, doc_stride: int,
                   max_query_len: int) -> Features:
    """Tokenize each question with its context in windows; label each window with its answer's tokens."""
    check_tokenizer(tokenizer)
    special = tokenizer.num_special_tokens_to_add(pair=True)
    if max_seq_len - max_query_len - special < 8:
        raise UsageError(f"max_seq_len {max_seq_len} leaves no room for the context after a question of up to "
                         f"{max_query_len} tokens; raise max_seq_len or lower max_query_len")
    features = Features()
    questions = tokenizer([ex.question for ex in examples], add_special_tokens=False, return_offsets_mapping=True)
    for index, ex in enumerate(examples):
        question, question_tokens = ex.question, len(questions["input_ids"][index])
        if question_tokens > max_query_len:  # cut after its first max_query_len tokens, as the reference truncates
            question = question[: questions["offset_mapping"][index][max_query_len - 1][1]]
            question_tokens = len(tokenizer(question, add_special_tokens=False)["input_ids"])
        room = max_seq_len - question_tokens - special  # context tokens per window
        # HF's `stride` is the overlap between windows; the reference's doc_stride is the step between their starts
        overlap = max(0, room - doc_stride)
        encoded = tokenizer(question, ex.context, truncation="only_second", max_length=max_seq_len, stride=overlap,
                            return_overflowing_tokens=True, return_offsets_mapping=True)
        for w in range(len(encoded["input_ids"])):
            ids = encoded["input_ids"][w]
            sequence = encoded.sequence_ids(w)
            offsets = np.array([span if s == 1 else (-1, -1) for span, s in zip(encoded["offset_mapping"][w], sequence)],
                               dtype=np.int32).reshape(-1, 2)
            types = encoded["token_type_ids"][w] if "token_type_ids" in encoded else [0] * len(ids)
            cls = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
            start, end = _answer_tokens(ex, offsets, cls)
            features.input_ids.append(np.asarray(ids, dtype=np.int64))
            features.token_type_ids.append(np.asarray(types, dtype=np.int64))
            features.offsets.append(offsets)
            features.example_index.append(index)
            features.start_positions.append(start)
            features.end_positions.append(end)
            features.cls_index.append(cls)
    return features


def _answer_tokens(ex: QAExample, offsets: np.ndarray, cls: int) -> tuple[int, int]:
    """First and last token of the example's first answer in this window, or (cls, cls) if it is not all inside."""
    if not ex.answers or not isinstance(ex.starts[0], int) or not ex.answers[0]:
        return cls, cls
    begin, end = ex.starts[0], ex.starts[0] + len(ex.answers[0])
    inside = np.nonzero(offsets[:, 0] >= 0)[0]
    if len(inside) == 0 or offsets[inside[0], 0] > begin or offsets[inside[-1], 1] < end:
        return cls, cls
    first = inside[offsets[inside, 1] > begin][0]  # the first token that ends after the answer begins
    last = inside[offsets[inside, 0] < end][-1]  # the last token that starts before the answer ends
    return (int(first), int(last)) if last >= first else (cls, cls)
