"""Word boundaries for whole-word masking, found at `shard` time and stored beside the token ids.

WordPiece text needs no segmenter (a `##` piece continues the word before it, see pretraining/words.py), but Chinese text is
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

from electra_cli.core.errors import DataError, UsageError

SEGMENTERS = ("none", "rjieba")
WORDS_COLUMN = "word_continues"  # list<uint8> beside input_ids: 1 = continues the previous token's word
HMM = True  # jieba's default: its HMM joins characters of words missing from the dictionary


def has_word_column(manifest: dict) -> bool:
    """Whether a shards manifest describes the word-boundary column (shards written with `--segment`)."""
    return bool((manifest.get("words") or {}).get("column") == WORDS_COLUMN)


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


def continuation_flags(segmenter, lines: list[str], encodings) -> np.ndarray:
    """One uint8 per token of all `lines` (in order, flat): 1 when the token continues the previous token's word.

    A token continues a word when it is a later piece of the same pre-tokenizer word (`##` piece), or when its
    first character lies in the same segmenter word as the previous token's last character; never across lines.
    Computed for the whole chunk at once: the lines are laid end to end (a segmenter's words cover every
    character of a line, so word ends and token offsets share one coordinate).
    """
    counts = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))  # tokens per line
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint8)
    line_start = np.cumsum([0] + [len(line) for line in lines[:-1]], dtype=np.int64)  # (N,) in the joined text
    word_lengths = [len(word) for line in lines for word in segmenter.cut(line, HMM)]
    word_ends = np.cumsum(np.asarray(word_lengths, dtype=np.int64))  # (W,) char offset after each word
    if word_ends[-1] != line_start[-1] + len(lines[-1]):
        raise DataError(f"word segmenter lost characters ({word_ends[-1]} of {line_start[-1] + len(lines[-1])})")
    shift = np.repeat(line_start, counts)  # (T,)
    offsets = np.asarray([o for e in encodings for o in e.offsets], dtype=np.int64).reshape(total, 2) + shift[:, None]
    first_word = np.searchsorted(word_ends, offsets[:, 0], side="right")  # (T,) word of the token's first char
    last_word = np.searchsorted(word_ends, np.maximum(offsets[:, 1] - 1, offsets[:, 0]), side="right")
    piece_of = np.asarray([-1 if w is None else w for e in encodings for w in e.word_ids], dtype=np.int64)
    line_of = np.repeat(np.arange(len(lines)), counts)
    same = np.zeros(total, dtype=bool)
    same[1:] = (line_of[1:] == line_of[:-1]) & (
        (first_word[1:] == last_word[:-1]) | ((piece_of[1:] == piece_of[:-1]) & (piece_of[1:] >= 0)))
    return same.astype(np.uint8)
