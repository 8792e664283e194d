"""Read and write the long score format (design.md "Scores in").

One row per administration: ``client_id``, ``session`` and/or ``date``,
``instrument`` (optional when given on the command line), and either
``score`` (the total; empty = missed administration) or item columns
``item_1`` … ``item_n``. Optional: ``completed_at`` (the instant, with its
UTC offset, as ``twostep export scores`` writes it), ``therapist_id``,
``site``, ``episode_id``.

Reading is strict, because a silently misread clinical file is worse than an
error: every rule that a row breaks is reported with the file, the row (the
header is row 1) and the column, and nothing is returned until the whole file
is valid. The rules:

* UTF-8 (a byte-order mark is accepted); comma-separated, RFC 4180 quoting;
* the header names only known columns (unknown ones are an error unless
  ``allow_extra_columns``); required columns are present;
* every row has as many fields as the header;
* ``client_id`` non-empty; ``session`` a whole number ≥ 1; ``date`` ISO 8601
  (``YYYY-MM-DD``, or a date-time whose date part is used);
* ``score`` and item cells are numbers or empty (whitespace is trimmed;
  ``N/A``, ``nan`` and the like are errors, not missing values).

Range checks against an instrument and duplicate administrations are checked
where the instrument is known (`twostep.interop.batches`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from twostep.errors import InputFileError, Problem

KNOWN_COLUMNS = (
    "client_id",
    "session",
    "date",
    "completed_at",
    "instrument",
    "score",
    "therapist_id",
    "site",
    "episode_id",
)
ITEM_COLUMN = re.compile(r"^item_[1-9][0-9]*$")
NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
WHOLE = r"^[0-9]{1,9}$"  # whole numbers up to 999,999,999 (no sign)
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
MAX_LISTED = 50


@dataclass(frozen=True)
class LongTable:
    """A validated long-format table; ``row`` gives each record's row number in the file."""

    source: str
    row: npt.NDArray[np.int64]
    client_id: pa.Array
    session: npt.NDArray[np.int64] | None
    date: npt.NDArray[np.datetime64] | None
    instrument: pa.Array | None
    score: npt.NDArray[np.float64] | None
    items: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    instant: npt.NDArray[np.datetime64] | None = None  # UTC, where the date cell had a time
    therapist_id: pa.Array | None = None
    site: pa.Array | None = None
    episode_id: pa.Array | None = None

    def __len__(self) -> int:
        return int(self.row.shape[0])

    def take(self, index: npt.NDArray[np.int64]) -> LongTable:
        """The rows at ``index`` (in that order)."""
        idx = pa.array(index)

        def arr(a: pa.Array | None) -> pa.Array | None:
            return None if a is None else a.take(idx)

        return LongTable(
            source=self.source,
            row=self.row[index],
            client_id=self.client_id.take(idx),
            session=None if self.session is None else self.session[index],
            date=None if self.date is None else self.date[index],
            instant=None if self.instant is None else self.instant[index],
            instrument=arr(self.instrument),
            score=None if self.score is None else self.score[index],
            items={k: v[index] for k, v in self.items.items()},
            therapist_id=arr(self.therapist_id),
            site=arr(self.site),
            episode_id=arr(self.episode_id),
        )


def read_long(
    path: str | Path, *, allow_extra_columns: bool = False, require_instrument: bool = False
) -> LongTable:
    """Read a long-format CSV or Parquet file, validating every row.

    Raises `InputFileError` naming the file, the rows and the columns of every
    broken rule (up to 50 listed).
    """
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise InputFileError([Problem(name, "not_found", "file does not exist")])
    if not p.is_file():
        raise InputFileError([Problem(name, "not_a_file", "is not a regular file")])
    table = _read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else _read_csv(p)
    return _validate(table, name, allow_extra_columns, require_instrument)


def _read_csv(path: Path) -> pa.Table:
    name = str(path)
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    # blank lines at the end are harmless; blank lines between rows are reported
    data = data.rstrip(b"\r\n \t") + b"\n"
    if not data.strip():
        raise InputFileError([Problem(name, "empty_file", "the file is empty")])
    try:
        text_head = data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data[:65536]) - 4:
            raise _encoding_error(name, data, exc.start) from None
        text_head = data[: exc.start].decode("utf-8")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _encoding_error(name, data, exc.start) from None
    header = text_head.splitlines()[0] if text_head.splitlines() else ""
    if ";" in header and "," not in header:
        raise InputFileError(
            [
                Problem(
                    f"{name}, row 1",
                    "unsupported_dialect",
                    "the header is separated by ';' — twostep reads comma-separated files",
                )
            ]
        )
    if "\t" in header and "," not in header:
        raise InputFileError(
            [
                Problem(
                    f"{name}, row 1",
                    "unsupported_dialect",
                    "the header is tab-separated; use commas",
                )
            ]
        )
    if data.count(b'"') % 2:
        last = data.rfind(b'"')
        line = data.count(b"\n", 0, last) + 1
        raise InputFileError(
            [
                Problem(
                    f"{name}, row {line}",
                    "unbalanced_quote",
                    "a quoted field is never closed",
                )
            ]
        )
    columns = [c.strip() for c in next(iter(_csv_rows(header)), [])]
    if not any(columns):
        raise InputFileError([Problem(f"{name}, row 1", "missing_header", "no header row")])
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise InputFileError(
            [
                Problem(f"{name}, row 1", "duplicate_column", f"column {c!r} appears twice")
                for c in dupes
            ]
        )
    if b"\n" not in data.rstrip(b"\r\n"):
        raise InputFileError([Problem(name, "empty_import", "the file has a header but no rows")])
    bad_rows: list[tuple[int | None, int, int, bool]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        # only whether the row is blank is kept from its text, never its content
        bad_rows.append(
            (row.number, row.expected_columns, row.actual_columns, not row.text.strip())
        )
        return "skip"

    def parse(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=threads, column_names=columns, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                delimiter=",",
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
                check_utf8=True,
            ),
        )

    try:
        table = parse(True)
        if bad_rows:
            bad_rows.clear()
            parse(False)
    except pa.ArrowInvalid as exc:
        raise InputFileError([Problem(name, "unreadable_csv", _safe_arrow_message(exc))]) from None
    if bad_rows:
        raise InputFileError(
            [
                Problem(
                    f"{name}, row {num if num is not None else '?'}",
                    "empty_row" if blank else "ragged_row",
                    "the row is empty"
                    if blank
                    else f"expected {exp} fields like the header, found {act}",
                )
                for num, exp, act, blank in bad_rows[:MAX_LISTED]
            ],
            context=name,
        )
    if table.num_rows == 0:
        raise InputFileError([Problem(name, "empty_import", "the file has a header but no rows")])
    return table


def _csv_rows(line: str) -> list[list[str]]:
    import csv

    return list(csv.reader([line]))


def _safe_arrow_message(exc: Exception) -> str:
    """Arrow's message without any row content (it may hold clinical data)."""
    text = str(exc).split(":")[0]
    return f"the file is not valid CSV ({text.strip()})"


def _encoding_error(name: str, data: bytes, offset: int) -> InputFileError:
    line = data.count(b"\n", 0, offset) + 1
    return InputFileError(
        [
            Problem(
                f"{name}, row {line}",
                "invalid_encoding",
                f"byte {offset} is not valid UTF-8; save the file as UTF-8",
            )
        ]
    )


def _read_parquet(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(
            [
                Problem(
                    str(path),
                    "unreadable_parquet",
                    f"not a readable Parquet file ({type(exc).__name__})",
                )
            ]
        ) from None
    return _as_text_table(table, str(path))


def read_long_arrow(
    table: pa.Table, *, source: str = "<data>", allow_extra_columns: bool = False
) -> LongTable:
    """Validate an in-memory Arrow table (pandas and polars frames convert to one) like a file.

    Rows are numbered from 1 (there is no header row in memory); a float NaN is a
    missing value, like an empty cell.
    """
    return _validate(_as_text_table(table, source), source, allow_extra_columns, False, first_row=1)


def _as_text_table(table: pa.Table, name: str) -> pa.Table:
    if table.num_rows == 0:
        raise InputFileError([Problem(name, "empty_import", "the data have no rows")])
    # validate through the same rules as CSV: every column as text
    cols = {}
    for fld in table.schema:
        col = table.column(fld.name).combine_chunks()
        if pa.types.is_timestamp(fld.type) or pa.types.is_date(fld.type):
            col = pc.strftime(col, format="%Y-%m-%d")
        elif pa.types.is_dictionary(fld.type):
            col = col.dictionary_decode()
        elif pa.types.is_floating(fld.type):
            col = pc.if_else(pc.is_nan(col), pa.scalar(None, fld.type), col)
        col = pc.cast(col, pa.string())
        cols[fld.name] = pc.fill_null(col, "")
    return pa.table(cols)


def _problem_rows(
    name: str,
    column: str,
    mask: npt.NDArray[np.bool_],
    row: npt.NDArray[np.int64],
    code: str,
    message: str,
) -> list[Problem]:
    idx = np.flatnonzero(mask)
    return [
        Problem(f"{name}, row {row[i]}, column {column}", code, message) for i in idx[:MAX_LISTED]
    ]


def _validate(
    table: pa.Table, name: str, allow_extra: bool, require_instrument: bool, *, first_row: int = 2
) -> LongTable:
    cols = list(table.column_names)
    problems: list[Problem] = []
    item_cols = sorted((c for c in cols if ITEM_COLUMN.match(c)), key=lambda c: int(c[5:]))
    unknown = [c for c in cols if c not in KNOWN_COLUMNS and c not in item_cols]
    if unknown and not allow_extra:
        problems += [
            Problem(
                f"{name}, row 1, column {c}",
                "unknown_column",
                "not a column of the long score format",
            )
            for c in unknown
        ]
    if "client_id" not in cols:
        problems.append(
            Problem(f"{name}, row 1", "missing_column", "required column client_id is missing")
        )
    if "session" not in cols and "date" not in cols:
        problems.append(
            Problem(f"{name}, row 1", "missing_column", "need a session or a date column")
        )
    if "score" not in cols and not item_cols:
        problems.append(
            Problem(
                f"{name}, row 1",
                "missing_column",
                "need a score column or item columns item_1 … item_n",
            )
        )
    if require_instrument and "instrument" not in cols:
        problems.append(
            Problem(
                f"{name}, row 1", "missing_column", "no instrument column and no --instrument given"
            )
        )
    if problems:
        raise InputFileError(problems, context=name)

    n = table.num_rows
    row = np.arange(first_row, n + first_row, dtype=np.int64)

    def text(col: str) -> pa.Array:
        return pc.utf8_trim_whitespace(table.column(col).combine_chunks())

    blank = np.ones(n, dtype=bool)
    for c in cols:
        blank &= _np_bool(pc.equal(pc.utf8_length(text(c)), 0))
    if blank.any():
        problems += [
            Problem(f"{name}, row {row[i]}", "empty_row", "the row is empty")
            for i in np.flatnonzero(blank)[:MAX_LISTED]
        ]
        # an empty row breaks no other rule: report it once
        table = table.filter(pa.array(~blank))
        row = row[~blank]
        n = table.num_rows

    client = text("client_id")
    problems += _problem_rows(
        name,
        "client_id",
        _np_bool(pc.equal(pc.utf8_length(client), 0)),
        row,
        "missing_value",
        "client_id is empty",
    )

    session = None
    if "session" in cols:
        s = text("session")
        ok = _np_bool(pc.match_substring_regex(s, WHOLE))
        problems += _problem_rows(
            name, "session", ~ok, row, "not_a_whole_number", "session must be a whole number ≥ 1"
        )
        session = np.zeros(n, dtype=np.int64)
        if ok.any():
            vals = pc.cast(pc.if_else(pa.array(ok), s, "0"), pa.int64()).to_numpy()
            session = np.asarray(vals, dtype=np.int64)
            problems += _problem_rows(
                name,
                "session",
                ok & (session < 1),
                row,
                "out_of_range",
                "session must be a whole number ≥ 1",
            )

    date = None
    instant = None
    if "date" in cols:
        d = text("date")
        empty = _np_bool(pc.equal(pc.utf8_length(d), 0))
        shaped = _np_bool(pc.match_substring_regex(d, ISO_DATE))
        head = pc.utf8_slice_codeunits(d, 0, 10)
        parsed = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls impossible dates over (2025-02-30 -> 2025-03-02): compare back
        roundtrip = pc.strftime(parsed, format="%Y-%m-%d")
        real = _np_bool(pc.equal(roundtrip, head))
        bad = ~empty & ~(shaped & real)
        problems += _problem_rows(
            name,
            "date",
            bad,
            row,
            "invalid_date",
            "dates must be ISO 8601 (YYYY-MM-DD), e.g. 2025-03-04",
        )
        if "session" not in cols:
            problems += _problem_rows(
                name,
                "date",
                empty,
                row,
                "missing_value",
                "without a session column every row needs a date",
            )
        date = np.asarray(
            pc.cast(parsed, pa.date32()).to_numpy(zero_copy_only=False), dtype="datetime64[D]"
        )
        instant, probs = _instants(d, shaped & real, name, row)
        problems += probs
    if "completed_at" in cols:
        instant, probs = _completed_at(text("completed_at"), date, name, row)
        problems += probs

    score = None
    if "score" in cols:
        score, probs = _numbers(text("score"), name, "score", row)
        problems += probs
    items: dict[str, npt.NDArray[np.float64]] = {}
    for c in item_cols:
        items[c], probs = _numbers(text(c), name, c, row)
        problems += probs

    instrument = None
    if "instrument" in cols:
        instrument = pc.utf8_lower(text("instrument"))
        problems += _problem_rows(
            name,
            "instrument",
            _np_bool(pc.equal(pc.utf8_length(instrument), 0)),
            row,
            "missing_value",
            "instrument is empty",
        )
    if problems:
        raise InputFileError(sorted(problems, key=_row_order), context=name)
    return LongTable(
        source=name,
        row=row,
        client_id=client,
        session=session,
        date=date,
        instant=instant,
        instrument=instrument,
        score=score,
        items=items,
        therapist_id=text("therapist_id") if "therapist_id" in cols else None,
        site=text("site") if "site" in cols else None,
        episode_id=text("episode_id") if "episode_id" in cols else None,
    )


def _completed_at(
    cells: pa.Array,
    date: npt.NDArray[np.datetime64] | None,
    name: str,
    row: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.datetime64], list[Problem]]:
    """The optional ``completed_at`` column (as written by ``twostep export scores``).

    A date-time with its UTC offset; empty cells fall back to ``date``. Where a
    ``date`` is given too it must be the UTC calendar day of ``completed_at``.
    """
    empty = _np_bool(pc.equal(pc.utf8_length(cells), 0))
    shaped = _np_bool(pc.match_substring_regex(cells, ISO_DATE)) & (
        np.asarray(pc.utf8_length(cells).to_numpy(zero_copy_only=False)) > 10
    )
    problems = _problem_rows(
        name,
        "completed_at",
        ~empty & ~shaped,
        row,
        "invalid_date",
        "completed_at must be an ISO 8601 date-time with its UTC offset, "
        "e.g. 2025-03-04T10:30:00+00:00",
    )
    instant, probs = _instants(cells, shaped, name, row, column="completed_at")
    problems += probs
    if date is not None:
        day = instant.astype("datetime64[D]")
        both = ~np.isnat(day) & ~np.isnat(date)
        problems += _problem_rows(
            name,
            "completed_at",
            both & (day != date),
            row,
            "inconsistent_value",
            "the UTC day of completed_at differs from date",
        )
    return instant, problems


def _instants(
    cells: pa.Array,
    valid: npt.NDArray[np.bool_],
    name: str,
    row: npt.NDArray[np.int64],
    *,
    column: str = "date",
) -> tuple[npt.NDArray[np.datetime64], list[Problem]]:
    """UTC instants of date cells that carry a time; a time must carry its UTC offset."""
    text = pc.replace_substring(cells, " ", "T")
    has_time = valid & (np.asarray(pc.utf8_length(text).to_numpy(zero_copy_only=False)) > 10)
    out = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[s]")
    if not has_time.any():
        return out, []
    parsed = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    short = pc.strptime(text, format="%Y-%m-%dT%H:%M%z", unit="s", error_is_null=True)
    both = pc.coalesce(parsed, short)
    ok = ~_np_bool(pc.is_null(both))
    values = np.asarray(
        pc.cast(both, pa.timestamp("s")).to_numpy(zero_copy_only=False), dtype="datetime64[s]"
    )
    out[has_time & ok] = values[has_time & ok]
    problems = _problem_rows(
        name,
        column,
        has_time & ~ok,
        row,
        "timezone_required",
        "a date with a time needs its UTC offset, e.g. 2025-03-04T10:30:00+01:00",
    )
    return out, problems


def _row_order(problem: Problem) -> tuple[int, str]:
    """Sort problems by row number, then by place."""
    match = re.search(r"row (\d+)", problem.where)
    return (int(match.group(1)) if match else 0, problem.where)


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _numbers(
    values: pa.Array, name: str, column: str, row: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], list[Problem]]:
    empty = _np_bool(pc.equal(pc.utf8_length(values), 0))
    numeric = _np_bool(pc.match_substring_regex(values, NUMBER))
    bad = ~empty & ~numeric
    problems = _problem_rows(
        name, column, bad, row, "not_a_number", "must be a number or empty (empty = missing)"
    )
    out = np.full(values.shape[0] if hasattr(values, "shape") else len(values), np.nan)
    if numeric.any():
        vals = pc.cast(pc.if_else(pa.array(numeric), values, "nan"), pa.float64()).to_numpy(
            zero_copy_only=False
        )
        out = np.where(numeric, vals, np.nan)
    return out, problems


def write_csv(
    path: Path, columns: Mapping[str, Sequence[object] | npt.NDArray[np.generic] | pa.Array]
) -> None:
    """Write ``columns`` as a UTF-8 CSV; text cells that a spreadsheet would run as a
    formula (leading ``= + - @``, tab or carriage return) get a leading apostrophe.
    """
    arrays: dict[str, pa.Array] = {}
    for key, values in columns.items():
        if isinstance(values, pa.Array | pa.ChunkedArray):
            arr = values
        else:
            # from_pandas: NaN becomes an empty cell, not the text "nan"
            arr = pa.array(values, from_pandas=True)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(pa.string())
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            arr = neutralise_formulas(arr)
        arrays[key] = arr
    pacsv.write_csv(pa.table(arrays), str(path))


def neutralise_formulas(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Prefix ``'`` to text that starts like a spreadsheet formula (OWASP ASVS 1.2.10)."""
    risky = pc.match_substring_regex(values, r"^[=+\-@\t\r]")
    return pc.if_else(risky, pc.binary_join_element_wise("'", values, ""), values)
