"""ORS and SRS scoring against hand-computed expectations.

methods.md §8, §6.2: four visual-analogue lines scored 0-10 to 0.1, total 0-40, higher is
better. ORS: clinical if total < 25 (adults; adolescents < 28, [UNCERTAIN]). SRS: possible
alliance concern if total < 36 ([UNCERTAIN]). All four lines are required.
"""

from __future__ import annotations

import numpy as np
import pytest

from twostep.errors import ResponseValidationError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, is_case, score_matrix, score_submission

ORS = get_instrument("ors")
SRS = get_instrument("srs")


def score(instrument_id: str, *values: float | None) -> Score:
    ins = get_instrument(instrument_id)
    return score_submission(ins, {f"item_{n}": v for n, v in enumerate(values, start=1)})


@pytest.mark.parametrize(
    ("values", "total", "case"),
    [
        ((0.0, 0.0, 0.0, 0.0), 0.0, True),
        ((5.0, 5.0, 5.0, 4.9), 19.9, True),
        ((6.2, 5.5, 7.1, 6.0), 24.8, True),  # 6.2 + 5.5 + 7.1 + 6.0 = 24.8
        ((6.2, 5.6, 7.1, 6.0), 24.9, True),
        ((6.3, 5.6, 7.1, 6.0), 25.0, False),  # exactly the cut-off is not clinical
        ((6.3, 5.7, 7.1, 6.0), 25.1, False),
        ((10, 10, 10, 10), 40.0, False),  # whole numbers are fine on a line
    ],
)
def test_ors_total_and_clinical_range(values: tuple[float, ...], total: float, case: bool) -> None:
    s = score("ors", *values)
    assert s.total == total
    assert s.case is case
    assert s.band is None


def test_ors_adolescent_cutoff_is_below_28() -> None:
    cut = next(c for c in ORS.cutoffs if c.id == "clinical_adolescent")
    assert is_case(np.array([27.9, 28.0, 28.1]), cut).tolist() == [True, False, False]


def test_ors_sum_of_tenths_is_exact() -> None:
    # 0.1 + 0.2 + 0.3 + 0.4 is 1.0000000000000002 in binary floating point; the total is 1.0
    assert score("ors", 0.1, 0.2, 0.3, 0.4).total == 1.0


@pytest.mark.parametrize(
    ("values", "total", "case"),
    [
        ((9.0, 9.0, 9.0, 8.9), 35.9, True),
        ((9.0, 9.0, 9.0, 9.0), 36.0, False),  # "< 36": 36 itself is not a concern by default
        ((9.1, 9.0, 9.0, 9.0), 36.1, False),
        ((10, 10, 10, 10), 40.0, False),
        ((2.5, 3.5, 4.5, 5.5), 16.0, True),
    ],
)
def test_srs_alliance_concern_below_36(values: tuple[float, ...], total: float, case: bool) -> None:
    s = score("srs", *values)
    assert (s.total, s.case) == (total, case)


@pytest.mark.parametrize("instrument_id", ["ors", "srs"])
@pytest.mark.parametrize("missing", [1, 2, 3, 4])
def test_every_line_is_required(instrument_id: str, missing: int) -> None:
    values: list[float | None] = [8.0, 8.0, 8.0, 8.0]
    values[missing - 1] = None
    s = score(instrument_id, *values)
    assert s.total is None
    assert s.case is None


@pytest.mark.parametrize("instrument_id", ["ors", "srs"])
@pytest.mark.parametrize("bad", [-0.1, 10.1, 11, float("inf")])
def test_out_of_range_line_names_the_item(instrument_id: str, bad: float) -> None:
    with pytest.raises(ResponseValidationError) as info:
        score(instrument_id, 5.0, 5.0, bad, 5.0)
    assert [p.where for p in info.value.problems] == ["item_3"]


def test_matrix_scoring_of_lines() -> None:
    rows = np.array([[6.2, 5.5, 7.1, 6.0], [6.3, 5.6, 7.1, 6.0], [6.3, np.nan, 7.1, 6.0]])
    table = score_matrix(ORS, rows)
    np.testing.assert_array_equal(table.total, [24.8, 25.0, np.nan])
    assert table.case.tolist() == [True, False, False]
