"""Stable client hashing: cross-validation folds that every engine reproduces.

A client's fold must not depend on which engine, bucket or process sees the
client, nor on the order of the data, so it is a fixed function of the client
id alone:

* the id is turned into bytes — a string id into its **UTF-8** bytes (trailing
  NUL characters are not part of a numpy string and so are not hashed; lone
  surrogates are encoded as three bytes, like Python's ``surrogatepass``), an
  integer id into the ASCII bytes of its decimal form (``-12`` → ``b"-12"``,
  so the integer ``12`` and the string ``"12"`` hash alike), a ``bytes`` id as
  is;
* the bytes are hashed with **64-bit FNV-1a** (Fowler–Noll–Vo; offset basis
  ``0xcbf29ce484222325``, prime ``0x100000001b3``: for every byte
  ``h = (h XOR byte) * prime mod 2**64``);
* the fold is ``h mod n_folds`` (``h`` read as an unsigned 64-bit integer).

In Python, for one id: ``h = 0xcbf29ce484222325; for b in str(id).encode():
h = ((h ^ b) * 0x100000001b3) % 2**64``. The functions here compute the same
thing for a whole numpy array in one compiled pass (no Python loop per client).

References
----------
Fowler, G., Noll, L. C., Vo, K.-P., Eastlake, D., & Hansen, T. (2019). The
FNV Non-Cryptographic Hash Algorithm. IETF draft-eastlake-fnv-17.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from twostep.errors import AnalysisError, ConfigurationError

IntArray = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3

_OFFSET = np.uint64(FNV64_OFFSET)
_PRIME = np.uint64(FNV64_PRIME)
_U6 = np.uint64(6)
_U12 = np.uint64(12)
_U18 = np.uint64(18)
_U10 = np.uint64(10)
_M3F = np.uint64(0x3F)
_B80 = np.uint64(0x80)
_BC0 = np.uint64(0xC0)
_BE0 = np.uint64(0xE0)
_BF0 = np.uint64(0xF0)
_L800 = np.uint64(0x800)
_L10000 = np.uint64(0x10000)
_MINUS = np.uint64(ord("-"))
_ZERO = np.uint64(ord("0"))


@numba.njit(cache=True, inline="always")
def _mix(h: np.uint64, byte: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    return (h ^ byte) * _PRIME


@numba.njit(cache=True, parallel=True)
def _hash_utf32(cps: npt.NDArray[np.uint32], out: UInt64Array) -> None:  # pragma: no cover
    n, width = cps.shape
    for i in numba.prange(n):
        length = width
        while length > 0 and cps[i, length - 1] == 0:
            length -= 1
        h = _OFFSET
        for j in range(length):
            cp = np.uint64(cps[i, j])
            if cp < _B80:
                h = _mix(h, cp)
            elif cp < _L800:
                h = _mix(h, _BC0 | (cp >> _U6))
                h = _mix(h, _B80 | (cp & _M3F))
            elif cp < _L10000:
                h = _mix(h, _BE0 | (cp >> _U12))
                h = _mix(h, _B80 | ((cp >> _U6) & _M3F))
                h = _mix(h, _B80 | (cp & _M3F))
            else:
                h = _mix(h, _BF0 | (cp >> _U18))
                h = _mix(h, _B80 | ((cp >> _U12) & _M3F))
                h = _mix(h, _B80 | ((cp >> _U6) & _M3F))
                h = _mix(h, _B80 | (cp & _M3F))
        out[i] = h


@numba.njit(cache=True, parallel=True)
def _hash_bytes(data: npt.NDArray[np.uint8], out: UInt64Array) -> None:  # pragma: no cover
    n, width = data.shape
    for i in numba.prange(n):
        length = width
        while length > 0 and data[i, length - 1] == 0:
            length -= 1
        h = _OFFSET
        for j in range(length):
            h = _mix(h, np.uint64(data[i, j]))
        out[i] = h


@numba.njit(cache=True, parallel=True)
def _hash_decimal(values: IntArray, out: UInt64Array) -> None:  # pragma: no cover
    for i in numba.prange(values.shape[0]):
        v = values[i]
        h = _OFFSET
        if v < 0:
            h = _mix(h, _MINUS)
            mag = np.uint64(-(v + 1)) + np.uint64(1)  # |v| without overflow at INT64_MIN
        else:
            mag = np.uint64(v)
        digits = np.empty(20, dtype=np.uint64)
        k = 0
        while True:
            digits[k] = mag % _U10
            mag = mag // _U10
            k += 1
            if mag == 0:
                break
        for j in range(k - 1, -1, -1):
            h = _mix(h, _ZERO + digits[j])
        out[i] = h


def client_hash(client_keys: npt.ArrayLike) -> UInt64Array:
    """64-bit FNV-1a hash of each client id (see the module docstring).

    Parameters
    ----------
    client_keys : array of str, bytes or integers
        One id per client. Object arrays are converted to ``str``.

    Returns
    -------
    ndarray of uint64

    Raises
    ------
    AnalysisError
        Ids of another type (floats, dates, ...).
    """
    keys = np.asarray(client_keys)
    if keys.ndim != 1:
        keys = keys.reshape(-1)
    out = np.empty(keys.shape[0], dtype=np.uint64)
    if keys.shape[0] == 0:
        return out
    if keys.dtype.kind == "O":
        keys = keys.astype(np.str_)
    if keys.dtype.kind == "U":
        width = keys.dtype.itemsize // 4
        cps = np.ascontiguousarray(keys).view(np.uint32).reshape(keys.shape[0], width)
        _hash_utf32(cps, out)
    elif keys.dtype.kind == "S":
        width = keys.dtype.itemsize
        data = np.ascontiguousarray(keys).view(np.uint8).reshape(keys.shape[0], width)
        _hash_bytes(data, out)
    elif keys.dtype.kind in "iu" and keys.dtype != np.bool_:
        if keys.dtype.kind == "u" and keys.max() > np.iinfo(np.int64).max:
            raise AnalysisError("integer client ids must fit in a signed 64-bit integer")
        _hash_decimal(keys.astype(np.int64), out)
    else:
        raise AnalysisError(f"client ids must be strings or integers, not {keys.dtype}")
    return out


def client_folds(client_keys: npt.ArrayLike, n_folds: int = 5) -> IntArray:
    """Cross-validation fold of each client: ``fnv1a64(id) mod n_folds``.

    A deterministic function of the id alone, so that every engine, bucketing
    and ordering of the data puts a client in the same fold.

    Parameters
    ----------
    client_keys : array of str, bytes or integers
    n_folds : int
        Number of folds (at least 2).

    Returns
    -------
    ndarray of int64 in ``0 .. n_folds - 1``

    Examples
    --------
    >>> client_folds(np.array(["C0001", "C0002"]), 5).tolist()
    [3, 0]
    """
    if n_folds < 2:
        raise ConfigurationError("n_folds must be at least 2")
    return (client_hash(client_keys) % np.uint64(n_folds)).astype(np.int64)


__all__ = ["FNV64_OFFSET", "FNV64_PRIME", "client_folds", "client_hash"]
