"""Sudden gains and sudden losses (Tang & DeRubeis 1999; Lutz et al. 2013).

For the interval from the pregain administration ``N`` to the postgain
administration ``N+1`` (severity orientation, ``y_N`` = pregain score):

1. absolute size: ``y_N - y_{N+1} >= C1`` (default C1 = the instrument's
   reliable-change threshold; Tang & DeRubeis used 7 BDI points);
2. relative size: ``y_N - y_{N+1} >= p * y_N`` (default ``p = 0.25``);
3. stability: with up to three scores before the gain (``N-2, N-1, N``) and up
   to three after it (``N+1, N+2, N+3``), at least two on each side,

   ``mean_pre - mean_post > t_crit * s_pooled``, where
   ``s_pooled = sqrt(((n_pre-1) s_pre^2 + (n_post-1) s_post^2) / (n_pre + n_post - 2))``

   and ``t_crit`` is the two-tailed critical t for ``df = n_pre + n_post - 2``
   (alpha .05: 2.776 / 3.182 / 4.303 for df 4 / 3 / 2), or one fixed value
   (2.776) when the adjustment is switched off. As in Tang & DeRubeis and the
   ``suddengains`` R package, the mean difference is compared with
   ``t x pooled SD``, not with a standard error.

Sudden losses mirror the criteria: ``y_{N+1} - y_N >= C1``,
``y_{N+1} - y_N >= p * y_N`` and ``mean_post - mean_pre > t_crit * s_pooled``
(methods.md §3.3; note that with ``y_N = 0`` any rise meets criterion 2).

Intervals are taken by position: missed administrations are NaN rows that keep
their place (a missing ``y_N`` or ``y_{N+1}`` means no gain at that interval; a
missing neighbour lowers ``n_pre``/``n_post``). Positions count from the
client's first score (intake = 1; missed rows before it are not part of the
episode). Examined intervals run from the 2nd→3rd administration to the last;
the 1st→2nd is examined only on request (``first_interval=True``, for a true
pre-treatment baseline) and, having a single pregain score, can only be
identified with criterion 3 switched off. Criteria 1 and 2 allow a 1e-9
relative tolerance so that decimal scores meet a cut-off they reach exactly.

**Reversal** (Tang & DeRubeis 1999; ``create_bysg``): a gain is reversed when
any later score (``N+2`` onward) is worse than ``y_{N+1} + magnitude / 2``;
a loss when any later score is better than ``y_{N+1} - magnitude / 2``.

**Provisional.** Criterion 3 needs the administrations ``N+1..N+3``. While
they do not all exist yet (live data), an interval meeting the criteria is
reported with ``provisional = True``; a retrospective analysis and a live one
agree once they exist.

**Gap** (twostep rule, methods.md §3.5): an interval longer than
``gap_days`` (28) between ``N`` and ``N+1`` is flagged, not excluded.

References
----------
Tang, T. Z., & DeRubeis, R. J. (1999). JCCP 67(6), 894–904.
Lutz, W., et al. (2013). Psychotherapy Research 23(1), 14–24.
Wiedemann, M., Thew, G. R., Stott, R., & Ehlers, A. (2020). suddengains: an R
package to identify sudden gains in longitudinal data. PLOS ONE 15(3), e0230276.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from twostep.analytics.batch import NO_DAY
from twostep.errors import ConfigurationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Two-tailed critical t values for df = 2, 3, 4 at the alphas the suddengains
#: package offers (values of qt(1 - alpha/2, df); checked against scipy in tests).
CRITICAL_T: dict[float, tuple[float, float, float]] = {
    0.05: (4.303, 3.182, 2.776),
    0.01: (9.925, 5.841, 4.604),
    0.001: (31.599, 12.924, 8.610),
}


@dataclass(frozen=True)
class SuddenGainParams:
    """Parameters of the Tang–DeRubeis criteria (methods.md §3).

    Attributes
    ----------
    crit1
        Criterion 1 cut-off in points; None = the instrument's RC threshold.
    crit2
        Criterion 2 share of the pregain score (0.25).
    crit3
        Apply criterion 3 (True).
    crit3_adjust
        Adjust the critical value for missing neighbours (True; Lutz et al. 2013).
    crit3_alpha
        Two-tailed alpha of the adjusted critical values: 0.05, 0.01 or 0.001.
    crit3_critical_value
        The value used for every comparison when ``crit3_adjust`` is False (2.776).
    first_interval
        Also examine the 1st→2nd interval (False).
    gap_days
        Flag intervals longer than this many days (28; twostep rule).
    """

    crit1: float | None = None
    crit2: float = 0.25
    crit3: bool = True
    crit3_adjust: bool = True
    crit3_alpha: float = 0.05
    crit3_critical_value: float = 2.776
    first_interval: bool = False
    gap_days: int = 28

    def __post_init__(self) -> None:
        if self.crit3_alpha not in CRITICAL_T:
            raise ConfigurationError(
                f"crit3_alpha must be one of {sorted(CRITICAL_T)}, got {self.crit3_alpha}"
            )
        if not 0 <= self.crit2 <= 1:
            raise ConfigurationError("crit2 must be a share between 0 and 1")
        if self.crit1 is not None and not self.crit1 > 0:
            raise ConfigurationError("crit1 must be a positive number of points")
        if not self.crit3_critical_value > 0:
            raise ConfigurationError("crit3_critical_value must be positive")

    def critical_values(self) -> FloatArray:
        """Critical t indexed by df (0..4); only df 2..4 are used."""
        if self.crit3_adjust:
            t2, t3, t4 = CRITICAL_T[self.crit3_alpha]
        else:
            t2 = t3 = t4 = self.crit3_critical_value
        return np.array([np.nan, np.nan, t2, t3, t4], dtype=np.float64)


#: Bits of the per-row interval code written by `interval_codes` (row = postgain ``N+1``).
EXAMINED = np.uint8(1)  # the interval ending here is examined
COMPLETE = np.uint8(2)  # administrations N+1..N+3 all exist (criterion 3 is final)
CRIT3_COMPUTABLE = np.uint8(4)  # at least two scores on each side
GAIN_CRIT12 = np.uint8(8)  # criteria 1 and 2 of a sudden gain hold
GAIN_CRIT3 = np.uint8(16)  # criterion 3 of a sudden gain holds
LOSS_CRIT12 = np.uint8(32)
LOSS_CRIT3 = np.uint8(64)
PRE_OK = np.uint8(128)  # at least two pregain scores: criterion 3 can still be met later

#: Criteria 1 and 2 are compared with this tolerance (relative to the cut-off), so that
#: decimal scores (ORS 32.3 - 27.3 = 4.9999999999999964) meet C1 = 5 as written.
_TOLERANCE = 1e-9


@numba.njit(cache=True, inline="always")
def _window_stats(  # pragma: no cover - compiled
    y: FloatArray, start: int, end: int, pre: int, post: int
) -> tuple[int, int, float, float, float]:
    """n_pre, n_post, mean_pre, mean_post, pooled SD of the criterion-3 windows."""
    lo = max(start, pre - 2)
    hi = min(end - 1, post + 2)
    n1 = 0
    s1 = 0.0
    for k in range(lo, pre + 1):
        if not np.isnan(y[k]):
            n1 += 1
            s1 += y[k]
    n2 = 0
    s2 = 0.0
    for k in range(post, hi + 1):
        if not np.isnan(y[k]):
            n2 += 1
            s2 += y[k]
    if n1 < 2 or n2 < 2:
        return n1, n2, np.nan, np.nan, np.nan
    m1 = s1 / n1
    m2 = s2 / n2
    ss = 0.0
    for k in range(lo, pre + 1):
        if not np.isnan(y[k]):
            ss += (y[k] - m1) ** 2
    for k in range(post, hi + 1):
        if not np.isnan(y[k]):
            ss += (y[k] - m2) ** 2
    # (n - 1) * s^2 is the sum of squared deviations on each side
    return n1, n2, m1, m2, np.sqrt(ss / (n1 + n2 - 2))


@numba.njit(cache=True, parallel=True)
def _interval_codes(  # pragma: no cover - compiled
    offsets: IntArray,
    y: FloatArray,
    crit1: float,
    crit2: float,
    tcrit_by_df: FloatArray,
    first_interval: bool,
    out: npt.NDArray[np.uint8],
) -> None:
    n_clients = offsets.shape[0] - 1
    for c in numba.prange(n_clients):
        start = offsets[c]
        end = offsets[c + 1]
        # intervals are counted from the first score (intake), not from leading missed rows
        intake = start
        while intake < end and np.isnan(y[intake]):
            intake += 1
        first_post = intake + (1 if first_interval else 2)
        for r in range(start, min(first_post, end)):
            out[r] = 0
        for post in range(first_post, end):
            pre = post - 1
            code = 1
            if post + 2 < end:
                code |= 2
            yp = y[pre]
            yq = y[post]
            if np.isnan(yp) or np.isnan(yq):
                out[post] = code
                continue
            n1, n2, m1, m2, sp = _window_stats(y, start, end, pre, post)
            computable = n1 >= 2 and n2 >= 2
            if computable:
                code |= 4
            if n1 >= 2:
                code |= 128
            tc = tcrit_by_df[n1 + n2 - 2] if computable else np.nan
            tol1 = 1e-9 * max(1.0, crit1)
            tol2 = 1e-9 * max(1.0, abs(crit2 * yp))
            down = yp - yq
            if down >= crit1 - tol1 and down >= crit2 * yp - tol2:
                code |= 8
                if computable and m1 - m2 > tc * sp:
                    code |= 16
            up = yq - yp
            if up >= crit1 - tol1 and up >= crit2 * yp - tol2:
                code |= 32
                if computable and m2 - m1 > tc * sp:
                    code |= 64
            out[post] = code


def interval_codes(
    offsets: IntArray, y: FloatArray, *, crit1: float, params: SuddenGainParams
) -> npt.NDArray[np.uint8]:
    """Evaluate the criteria for gains and losses at every examined interval, in one pass.

    ``y`` is severity-oriented (higher = worse). Returns one ``uint8`` per row
    (the postgain row ``N+1``) combining the bit flags `EXAMINED`, `COMPLETE`,
    `CRIT3_COMPUTABLE`, `GAIN_CRIT12`, `GAIN_CRIT3`, `LOSS_CRIT12`, `LOSS_CRIT3`,
    `PRE_OK`. Intervals are counted from each client's first score, and criteria 1
    and 2 are compared with a 1e-9 relative tolerance (decimal scores).
    """
    out = np.empty(y.shape[0], dtype=np.uint8)
    _interval_codes(
        offsets,
        np.ascontiguousarray(y, dtype=np.float64),
        float(crit1),
        float(params.crit2),
        params.critical_values(),
        params.first_interval,
        out,
    )
    return out


def identified(codes: npt.NDArray[np.uint8], *, loss: bool, crit3: bool = True) -> BoolArray:
    """Rows ending an interval that meets every applied criterion (with the data so far)."""
    c12, c3 = (LOSS_CRIT12, LOSS_CRIT3) if loss else (GAIN_CRIT12, GAIN_CRIT3)
    hit = (codes & c12) != 0
    if crit3:
        hit &= (codes & c3) != 0
    return np.asarray(hit, dtype=np.bool_)


@numba.njit(cache=True)
def _event_details(  # pragma: no cover - compiled
    offsets: IntArray,
    client_index: IntArray,
    post_rows: IntArray,
    y: FloatArray,
    tcrit_by_df: FloatArray,
    mean_pre: FloatArray,
    mean_post: FloatArray,
    s_pooled: FloatArray,
    t_crit: FloatArray,
) -> None:
    for e in range(post_rows.shape[0]):
        post = post_rows[e]
        c = client_index[post]
        n1, n2, m1, m2, sp = _window_stats(y, offsets[c], offsets[c + 1], post - 1, post)
        mean_pre[e] = m1
        mean_post[e] = m2
        s_pooled[e] = sp
        t_crit[e] = tcrit_by_df[n1 + n2 - 2] if n1 >= 2 and n2 >= 2 else np.nan


@numba.njit(cache=True, nogil=True)
def _reversals(  # pragma: no cover - compiled
    offsets: IntArray,
    client_index: IntArray,
    post_rows: IntArray,
    y: FloatArray,
    loss: bool,
    out: BoolArray,
) -> None:
    for e in range(post_rows.shape[0]):
        post = post_rows[e]
        end = offsets[client_index[post] + 1]
        pre = post - 1
        magnitude = abs(y[pre] - y[post])
        limit = y[post] - 0.5 * magnitude if loss else y[post] + 0.5 * magnitude
        for k in range(post + 1, end):
            v = y[k]
            if np.isnan(v):
                continue
            if (loss and v < limit) or (not loss and v > limit):
                out[e] = True
                break


@dataclass(frozen=True)
class SuddenEvents:
    """One row per identified sudden gain (or loss).

    ``client`` is the segment number, ``pre_row``/``post_row`` the row
    indices of the interval in the batch. Magnitudes are in severity points
    (positive); ``relative_change`` is ``magnitude / y_N`` (NaN when
    ``y_N = 0``).
    """

    client: IntArray
    pre_row: IntArray
    post_row: IntArray
    magnitude: FloatArray
    relative_change: FloatArray
    reversal: BoolArray
    provisional: BoolArray
    gap: BoolArray
    largest: BoolArray
    earliest: BoolArray
    mean_pre: FloatArray
    mean_post: FloatArray
    s_pooled: FloatArray
    t_crit: FloatArray

    def __len__(self) -> int:
        return int(self.client.shape[0])


def sudden_events(
    offsets: IntArray,
    client_index: IntArray,
    y: FloatArray,
    day: IntArray,
    codes: npt.NDArray[np.uint8],
    *,
    loss: bool,
    params: SuddenGainParams,
) -> SuddenEvents:
    """Collect the identified intervals into an event table with reversal and flags."""
    post = np.flatnonzero(identified(codes, loss=loss, crit3=params.crit3)).astype(np.int64)
    pre = post - 1
    client = client_index[post]
    magnitude = np.abs(y[pre] - y[post])
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(y[pre] != 0, magnitude / np.abs(y[pre]), np.nan)
    y_c = np.ascontiguousarray(y, dtype=np.float64)
    reversal = np.zeros(post.shape[0], dtype=np.bool_)
    _reversals(offsets, client_index, post, y_c, loss, reversal)
    m = post.shape[0]
    mean_pre, mean_post, s_pooled, t_crit = (np.empty(m) for _ in range(4))
    _event_details(
        offsets,
        client_index,
        post,
        y_c,
        params.critical_values(),
        mean_pre,
        mean_post,
        s_pooled,
        t_crit,
    )
    known = (day[pre] != NO_DAY) & (day[post] != NO_DAY)
    gap = known & ((day[post] - day[pre]) > params.gap_days)
    # earliest = first event of its client; largest = first of the biggest magnitude
    earliest = np.ones(m, dtype=np.bool_)
    earliest[1:] = client[1:] != client[:-1]
    largest = _first_max_per_group(client, magnitude)
    provisional = (codes[post] & COMPLETE) == 0 if params.crit3 else np.zeros(m, dtype=np.bool_)
    return SuddenEvents(
        client=client,
        pre_row=pre,
        post_row=post,
        magnitude=magnitude,
        relative_change=relative,
        reversal=reversal,
        provisional=np.asarray(provisional, dtype=np.bool_),
        gap=gap,
        largest=largest,
        earliest=earliest,
        mean_pre=mean_pre,
        mean_post=mean_post,
        s_pooled=s_pooled,
        t_crit=t_crit,
    )


def _first_max_per_group(group: IntArray, value: FloatArray) -> BoolArray:
    """True at the first occurrence of each group's maximum (``group`` sorted)."""
    n = group.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return out
    # order by group, then value descending, then position ascending
    order = np.lexsort((np.arange(n), -value, group))
    first = np.ones(n, dtype=np.bool_)
    first[1:] = group[order][1:] != group[order][:-1]
    out[order[first]] = True
    return out
