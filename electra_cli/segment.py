"""Word boundaries for whole-word masking, found at `shard` time and stored beside the token ids.

WordPiece text needs no segmenter (a `##` piece continues the word before it, see words.py), but Chinese text is
split into single characters by the BERT pre-tokenizer, so its words come from a segmenter: jieba's dictionary and
algorithm, run by rjieba (its Rust port: many times faster than pure-Python jieba, see bench/shard.py). The result
is one flag per token, 1 where the token continues the word of the token before it: a later character of a
segmented word, or a `##` piece of a WordPiece word (mixed Chinese/English text gets both).
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

import numpy as np

from electra_cli.errors import DataError, UsageError

SEGMENTERS = ("none", "rjieba")
WORDS_COLUMN = "word_continues"  # list<uint8> beside input_ids: 1 = continues the previous token's word
HMM = True  # jieba's default: its HMM joins characters of words missing from the dictionary


def check_available(segmenter: str) -> None:
    """A clear error, before any work, when the segmenter asked for is unknown or not installed."""
    if segmenter not in SEGMENTERS:
        raise UsageError(f"--segment must be one of {', '.join(SEGMENTERS)}, got {segmenter!r}")
    if segmenter == "rjieba":
        try:
            import rjieba  # noqa: F401
        except ImportError:
            raise UsageError("--segment rjieba needs the optional dependency rjieba: "
                             "pip install 'electra-cli[chinese]'") from None


def read_user_dict(path: Path) -> list[tuple[str, int | None, str | None]]:
    """A jieba user dictionary: one `word [frequency] [tag]` per line (jieba's own format; without a frequency
    the word gets one just high enough to be cut out whole); DataError naming the line of a malformed entry.
    rjieba has no `load_userdict`, so the entries are added one by one (`add_word`)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: user dictionary not found")
    entries = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 ({err})") from None
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        word, rest = fields[0], fields[1:]
        freq = int(rest.pop(0)) if rest and rest[0].isdigit() else None
        if len(rest) > 1 or (len(fields) == 3 and freq is None):
            raise DataError(f"{path}:{number}: expected `word [frequency] [tag]`, got {line.strip()!r}")
        entries.append((word, freq, rest[0] if rest else None))
    return entries


def describe(segmenter: str, user_dict: Path | None) -> dict | None:
    """The manifest's `words` entry: the column, what it means, and the segmenter that made it (None: no column)."""
    if segmenter == "none":
        return None
    record = {
        "column": WORDS_COLUMN,
        "meaning": "1 where the token continues the word of the token before it (a later character of a segmented "
                   "word, or a ## piece); 0 elsewhere, [CLS] and [SEP] included",
        "segmenter": segmenter,
        "version": metadata.version(segmenter),
        "hmm": HMM,
        "user_dict": None,
    }
    if user_dict is not None:
        data = Path(user_dict).read_bytes()
        record["user_dict"] = {"path": str(user_dict), "sha256": hashlib.sha256(data).hexdigest(),
                               "entries": len(read_user_dict(user_dict))}
    return record


def new_segmenter(user_entries: list[tuple[str, int | None, str | None]]):
    """An rjieba segmenter with jieba's dictionary plus the user's words (each worker builds its own)."""
    import rjieba

    jieba = rjieba.Jieba()
    for word, freq, tag in user_entries:
        jieba.add_word(word, freq, tag)
    return jieba


def continuation_flags(segmenter, lines: list[str], encodings) -> list[np.ndarray]:
    """For each line, one uint8 per token: 1 when the token continues the previous token's word.

    A token continues a word when it is a later piece of the same pre-tokenizer word (`##` piece), or when its
    first character lies in the same segmenter word as the previous token's last character.
    """
    flags = []
    for line, encoding in zip(lines, encodings):
        n = len(encoding.ids)
        if n == 0:
            flags.append(np.zeros(0, dtype=np.uint8))
            continue
        ends = np.cumsum([len(word) for word in segmenter.cut(line, HMM)])  # (W,) char offset after each word
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(n, 2)  # (T, 2) chars in `line`
        first_word = np.searchsorted(ends, offsets[:, 0], side="right")  # (T,) segmenter word of the first char
        last_word = np.searchsorted(ends, np.maximum(offsets[:, 1] - 1, offsets[:, 0]), side="right")
        word_ids = np.asarray([-1 if w is None else w for w in encoding.word_ids], dtype=np.int64)
        same = np.zeros(n, dtype=bool)
        same[1:] = (first_word[1:] == last_word[:-1]) | ((word_ids[1:] == word_ids[:-1]) & (word_ids[1:] >= 0))
        flags.append(same.astype(np.uint8))
    return flags
