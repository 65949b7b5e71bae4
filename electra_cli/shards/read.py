"""Reading shards (memory-mapped), the sampling order, and batches ready for the model.

The order is a function of (seed, step) alone: the training stream is the concatenation of one seeded
permutation of all rows per epoch; global batch b is samples [b * G, (b + 1) * G) of that stream, and rank r's
micro-batch a is a fixed slice of it. Resuming at step s therefore starts at the next unseen batch without
reading the skipped ones, and the stream is the same whatever the number of processes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from electra_cli.core.errors import DataError
from electra_cli.shards.write import load_manifest
from electra_cli.text.segment import WORDS_COLUMN, has_word_column
from electra_cli.vocab.wordpiece import OUR_SPECIAL_IDS


class ShardSet:
    """All rows of one split, memory-mapped: row i is values[offsets[i]:offsets[i + 1]] of its shard.

    With `words`, the shards' word-boundary column (`shard --segment`) is read too and batches carry it as
    `word_continues`; shards without the column load as before, and batches then carry none.
    """

    def __init__(self, folder: Path, split: str, check_sizes: bool = True, words: bool = False):
        self.folder = Path(folder)
        manifest = load_manifest(self.folder)
        self.words = words and has_word_column(manifest)  # read the column only where the shards have it
        self._flags: list[np.ndarray] = []
        self.max_seq_len = int(manifest["max_seq_len"])
        specials = manifest["vocab"].get("special_ids") or OUR_SPECIAL_IDS  # older manifests: our own vocab's ids
        self.pad_id, self.sep_id = int(specials["pad"]), int(specials["sep"])
        self._values: list[np.ndarray] = []
        self._offsets: list[np.ndarray] = []
        self._maps = []
        starts = [0]
        for shard in manifest["splits"][split]["shards"]:
            path = self.folder / shard["file"]
            if check_sizes and (not path.is_file() or path.stat().st_size != shard["bytes"]):
                raise DataError(f"{path}: missing or not the size the manifest records; run `electra-cli verify`")
            try:
                source = pa.memory_map(str(path))
                table = pa.ipc.open_stream(source).read_all()
                column = table.column("input_ids").combine_chunks()
                if self.words:
                    flags = table.column(WORDS_COLUMN).combine_chunks()
                    self._flags.append(flags.values.to_numpy(zero_copy_only=True))
            except (pa.ArrowInvalid, KeyError, OSError) as err:
                raise DataError(f"{path}: unreadable shard ({err})") from None
            if len(column) != shard["rows"]:
                raise DataError(f"{path}: {len(column)} rows, manifest says {shard['rows']}")
            self._maps.append(source)
            self._values.append(column.values.to_numpy(zero_copy_only=True))
            self._offsets.append(column.offsets.to_numpy(zero_copy_only=True))
            starts.append(starts[-1] + len(column))
        self._starts = np.array(starts, dtype=np.int64)
        self.rows = int(starts[-1])

    def __len__(self) -> int:
        return self.rows

    def row(self, index: int) -> np.ndarray:
        return self._slice(self._values, index)

    def row_flags(self, index: int) -> np.ndarray:
        """Row `index`'s word-boundary flags (same offsets as its token ids)."""
        return self._slice(self._flags, index)

    def _slice(self, columns: list[np.ndarray], index: int) -> np.ndarray:
        """Row `index` of a per-shard flat column: its shard, then its span in that shard's offsets."""
        shard = int(np.searchsorted(self._starts, index, side="right")) - 1
        local = index - self._starts[shard]
        offsets = self._offsets[shard]
        return columns[shard][offsets[local] : offsets[local + 1]]

    def batch(self, indices: np.ndarray, seq_len: int) -> dict[str, torch.Tensor]:
        """Rows padded to `seq_len`: input_ids, attention_mask and token_type_ids (1 after the first [SEP])."""
        ids = np.full((len(indices), seq_len), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(indices), seq_len), dtype=np.int64)  # by length, not by id
        for i, index in enumerate(indices):
            row = self.row(int(index))
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        input_ids, attention_mask = torch.from_numpy(ids), torch.from_numpy(mask)
        is_sep = (input_ids == self.sep_id).long()
        after_first_sep = (is_sep.cumsum(dim=1) - is_sep) > 0  # (B, L): strictly after the first [SEP]
        token_type_ids = (after_first_sep & attention_mask.bool()).long()
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if self.words:
            flags = np.zeros((len(indices), seq_len), dtype=np.bool_)  # (B, L), pads: 0
            for i, index in enumerate(indices):
                row = self.row_flags(int(index))
                flags[i, : len(row)] = row
            batch["word_continues"] = torch.from_numpy(flags)
        return batch


class TrainOrder:
    """Which rows a rank reads for micro-batch `a` of step `s` (see the module docstring)."""

    def __init__(self, rows: int, seed: int, global_batch: int, micro_batch: int, rank: int, world: int):
        if rows == 0:
            raise DataError("the training split has no rows")
        self.rows, self.seed = rows, seed
        self.global_batch, self.micro_batch, self.rank, self.world = global_batch, micro_batch, rank, world
        self.accumulation = global_batch // (micro_batch * world)
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.rows)
            self._epoch = epoch
        return self._perm

    def indices(self, step: int, micro: int) -> np.ndarray:
        start = step * self.global_batch + (micro * self.world + self.rank) * self.micro_batch
        stream = np.arange(start, start + self.micro_batch, dtype=np.int64)
        out = np.empty(self.micro_batch, dtype=np.int64)
        for epoch in np.unique(stream // self.rows):
            pick = stream // self.rows == epoch
            out[pick] = self._permutation(int(epoch))[stream[pick] % self.rows]
        return out

    def epoch_of(self, step: int) -> float:
        return step * self.global_batch / self.rows


def train_batches(
    shards: ShardSet, order: TrainOrder, start_step: int, seq_len: int, pin: bool = False, prefetch: int = 4
) -> Iterator[list[dict[str, torch.Tensor]]]:
    """For each step from `start_step`: the rank's micro-batches, built ahead in a background thread."""

    def build(step: int) -> list[dict[str, torch.Tensor]]:
        micro = [shards.batch(order.indices(step, a), seq_len) for a in range(order.accumulation)]
        if pin:
            micro = [{k: v.pin_memory() for k, v in m.items()} for m in micro]
        return micro

    ready: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def produce() -> None:
        step = start_step
        try:
            while not stop.is_set():
                item = build(step)
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                step += 1
        except BaseException as err:  # surface loader errors in the training loop
            ready.put(err)

    worker = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:  # stop the producer and wait for it: a thread left running at exit can abort the process
        stop.set()
        while worker.is_alive():
            try:
                ready.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)


def eval_batches(shards: ShardSet, micro_batch: int, max_batches: int, rank: int, world: int, seq_len: int):
    """The first rows of the validation split in order, each rank a disjoint part."""
    n = min(len(shards), max_batches * micro_batch * world)
    mine = np.arange(rank, n, world, dtype=np.int64)
    for start in range(0, len(mine), micro_batch):
        yield shards.batch(mine[start : start + micro_batch], seq_len)
