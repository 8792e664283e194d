"""CORE-10 scoring against hand-computed expectations.

methods.md §8: 10 items 0-4, items 2 and 3 reverse-scored (v' = 4 - v; the choice of items
is [UNCERTAIN]), total 0-40, clinical >= 11, bands 0-5 / 6-10 / 11-14 / 15-19 / 20-24 / 25-40,
prorate if <= 1 item missing, item 6 is the risk item and never imputed (methods.md §9).
The hand sums below write items 2 and 3 as their reverse-keyed contribution.
"""

from __future__ import annotations

import pytest

from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, score_submission

INS = get_instrument("core10")


def score(*values: int | None) -> Score:
    return score_submission(INS, {f"item_{n}": v for n, v in enumerate(values, start=1)})


@pytest.mark.parametrize(
    ("responses", "total", "band", "case"),
    [
        # 0 + (4-4) + (4-4) + 0 ... = 0
        ((0, 4, 4, 0, 0, 0, 0, 0, 0, 0), 0, "healthy", False),
        # 3 + 0 + 0 + 0 + 2 = 5
        ((3, 4, 4, 0, 2, 0, 0, 0, 0, 0), 5, "healthy", False),
        # 0 + 0 + (4-3=1) + 0 + 0 + 0 + 2 + 2 + 1 + 0 = 6
        ((0, 4, 3, 0, 0, 0, 2, 2, 1, 0), 6, "low", False),
        # every item 0: items 2 and 3 contribute 4 each = 8
        ((0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 8, "low", False),
        # 2 + (4-2=2) + (4-4=0) + 1 + 1 + 0 + 1 + 1 + 1 + 1 = 10
        ((2, 2, 4, 1, 1, 0, 1, 1, 1, 1), 10, "low", False),
        # as above with item 10 = 2: 11
        ((2, 2, 4, 1, 1, 0, 1, 1, 1, 2), 11, "mild", True),
        # 2 + 2 + 2 + 1 + 1 + 0 + 2 + 2 + 1 + 1 = 14
        ((2, 2, 2, 1, 1, 0, 2, 2, 1, 1), 14, "mild", True),
        # 2 + 2 + 2 + 1 + 1 + 0 + 2 + 2 + 2 + 1 = 15
        ((2, 2, 2, 1, 1, 0, 2, 2, 2, 1), 15, "moderate", True),
        # 3 + (4-1=3) + 2 + 2 + 2 + 0 + 2 + 2 + 2 + 1 = 19
        ((3, 1, 2, 2, 2, 0, 2, 2, 2, 1), 19, "moderate", True),
        # as above with item 10 = 2: 20
        ((3, 1, 2, 2, 2, 0, 2, 2, 2, 2), 20, "moderately severe", True),
        # 3 + (4-0=4) + (4-1=3) + 3 + 3 + 0 + 3 + 2 + 2 + 1 = 24
        ((3, 0, 1, 3, 3, 0, 3, 2, 2, 1), 24, "moderately severe", True),
        # as above with item 10 = 2: 25
        ((3, 0, 1, 3, 3, 0, 3, 2, 2, 2), 25, "severe", True),
        # 4 + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 4 = 40
        ((4, 0, 0, 4, 4, 4, 4, 4, 4, 4), 40, "severe", True),
    ],
)
def test_bands_and_caseness(responses: tuple[int, ...], total: int, band: str, case: bool) -> None:
    s = score(*responses)
    assert (s.total, s.band, s.case) == (total, band, case)
    assert not s.prorated


def test_reverse_keyed_items_mirror() -> None:
    base = score(1, 0, 1, 1, 1, 0, 1, 1, 1, 1)  # 1 + 4 + 3 + 1 + 1 + 0 + 1 + 1 + 1 + 1 = 14
    assert base.total == 14
    assert score(1, 4, 1, 1, 1, 0, 1, 1, 1, 1).total == 10  # item 2: 0 -> 4 lowers by 4
    assert score(1, 0, 3, 1, 1, 0, 1, 1, 1, 1).total == 12  # item 3: 1 -> 3 lowers by 2
    assert score(3, 0, 1, 1, 1, 0, 1, 1, 1, 1).total == 16  # item 1 is not reversed


def test_item_mean_uses_reverse_keyed_values() -> None:
    s = score(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert s.item_mean == 0.8  # (4 + 4) / 10


@pytest.mark.parametrize(
    ("responses", "total", "band"),
    [
        # item 10 missing; 2 + 0 + 0 + 1 + 1 + 0 + 2 + 1 + 2 = 9 over 9: 9/9 * 10 = 10
        ((2, 4, 4, 1, 1, 0, 2, 1, 2, None), 10, "low"),
        # 2 + 2 + 2 + 1 + 1 + 0 + 2 + 2 + 1 = 13 over 9: 13/9 * 10 = 14.44 -> 14
        ((2, 2, 2, 1, 1, 0, 2, 2, 1, None), 14, "mild"),
        # 2 + 2 + 2 + 1 + 1 + 0 + 2 + 2 + 2 = 14 over 9: 14/9 * 10 = 15.56 -> 16
        ((2, 2, 2, 1, 1, 0, 2, 2, 2, None), 16, "moderate"),
        # reverse item 2 missing; 2 + (4-2=2) + 1 + 1 + 0 + 2 + 2 + 2 + 1 = 13: -> 14
        ((2, None, 2, 1, 1, 0, 2, 2, 2, 1), 14, "mild"),
    ],
)
def test_one_missing_item_is_prorated(
    responses: tuple[int | None, ...], total: int, band: str
) -> None:
    s = score(*responses)
    assert (s.total, s.band, s.prorated, s.n_missing) == (total, band, True, 1)


def test_two_missing_items_are_not_scorable() -> None:
    s = score(2, 2, 2, 1, 1, 0, 2, 2, None, None)
    assert s.total is None
    assert s.reason == "2 items missing; CORE-10 allows at most 1 missing item"


def test_missing_risk_item_is_never_imputed() -> None:
    s = score(2, 2, 2, 1, 1, None, 2, 2, 2, 1)
    assert s.total is None
    assert s.risk_not_assessed
    assert not s.risk
    assert s.risk_level == 0
    assert s.reason == "item_6 is missing and is never imputed (risk not assessed)"


@pytest.mark.parametrize(
    ("item6", "risk", "level"),
    [(0, False, 0), (1, True, 1), (2, True, 2), (3, True, 2), (4, True, 2)],
)
def test_risk_item_raises_its_flag_at_every_value_above_zero(
    item6: int, risk: bool, level: int
) -> None:
    # otherwise a "healthy" profile: risk is independent of the total
    s = score(0, 4, 4, 0, 0, item6, 0, 0, 0, 0)
    assert s.total == item6
    assert (s.risk, s.risk_level, s.risk_not_assessed) == (risk, level, False)


def test_risk_with_another_item_missing_is_still_raised() -> None:
    # 0 + 0 + 0 + 0 + 2 + 0 + 0 + 0 + 0 = 2 over 9: 2/9 * 10 = 2.22 -> 2
    s = score(None, 4, 4, 0, 0, 2, 0, 0, 0, 0)
    assert (s.total, s.prorated) == (2, True)
    assert (s.risk, s.risk_level) == (True, 2)
