"""Empirical expected-treatment-response norms (methods.md §4.2, twostep rule [PROPOSED]).

The model, fitted per instrument in severity orientation (higher = worse) by
linear quantile regression (Koenker & Bassett 1978; see
`twostep.analytics.quantile_regression`):

.. math::

    Q_\\tau(y_t \\mid y_1, t) = b_0 + b_1 y_1 + b_2 \\log t' + b_3\\, y_1 \\log t',
    \\qquad t' = \\min(t, t_{cap}),\\quad \\tau \\in \\{.10, .25, .50, .75, .90\\}

(``t`` = administration index, intake = 1; ``t_cap`` = 20, flat beyond), in
the spirit of the log-session expected recovery curves of Finch, Lambert &
Schaalje (2001). Predicted quantiles are sorted per row — the monotone
rearrangement of Chernozhukov, Fernández-Val & Galichon (2010) for a finite set
of levels — and clipped to the scale's range.

**Training rows.** Every scored administration with ``t >= 2`` of every
episode (client segment) with at least 3 scores or marked closed; ``y_1`` is
the episode's first score and ``t`` counts from it. Administrations after
``t_cap`` enter at ``t_cap`` (the curve is flat there, so the capped curve is
fitted to them). **Minimum data**: 300 episodes and 1,500 training rows
(scored administrations at ``t >= 2``; intakes enter only as ``y_1``) — below
that `NormsAccumulator.fit` returns None and the caller uses the §4.3 rules.

**Collapsed counts.** With scores on a grid of resolution ``h`` (1 point for
integer totals) a training row is one cell ``(fold, y_1, t', y_t)`` of a finite
table, and the weighted quantile regression on the cells, weighted by their
counts, has exactly the minimiser of the regression on the rows (``rho_tau`` is
positively homogeneous). `NormsAccumulator` keeps those counts: ``add`` a batch
of clients, ``merge`` accumulators from other buckets in any order, ``fit``
once. Scores off the grid are rounded to it (the quantisation step for
non-integer scales).

**Coverage check** (§4.2 validation): grouped ``K``-fold cross-validation with
folds from `twostep.analytics.folds.client_folds`; for each fold the model is
refitted on the other folds' counts and the share of the fold's scores above
the predicted 90th percentile is counted; it must be 10 % ± 2 % overall.

References
----------
Koenker, R., & Bassett, G. (1978). Regression quantiles. *Econometrica 46*, 33–50.
Chernozhukov, V., Fernández-Val, I., & Galichon, A. (2010). Quantile and
probability curves without crossing. *Econometrica 78*(3), 1093–1125.
Finch, A. E., Lambert, M. J., & Schaalje, B. G. (2001). Psychotherapy quality
control. *Clinical Psychology & Psychotherapy 8*, 231–242.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

import numba
import numpy as np
import numpy.typing as npt

from twostep.analytics.batch import NO_DAY
from twostep.analytics.etr import EtrBands, etr_bands
from twostep.analytics.norms_model import (
    DEFAULT_TAUS,
    MODEL_NAME,
    NORMS_FORMAT_VERSION,
    TIE_TOLERANCE,
    Coverage,
    NormsModel,
    ScaleInfo,
    design_matrix,
    predict_quantiles,
    valid_taus,
)
from twostep.analytics.quantile_regression import quantile_regression
from twostep.errors import AnalysisError, ConfigurationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_S = TypeVar("_S", bound=np.generic)

#: Dense counting (np.bincount) is used while the table has at most this many cells
#: (or four per row); larger tables are counted by sorting.
DENSE_CELLS = 1 << 22


@numba.njit(cache=True, parallel=True)
def _training_keys(  # pragma: no cover - compiled
    offsets: IntArray,
    y: FloatArray,
    t: IntArray,
    has_t: bool,
    fold: IntArray,
    closed: BoolArray,
    has_closed: bool,
    day: IntArray,
    has_day: bool,
    lo: float,
    res: float,
    n_levels: int,
    t_cap: int,
    min_scores: int,
    keys: IntArray,
    n_train: IntArray,
    first_day: IntArray,
    last_day: IntArray,
    bad: IntArray,
) -> None:
    n_t = t_cap - 1
    for c in numba.prange(offsets.shape[0] - 1):
        start = offsets[c]
        end = offsets[c + 1]
        n_valid = 0
        intake = -1
        bad[c] = -1
        n_train[c] = 0
        first_day[c] = NO_DAY
        last_day[c] = NO_DAY
        for r in range(start, end):
            keys[r] = -1
            v = y[r]
            if np.isnan(v):
                continue
            code = np.floor((v - lo) / res + 0.5)
            if not (code >= 0 and code < n_levels):
                if bad[c] < 0:
                    bad[c] = r
                continue
            n_valid += 1
            if intake < 0:
                intake = r
        if bad[c] >= 0 or intake < 0:
            continue
        if n_valid < min_scores and not (has_closed and closed[c]):
            continue
        c1 = int(np.floor((y[intake] - lo) / res + 0.5))
        base = (fold[c] * n_levels + c1) * n_t
        fd = np.iinfo(np.int64).max
        ld = NO_DAY
        m = 0
        for r in range(intake, end):
            v = y[r]
            if np.isnan(v):
                continue
            if has_day and day[r] != NO_DAY:
                fd = min(fd, day[r])
                ld = max(ld, day[r])
            tt = t[r] if has_t else r - intake + 1
            if tt < 2:
                continue
            tt = min(tt, t_cap)
            keys[r] = (base + tt - 2) * n_levels + int(np.floor((v - lo) / res + 0.5))
            m += 1
        n_train[c] = m
        if m > 0 and ld != NO_DAY:
            first_day[c] = fd
            last_day[c] = ld


def _sum_by_key(keys: IntArray, counts: IntArray) -> tuple[IntArray, IntArray]:
    """Sorted distinct keys and the summed counts of each."""
    uniq, inv = np.unique(keys, return_inverse=True)
    total = np.zeros(uniq.shape[0], dtype=np.int64)
    np.add.at(total, inv.reshape(-1), counts)
    return uniq.astype(np.int64), total


@dataclass(eq=False)
class NormsAccumulator:
    """Mergeable counts of training cells ``(fold, y_1, t', y_t)`` for one instrument.

    Parameters
    ----------
    scale : ScaleInfo
        The instrument's scale; scores passed to `add` are in its severity
        orientation (``scale.to_severity(raw)``) and are rounded to
        ``scale.resolution``.
    t_cap : int
        Administrations beyond ``t_cap`` count as ``t_cap`` (default 20).
    n_folds : int
        Number of cross-validation folds the counts are kept apart by (5).
    min_scores_per_episode : int
        Episodes with fewer scores are used only when marked closed (3).

    Attributes
    ----------
    keys, counts : int arrays
        The non-empty cells (sorted cell numbers) and their counts; see `cells`.
    episodes : int array
        Episodes with at least one training row, per fold.
    first_day, last_day : int
        Training window in days since 1970-01-01 (`NO_DAY` when unknown).

    Examples
    --------
    >>> acc = NormsAccumulator(ScaleInfo(0, 27))
    >>> for part in buckets:                                  # doctest: +SKIP
    ...     acc = acc.merge(part_accumulator(part))
    >>> model = acc.fit(instrument_id="phq9", created_at=now)  # doctest: +SKIP
    """

    scale: ScaleInfo
    t_cap: int = 20
    n_folds: int = 5
    min_scores_per_episode: int = 3
    keys: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    counts: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    episodes: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    first_day: int = NO_DAY
    last_day: int = NO_DAY

    def __post_init__(self) -> None:
        if self.t_cap < 2:
            raise ConfigurationError("t_cap must be at least 2")
        if self.n_folds < 2:
            raise ConfigurationError("n_folds must be at least 2")
        if self.min_scores_per_episode < 2:
            raise ConfigurationError("min_scores_per_episode must be at least 2")
        if self.episodes.shape[0] == 0:
            self.episodes = np.zeros(self.n_folds, dtype=np.int64)

    @property
    def n_levels(self) -> int:
        return self.scale.n_levels

    @property
    def n_cells(self) -> int:
        """Size of the (fold, y_1, t', y_t) table."""
        return self.n_folds * self.n_levels * (self.t_cap - 1) * self.n_levels

    @property
    def n_episodes(self) -> int:
        """Episodes with at least one training row."""
        return int(self.episodes.sum())

    @property
    def n_scores(self) -> int:
        """Training rows (scored administrations at ``t >= 2``)."""
        return int(self.counts.sum())

    def add(
        self,
        offsets: npt.ArrayLike,
        y: npt.ArrayLike,
        t: npt.ArrayLike | None,
        client_fold: npt.ArrayLike,
        *,
        closed: npt.ArrayLike | None = None,
        day: npt.ArrayLike | None = None,
    ) -> None:
        """Count the training rows of one batch of clients (in place).

        Parameters
        ----------
        offsets : int array, length ``n_clients + 1``
            Client segments of the rows (see `ScoreBatch`).
        y : float array
            Severity-oriented scores, NaN = missed administration.
        t : int array or None
            Administration index from intake (intake = 1) per row; None counts
            rows from each client's first score (densified batches).
        client_fold : int array, one per client
            From `client_folds` (``0 .. n_folds - 1``).
        closed : bool array, one per client, optional
            Episodes marked closed are used even with fewer than 3 scores.
        day : int array, optional
            Days since 1970-01-01 per row (`NO_DAY` = unknown), for the
            training window.

        Raises
        ------
        AnalysisError
            Array lengths disagree, a fold is out of range, or a score lies
            outside the scale.
        """
        off = np.ascontiguousarray(offsets, dtype=np.int64)
        ya = np.ascontiguousarray(y, dtype=np.float64)
        n = ya.shape[0]
        n_clients = off.shape[0] - 1
        if n_clients < 0 or off[0] != 0 or off[-1] != n or (np.diff(off) < 0).any():
            raise AnalysisError("offsets must run from 0 to the number of rows, non-decreasing")
        fold = np.ascontiguousarray(client_fold, dtype=np.int64)
        if fold.shape != (n_clients,):
            raise AnalysisError("client_fold must have one entry per client")
        if n_clients and (fold.min() < 0 or fold.max() >= self.n_folds):
            raise AnalysisError(f"client_fold must be in 0 .. {self.n_folds - 1}")
        ta = _optional(t, np.int64, n, "t")
        ca = _optional(closed, np.bool_, n_clients, "closed")
        da = _optional(day, np.int64, n, "day")
        keys = np.empty(n, dtype=np.int64)
        n_train = np.empty(n_clients, dtype=np.int64)
        fday = np.empty(n_clients, dtype=np.int64)
        lday = np.empty(n_clients, dtype=np.int64)
        bad = np.empty(n_clients, dtype=np.int64)
        _training_keys(
            off, ya, ta, t is not None, fold, ca, closed is not None, da, day is not None,
            float(self.scale.severity_min), float(self.scale.resolution), self.n_levels,
            self.t_cap, self.min_scores_per_episode, keys, n_train, fday, lday, bad,
        )  # fmt: skip
        if (bad >= 0).any():
            row = int(bad[bad >= 0][0])
            raise AnalysisError(
                f"row {row}: score {ya[row]} is outside the severity range "
                f"{self.scale.severity_min}..{self.scale.severity_max}"
            )
        valid = keys[keys >= 0]
        if valid.shape[0] * 4 >= self.n_cells or self.n_cells <= DENSE_CELLS:
            dense = np.bincount(valid, minlength=self.n_cells)
            new_keys = np.flatnonzero(dense).astype(np.int64)
            new_counts = dense[new_keys].astype(np.int64)
        else:
            new_keys, cnt = np.unique(valid, return_counts=True)
            new_counts = cnt.astype(np.int64)
        if self.keys.shape[0]:
            new_keys, new_counts = _sum_by_key(
                np.concatenate((self.keys, new_keys)), np.concatenate((self.counts, new_counts))
            )
        self.keys, self.counts = new_keys, new_counts
        self.episodes = self.episodes + np.bincount(fold[n_train > 0], minlength=self.n_folds)
        known = fday != NO_DAY
        if known.any():
            self.first_day = _min_day(self.first_day, int(fday[known].min()))
            self.last_day = max(self.last_day, int(lday[known].max()))

    def merge(self, other: NormsAccumulator) -> NormsAccumulator:
        """A new accumulator with the counts of both (order does not matter)."""
        same = (self.scale, self.t_cap, self.n_folds, self.min_scores_per_episode) == (
            other.scale, other.t_cap, other.n_folds, other.min_scores_per_episode,
        )  # fmt: skip
        if not same:
            raise ConfigurationError("cannot merge accumulators with different settings")
        keys, counts = _sum_by_key(
            np.concatenate((self.keys, other.keys)), np.concatenate((self.counts, other.counts))
        )
        return NormsAccumulator(
            self.scale,
            self.t_cap,
            self.n_folds,
            self.min_scores_per_episode,
            keys=keys,
            counts=counts,
            episodes=self.episodes + other.episodes,
            first_day=_min_day(self.first_day, other.first_day),
            last_day=max(self.last_day, other.last_day),
        )

    def cells(self) -> tuple[IntArray, FloatArray, IntArray, FloatArray, IntArray]:
        """The non-empty cells as columns ``(fold, y_1, t', y_t, count)``, sorted by cell."""
        fold, y1, tt, yt = self._decode(self.keys)
        return fold, y1, tt, yt, self.counts.copy()

    def _decode(self, keys: IntArray) -> tuple[IntArray, FloatArray, IntArray, FloatArray]:
        """(fold, y_1, t', y_t) of each key."""
        k = self.n_levels
        n_t = self.t_cap - 1
        ct = keys % k
        rest = keys // k
        tt = rest % n_t + 2
        rest = rest // n_t
        c1 = rest % k
        fold = rest // k
        lo, h = self.scale.severity_min, self.scale.resolution
        f64 = np.float64
        return fold, np.asarray(lo + c1 * h, dtype=f64), tt, np.asarray(lo + ct * h, dtype=f64)

    def fit(
        self,
        *,
        instrument_id: str,
        created_at: datetime | str,
        taus: tuple[float, ...] = DEFAULT_TAUS,
        min_episodes: int = 300,
        min_scores: int = 1500,
        coverage_tau: float = 0.90,
        coverage_tolerance: float = 0.02,
        tol: float = 1e-11,
        max_iter: int = 200,
    ) -> NormsModel | None:
        """Fit the ETR quantile model and its cross-validated coverage.

        Parameters
        ----------
        instrument_id : str
        created_at : datetime or ISO 8601 str
            Creation time, recorded in the model (the kernel reads no clock).
        taus : tuple of float
            Quantile levels, increasing (default .10, .25, .50, .75, .90).
        min_episodes, min_scores : int
            Minimum data (§4.2: 300 episodes, 1,500 training rows).
        coverage_tau, coverage_tolerance : float
            The coverage check counts held-out scores above the predicted
            ``coverage_tau`` quantile; it passes when the overall share is
            within ``1 - coverage_tau ± coverage_tolerance``.
        tol, max_iter
            Passed to `quantile_regression`.

        Returns
        -------
        NormsModel or None
            None when there are too few data (use the §4.3 fallback rules).
        """
        taus = tuple(float(x) for x in taus)
        if not valid_taus(taus):
            raise ConfigurationError("taus must be increasing and within (0, 1)")
        if not any(abs(x - coverage_tau) < 1e-9 for x in taus):
            raise ConfigurationError("coverage_tau must be one of the taus")
        if self.n_episodes < min_episodes or self.n_scores < min_scores:
            return None
        created = created_at.isoformat() if isinstance(created_at, datetime) else created_at
        k_cov = min(range(len(taus)), key=lambda i: abs(taus[i] - coverage_tau))
        per_fold = self.n_levels * (self.t_cap - 1) * self.n_levels
        fold = self._decode(self.keys)[0]
        cell = self.keys % per_fold
        cells, inv = np.unique(cell, return_inverse=True)
        inv = inv.reshape(-1)
        total = np.zeros(cells.shape[0], dtype=np.int64)
        np.add.at(total, inv, self.counts)
        _, c_y1, c_t, c_yt = self._decode(cells)
        X = design_matrix(c_y1, c_t, self.t_cap)
        coef = _fit_all(X, c_yt, total, taus, tol, max_iter)
        lo, hi = self.scale.severity_min, self.scale.severity_max
        eps = TIE_TOLERANCE * self.scale.resolution
        shares: list[float] = []
        ns: list[int] = []
        n_above = 0
        for f in range(self.n_folds):
            mine = fold == f
            held = np.zeros(cells.shape[0], dtype=np.int64)
            held[inv[mine]] = self.counts[mine]
            train = total - held
            n_f = int(held.sum())
            if n_f == 0 or not train.any():
                shares.append(float("nan"))
                ns.append(n_f)
                continue
            cf = _fit_all(X, c_yt, train, taus, tol, max_iter)
            q = predict_quantiles(cf, c_y1, c_t, self.t_cap, lo, hi)[:, k_cov]
            above = int(held[c_yt > q + eps].sum())
            n_above += above
            shares.append(above / n_f)
            ns.append(n_f)
        n_cov = sum(n for n, s in zip(ns, shares, strict=True) if s == s)
        share = n_above / n_cov if n_cov else float("nan")
        target = round(1.0 - taus[k_cov], 12)
        coverage = Coverage(
            tau=taus[k_cov],
            target=target,
            tolerance=coverage_tolerance,
            fold_share=tuple(shares),
            fold_n=tuple(ns),
            share=share,
            n=n_cov,
            passed=bool(abs(share - target) <= coverage_tolerance + 1e-12),
        )
        return NormsModel(
            format_version=NORMS_FORMAT_VERSION,
            instrument_id=instrument_id,
            model=MODEL_NAME,
            taus=taus,
            coefficients=tuple(tuple(float(v) for v in row) for row in coef),
            t_cap=self.t_cap,
            scale=self.scale,
            training_first_day=_iso_day(self.first_day),
            training_last_day=_iso_day(self.last_day),
            n_episodes=self.n_episodes,
            n_scores=self.n_scores,
            coverage=coverage,
            created_at=created,
        )


def fit_norms(
    offsets: npt.ArrayLike,
    y: npt.ArrayLike,
    t: npt.ArrayLike | None,
    client_fold: npt.ArrayLike,
    *,
    scale: ScaleInfo,
    instrument_id: str,
    created_at: datetime | str,
    closed: npt.ArrayLike | None = None,
    day: npt.ArrayLike | None = None,
    t_cap: int = 20,
    n_folds: int = 5,
    min_episodes: int = 300,
    min_scores: int = 1500,
) -> NormsModel | None:
    """One-batch convenience: `NormsAccumulator.add` then `NormsAccumulator.fit`."""
    acc = NormsAccumulator(scale, t_cap=t_cap, n_folds=n_folds)
    acc.add(offsets, y, t, client_fold, closed=closed, day=day)
    return acc.fit(
        instrument_id=instrument_id,
        created_at=created_at,
        min_episodes=min_episodes,
        min_scores=min_scores,
    )


def _fit_all(
    X: FloatArray, y: FloatArray, w: IntArray, taus: tuple[float, ...], tol: float, max_iter: int
) -> FloatArray:
    keep = w > 0
    Xk, yk, wk = X[keep], y[keep], w[keep].astype(np.float64)
    return np.stack(
        [quantile_regression(Xk, yk, tau, wk, tol=tol, max_iter=max_iter) for tau in taus]
    )


def _optional(values: npt.ArrayLike | None, dtype: type[_S], n: int, name: str) -> npt.NDArray[_S]:
    if values is None:
        return np.zeros(0, dtype=dtype)
    arr = np.ascontiguousarray(values, dtype=dtype)
    if arr.shape != (n,):
        raise AnalysisError(f"{name} must have {n} entries")
    return arr


def _min_day(a: int, b: int) -> int:
    if a == NO_DAY:
        return b
    if b == NO_DAY:
        return a
    return min(a, b)


def _iso_day(day: int) -> str | None:
    if day == NO_DAY:
        return None
    return (date(1970, 1, 1) + (np.timedelta64(day, "D")).item()).isoformat()


__all__ = [
    "EtrBands",
    "NormsAccumulator",
    "NormsModel",
    "ScaleInfo",
    "etr_bands",
    "fit_norms",
]
