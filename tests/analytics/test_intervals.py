"""Wilson score intervals and small-cell suppression (methods.md §2.3, §12)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twostep.analytics.intervals import is_suppressed, suppress_counts, wilson_interval
from twostep.errors import AnalysisError, ConfigurationError


def test_wilson_by_hand() -> None:
    # k = 5, n = 10, z = 1.96: centre = (5 + 1.9208) / 13.8416 = 0.5
    # half = 1.96 / 13.8416 * sqrt(25 / 10 + 0.9604) = 0.141602 * 1.860215 = 0.263410
    ci = wilson_interval(5, 10)
    assert float(ci.proportion) == 0.5
    assert float(ci.lower) == pytest.approx(0.236590, abs=1e-6)
    assert float(ci.upper) == pytest.approx(0.763410, abs=1e-6)
    assert ci.z == 1.96


def test_wilson_edge_cases() -> None:
    ci = wilson_interval([0, 10, 0], [10, 10, 0])
    # k = 0: [0, z² / (n + z²)] = [0, 3.8416 / 13.8416 = 0.277540]
    assert ci.lower[0] == 0.0
    assert ci.upper[0] == pytest.approx(0.277540, abs=1e-6)
    # k = n: [n / (n + z²), 1] = [10 / 13.8416 = 0.722460, 1]
    assert ci.lower[1] == pytest.approx(0.722460, abs=1e-6)
    assert ci.upper[1] == 1.0
    # n = 0: undefined
    assert np.isnan([ci.proportion[2], ci.lower[2], ci.upper[2]]).all()


def test_wilson_z_is_a_parameter() -> None:
    narrow = wilson_interval(5, 10, z=1.0)
    wide = wilson_interval(5, 10)
    assert narrow.upper - narrow.lower < wide.upper - wide.lower


@pytest.mark.parametrize(("k", "n"), [(11, 10), (-1, 10), (1, -1), (math.nan, 10), (1, math.inf)])
def test_wilson_rejects_impossible_counts(k: float, n: float) -> None:
    with pytest.raises(AnalysisError):
        wilson_interval(k, n)


@pytest.mark.parametrize("z", [0.0, -1.96, math.nan])
def test_wilson_rejects_impossible_z(z: float) -> None:
    with pytest.raises(ConfigurationError):
        wilson_interval(1, 2, z=z)


def test_wilson_rejects_mismatched_shapes() -> None:
    with pytest.raises(AnalysisError):
        wilson_interval([1, 2, 3], [4, 5])


@given(
    st.integers(min_value=1, max_value=10**7).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
    st.floats(min_value=0.1, max_value=5),
)
def test_wilson_contains_the_proportion_and_stays_in_unit_interval(
    kn: tuple[int, int], z: float
) -> None:
    k, n = kn
    ci = wilson_interval(k, n, z=z)
    assert 0.0 <= float(ci.lower) <= k / n <= float(ci.upper) <= 1.0


def test_suppression() -> None:
    counts = [0, 5, 9, 10, 100]
    assert is_suppressed(counts).tolist() == [True, True, True, False, False]
    assert is_suppressed(counts, keep_zero=True).tolist() == [False, True, True, False, False]
    assert is_suppressed(counts, threshold=6).tolist() == [True, True, False, False, False]
    out = suppress_counts(counts)
    assert np.isnan(out[:3]).all()
    assert out[3:].tolist() == [10.0, 100.0]


def test_suppression_rejects_bad_input() -> None:
    with pytest.raises(ConfigurationError):
        is_suppressed([1], threshold=0)
    with pytest.raises(AnalysisError):
        is_suppressed([-1])
