"""Reading a TensorFlow 1 checkpoint (a tensor bundle) without TensorFlow.

google-research/electra and HFL publish their models as `PREFIX.index` + `PREFIX.data-00000-of-00001` beside
`vocab.txt`. The `.index` file is a LevelDB-style table (blocks of prefix-compressed key/value entries, a block
index, a 48-byte footer ending in a magic number) mapping each tensor name to a `BundleEntryProto` (dtype, shape,
shard, offset, size, masked CRC-32C); the entry under the empty key is the `BundleHeaderProto` (number of shards,
endianness). The `.data-*` shards hold the tensors' raw bytes. The few protobuf fields are decoded by hand, so
reading needs only numpy. Every block and every tensor read is checked against its CRC-32C: a damaged file is a
DataError naming it, never silently wrong weights.
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from electra_cli.core.errors import DataError, UsageError

TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB's table magic, which TensorFlow's table format keeps
FOOTER_SIZE = 48
BLOCK_TRAILER = 5  # compression type (1 byte) + masked crc32c (4 bytes)
HEADER_KEY = b""
# TensorFlow's DataType enum -> numpy dtype; bfloat16 (14) is read as uint16 and widened to float32.
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
          10: np.bool_, 14: np.uint16, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
DT_BFLOAT16, DT_STRING = 14, 7


# ---- CRC-32C (Castagnoli), as TensorFlow and LevelDB store it ------------------------------------------------


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1).astype(np.uint32)
    return table


CRC_TABLE = _crc_table()
_TABLE = CRC_TABLE.tolist()


def _crc_bytes(state: int, data: bytes) -> int:
    for byte in data:
        state = _TABLE[(state ^ byte) & 0xFF] ^ (state >> 8)
    return state


def _zero_shift_tables(length: int) -> list[list[int]]:
    """Four byte tables of the linear map "run the CRC register through `length` zero bytes"."""
    state = (np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32)[:, None])).ravel()
    for _ in range(length):
        state = CRC_TABLE[state & 0xFF] ^ (state >> 8)
    return state.reshape(4, 256).tolist()


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C of `data`. Large inputs are cut into K equal lanes whose CRCs numpy computes side by side; the
    lanes are then joined with the zero-shift map (the CRC is linear), so a 400 MB tensor takes seconds."""
    data = memoryview(data).cast("B")
    n = len(data)
    lanes = min(1 << 16, n // 256)
    if lanes < 16:
        return _crc_bytes(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    length = n // lanes
    head = n - lanes * length
    state = _crc_bytes(0xFFFFFFFF, data[:head])
    block = np.frombuffer(data[head:], dtype=np.uint8).reshape(lanes, length).T.copy()  # (L, K): one row a step
    lane = np.zeros(lanes, dtype=np.uint32)
    for row in block:
        lane = CRC_TABLE[(lane ^ row) & 0xFF] ^ (lane >> 8)
    t0, t1, t2, t3 = _zero_shift_tables(length)
    for value in lane.tolist():
        state = t0[state & 0xFF] ^ t1[(state >> 8) & 0xFF] ^ t2[(state >> 16) & 0xFF] ^ t3[state >> 24] ^ value
    return state ^ 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """TensorFlow (like LevelDB) stores CRCs masked: rotated right by 15 bits plus a constant."""
    rotated = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


# ---- protobuf wire format (just what the bundle's two messages use) ------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: ints for varint/fixed fields, bytes for length-delimited."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + size]), pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated field")
        out.append((number, value))
    return out


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass
class Entry:
    """One tensor's place in the bundle (a BundleEntryProto)."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc: int | None  # masked, as stored
    sliced: bool  # a partitioned variable (stored as slices): not supported


def _entry(name: str, buf: bytes) -> Entry:
    entry = Entry(name, dtype=0, shape=(), shard=0, offset=0, size=0, crc=None, sliced=False)
    for number, value in _fields(buf):
        if number == 1:
            entry.dtype = value
        elif number == 2:  # TensorShapeProto: repeated Dim (field 2) {size (1)}
            dims = []
            for dim_number, dim in _fields(value):
                if dim_number == 2:
                    dims.append(next((_int64(v) for n, v in _fields(dim) if n == 1), 0))
            entry.shape = tuple(dims)
        elif number == 3:
            entry.shard = value
        elif number == 4:
            entry.offset = _int64(value)
        elif number == 5:
            entry.size = _int64(value)
        elif number == 6:
            entry.crc = value
        elif number == 7:
            entry.sliced = True
    return entry


# ---- the table (.index) ---------------------------------------------------------------------------------------


def _block(data: bytes, offset: int, size: int) -> bytes:
    """A block's contents, its trailer's CRC checked."""
    end = offset + size
    if end + BLOCK_TRAILER > len(data):
        raise ValueError(f"block at {offset} runs past the end of the file")
    contents, kind = data[offset:end], data[end]
    stored = int.from_bytes(data[end + 1:end + 5], "little")
    if crc32c(contents + bytes([kind])) != unmask_crc(stored):
        raise ValueError(f"block at {offset}: checksum mismatch")
    if kind != 0:
        raise ValueError(f"block at {offset} is compressed (type {kind}); TensorFlow writes bundles uncompressed")
    return contents


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The key/value pairs of a block: keys share a prefix with the previous key; restart points at the end."""
    restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError("bad restart count")
    out, key, pos = [], b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        size, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + size]))
        pos += size
    if pos != limit:
        raise ValueError("entries overrun the block")
    return out


def read_index(path: Path) -> tuple[dict, dict[str, Entry]]:
    """(header {num_shards, endianness}, {tensor name: Entry}) of a bundle's `.index` file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: unreadable ({err.strerror})") from None
    try:
        if len(data) < FOOTER_SIZE or int.from_bytes(data[-8:], "little") != TABLE_MAGIC:
            raise ValueError("not a TensorFlow checkpoint index (no table magic at the end)")
        footer = data[-FOOTER_SIZE:]
        _, pos = _varint(footer, 0)  # metaindex handle: offset, size (unused: bundles have no filter blocks)
        _, pos = _varint(footer, pos)
        index_offset, pos = _varint(footer, pos)
        index_size, _ = _varint(footer, pos)
        header, entries = None, {}
        for _, handle in _block_entries(_block(data, index_offset, index_size)):
            offset, pos = _varint(handle, 0)
            size, _ = _varint(handle, pos)
            for key, value in _block_entries(_block(data, offset, size)):
                if key == HEADER_KEY:
                    header = dict(_fields(value))
                else:
                    name = key.decode("utf-8")
                    entries[name] = _entry(name, value)
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: damaged or not a TensorFlow checkpoint index ({err})") from None
    if header is None:
        raise DataError(f"{path}: no bundle header entry (not a TensorFlow 1 checkpoint index)")
    info = {"num_shards": header.get(1, 1), "endianness": "big" if header.get(2, 0) == 1 else "little"}
    return info, entries


# ---- the bundle ---------------------------------------------------------------------------------------------


class Bundle:
    """A TF1 checkpoint: `Bundle(prefix).read(name)` is the tensor as numpy, checked against its CRC."""

    def __init__(self, prefix: Path):
        self.prefix = Path(prefix)
        self.index = Path(f"{self.prefix}.index")
        if not self.index.is_file():
            raise UsageError(f"{self.index}: no such file")
        self.header, self.entries = read_index(self.index)
        shards = self.header["num_shards"]
        self.shards = [Path(f"{self.prefix}.data-{i:05d}-of-{shards:05d}") for i in range(shards)]
        missing = [str(s) for s in self.shards if not s.is_file()]
        if missing:
            raise DataError(f"{self.index}: data file(s) missing: {', '.join(missing)}")
        self._data: dict[int, memoryview] = {}

    def shape(self, name: str) -> tuple[int, ...]:
        return self.entries[name].shape

    def read(self, name: str) -> np.ndarray:
        entry = self.entries[name]
        problem = self._unsupported(entry) or (
            f"in data shard {entry.shard} of {len(self.shards)}" if entry.shard >= len(self.shards) else None)
        if problem:
            raise DataError(f"{self.index}: tensor {name}: {problem}")
        dtype = np.dtype(DTYPES[entry.dtype]).newbyteorder("<" if self.header["endianness"] == "little" else ">")
        count = int(np.prod(entry.shape, dtype=np.int64))
        if entry.size != count * dtype.itemsize:
            raise DataError(f"{self.index}: tensor {name} has {entry.size} bytes for shape {list(entry.shape)}")
        shard, data = self.shards[entry.shard], self._shard(entry.shard)
        if entry.offset < 0 or entry.offset + entry.size > len(data):
            raise DataError(f"{shard}: too short for tensor {name} (bytes {entry.offset}-{entry.offset + entry.size} "
                            f"of {len(data)}): truncated?")
        raw = data[entry.offset:entry.offset + entry.size]
        if entry.crc is not None and crc32c(raw) != unmask_crc(entry.crc):
            raise DataError(f"{shard}: tensor {name} fails its checksum (the file is damaged)")
        array = np.frombuffer(raw, dtype=dtype).reshape(entry.shape)
        if entry.dtype == DT_BFLOAT16:
            return (array.astype(np.uint32) << 16).view(np.float32)
        return array.astype(dtype.newbyteorder("="), copy=True)

    @staticmethod
    def _unsupported(entry: Entry) -> str | None:
        if entry.sliced:
            return "a partitioned variable (saved as slices), which is not supported"
        if entry.dtype not in DTYPES:
            return f"dtype {'string' if entry.dtype == DT_STRING else entry.dtype} is not supported"
        if any(d < 0 for d in entry.shape):
            return f"unknown shape {list(entry.shape)}"
        return None

    def _shard(self, index: int) -> memoryview:
        """A data shard, memory-mapped: a large model's shard (4 GB for ELECTRA-Large with its Adam slots) is
        never read whole, only the tensors asked for."""
        if index not in self._data:
            path = self.shards[index]
            try:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    self._data[index] = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b"")
            except OSError as err:
                raise DataError(f"{path}: unreadable ({err.strerror})") from None
        return self._data[index]


def find_checkpoint(folder: Path) -> Path | None:
    """The checkpoint prefix in `folder` (`model.ckpt-N`), or None: the one its `checkpoint` file names (by base
    name: the folder may have moved since), else the only `.index` there, else the highest step."""
    folder = Path(folder)
    indexes = sorted(folder.glob("*.index"))
    if not indexes:
        return None
    state = folder / "checkpoint"
    if state.is_file():
        text = state.read_text(encoding="utf-8", errors="replace")
        match = re.search(r'^model_checkpoint_path:\s*"(.*)"', text, re.MULTILINE)
        if match:
            named = folder / Path(match.group(1).replace("\\", "/")).name
            if Path(f"{named}.index").is_file():
                return named
    steps = [(int(m.group(1)) if (m := re.search(r"-(\d+)$", p.stem)) else -1, p) for p in indexes]
    return max(steps)[1].with_suffix("")
