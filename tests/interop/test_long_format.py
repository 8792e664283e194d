"""Reading and writing the long score format: every CSV rule of the bad-input catalogue.

reliability-security.md §4.2 (#31-#44) and design.md "Scores in". Every error
must name the file, the row (header = row 1) and, for a cell, the column —
and never echo the content of a clinical cell (client ids, free text).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from twostep.errors import InputFileError, Problem
from twostep.interop.long_format import (
    MAX_LISTED,
    neutralise_formulas,
    read_long,
    read_long_arrow,
    write_csv,
)

CANARY = "SECRET-CLIENT-7731"


def write(tmp_path: Path, content: str | bytes, name: str = "scores.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def problems_of(path: Path, **kwargs: bool) -> list[Problem]:
    with pytest.raises(InputFileError) as info:
        read_long(path, **kwargs)
    return list(info.value.problems)


def codes_and_places(problems: list[Problem], path: Path) -> list[tuple[str, str]]:
    """(code, where without the file name) of each problem."""
    out = []
    for p in problems:
        assert p.where.startswith(str(path)), p
        out.append((p.code, p.where[len(str(path)) :].lstrip(", ")))
    return out


# ------------------------------------------------------------------ encoding, dialect


def test_utf8_bom_is_accepted_and_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfclient_id,session,score\nA,1,5\n")
    table = read_long(path)
    assert table.client_id.to_pylist() == ["A"]
    assert table.session is not None
    assert table.session.tolist() == [1]
    assert table.score is not None
    assert table.score.tolist() == [5.0]


def test_latin1_byte_is_invalid_encoding_with_its_row(tmp_path: Path) -> None:
    text = f"client_id,session,score\nA,1,5\n{CANARY}Jos\xe9,2,6\n"
    path = write(tmp_path, text.encode("latin-1"))
    [problem] = problems_of(path)
    assert problem.code == "invalid_encoding"
    assert problem.where == f"{path}, row 3"
    assert "UTF-8" in problem.message
    assert CANARY not in str(problem)


def test_invalid_byte_far_into_the_file_is_found(tmp_path: Path) -> None:
    # past the 64 KiB that are decoded first for the header
    body = b"A,1,5\n" * 20_000
    path = write(tmp_path, b"client_id,session,score\n" + body + b"B\xe9,1,5\n")
    [problem] = problems_of(path)
    assert problem.code == "invalid_encoding"
    assert problem.where == f"{path}, row 20002"


def test_utf16_file_is_invalid_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,5\n".encode("utf-16"))
    [problem] = problems_of(path)
    assert problem.code == "invalid_encoding"


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [("client_id;session;score\nA;1;5\n", "';'"), ("client_id\tsession\tscore\nA\t1\t5\n", "tab")],
)
def test_semicolon_or_tab_header_is_unsupported_dialect(
    tmp_path: Path, header: str, delimiter: str
) -> None:
    path = write(tmp_path, header)
    [problem] = problems_of(path)
    assert problem.code == "unsupported_dialect"
    assert problem.where == f"{path}, row 1"
    assert delimiter in problem.message


def test_crlf_line_endings_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\r\nA,1,5\r\nA,2,6\r\n")
    table = read_long(path)
    assert table.client_id.to_pylist() == ["A", "A"]
    assert table.score is not None
    assert table.score.tolist() == [5.0, 6.0]


# ------------------------------------------------------------------ header


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("session,score\n1,5\n", "client_id"),
        ("client_id,score\nA,5\n", "session or a date"),
        ("client_id,session\nA,1\n", "score column or item columns"),
    ],
)
def test_missing_required_column(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    [problem] = problems_of(path)
    assert problem.code == "missing_column"
    assert problem.where == f"{path}, row 1"
    assert needle in problem.message


def test_all_missing_columns_are_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "therapist_id\nT1\n")
    problems = problems_of(path)
    assert [p.code for p in problems] == ["missing_column"] * 3


def test_date_column_alone_orders_administrations(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,date,score\nA,2025-01-06,5\n")
    table = read_long(path)
    assert table.session is None
    assert table.date is not None
    assert table.date.tolist() == [np.datetime64("2025-01-06")]


def test_item_columns_instead_of_score(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,item_2,item_10,item_1\nA,1,1,,3\n")
    table = read_long(path)
    assert table.score is None
    assert list(table.items) == ["item_1", "item_2", "item_10"]  # numeric order
    assert table.items["item_10"].tolist() == [pytest.approx(np.nan, nan_ok=True)]


def test_require_instrument(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,5\n")
    [problem] = problems_of(path, require_instrument=True)
    assert problem.code == "missing_column"
    assert "instrument" in problem.message


def test_unknown_column_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, f"client_id,session,score,notes\nA,1,5,{CANARY}\n")
    [problem] = problems_of(path)
    assert problem.code == "unknown_column"
    assert problem.where == f"{path}, row 1, column notes"
    assert CANARY not in str(problem)


@pytest.mark.parametrize("column", ["item_01", "item_0", "Score", "item1"])
def test_near_miss_column_names_are_unknown(tmp_path: Path, column: str) -> None:
    path = write(tmp_path, f"client_id,session,score,{column}\nA,1,5,1\n")
    [problem] = problems_of(path)
    assert problem.code == "unknown_column"
    assert problem.where.endswith(f"column {column}")


def test_allow_extra_columns_ignores_unknown_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,notes,session,score\nA,anything,1,5\n")
    table = read_long(path, allow_extra_columns=True)
    assert table.client_id.to_pylist() == ["A"]
    assert table.score is not None
    assert table.score.tolist() == [5.0]


def test_duplicate_column_names(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score,score\nA,1,5,6\n")
    [problem] = problems_of(path)
    assert problem.code == "duplicate_column"
    assert problem.where == f"{path}, row 1"
    assert "'score'" in problem.message


def test_header_cells_are_trimmed(tmp_path: Path) -> None:
    path = write(tmp_path, " client_id , session ,score\nA,1,5\n")
    assert read_long(path).client_id.to_pylist() == ["A"]


# ------------------------------------------------------------------ structure


def test_ragged_rows_are_reported_with_row_numbers_and_no_content(tmp_path: Path) -> None:
    text = f"client_id,session,score\nA,1,5\n{CANARY},2,6,my ex-partner\nA,3\nA,4,7\n"
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as info:
        read_long(path)
    problems = list(info.value.problems)
    assert codes_and_places(problems, path) == [("ragged_row", "row 3"), ("ragged_row", "row 4")]
    assert "expected 3 fields like the header, found 4" in problems[0].message
    assert "found 2" in problems[1].message
    rendered = str(info.value)
    assert CANARY not in rendered
    assert "ex-partner" not in rendered


def test_ragged_row_after_a_quoted_newline_counts_records(tmp_path: Path) -> None:
    path = write(tmp_path, f'client_id,session,score\n"A\nB",1,5\n{CANARY},1,6,7\n')
    [problem] = problems_of(path)
    assert problem.code == "ragged_row"
    assert problem.where == f"{path}, row 3"


def test_quoted_newline_and_comma_are_parsed_as_rfc4180(tmp_path: Path) -> None:
    path = write(tmp_path, 'client_id,session,score\n"A\nB",1,5\n"C, D",1,6\nE,1,7\n')
    table = read_long(path)
    assert table.client_id.to_pylist() == ["A\nB", "C, D", "E"]
    assert table.row.tolist() == [2, 3, 4]
    assert table.score is not None
    assert table.score.tolist() == [5.0, 6.0, 7.0]


def test_unbalanced_quote_inside_the_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, 'client_id,session,score\nA,1,"5\nB,2,3\n')
    problems = problems_of(path)
    assert problems
    assert all("row 2" in p.where for p in problems)


def test_unbalanced_quote_at_end_of_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, 'client_id,session,score\nA,1,5\nB,2,"6\n')
    with pytest.raises(InputFileError):
        read_long(path)


def test_a_blank_line_between_rows_is_reported_with_its_row(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,5\n\nA,2,x\n")
    empty, bad = problems_of(path)
    assert (empty.where, empty.code) == (f"{path}, row 3", "empty_row")
    # rows after the blank line keep their file row numbers
    assert bad.where == f"{path}, row 4, column score"


def test_blank_lines_at_the_end_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,5\nA,2,x\n\n\n")
    [problem] = problems_of(path)
    assert problem.where == f"{path}, row 3, column score"


# ------------------------------------------------------------------ empty input


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"  \n\n", "empty_file"),
        (b"\xef\xbb\xbf", "empty_file"),
        (b"client_id,session,score\n", "empty_import"),
        (b"\xef\xbb\xbfclient_id,session,score\r\n", "empty_import"),
    ],
)
def test_empty_file_or_header_only_is_rejected(tmp_path: Path, content: bytes, code: str) -> None:
    path = write(tmp_path, content)
    [problem] = problems_of(path)
    assert problem.code == code
    assert str(path) in problem.where


def test_header_only_without_final_newline_is_empty_import(tmp_path: Path) -> None:
    path = write(tmp_path, b"client_id,session,score")
    [problem] = problems_of(path)
    assert problem.code == "empty_import"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path / "nope.csv")
    assert problem.code == "not_found"
    [problem] = problems_of(tmp_path)
    assert problem.code == "not_a_file"


# ------------------------------------------------------------------ cells


@pytest.mark.parametrize(
    "cell", ["N/A", "nan", "NaN", '"1,5"', "NA", "-", "null", "inf", "0x10", "5 points"]
)
def test_non_numeric_score_is_an_error_not_a_missing_value(tmp_path: Path, cell: str) -> None:
    path = write(tmp_path, f"client_id,session,score\nA,1,4\nA,2,{cell}\n")
    [problem] = problems_of(path)
    assert problem.code == "not_a_number"
    assert problem.where == f"{path}, row 3, column score"


@pytest.mark.parametrize(("cell", "value"), [("1e1", 10.0), ("+5", 5.0), (".5", 0.5), ("5.", 5.0)])
def test_numeric_spellings_are_accepted(tmp_path: Path, cell: str, value: float) -> None:
    path = write(tmp_path, f"client_id,session,score\nA,1,{cell}\n")
    score = read_long(path).score
    assert score is not None
    assert score.tolist() == [value]


def test_empty_score_is_a_missed_administration(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,19\nA,2,\nA,3,  \nA,4,14\n")
    table = read_long(path)
    assert table.score is not None
    assert np.isnan(table.score).tolist() == [False, True, True, False]
    assert table.session is not None
    assert table.session.tolist() == [1, 2, 3, 4]


def test_whitespace_is_trimmed_in_every_cell(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "client_id,session,date,instrument,score,therapist_id\n"
        "  C001 , 2 , 2025-01-06 , PHQ9 , 7 , T1 \n",
    )
    table = read_long(path)
    assert table.client_id.to_pylist() == ["C001"]
    assert table.session is not None
    assert table.session.tolist() == [2]
    assert table.date is not None
    assert table.date.tolist() == [np.datetime64("2025-01-06")]
    assert table.instrument is not None
    assert table.instrument.to_pylist() == ["phq9"]  # lower-cased
    assert table.score is not None
    assert table.score.tolist() == [7.0]
    assert table.therapist_id is not None
    assert table.therapist_id.to_pylist() == ["T1"]


def test_empty_client_id_and_instrument(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,instrument,score\n,1,phq9,5\n   ,2,phq9,5\nA,3, ,5\n")
    problems = problems_of(path)
    assert codes_and_places(problems, path) == [
        ("missing_value", "row 2, column client_id"),
        ("missing_value", "row 3, column client_id"),
        ("missing_value", "row 4, column instrument"),
    ]


@pytest.mark.parametrize(
    "cell", ["2025-02-30", "03/04/2025", "45748", "2025-3-4", "2025-13-01", "4 March"]
)
def test_invalid_dates(tmp_path: Path, cell: str) -> None:
    path = write(tmp_path, f"client_id,date,score\nA,2025-01-01,4\nA,{cell},5\n")
    [problem] = problems_of(path)
    assert problem.code == "invalid_date"
    assert problem.where == f"{path}, row 3, column date"
    assert "ISO 8601" in problem.message


@pytest.mark.parametrize(
    ("cell", "day"),
    [
        ("2025-03-04T23:30:00-05:00", "2025-03-04"),
        ("2025-03-04T10:00:00+02:00", "2025-03-04"),
        ("2025-03-04T10:00Z", "2025-03-04"),
        ("2024-02-29", "2024-02-29"),
    ],
)
def test_date_time_with_offset_uses_its_date_part(tmp_path: Path, cell: str, day: str) -> None:
    path = write(tmp_path, f"client_id,date,score\nA,{cell},5\n")
    table = read_long(path)
    assert table.date is not None
    assert table.date.tolist() == [np.datetime64(day)]


def test_date_time_keeps_its_instant_in_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,date,score\nA,2025-03-04T23:30:00-05:00,5\nA,2025-03-11,6\n")
    table = read_long(path)
    assert table.instant is not None
    assert str(table.instant[0]) == "2025-03-05T04:30:00"
    assert np.isnat(table.instant[1])


@pytest.mark.parametrize("cell", ["2025-03-04 10:00", "2025-03-04T10:00:00"])
def test_a_time_without_offset_is_refused(tmp_path: Path, cell: str) -> None:
    # catalogue #22/#39: a local time without its UTC offset is ambiguous
    path = write(tmp_path, f"client_id,date,score\nA,{cell},5\n")
    [problem] = problems_of(path)
    assert (problem.where, problem.code) == (f"{path}, row 2, column date", "timezone_required")


def test_empty_date_needs_a_session_column(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,date,score\nA,,5\n")
    [problem] = problems_of(path)
    assert problem.code == "missing_value"
    assert problem.where == f"{path}, row 2, column date"
    # with a session column an empty date is just unknown
    path = write(tmp_path, "client_id,session,date,score\nA,1,,5\n", name="with_session.csv")
    table = read_long(path)
    assert table.date is not None
    assert np.isnat(table.date).tolist() == [True]


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("x", "not_a_whole_number"),
        ("0", "out_of_range"),
        ("-1", "not_a_whole_number"),
        ("2.5", "not_a_whole_number"),
        ("2.0", "not_a_whole_number"),
        ("", "not_a_whole_number"),
    ],
)
def test_invalid_session(tmp_path: Path, cell: str, code: str) -> None:
    path = write(tmp_path, f"client_id,session,score\nA,1,4\nA,{cell},5\n")
    [problem] = problems_of(path)
    assert problem.code == code
    assert problem.where == f"{path}, row 3, column session"
    assert "≥ 1" in problem.message


@pytest.mark.parametrize("cell", ["+1", "99999999999999999999"])
def test_session_cells_that_pass_the_pattern_never_crash(tmp_path: Path, cell: str) -> None:
    path = write(tmp_path, f"client_id,session,score\nA,{cell},5\n")
    problems: list[Problem] = []
    session: list[int] = []
    try:
        table = read_long(path)
        session = [] if table.session is None else table.session.tolist()
    except InputFileError as exc:  # a clean row/column problem is fine too
        problems = list(exc.problems)
    if problems:
        assert problems[0].where == f"{path}, row 2, column session"
    else:
        assert session == [1]


def test_session_with_leading_zero_is_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,01,5\n")
    session = read_long(path).session
    assert session is not None
    assert session.tolist() == [1]


# ------------------------------------------------------------------ reporting


def test_every_problem_names_file_row_and_column_and_no_cell_content(tmp_path: Path) -> None:
    text = (
        "client_id,session,date,instrument,score,item_1\n"
        f"{CANARY},x,2025-02-30,phq9,N/A,abc\n"
        f",1,03/04/2025,,1;5,\n"
        f"{CANARY}-b,0,45748,phq9,{CANARY},\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as info:
        read_long(path)
    problems = info.value.problems
    assert len(problems) == 11
    for p in problems:
        assert p.where.startswith(f"{path}, row ")
        assert ", column " in p.where
        assert CANARY not in p.message
        assert CANARY not in p.where
    assert CANARY not in str(info.value)
    rows = [int(p.where.split("row ")[1].split(",")[0]) for p in problems]
    assert rows == sorted(rows)  # sorted by row
    assert str(path) in str(info.value)  # the context names the file


def test_long_lists_are_capped(tmp_path: Path) -> None:
    text = "client_id,session,score\n" + "".join(f"A,{i},x\n" for i in range(1, 81))
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as info:
        read_long(path)
    assert len(info.value.problems) == MAX_LISTED
    assert "and 40 more" in str(info.value)  # the message shows the first 10


# ------------------------------------------------------------------ Parquet and Arrow


def test_parquet_round_trip_gives_the_same_table_as_csv(tmp_path: Path) -> None:
    csv = write(
        tmp_path,
        "client_id,session,date,instrument,score,therapist_id\n"
        "C1,1,2025-01-06,phq9,19,T1\nC1,2,2025-01-13,phq9,,\nC2,1,2025-01-07,phq9,8,T2\n",
    )
    parquet = tmp_path / "scores.parquet"
    pq.write_table(
        pa.table(
            {
                "client_id": ["C1", "C1", "C2"],
                "session": pa.array([1, 2, 1], pa.int64()),
                "date": pa.array(
                    np.array(["2025-01-06", "2025-01-13", "2025-01-07"], dtype="datetime64[D]")
                ),
                "instrument": pa.array(["phq9", "phq9", "phq9"]).dictionary_encode(),
                "score": pa.array([19.0, None, 8.0]),
                "therapist_id": ["T1", "", "T2"],
            }
        ),
        parquet,
    )
    a, b = read_long(csv), read_long(parquet)
    assert a.client_id.to_pylist() == b.client_id.to_pylist()
    assert a.session is not None
    assert b.session is not None
    assert a.session.tolist() == b.session.tolist()
    assert a.date is not None
    assert b.date is not None
    assert a.date.tolist() == b.date.tolist()
    assert a.score is not None
    assert b.score is not None
    np.testing.assert_array_equal(a.score, b.score)
    assert a.instrument is not None
    assert b.instrument is not None
    assert a.instrument.to_pylist() == b.instrument.to_pylist()
    assert b.source == str(parquet)


def test_parquet_is_validated_like_csv(tmp_path: Path) -> None:
    parquet = tmp_path / "scores.parquet"
    pq.write_table(
        pa.table({"client_id": ["A", ""], "session": [1, 0], "score": [3.0, 2.5]}), parquet
    )
    with pytest.raises(InputFileError) as info:
        read_long(parquet)
    places = codes_and_places(list(info.value.problems), parquet)
    assert places == [
        ("missing_value", "row 3, column client_id"),
        ("out_of_range", "row 3, column session"),
    ]


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = write(tmp_path, b"PAR1 this is not parquet", name="broken.parquet")
    [problem] = problems_of(path)
    assert problem.code == "unreadable_parquet"


def test_read_long_arrow_accepts_typed_columns() -> None:
    table = pa.table(
        {
            "client_id": pa.array(["A", "A", "B"]).dictionary_encode(),
            "session": pa.array([1, 2, 1], pa.int32()),
            "date": pa.array(
                np.array(
                    ["2025-01-06T10:00", "2025-01-13T09:00", "2025-01-06T00:00"],
                    dtype="datetime64[s]",
                )
            ),
            "score": pa.array([12.0, None, 7.0]),
        }
    )
    long = read_long_arrow(table, source="frame")
    assert long.source == "frame"
    assert long.client_id.to_pylist() == ["A", "A", "B"]
    assert long.date is not None
    assert long.date.tolist() == [
        np.datetime64("2025-01-06"),
        np.datetime64("2025-01-13"),
        np.datetime64("2025-01-06"),
    ]
    assert long.score is not None
    np.testing.assert_array_equal(long.score, [12.0, np.nan, 7.0])


def test_read_long_arrow_rejects_an_empty_table() -> None:
    table = pa.table({"client_id": pa.array([], pa.string()), "session": pa.array([], pa.int64())})
    with pytest.raises(InputFileError) as info:
        read_long_arrow(table)
    assert info.value.problems[0].code == "empty_import"


def test_read_long_arrow_rows_are_numbered_from_one() -> None:
    # in memory there is no header row: the second record is row 2
    table = pa.table({"client_id": ["A", "B"], "session": [1, 1], "score": ["3", "many"]})
    with pytest.raises(InputFileError) as info:
        read_long_arrow(table, source="frame")
    assert info.value.problems[0].where == "frame, row 2, column score"


def test_read_long_arrow_float_nan_is_a_missed_administration() -> None:
    table = pa.table(
        {"client_id": ["A", "A"], "session": [1, 2], "score": np.array([12.0, np.nan])}
    )
    long = read_long_arrow(table)
    assert long.score is not None
    assert np.isnan(long.score).tolist() == [False, True]


def test_take_keeps_every_column_aligned(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "client_id,session,date,instrument,score,item_1,therapist_id,site,episode_id\n"
        "A,1,2025-01-01,phq9,5,1,T1,S1,E1\nB,2,2025-01-02,gad7,6,2,T2,S2,E2\n",
    )
    table = read_long(path).take(np.array([1, 0]))
    assert table.client_id.to_pylist() == ["B", "A"]
    assert table.row.tolist() == [3, 2]
    assert table.session is not None
    assert table.session.tolist() == [2, 1]
    assert table.items["item_1"].tolist() == [2.0, 1.0]
    assert table.site is not None
    assert table.site.to_pylist() == ["S2", "S1"]
    assert table.episode_id is not None
    assert table.episode_id.to_pylist() == ["E2", "E1"]
    assert len(table) == 2


# ------------------------------------------------------------------ writing


def test_write_csv_nan_is_an_empty_cell(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(path, {"client_id": ["A", "B"], "score": np.array([1.5, np.nan])})
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert lines == ['"client_id","score"', '"A",1.5', '"B",']


@pytest.mark.parametrize(
    "text", ["=1+1", "+A1", "-2+3", "@SUM(A1)", "\tX", "\rX", '=HYPERLINK("x")']
)
def test_write_csv_neutralises_formulas_in_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "out.csv"
    write_csv(path, {"client_id": [text, "plain"]})
    data = path.read_bytes().decode("utf-8")
    escaped = "'" + text.replace('"', '""')
    assert f'"{escaped}"' in data
    assert '"plain"' in data


def test_write_csv_leaves_numbers_and_harmless_text_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(
        path,
        {
            "change": np.array([-3.0, 2.5]),
            "n": np.array([-1, 4]),
            "flag": np.array([True, False]),
            "text": ["a=b", "x-y"],
            "label": pa.array(["=bad", "good"]).dictionary_encode(),
        },
    )
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert lines[1] == '-3,-1,true,"a=b","\'=bad"'
    assert lines[2] == '2.5,4,false,"x-y","good"'


def test_neutralise_formulas_on_chunked_arrays() -> None:
    out = neutralise_formulas(pa.chunked_array([["=a", None], ["b", "-c"]]))
    assert out.to_pylist() == ["'=a", None, "b", "'-c"]


def test_written_long_format_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    write_csv(
        path,
        {
            "client_id": np.array(["C1", "C1", "C2"]),
            "session": np.array([1, 2, 1]),
            "date": np.array(["2025-01-01", "2025-01-08", "2025-01-02"], dtype="datetime64[D]"),
            "score": np.array([10.0, np.nan, 4.0]),
        },
    )
    table = read_long(path)
    assert table.client_id.to_pylist() == ["C1", "C1", "C2"]
    assert table.score is not None
    np.testing.assert_array_equal(table.score, [10.0, np.nan, 4.0])


def test_completed_at_gives_the_instant_and_must_match_the_date(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "client_id,date,completed_at,instrument,score\n"
        "a,2025-03-04,2025-03-04T10:30:00+00:00,phq9,5\n"
        "a,2025-03-11,,phq9,6\n",
        encoding="utf-8",
    )
    table = read_long(good)
    assert table.instant is not None
    assert table.instant[0] == np.datetime64("2025-03-04T10:30:00")
    assert np.isnat(table.instant[1])

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "client_id,date,completed_at,instrument,score\n"
        "a,2025-03-04,2025-03-05T10:30:00+00:00,phq9,5\n"
        "a,2025-03-11,2025-03-11T10:30:00,phq9,6\n"
        "a,2025-03-18,next tuesday,phq9,6\n",
        encoding="utf-8",
    )
    with pytest.raises(InputFileError) as err:
        read_long(bad)
    assert [(p.where, p.code) for p in err.value.problems] == [
        (f"{bad}, row 2, column completed_at", "inconsistent_value"),
        (f"{bad}, row 3, column completed_at", "timezone_required"),
        (f"{bad}, row 4, column completed_at", "invalid_date"),
    ]
