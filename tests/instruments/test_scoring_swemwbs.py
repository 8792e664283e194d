"""SWEMWBS scoring against the Rasch conversion table, typed in by hand.

methods.md §8: 7 items 1-5, raw 7-35 converted to the metric score (Stewart-Brown et al.
2009; table values [UNCERTAIN] until checked against the publication); complete cases only.
"""

from __future__ import annotations

import pytest

from twostep.errors import ResponseValidationError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, score_submission

INS = get_instrument("swemwbs")

# raw total -> metric score, typed from the published table (not read from the catalogue)
TABLE = {
    7: 7.00, 8: 9.51, 9: 11.25, 10: 12.40, 11: 13.33, 12: 14.08, 13: 14.75, 14: 15.32,
    15: 15.84, 16: 16.36, 17: 16.88, 18: 17.43, 19: 17.98, 20: 18.59, 21: 19.25, 22: 19.98,
    23: 20.73, 24: 21.54, 25: 22.35, 26: 23.21, 27: 24.11, 28: 25.03, 29: 26.02, 30: 27.03,
    31: 28.13, 32: 29.31, 33: 30.70, 34: 32.55, 35: 35.00,
}  # fmt: skip


def score(*values: int | None) -> Score:
    return score_submission(INS, {f"item_{n}": v for n, v in enumerate(values, start=1)})


def responses_for(raw: int) -> list[int]:
    """Seven answers 1-5 that add up to ``raw``: fill items with 5 from the first one."""
    extra = raw - 7
    out = []
    for _ in range(7):
        step = min(4, extra)
        out.append(1 + step)
        extra -= step
    return out


@pytest.mark.parametrize(("raw", "metric"), sorted(TABLE.items()))
def test_conversion(raw: int, metric: float) -> None:
    answers = responses_for(raw)
    assert sum(answers) == raw
    s = score(*answers)
    assert s.raw_total == raw
    assert s.total == metric


def test_worked_examples() -> None:
    assert score(3, 3, 3, 3, 3, 3, 3).total == 19.25  # raw 21
    assert score(4, 4, 4, 4, 4, 4, 4).total == 25.03  # raw 28
    assert score(2, 3, 3, 3, 3, 3, 3).total == 18.59  # raw 20
    assert score(5, 5, 5, 5, 5, 5, 4).total == 32.55  # raw 34


@pytest.mark.parametrize("missing", range(1, 8))
def test_any_missing_item_is_not_scorable(missing: int) -> None:
    answers: list[int | None] = [3] * 7
    answers[missing - 1] = None
    s = score(*answers)
    assert s.total is None
    assert s.raw_total is None
    assert s.reason == "1 items missing; SWEMWBS allows at most 0 missing items"


def test_no_cutoff_and_no_bands() -> None:
    s = score(1, 1, 1, 1, 1, 1, 1)
    assert (s.case, s.band) == (None, None)


@pytest.mark.parametrize("bad", [0, 6])
def test_out_of_range_names_the_item(bad: int) -> None:
    with pytest.raises(ResponseValidationError) as info:
        score(3, 3, 3, 3, bad, 3, 3)
    assert [p.where for p in info.value.problems] == ["item_5"]
