"""Reliable change (methods.md §0, §1.1, §1.4): hand-computed cases and properties."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from twostep.analytics.reliable_change import (
    RCIMethod,
    ReliableChangeThreshold,
    edwards_nunnally,
    gulliksen_lord_novick,
    hageman_arrindell,
    hsu_linn_nord,
    jacobson_truax,
    nunnally_kotsch,
    rci,
    reliable_change_index,
    standard_error_of_difference,
    standard_error_of_measurement,
)
from twostep.errors import AnalysisError, ConfigurationError

# ----------------------------------------------------------------- standard errors


def test_standard_errors_by_hand() -> None:
    # SE = 5 * sqrt(1 - .8) = 5 * sqrt(.2) = 2.2360680; S_diff = sqrt(2) * SE = sqrt(10)
    assert standard_error_of_measurement(5.0, 0.8) == pytest.approx(2.2360680, abs=1e-7)
    assert standard_error_of_difference(5.0, 0.8) == pytest.approx(math.sqrt(10.0))
    assert isinstance(standard_error_of_measurement(5.0, 0.8), float)


def test_standard_errors_are_vectorised() -> None:
    se = standard_error_of_measurement(np.array([5.0, 10.0]), np.array([0.8, 0.5]))
    assert se == pytest.approx([math.sqrt(5.0), math.sqrt(50.0)])
    s_diff = standard_error_of_difference(np.array([5.0, 10.0]), 0.5)
    assert s_diff == pytest.approx([5.0, 10.0])


@pytest.mark.parametrize(
    ("sd", "reliability"),
    [(5.0, 1.0), (5.0, 1.2), (5.0, -0.1), (0.0, 0.8), (-1.0, 0.8), (math.nan, 0.8), (5, math.nan)],
)
def test_impossible_parameters_are_configuration_errors(sd: float, reliability: float) -> None:
    with pytest.raises(ConfigurationError):
        standard_error_of_measurement(sd, reliability)
    with pytest.raises(ConfigurationError):
        standard_error_of_difference(sd, reliability)
    with pytest.raises(ConfigurationError):
        ReliableChangeThreshold.jacobson_truax(sd, reliability)


def test_one_bad_element_in_an_array_is_an_error() -> None:
    with pytest.raises(ConfigurationError):
        standard_error_of_measurement([5.0, 5.0], [0.8, 1.0])


# ------------------------------------------------------------------- thresholds


def test_jacobson_truax_threshold_by_hand() -> None:
    # sd 5, r .8: S_diff = sqrt(10) = 3.1622777; RC_raw = 1.96 * 3.1622777 = 6.1980643
    # integer scale: floor(6.198) + 1 = 7
    t = ReliableChangeThreshold.jacobson_truax(5.0, 0.8, integer_scale=True, source="test norms")
    assert t.strict is True
    assert t.method == "jacobson_truax"
    assert t.source == "test norms"
    assert t.se == pytest.approx(math.sqrt(5.0))
    assert t.s_diff == pytest.approx(3.1622777, abs=1e-7)
    assert t.rc_raw == pytest.approx(6.1980643, abs=1e-7)
    assert t.threshold == t.rc_raw
    assert t.rc_integer == 7
    assert (t.sd, t.reliability, t.z) == (5.0, 0.8, 1.96)
    got = t.is_reliable([6, 6.19, 6.2, 7, -7, -6, np.nan])
    assert got.tolist() == [False, False, True, True, True, False, False]


def test_integer_threshold_when_rc_raw_is_an_integer() -> None:
    # sd 10, r .5: S_diff = 10 * sqrt(2 * .5) = 10 exactly; z = 2 -> RC_raw = 20 exactly.
    # |Δ| > 20 is required, so the smallest qualifying integer is floor(20) + 1 = 21.
    t = ReliableChangeThreshold.jacobson_truax(10.0, 0.5, z=2.0, integer_scale=True)
    assert t.rc_raw == 20.0
    assert t.rc_integer == 21
    assert t.is_reliable([20, 21]).tolist() == [False, True]


def test_integer_threshold_not_set_for_continuous_scales() -> None:
    assert ReliableChangeThreshold.jacobson_truax(5.0, 0.8).rc_integer is None


def test_fixed_threshold_counts_a_change_equal_to_rc() -> None:
    # NHS Talking Therapies PHQ-9: reliable iff |Δ| >= 6
    t = ReliableChangeThreshold.fixed(6, "NHS Talking Therapies Manual")
    assert t.strict is False
    assert t.method == "fixed"
    assert t.is_reliable([5, 6, -6, 5.999, np.nan]).tolist() == [False, True, True, False, False]
    assert t.is_reliable_improvement([-6, 6, -5]).tolist() == [True, False, False]
    assert t.is_reliable_deterioration([-6, 6, 5]).tolist() == [False, True, False]
    assert t.is_reliable_improvement([-6, 6], higher_is_better=True).tolist() == [False, True]


def test_fixed_threshold_absorbs_floating_point_error_in_decimal_scores() -> None:
    # Mobility Inventory RC 0.73: 2.30 - 3.03 is -0.7299999999999998 in binary floating point.
    t = ReliableChangeThreshold.fixed(0.73, "IAPT Data Handbook")
    assert bool(t.is_reliable(2.30 - 3.03))


@pytest.mark.parametrize("rc", [0.0, -1.0, math.nan, math.inf])
def test_fixed_threshold_must_be_positive(rc: float) -> None:
    with pytest.raises(ConfigurationError):
        ReliableChangeThreshold.fixed(rc, "x")


def test_z_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        ReliableChangeThreshold.jacobson_truax(5.0, 0.8, z=0.0)


# -------------------------------------------------------------------------- RCI


def test_rci_signed_positive_is_improvement() -> None:
    # S_diff = sqrt(10) = 3.1622777: (20 - 10) / 3.1622777 = 3.1622777
    got = rci([20, 10, np.nan, 15], [10, 20, 12, np.nan], math.sqrt(10.0))
    assert got[:2] == pytest.approx([math.sqrt(10.0), -math.sqrt(10.0)])
    assert np.isnan(got[2:]).all()
    flipped = rci([20, 10], [10, 20], math.sqrt(10.0), higher_is_better=True)
    assert flipped == pytest.approx([-math.sqrt(10.0), math.sqrt(10.0)])


def test_rci_with_one_s_diff_per_pair() -> None:
    assert rci([10, 10], [5, 5], [5.0, 2.5]) == pytest.approx([1.0, 2.0])


@pytest.mark.parametrize("s_diff", [0.0, -1.0, math.nan])
def test_rci_rejects_impossible_s_diff(s_diff: float) -> None:
    with pytest.raises(ConfigurationError):
        rci([1.0], [2.0], s_diff)


def test_rci_rejects_mismatched_shapes() -> None:
    with pytest.raises(AnalysisError):
        rci([1.0, 2.0, 3.0], [1.0, 2.0], 1.0)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(
    arrays(np.float64, 8, elements=finite),
    arrays(np.float64, 8, elements=finite),
    st.floats(min_value=0.01, max_value=100),
    st.booleans(),
)
def test_rci_antisymmetry(pre: np.ndarray, post: np.ndarray, s_diff: float, hib: bool) -> None:
    forward = rci(pre, post, s_diff, higher_is_better=hib)
    backward = rci(post, pre, s_diff, higher_is_better=hib)
    np.testing.assert_array_equal(forward, -backward)


@given(arrays(np.float64, 6, elements=finite), st.floats(min_value=0.01, max_value=100))
def test_rci_direction_flip_flips_sign(values: np.ndarray, s_diff: float) -> None:
    pre, post = values[:3], values[3:]
    np.testing.assert_array_equal(
        rci(pre, post, s_diff), -rci(pre, post, s_diff, higher_is_better=True)
    )


# ---------------------------------------------------------------- alternatives
# Shared hand example: pre (10, 20, 30), post (2, 22, 15), r = .8, M_pre = 20, s_pre = 10.
# T_pre = .8 (x1 - 20) + 20 = (12, 20, 28); x2 - T_pre = (-10, 2, -13).
PRE = np.array([10.0, 20.0, 30.0])
POST = np.array([2.0, 22.0, 15.0])


def test_jacobson_truax_result() -> None:
    # S_diff = 10 * sqrt(2 * .2) = sqrt(40) = 6.3245553; Δ = (-8, 2, -15)
    res = jacobson_truax(PRE, POST, reliability=0.8, sd_pre=10.0)
    expected = np.array([8.0, -2.0, 15.0]) / math.sqrt(40.0)
    assert res.index == pytest.approx(expected)
    assert res.improved.tolist() == [False, False, True]  # 8 / 6.32 = 1.26; 15 / 6.32 = 2.37
    assert res.method is RCIMethod.JT
    assert res.critical_value == 1.96
    assert res.parameters["s_diff"] == pytest.approx(math.sqrt(40.0))


def test_edwards_nunnally_by_hand() -> None:
    # SE = 10 * sqrt(.2) = 4.4721360; RC_EN = (-10, 2, -13) / 4.4721360 = (-2.236, 0.447, -2.907)
    res = edwards_nunnally(PRE, POST, reliability=0.8, m_pre=20.0, sd_pre=10.0)
    assert res.index == pytest.approx(np.array([10.0, -2.0, 13.0]) / math.sqrt(20.0))
    assert res.improved.tolist() == [True, False, True]
    assert res.deteriorated.tolist() == [False, False, False]
    assert res.reliable.tolist() == [True, False, True]
    # the original "outside T_pre ± 2 SE" rule is critical_value = 2
    res2 = edwards_nunnally(PRE, POST, reliability=0.8, m_pre=20, sd_pre=10, critical_value=2.0)
    assert res2.improved.tolist() == [True, False, True]


def test_gulliksen_lord_novick_by_hand() -> None:
    # denominator 10 * sqrt(1 - .64) = 6; numerator (x2 - 20) - .8 (x1 - 20) = (-10, 2, -13)
    res = gulliksen_lord_novick(PRE, POST, reliability=0.8, m_pre=20.0, sd_pre=10.0)
    assert res.index == pytest.approx([10 / 6, -2 / 6, 13 / 6])
    assert res.improved.tolist() == [False, False, True]


def test_hsu_linn_nord_by_hand() -> None:
    # M_post = 10: (x2 - 10) - .8 (x1 - 20) = (0, 12, -3); / 6 = (0, 2, -0.5)
    res = hsu_linn_nord(PRE, POST, reliability=0.8, m_pre=20.0, sd_pre=10.0, m_post=10.0)
    assert res.index == pytest.approx([0.0, -2.0, 0.5])
    assert res.deteriorated.tolist() == [False, True, False]
    assert res.improved.tolist() == [False, False, False]


def test_nunnally_kotsch_by_hand() -> None:
    # denominator sqrt(.64 * 100 * .2 + 100 * (1 - .9)) = sqrt(12.8 + 10) = sqrt(22.8) = 4.7749
    res = nunnally_kotsch(PRE, POST, reliability=0.8, reliability_post=0.9, m_pre=20.0, sd_pre=10.0)
    assert res.index == pytest.approx(np.array([10.0, -2.0, 13.0]) / math.sqrt(22.8))
    assert res.improved.tolist() == [True, False, True]  # 2.09, 2.72
    # reliability_post defaults to reliability: sqrt(12.8 + 20) = sqrt(32.8)
    same = nunnally_kotsch(PRE, POST, reliability=0.8, m_pre=20.0, sd_pre=10.0)
    assert same.index == pytest.approx(np.array([10.0, -2.0, 13.0]) / math.sqrt(32.8))


def test_hageman_arrindell_by_hand() -> None:
    # s1 = 10, s2 = 8, r12 = .5, r1 = .8; SE² = 100 * .2 = 20
    # r2 derived from the same error variance: (64 - 20) / 64 = .6875
    # r_dd = (100 * .8 + 64 * .6875 - 2 * 10 * 8 * .5) / (100 + 64 - 80) = 44 / 84
    # numerator = Δ r_dd + (12 - 20)(1 - r_dd), Δ = (-8, 2, -15) -> (-8, -2.7619, -11.6667)
    # denominator = sqrt(44/84) * sqrt(2 * 20)
    res = hageman_arrindell(
        PRE, POST, reliability=0.8, m_pre=20, sd_pre=10, m_post=12, sd_post=8, r_pre_post=0.5
    )
    r_dd = 44 / 84
    numerator = np.array([-8.0, 2.0, -15.0]) * r_dd + (12 - 20) * (1 - r_dd)
    expected = -numerator / (math.sqrt(r_dd) * math.sqrt(40.0))
    assert res.parameters["r_dd"] == pytest.approx(r_dd)
    assert res.parameters["reliability_post"] == pytest.approx(0.6875)
    assert res.index == pytest.approx(expected)
    assert res.index == pytest.approx([1.7477, 0.6034, 2.5488], abs=1e-4)
    assert res.critical_value == 1.65
    assert res.improved.tolist() == [True, False, True]


def test_hageman_arrindell_undefined_r_dd() -> None:
    # r12 = .9 with r1 = r2 = .5: r_dd = (50 + 50 - 180) / (200 - 180) < 0
    with pytest.raises(AnalysisError):
        hageman_arrindell(
            PRE,
            POST,
            reliability=0.5,
            reliability_post=0.5,
            m_pre=0,
            sd_pre=10,
            m_post=0,
            sd_post=10,
            r_pre_post=0.9,
        )


def test_population_values_default_to_the_complete_pairs() -> None:
    pre = [10.0, 20.0, 30.0, np.nan, 25.0]
    post = [2.0, 22.0, 15.0, 10.0, np.nan]
    complete = [10.0, 20.0, 30.0]
    m, s = statistics.mean(complete), statistics.stdev(complete)  # 20, 10
    implicit = edwards_nunnally(pre, post, reliability=0.8)
    explicit = edwards_nunnally(pre, post, reliability=0.8, m_pre=m, sd_pre=s)
    np.testing.assert_allclose(implicit.index, explicit.index)
    assert np.isnan(implicit.index[3:]).all()
    assert not implicit.reliable[3:].any()
    assert implicit.parameters["sd_pre"] == pytest.approx(10.0)


def test_estimation_needs_two_complete_pairs() -> None:
    with pytest.raises(AnalysisError):
        gulliksen_lord_novick([10.0, np.nan], [5.0, 3.0], reliability=0.8)
    with pytest.raises(AnalysisError):
        jacobson_truax([10.0, 10.0], [5.0, 3.0], reliability=0.8)  # SD of pre scores is 0


@pytest.mark.parametrize("method", list(RCIMethod))
def test_dispatcher_matches_the_direct_functions(method: RCIMethod) -> None:
    rng = np.random.default_rng(7)
    pre = rng.normal(30, 6, 40).round()
    post = pre - rng.normal(5, 6, 40).round()
    res = reliable_change_index(pre, post, method=method.value, reliability=0.8)
    direct = {
        RCIMethod.JT: jacobson_truax,
        RCIMethod.EN: edwards_nunnally,
        RCIMethod.GLN: gulliksen_lord_novick,
        RCIMethod.HLL: hsu_linn_nord,
        RCIMethod.NK: nunnally_kotsch,
        RCIMethod.HA: hageman_arrindell,
    }[method](pre, post, reliability=0.8)
    np.testing.assert_array_equal(res.index, direct.index)
    assert res.method is method
    assert res.critical_value == (1.65 if method is RCIMethod.HA else 1.96)


def test_dispatcher_rejects_unknown_methods_and_unused_parameters() -> None:
    with pytest.raises(ConfigurationError):
        reliable_change_index([1, 2], [2, 3], method="nope", reliability=0.8)
    with pytest.raises(ConfigurationError):
        reliable_change_index([1, 2], [2, 3], method=RCIMethod.JT, reliability=0.8, m_post=3.0)


def test_dispatcher_critical_value_override() -> None:
    res = reliable_change_index(
        PRE, POST, method="jacobson_truax", reliability=0.8, sd_pre=10.0, critical_value=1.0
    )
    assert res.critical_value == 1.0
    assert res.improved.tolist() == [True, False, True]


@pytest.mark.parametrize("method", list(RCIMethod))
def test_alternatives_are_direction_invariant(method: RCIMethod) -> None:
    # y' = 40 - y with higher_is_better toggled: same index (positive = improvement)
    rng = np.random.default_rng(3)
    pre = rng.integers(10, 35, 30).astype(float)
    post = rng.integers(0, 30, 30).astype(float)
    a = reliable_change_index(pre, post, method=method, reliability=0.8)
    b = reliable_change_index(
        40 - pre, 40 - post, method=method, reliability=0.8, higher_is_better=True
    )
    np.testing.assert_allclose(a.index, b.index, atol=1e-9)
    assert (a.improved == b.improved).all()
