"""Tagged sentences as model inputs, and the model's outputs back as one tag per input word.

- One position per word, always. A word is labelled (in training) and read (in prediction) at its first word
  piece, as HF's token classification does; a word the tokenizer gives no piece (a space, a control or
  zero-width character) gets `[UNK]` instead of vanishing, so it keeps its tag and an entity around it stays whole.
- Character-level tasks (CLUENER, MSRA, People's Daily, any tokens/tags file whose tokens are single characters):
  every character is one position, mapped to itself or `[UNK]` as CLUENER2020's `CNerTokenizer.tokenize`
  (pytorch_version/processors/utils_ner.py) does, after the tokenizer's own normalisation (its lowercasing), so
  tags and spans index the original text.
- Sentences longer than the model's length are cut into overlapping windows (half a window apart), as question
  answering cuts long contexts; each word's tag is read from the window where it has the most context on both
  sides (the "max context" rule of BERT's SQuAD code), so no word is left untagged whatever its position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class Window:
    """One model input cut from a sentence: its ids ([CLS] pieces [SEP]) and, per position, the word whose first
    piece it holds (None elsewhere), with how much context that position has on its nearer side."""

    sentence: int
    input_ids: list[int]
    first_of: list[int | None]
    context: list[int]


def conll_line(line: str) -> tuple[str | None, str | None]:
    """(token, tag) of one CoNLL line, its first and last field; (None, None) for a blank line, (None, tag) for a
    line with one field. A line that is a whitespace character, a separator and a tag (`  O`, `\u3000 O`) is that
    character's: People's Daily and MSRA write spaces so, and splitting at whitespace would lose their position."""
    line = line.rstrip("\r\n")
    if len(line) >= 3 and line[0].isspace() and line[1] in " \t" and len(line[2:].split()) == 1:
        return line[0], line[2:].strip()
    parts = line.split()
    if not parts:
        return None, None
    return (parts[0], parts[-1]) if len(parts) >= 2 else (None, parts[0])


def single_characters(sentences: Sequence[Sequence[str]]) -> bool:
    """Whether every token of every sentence is one character: a character-level task (Chinese NER)."""
    return any(sentences) and all(len(token) == 1 for words in sentences for token in words)


def character_ids(tokenizer, characters: Sequence[str]) -> list[int]:
    """CNerTokenizer's mapping: each character is its own token if the vocabulary has it (after the tokenizer's
    normalisation: lowercasing, accents), else [UNK]; never zero pieces, never two."""
    vocab = tokenizer.get_vocab()
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    ids = []
    for char in characters:
        normal = normalizer.normalize_str(char).strip() if normalizer is not None else char
        ids.append(vocab.get(normal, vocab.get(char, tokenizer.unk_token_id)))
    return ids


def word_pieces(tokenizer, sentences: Sequence[Sequence[str]]) -> list[tuple[list[int], list[int]]]:
    """(piece ids, word index of each piece) per sentence, every word at least one piece ([UNK] for a word the
    tokenizer drops)."""
    if not sentences:
        return []
    encoded = tokenizer([list(words) for words in sentences], is_split_into_words=True, add_special_tokens=False)
    out = []
    for row, words in enumerate(sentences):
        pieces: list[list[int]] = [[] for _ in words]
        for piece, word in zip(encoded["input_ids"][row], encoded.word_ids(row)):
            if word is not None:
                pieces[word].append(piece)
        ids, owners = [], []
        for word, own in enumerate(pieces):
            own = own or [tokenizer.unk_token_id]
            ids += own
            owners += [word] * len(own)
        out.append((ids, owners))
    return out


def windows(tokenizer, sentences: Sequence[Sequence[str]], max_seq_len: int, characters: bool) -> list[Window]:
    """Every sentence as one or more windows of at most `max_seq_len` tokens, consecutive windows half a window
    apart; together they hold every word's first piece."""
    if characters:
        encoded = [(character_ids(tokenizer, words), list(range(len(words)))) for words in sentences]
    else:
        encoded = word_pieces(tokenizer, sentences)
    width = max(1, max_seq_len - 2)  # room for [CLS] and [SEP]
    stride = max(1, width // 2)
    out = []
    for index, (ids, owners) in enumerate(encoded):
        firsts = [i == 0 or owners[i] != owners[i - 1] for i in range(len(ids))]
        start = 0
        while True:
            end = min(len(ids), start + width)
            positions = range(start, end)
            out.append(Window(
                index,
                [tokenizer.cls_token_id] + ids[start:end] + [tokenizer.sep_token_id],
                [None] + [owners[i] if firsts[i] else None for i in positions] + [None],
                [0] + [min(i - start, end - 1 - i) for i in positions] + [0],
            ))
            if end >= len(ids):
                break
            start += stride
    return out


def word_logits(windows_: Sequence[Window], logits: Sequence[torch.Tensor], lengths: Sequence[int]) -> list[torch.Tensor]:
    """Per sentence, (words, labels) logits: each word's from the window where its first piece has the most
    context (max context, as BERT's SQuAD code chooses among overlapping windows)."""
    labels = logits[0].shape[-1] if len(logits) else 0
    out = [torch.zeros(n, labels) for n in lengths]
    best = [[-1] * n for n in lengths]
    for window, row in zip(windows_, logits):
        for position, word in enumerate(window.first_of):
            if word is not None and window.context[position] > best[window.sentence][word]:
                best[window.sentence][word] = window.context[position]
                out[window.sentence][word] = row[position]
    return out
