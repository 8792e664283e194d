"""PHQ-9 risk routing and prorating against hand-computed expectations (methods.md §8, §9)."""

from __future__ import annotations

import pytest

from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, score_submission

INS = get_instrument("phq9")


def score(*values: int | None) -> Score:
    return score_submission(INS, {f"item_{n}": v for n, v in enumerate(values, start=1)})


@pytest.mark.parametrize(
    ("item9", "risk", "level"), [(0, False, 0), (1, True, 1), (2, True, 2), (3, True, 2)]
)
def test_item9_raises_risk_at_every_value_above_zero(item9: int, risk: bool, level: int) -> None:
    s = score(0, 0, 0, 0, 0, 0, 0, 0, item9)
    assert (s.risk, s.risk_level, s.risk_not_assessed) == (risk, level, False)
    assert s.total == item9  # risk is independent of the total (here far below the cut-off)
    assert s.case is False


def test_missing_item9_is_never_imputed() -> None:
    s = score(3, 3, 3, 3, 3, 3, 3, 3, None)
    assert s.total is None
    assert s.risk_not_assessed
    assert not s.risk
    assert s.reason == "item_9 is missing and is never imputed (risk not assessed)"


def test_one_other_missing_item_is_prorated() -> None:
    # 2+2+2+2+1+1+1+0 = 11 over 8 answered: 11/8 * 9 = 12.375 -> 12
    s = score(2, 2, 2, 2, None, 1, 1, 1, 0)
    assert (s.total, s.band, s.case, s.prorated) == (12, "moderate", True, True)


def test_difficulty_item_is_not_scored() -> None:
    s = score(1, 1, 1, 1, 1, 1, 1, 1, 0, 3)
    assert s.total == 8
