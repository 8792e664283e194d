"""Kernel tables to Arrow: dictionaries for categories, nulls for NaN, date32 for days."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from twostep.analytics.tables import Table
from twostep.interop.arrow import concat, decode_dictionaries, is_true, to_arrow


def kernel_table() -> Table:
    return Table(
        "t",
        {
            "client_id": np.array([1, 0, -1], dtype=np.int64),
            "status": np.array([0, 2, 1], dtype=np.int8),
            "score": np.array([1.5, np.nan, 3.0]),
            "n": np.array([1, 2, 3], dtype=np.int64),
            "flag": np.array([True, False, True]),
            "date": np.array(["2025-01-01", "NaT", "2025-01-03"], dtype="datetime64[D]"),
        },
        {"client_id": np.array(["A", "B"]), "status": ("ok", "bad", "ugly")},
    )


def test_to_arrow_types() -> None:
    t = to_arrow(kernel_table())
    assert pa.types.is_dictionary(t.schema.field("client_id").type)
    assert pa.types.is_dictionary(t.schema.field("status").type)
    assert t.schema.field("score").type == pa.float64()
    assert t.schema.field("date").type == pa.date32()
    assert t.schema.field("flag").type == pa.bool_()
    assert t.column("client_id").to_pylist() == ["B", "A", None]  # code -1 = missing
    assert t.column("status").to_pylist() == ["ok", "ugly", "bad"]
    assert t.column("score").to_pylist() == [1.5, None, 3.0]  # NaN -> null
    assert t.column("date").null_count == 1


def test_to_arrow_decode_gives_plain_strings() -> None:
    t = to_arrow(kernel_table(), decode=True)
    assert t.schema.field("status").type == pa.string()
    assert t.column("client_id").to_pylist() == ["B", "A", None]


def test_to_arrow_empty_categories() -> None:
    t = to_arrow(Table("t", {"c": np.zeros(0, dtype=np.int8)}, {"c": ()}))
    assert t.num_rows == 0
    assert pa.types.is_dictionary(t.schema.field("c").type)


def test_decode_dictionaries_and_concat_with_different_dictionaries() -> None:
    a = pa.table({"x": pa.array(["p", "q"]).dictionary_encode(), "n": [1, 2]})
    b = pa.table({"x": pa.array(["r"]).dictionary_encode(), "n": [3]})
    assert decode_dictionaries(a).schema.field("x").type == pa.string()
    both = concat([a, b])
    assert both.column("x").to_pylist() == ["p", "q", "r"]
    assert concat([a]) is a


def test_concat_promotes_missing_columns() -> None:
    a = pa.table({"x": ["p"], "extra": [1]})
    b = pa.table({"x": ["q"]})
    both = concat([a, b])
    assert both.column("extra").to_pylist() == [1, None]


@pytest.mark.parametrize("chunked", [False, True])
def test_is_true_treats_null_as_false(chunked: bool) -> None:
    arr = pa.array([True, None, False])
    col = pa.chunked_array([arr]) if chunked else arr
    assert is_true(col).tolist() == [True, False, False]
