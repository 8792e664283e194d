"""Hash buckets of clients: which clients are analysed together.

A client's bucket is a fixed function of its id, so every engine, every
file layout and every rerun puts a client — all its administrations, of every
instrument — into the same bucket:

* the id is trimmed of surrounding whitespace (as the long-format reader
  trims it) and taken as its UTF-8 bytes (integer ids as their decimal text);
* the bytes are hashed with 64-bit FNV-1a, the hash of
  `twostep.analytics.folds` (so ``h`` equals ``client_hash(id)``);
* the bucket is ``(h >> 32) mod n_buckets``: the high half of the hash, so
  that buckets are not aligned with the cross-validation folds (``h mod 5``).

The hash runs in one compiled pass over the Arrow string buffers (offsets and
bytes), with no Python object per row.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from twostep.analytics.folds import FNV64_OFFSET, FNV64_PRIME
from twostep.errors import ConfigurationError

IntArray = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]

#: Default rows per bucket: large enough to amortise the per-call overhead of the
#: kernel, small enough that a bucket's analysis stays well under a gigabyte.
ROWS_PER_BUCKET = 500_000

_OFFSET = np.uint64(FNV64_OFFSET)
_PRIME = np.uint64(FNV64_PRIME)


@numba.njit(cache=True)
def _fnv1a_utf8(  # pragma: no cover - compiled
    offsets: npt.NDArray[np.int32], data: npt.NDArray[np.uint8], out: UInt64Array
) -> None:
    for i in range(out.shape[0]):
        h = _OFFSET
        for j in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[j])) * _PRIME
        out[i] = h


def id_hash(client_id: pa.Array | pa.ChunkedArray) -> UInt64Array:
    """FNV-1a 64 of each trimmed id's UTF-8 bytes (nulls hash as the empty id)."""
    arr = client_id.combine_chunks() if isinstance(client_id, pa.ChunkedArray) else client_id
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    arr = pc.utf8_trim_whitespace(pc.fill_null(pc.cast(arr, pa.string()), ""))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    out = np.empty(n, dtype=np.uint64)
    if n == 0:
        return out
    _, offs_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offs_buf, dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    _fnv1a_utf8(np.ascontiguousarray(offsets), data, out)
    return out


def bucket_of(client_id: pa.Array | pa.ChunkedArray, n_buckets: int) -> IntArray:
    """The bucket (``0 .. n_buckets - 1``) of each row's client."""
    if n_buckets < 1:
        raise ConfigurationError("the number of buckets must be at least 1")
    h = id_hash(client_id)
    return ((h >> np.uint64(32)) % np.uint64(n_buckets)).astype(np.int64)


def default_buckets(n_rows: int, workers: int) -> int:
    """Enough buckets for about `ROWS_PER_BUCKET` rows each and two per worker."""
    return max(2 * workers, math.ceil(n_rows / ROWS_PER_BUCKET), 1)
