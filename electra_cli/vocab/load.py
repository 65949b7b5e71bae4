"""The one door to a vocabulary for every later stage: a vocab folder of ours, or a published HF folder.

Either way the result is a manifest naming the vocabulary's size, sha256 and special tokens' ids, and the fast
tokenizer that `shard` and whole-word masking use.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer

from electra_cli.core.atomic import sha256_file
from electra_cli.core.errors import DataError, UsageError
from electra_cli.vocab.published import is_hf_folder, load_hf_vocab
from electra_cli.vocab.wordpiece import OUR_SPECIAL_IDS

MANIFEST = "vocab.json"
ADDED = "added.json"  # an extended published vocabulary's record: its base and every token added (vocab/extend.py)


def load_vocab_manifest(folder: Path) -> dict:
    """Read and check a vocabulary: a vocab folder of ours (its manifest parses and its sha256 matches vocab.txt),
    or any HF model folder whose tokenizer is WordPiece (see vocab/published.py). Either way the result names the
    special tokens' ids (`special_ids`): nothing downstream assumes the ids of our own vocab."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.exists():
        raise UsageError(f"{folder}: does not exist (expected a vocab folder from `electra-cli vocab`)")
    if not path.is_file() and is_hf_folder(folder):
        manifest = load_hf_vocab(folder)[0]
        added = read_added(folder, manifest["vocab_sha256"])
        if added is not None:  # a model exported from a run on an extended vocabulary
            manifest["extends"] = added["base"]
        return manifest
    if not path.is_file():
        raise UsageError(f"{folder}: not a vocab folder (no {MANIFEST}); build one with `electra-cli vocab`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        expected = manifest["vocab_sha256"]
        size = int(manifest["vocab_size"])
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: invalid vocab manifest ({err})") from None
    vocab_txt = folder / "vocab.txt"
    if not vocab_txt.is_file() or sha256_file(vocab_txt) != expected:
        raise DataError(f"{vocab_txt}: does not match the sha256 recorded in {MANIFEST}")
    if not (folder / "tokenizer.json").is_file():
        raise DataError(f"{folder}: tokenizer.json is missing")
    manifest["vocab_size"] = size
    manifest.setdefault("special_ids", OUR_SPECIAL_IDS)
    manifest.setdefault("source", "electra-cli")
    return manifest


def load_tokenizer(folder: Path) -> Tokenizer:
    """The fast tokenizer of a vocabulary `load_vocab_manifest` accepts."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()  # as for published folders: shard rows are packed whole, never padded or cut
        tokenizer.no_truncation()
        return tokenizer
    return load_hf_vocab(folder)[1]


def read_added(folder: Path, vocab_sha256: str) -> dict | None:
    """The folder's added.json ({"base": {...}, "tokens": [...]}) when it describes this vocab.txt, else None:
    the record of which ids of an extended vocabulary are new, and where their first rows come from."""
    path = Path(folder) / ADDED
    if not path.is_file():
        return None
    try:
        added = json.loads(path.read_text(encoding="utf-8"))
        recorded = added["vocab_sha256"]
        added["base"]["added"] = len(added["tokens"])
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: invalid record of added tokens ({err})") from None
    if recorded != vocab_sha256:
        raise DataError(f"{path}: describes another vocab.txt than the one beside it (sha256 differs)")
    return added
