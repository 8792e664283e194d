"""Engagement check scoring against hand-computed expectations.

methods.md §12: five items 0-3, scored as the mean item score (two decimals) because the
Groundhog Day rule uses "engagement-check mean >= 1.5"; the mean of the answered items is
used if at most 1 item is missing (twostep rule). No cut-off, bands or risk items.
"""

from __future__ import annotations

import pytest

from twostep.errors import ResponseValidationError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, score_submission

INS = get_instrument("engagement")


def score(*values: int | None) -> Score:
    return score_submission(INS, {f"item_{n}": v for n, v in enumerate(values, start=1)})


@pytest.mark.parametrize(
    ("responses", "mean"),
    [
        ((0, 0, 0, 0, 0), 0.0),
        ((1, 1, 2, 2, 1), 1.4),  # 7/5
        ((2, 1, 2, 1, 2), 1.6),  # 8/5
        ((0, 1, 2, 3, 3), 1.8),  # 9/5
        ((3, 3, 3, 3, 3), 3.0),
    ],
)
def test_mean_of_five(responses: tuple[int, ...], mean: float) -> None:
    s = score(*responses)
    assert s.total == mean
    assert not s.prorated
    assert (s.case, s.band, s.risk) == (None, None, False)


@pytest.mark.parametrize(
    ("responses", "mean"),
    [
        ((1, 2, 1, 2, None), 1.5),  # 6/4: exactly the Groundhog Day threshold
        ((None, 1, 1, 1, 2), 1.25),  # 5/4
        ((0, None, 0, 0, 1), 0.25),  # 1/4
        ((3, 3, None, 3, 2), 2.75),  # 11/4
    ],
)
def test_one_missing_item_uses_the_mean_of_the_rest(
    responses: tuple[int | None, ...], mean: float
) -> None:
    s = score(*responses)
    assert (s.total, s.prorated, s.n_missing) == (mean, True, 1)


def test_two_missing_items_are_not_scorable() -> None:
    s = score(3, 3, 3, None, None)
    assert s.total is None
    assert s.reason == "2 items missing; Engagement check allows at most 1 missing item"


@pytest.mark.parametrize("bad", [-1, 4])
def test_out_of_range_names_the_item(bad: int) -> None:
    with pytest.raises(ResponseValidationError) as info:
        score(0, 0, 0, bad, 0)
    assert [p.where for p in info.value.problems] == ["item_4"]
