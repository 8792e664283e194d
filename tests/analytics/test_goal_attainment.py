"""Goal Attainment Scaling T-scores (methods.md §7)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twostep.analytics.goal_attainment import gas_t_score, importance_difficulty_weights
from twostep.errors import AnalysisError, ConfigurationError

X = [-2, 0, -1, 2, 0, 1]
W = [3, 5, 1, 4, 2, 6]


def test_methods_test_vector_weighted() -> None:
    # Σwx = -6 + 0 - 1 + 8 + 0 + 6 = 7; Σw² = 91; Σw = 21
    # T = 50 + 10 * 7 / sqrt(.7 * 91 + .3 * 441) = 50 + 70 / sqrt(196) = 55
    res = gas_t_score(X, W)
    assert res.t_score.tolist() == pytest.approx([55.0])
    assert res.n_goals.tolist() == [6]
    assert res.rho == 0.3


def test_methods_test_vector_three_goals_at_minus_one() -> None:
    # T = 50 - 30 / sqrt(.7 * 3 + .3 * 9) = 50 - 30 / sqrt(4.8) = 36.3069
    assert gas_t_score([-1, -1, -1]).t_score[0] == pytest.approx(36.31, abs=0.005)


def test_methods_test_vector_one_goal_at_plus_two() -> None:
    assert gas_t_score([2]).t_score[0] == pytest.approx(70.0)


def test_many_reviews_at_once_with_group_codes_in_any_order() -> None:
    levels = np.array([-1, 2, *X, -1, -1])
    weights = np.array([1, 1, *W, 1, 1])
    group = np.array([1, 2, 0, 0, 0, 0, 0, 0, 1, 1])
    res = gas_t_score(levels, weights, group=group, n_groups=4)
    assert res.t_score[:3] == pytest.approx([55.0, 50 - 30 / math.sqrt(4.8), 70.0])
    assert math.isnan(res.t_score[3])  # zero goals: T undefined
    assert res.n_goals.tolist() == [6, 3, 1, 0]


def test_offsets_describe_sorted_segments() -> None:
    levels = [*X, -1, -1, -1, 2]
    weights = [*W, 1, 1, 1, 1]
    res = gas_t_score(levels, weights, offsets=np.array([0, 6, 9, 9, 10]))
    assert res.t_score[[0, 1, 3]] == pytest.approx([55.0, 36.3069, 70.0], abs=1e-4)
    assert math.isnan(res.t_score[2])


def test_missing_levels_are_dropped_and_counted() -> None:
    res = gas_t_score([2, np.nan, np.nan], [1, 1, 1])
    assert res.t_score.tolist() == pytest.approx([70.0])
    assert res.n_goals.tolist() == [1]


def test_all_zero_weights_fall_back_to_equal_weights() -> None:
    res = gas_t_score([-1, -1, -1, 2], [0, 0, 0, 0], group=np.array([0, 0, 0, 1]))
    assert res.t_score == pytest.approx([36.3069, 70.0], abs=1e-4)
    assert res.equal_weights_used.tolist() == [True, True]
    assert gas_t_score(X, W).equal_weights_used.tolist() == [False]


def test_zero_weight_goals_among_weighted_ones_do_not_count() -> None:
    # weights (1, 0): T = 50 + 10 * 2 / sqrt(.7 + .3) = 70, the second goal is ignored
    assert gas_t_score([2, -2], [1, 0]).t_score[0] == pytest.approx(70.0)


def test_rho_is_configurable() -> None:
    # rho = 0: T = 50 + 10 Σx / sqrt(n) = 50 - 30 / sqrt(3)
    assert gas_t_score([-1, -1, -1], rho=0.0).t_score[0] == pytest.approx(50 - 30 / math.sqrt(3))


def test_no_goals_at_all() -> None:
    res = gas_t_score(np.array([], dtype=float), group=np.array([], dtype=np.int64), n_groups=2)
    assert np.isnan(res.t_score).all()
    assert res.n_goals.tolist() == [0, 0]


@pytest.mark.parametrize("rho", [-0.1, 1.1, math.nan])
def test_rho_must_be_a_correlation(rho: float) -> None:
    with pytest.raises(ConfigurationError):
        gas_t_score([0], rho=rho)


@pytest.mark.parametrize(
    ("levels", "weights"),
    [([3], None), ([0.5], None), ([1, 1], [1, -1]), ([1, 1], [1, np.nan]), ([1], [1, 2])],
)
def test_invalid_goal_data(levels: list[float], weights: list[float] | None) -> None:
    with pytest.raises(AnalysisError):
        gas_t_score(levels, weights)


def test_invalid_grouping() -> None:
    with pytest.raises(ConfigurationError):
        gas_t_score([1, 1], group=np.array([0, 0]), offsets=np.array([0, 2]))
    with pytest.raises(AnalysisError):
        gas_t_score([1, 1], offsets=np.array([0, 1]))
    with pytest.raises(AnalysisError):
        gas_t_score([1, 1], group=np.array([0, -1]))
    with pytest.raises(AnalysisError):
        gas_t_score([1, 1], group=np.array([0.0, 1.0]))
    with pytest.raises(ConfigurationError):
        gas_t_score([1, 1], group=np.array([0, 3]), n_groups=2)
    with pytest.raises(ConfigurationError):
        gas_t_score([1, 1], n_groups=2)


def test_importance_difficulty_weights() -> None:
    w = importance_difficulty_weights([3, 2, 0, np.nan], [1, 3, 2, 1])
    assert w[:3].tolist() == [3.0, 6.0, 0.0]
    assert math.isnan(w[3])
    with pytest.raises(AnalysisError):
        importance_difficulty_weights([4], [1])
    with pytest.raises(AnalysisError):
        importance_difficulty_weights([1.5], [1])


goal = st.tuples(st.sampled_from([-2, -1, 0, 1, 2]), st.integers(min_value=0, max_value=9))


@given(st.lists(goal, min_size=1, max_size=12), st.randoms(), st.floats(0.1, 100))
def test_t_is_invariant_to_goal_order_and_weight_scale(
    goals: list[tuple[int, int]], rnd: object, scale: float
) -> None:
    levels = np.array([g[0] for g in goals], dtype=float)
    weights = np.array([g[1] for g in goals], dtype=float)
    base = gas_t_score(levels, weights).t_score[0]
    order = list(range(len(goals)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    shuffled = gas_t_score(levels[order], weights[order]).t_score[0]
    scaled = gas_t_score(levels, weights * scale).t_score[0]
    assert shuffled == pytest.approx(base, rel=1e-12, abs=1e-9)
    assert scaled == pytest.approx(base, rel=1e-9, abs=1e-9)


@given(st.lists(st.tuples(goal, st.integers(0, 4)), min_size=0, max_size=30))
def test_grouped_kernel_equals_one_call_per_group(rows: list[tuple[tuple[int, int], int]]) -> None:
    levels = np.array([r[0][0] for r in rows], dtype=float)
    weights = np.array([r[0][1] for r in rows], dtype=float)
    group = np.array([r[1] for r in rows], dtype=np.int64)
    batch = gas_t_score(levels, weights, group=group, n_groups=5)
    for g in range(5):
        mine = group == g
        if mine.any():
            single = gas_t_score(levels[mine], weights[mine]).t_score[0]
            assert batch.t_score[g] == pytest.approx(single)
        else:
            assert math.isnan(batch.t_score[g])
