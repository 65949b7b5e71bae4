"""Entity spans of tag sequences and the entity-level scores everyone reports for NER (conlleval, seqeval).

A tagger is judged by the entities it finds, not by its tags: on People's Daily a model that answers `O`
everywhere has 0.93 token accuracy and finds nothing. The headline of a BIO/IOB1/IOB2/BIOES run is therefore the
micro F1 over exact typed spans: a predicted (type, start, end) is right when the gold sentence has that very span;
precision, recall and F1 pool every sentence; per type the same, restricted to the type. Spans are read as
conlleval and seqeval's default mode read them (seqeval.metrics.sequence_labeling.get_entities with its
start_of_chunk / end_of_chunk rules): an `I-` after `O` or after another type starts an entity, an `I-X` after
`B-Y` ends `Y` and starts `X`, `E-`/`S-` close one. tests/test_entities.py compares with seqeval on the same tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Span = tuple[str, int, int]  # (type, start, end), end inclusive, as seqeval and CLUENER write them
ENTITY_PREFIXES = ("B", "I", "E", "S")


def is_entity_tagset(tags: Iterable[str]) -> bool:
    """Whether a tag set is BIO/IOB1/IOB2/BIOES: every tag `O` or `<B|I|E|S>-<type>`, at least one of the latter
    (a part-of-speech or chunk-free tag set keeps token accuracy as its headline)."""
    tags = set(tags)
    typed = [t for t in tags if t != "O"]
    return bool(typed) and all(len(t) > 2 and t[0] in ENTITY_PREFIXES and t[1] == "-" for t in typed)


def _split(tag: str) -> tuple[str, str]:
    """(prefix, type) as seqeval splits a tag: its first character, and what follows the first '-' ('_' if none)."""
    return tag[:1], tag[1:].split("-", 1)[-1] or "_"


def _ends(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != kind


def _starts(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != kind


def entity_spans(tags: Sequence[str | None]) -> list[Span]:
    """The (type, start, end) entities of one sentence's tags, as conlleval/seqeval read them; None reads as O."""
    spans, prev_tag, prev_type, begin = [], "O", "_", 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = _split(tag or "O")
        if _ends(prev_tag, prefix, prev_type, kind):
            spans.append((prev_type, begin, i - 1))
        if _starts(prev_tag, prefix, prev_type, kind):
            begin = i
        prev_tag, prev_type = prefix, kind
    return spans


def _prf(right: int, found: int, gold: int) -> dict:
    precision = right / found if found else 0.0
    recall = right / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Entity-level micro precision, recall and F1 (fractions) over all sentences, the counts, and per type
    {precision, recall, f1, support}; what seqeval's precision_score / recall_score / f1_score and
    classification_report give for the same tags (0 where nothing was found)."""
    counts: dict[str, list[int]] = {}  # type -> [right, found, gold]
    for gold_tags, predicted_tags in zip(gold, predicted):
        gold_spans, found_spans = set(entity_spans(gold_tags)), set(entity_spans(predicted_tags))
        for kind, _, _ in gold_spans:
            counts.setdefault(kind, [0, 0, 0])[2] += 1
        for span in found_spans:
            row = counts.setdefault(span[0], [0, 0, 0])
            row[1] += 1
            row[0] += span in gold_spans
    right, found, total = (sum(row[i] for row in counts.values()) for i in range(3))
    micro = _prf(right, found, total)
    return {"entity_f1": micro["f1"], "entity_precision": micro["precision"], "entity_recall": micro["recall"],
            "entities": {"right": right, "predicted": found, "gold": total},
            "per_type": {kind: _prf(*row) | {"support": row[2]} for kind, row in sorted(counts.items())}}


def entity_records(words: Sequence[str], tags: Sequence[str | None], characters: bool) -> list[dict]:
    """The entities of one tagged sentence for a predictions file: type, start, end (inclusive: word indices, which
    are character offsets in the text for character-level tasks) and the surface text (characters joined as they
    are, words with a space)."""
    joiner = "" if characters else " "
    return [{"type": kind, "start": start, "end": end, "text": joiner.join(words[start : end + 1])}
            for kind, start, end in entity_spans(tags)]
