"""The `##` characters of a corpus, found before training, so that the trainer's result is the same in every process.

Why: `tokenizers`' WordPiece trainer (its BPE trainer with a `##` prefix) gives ids to the specials, then to the
alphabet (sorted: fixed), then to each `##c` (a character c that continues a word) in the order it meets them
while walking its word-count table, an `AHashMap` whose hash seed is random per process. Merges with equal counts
are taken in the order of their pair of ids, so that walk decides which of two tied merges comes first, and
overlapping tied merges (`alb`+`##um` versus `albu`+`##m`) give different vocabularies. Passing every `##c`
as a special token, sorted, fixes their ids before the walk: all ids, hence all tie-breaks, are then the same in
every process (see vocab/train.py).

What: c is a continuation character when, in the normalized text (BERT: control characters removed, whitespace
made a space, Chinese characters set apart by spaces, accents stripped and lowercased when uncased), it follows a
character of the same word: neither is a space or punctuation (ASCII punctuation or a Unicode P* category, the
pre-tokenizer's rule). Characters the trainer then leaves out of its alphabet (`limit_alphabet`) never become
`##c` there; train.py drops their special again.
"""

from __future__ import annotations

import re
import unicodedata

from tokenizers import normalizers

_ASCII_WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ASCII_PUNCT = re.escape("".join(chr(i) for i in range(33, 127) if not chr(i).isalnum()))  # all punctuation to BERT
# characters BERT's normalizer deletes (C* categories but tab, newline, carriage return): such text takes the slow path
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Chinese characters, which the normalizer surrounds with spaces: each is a word of its own, never a `##c`
_CHINESE = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
            (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def can_continue(c: str) -> bool:
    """Whether normalized character `c` can be a later character of a word of BERT's pre-tokenizer: not a space,
    not punctuation, not a Chinese character (a word of its own)."""
    if c.isspace() or (c.isascii() and not c.isalnum()):
        return False
    if is_chinese(c):
        return False
    return not unicodedata.category(c).startswith("P")


def is_chinese(c: str) -> bool:
    """A character of the CJK blocks BERT's normalizer sets apart as a word of its own."""
    code = ord(c)
    return any(low <= code <= high for low, high in _CHINESE)


class ContinuationScanner:
    """Feed it the corpus (`add`, a batch of lines joined by newlines); `characters` is then every continuation
    character, normalized, in code point order.

    Cheap on large corpora: a text is searched only for the characters not found yet, with one regex scan per
    character found; ASCII text without control characters needs no normalizer, and once every ASCII word
    character is found it costs nothing more.
    """

    def __init__(self, lowercase: bool):
        self.lowercase = lowercase
        self.found: set[str] = set()
        self._never: set[str] = set()  # normalized characters that cannot continue a word
        self._normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, lowercase=lowercase, strip_accents=lowercase)
        self._ascii_left = set(_ASCII_WORD.lower() if lowercase else _ASCII_WORD)  # ASCII ones not found yet

    @property
    def characters(self) -> list[str]:
        return sorted(self.found)

    def add(self, text: str) -> None:
        if text.isascii() and not _ASCII_CONTROL.search(text):  # normalizing changes nothing but the case
            if self._ascii_left:
                raw = self._ascii_left | {c.upper() for c in self._ascii_left} if self.lowercase else self._ascii_left
                self._scan(text, set(raw), ascii_text=True)
            return
        normalized = self._normalizer.normalize_str(text)
        candidates = set(normalized) - self.found - self._never
        self._never.update(c for c in candidates if not can_continue(c))
        candidates -= self._never
        if candidates:
            self._scan(normalized, candidates, ascii_text=False)

    def _scan(self, text: str, candidates: set[str], ascii_text: bool) -> None:
        """Find which `candidates` follow a character of the same word somewhere in `text`."""
        before = "A-Za-z0-9" if ascii_text else f"^\\s{_ASCII_PUNCT}"  # non-ASCII punctuation is checked below
        position = 0
        while candidates:
            chars = "".join(re.escape(c) for c in sorted(candidates))
            # a candidate first, so that the regex engine skips ahead to the next one, then a look at its neighbour
            match = re.compile(f"[{chars}](?<=[{before}][{chars}])").search(text, position)
            if match is None:
                return
            position = match.start() + 1
            if not ascii_text and not can_continue(text[match.start() - 1]):
                continue
            raw = match.group()
            char = raw.lower() if ascii_text and self.lowercase else raw
            self.found.add(char)
            self._ascii_left.discard(char)
            candidates -= {char, char.upper()} if ascii_text and self.lowercase else {raw}
