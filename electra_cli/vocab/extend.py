"""Extending a published vocabulary for a domain corpus: the tokens the corpus needs and the published WordPiece
vocabulary lacks, added so that every published token keeps its id (issue 35).

What is added, in this order, up to `--add N`:
1. characters the published tokenizer maps to [UNK] (one unknown character loses its whole word), Chinese ones
   first, then by count;
2. whole words, and `##` rests of words, that are frequent and split into many pieces, chosen greedily by the
   pieces they save on the corpus. WordPiece takes the longest known prefix first, so a new `##` token is used
   only as the rest of a word after its first piece: those rests are the continuations worth adding.
New tokens fill the `[unusedK]` slots first (Google's and HFL's vocabularies reserve them), then are appended.
The folder loads in transformers as the published one does (its tokenizer class, casing, accents and Chinese
handling); vocab.json says what it extends, added.json lists every token with its reason, count and the pieces
the published tokenizer gave it, from which `pretrain` starts the token's rows (pretraining/grow.py).
"""

from __future__ import annotations

import heapq
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.table import Table
from tokenizers import Tokenizer

from electra_cli import __version__
from electra_cli.core.atomic import atomic_dir, check_output_dir, sha256_file, write_json_atomic
from electra_cli.core.console import bytes_progress, console, log
from electra_cli.core.errors import DataError, UsageError
from electra_cli.text.corpus import Corpus, CorpusOptions
from electra_cli.vocab.continuations import is_chinese
from electra_cli.vocab.load import ADDED, MANIFEST
from electra_cli.vocab.published import auto_tokenizer, load_hf_vocab, read_json
from electra_cli.vocab.wordpiece import SPECIAL_ROLES

FORMAT_VERSION = 1
UNUSED = re.compile(r"\[unused\d+\]")  # the slots Google's and HFL's vocab.txt reserve
REASONS = ("unknown Chinese character", "unknown character", "word", "continuation")


@dataclass
class ExtendSettings:
    """What shapes an extension; saved in vocab.json."""

    add: int = 1000  # most tokens to add
    min_frequency: int = 2  # a token must be needed this often in the corpus

    def __post_init__(self) -> None:
        problems = []
        if self.add < 1:
            problems.append(f"--add must be at least 1, got {self.add}")
        if self.min_frequency < 1:
            problems.append(f"--min-frequency must be at least 1 with --extend, got {self.min_frequency}")
        if problems:
            raise UsageError("; ".join(problems))


@dataclass
class Added:
    """One chosen token: why, how often the corpus needs it, and the published tokenizer's pieces for it."""

    token: str
    reason: str  # one of REASONS
    count: int  # occurrences in the corpus (of the character, the word, or the words ending in the rest)
    pieces_before: list[str]


class WordPiece:
    """BERT's greedy longest-match-first WordPiece over a token set that can grow (the Rust model cannot)."""

    def __init__(self, vocab: Iterable[str], unk: str, max_chars: int):
        self.vocab, self.unk, self.max_chars = set(vocab), unk, max_chars

    def pieces(self, word: str, continuing: bool = False) -> list[str] | None:
        """The word's pieces, or None where WordPiece gives [UNK] (a character no piece covers, or too long).
        `continuing`: the word is the rest of a longer one, so its first piece takes `##` too."""
        if len(word) > self.max_chars:
            return None
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = ("##" if start or continuing else "") + word[start:end]
                if piece in self.vocab:
                    break
            else:
                return None
            pieces.append(piece)
            start = end
        return pieces

    def pieces_or_unk(self, word: str, continuing: bool = False) -> list[str]:
        return self.pieces(word, continuing) or [self.unk]


def extend_vocab(
    inputs: Sequence[str],
    published: Path,
    out: Path,
    settings: ExtendSettings | None = None,
    corpus_options: CorpusOptions | None = None,
    overwrite: bool = False,
) -> dict:
    """Add up to `settings.add` tokens that the corpus `inputs` needs to the vocabulary of the published folder
    `published`; write the extended vocab folder to `out` and return its manifest."""
    settings = settings or ExtendSettings()
    published, out = Path(published), Path(out)
    check_output_dir(out, MANIFEST, overwrite, "vocabulary")
    base, backend = load_hf_vocab(published)
    tokens = tokens_by_id(published, backend)
    model = json.loads(backend.to_str())["model"]
    wordpiece = WordPiece(tokens, model["unk_token"], model.get("max_input_chars_per_word", 100))
    corpus = Corpus(inputs, corpus_options)
    started = time.time()
    words = count_words(corpus, backend)
    corpus.report("vocab --extend: corpus read")
    chosen = choose_tokens(words, wordpiece, settings)
    extended, records = place(tokens, chosen, {t: i for i, t in enumerate(tokens)})

    with atomic_dir(out) as tmp:
        after_tokenizer = write_extended_tokenizer(tmp, extended, base, published)
        check_added(after_tokenizer, records)
        extends = {
            "folder": str(published.resolve()),
            "vocab_sha256": base["vocab_sha256"],
            "vocab_size": base["vocab_size"],
            "added": len(records),
            "filled_unused": sum(r["slot"] is not None for r in records),
            "appended": sum(r["slot"] is None for r in records),
        }
        sha = sha256_file(tmp / "vocab.txt")
        write_json_atomic(tmp / ADDED, {"vocab_sha256": sha, "base": extends, "tokens": records})
        figures = {"before": corpus_figures(words, backend), "after": corpus_figures(words, after_tokenizer)}
        manifest = {
            "format_version": FORMAT_VERSION,
            "tool_version": __version__,
            "vocab_size": len(extended),
            "vocab_sha256": sha,
            "lowercase": base["lowercase"],
            "special_ids": base["special_ids"],
            "source": "extended",
            "tokenizer": base["tokenizer"],
            "extends": extends,
            "settings": asdict(settings),
            "inputs": corpus.describe_inputs(),
            "corpus": corpus.stats.to_dict(),
            "figures": figures,
            "seconds": round(time.time() - started, 3),
        }
        write_json_atomic(tmp / MANIFEST, manifest)  # last: its presence marks a complete folder
    by_reason = Counter(r["reason"] for r in records)
    log.info("vocab --extend: added %d of %d asked (%s); %d in [unused] slots, %d appended",
             len(records), settings.add, ", ".join(f"{n} {k}s" for k, n in by_reason.items()) or "nothing needed",
             extends["filled_unused"], extends["appended"])
    console.print(figures_table(figures))
    log.info("wrote %s: %d tokens (the published %d + %d appended), sha256 %s", out, len(extended),
             base["vocab_size"], extends["appended"], sha[:12])
    return manifest


def tokens_by_id(folder: Path, backend: Tokenizer) -> list[str]:
    """The published tokens in id order; a vocabulary with gaps (duplicate lines in vocab.txt) cannot be
    extended without moving ids."""
    vocab = backend.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise DataError(f"{folder}: the vocabulary's ids are not contiguous (duplicate tokens in vocab.txt?); "
                        "it cannot be extended without moving ids")
    return tokens


def count_words(corpus: Corpus, backend: Tokenizer) -> Counter:
    """The corpus' words as the published tokenizer sees them (normalized, pre-tokenized), with their counts."""
    words: Counter = Counter()
    normalizer, pre_tokenizer = backend.normalizer, backend.pre_tokenizer
    with bytes_progress("vocab") as progress:
        task = progress.add_task("reading", total=corpus.total_bytes, status="")
        for lines in corpus.lines(lambda n: progress.advance(task, n)):
            text = normalizer.normalize_str("\n".join(lines))
            words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(text))
    return words


def choose_tokens(words: Counter, wordpiece: WordPiece, settings: ExtendSettings) -> list[Added]:
    """Unknown characters first, then the words and rests that save the most pieces; at most settings.add."""
    base = WordPiece(wordpiece.vocab, wordpiece.unk, wordpiece.max_chars)
    chosen = unknown_characters(words, base, settings.min_frequency)[: settings.add]
    wordpiece.vocab.update(a.token for a in chosen)
    budget = settings.add - len(chosen)
    if budget:
        chosen += frequent_pieces(words, base, wordpiece, budget, settings.min_frequency)
    return chosen


def unknown_characters(words: Counter, base: WordPiece, min_frequency: int) -> list[Added]:
    """Characters (`c` at a word's start, `##c` inside) that the vocabulary lacks in words it maps to [UNK],
    counted over the corpus; Chinese ones first, then the most frequent."""
    counts: Counter = Counter()
    for word, n in words.items():
        if len(word) > base.max_chars or base.pieces(word) is not None:
            continue
        for i, char in enumerate(word):
            token = f"##{char}" if i else char
            if token not in base.vocab:
                counts[token] += n
    ranked = sorted((t for t, n in counts.items() if n >= min_frequency),
                    key=lambda t: (not is_chinese(t[-1]), -counts[t], t))
    return [Added(t, REASONS[0] if is_chinese(t[-1]) else REASONS[1], counts[t], [base.unk]) for t in ranked]


def frequent_pieces(words: Counter, base: WordPiece, current: WordPiece, budget: int,
                    min_frequency: int) -> list[Added]:
    """Whole words and `##` rests, chosen greedily by the pieces they save on the corpus with what is chosen
    so far (lazily: a candidate's saving only shrinks as others are chosen, so a stale score is an upper bound)."""
    served: dict[str, list[str]] = defaultdict(list)  # candidate token -> the words it would shorten
    for word in words:
        pieces = current.pieces(word)
        if pieces is None or len(pieces) < 2:
            continue
        served[word].append(word)
        if len(pieces) >= 3:  # after the first piece, WordPiece would take the whole rest in one `##` token
            served["##" + word[len(pieces[0]):]].append(word)
    counts = {token: sum(words[w] for w in ws) for token, ws in served.items()}
    heap = [(-saving(t, served[t], words, current), t) for t in served if counts[t] >= min_frequency]
    heapq.heapify(heap)
    chosen: list[Added] = []
    while heap and len(chosen) < budget:
        _, token = heapq.heappop(heap)
        now = saving(token, served[token], words, current)
        if now <= 0:
            continue
        if heap and now < -heap[0][0]:  # others were chosen since its score: score again, later
            heapq.heappush(heap, (-now, token))
            continue
        current.vocab.add(token)
        continuing = token.startswith("##")
        pieces = base.pieces_or_unk(token[2:] if continuing else token, continuing)
        chosen.append(Added(token, REASONS[3] if continuing else REASONS[2], counts[token], pieces))
    return chosen


def saving(token: str, served: list[str], words: Counter, current: WordPiece) -> int:
    """Pieces the corpus loses if `token` joins the vocabulary, over the words it serves."""
    before = sum(words[w] * len(current.pieces(w)) for w in served)
    current.vocab.add(token)
    after = sum(words[w] * len(current.pieces(w)) for w in served)
    current.vocab.discard(token)
    return before - after


def place(tokens: list[str], chosen: list[Added], ids: dict[str, int]) -> tuple[list[str], list[dict]]:
    """The extended vocabulary (`[unusedK]` slots first, in id order, then appended) and added.json's records."""
    slots = [i for i, t in enumerate(tokens) if UNUSED.fullmatch(t)]
    extended = list(tokens)
    records = []
    for k, added in enumerate(chosen):
        slot = None
        if k < len(slots):
            token_id, slot = slots[k], extended[slots[k]]
            extended[token_id] = added.token
        else:
            token_id = len(extended)
            extended.append(added.token)
        records.append({"token": added.token, "id": token_id, "reason": added.reason, "count": added.count,
                        "pieces_before": added.pieces_before,
                        "piece_ids_before": [ids[p] for p in added.pieces_before], "slot": slot})
    return extended, records


def write_extended_tokenizer(folder: Path, tokens: list[str], base: dict, published: Path) -> Tokenizer:
    """vocab.txt, tokenizer_config.json and special_tokens_map.json with the published tokenizer's class and
    settings, then tokenizer.json as transformers converts that folder; returns the tokenizer transformers
    builds from the finished folder (for the checks and the closing figures)."""
    (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
    settings = base["tokenizer"]
    specials = {f"{role}_token": tokens[base["special_ids"][role]] for role in SPECIAL_ROLES}
    kept = read_json(published / "tokenizer_config.json")
    config = {
        "tokenizer_class": tokenizer_class_name(settings["class"]),
        "do_lower_case": settings["lowercase"],
        "strip_accents": settings["strip_accents"],
        "tokenize_chinese_chars": settings["chinese_chars_split"],
        "model_max_length": kept.get("model_max_length", 512),
        **specials,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n", encoding="utf-8")
    auto_tokenizer(folder).backend_tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer = Tokenizer.from_str(auto_tokenizer(folder).backend_tokenizer.to_str())
    if tokenizer.get_vocab() != {t: i for i, t in enumerate(tokens)}:  # guards against a transformers change
        raise RuntimeError(f"{folder}: transformers' tokenizer does not have the written vocab.txt's ids")
    return tokenizer


def tokenizer_class_name(built: str) -> str:
    """The class to name in tokenizer_config.json: the published one's (its slow name, which transformers 4 and 5
    both resolve), BERT's for a bare tokenizer.json whose pipeline was checked to be BERT's."""
    name = built.removesuffix("Fast")
    return name if name.endswith("Tokenizer") and name != "PreTrainedTokenizer" else "BertTokenizer"


def check_added(tokenizer: Tokenizer, records: list[dict]) -> None:
    """Every added word and character is one token of the written tokenizer (a rest: one piece after its
    word's first), or the folder is not written."""
    wrong = []
    for record in records:
        token = record["token"]
        if token.startswith("##"):
            continue
        got = [t.value for t in tokenizer.model.tokenize(token)]
        if got != [token]:
            wrong.append(f"{token} -> {' '.join(got)}")
    if wrong:
        raise RuntimeError(f"added tokens that the written tokenizer splits: {', '.join(wrong[:5])}")


def corpus_figures(words: Counter, tokenizer: Tokenizer) -> dict:
    """[UNK] share of the tokens and pieces per word of the corpus, with `tokenizer`'s WordPiece model."""
    unk = json.loads(tokenizer.to_str())["model"]["unk_token"]
    total_words = sum(words.values())
    tokens = unknown = 0
    for word, n in words.items():
        pieces = tokenizer.model.tokenize(word)
        tokens += n * len(pieces)
        unknown += n * sum(p.value == unk for p in pieces)
    return {"words": total_words, "tokens": tokens, "unk_tokens": unknown,
            "unk_rate": unknown / max(tokens, 1), "pieces_per_word": tokens / max(total_words, 1)}


def figures_table(figures: dict) -> Table:
    """The closing table: the corpus with the published vocabulary and with the extended one."""
    table = Table(title="vocab --extend: the corpus before and after", title_justify="left")
    for column in ("", "published", "extended"):
        table.add_column(column, justify="right" if column else "left")
    before, after = figures["before"], figures["after"]
    table.add_row("[UNK] share of tokens", f"{before['unk_rate']:.3%}", f"{after['unk_rate']:.3%}")
    table.add_row("pieces per word", f"{before['pieces_per_word']:.3f}", f"{after['pieces_per_word']:.3f}")
    table.add_row("tokens", f"{before['tokens']:,}", f"{after['tokens']:,}")
    return table
