"""Any Hugging Face model folder with a WordPiece tokenizer, used as a vocabulary (Google's and HFL's ELECTRAs, BERTs).

Such folders follow their own conventions: `vocab.txt` with `[PAD]` 0 and `[UNK]`/`[CLS]`/`[SEP]`/`[MASK]` at
100-103, casing in `tokenizer_config.json` (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`), often
no `tokenizer.json`. This module reads one as the same kind of manifest `electra-cli vocab` writes, with the
special tokens found by name, and builds the equivalent fast tokenizer for `shard`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tokenizers import Tokenizer

from electra_cli.core.atomic import sha256_file
from electra_cli.core.errors import DataError, UsageError
from electra_cli.vocab.wordpiece import SPECIAL_ROLES, SPECIAL_TOKENS, new_tokenizer

NOT_WORDPIECE = ("spiece.model", "sentencepiece.bpe.model", "merges.txt", "vocab.json")


def is_hf_folder(folder: Path) -> bool:
    """A model or tokenizer folder of transformers' (rather than a vocab folder of ours)."""
    folder = Path(folder)
    if any((folder / name).is_file() for name in ("tokenizer_config.json", "config.json", "tokenizer.json")):
        return True
    # a TF1 checkpoint folder as Google and HFL publish it: vocab.txt beside model.ckpt*.index, nothing else
    return (folder / "vocab.txt").is_file() and any(folder.glob("*.index"))


def load_hf_vocab(folder: Path) -> tuple[dict, Tokenizer]:
    """(manifest, fast tokenizer) of an HF folder whose tokenizer is WordPiece; DataError/UsageError otherwise.

    The manifest has the keys of our vocab.json that later stages read: vocab_size, vocab_sha256 (of vocab.txt,
    or of the vocabulary written as vocab.txt when the folder only has tokenizer.json), lowercase, special_ids.
    """
    folder = Path(folder)
    settings = _tokenizer_config(folder)
    names = {role: settings.get(f"{role}_token") or default for role, default in zip(SPECIAL_ROLES, SPECIAL_TOKENS)}
    names = {role: (n["content"] if isinstance(n, dict) else n) for role, n in names.items()}  # AddedToken dicts
    if (folder / "tokenizer.json").is_file():
        tokenizer = _from_tokenizer_json(folder / "tokenizer.json")
        vocab = tokenizer.get_vocab()
        tokens = sorted(vocab, key=vocab.__getitem__)
    elif (folder / "vocab.txt").is_file():
        tokens = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        tokenizer = new_tokenizer(
            bool(settings.get("do_lower_case", True)), {t: i for i, t in enumerate(tokens)}, unk=names["unk"],
            strip_accents=settings.get("strip_accents"),
            chinese_chars=bool(settings.get("tokenize_chinese_chars", True)),
        )
    else:
        other = next((name for name in NOT_WORDPIECE if (folder / name).is_file()), None)
        why = f"its tokenizer is not WordPiece ({other})" if other else "no vocab.txt or tokenizer.json"
        raise UsageError(f"{folder}: not a WordPiece vocabulary: {why}; electra-cli needs a WordPiece (BERT-style) vocab")
    if (folder / "vocab.txt").is_file():
        sha = sha256_file(folder / "vocab.txt")
    else:
        sha = hashlib.sha256("".join(f"{t}\n" for t in tokens).encode("utf-8")).hexdigest()
    ids = {t: i for i, t in enumerate(tokens)}
    missing = [name for name in names.values() if name not in ids]
    if missing:
        raise DataError(f"{folder}: special token(s) {', '.join(missing)} not in the vocabulary")
    manifest = {
        "vocab_size": len(tokens),
        "vocab_sha256": sha,
        "lowercase": bool(settings.get("do_lower_case", True)),
        "special_ids": {role: ids[name] for role, name in names.items()},
        "source": "hf",
    }
    return manifest, tokenizer


def _tokenizer_config(folder: Path) -> dict:
    settings: dict = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):  # the config's own settings win
        path = folder / name
        if path.is_file():
            try:
                settings.update(json.loads(path.read_text(encoding="utf-8")))
            except ValueError as err:
                raise DataError(f"{path}: invalid JSON ({err})") from None
    return settings


def _from_tokenizer_json(path: Path) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as err:  # noqa: BLE001 - tokenizers raises its own exception types
        raise DataError(f"{path}: unreadable tokenizer ({err})") from None
    kind = json.loads(path.read_text(encoding="utf-8")).get("model", {}).get("type")
    if kind != "WordPiece":
        raise UsageError(f"{path}: the tokenizer is {kind}, not WordPiece; electra-cli needs a WordPiece (BERT-style) vocab")
    return tokenizer
