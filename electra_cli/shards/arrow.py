"""numpy <-> Arrow for the shard writer, the parts and merge, without `pa.array` or `to_numpy`.

Those two ask pyarrow's pandas shim whether their input is a pandas object, which imports pandas (about 0.25 CPU
seconds) in every process that shards, every part and every merge, for nothing: here the buffers are wrapped
as they are.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_NUMPY = {pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.int32(): np.int32,
          pa.int64(): np.int64}


def from_numpy(values, kind: pa.DataType) -> pa.Array:
    """A primitive Arrow array of type `kind` holding `values` (converted to its numpy type if need be)."""
    values = np.ascontiguousarray(values, dtype=_NUMPY[kind])
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def to_numpy(array: pa.Array) -> np.ndarray:
    """A primitive Arrow array without nulls as a numpy view of its buffer."""
    dtype = _NUMPY[array.type]
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=array.offset + len(array))[array.offset :]
