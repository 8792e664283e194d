"""Weighted quantile regression (Frisch–Newton) against statsmodels and an exact LP."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import linprog
from statsmodels.regression.quantile_regression import QuantReg

from twostep.analytics.quantile_regression import quantile_loss, quantile_regression
from twostep.errors import AnalysisError, ConfigurationError, StatisticalWarning

TAUS = (0.10, 0.25, 0.50, 0.75, 0.90)


def statsmodels_fit(
    X: npt.NDArray[np.float64], y: npt.NDArray[np.float64], tau: float
) -> npt.NDArray[np.float64]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IterationLimitWarning, ConvergenceWarning
        return np.asarray(QuantReg(y, X).fit(q=tau, max_iter=5000, p_tol=1e-10).params)


def exact_lp(
    X: npt.NDArray[np.float64], y: npt.NDArray[np.float64], tau: float, w: npt.NDArray[np.float64]
) -> float:
    """Minimum of sum w rho_tau(y - X b) by the HiGHS simplex/IPM with crossover."""
    n, p = X.shape
    c = np.concatenate([np.zeros(p), tau * w, (1 - tau) * w])
    A = np.hstack([X, np.eye(n), -np.eye(n)])
    bounds = [(None, None)] * p + [(0, None)] * (2 * n)
    res = linprog(c, A_eq=A, b_eq=y, bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.fun)


def symptom_data(n: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """PHQ-9-like integer scores on the ETR design (1, y1, log t, y1 log t)."""
    rng = np.random.default_rng(seed)
    y1 = rng.integers(5, 28, size=n).astype(float)
    lt = np.log(rng.integers(2, 21, size=n))
    yt = np.clip(np.round(y1 * np.exp(-0.3 * lt) + rng.normal(0, 3, size=n)), 0, 27)
    return np.column_stack([np.ones(n), y1, lt, y1 * lt]), yt


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tau", TAUS)
def test_continuous_data_agree_with_statsmodels(seed: int, tau: float) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(0, 3, size=n)])
    y = X @ np.array([1.0, 2.0, -1.0]) + rng.standard_t(3, size=n)
    ours = quantile_regression(X, y, tau)
    ref = statsmodels_fit(X, y, tau)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-3)
    assert quantile_loss(X, y, ours, tau) <= quantile_loss(X, y, ref, tau) + 1e-8


@pytest.mark.parametrize("tau", TAUS)
def test_integer_symptom_data_at_least_as_good_as_statsmodels(tau: float) -> None:
    X, y = symptom_data(3000, 5)
    ours = quantile_regression(X, y, tau)
    ref = statsmodels_fit(X, y, tau)
    ours_loss = quantile_loss(X, y, ours, tau)
    ref_loss = quantile_loss(X, y, ref, tau)
    close = np.allclose(ours, ref, rtol=1e-3, atol=1e-3)
    assert close or ours_loss <= ref_loss * (1 + 1e-12)
    assert ours_loss <= ref_loss + 1e-6 * ref_loss


@pytest.mark.parametrize("tau", [0.1, 0.5, 0.9])
def test_weighted_objective_matches_an_exact_linear_programme(tau: float) -> None:
    X, y = symptom_data(300, 11)
    w = np.random.default_rng(3).integers(1, 1000, size=300).astype(float)
    ours = quantile_regression(X, y, tau, w)
    best = exact_lp(X, y, tau, w)
    assert quantile_loss(X, y, ours, tau, w) == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("tau", [0.25, 0.75])
def test_frequency_weights_equal_repeated_rows(tau: float) -> None:
    X, y = symptom_data(200, 2)
    reps = np.random.default_rng(4).integers(1, 5, size=200)
    weighted = quantile_regression(X, y, tau, reps)
    expanded = quantile_regression(np.repeat(X, reps, axis=0), np.repeat(y, reps), tau)
    assert quantile_loss(X, y, weighted, tau, reps) == pytest.approx(
        quantile_loss(X, y, expanded, tau, reps), rel=1e-9
    )


def test_rows_with_zero_weight_are_ignored() -> None:
    X, y = symptom_data(200, 6)
    w = np.ones(200)
    w[:50] = 0.0
    np.testing.assert_allclose(
        quantile_regression(X, y, 0.5, w), quantile_regression(X[50:], y[50:], 0.5), atol=1e-7
    )


def test_collinear_columns_get_zero_and_the_fit_stays_optimal() -> None:
    rng = np.random.default_rng(7)
    n = 200
    lt = np.log(rng.integers(2, 21, size=n))
    y1 = np.full(n, 10.0)  # every intake the same: y1 and y1*log t are collinear
    y = np.round(10 - lt + rng.normal(size=n))
    X = np.column_stack([np.ones(n), y1, lt, y1 * lt])
    beta = quantile_regression(X, y, 0.5)
    assert beta[1] == 0.0
    assert beta[3] == 0.0
    assert quantile_loss(X, y, beta, 0.5) == pytest.approx(
        exact_lp(X, y, 0.5, np.ones(n)), rel=1e-9
    )


def test_constant_response_is_fitted_exactly() -> None:
    X, _ = symptom_data(100, 8)
    beta = quantile_regression(X, np.full(100, 9.0), 0.9)
    np.testing.assert_allclose(X @ beta, 9.0, atol=1e-6)


def test_intercept_only_gives_a_sample_quantile() -> None:
    y = np.arange(1.0, 11.0)  # the 0.25 quantile of 1..10 is 3 (unique minimiser)
    beta = quantile_regression(np.ones((10, 1)), y, 0.25)
    assert beta[0] == pytest.approx(3.0, abs=1e-6)


def test_all_zero_columns_give_zero_coefficients() -> None:
    X = np.zeros((5, 2))
    assert quantile_regression(X, np.arange(5.0), 0.5).tolist() == [0.0, 0.0]


def test_stopping_early_warns() -> None:
    X, y = symptom_data(500, 9)
    with pytest.warns(StatisticalWarning, match="stopped after 1 iterations"):
        quantile_regression(X, y, 0.5, max_iter=1)


@pytest.mark.parametrize("tau", [0.0, 1.0, -0.1, 1.5])
def test_tau_outside_the_unit_interval_is_rejected(tau: float) -> None:
    with pytest.raises(ConfigurationError):
        quantile_regression(np.ones((3, 1)), np.ones(3), tau)


@pytest.mark.parametrize(
    ("X", "y", "w"),
    [
        (np.ones(3), np.ones(3), None),
        (np.ones((3, 1)), np.ones(4), None),
        (np.ones((3, 1)), np.array([1.0, np.nan, 2.0]), None),
        (np.ones((3, 1)), np.ones(3), np.array([1.0, -1.0, 1.0])),
        (np.ones((3, 1)), np.ones(3), np.zeros(3)),
        (np.ones((3, 1)), np.ones(3), np.ones(2)),
    ],
)
def test_bad_input_is_an_analysis_error(
    X: npt.NDArray[np.float64], y: npt.NDArray[np.float64], w: npt.NDArray[np.float64] | None
) -> None:
    with pytest.raises(AnalysisError):
        quantile_regression(X, y, 0.5, w)


def test_bad_solver_settings_are_rejected() -> None:
    with pytest.raises(ConfigurationError):
        quantile_regression(np.ones((3, 1)), np.ones(3), 0.5, tol=0)
    with pytest.raises(ConfigurationError):
        quantile_regression(np.ones((3, 1)), np.ones(3), 0.5, max_iter=0)
