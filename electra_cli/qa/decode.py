"""From start/end logits to answers: n-best spans across a question's windows, and the no-answer decision.

As the reference decodes (without its answerable classifier, which HF's ElectraForQuestionAnswering lacks): the
`n_best` highest start and end logits of each window pair up into spans inside the context, ending at or after
they start, at most `max_answer_len` tokens long, and starting where this window gives the token its widest
context (a token seen by two windows is judged by the one where it sits further from the edge); a span scores
start + end logit, and the question's answer is its best span over all windows. The null score is [CLS]'s
start + end logit, the smallest over the windows; null_diff = null score - best span score, and "no answer" is
predicted where null_diff exceeds a threshold (chosen on validation for SQuAD 2.0-style data). An answer's
probability is its softmax among the n-best spans, with the null answer among them only where questions may have
no answer (SQuAD 2.0); for SQuAD 1.1-style data the null answer is no candidate and takes no share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from electra_cli.qa.data import Features, QAExample


@dataclass
class Answer:
    text: str  # the best span's text (never "no answer": `apply_threshold` decides that)
    start: int  # character offsets in the context, end exclusive; -1 when no span was possible
    end: int
    span_score: float  # start + end logit of the best span
    null_diff: float  # null score - span_score (inf when no span was possible)
    probability: float  # the best span's softmax probability among the n-best spans and the null answer
    null_probability: float


def decode(examples: list[QAExample], features: Features, start_logits: list[np.ndarray],
           end_logits: list[np.ndarray], n_best: int = 20, max_answer_len: int = 30,
           null_answers: bool = True) -> list[Answer]:
    """One Answer per example, from the logits of each of its windows (features in example order); with
    `null_answers` False (every question answerable) the null answer is left out of the probabilities."""
    windows: dict[int, list[int]] = {}
    for f, index in enumerate(features.example_index):
        windows.setdefault(index, []).append(f)
    answers = []
    for index, ex in enumerate(examples):
        answers.append(_decode_one(ex, features, windows.get(index, []), start_logits, end_logits, n_best,
                                   max_answer_len, null_answers))
    return answers


def _decode_one(ex, features, window_ids, start_logits, end_logits, n_best, max_answer_len, null_answers) -> Answer:
    best_window = _widest_context(features, window_ids)
    null_score = math.inf
    candidates = []  # (score, window, start token, end token)
    for f in window_ids:
        starts, ends, offsets, cls = start_logits[f], end_logits[f], features.offsets[f], features.cls_index[f]
        null_score = min(null_score, float(starts[cls] + ends[cls]))
        top_starts = np.argsort(-starts)[:n_best]
        top_ends = np.argsort(-ends)[:n_best]
        for s in top_starts:
            if offsets[s, 0] < 0 or best_window.get(int(offsets[s, 0])) != f:
                continue
            for e in top_ends:
                if offsets[e, 0] < 0 or e < s or e - s + 1 > max_answer_len:
                    continue
                candidates.append((float(starts[s] + ends[e]), f, int(s), int(e)))
    candidates.sort(key=lambda c: -c[0])
    nbest, seen = [], set()
    for score, f, s, e in candidates:
        begin, end = int(features.offsets[f][s, 0]), int(features.offsets[f][e, 1])
        text = ex.context[begin:end]
        if text in seen or not text.strip():
            continue
        seen.add(text)
        nbest.append((score, text, begin, end))
        if len(nbest) == n_best:
            break
    if not nbest:
        return Answer("", -1, -1, -math.inf, math.inf, 0.0, 1.0)
    with_null = null_answers and math.isfinite(null_score)
    scores = np.array([c[0] for c in nbest] + ([null_score] if with_null else []))
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    score, text, begin, end = nbest[0]
    null_probability = float(probs[-1]) if len(probs) > len(nbest) else 0.0
    return Answer(text, begin, end, score, null_score - score, float(probs[0]), null_probability)


def _widest_context(features: Features, window_ids: list[int]) -> dict[int, int]:
    """For each context token (keyed by its first character), the window where it has the most context on its
    smaller side, ties to the longer window (the reference's rule: min(left, right) + 0.01 x window length)."""
    best: dict[int, tuple[float, int]] = {}
    for f in window_ids:
        inside = np.nonzero(features.offsets[f][:, 0] >= 0)[0]
        n = len(inside)
        for p, token in enumerate(inside):
            key = int(features.offsets[f][token, 0])
            score = min(p, n - 1 - p) + 0.01 * n
            if key not in best or score > best[key][0]:
                best[key] = (score, f)
    return {key: f for key, (_, f) in best.items()}


def apply_threshold(answer: Answer, null_answers: bool, threshold: float) -> str:
    """The text to report: "" for no answer when questions may have none and the null wins by more than
    `threshold`; otherwise the best span."""
    if null_answers and answer.null_diff > threshold:
        return ""
    return answer.text
