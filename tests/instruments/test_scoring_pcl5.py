"""PCL-5 scoring against hand-computed expectations.

methods.md §8: 20 items 0-4, total 0-80, clusters B (1-5), C (6-7), D (8-14), E (15-20);
NHS TT caseness >= 32 (default, [UNCERTAIN]); provisional PTSD >= 33; prorate the total if
<= 2 items are missing and no cluster has > 1 missing (twostep rule). Clusters B, D and E are
prorated with <= 1 missing; the two-item cluster C is not prorated.
"""

from __future__ import annotations

import numpy as np
import pytest

from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, is_case, score_submission

INS = get_instrument("pcl5")


def score(values: dict[int, int | None], default: int) -> Score:
    """All items answered ``default`` except the item numbers in ``values``."""
    answers: dict[str, object] = {f"item_{n}": default for n in range(1, 21)}
    answers.update({f"item_{n}": v for n, v in values.items()})
    return score_submission(INS, answers)


def test_all_ones() -> None:
    s = score({}, 1)
    assert s.total == 20
    assert dict(s.subscales) == {"cluster_b": 5, "cluster_c": 2, "cluster_d": 7, "cluster_e": 6}
    assert s.case is False
    assert s.band is None  # PCL-5 has no severity bands
    assert not s.risk


def test_extremes() -> None:
    assert score({}, 0).total == 0
    top = score({}, 4)
    assert top.total == 80
    assert dict(top.subscales) == {
        "cluster_b": 20,
        "cluster_c": 8,
        "cluster_d": 28,
        "cluster_e": 24,
    }


@pytest.mark.parametrize(
    ("twos", "total", "d", "case"),
    [
        # items 1-11 answered 2, items 12-20 answered 1: 11*2 + 9*1 = 31
        (range(1, 12), 31, 11, False),
        # items 1-12 answered 2: 12*2 + 8 = 32 -> NHS TT case
        (range(1, 13), 32, 12, True),
        # items 1-13 answered 2: 13*2 + 7 = 33
        (range(1, 14), 33, 13, True),
    ],
)
def test_caseness_around_32(twos: range, total: int, d: int, case: bool) -> None:
    s = score(dict.fromkeys(twos, 2), 1)
    assert s.total == total
    assert s.subscales["cluster_b"] == 10
    assert s.subscales["cluster_c"] == 4
    assert s.subscales["cluster_d"] == d
    assert s.subscales["cluster_e"] == 6
    assert s.case is case


def test_provisional_ptsd_cutoff_is_33() -> None:
    cut = next(c for c in INS.cutoffs if c.id == "provisional_ptsd")
    assert is_case(np.array([31.0, 32.0, 33.0, 34.0]), cut).tolist() == [False, False, True, True]


def test_two_missing_in_different_clusters_are_prorated() -> None:
    # items 1 (B) and 8 (D) missing; item 9 = 1, every other item 2.
    # answered: B 2+2+2+2 = 8, C 4, D 1 + 5*2 = 11, E 6*2 = 12 -> 35 over 18 items
    # total 35/18 * 20 = 38.89 -> 39; B 8/4 * 5 = 10; D 11/6 * 7 = 12.83 -> 13
    s = score({1: None, 8: None, 9: 1}, 2)
    assert s.total == 39
    assert s.prorated
    assert s.n_missing == 2
    assert dict(s.subscales) == {"cluster_b": 10, "cluster_c": 4, "cluster_d": 13, "cluster_e": 12}
    assert s.case is True


def test_two_missing_in_one_cluster_are_not_scorable() -> None:
    s = score({1: None, 2: None}, 2)
    assert s.total is None
    assert s.reason == "a subscale has more than 1 missing item"
    assert s.subscales["cluster_b"] is None
    assert s.subscales["cluster_d"] == 14


def test_both_avoidance_items_missing_are_not_scorable() -> None:
    s = score({6: None, 7: None}, 1)
    assert s.total is None
    assert s.reason == "a subscale has more than 1 missing item"


def test_three_missing_are_not_scorable_even_across_clusters() -> None:
    s = score({1: None, 8: None, 15: None}, 2)
    assert s.total is None
    assert s.reason == "3 items missing; PCL-5 allows at most 2 missing items"


def test_one_missing_avoidance_item_prorates_the_total_but_not_cluster_c() -> None:
    # item 6 missing, item 7 = 3, every other item 1: 18*1 + 3 = 21 over 19
    # total 21/19 * 20 = 22.11 -> 22
    s = score({6: None, 7: 3}, 1)
    assert s.total == 22
    assert s.prorated
    assert s.subscales["cluster_c"] is None
    assert s.subscales["cluster_b"] == 5


def test_one_missing_item_in_a_large_cluster_prorates_that_cluster() -> None:
    # item 20 missing; E answered 15-19: 3+3+3+3+2 = 14 over 5: 14/5 * 6 = 16.8 -> 17
    # total: 0*14 + 14 = 14 over 19: 14/19 * 20 = 14.74 -> 15
    s = score({15: 3, 16: 3, 17: 3, 18: 3, 19: 2, 20: None}, 0)
    assert s.subscales["cluster_e"] == 17
    assert s.total == 15
