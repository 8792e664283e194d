"""GAD-7 scoring against hand-computed expectations.

Every expected number is a literal worked out by hand from methods.md §8 (bands 0-4, 5-9,
10-14, 15-21; NHS TT caseness >= 8; screening >= 10; prorate if <= 1 missing, round half
up). The last tests feed deliberately wrong copies of gad7.toml through the same checks
to show that a wrong scoring table cannot pass.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from twostep.errors import ResponseValidationError
from twostep.instruments.model import Instrument
from twostep.instruments.registry import get_instrument, parse_file
from twostep.instruments.scoring import Score, is_case, score_matrix, score_submission

INS = get_instrument("gad7")
GAD7_TEXT = (resources.files("twostep.instruments") / "definitions" / "gad7.toml").read_text(
    encoding="utf-8"
)


def score(*values: int | None, ins: Instrument = INS) -> Score:
    return score_submission(ins, {f"item_{n}": v for n, v in enumerate(values, start=1)})


# (responses, total, band, NHS TT case) — one or more per band, edges included
BAND_CASES = [
    ((0, 0, 0, 0, 0, 0, 0), 0, "minimal", False),
    ((1, 1, 1, 1, 0, 0, 0), 4, "minimal", False),
    ((1, 1, 1, 1, 1, 0, 0), 5, "mild", False),
    ((1, 1, 1, 1, 1, 1, 1), 7, "mild", False),
    ((2, 1, 1, 1, 1, 1, 1), 8, "mild", True),
    ((3, 2, 1, 1, 1, 1, 0), 9, "mild", True),
    ((3, 3, 1, 1, 1, 1, 0), 10, "moderate", True),
    ((2, 2, 2, 2, 2, 2, 2), 14, "moderate", True),
    ((3, 2, 2, 2, 2, 2, 2), 15, "severe", True),
    ((3, 3, 3, 3, 3, 3, 3), 21, "severe", True),
]


def check_bands_and_caseness(ins: Instrument) -> None:
    """The hand-computed expectations, as one reusable check."""
    for responses, total, band, case in BAND_CASES:
        s = score(*responses, ins=ins)
        assert s.total == total
        assert s.band == band, f"total {total}: expected band {band!r}, got {s.band!r}"
        assert s.case is case, f"total {total}: expected case {case}"


def test_bands_and_nhs_tt_caseness() -> None:
    check_bands_and_caseness(INS)


@pytest.mark.parametrize(("responses", "total", "band", "case"), BAND_CASES)
def test_each_band_case(responses: tuple[int, ...], total: int, band: str, case: bool) -> None:
    s = score(*responses)
    assert (s.total, s.band, s.case) == (total, band, case)
    assert s.raw_total == total
    assert not s.prorated
    assert s.n_missing == 0
    assert not s.risk
    assert not s.risk_not_assessed


def test_screening_cutoff_is_ten() -> None:
    screening = next(c for c in INS.cutoffs if c.id == "screening")
    totals = np.array([9.0, 10.0, 11.0, np.nan])
    assert is_case(totals, screening).tolist() == [False, True, True, False]


def test_nhs_caseness_around_eight() -> None:
    caseness = INS.clinical_cutoff
    assert caseness is not None
    assert caseness.id == "nhs_tt_caseness"
    totals = np.array([7.0, 8.0, 9.0])
    assert is_case(totals, caseness).tolist() == [False, True, True]


def test_one_missing_item_is_prorated_half_up() -> None:
    # answered 3+3+3+2+2+2 = 15 over 6 items; 15/6 * 7 = 17.5 -> 18
    s = score(3, 3, 3, 2, 2, 2, None)
    assert s.total == 18
    assert s.prorated
    assert s.n_missing == 1
    assert s.band == "severe"


def test_prorating_rounds_half_up_not_to_even() -> None:
    # 1+1+1+0+0+0 = 3 over 6 answered: 3/6 * 7 = 3.5 -> 4
    # 2+2+2+1+1+1 = 9 over 6 answered: 9/6 * 7 = 10.5 -> 11 (half-to-even would give 10)
    assert score(None, 1, 1, 1, 0, 0, 0).total == 4
    s = score(2, 2, 2, 1, 1, 1, None)
    assert s.total == 11
    assert s.band == "moderate"
    assert s.case is True


def test_prorating_rounds_down_below_half() -> None:
    # 1/6 * 7 = 1.17 -> 1
    assert score(1, 0, 0, 0, 0, 0, None).total == 1
    # 7/6 * 7 = 8.17 -> 8: prorated to exactly the caseness cut-off
    s = score(None, 2, 1, 1, 1, 1, 1)
    assert s.total == 8
    assert s.case is True


def test_two_missing_items_are_not_scorable() -> None:
    s = score(3, 3, 3, 3, 3, None, None)
    assert s.total is None
    assert s.case is None
    assert s.band is None
    assert s.n_missing == 2
    assert s.reason == "2 items missing; GAD-7 allows at most 1 missing item"


def test_all_missing_is_not_scorable() -> None:
    s = score(None, None, None, None, None, None, None)
    assert s.total is None
    assert s.n_missing == 7


def test_no_risk_item() -> None:
    s = score(3, 3, 3, 3, 3, 3, 3)
    assert (s.risk, s.risk_level, s.risk_not_assessed) == (False, 0, False)


@pytest.mark.parametrize("bad", [4, -1, 10])
def test_out_of_range_answer_names_the_item(bad: int) -> None:
    with pytest.raises(ResponseValidationError) as info:
        score(0, 0, bad, 0, 0, 0, 0)
    assert [p.where for p in info.value.problems] == ["item_3"]


def test_matrix_scoring_matches_submissions() -> None:
    rows = np.array(
        [
            [2, 2, 2, 1, 1, 1, np.nan],
            [3, 3, 1, 1, 1, 1, 0],
            [3, 3, 3, 3, 3, np.nan, np.nan],
        ]
    )
    table = score_matrix(INS, rows)
    np.testing.assert_array_equal(table.total, [11.0, 10.0, np.nan])
    assert table.band_labels() == ["moderate", "moderate", None]
    assert table.case.tolist() == [True, True, False]


# --- a wrong scoring table must break the hand-computed checks ----------------------------

GOOD_MILD_MODERATE = 'max = 9\nlabel = "mild"\n\n[[bands]]\nmin = 10\n'
WRONG_MILD_MODERATE = 'max = 10\nlabel = "mild"\n\n[[bands]]\nmin = 11\n'


def test_wrong_band_edge_is_caught() -> None:
    assert GOOD_MILD_MODERATE in GAD7_TEXT
    wrong = parse_file("gad7.toml", GAD7_TEXT.replace(GOOD_MILD_MODERATE, WRONG_MILD_MODERATE))
    assert score(3, 3, 1, 1, 1, 1, 0, ins=wrong).band == "mild"  # total 10 moved to "mild"
    with pytest.raises(AssertionError, match="total 10: expected band 'moderate'"):
        check_bands_and_caseness(wrong)


def test_wrong_caseness_cutoff_is_caught() -> None:
    good = 'id = "nhs_tt_caseness"\nvalue = 8\n'
    assert good in GAD7_TEXT
    wrong = parse_file("gad7.toml", GAD7_TEXT.replace(good, 'id = "nhs_tt_caseness"\nvalue = 10\n'))
    with pytest.raises(AssertionError, match="total 8: expected case True"):
        check_bands_and_caseness(wrong)


def test_shipped_definition_passes_the_same_checks_after_a_round_trip() -> None:
    check_bands_and_caseness(parse_file("gad7.toml", GAD7_TEXT))
