"""Weighted linear quantile regression by a primal–dual interior-point method.

The estimator (Koenker & Bassett 1978) solves

.. math::

    \\hat\\beta(\\tau) = \\arg\\min_\\beta \\sum_i w_i\\, \\rho_\\tau(y_i - x_i'\\beta),
    \\qquad \\rho_\\tau(u) = u\\,(\\tau - [u < 0]).

It is a linear programme. Its dual, with the weights as upper bounds, is

.. math::

    \\max_a\\; y'a \\quad\\text{s.t.}\\quad X'a = (1-\\tau)\\,X'w,\\; 0 \\le a \\le w,

which is solved here, in the form ``min c'x, A x = b, 0 <= x <= u`` with
``A = X'``, ``c = -y``, ``b = (1 - tau) X'w`` and ``u = w``, by the
Frisch–Newton method: a primal–dual path-following interior-point algorithm
with Mehrotra's predictor–corrector step (Portnoy & Koenker 1997; the same
algorithm as ``quantreg::rq.fit.fnb`` in R). The coefficients are minus the
Lagrange multipliers of the equality constraints. Every iterate is primal and
dual feasible, so the duality gap ``x'z + s'w`` bounds how far the objective of
the returned coefficients is from the minimum; iteration stops when it falls
below ``tol`` times the objective's scale.

Weights are frequency weights (``rho_tau`` is positively homogeneous, so
``w_i rho(u) = rho(w_i u)``): a table of distinct rows with counts gives
exactly the same minimiser as the rows themselves. When the minimiser is not
unique (common with integer scores and many ties) the method returns a point
close to the analytic centre of the set of minimisers, whose objective is
minimal to within the tolerance; a simplex method (or statsmodels' IRLS) may
return another member of that set.

References
----------
Koenker, R., & Bassett, G. (1978). Regression quantiles. *Econometrica 46*(1),
33–50.
Portnoy, S., & Koenker, R. (1997). The Gaussian hare and the Laplacian
tortoise: computability of squared-error versus absolute-error estimators.
*Statistical Science 12*(4), 279–300.
Mehrotra, S. (1992). On the implementation of a primal–dual interior point
method. *SIAM Journal on Optimization 2*(4), 575–601.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from twostep.errors import AnalysisError, ConfigurationError, StatisticalWarning

FloatArray = npt.NDArray[np.float64]

#: Fraction of the way to the boundary an interior-point step may go.
STEP_FRACTION = 0.99995


def quantile_loss(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    beta: npt.ArrayLike,
    tau: float,
    weights: npt.ArrayLike | None = None,
) -> float:
    """The objective ``sum_i w_i rho_tau(y_i - x_i'beta)`` (check loss).

    Parameters
    ----------
    X : array of shape (n, p)
    y : array of shape (n,)
    beta : array of shape (p,)
    tau : float
        Quantile level in (0, 1).
    weights : array of shape (n,), optional
        Non-negative frequency weights (default 1).
    """
    Xa = np.asarray(X, dtype=np.float64)
    r = np.asarray(y, dtype=np.float64) - Xa @ np.asarray(beta, dtype=np.float64)
    loss = r * (tau - (r < 0))
    if weights is not None:
        loss = loss * np.asarray(weights, dtype=np.float64)
    return float(loss.sum())


def quantile_regression(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    tau: float,
    weights: npt.ArrayLike | None = None,
    *,
    tol: float = 1e-11,
    max_iter: int = 200,
) -> FloatArray:
    """Coefficients of the weighted linear quantile regression of ``y`` on ``X``.

    Minimises ``sum_i w_i rho_tau(y_i - x_i'beta)`` with the Frisch–Newton
    interior-point method (see the module docstring). Include a column of ones
    in ``X`` for an intercept.

    Parameters
    ----------
    X : array of shape (n, p)
        Design matrix.
    y : array of shape (n,)
        Response.
    tau : float
        Quantile level, ``0 < tau < 1``.
    weights : array of shape (n,), optional
        Non-negative frequency weights; rows with weight 0 are ignored.
    tol : float
        Stop when the duality gap is below ``tol * (1 + sum_i w_i |y_i|)``
        (after the weights are scaled to mean 1), i.e. when the objective is
        within that relative distance of its minimum.
    max_iter : int
        Maximum number of interior-point iterations.

    Returns
    -------
    ndarray of shape (p,)
        The coefficients. Columns of ``X`` that are linear combinations of
        earlier columns (over the rows with positive weight) get coefficient 0.

    Raises
    ------
    AnalysisError
        Shapes disagree, values are not finite, or no row has positive weight.
    ConfigurationError
        ``tau`` is outside (0, 1), or ``tol``/``max_iter`` are not positive.

    Warns
    -----
    StatisticalWarning
        When the gap is still above the tolerance after ``max_iter`` iterations
        (the last iterate is returned).

    References
    ----------
    Koenker & Bassett (1978); Portnoy & Koenker (1997).
    """
    if not 0.0 < tau < 1.0:
        raise ConfigurationError(f"tau must be in (0, 1), got {tau}")
    if not tol > 0 or max_iter < 1:
        raise ConfigurationError("tol and max_iter must be positive")
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if Xa.ndim != 2 or ya.ndim != 1 or Xa.shape[0] != ya.shape[0]:
        raise AnalysisError("X must be (n, p) and y (n,) with the same n")
    n_all, p = Xa.shape
    wa = np.ones(n_all) if weights is None else np.asarray(weights, dtype=np.float64)
    if wa.shape != (n_all,):
        raise AnalysisError("weights must have one entry per row")
    if not (np.isfinite(Xa).all() and np.isfinite(ya).all() and np.isfinite(wa).all()):
        raise AnalysisError("X, y and weights must be finite")
    if (wa < 0).any():
        raise AnalysisError("weights must be non-negative")
    keep = wa > 0
    if not keep.any():
        raise AnalysisError("quantile regression needs at least one row with positive weight")
    if not keep.all():
        Xa, ya, wa = Xa[keep], ya[keep], wa[keep]
    beta = np.zeros(p)
    cols = _independent_columns(Xa, wa)
    if cols.size == 0:
        return beta
    beta[cols] = _fnb(Xa[:, cols], ya, wa / wa.mean(), tau, tol, max_iter)
    return beta


def _independent_columns(X: FloatArray, w: FloatArray) -> npt.NDArray[np.intp]:
    """Columns kept greedily, left to right, while they raise the rank."""
    Xw = X * np.sqrt(w)[:, None]
    norms = np.linalg.norm(Xw, axis=0)
    kept: list[int] = []
    for j in range(X.shape[1]):
        if norms[j] == 0:
            continue
        trial = Xw[:, [*kept, j]] / norms[[*kept, j]]
        s = np.linalg.svd(trial, compute_uv=False)
        if s[-1] > s[0] * 1e-10 * max(trial.shape):
            kept.append(j)
    return np.asarray(kept, dtype=np.intp)


def _max_step(v: FloatArray, dv: FloatArray) -> float:
    """Largest alpha in [0, 1] with ``v + alpha dv >= 0``."""
    neg = dv < 0
    if not neg.any():
        return 1.0
    return float(min(1.0, np.min(-v[neg] / dv[neg])))


def _solve(M: FloatArray, rhs: FloatArray) -> FloatArray:
    try:
        return np.asarray(np.linalg.solve(M, rhs), dtype=np.float64)
    except np.linalg.LinAlgError:  # pragma: no cover - guarded by _independent_columns
        return np.asarray(np.linalg.lstsq(M, rhs, rcond=None)[0], dtype=np.float64)


def _fnb(
    X: FloatArray, y: FloatArray, u: FloatArray, tau: float, tol: float, max_iter: int
) -> FloatArray:
    """Frisch–Newton (Mehrotra predictor–corrector) on the bounded dual LP.

    Variables: primal ``x`` (the dual of the quantile problem, ``0 <= x <= u``)
    with slack ``s = u - x``; dual ``d`` (= -beta), ``z >= 0`` (for ``x >= 0``)
    and ``w >= 0`` (for ``x <= u``), with ``X d + z - w = c = -y``.
    """
    n = y.shape[0]
    c = -y
    x = (1.0 - tau) * u
    s = tau * u
    d = np.linalg.lstsq(X, c, rcond=None)[0]
    r = c - X @ d
    # strictly interior dual start that keeps X d + z - w = c exactly
    shift = 1e-3 * (1.0 + float(np.abs(r).mean()))
    z = np.maximum(r, 0.0) + shift
    w = np.maximum(-r, 0.0) + shift
    scale = 1.0 + float(np.abs(y) @ u)
    gap = float(x @ z + s @ w)
    it = 0
    while gap > tol * scale and it < max_iter:
        it += 1
        q = 1.0 / (z / x + w / s)
        rr = z - w
        # affine (predictor) direction
        M = X.T @ (q[:, None] * X)
        dd = _solve(M, X.T @ (q * rr))
        dx = q * (X @ dd - rr)
        ds = -dx
        dz = -z * (1.0 + dx / x)
        dw = -w * (1.0 + ds / s)
        fp = min(_max_step(x, dx), _max_step(s, ds))
        fd = min(_max_step(z, dz), _max_step(w, dw))
        if min(fp, fd) < 1.0:
            # centring + second-order (corrector) direction
            mu = float(x @ z + s @ w)
            g = float((x + fp * dx) @ (z + fd * dz) + (s + fp * ds) @ (w + fd * dw))
            mu = mu * (g / mu) ** 3 / (2 * n)
            d1 = dx * dz
            d2 = ds * dw
            xi = mu * (1.0 / x - 1.0 / s)
            v = rr - xi + d1 / x - d2 / s
            dd = _solve(M, X.T @ (q * v))
            dx = q * (X @ dd - v)
            ds = -dx
            dz = mu / x - z - (z / x) * dx - d1 / x
            dw = mu / s - w - (w / s) * ds - d2 / s
            fp = min(_max_step(x, dx), _max_step(s, ds))
            fd = min(_max_step(z, dz), _max_step(w, dw))
        fp = min(STEP_FRACTION * fp, 1.0)
        fd = min(STEP_FRACTION * fd, 1.0)
        x = x + fp * dx
        s = s + fp * ds
        d = d + fd * dd
        z = z + fd * dz
        w = w + fd * dw
        gap = float(x @ z + s @ w)
    if gap > tol * scale:
        warnings.warn(
            f"quantile regression (tau={tau}) stopped after {max_iter} iterations with "
            f"relative duality gap {gap / scale:.2e} > {tol:.0e}",
            StatisticalWarning,
            stacklevel=3,
        )
    return np.asarray(-d, dtype=np.float64)


__all__ = ["quantile_loss", "quantile_regression"]
