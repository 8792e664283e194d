"""ScoreBatch.from_arrays: sorting, grouping, densifying, duplicates and date ordering."""

from __future__ import annotations

import numpy as np
import pytest

from twostep.analytics.batch import NO_DAY, ScoreBatch
from twostep.errors import AnalysisError, ValidationError


def days(*iso: str) -> np.ndarray:
    return np.array(iso, dtype="datetime64[D]")


def test_unsorted_input_is_sorted_by_client_then_session() -> None:
    b = ScoreBatch.from_arrays(["b", "a", "b", "a"], [1, 2, 3, 4], session=[2, 1, 1, 2])
    assert b.client_keys.tolist() == ["a", "b"]
    assert b.offsets.tolist() == [0, 2, 4]
    assert b.session.tolist() == [1, 2, 1, 2]
    assert b.raw.tolist() == [2.0, 4.0, 3.0, 1.0]
    assert b.observed.all()


def test_already_grouped_and_ordered_input_is_not_reordered() -> None:
    # "b" before "a": grouped and ordered, so the input order is kept
    b = ScoreBatch.from_arrays(["b", "b", "a", "a"], [1, 2, 3, 4], session=[1, 2, 1, 2])
    assert b.client_keys.tolist() == ["b", "a"]
    assert b.raw.tolist() == [1.0, 2.0, 3.0, 4.0]
    ints = ScoreBatch.from_arrays([9, 9, 2], [5, 6, 7], session=[1, 2, 1])
    assert ints.client_keys.tolist() == [9, 2]
    assert ints.raw.tolist() == [5.0, 6.0, 7.0]


def test_client_split_across_two_runs_is_regrouped() -> None:
    b = ScoreBatch.from_arrays(["a", "a", "b", "a"], [1, 2, 3, 4], session=[1, 2, 1, 3])
    assert b.client_keys.tolist() == ["a", "b"]
    assert b.offsets.tolist() == [0, 3, 4]
    assert b.session.tolist() == [1, 2, 3, 1]
    assert b.raw.tolist() == [1.0, 2.0, 4.0, 3.0]


def test_grouped_but_out_of_order_sessions_are_sorted() -> None:
    b = ScoreBatch.from_arrays(["a", "a", "a"], [1, 2, 3], session=[3, 1, 2])
    assert b.session.tolist() == [1, 2, 3]
    assert b.raw.tolist() == [2.0, 3.0, 1.0]


def test_gaps_are_densified_with_unobserved_rows() -> None:
    b = ScoreBatch.from_arrays(
        ["a", "a", "b", "b"],
        [10, 7, 5, 4],
        session=[1, 4, 2, 3],
        date=days("2025-01-01", "2025-01-22", "2025-02-01", "2025-02-08"),
    )
    assert b.offsets.tolist() == [0, 4, 6]
    assert b.session.tolist() == [1, 2, 3, 4, 2, 3]
    assert b.observed.tolist() == [True, False, False, True, True, True]
    np.testing.assert_array_equal(b.raw, [10, np.nan, np.nan, 7, 5, 4])
    assert b.day[1] == NO_DAY
    assert b.day[2] == NO_DAY
    assert b.day[0] == days("2025-01-01").astype(np.int64)[0]
    assert b.lengths.tolist() == [4, 2]
    assert b.client_index.tolist() == [0, 0, 0, 0, 1, 1]
    assert b.has_dates


def test_densify_can_be_turned_off() -> None:
    b = ScoreBatch.from_arrays(["a", "a"], [10, 7], session=[1, 4], densify=False)
    assert b.session.tolist() == [1, 4]
    assert b.n_rows == 2


def test_missed_scores_keep_their_place() -> None:
    b = ScoreBatch.from_arrays(["a", "a", "a"], [10, np.nan, 7], session=[1, 2, 3])
    assert b.observed.all()
    assert np.isnan(b.raw[1])


def test_duplicate_client_session_is_an_error() -> None:
    with pytest.raises(ValidationError) as info:
        ScoreBatch.from_arrays(["a", "b", "a"], [1, 2, 3], session=[1, 1, 1])
    [problem] = info.value.problems
    assert problem.code == "duplicate"
    assert "session 1" in problem.where


def test_session_below_one_is_an_error() -> None:
    with pytest.raises(ValidationError) as info:
        ScoreBatch.from_arrays(["a", "a"], [1, 2], session=[1, 0])
    assert info.value.problems[0].code == "out_of_range"
    assert info.value.problems[0].where == "row 2"


def test_neither_session_nor_date() -> None:
    with pytest.raises(ValidationError) as info:
        ScoreBatch.from_arrays(["a"], [1])
    assert info.value.problems[0].code == "missing_column"


def test_date_only_orders_by_date_within_each_client() -> None:
    b = ScoreBatch.from_arrays(
        ["a", "b", "a", "a"],
        [3, 9, 12, 8],
        date=days("2025-01-15", "2024-12-01", "2025-01-01", "2025-01-08"),
    )
    assert b.client_keys.tolist() == ["a", "b"]
    assert b.session.tolist() == [1, 2, 3, 1]
    assert b.raw.tolist() == [12.0, 8.0, 3.0, 9.0]
    assert np.all(np.diff(b.day[:3]) > 0)


def test_date_strings_are_accepted() -> None:
    b = ScoreBatch.from_arrays(["a", "a"], [3, 9], date=["2025-01-08", "2025-01-01"])
    assert b.raw.tolist() == [9.0, 3.0]


def test_invalid_date_strings() -> None:
    with pytest.raises(ValidationError) as info:
        ScoreBatch.from_arrays(["a"], [3], date=["03/04/2025"])
    assert info.value.problems[0].code == "invalid_date"


def test_same_day_without_session_is_ambiguous() -> None:
    with pytest.raises(ValidationError) as info:
        ScoreBatch.from_arrays(
            ["a", "b", "a"], [1, 2, 3], date=days("2025-01-01", "2025-01-01", "2025-01-01")
        )
    [problem] = info.value.problems
    assert problem.code == "ambiguous_order"
    # two clients on the same day are fine
    b = ScoreBatch.from_arrays(["a", "b"], [1, 2], date=days("2025-01-01", "2025-01-01"))
    assert b.session.tolist() == [1, 1]


def test_same_day_is_fine_with_a_session_column() -> None:
    b = ScoreBatch.from_arrays(
        ["a", "a"], [1, 2], session=[2, 1], date=days("2025-01-01", "2025-01-01")
    )
    assert b.raw.tolist() == [2.0, 1.0]


def test_missing_date_without_session() -> None:
    with pytest.raises(ValidationError) as info:
        ScoreBatch.from_arrays(["a", "a"], [1, 2], date=days("2025-01-01", "NaT"))
    assert info.value.problems[0].code == "missing_value"


def test_no_dates_means_no_day() -> None:
    b = ScoreBatch.from_arrays(["a"], [1], session=[1])
    assert b.day.tolist() == [NO_DAY]
    assert not b.has_dates


def test_take_clients_in_the_given_order() -> None:
    b = ScoreBatch.from_arrays(
        ["a", "a", "b", "c", "c", "c"], [1, 2, 3, 4, 5, 6], session=[1, 2, 1, 1, 2, 3]
    )
    t = b.take_clients([2, 0])
    assert t.client_keys.tolist() == ["c", "a"]
    assert t.offsets.tolist() == [0, 3, 5]
    assert t.raw.tolist() == [4.0, 5.0, 6.0, 1.0, 2.0]
    assert t.session.tolist() == [1, 2, 3, 1, 2]
    empty = b.take_clients(np.zeros(0, dtype=np.int64))
    assert empty.n_clients == 0
    assert empty.n_rows == 0


def test_empty_input() -> None:
    b = ScoreBatch.from_arrays(
        np.array([], dtype=str), np.array([]), session=np.array([], dtype=int)
    )
    assert b.n_clients == 0
    assert b.offsets.tolist() == [0]


def test_length_mismatch_is_an_analysis_error() -> None:
    with pytest.raises(AnalysisError):
        ScoreBatch.from_arrays(["a", "b"], [1.0])
    with pytest.raises(AnalysisError):
        ScoreBatch.from_arrays(["a", "b"], [1.0, 2.0], session=[1])


def test_constructor_checks_offsets() -> None:
    with pytest.raises(AnalysisError):
        ScoreBatch(
            client_keys=np.array(["a"]),
            offsets=np.array([0, 3]),
            session=np.array([1, 2]),
            day=np.array([NO_DAY, NO_DAY]),
            raw=np.array([1.0, 2.0]),
            observed=np.array([True, True]),
        )


def test_large_shuffled_batch_matches_a_lexsort() -> None:
    rng = np.random.default_rng(3)
    n_clients, per = 200, 6
    client = np.repeat(np.arange(n_clients), per).astype(str)
    session = np.tile(np.arange(1, per + 1), n_clients)
    score = rng.integers(0, 28, client.size).astype(float)
    perm = rng.permutation(client.size)
    b = ScoreBatch.from_arrays(client[perm], score[perm], session=session[perm])
    order = np.lexsort((session, client))
    np.testing.assert_array_equal(b.raw, score[order])
    np.testing.assert_array_equal(b.session, session[order])
    assert np.all(b.lengths == per)
