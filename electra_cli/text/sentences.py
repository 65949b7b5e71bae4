"""Splitting a line into sentences, for corpora with a paragraph (or a whole document) per line.

The reference pipeline expects a sentence per line: packing accumulates lines up to the target length and splits
them at a line boundary into segments A and B. A paragraph per line gives few boundaries, so most examples end
up single-segment or truncated. Rules, not a model: a Latin sentence ends at . ! ? (and closing quotes or
brackets) followed by a space and a capital letter, a digit or an opening quote, unless the word before the
period is a known abbreviation or a single letter (initials, "U.S."); a Chinese or Japanese one ends at
。！？ (and closing quotes), no space needed. A false split only moves an A/B boundary; no text is lost.
"""

from __future__ import annotations

import re

_BOUNDARY = re.compile(
    r"(?P<latin>[.!?]+[\"'”’)\]]*)(?=\s+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])"  # . ! ? + closers, then space + capital
    r"|[。！？]+[”’」』）)]*"  # full-width end punctuation + closers
)
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st sr jr vs etc e.g i.e no fig figs eq inc ltd co corp dept approx cf al vol pp ch sec".split()
)


def split_sentences(line: str) -> list[str]:
    """The sentences of `line`, stripped, in order; `[line]` when it has one (or is blank)."""
    pieces, start = [], 0
    for match in _BOUNDARY.finditer(line):
        if match.group("latin") and match.group("latin")[0] == "." and _is_abbreviation(line, match.start()):
            continue
        piece = line[start : match.end()].strip()
        if piece:
            pieces.append(piece)
        start = match.end()
    tail = line[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces or [line]


def _is_abbreviation(line: str, period: int) -> bool:
    """Whether the word ending at `period` (the index of its '.') is an abbreviation or an initial."""
    word = line[:period].rsplit(None, 1)[-1] if line[:period].strip() else ""
    word = word.lstrip("\"'“‘([").lower()
    return len(word.replace(".", "")) <= 1 or word in _ABBREVIATIONS
