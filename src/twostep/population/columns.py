"""Typed Arrow columns to a validated `LongTable`, without the text round trip.

`twostep.interop.long_format.read_long_arrow` validates any table by turning
every column into text and parsing it with the CSV rules (about 2.5 µs per
row). A population export is typed Parquet, so here each column is checked in
its own type with Arrow compute kernels — the same rules, a tenth of the cost:

* ``client_id``: text (or integers, written in decimal), trimmed, non-empty;
* ``session``: integers ≥ 1, no nulls; ``date``: a date or timestamp type
  (its calendar day); ``score`` and ``item_*``: numbers, null or NaN = missed,
  infinities rejected; ``instrument``, ``therapist_id``, ``site``,
  ``episode_id``: text, trimmed (``instrument`` lower-cased and non-empty).

A table whose columns have other types (dates as text, say) is handed to
`read_long_arrow` unchanged, so the rules never differ, only the speed. The
``row`` of every record is the `ROW` column the engine adds while scanning:
the record's 1-based position in the input (files in path order), so a
problem still names the row to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from twostep.errors import InputFileError, Problem
from twostep.interop.long_format import (
    ITEM_COLUMN,
    KNOWN_COLUMNS,
    MAX_LISTED,
    LongTable,
    read_long_arrow,
)

#: Column the engines add: the record's 1-based row number in the input.
ROW = "__row"
TEXT_COLUMNS = ("instrument", "therapist_id", "site", "episode_id")
_Report = Callable[[str, npt.NDArray[np.bool_], str, str], None]


def wanted_columns(names: list[str], *, allow_extra_columns: bool, source: str) -> list[str]:
    """The input columns the analysis reads; unknown columns are an error unless allowed."""
    items = [c for c in names if ITEM_COLUMN.match(c)]
    unknown = [c for c in names if c not in KNOWN_COLUMNS and c not in items]
    if unknown and not allow_extra_columns:
        raise InputFileError(
            [
                Problem(
                    f"{source}, column {c}",
                    "unknown_column",
                    "not a column of the long score format",
                )
                for c in unknown
            ],
            context=source,
        )
    return [c for c in names if c in KNOWN_COLUMNS or c in items]


def long_table(table: pa.Table, source: str) -> LongTable:
    """Validate one bucket (with its `ROW` column) and return it as a `LongTable`.

    Raises `InputFileError` naming the input, the row and the column of every
    problem (up to 50).
    """
    rows = np.asarray(table.column(ROW).to_numpy(), dtype=np.int64)
    data = table.drop_columns([ROW])
    if not _typed(data.schema):
        # read_long_arrow numbers rows 1..n in memory: give them their input numbers
        try:
            checked = read_long_arrow(data, source=source, allow_extra_columns=True)
        except InputFileError as exc:
            raise InputFileError(
                [_renumber_problem(p, rows) for p in exc.problems], context=source
            ) from None
        return replace(checked, row=rows[checked.row - 1])
    problems: list[Problem] = []
    cols = data.column_names

    def bad(column: str, mask: npt.NDArray[np.bool_], code: str, message: str) -> None:
        for i in np.flatnonzero(mask)[:MAX_LISTED]:
            problems.append(Problem(f"{source}, row {rows[i]}, column {column}", code, message))

    client = _text(data.column("client_id"))
    bad(
        "client_id", _np(pc.equal(pc.utf8_length(client), 0)), "missing_value", "client_id is empty"
    )
    session = None
    if "session" in cols:
        s = data.column("session")
        nulls = _np(pc.is_null(s))
        session = np.asarray(pc.fill_null(s, 0).to_numpy(), dtype=np.int64)
        bad("session", nulls | (session < 1), "out_of_range", "session must be a whole number ≥ 1")
    date = None
    if "date" in cols:
        d = pc.cast(data.column("date"), pa.date32())
        date = np.asarray(d.to_numpy(zero_copy_only=False), dtype="datetime64[D]")
        if session is None:
            bad(
                "date",
                np.isnat(date),
                "missing_value",
                "without a session column every row needs a date",
            )
    score = None
    if "score" in cols:
        score = _numbers(data.column("score"), "score", bad)
    items = {c: _numbers(data.column(c), c, bad) for c in cols if ITEM_COLUMN.match(c)}
    items = dict(sorted(items.items(), key=lambda kv: int(kv[0][5:])))
    text = {c: _text(data.column(c)) for c in TEXT_COLUMNS if c in cols}
    instrument = text.get("instrument")
    if instrument is not None:
        instrument = pc.utf8_lower(instrument)
        bad(
            "instrument",
            _np(pc.equal(pc.utf8_length(instrument), 0)),
            "missing_value",
            "instrument is empty",
        )
    if problems:
        problems.sort(key=lambda p: (int(p.where.split("row ")[1].split(",")[0]), p.where))
        raise InputFileError(problems[:MAX_LISTED], context=source)
    return LongTable(
        source=source,
        row=rows,
        client_id=client,
        session=session,
        date=date,
        instrument=instrument,
        score=score,
        items=items,
        therapist_id=text.get("therapist_id"),
        site=text.get("site"),
        episode_id=text.get("episode_id"),
    )


def _typed(schema: pa.Schema) -> bool:
    """Whether every column has a type the typed path checks."""
    names = set(schema.names)
    if "client_id" not in names or not ({"session", "date"} & names):
        return False  # let the strict reader name what is missing
    if "score" not in names and not any(ITEM_COLUMN.match(c) for c in names):
        return False
    for f in schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if f.name == "client_id":
            ok = _is_text(t) or pa.types.is_integer(t)
        elif f.name == "session":
            ok = pa.types.is_integer(t)
        elif f.name == "date":
            ok = pa.types.is_date(t) or pa.types.is_timestamp(t)
        elif f.name == "score" or ITEM_COLUMN.match(f.name):
            ok = pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_null(t)
        elif f.name in TEXT_COLUMNS:
            ok = _is_text(t) or pa.types.is_null(t)
        elif f.name == "completed_at":
            ok = False  # its consistency with date is checked by the strict reader
        else:
            ok = True
        if not ok:
            return False
    return True


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _text(col: pa.ChunkedArray) -> pa.Array:
    arr = col.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    arr = pc.cast(arr, pa.string())
    return pc.utf8_trim_whitespace(pc.fill_null(arr, ""))


def _numbers(col: pa.ChunkedArray, name: str, bad: _Report) -> npt.NDArray[np.float64]:
    arr = col.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    values = np.asarray(
        pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    ).copy()
    inf = np.isinf(values)
    if inf.any():
        bad(name, inf, "not_a_number", "must be a number or empty (empty = missing)")
    return values


def _np(arr: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _renumber_problem(problem: Problem, rows: npt.NDArray[np.int64]) -> Problem:
    def sub(m: re.Match[str]) -> str:
        k = int(m.group(1))
        return f"row {rows[k - 1]}" if 1 <= k <= rows.shape[0] else m.group(0)

    return Problem(re.sub(r"row (\d+)", sub, problem.where), problem.code, problem.message)
