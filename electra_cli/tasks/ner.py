"""Chinese NER as character tags and as entity spans, and CLUENER's two scores.

CLUENER2020's files give each sentence's entities as `{type: {surface: [[start, end], ...]}}` with `end`
inclusive; training reads them as one BIO tag per character, and predictions go back to that dict. Scores:
- the leaderboard's macro-F1 (cluebenchmarks.com/ner.html): per entity type, each sentence's *set of entity
  strings*, precision and recall summed over sentences, F1 per type, the mean over CLUENER's ten types; a type
  that is never predicted scores 0 (precision 0/0 is 0, not an error);
- the micro exact-span F1 of CLUE's PyTorch baseline (CLUENER2020/pytorch_version/metrics/ner_metrics.py,
  SeqEntityScore): every (type, start, end) span of every sentence pooled, spans read as its `get_entity_bio`
  reads them (`tags_to_spans`);
- beside them, `entity_f1`: the same pooling with the strict conlleval/seqeval reading of the tags
  (finetuning/entities.py), the headline of every tagging run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from electra_cli.core.errors import DataError

# CLUENER2020's ten types (its README), the macro-F1's denominator
CLUENER_TYPES = ("address", "book", "company", "game", "government", "movie", "name", "organization", "position",
                 "scene")

Span = tuple[str, int, int]  # (type, start, end), end inclusive as CLUENER writes it


def spans_to_tags(length: int, spans: Iterable[Span]) -> list[str]:
    """BIO tags for `length` characters; an overlapping later span is dropped (CLUENER has none)."""
    tags = ["O"] * length
    for kind, start, end in sorted(spans, key=lambda s: (s[1], s[2])):
        if start < 0 or end >= length or end < start or any(t != "O" for t in tags[start : end + 1]):
            continue
        tags[start] = f"B-{kind}"
        for i in range(start + 1, end + 1):
            tags[i] = f"I-{kind}"
    return tags


def tags_to_spans(tags: Sequence[str | None]) -> list[Span]:
    """Entity spans as CLUE's baseline reads BIO tags: CLUENER2020's `get_entity_bio`
    (pytorch_version/processors/utils_ner.py). A `B-` starts a span (closing any open one); an `I-` inside a span
    extends it when its type matches and is skipped when it does not, without ending it (`B-name I-address I-name O`
    is name 0-2); an `I-` outside a span starts nothing; anything else (`O`, `S-`, `E-`, None) closes the span.
    The type is the text between the first and second '-', as `tag.split('-')[1]`. The strict conlleval/seqeval
    reading, where `I-address` would end the name, is `finetuning.entities.entity_spans` (the runs' headline)."""
    spans: list[Span] = []
    kind, start, end = None, -1, -1
    for i, tag in enumerate(tags):
        tag = tag or "O"
        if tag.startswith("B-"):
            if end != -1:
                spans.append((kind, start, end))
            kind, start, end = tag.split("-")[1], i, i
        elif tag.startswith("I-") and start != -1:
            if tag.split("-")[1] == kind:
                end = i
            continue
        else:
            if end != -1:
                spans.append((kind, start, end))
            kind, start, end = None, -1, -1
    if end != -1:
        spans.append((kind, start, end))
    return spans


def label_dict_spans(label: dict, text: str, where: str) -> list[Span]:
    """CLUENER's `label` dict as spans; a surface that does not match the text at its offsets is bad data."""
    spans = []
    if not isinstance(label, dict):
        raise DataError(f"{where}: 'label' must be {{type: {{surface: [[start, end]]}}}}")
    for kind, surfaces in label.items():
        if not isinstance(surfaces, dict):
            raise DataError(f"{where}: label[{kind!r}] must be {{surface: [[start, end]]}}")
        for surface, offsets in surfaces.items():
            for pair in offsets or []:
                if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) for x in pair)):
                    raise DataError(f"{where}: label[{kind!r}][{surface!r}]: offsets must be [start, end] pairs")
                start, end = pair
                if text and text[start : end + 1] != surface:
                    raise DataError(f"{where}: label[{kind!r}][{surface!r}] does not match text[{start}:{end + 1}] "
                                    f"({text[start:end + 1]!r})")
                spans.append((kind, start, end))
    return spans


def spans_to_label_dict(text: str, spans: Iterable[Span]) -> dict:
    """Spans back to CLUENER's `{type: {surface: [[start, end]]}}`."""
    label: dict = {}
    for kind, start, end in spans:
        label.setdefault(kind, {}).setdefault(text[start : end + 1], []).append([start, end])
    return label


def _f1(right: int, found: int, origin: int) -> tuple[float, float, float]:
    precision = right / found if found else 0.0
    recall = right / origin if origin else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def cluener_macro_f1(gold: Sequence[dict[str, set[str]]], predicted: Sequence[dict[str, set[str]]],
                     types: Sequence[str] = CLUENER_TYPES) -> dict:
    """The leaderboard's macro-F1 from per-sentence {type: set of entity strings}: F1 per type (sentences
    pooled), then the mean over `types`; returns {"macro_f1", "per_type": {type: {precision, recall, f1}}}."""
    per_type = {}
    for kind in types:
        right = found = origin = 0
        for g, p in zip(gold, predicted):
            g_set, p_set = g.get(kind, set()), p.get(kind, set())
            right += len(g_set & p_set)
            found += len(p_set)
            origin += len(g_set)
        precision, recall, f1 = _f1(right, found, origin)
        per_type[kind] = {"precision": precision, "recall": recall, "f1": f1}
    return {"macro_f1": sum(v["f1"] for v in per_type.values()) / len(types), "per_type": per_type}


def span_micro_f1(gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[Span]]) -> dict:
    """CLUE's baseline score: every predicted (type, start, end) that is a gold span of its sentence is right;
    precision, recall and F1 over all spans pooled."""
    right = found = origin = 0
    for g, p in zip(gold, predicted):
        g_set, p_set = set(g), set(p)
        right += len(g_set & p_set)
        found += len(p_set)
        origin += len(g_set)
    precision, recall, f1 = _f1(right, found, origin)
    return {"micro_f1": f1, "micro_precision": precision, "micro_recall": recall}


def strings_by_type(text: str, spans: Iterable[Span]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind, start, end in spans:
        out.setdefault(kind, set()).add(text[start : end + 1])
    return out


def ner_scores(texts: Sequence[str], gold: Sequence[list[Span]], predicted: Sequence[list[Span]],
               types: Sequence[str] | None = None) -> dict:
    """Both official scores (fractions) from spans: macro-F1 over `types` (CLUENER's ten by default; for other
    tag sets, the types seen in the gold) and the micro span F1."""
    if types is None:
        types = sorted({kind for spans in gold for kind, _, _ in spans}) or list(CLUENER_TYPES)
    macro = cluener_macro_f1([strings_by_type(t, g) for t, g in zip(texts, gold)],
                             [strings_by_type(t, p) for t, p in zip(texts, predicted)], types)
    return {"macro_f1": macro["macro_f1"], **span_micro_f1(gold, predicted), "per_type": macro["per_type"]}
