"""Published weights for an extended vocabulary (`vocab --extend`): the rows of the tokens it added.

A published source has the rows of its own vocabulary; the shards speak the extended one. Every tensor with a
vocabulary dimension (the word embeddings, the generator's output layer and its bias) grows to the extended
size: the published rows stay exactly as they are, so the start is exact on every published token, and a new
token's row starts as the mean of the rows of the pieces the published tokenizer gave it (added.json records
them): what the model already made of that text. An unknown character was one [UNK] and has no such pieces: its
row is the mean of all rows. Filled `[unusedK]` slots count as new, since their rows were never trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from electra_cli.vocab.load import read_added

# the tensors with a row per token, under the names of the models they start (see published.mapped_state)
VOCAB_TENSORS = ("electra.embeddings.word_embeddings.weight", "generator_lm_head.weight", "generator_lm_head.bias")


@dataclass
class Growth:
    """How a published vocabulary's tensors become the extended vocabulary's."""

    base_size: int  # tokens of the published vocabulary
    base_sha256: str  # its identity (sha256 of its vocab.txt, as load_vocab_manifest computes it)
    size: int  # tokens of the extended vocabulary
    unk_id: int
    rows: list[tuple[int, list[int]]]  # (new token's id, the ids of its published pieces)

    def fits(self, vocab_size: int, vocab_sha256: str | None) -> bool:
        """Whether a source with this vocabulary is the published base (a folder without tokenizer files: by size)."""
        return vocab_size == self.base_size and vocab_sha256 in (None, self.base_sha256)

    def grow(self, state: dict[str, torch.Tensor]) -> bool:
        """Grow `state`'s vocabulary tensors of the published size, in place; whether there were any."""
        grown = False
        for key in VOCAB_TENSORS:
            tensor = state.get(key)
            if tensor is not None and tensor.shape[0] == self.base_size:
                state[key] = self.grow_tensor(tensor)
                grown = True
        return grown

    def grow_tensor(self, published: torch.Tensor) -> torch.Tensor:
        """(base_size, ...) -> (size, ...): published rows copied, new rows the mean of their pieces' rows."""
        grown = torch.empty((self.size, *published.shape[1:]), dtype=published.dtype)
        grown[: self.base_size] = published
        every_row = published.double().mean(0)
        for token_id, pieces in self.rows:
            mean = every_row if self.unk_id in pieces else published[pieces].double().mean(0)
            grown[token_id] = mean.to(published.dtype)
        return grown

    def describe(self) -> str:
        """The load report's line."""
        unknown = sum(self.unk_id in pieces for _, pieces in self.rows)
        filled = sum(token_id < self.base_size for token_id, _ in self.rows)
        return (f"vocabulary extended by {len(self.rows)} tokens ({filled} in [unused] slots, {self.size - self.base_size} "
                f"appended: {self.base_size} -> {self.size} rows); their rows start as the mean of the rows of their "
                "published pieces"
                + (f" ({unknown} [UNK] characters: the mean of all rows)" if unknown else "")
                + "; every published row unchanged")


def vocab_growth(vocab: dict, vocab_dir: Path) -> Growth | None:
    """The Growth of an extended vocabulary (its manifest from load_vocab_manifest), None for any other."""
    extends = vocab.get("extends")
    added = read_added(vocab_dir, vocab["vocab_sha256"]) if extends else None
    if added is None:
        return None
    rows = [(int(t["id"]), [int(i) for i in t["piece_ids_before"]]) for t in added["tokens"]]
    return Growth(base_size=int(extends["vocab_size"]), base_sha256=extends["vocab_sha256"],
                  size=int(vocab["vocab_size"]), unk_id=int(vocab["special_ids"]["unk"]), rows=rows)
