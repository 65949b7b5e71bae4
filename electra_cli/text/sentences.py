"""Splitting a line into sentences, for corpora with a paragraph (or a whole document) per line.

The reference pipeline expects a sentence per line: packing accumulates lines up to the target length and splits
them at a line boundary into segments A and B. A paragraph per line gives few boundaries, so most examples end
up single-segment or truncated. Rules, not a model: a Latin sentence ends at . ! ? (and closing quotes or
brackets) followed by a space and a capital letter, a digit or an opening quote, unless the word before the
period is a known abbreviation or a single letter (initials, "U.S."); a Chinese or Japanese one ends at
。！？ (and closing quotes), no space needed. A false split only moves an A/B boundary; no text is lost.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right

_BOUNDARY = re.compile(
    r"(?P<latin>[.!?]+[\"'”’)\]]*)(?=\s+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])"  # . ! ? + closers, then space + capital
    r"|[。！？]+[”’」』）)]*"  # full-width end punctuation + closers
)
# The same boundaries, for `split_documents`: it never crosses a newline (`[^\S\n]`, which is `\s` inside a line),
# so one pass over lines joined by "\n" finds what a pass over each line would; and it opens with a character
# class, which lets the regex engine skip ahead to the next end punctuation (6x faster on code, see
# bench/shard.py); the lookbehinds pick the branch of the character found.
_BULK_BOUNDARY = re.compile(
    r"[.!?。！？](?:(?<=[.!?])[.!?]*[\"'”’)\]]*(?=[^\S\n]+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])"
    r"|(?<=[。！？])[。！？]*[”’」』）)]*)"
)
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st sr jr vs etc e.g i.e no fig figs eq inc ltd co corp dept approx cf al vol pp ch sec".split()
)


def split_sentences(line: str) -> list[str]:
    """The sentences of `line`, stripped, in order; `[line]` when it has one (or is blank)."""
    ends = [m.end() for m in _BOUNDARY.finditer(line) if not _abbreviation_match(line, m.start(), 0)]
    return _pieces(line, ends)


def split_documents(docs: list[list[str]]) -> list[list[str]]:
    """`split_sentences` of every line of every document (lines with no newline, as the corpus reader gives),
    in bulk: one regex pass over all the lines joined, and Python work only for the lines with a boundary
    (most lines of code or of a sentence-per-line corpus have none). A document with none is returned as is."""
    lines = list(itertools.chain.from_iterable(docs))
    text = "\n".join(lines)
    starts = [0, *itertools.accumulate(len(line) + 1 for line in lines)]  # offset of each line in `text`
    ends: dict[int, list[int]] = {}  # line index -> the ends of its boundaries, relative to the line
    for match in _BULK_BOUNDARY.finditer(text):
        i = bisect_right(starts, match.start()) - 1
        if not _abbreviation_match(lines[i], match.start(), starts[i]):
            ends.setdefault(i, []).append(match.end() - starts[i])
    if not ends:
        return docs
    out, first = [], 0  # `first`: index of the document's first line
    marked = sorted(ends)
    for doc in docs:
        k = bisect_right(marked, first - 1)
        if k == len(marked) or marked[k] >= first + len(doc):
            out.append(doc)
        else:
            out.append([piece for i, line in enumerate(doc, first)
                        for piece in (_pieces(line, ends[i]) if i in ends else (line,))])
        first += len(doc)
    return out


def _abbreviation_match(line: str, start: int, offset: int) -> bool:
    """Whether the boundary found at `start` (in a text where `line` begins at `offset`) is a period after an
    abbreviation or an initial, which ends no sentence."""
    return line[start - offset] == "." and _is_abbreviation(line, start - offset)


def _pieces(line: str, ends: list[int]) -> list[str]:
    """`line` cut after each position of `ends`, stripped, blanks dropped; `[line]` when nothing is left."""
    pieces, start = [], 0
    for end in ends:
        piece = line[start:end].strip()
        if piece:
            pieces.append(piece)
        start = end
    tail = line[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces or [line]


def _is_abbreviation(line: str, period: int) -> bool:
    """Whether the word ending at `period` (the index of its '.') is an abbreviation or an initial."""
    word = line[:period].rsplit(None, 1)[-1] if line[:period].strip() else ""
    word = word.lstrip("\"'“‘([").lower()
    return len(word.replace(".", "")) <= 1 or word in _ABBREVIATIONS
