"""Stable client folds: FNV-1a 64 over UTF-8 / decimal ids, vectorised."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.analytics.folds import FNV64_OFFSET, FNV64_PRIME, client_folds, client_hash
from twostep.errors import AnalysisError, ConfigurationError


def reference_hash(key: str | bytes | int) -> int:
    """The documented definition, one id at a time."""
    if isinstance(key, int):
        data = str(key).encode("ascii")
    elif isinstance(key, str):
        data = key.encode("utf-8", "surrogatepass")
    else:
        data = key
    h = FNV64_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV64_PRIME) % 2**64
    return h


@pytest.mark.parametrize(
    ("key", "expected"),
    [("", 0xCBF29CE484222325), ("a", 0xAF63DC4C8601EC8C), ("foobar", 0x85944171F73967E8)],
)
def test_published_fnv1a_64_test_vectors(key: str, expected: int) -> None:
    assert int(client_hash(np.array([key]))[0]) == expected


def test_unicode_ids_hash_their_utf8_bytes() -> None:
    keys = ["C0001", "é", "日本語", "😀x", "a\x00b", "\ud800", "client-42"]
    got = client_hash(np.array(keys))
    assert [int(h) for h in got] == [reference_hash(k) for k in keys]


def test_bytes_and_object_arrays() -> None:
    raw = [b"C0001", b"\xff\x00z"]
    assert [int(h) for h in client_hash(np.array(raw))] == [reference_hash(k) for k in raw]
    obj = np.array(["C0001", "é"], dtype=object)
    assert client_hash(obj).tolist() == client_hash(np.array(["C0001", "é"])).tolist()


def test_integer_ids_hash_like_their_decimal_string() -> None:
    ints = [0, 7, -1, 12, 2**63 - 1, -(2**63)]
    assert [int(h) for h in client_hash(np.array(ints))] == [reference_hash(i) for i in ints]
    assert client_hash(np.array([12], dtype=np.uint8))[0] == client_hash(np.array(["12"]))[0]
    assert client_folds(np.array([12]))[0] == client_folds(np.array(["12"]))[0]


def test_docstring_example_and_determinism() -> None:
    keys = np.array(["C0001", "C0002"])
    assert client_folds(keys, 5).tolist() == [3, 0]
    assert client_folds(keys[::-1], 5).tolist() == [0, 3]


def test_folds_are_balanced() -> None:
    keys = np.char.add("C", np.arange(100_000).astype(str))
    shares = np.bincount(client_folds(keys, 5), minlength=5) / 100_000
    assert np.all(np.abs(shares - 0.2) < 0.01)


def test_two_dimensional_input_is_flattened_and_empty_input_works() -> None:
    assert client_hash(np.array([["a", "b"]])).shape == (2,)
    assert client_folds(np.array([], dtype=str)).shape == (0,)


@pytest.mark.parametrize(
    "keys", [np.array([1.5]), np.array([True]), np.array([2**64 - 1], dtype=np.uint64)]
)
def test_other_id_types_are_rejected(keys: np.ndarray) -> None:
    with pytest.raises(AnalysisError):
        client_hash(keys)


def test_too_few_folds_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        client_folds(np.array(["a"]), 1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=20), st.integers(2, 9))
def test_vectorised_hash_equals_the_definition(keys: list[str], n_folds: int) -> None:
    # numpy strings cannot end in NUL characters: those are not part of the id
    keys = [k.rstrip("\x00") for k in keys]
    got = client_folds(np.array(keys, dtype=str), n_folds)
    assert got.tolist() == [reference_hash(k) % n_folds for k in keys]
