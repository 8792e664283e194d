"""PHQ-2 and GAD-2 scoring against hand-computed expectations.

methods.md §8: total 0-6, positive screen >= 3, no prorating (both items required).
"""

from __future__ import annotations

import pytest

from twostep.errors import ResponseValidationError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, score_submission

SCREENERS = ["phq2", "gad2"]


def score(instrument_id: str, first: int | None, second: int | None) -> Score:
    return score_submission(get_instrument(instrument_id), {"item_1": first, "item_2": second})


@pytest.mark.parametrize("instrument_id", SCREENERS)
@pytest.mark.parametrize(
    ("first", "second", "total", "case", "band"),
    [
        (0, 0, 0, False, "below the screening cut-off"),
        (1, 0, 1, False, "below the screening cut-off"),
        (1, 1, 2, False, "below the screening cut-off"),
        (0, 2, 2, False, "below the screening cut-off"),
        (2, 1, 3, True, "at or above the screening cut-off"),
        (0, 3, 3, True, "at or above the screening cut-off"),
        (2, 2, 4, True, "at or above the screening cut-off"),
        (3, 3, 6, True, "at or above the screening cut-off"),
    ],
)
def test_total_band_and_screen(
    instrument_id: str, first: int, second: int, total: int, case: bool, band: str
) -> None:
    s = score(instrument_id, first, second)
    assert (s.total, s.case, s.band) == (total, case, band)
    assert not s.prorated
    assert not s.risk


@pytest.mark.parametrize("instrument_id", SCREENERS)
@pytest.mark.parametrize(("first", "second"), [(3, None), (None, 3), (None, None)])
def test_any_missing_item_is_not_scorable(
    instrument_id: str, first: int | None, second: int | None
) -> None:
    s = score(instrument_id, first, second)
    assert s.total is None
    assert s.case is None
    assert not s.prorated
    assert s.reason is not None
    assert "at most 0 missing items" in s.reason


@pytest.mark.parametrize("instrument_id", SCREENERS)
def test_out_of_range_names_the_item(instrument_id: str) -> None:
    with pytest.raises(ResponseValidationError) as info:
        score(instrument_id, 1, 4)
    assert [p.where for p in info.value.problems] == ["item_2"]


@pytest.mark.parametrize("instrument_id", SCREENERS)
def test_screeners_are_not_for_outcome_tracking(instrument_id: str) -> None:
    assert not get_instrument(instrument_id).tracks_outcome


def test_phq2_equals_the_first_two_phq9_items() -> None:
    phq9 = get_instrument("phq9")
    answers = {f"item_{n}": v for n, v in enumerate([2, 3, 0, 0, 0, 0, 0, 0, 0, 0], start=1)}
    assert score_submission(phq9, answers).total == 5
    assert score("phq2", 2, 3).total == 5
