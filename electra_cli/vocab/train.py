"""WordPiece vocabulary training and the tokenizer folder every later stage reads.

The folder holds vocab.txt (ids = line numbers, specials first), tokenizer.json (BERT normalizer and
pre-tokenizer, WordPiece with `##`, a `[CLS] A [SEP] B [SEP]` post-processor with type ids), the
transformers config files so `AutoTokenizer.from_pretrained(DIR)` works offline, and vocab.json: settings,
inputs, counts and the sha256 of vocab.txt, which identifies the vocabulary downstream.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tokenizers import Tokenizer, trainers

from electra_cli import __version__
from electra_cli.core.atomic import (
    atomic_dir,
    check_output_dir,
    sha256_file,
    write_json_atomic,
)
from electra_cli.core.console import bytes_progress, log
from electra_cli.core.errors import UsageError
from electra_cli.text.corpus import Corpus, CorpusOptions
from electra_cli.vocab.continuations import ContinuationScanner
from electra_cli.vocab.load import MANIFEST
from electra_cli.vocab.wordpiece import (
    SPECIAL_TOKENS,
    add_post_processor,
    new_tokenizer,
)

FORMAT_VERSION = 1
MODEL_MAX_LENGTH = 512
HELD_TEXT_BYTES = 256 << 20  # corpus text held in memory between reading and training; the rest waits in a temp file


@dataclass
class VocabSettings:
    """What shapes the vocabulary; saved in vocab.json."""

    vocab_size: int = 30522  # tokens in vocab.txt, specials included
    min_frequency: int = 2  # a merge must be seen this often to enter the vocabulary
    lowercase: bool = True  # uncased: lowercase and strip accents
    limit_alphabet: int = 6000  # single characters kept; high enough for CJK corpora to keep their characters

    def __post_init__(self) -> None:
        problems = []
        if not len(SPECIAL_TOKENS) < self.vocab_size <= 2**32 - 1:
            problems.append(f"--vocab-size must be above {len(SPECIAL_TOKENS)}, got {self.vocab_size}")
        if self.min_frequency < 0:
            problems.append(f"--min-frequency must be >= 0, got {self.min_frequency}")
        if self.limit_alphabet < 1:
            problems.append(f"--limit-alphabet must be >= 1, got {self.limit_alphabet}")
        if problems:
            raise UsageError("; ".join(problems))


def build_vocab(
    inputs: Sequence[str],
    out: Path,
    settings: VocabSettings | None = None,
    corpus_options: CorpusOptions | None = None,
    overwrite: bool = False,
) -> dict:
    """Train a WordPiece vocabulary on `inputs` and write the vocab folder to `out`; returns its manifest."""
    settings = settings or VocabSettings()
    out = Path(out)
    check_output_dir(out, MANIFEST, overwrite, "vocabulary")
    corpus = Corpus(inputs, corpus_options)
    started = time.time()

    scanner = ContinuationScanner(settings.lowercase)
    with HeldText() as text:
        with bytes_progress("vocab") as progress:
            task = progress.add_task("reading", total=corpus.total_bytes, status="")
            for lines in corpus.lines(lambda n: progress.advance(task, n)):
                batch = "\n".join(lines)  # one sequence for the trainer: the same words, far fewer calls into it
                scanner.add(batch)
                text.append(batch)
        corpus.report("vocab: corpus read")
        continuing = [f"##{c}" for c in scanner.characters]
        trainer = trainers.WordPieceTrainer(
            vocab_size=settings.vocab_size,
            min_frequency=settings.min_frequency,
            special_tokens=SPECIAL_TOKENS + continuing,  # fixed ids for the `##` characters: see continuations.py
            limit_alphabet=settings.limit_alphabet,
            continuing_subword_prefix="##",
            show_progress=False,
        )
        trained = new_tokenizer(settings.lowercase)
        trained.train_from_iterator(text, trainer=trainer)
    tokens = trained_tokens(trained.get_vocab(with_added_tokens=False), set(continuing))
    tokenizer = new_tokenizer(settings.lowercase, {token: i for i, token in enumerate(canonical_order(tokens))})
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    add_post_processor(tokenizer)
    for token_id, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != token_id:  # guards against a tokenizers release changing the order
            raise RuntimeError(f"special token {token} got id {tokenizer.token_to_id(token)}, expected {token_id}")

    with atomic_dir(out) as tmp:
        manifest = write_tokenizer_folder(tokenizer, tmp, settings.lowercase)
        manifest.update(
            settings=asdict(settings),
            inputs=corpus.describe_inputs(),
            corpus=corpus.stats.to_dict(),
            seconds=round(time.time() - started, 3),
        )
        write_json_atomic(tmp / MANIFEST, manifest)  # last: its presence marks a complete folder
    if manifest["vocab_size"] < settings.vocab_size:
        log.info("vocab: %s", shortfall(manifest["vocab_size"], settings))
    log.info("wrote %s: %d tokens, sha256 %s", out, manifest["vocab_size"], manifest["vocab_sha256"][:12])
    return manifest


def shortfall(size: int, settings: VocabSettings) -> str:
    """Why the trainer stopped short of --vocab-size: it ran out of merges, which is the corpus, not a bug."""
    seen = f"seen {settings.min_frequency}+ times (--min-frequency) " if settings.min_frequency > 1 else ""
    return (f"{size:,} tokens, fewer than the {settings.vocab_size:,} asked: the corpus ran out of merges (every pair "
            f"of pieces {seen}is already merged); a larger corpus gives more")


def trained_tokens(vocab: dict[str, int], continuing: set[str]) -> list[str]:
    """The trained vocabulary's tokens, less the `##c` specials whose character the trainer left out of its
    alphabet (`--limit-alphabet`): no word used them. A `##c` nobody foresaw means the ids, hence the
    tie-breaks, followed the per-process hash order: said in the log rather than silently."""
    alphabet = {t for t in vocab if len(t) == 1}
    unused = {t for t in continuing if t[2:] not in alphabet}
    unforeseen = sorted(t for t in vocab if len(t) == 3 and t.startswith("##") and t not in continuing)
    if unforeseen:
        log.warning("vocab: the trainer made %d `##` characters the scan did not foresee (%s): this vocabulary may "
                    "differ in another run", len(unforeseen), " ".join(unforeseen[:10]))
    return [t for t in vocab if t not in unused]


class HeldText:
    """The corpus text between reading and training: in memory up to HELD_TEXT_BYTES, then in a temporary file
    (a line per corpus line), so that memory stays bounded whatever the corpus size. Iterating it yields texts
    of many lines, which the trainer reads as it would the lines themselves (words never span a newline)."""

    def __init__(self, limit: int = HELD_TEXT_BYTES):
        self.limit, self.held, self.size = limit, [], 0
        self.file = None

    def __enter__(self) -> HeldText:
        return self

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()
            os.unlink(self.file.name)

    def append(self, text: str) -> None:
        if self.file is None and self.size + len(text) <= self.limit:
            self.held.append(text)
            self.size += len(text)
            return
        if self.file is None:
            self.file = tempfile.NamedTemporaryFile("w+", encoding="utf-8", suffix=".txt", delete=False)
        self.file.write(text + "\n")

    def __iter__(self) -> Iterator[str]:
        yield from self.held
        if self.file is None:
            return
        self.file.flush()
        self.file.seek(0)
        while lines := self.file.readlines(1 << 20):
            yield "".join(lines)


def canonical_order(tokens: Sequence[str]) -> list[str]:
    """Specials, then single characters, `##` characters, whole-word pieces and `##` pieces, each sorted.

    WordPiece tokenization depends only on the set of tokens, never on their ids, so this order changes no
    tokenization; it makes vocab.txt a function of the token set alone (which continuations.py makes the same
    in every process).
    """

    def rank(token: str) -> tuple[int, str]:
        body = token[2:] if token.startswith("##") else token
        return (int(token.startswith("##")) + 2 * int(len(body) > 1), token)

    rest = sorted((t for t in tokens if t not in SPECIAL_TOKENS), key=rank)
    return SPECIAL_TOKENS + rest


def write_tokenizer_folder(tokenizer: Tokenizer, folder: Path, lowercase: bool) -> dict:
    """vocab.txt, tokenizer.json and the transformers config files; returns the manifest's identity fields."""
    vocab = tokenizer.get_vocab()
    by_id = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in by_id] != list(range(len(by_id))):
        raise RuntimeError("vocabulary ids are not contiguous")
    (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in by_id), encoding="utf-8")
    tokenizer.save(str(folder / "tokenizer.json"))
    specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    config = {
        "tokenizer_class": "ElectraTokenizer",
        "do_lower_case": lowercase,
        "strip_accents": None,  # None follows do_lower_case, as in BERT
        "tokenize_chinese_chars": True,
        "model_max_length": MODEL_MAX_LENGTH,
        "clean_up_tokenization_spaces": True,
        **specials,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
    return {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "vocab_size": len(by_id),
        "vocab_sha256": sha256_file(folder / "vocab.txt"),
        "lowercase": lowercase,
        "special_tokens": SPECIAL_TOKENS,
    }
