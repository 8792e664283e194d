"""WAI-SR scoring against hand-computed expectations.

methods.md §6.1: 12 items 1-5, total 12-60 (sum), subscales Task (1, 2, 10, 12), Goal
(4, 6, 8, 11), Bond (3, 5, 7, 9) of 4-20, each prorated with <= 1 missing; the total is
prorated with <= 3 missing and <= 1 per subscale (twostep rules). No cut-off, no bands.
"""

from __future__ import annotations

import pytest

from twostep.errors import ResponseValidationError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, score_submission

INS = get_instrument("wai_sr")


def score(values: dict[int, int | None], default: int) -> Score:
    answers: dict[str, object] = {f"item_{n}": default for n in range(1, 13)}
    answers.update({f"item_{n}": v for n, v in values.items()})
    return score_submission(INS, answers)


def test_complete_profile() -> None:
    # Task 1,2,10,12 = 5,4,5,4 -> 18; Goal 4,6,8,11 = 3,3,4,3 -> 13; Bond 3,5,7,9 = 2,2,2,1 -> 7
    s = score({1: 5, 2: 4, 10: 5, 12: 4, 4: 3, 6: 3, 8: 4, 11: 3, 3: 2, 5: 2, 7: 2, 9: 1}, 0)
    assert dict(s.subscales) == {"task": 18, "goal": 13, "bond": 7}
    assert s.total == 38
    assert s.item_mean == pytest.approx(38 / 12)
    assert s.case is None
    assert s.band is None


def test_range_ends() -> None:
    low, high = score({}, 1), score({}, 5)
    assert (low.total, high.total) == (12, 60)
    assert dict(low.subscales) == {"task": 4, "goal": 4, "bond": 4}
    assert dict(high.subscales) == {"task": 20, "goal": 20, "bond": 20}
    assert (low.item_mean, high.item_mean) == (1.0, 5.0)


def test_one_missing_item_prorates_its_subscale() -> None:
    # Task: item 1 missing, items 2, 10, 12 = 4, 5, 4 -> 13/3 * 4 = 17.33 -> 17
    # total: 13 + 8 * 3 = 37 over 11: 37/11 * 12 = 40.36 -> 40
    s = score({1: None, 2: 4, 10: 5, 12: 4}, 3)
    assert s.subscales["task"] == 17
    assert s.subscales["goal"] == 12
    assert s.subscales["bond"] == 12
    assert s.total == 40
    assert s.prorated


def test_three_missing_one_per_subscale_prorate_everything() -> None:
    # missing 1 (Task), 4 (Goal), 3 (Bond)
    # Task 2, 10, 12 = 4, 5, 4 -> 13 -> 13/3 * 4 = 17.33 -> 17
    # Goal 6, 8, 11 = 3, 3, 4 -> 10 -> 10/3 * 4 = 13.33 -> 13
    # Bond 5, 7, 9 = 5, 4, 5 -> 14 -> 14/3 * 4 = 18.67 -> 19
    # total 13 + 10 + 14 = 37 over 9: 37/9 * 12 = 49.33 -> 49
    s = score(
        {1: None, 4: None, 3: None, 2: 4, 10: 5, 12: 4, 6: 3, 8: 3, 11: 4, 5: 5, 7: 4, 9: 5}, 0
    )
    assert dict(s.subscales) == {"task": 17, "goal": 13, "bond": 19}
    assert s.total == 49
    assert s.n_missing == 3


def test_two_missing_in_one_subscale() -> None:
    s = score({1: None, 2: None}, 4)
    assert s.subscales["task"] is None
    assert s.subscales["goal"] == 16
    assert s.subscales["bond"] == 16
    assert s.total is None
    assert s.reason == "a subscale has more than 1 missing item"


def test_four_missing_are_not_scorable() -> None:
    s = score({1: None, 4: None, 3: None, 2: None}, 4)
    assert s.total is None
    assert s.reason == "4 items missing; WAI-SR allows at most 3 missing items"


@pytest.mark.parametrize("bad", [0, 6])
def test_out_of_range_names_the_item(bad: int) -> None:
    with pytest.raises(ResponseValidationError) as info:
        score({7: bad}, 3)
    assert [p.where for p in info.value.problems] == ["item_7"]
