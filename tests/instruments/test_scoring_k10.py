"""K10 scoring against hand-computed expectations.

methods.md §8: 10 items 1-5, total 10-50, bands 10-15 low, 16-21 moderate, 22-29 high,
30-50 very high (Andrews & Slade 2001); default cut-off >= 16 (twostep choice); prorate if
<= 1 item missing (twostep rule).
"""

from __future__ import annotations

import pytest

from twostep.errors import ResponseValidationError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, score_submission

INS = get_instrument("k10")


def score(*values: int | None) -> Score:
    return score_submission(INS, {f"item_{n}": v for n, v in enumerate(values, start=1)})


@pytest.mark.parametrize(
    ("responses", "total", "band", "case"),
    [
        ((1, 1, 1, 1, 1, 1, 1, 1, 1, 1), 10, "low", False),
        ((2, 2, 2, 2, 2, 1, 1, 1, 1, 1), 15, "low", False),
        ((2, 2, 2, 2, 2, 2, 1, 1, 1, 1), 16, "moderate", True),
        ((3, 2, 2, 2, 2, 2, 2, 2, 2, 2), 21, "moderate", True),
        ((3, 3, 2, 2, 2, 2, 2, 2, 2, 2), 22, "high", True),
        ((3, 3, 3, 3, 3, 3, 3, 3, 3, 2), 29, "high", True),
        ((3, 3, 3, 3, 3, 3, 3, 3, 3, 3), 30, "very high", True),
        ((5, 5, 5, 5, 5, 5, 5, 5, 5, 5), 50, "very high", True),
    ],
)
def test_bands_and_caseness(responses: tuple[int, ...], total: int, band: str, case: bool) -> None:
    s = score(*responses)
    assert (s.total, s.band, s.case) == (total, band, case)


@pytest.mark.parametrize(
    ("responses", "total", "band", "case"),
    [
        # 2 + 3 + 1*7 = 12 over 9: 12/9 * 10 = 13.33 -> 13
        ((None, 2, 3, 1, 1, 1, 1, 1, 1, 1), 13, "low", False),
        # 2 + 3 + 2 + 1*6 = 13 over 9: 13/9 * 10 = 14.44 -> 14
        ((None, 2, 3, 2, 1, 1, 1, 1, 1, 1), 14, "low", False),
        # 2 + 3 + 2 + 2 + 1*5 = 14 over 9: 14/9 * 10 = 15.56 -> 16 (prorating crosses the cut-off)
        ((None, 2, 3, 2, 2, 1, 1, 1, 1, 1), 16, "moderate", True),
        # 2*9 = 18 over 9: 18/9 * 10 = 20
        ((2, 2, 2, 2, 2, 2, 2, 2, 2, None), 20, "moderate", True),
        # 3*9 = 27 -> 30
        ((3, 3, 3, 3, None, 3, 3, 3, 3, 3), 30, "very high", True),
    ],
)
def test_one_missing_item_is_prorated(
    responses: tuple[int | None, ...], total: int, band: str, case: bool
) -> None:
    s = score(*responses)
    assert (s.total, s.band, s.case, s.prorated) == (total, band, case, True)


def test_two_missing_items_are_not_scorable() -> None:
    s = score(None, None, 3, 3, 3, 3, 3, 3, 3, 3)
    assert s.total is None
    assert s.reason == "2 items missing; K10 allows at most 1 missing item"


@pytest.mark.parametrize("bad", [0, 6])
def test_out_of_range_names_the_item(bad: int) -> None:
    with pytest.raises(ResponseValidationError) as info:
        score(1, 1, 1, 1, 1, 1, 1, 1, 1, bad)
    assert [p.where for p in info.value.problems] == ["item_10"]


def test_no_risk_item() -> None:
    s = score(5, 5, 5, 5, 5, 5, 5, 5, 5, 5)
    assert (s.risk, s.risk_not_assessed) == (False, False)
