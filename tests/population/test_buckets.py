"""Client hash buckets: a fixed function of the (trimmed) id, equal to the fold hash."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from twostep.analytics.folds import client_hash
from twostep.errors import ConfigurationError
from twostep.population.buckets import bucket_of, default_buckets, id_hash


def test_id_hash_is_fnv1a_of_the_utf8_bytes() -> None:
    ids = ["C0001", "", "ß-ü-東京", "x" * 300]
    expected = []
    for s in ids:
        h = 0xCBF29CE484222325
        for b in s.encode():
            h = ((h ^ b) * 0x100000001B3) % 2**64
        expected.append(h)
    assert id_hash(pa.array(ids)).tolist() == expected
    assert id_hash(pa.array(ids)).tolist() == client_hash(np.array(ids)).tolist()


def test_ids_are_trimmed_and_integers_hash_as_decimal_text() -> None:
    a = id_hash(pa.array(["  C1", "C1 ", "C1"]))
    assert len(set(a.tolist())) == 1
    assert id_hash(pa.array([12, -3])).tolist() == id_hash(pa.array(["12", "-3"])).tolist()


def test_buckets_do_not_depend_on_batching_or_slicing() -> None:
    ids = pa.array([f"C{i:07d}" for i in range(5000)])
    whole = bucket_of(ids, 7)
    pieces = np.concatenate([bucket_of(ids.slice(i, 999), 7) for i in range(0, 5000, 999)])
    assert whole.tolist() == pieces.tolist()
    assert whole.min() >= 0
    assert whole.max() == 6
    # roughly balanced: every bucket within 20 % of the mean
    counts = np.bincount(whole, minlength=7)
    assert (np.abs(counts - 5000 / 7) < 0.2 * 5000 / 7).all()
    # the high half of the hash: buckets are not the folds (h mod 5) in disguise
    assert not np.array_equal(bucket_of(ids, 5), (client_hash(np.asarray(ids)) % 5).astype(int))


def test_bucket_count_must_be_positive_and_defaults_scale_with_size() -> None:
    with pytest.raises(ConfigurationError):
        bucket_of(pa.array(["a"]), 0)
    assert default_buckets(10, 2) == 4
    assert default_buckets(10_000_000, 2) == 20
