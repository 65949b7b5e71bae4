"""Any Hugging Face model folder with a BERT WordPiece tokenizer, used as a vocabulary (Google's and HFL's
ELECTRAs, BERTs, sentence-transformers exports).

One rule: the tokenizer of such a folder is the one transformers builds for it (`AutoTokenizer.from_pretrained`),
so that shards, fine-tuning and inference see the same ids. That settles the folders' own conventions: casing from
`tokenizer_config.json` (`do_lower_case` defaulting to true, `strip_accents`, `tokenize_chinese_chars`) even when
a `tokenizer.json` says otherwise, `vocab.txt` lines read as transformers reads them, specials found by name
(`[PAD]` 0 and `[UNK]`/`[CLS]`/`[SEP]`/`[MASK]` at 100-103 in Google's files). Sharding then uses that tokenizer's
normalizer, pre-tokenizer and vocabulary with padding, truncation and post-processing off: what a folder switches
on for inference (a sentence-transformers export pads and truncates to 128) must never reach the shards, where
our packer adds the specials. Tokenizers we would not reproduce exactly (MeCab, SentencePiece, BPE) are refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tokenizers import Tokenizer

from electra_cli.core.atomic import sha256_file
from electra_cli.core.errors import DataError, UsageError
from electra_cli.vocab.wordpiece import SPECIAL_ROLES, SPECIAL_TOKENS

NOT_WORDPIECE = ("spiece.model", "sentencepiece.bpe.model", "merges.txt", "vocab.json")
# Tokenizer classes that are exactly BERT's WordPiece (basic tokenizer + `##` pieces), in transformers 4 and 5
# names; any other named class (BertJapaneseTokenizer: MeCab or character splitting) is refused by name.
WORDPIECE_CLASSES = tuple(f"{name}Tokenizer{fast}" for name in ("Bert", "Electra", "DistilBert", "MobileBert")
                          for fast in ("", "Fast"))
# What transformers builds from a bare tokenizer.json (no class named anywhere): the file as it is, whose pipeline
# `check_bert_pipeline` then checks; its special tokens are found by BERT's names.
GENERIC_CLASSES = ("PreTrainedTokenizerFast", "TokenizersBackend")


def is_hf_folder(folder: Path) -> bool:
    """A model or tokenizer folder of transformers' (rather than a vocab folder of ours)."""
    folder = Path(folder)
    if any((folder / name).is_file() for name in ("tokenizer_config.json", "config.json", "tokenizer.json")):
        return True
    # a TF1 checkpoint folder as Google and HFL publish it: vocab.txt beside model.ckpt*.index, nothing else
    return (folder / "vocab.txt").is_file() and any(folder.glob("*.index"))


def load_hf_vocab(folder: Path) -> tuple[dict, Tokenizer]:
    """(manifest, fast tokenizer for sharding) of an HF folder whose tokenizer is BERT's WordPiece; a one-line
    UsageError naming the reason otherwise.

    The manifest has the keys of our vocab.json that later stages read: vocab_size, vocab_sha256 (of vocab.txt,
    or of the vocabulary written as vocab.txt when the folder only has tokenizer.json), lowercase (what the
    tokenizer used does), special_ids, plus `tokenizer` (its class and casing) and `ignored` (settings of the
    folder that sharding switches off, and why).
    """
    folder = Path(folder)
    check_wordpiece_files(folder)
    auto = auto_tokenizer(folder)
    backend = Tokenizer.from_str(auto.backend_tokenizer.to_str())
    ignored = ignored_settings(folder, backend)
    backend.no_padding()
    backend.no_truncation()
    backend.post_processor = None
    check_bert_pipeline(folder, backend)
    vocab = backend.get_vocab()
    ids = {}
    for role, default in zip(SPECIAL_ROLES, SPECIAL_TOKENS):
        name = getattr(auto, f"{role}_token", None) or default
        if name is None or str(name) not in vocab:
            raise DataError(f"{folder}: the {role} token {name!r} is not in the vocabulary")
        ids[role] = vocab[str(name)]
    if (folder / "vocab.txt").is_file():
        sha = sha256_file(folder / "vocab.txt")
    else:
        tokens = sorted(vocab, key=vocab.__getitem__)
        sha = hashlib.sha256("".join(f"{t}\n" for t in tokens).encode("utf-8")).hexdigest()
    casing = json.loads(backend.normalizer.__getstate__())
    manifest = {
        "vocab_size": max(vocab.values()) + 1,
        "vocab_sha256": sha,
        "lowercase": bool(casing.get("lowercase")),
        "special_ids": ids,
        "source": "hf",
        "tokenizer": {
            "class": type(auto).__name__,
            "lowercase": bool(casing.get("lowercase")),
            # BERT's rule: None strips accents exactly when lowercasing
            "strip_accents": casing.get("lowercase") if casing.get("strip_accents") is None else casing["strip_accents"],
            "chinese_chars_split": bool(casing.get("handle_chinese_chars")),
        },
        "ignored": ignored,
    }
    return manifest, backend


def check_wordpiece_files(folder: Path) -> None:
    """Refuse, before transformers is asked, a folder whose files or named class are not BERT's WordPiece."""
    tokenizer_json = folder / "tokenizer.json"
    if tokenizer_json.is_file():
        try:
            kind = json.loads(tokenizer_json.read_text(encoding="utf-8")).get("model", {}).get("type")
        except ValueError as err:
            raise DataError(f"{tokenizer_json}: invalid JSON ({err})") from None
        if kind != "WordPiece":
            raise UsageError(f"{tokenizer_json}: the tokenizer is {kind}, not WordPiece; electra-cli needs a "
                             "WordPiece (BERT-style) vocab")
    elif not (folder / "vocab.txt").is_file():
        other = next((name for name in NOT_WORDPIECE if (folder / name).is_file()), None)
        why = f"its tokenizer is not WordPiece ({other})" if other else "no vocab.txt or tokenizer.json"
        raise UsageError(f"{folder}: not a WordPiece vocabulary: {why}; electra-cli needs a WordPiece (BERT-style) vocab")
    named = tokenizer_class(folder)
    if named and named not in WORDPIECE_CLASSES:
        raise UsageError(f"{folder}: tokenizer_class {named} is not BERT's WordPiece tokenizer, so electra-cli cannot "
                         f"reproduce its tokenization (accepted: {', '.join(WORDPIECE_CLASSES[::2])} and their Fast forms)")


def tokenizer_class(folder: Path) -> str | None:
    """The class transformers would pick by name: tokenizer_config.json's `tokenizer_class`, else config.json's
    (cl-tohoku's Japanese BERTs name BertJapaneseTokenizer in config.json)."""
    for name in ("tokenizer_config.json", "config.json"):
        named = read_json(folder / name).get("tokenizer_class")
        if named:
            return str(named)
    return None


def read_json(path: Path) -> dict:
    """A JSON object file, {} when absent; DataError naming the file when it does not parse."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise DataError(f"{path}: invalid JSON ({err})") from None
    return value if isinstance(value, dict) else {}


def auto_tokenizer(folder: Path):
    """transformers' own tokenizer for the folder (offline; nothing is downloaded).

    A TF1 release (Google's, HFL's: vocab.txt beside the checkpoint, no tokenizer files) names no class; its
    models were trained uncased with BERT's tokenizer, which is what `ElectraTokenizerFast` builds from vocab.txt alone
    (and what `convert --from-tf` writes into the converted folders)."""
    from transformers import AutoTokenizer, ElectraTokenizerFast

    bare = not any((folder / name).is_file() for name in ("tokenizer_config.json", "tokenizer.json", "config.json"))
    try:
        if bare and (folder / "vocab.txt").is_file():
            auto = ElectraTokenizerFast.from_pretrained(str(folder), local_files_only=True)  # uncased: its default
        else:
            auto = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, ImportError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"{folder}: transformers cannot build its tokenizer ({first})") from None
    name = type(auto).__name__
    if name not in WORDPIECE_CLASSES + GENERIC_CLASSES or not hasattr(auto, "backend_tokenizer"):
        raise UsageError(f"{folder}: its tokenizer is {name}, not BERT's WordPiece tokenizer; electra-cli needs a "
                         "WordPiece (BERT-style) vocab")
    return auto


def check_bert_pipeline(folder: Path, backend: Tokenizer) -> None:
    """The fast tokenizer must be BERT's: BertNormalizer, BertPreTokenizer, WordPiece with `##` pieces."""
    state = json.loads(backend.to_str())
    parts = {"normalizer": (state.get("normalizer") or {}).get("type"),
             "pre_tokenizer": (state.get("pre_tokenizer") or {}).get("type"),
             "model": (state.get("model") or {}).get("type")}
    expected = {"normalizer": "BertNormalizer", "pre_tokenizer": "BertPreTokenizer", "model": "WordPiece"}
    odd = [f"{k} {v} (expected {expected[k]})" for k, v in parts.items() if v != expected[k]]
    if state.get("model", {}).get("continuing_subword_prefix") not in (None, "##"):
        odd.append(f"subword prefix {state['model']['continuing_subword_prefix']!r} (expected '##')")
    if odd:
        raise UsageError(f"{folder}: the tokenizer is not BERT's WordPiece: {'; '.join(odd)}")


def ignored_settings(folder: Path, backend: Tokenizer) -> list[str]:
    """What the folder's tokenizer switches on for inference and sharding switches off, each with the reason."""
    raw = read_json(folder / "tokenizer.json")
    notes = []
    padding = raw.get("padding") or backend.padding
    if padding:
        length = (padding.get("strategy") or {}).get("Fixed", "the batch's longest") if isinstance(
            padding.get("strategy"), dict) else padding.get("length") or "the batch's longest"
        notes.append(f"padding (to {length}): shard rows are unpadded; the packer and the collator pad")
    truncation = raw.get("truncation") or backend.truncation
    if truncation:
        notes.append(f"truncation (at {truncation.get('max_length')}): documents are packed into --max-seq-len "
                     "rows, never cut before packing")
    if raw.get("post_processor") or backend.post_processor:
        notes.append("post-processor ([CLS]/[SEP] template): the packer adds [CLS] and [SEP] itself")
    return notes
