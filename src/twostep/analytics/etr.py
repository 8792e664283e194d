"""Expected-treatment-response bands: not-on-track alerts per administration.

twostep rules (methods.md §4.2, §4.3 and the ``etr_band`` of §11, all
[PROPOSED]). The colour names follow the OQ-45 feedback system (Finch, Lambert
& Schaalje 2001; Lambert et al. 2002), but the percentiles behind them are
twostep's own choices, not published ones — explain them as twostep rules.
Everything is in severity orientation (higher = worse); ``y_1`` = intake (the
client's first score), ``t`` = administration index (intake = 1; missed
administrations count in ``t``), ``Q_tau`` = the norms' predicted quantiles
(sorted and clipped, see `NormsModel.predict`). "Reliable deterioration" is
``y_t - y_1 >= RC`` (``> RC`` with a computed Jacobson–Truax threshold).

**With norms** (`NormsModel`), at ``t >= 3``:

==================  ===========================================================
``red``             ``y_t > Q_.90`` or reliable deterioration vs intake
``yellow``          ``Q_.75 < y_t <= Q_.90``
``green``           ``y_t <= Q_.75``
``blue``            ``y_t < Q_.25`` (instead of green; informational)
``white``           ``y_t`` below the clinical cut-off — replaces green or blue
                    (never yellow or red)
==================  ===========================================================

A score within 1e-6 resolution units of a quantile counts as equal to it.
At ``t < 3`` the band is ``none``.

**Without norms** (fallback, §4.3), at ``t >= 2``: ``red`` = reliable
deterioration, or at ``t >= 4`` no improvement at all (``y_t >= y_1``) while
still in the clinical range (this clause needs a cut-off); ``yellow`` = at
``t >= 4`` an improvement ``y_1 - y_t`` below 50 % of RC; ``green`` otherwise.
Where §4.3 is silent twostep chooses: ``white`` replaces ``green`` below the
cut-off here too (``EtrParams.fallback_white``); there is no ``blue``.

**Persistence**: ``red_confirmed`` = red at this and at the previous *scored*
administration (missed ones are skipped; a scored administration without a
colour, e.g. ``t < 3``, breaks the run). A single red is the first signal, so
one bad week ("one step back") is not labelled a failing treatment.

**Missed administrations and rows before intake** get band ``none``. The
expected quantiles are given at every row with ``t >= 2`` after the intake,
missed rows included (so that a chart of the band has no holes), and are NaN
at intake, before it, and when there are no norms.

References
----------
Finch, A. E., Lambert, M. J., & Schaalje, B. G. (2001). *Clinical Psychology &
Psychotherapy 8*, 231–242.
Lambert, M. J., Whipple, J. L., Bishop, M. J., et al. (2002). *Clinical
Psychology & Psychotherapy 9*, 149–164.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

import numba
import numpy as np
import numpy.typing as npt

from twostep.analytics.norms_model import TIE_TOLERANCE, NormsModel
from twostep.errors import AnalysisError, ConfigurationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]
_S = TypeVar("_S", bound=np.generic)


class EtrBand(IntEnum):
    """``etr_band`` codes (methods.md §11)."""

    NONE = 0
    WHITE = 1
    BLUE = 2
    GREEN = 3
    YELLOW = 4
    RED = 5
    RED_CONFIRMED = 6


ETR_BAND_LABELS: tuple[str, ...] = (
    "none",
    "white",
    "blue",
    "green",
    "yellow",
    "red",
    "red_confirmed",
)


@dataclass(frozen=True)
class EtrParams:
    """Parameters of the band rules (twostep rules, methods.md §4.2–4.3)."""

    min_t: int = 3
    fallback_min_t: int = 2
    fallback_late_t: int = 4
    fallback_yellow_share: float = 0.5
    fallback_white: bool = True

    def __post_init__(self) -> None:
        if self.min_t < 2 or self.fallback_min_t < 2:
            raise ConfigurationError("bands start at t >= 2 at the earliest")
        if self.fallback_late_t < self.fallback_min_t:
            raise ConfigurationError("fallback_late_t must not be below fallback_min_t")
        if not 0 <= self.fallback_yellow_share <= 1:
            raise ConfigurationError("fallback_yellow_share must be a share in [0, 1]")


@dataclass(frozen=True)
class EtrBands:
    """Per-row bands and expectations, and each client's latest band.

    ``expected_low`` / ``expected_median`` / ``expected_high`` are the 25th /
    50th / 75th percentiles; ``method`` is ``"norms"`` or ``"fallback"``.
    ``last_band`` is the band at each client's last scored administration
    (``none`` when the client has no score).
    """

    band: Int8Array
    expected_q10: FloatArray
    expected_low: FloatArray
    expected_median: FloatArray
    expected_high: FloatArray
    expected_q90: FloatArray
    last_band: Int8Array
    method: str

    @property
    def labels(self) -> tuple[str, ...]:
        """The §11 label of each band code (`ETR_BAND_LABELS`)."""
        return ETR_BAND_LABELS

    @property
    def provisional(self) -> npt.NDArray[np.bool_]:
        """Per row, always False: a band depends only on the past and never changes later."""
        return np.zeros(self.band.shape[0], dtype=np.bool_)

    def band_labels(self) -> npt.NDArray[np.str_]:
        """The band of every row as its label."""
        return np.asarray(ETR_BAND_LABELS)[self.band]


@numba.njit(cache=True, inline="always")
def _case(v: float, has_cut: bool, cut: float, inclusive: bool) -> bool:  # pragma: no cover
    if not has_cut:
        return False
    return v >= cut if inclusive else v > cut


#: Clients per parallel work item (each item has its own scratch buffer).
_CHUNK = 2048


@numba.njit(cache=True)
def _client(  # pragma: no cover - compiled
    start: int,
    end: int,
    c: int,
    y: FloatArray,
    t: IntArray,
    has_t: bool,
    y1_in: FloatArray,
    has_y1: bool,
    coef: FloatArray,
    m: int,
    log_t: FloatArray,
    t_cap: int,
    pick: IntArray,
    lo: float,
    hi: float,
    eps: float,
    rc: float,
    strict: bool,
    has_cut: bool,
    cut: float,
    inclusive: bool,
    min_t: int,
    fb_min_t: int,
    fb_late_t: int,
    fb_share: float,
    fb_white: bool,
    has_norms: bool,
    q: FloatArray,
    band: Int8Array,
    out_q: FloatArray,
    last_band: Int8Array,
) -> None:
    intake = -1
    y1c = np.nan
    prev_red = False
    last = 0
    for r in range(start, end):
        v = y[r]
        if intake < 0 and not np.isnan(v):
            intake = r
            y1c = v
        if intake < 0:
            band[r] = 0
            for k in range(5):
                out_q[k, r] = np.nan
            continue
        tt = t[r] if has_t else r - intake + 1
        y1 = y1_in[r] if has_y1 else y1c
        if has_norms and tt >= 2 and not np.isnan(y1):
            lt = log_t[min(tt, t_cap)]
            for j in range(m):
                val = coef[j, 0] + coef[j, 1] * y1 + (coef[j, 2] + coef[j, 3] * y1) * lt
                i = j
                while i > 0 and q[i - 1] > val:  # insertion sort = monotone rearrangement
                    q[i] = q[i - 1]
                    i -= 1
                q[i] = val
            for k in range(5):
                out_q[k, r] = min(max(q[pick[k]], lo), hi)
        else:
            for k in range(5):
                out_q[k, r] = np.nan
        if np.isnan(v):
            band[r] = 0
            continue
        code = 0
        d = v - y1
        worse = (d > rc) if strict else (d >= rc)
        if has_norms:
            if tt >= min_t and not np.isnan(y1):
                if worse or v > out_q[4, r] + eps:
                    code = 5
                elif v > out_q[3, r] + eps:
                    code = 4
                else:
                    code = 3
                    if v < out_q[1, r] - eps:
                        code = 2
                    if has_cut and not _case(v, has_cut, cut, inclusive):
                        code = 1
        elif tt >= fb_min_t and not np.isnan(y1):
            late = tt >= fb_late_t
            if worse or (late and v >= y1 and _case(v, has_cut, cut, inclusive)):
                code = 5
            elif late and (y1 - v) < fb_share * rc:
                code = 4
            else:
                code = 3
                if fb_white and has_cut and not _case(v, has_cut, cut, inclusive):
                    code = 1
        if code == 5 and prev_red:
            code = 6
        prev_red = code >= 5
        band[r] = code
        last = code
    last_band[c] = last


@numba.njit(cache=True, parallel=True)
def _bands(  # pragma: no cover - compiled
    offsets: IntArray,
    y: FloatArray,
    t: IntArray,
    has_t: bool,
    y1_in: FloatArray,
    has_y1: bool,
    coef: FloatArray,
    log_t: FloatArray,
    pick: IntArray,
    lo: float,
    hi: float,
    eps: float,
    rc: float,
    strict: bool,
    has_cut: bool,
    cut: float,
    inclusive: bool,
    min_t: int,
    fb_min_t: int,
    fb_late_t: int,
    fb_share: float,
    fb_white: bool,
    band: Int8Array,
    out_q: FloatArray,
    last_band: Int8Array,
) -> None:
    has_norms = coef.shape[0] > 0
    m = coef.shape[0]
    t_cap = log_t.shape[0] - 1
    n_clients = offsets.shape[0] - 1
    n_chunks = (n_clients + _CHUNK - 1) // _CHUNK
    for ch in numba.prange(n_chunks):
        q = np.empty(max(m, 1))  # per chunk: scratch for one row's quantiles
        for c in range(ch * _CHUNK, min((ch + 1) * _CHUNK, n_clients)):
            _client(
                offsets[c], offsets[c + 1], c, y, t, has_t, y1_in, has_y1, coef, m, log_t,
                t_cap, pick, lo, hi, eps, rc, strict, has_cut, cut, inclusive, min_t, fb_min_t,
                fb_late_t, fb_share, fb_white, has_norms, q, band, out_q, last_band,
            )  # fmt: skip


def etr_bands(
    offsets: npt.ArrayLike,
    y: npt.ArrayLike,
    t: npt.ArrayLike | None = None,
    *,
    norms: NormsModel | None,
    rc: float,
    rc_strict: bool,
    cutoff: tuple[float, bool] | float | None,
    cutoff_inclusive: bool = True,
    y1: npt.ArrayLike | None = None,
    params: EtrParams | None = None,
) -> EtrBands:
    """The ``etr_band`` of every administration (one compiled pass over the clients).

    Parameters
    ----------
    offsets : int array, length ``n_clients + 1``
        Client segments (see `ScoreBatch`).
    y : float array
        Severity-oriented scores, NaN = missed.
    t : int array, optional
        Administration index from intake (intake = 1), e.g. ``Trajectory.t``;
        by default counted from each client's first score (densified batches).
    norms : NormsModel or None
        Fitted norms (§4.2 rules); None for the §4.3 fallback.
    rc, rc_strict
        Reliable-change threshold; deterioration is ``y_t - y_1 > rc`` when
        strict (computed J&T), ``>= rc`` otherwise (fixed published).
    cutoff, cutoff_inclusive
        Clinical range in severity orientation, as ``(cut, inclusive)`` (e.g.
        ``Scale.severity_cutoff``) or as a number with ``cutoff_inclusive``:
        ``y >= cut`` (inclusive) or ``y > cut`` is a case. None when the
        instrument has none (no white band, and no "no improvement while in the
        clinical range" clause in the fallback).
    y1 : float array, optional
        Intake score per row (default: the client's first score).
    params : EtrParams, optional

    Returns
    -------
    EtrBands
    """
    p = params or EtrParams()
    if isinstance(cutoff, tuple):
        cutoff, cutoff_inclusive = cutoff
    if not rc > 0:
        raise ConfigurationError("the reliable-change threshold must be positive")
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    ya = np.ascontiguousarray(y, dtype=np.float64)
    n = ya.shape[0]
    n_clients = off.shape[0] - 1
    if n_clients < 0 or off[0] != 0 or off[-1] != n:
        raise AnalysisError("offsets must run from 0 to the number of rows")
    ta = _per_row(t, np.int64, n, "t")
    y1a = _per_row(y1, np.float64, n, "y1")
    if norms is not None:
        coef = np.ascontiguousarray(norms.coef)
        pick = np.array([norms.tau_index(x) for x in (0.10, 0.25, 0.50, 0.75, 0.90)])
        log_t = np.log(np.maximum(np.arange(norms.t_cap + 1, dtype=np.float64), 1.0))
        lo, hi = norms.scale.severity_min, norms.scale.severity_max
        eps = TIE_TOLERANCE * norms.scale.resolution
    else:
        coef = np.zeros((0, 4))
        pick = np.zeros(5, dtype=np.int64)
        log_t = np.zeros(2)
        lo, hi, eps = -np.inf, np.inf, 0.0
    band = np.empty(n, dtype=np.int8)
    out_q = np.empty((5, n))
    last_band = np.empty(n_clients, dtype=np.int8)
    _bands(
        off, ya, ta, t is not None, y1a, y1 is not None, coef, log_t, pick.astype(np.int64),
        float(lo), float(hi), float(eps), float(rc), bool(rc_strict), cutoff is not None,
        float(cutoff) if cutoff is not None else 0.0, bool(cutoff_inclusive), p.min_t,
        p.fallback_min_t, p.fallback_late_t, float(p.fallback_yellow_share),
        p.fallback_white, band, out_q, last_band,
    )  # fmt: skip
    return EtrBands(
        band=band,
        expected_q10=out_q[0],
        expected_low=out_q[1],
        expected_median=out_q[2],
        expected_high=out_q[3],
        expected_q90=out_q[4],
        last_band=last_band,
        method="norms" if norms is not None else "fallback",
    )


def _per_row(values: npt.ArrayLike | None, dtype: type[_S], n: int, name: str) -> npt.NDArray[_S]:
    if values is None:
        return np.zeros(0, dtype=dtype)
    arr = np.ascontiguousarray(values, dtype=dtype)
    if arr.shape != (n,):
        raise AnalysisError(f"{name} must have one entry per row")
    return arr


__all__ = ["ETR_BAND_LABELS", "EtrBand", "EtrBands", "EtrParams", "etr_bands"]
