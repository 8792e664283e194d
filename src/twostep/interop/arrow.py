"""Kernel tables to and from Apache Arrow.

Categorical kernel columns (small integer codes + labels) become
dictionary-encoded Arrow columns, so ten million status labels cost one byte
each; NaN floats become nulls; day numbers become ``date32``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from twostep.analytics.tables import Table


def to_arrow(table: Table, *, decode: bool = False) -> pa.Table:
    """Convert a kernel `Table`; ``decode=True`` gives plain string columns instead of dictionaries."""
    arrays: dict[str, pa.Array] = {}
    for name, values in table.columns.items():
        if name in table.categories:
            labels = table.categories[name]
            dictionary = pa.array(
                np.asarray(labels, dtype=str) if len(labels) else [], type=pa.string()
            )
            codes = np.asarray(values)
            mask = codes < 0
            indices = pa.array(codes.astype(np.int32), mask=mask if mask.any() else None)
            arr: pa.Array = pa.DictionaryArray.from_arrays(indices, dictionary)
            if decode:
                arr = arr.cast(pa.string())
        elif values.dtype.kind == "M":
            days = values.astype("datetime64[D]")
            arr = pa.array(days, mask=np.isnat(days), type=pa.date32())
        elif values.dtype.kind == "f":
            nan = np.isnan(values)
            arr = pa.array(values, mask=nan if nan.any() else None)
        else:
            arr = pa.array(values)
        arrays[name] = arr
    return pa.table(arrays)


def decode_dictionaries(table: pa.Table) -> pa.Table:
    """Cast every dictionary column to plain strings (for CSV writers and pandas users)."""
    cols: Mapping[str, pa.ChunkedArray] = {
        n: (c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c)
        for n, c in zip(table.column_names, table.columns, strict=True)
    }
    return pa.table(dict(cols))


def concat(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables whose dictionary columns may have different dictionaries."""
    if len(tables) == 1:
        return tables[0]
    unified = [decode_dictionaries(t) for t in tables]
    return pa.concat_tables(unified, promote_options="default")


def is_true(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    """A boolean Arrow column as a numpy array with nulls as False."""
    return np.asarray(pc.fill_null(column, False).to_numpy(zero_copy_only=False), dtype=bool)
