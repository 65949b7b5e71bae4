"""Extractive QA metrics as the official scripts compute them, from one tested place.

SQuAD 1.1 and 2.0 (`evaluate-v1.1.py`, `evaluate-v2.0.py`): an answer is normalised (lower case, ASCII
punctuation removed, the articles a/an/the removed, whitespace collapsed); EM is equality after normalisation,
F1 the bag-of-words overlap; each question takes its best gold answer; results are percentages. 2.0 adds the
no-answer questions (gold ""), HasAns/NoAns breakdowns, and the threshold on the null-score difference that
maximises EM or F1. CMRC 2018 (`cmrc2018_evaluate.py`): lower case, Chinese and some ASCII punctuation removed,
text split into single CJK characters and words; F1 from the longest common run of those pieces, EM after
punctuation removal only. The CMRC script splits non-CJK runs with nltk's `word_tokenize`, which keeps numbers
such as 3.5, 9.58 and 1,200 whole; so does this module, with nltk itself (the `chinese` extra). `word_tokenize`
first splits sentences with punkt, whose English model is a separate data download: where it is installed it is
used, as the script does; without it each run is one sentence (`preserve_line`), which differs only where a
non-CJK run holds a sentence break in its middle ("a. b"), not in numbers, names or words.
"""

from __future__ import annotations

import collections
import re
import string

from electra_cli.core.errors import UsageError

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower, drop ASCII punctuation, drop articles, collapse whitespace (in that order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_exact(gold: str, prediction: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(prediction))


def squad_f1(gold: str, prediction: str) -> float:
    gold_tokens, pred_tokens = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_tokens or not pred_tokens:  # a no-answer on either side: right only if both are empty
        return float(gold_tokens == pred_tokens)
    same = sum((collections.Counter(gold_tokens) & collections.Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


# CMRC 2018's list of characters dropped before scoring (Chinese punctuation and a few ASCII symbols).
# (The script's list also holds "……", which never matches the single characters it is compared with.)
CMRC_PUNCTUATION = set("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def nltk_words(run: str) -> list[str]:
    """nltk's `word_tokenize` of a non-CJK run, as cmrc2018_evaluate.py splits it (punkt's sentence split only
    where its data is installed: see the module's docstring)."""
    try:
        import nltk
    except ImportError:
        raise UsageError("CMRC 2018 / DRCD scoring needs nltk, as the official script: pip install 'electra-cli[chinese]'") from None
    try:
        return nltk.word_tokenize(run)
    except LookupError:  # punkt's English model is not installed (it is a download)
        return nltk.word_tokenize(run, preserve_line=True)


def cmrc_segments(text: str, drop_punctuation: bool = True) -> list[str]:
    """CMRC's mixed segmentation: each CJK character (and listed punctuation mark) alone, other runs as words."""
    pieces, run = [], ""
    for ch in str(text).lower().strip():
        if drop_punctuation and ch in CMRC_PUNCTUATION:
            continue
        if _CJK.match(ch) or ch in CMRC_PUNCTUATION:
            pieces += nltk_words(run) if run else []
            run = ""
            pieces.append(ch)
        else:
            run += ch
    return pieces + (nltk_words(run) if run else [])


def cmrc_strip(text: str) -> str:
    return "".join(ch for ch in str(text).lower().strip() if ch not in CMRC_PUNCTUATION)


def _longest_common_run(a: list[str], b: list[str]) -> int:
    """Length of the longest contiguous run shared by `a` and `b` (CMRC scores with this, not a bag of words)."""
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def cmrc_f1(gold: str, prediction: str) -> float:
    gold_pieces, pred_pieces = cmrc_segments(gold), cmrc_segments(prediction)
    if not gold_pieces or not pred_pieces:  # no-answer questions (not in CMRC itself): right only if both empty
        return float(gold_pieces == pred_pieces)
    common = _longest_common_run(gold_pieces, pred_pieces)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_pieces), common / len(gold_pieces)
    return 2 * precision * recall / (precision + recall)


def cmrc_exact(gold: str, prediction: str) -> float:
    return float(cmrc_strip(gold) == cmrc_strip(prediction))


def raw_scores(golds: dict[str, list[str]], predictions: dict[str, str], language: str) -> tuple[dict, dict]:
    """Per question id: (EM, F1), each the best over its gold answers; a question with no gold answer has gold ""."""
    exact_fn, f1_fn = (cmrc_exact, cmrc_f1) if language == "zh" else (squad_exact, squad_f1)
    exact, f1 = {}, {}
    for qid, answers in golds.items():
        answers = [a for a in answers if normalize_answer(a)] if language != "zh" else [a for a in answers if a.strip()]
        answers = answers or [""]
        prediction = predictions.get(qid, "")
        exact[qid] = max(exact_fn(a, prediction) for a in answers)
        f1[qid] = max(f1_fn(a, prediction) for a in answers)
    return exact, f1


def best_threshold(raw: dict[str, float], null_diffs: dict[str, float], has_answer: dict[str, bool]) -> tuple[float, float]:
    """The threshold t on the null-score difference (predict no answer when diff > t) that maximises the mean of
    `raw` (EM or F1 of each question's best non-null answer), as a percentage, and t.

    Scanning the questions by increasing difference: below every difference all are answered "no answer" (the
    no-answer questions score 1, the others 0); passing a question answers it, which gains its raw score if it
    has an answer and loses its point if it has none. Equal differences move together. (The official script
    reports 0.0 when "always no answer" is best; here t is then just below the smallest difference.)
    """
    if not raw:
        return 0.0, 0.0
    ordered = sorted(raw, key=lambda q: null_diffs[q])
    score = best = sum(1.0 for q in raw if not has_answer[q])
    threshold = null_diffs[ordered[0]] - 1.0
    for i, qid in enumerate(ordered):
        score += raw[qid] if has_answer[qid] else -1.0
        last_of_tie = i + 1 == len(ordered) or null_diffs[ordered[i + 1]] != null_diffs[qid]
        if last_of_tie and score > best:
            best, threshold = score, null_diffs[qid]
    return 100.0 * best / len(raw), threshold


def evaluate(golds: dict[str, list[str]], predictions: dict[str, str], language: str = "en",
             null_diffs: dict[str, float] | None = None, threshold: float = 0.0) -> dict:
    """The official figures. `predictions` holds each question's best non-null answer; with `null_diffs` (2.0:
    null score minus best span score) a question is answered "" where its difference exceeds `threshold`, and
    the best thresholds for EM and F1 are searched. English: exact_match and f1 (SQuAD), plus HasAns_* / NoAns_*
    and best_* for 2.0; Chinese: exact_match, f1 and average (CMRC 2018). Percentages."""
    exact_raw, f1_raw = raw_scores(golds, predictions, language)
    has_answer = {q: any(a.strip() for a in golds[q]) for q in golds}
    if null_diffs is not None:
        answered = {q: ("" if null_diffs.get(q, -float("inf")) > threshold else p) for q, p in predictions.items()}
        exact, f1 = raw_scores(golds, answered, language)
    else:
        exact, f1 = exact_raw, f1_raw

    def mean(scores: dict, ids: list[str]) -> float:
        return 100.0 * sum(scores[q] for q in ids) / len(ids) if ids else 0.0

    ids = list(golds)
    result = {"exact_match": mean(exact, ids), "f1": mean(f1, ids), "total": len(ids)}
    if language == "zh":
        result["average"] = (result["exact_match"] + result["f1"]) / 2
    if null_diffs is not None:
        for name, wanted in (("HasAns", True), ("NoAns", False)):
            subset = [q for q in ids if has_answer[q] == wanted]
            if subset:
                result |= {f"{name}_exact": mean(exact, subset), f"{name}_f1": mean(f1, subset),
                           f"{name}_total": len(subset)}
        diffs = {q: null_diffs.get(q, -float("inf")) for q in ids}
        result["best_exact"], result["best_exact_thresh"] = best_threshold(exact_raw, diffs, has_answer)
        result["best_f1"], result["best_f1_thresh"] = best_threshold(f1_raw, diffs, has_answer)
    return result
