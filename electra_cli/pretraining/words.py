"""Where whole-word masking finds its words: the shards' boundary column, or the vocabulary's `##` pieces.

Shards written with `shard --segment rjieba` carry a `word_continues` column (text/segment.py) and that is used.
Without it, a WordPiece vocabulary tells the words apart by itself: a `##` piece continues the word before it,
so a lookup table over the vocabulary (built here once, kept on the device) gives the boundaries of English or
any other space-separated text, with our vocab folders and published ones alike. It cannot for Chinese, which the
tokenizer splits into single characters: on shards that hold mostly Chinese characters and no column, whole-word
masking would silently be token masking, so it is refused with the flag that re-shards them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from electra_cli.core.errors import UsageError
from electra_cli.vocab.load import load_tokenizer

CJK_SHARE_LIMIT = 0.05  # above this share of CJK-character tokens, ## pieces cannot stand for the words
SAMPLE_ROWS = 2000  # training rows read to measure that share


def word_piece_table(vocab_dir: Path) -> torch.Tensor:
    """(V,) bool: True for the vocabulary's continuation pieces (`##` prefix, or the tokenizer's own prefix)."""
    tokenizer = load_tokenizer(vocab_dir)
    prefix = getattr(tokenizer.model, "continuing_subword_prefix", None) or "##"
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    table = torch.zeros(max(vocab.values()) + 1, dtype=torch.bool)
    for token, index in vocab.items():
        table[index] = token.startswith(prefix) and len(token) > len(prefix)
    return table


def is_cjk(token: str) -> bool:
    """A token made of a CJK ideograph (the BERT pre-tokenizer splits these one per token)."""
    token = token.removeprefix("##")
    return len(token) == 1 and (0x4E00 <= ord(token) <= 0x9FFF or 0x3400 <= ord(token) <= 0x4DBF
                                or 0xF900 <= ord(token) <= 0xFAFF or 0x20000 <= ord(token) <= 0x2FA1F)


def check_boundaries(shards: Path, train_set, vocab_dir: Path) -> None:
    """Refuse whole-word masking on shards of Chinese text that carry no word boundaries (see the module doc)."""
    tokenizer = load_tokenizer(vocab_dir)
    cjk = np.zeros(tokenizer.get_vocab_size(with_added_tokens=True) + 1, dtype=bool)
    for token, index in tokenizer.get_vocab(with_added_tokens=True).items():
        cjk[index] = is_cjk(token)
    rows = [train_set.row(i) for i in range(min(len(train_set), SAMPLE_ROWS))]
    ids = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    share = float(cjk[np.minimum(ids, len(cjk) - 1)].mean()) if len(ids) else 0.0
    if share > CJK_SHARE_LIMIT:
        raise UsageError(
            f"{shards}: model.masking = \"whole-word\" needs word boundaries, and these shards have none while "
            f"{share:.0%} of their tokens are Chinese characters (the ## pieces cannot tell their words apart); "
            f"re-shard with `electra-cli shard ... --segment rjieba` (and --user-dict FILE for domain words), "
            f"or use model.masking = \"token\"")


def whole_word_setup(model_cfg, train_set, shards: Path, vocab_dir: Path) -> torch.Tensor | None:
    """The `##` table the model needs for whole-word masking, or None: with token masking, or when the training
    set reads the shards' own word column (`train_set.words`). Chinese shards without a column are refused."""
    if model_cfg.masking != "whole-word" or train_set.words:
        return None
    check_boundaries(shards, train_set, vocab_dir)
    return word_piece_table(vocab_dir)
