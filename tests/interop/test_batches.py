"""From a validated long table to kernel batches: the rules that need the instrument."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twostep.analytics.scale import Scale
from twostep.errors import InputFileError, Problem, UnknownInstrumentError
from twostep.instruments.registry import default_catalogue
from twostep.interop.batches import InstrumentBatch, split_by_instrument
from twostep.interop.long_format import read_long

CAT = default_catalogue()
PHQ9_ITEMS = ",".join(f"item_{i}" for i in range(1, 10))


def write(tmp_path: Path, text: str, name: str = "scores.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def split(path: Path, **kwargs: object) -> list[InstrumentBatch]:
    return split_by_instrument(read_long(path), CAT, **kwargs)  # type: ignore[arg-type]


def problems(path: Path, **kwargs: object) -> list[Problem]:
    with pytest.raises(InputFileError) as info:
        split(path, **kwargs)
    return list(info.value.problems)


# ------------------------------------------------------------------ instruments


def test_instrument_from_the_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,12\nA,2,9\n")
    [part] = split(path, instrument="phq9")
    assert part.instrument_id == "phq9"
    assert part.n_input_rows == 2
    assert part.batch.raw.tolist() == [12.0, 9.0]


def test_no_instrument_anywhere(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,12\n")
    [problem] = problems(path)
    assert problem.code == "missing_column"
    assert problem.where == f"{path}, row 1"


def test_unknown_instrument_in_the_file_names_first_row_and_count(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "client_id,session,instrument,score\nA,1,phq9,3\nA,1,bdi,12\nA,2,bdi,12\nB,1,xyz,1\n",
    )
    found = problems(path)
    assert [(p.code, p.where) for p in found] == [
        ("unknown_instrument", f"{path}, row 3, column instrument"),
        ("unknown_instrument", f"{path}, row 5, column instrument"),
    ]
    assert "'bdi'" in found[0].message
    assert "(2 rows)" in found[0].message
    assert "phq9" in found[0].message  # lists the known ids


def test_unknown_instrument_on_the_command_line() -> None:
    with pytest.raises(UnknownInstrumentError):
        CAT.get("bdi")


def test_unknown_instrument_given_as_option(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,12\n")
    with pytest.raises(UnknownInstrumentError, match="bdi"):
        split(path, instrument="bdi")


def test_instrument_filter_picks_rows_and_ignores_other_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "client_id,session,instrument,score\nA,1,phq9,12\nA,1,gad7,9\nA,2,bdi,40\nA,2,phq9,8\n",
    )
    [part] = split(path, instrument="gad7")
    assert part.instrument_id == "gad7"
    assert part.batch.raw.tolist() == [9.0]
    assert part.n_input_rows == 1


def test_instrument_filter_without_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,instrument,score\nA,1,phq9,12\n")
    [problem] = problems(path, instrument="gad7")
    assert problem.code == "no_rows"
    assert "gad7" in problem.message


def test_instrument_ids_are_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,instrument,score\nA,1,PHQ9,12\nA,2,Phq9,8\n")
    [part] = split(path)
    assert part.instrument_id == "phq9"


def test_mixed_file_gives_one_batch_per_instrument_sorted_by_id(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "client_id,session,instrument,score\nA,1,phq9,12\nA,1,gad7,9\nA,2,phq9,8\nA,2,gad7,7\n",
    )
    parts = split(path)
    assert [p.instrument_id for p in parts] == ["gad7", "phq9"]
    assert parts[0].batch.raw.tolist() == [9.0, 7.0]
    assert parts[1].batch.raw.tolist() == [12.0, 8.0]


# ------------------------------------------------------------------ score range


def test_score_outside_the_instrument_range(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,28\nA,2,-1\nA,3,27\nA,4,0\n")
    found = problems(path, instrument="phq9")
    assert [(p.code, p.where) for p in found] == [
        ("out_of_range", f"{path}, row 2, column score"),
        ("out_of_range", f"{path}, row 3, column score"),
    ]
    assert "28 is outside the PHQ-9 range 0–27" in found[0].message


def test_fractional_phq9_total(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,12.5\nA,2,12.0\n")
    [problem] = problems(path, instrument="phq9")
    assert problem.code == "not_a_whole_number"
    assert problem.where == f"{path}, row 2, column score"
    assert "12.5" in problem.message


def test_decimal_total_is_fine_on_a_line_scale(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,12.5\nA,2,31.2\n")
    [part] = split(path, instrument="ors")
    assert part.batch.raw.tolist() == [12.5, 31.2]


def test_range_of_a_custom_scale(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,63\nA,2,64\nA,3,1.5\n")
    bdi = Scale.custom(name="BDI-II", minimum=0, maximum=63, higher_is_better=False, rc=7)
    found = problems(path, custom=bdi)
    assert [(p.code, p.where) for p in found] == [
        ("out_of_range", f"{path}, row 3, column score"),
        ("not_a_whole_number", f"{path}, row 4, column score"),
    ]
    assert "BDI-II" in found[0].message


def test_custom_scale_takes_every_row(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,instrument,score\nA,1,bdi,30\nA,2,whatever,20\n")
    bdi = Scale.custom(
        name="BDI-II", minimum=0, maximum=63, higher_is_better=False, rc=7, instrument_id="bdi2"
    )
    [part] = split(path, custom=bdi)
    assert part.instrument_id == "bdi2"
    assert part.batch.raw.tolist() == [30.0, 20.0]


# ------------------------------------------------------------------ duplicates


def test_duplicate_session_names_both_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,12\nB,1,4\nA,2,3\nA,1,13\n")
    [problem] = problems(path, instrument="phq9")
    assert problem.code == "duplicate"
    assert problem.where == f"{path}, rows 2 and 5"
    assert "session" in problem.message


def test_duplicate_date_without_session(tmp_path: Path) -> None:
    path = write(
        tmp_path, "client_id,date,score\nA,2025-01-08,12\nA,2025-01-01,4\nA,2025-01-08,3\n"
    )
    [problem] = problems(path, instrument="phq9")
    assert problem.code == "duplicate"
    assert problem.where == f"{path}, rows 2 and 4"
    assert "date" in problem.message


def test_same_session_on_two_instruments_is_not_a_duplicate(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,instrument,score\nA,1,phq9,12\nA,1,gad7,9\n")
    assert len(split(path)) == 2


def test_duplicate_message_does_not_echo_the_client_id(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nSECRET-7731,1,12\nSECRET-7731,1,13\n")
    [problem] = problems(path, instrument="phq9")
    assert "SECRET-7731" not in str(problem)


# ------------------------------------------------------------------ items


def test_items_are_scored_with_prorating_and_never_imputed_item_9(tmp_path: Path) -> None:
    text = (
        f"client_id,session,{PHQ9_ITEMS}\n"
        "A,1,1,1,1,1,1,1,1,1,0\n"  # complete: 8
        "A,2,2,2,2,2,2,2,2,,0\n"  # item 8 missing: 14 / 8 x 9 = 15.75 -> 16
        "A,3,1,1,1,1,1,1,1,1,\n"  # item 9 missing: never imputed -> not scorable
        "A,4,,,,,,,,,\n"  # nothing answered: missed
        "A,5,3,3,3,3,3,3,3,3,3\n"
    )
    path = write(tmp_path, text)
    [part] = split(path, instrument="phq9")
    np.testing.assert_array_equal(part.batch.raw, [8.0, 16.0, np.nan, np.nan, 27.0])
    assert part.batch.observed.all()


def test_score_next_to_items_must_match_them(tmp_path: Path) -> None:
    text = (
        f"client_id,session,{PHQ9_ITEMS},score\n"
        "A,1,1,1,1,1,1,1,1,1,0,8\n"  # matches
        "A,2,2,2,2,2,2,2,2,,0,16\n"  # matches the prorated total
        "A,3,,,,,,,,,,7\n"  # score only: taken as given
        "A,4,1,1,1,1,1,1,1,1,1,12\n"  # items score 9
    )
    path = write(tmp_path, text)
    [problem] = problems(path, instrument="phq9")
    assert problem.code == "score_mismatch"
    assert problem.where == f"{path}, row 5, column score"
    assert "12" in problem.message
    assert "9" in problem.message
    # the same file without the bad row is fine
    path = write(tmp_path, "\n".join(text.splitlines()[:-1]) + "\n", name="ok.csv")
    [part] = split(path, instrument="phq9")
    assert part.batch.raw.tolist() == [8.0, 16.0, 7.0]


def test_invalid_item_answer_names_row_and_item(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"client_id,session,{PHQ9_ITEMS}\nA,1,1,1,4,1,1,1,1,1,0\nA,2,1,1,1,1,1,1,1,1,0.5\n",
    )
    found = problems(path, instrument="phq9")
    assert [p.code for p in found] == ["not_an_allowed_answer"] * 2
    wheres = sorted(p.where for p in found)
    assert wheres == [f"{path}, row 2, column item_3", f"{path}, row 3, column item_9"]
    assert "allowed answers are 0, 1, 2, 3" in found[0].message


def test_items_need_a_catalogue_instrument(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,item_1\nA,1,3\n")
    custom = Scale.custom(name="X", minimum=0, maximum=3, higher_is_better=False, rc=1)
    [problem] = problems(path, custom=custom)
    assert problem.code == "items_need_instrument"


def test_mixed_file_items_of_another_instrument_must_be_empty(tmp_path: Path) -> None:
    header = f"client_id,session,instrument,{PHQ9_ITEMS}\n"
    rows = "A,1,phq9,1,1,1,1,1,1,1,1,0\nA,1,gad7,1,1,1,1,1,1,1,,\n"
    path = write(tmp_path, header + rows)
    parts = {p.instrument_id: p for p in split(path)}
    assert parts["phq9"].batch.raw.tolist() == [8.0]
    assert parts["gad7"].batch.raw.tolist() == [7.0]

    path = write(
        tmp_path,
        header + rows + "A,2,gad7,1,1,1,1,1,1,1,2,\nA,3,gad7,0,0,0,0,0,0,0,1,\n",
        name="bad.csv",
    )
    [problem] = problems(path)
    assert problem.code == "unknown_item"
    assert problem.where == f"{path}, row 4, column item_8"
    assert "GAD-7 has no item item_8 (2 rows)" in problem.message


# ------------------------------------------------------------------ batches


def test_rows_are_grouped_sorted_and_densified(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "client_id,session,score,therapist_id\nB,3,10,T2\nA,2,5,T1\nB,1,12,\nA,1,4,T1\nB,2,11,T3\n",
    )
    [part] = split(path, instrument="phq9")
    b = part.batch
    # clients in sorted id order whatever the input order, each client's rows by session
    assert b.client_keys.tolist() == ["A", "B"]
    assert b.offsets.tolist() == [0, 2, 5]
    assert b.session.tolist() == [1, 2, 1, 2, 3]
    assert b.raw.tolist() == [4.0, 5.0, 12.0, 11.0, 10.0]
    assert part.therapist_id is not None
    # the first non-empty therapist of each client, in file order
    assert part.therapist_id.tolist() == ["T1", "T2"]


def test_gaps_in_sessions_become_missed_administrations(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,12\nA,4,10\n")
    [part] = split(path, instrument="phq9")
    b = part.batch
    assert b.session.tolist() == [1, 2, 3, 4]
    assert b.observed.tolist() == [True, False, False, True]
    assert np.isnan(b.raw).tolist() == [False, True, True, False]
    assert part.n_input_rows == 2


def test_date_only_file_is_ordered_by_date(tmp_path: Path) -> None:
    path = write(
        tmp_path, "client_id,date,score\nA,2025-01-15,3\nA,2025-01-01,12\nA,2025-01-08,8\n"
    )
    [part] = split(path, instrument="phq9")
    assert part.batch.session.tolist() == [1, 2, 3]
    assert part.batch.raw.tolist() == [12.0, 8.0, 3.0]
    assert part.batch.day.tolist() == [
        int(np.datetime64(d, "D").astype(np.int64))
        for d in ("2025-01-01", "2025-01-08", "2025-01-15")
    ]


def test_therapist_is_the_first_non_empty_value(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score,therapist_id\nB,1,12,\nB,2,11,T3\n")
    [part] = split(path, instrument="phq9")
    assert part.therapist_id is not None
    assert part.therapist_id.tolist() == ["T3"]
