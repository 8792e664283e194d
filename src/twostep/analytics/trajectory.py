"""Per-administration signals: status, event, setback episodes, plateaus, early response.

These are twostep's own rules (methods.md §5.2, §5.3 and §11, marked
[PROPOSED]): they are named as twostep rules wherever they are explained.
Everything is computed in severity orientation (higher = worse) with the
instrument's reliable-change threshold ``RC`` ("reliable" means
``|Δ| >= RC`` for a fixed published threshold, ``|Δ| > RC_raw`` for a
computed Jacobson–Truax one) and its clinical cut-off.

``t`` is the administration index counted from intake (intake = 1); missed
administrations count in ``t`` (they are sessions that happened without a
score) but are skipped when a rule speaks of "the next" or "the last k"
administrations. Rows before a client's first score get no labels.

**status** (first rule that applies): ``baseline`` (intake); ``deteriorated``
(``y_t - y_1 >= RC``; confirmed when the next scored administration is
deteriorated too); ``plateau_stuck`` / ``plateau_partial`` (the plateau rule
below, without / with reliable improvement vs intake); ``recovered`` (reliable
improvement, below the cut-off now, a case at intake); ``improved``;
``unchanged``.

**event** (first rule that applies): ``baseline``; ``sudden_loss`` /
``sudden_gain`` (Tang–DeRubeis, see `sudden_gains`; ``possible_*`` while the
administrations criterion 3 needs do not exist yet and it can still be met,
i.e. there are two pregain scores); the onset of a setback episode
(``setback_transient`` / ``setback_sustained``, ``setback`` while unresolved);
``fluctuation`` (``|y_t - y_prev| < RC``); ``step_better`` / ``step_worse``
(a reliable step from the previous score). Every onset also records its
resolution (pending / transient / sustained) in `Trajectory.setback`, even
when a sudden gain or loss is the event shown.

**Setback episode.** Starts at ``t`` when ``y_t - best_t >= RC`` (``best_t``
= best score before ``t``), the status at ``t`` is not ``deteriorated``, and
the previous scored administration was not inside an episode. It ends at the
first later administration with ``y <= best_onset + regain * RC`` (regain =
1/2; inclusive, with a 1e-9 tolerance for decimal scores), which is itself
outside the episode. The onset is ``transient`` when
that happens within the next ``window`` (2) scored administrations,
``sustained`` when those are known and neither regains, and provisional
before.

**Plateau** (§5.2), at ``t >= min_t`` (6) over the last ``k`` (4) scored
administrations ``W`` spanning at least ``min_days`` (21; not checked when
dates are unknown): (1) ``max(W) - min(W)`` is not a reliable change; (2) the
OLS slope of ``y`` on ``t`` within ``W`` has a 90 % CI containing 0 and
``|slope| x (k-1) < RC x slope_share`` (1/3); (3) ``mean(W)`` is in the
clinical range. When (1) and (2) hold but (3) fails the window is a
*maintenance* plateau (good-enough level), not an alert.

**Early response** (§5.2): at the first scored administration with
``4 <= t <= 6``: responder (reliable improvement vs intake), partial
(improvement ≥ 50 % of RC) or non-responder; not assessable otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numba
import numpy as np
import numpy.typing as npt

from twostep.analytics.batch import NO_DAY
from twostep.errors import ConfigurationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]


class Status(IntEnum):
    """Where a client stands relative to intake at one administration."""

    NONE = 0  # missed administration or before the first score
    BASELINE = 1
    DETERIORATED = 2
    PLATEAU_STUCK = 3
    PLATEAU_PARTIAL = 4
    RECOVERED = 5
    IMPROVED = 6
    UNCHANGED = 7


class Event(IntEnum):
    """What the latest step was."""

    NONE = 0  # before the first score
    BASELINE = 1
    SUDDEN_LOSS = 2
    POSSIBLE_SUDDEN_LOSS = 3
    SUDDEN_GAIN = 4
    POSSIBLE_SUDDEN_GAIN = 5
    SETBACK = 6  # onset, resolution not yet known
    SETBACK_TRANSIENT = 7
    SETBACK_SUSTAINED = 8
    FLUCTUATION = 9
    STEP_BETTER = 10
    STEP_WORSE = 11
    MISSED = 12


class Plateau(IntEnum):
    NONE = 0
    STUCK = 1
    PARTIAL = 2
    MAINTENANCE = 3


class EarlyResponse(IntEnum):
    NOT_ASSESSABLE = 0
    RESPONDER = 1
    PARTIAL = 2
    NON_RESPONDER = 3


class Confirmation(IntEnum):
    NOT_APPLICABLE = 0
    CONFIRMED = 1
    NOT_CONFIRMED = 2
    PENDING = 3


STATUS_LABELS: tuple[str, ...] = (
    "",
    "baseline",
    "deteriorated",
    "plateau_stuck",
    "plateau_partial",
    "recovered",
    "improved",
    "unchanged",
)
EVENT_LABELS: tuple[str, ...] = (
    "",
    "baseline",
    "sudden_loss",
    "possible_sudden_loss",
    "sudden_gain",
    "possible_sudden_gain",
    "setback",
    "setback_transient",
    "setback_sustained",
    "fluctuation",
    "step_better",
    "step_worse",
    "missed",
)
PLATEAU_LABELS: tuple[str, ...] = ("", "stuck", "partial", "maintenance")
SETBACK_LABELS: tuple[str, ...] = ("", "pending", "transient", "sustained")
EARLY_RESPONSE_LABELS: tuple[str, ...] = (
    "not_assessable",
    "early_responder",
    "partial",
    "early_non_responder",
)

#: One-sided 95 % t quantiles (two-sided 90 % CI) for df = 1..30, from scipy.stats.t.ppf.
T95: tuple[float, ...] = (
    6.313752, 2.919986, 2.353363, 2.131847, 2.015048, 1.943180, 1.894579, 1.859548,
    1.833113, 1.812461, 1.795885, 1.782288, 1.770933, 1.761310, 1.753050, 1.745884,
    1.739607, 1.734064, 1.729133, 1.724718, 1.720743, 1.717144, 1.713872, 1.710882,
    1.708141, 1.705618, 1.703288, 1.701131, 1.699127, 1.697261,
)  # fmt: skip


@dataclass(frozen=True)
class TrajectoryParams:
    """Parameters of the trajectory rules (all twostep rules, methods.md §5 and §11)."""

    plateau_window: int = 4
    plateau_min_t: int = 6
    plateau_min_days: int = 21
    plateau_slope_share: float = 1 / 3
    setback_regain: float = 0.5
    setback_window: int = 2
    early_response_from: int = 4
    early_response_to: int = 6
    early_partial_share: float = 0.5

    def __post_init__(self) -> None:
        if not 3 <= self.plateau_window <= len(T95) + 2:
            raise ConfigurationError("plateau_window must be between 3 and 32 administrations")
        if self.setback_window < 1:
            raise ConfigurationError("setback_window must be at least 1")
        if not 0 < self.setback_regain <= 1:
            raise ConfigurationError("setback_regain must be a share in (0, 1]")
        if self.early_response_from > self.early_response_to:
            raise ConfigurationError("early_response_from must not exceed early_response_to")


@dataclass(frozen=True)
class Trajectory:
    """Per-row and per-client results of `trajectory_signals`."""

    status: Int8Array
    event: Int8Array
    in_setback: BoolArray
    setback_onset: BoolArray
    setback: Int8Array  # at onset rows: 1 pending, 2 transient, 3 sustained (else 0)
    plateau: Int8Array
    confirmation: Int8Array
    provisional: BoolArray
    t: IntArray
    best_before: FloatArray
    change_from_intake: FloatArray  # y_t - y_1 (severity) at scored rows after intake, else NaN
    change_from_previous: FloatArray  # y_t - y_prev (severity), same rows
    intake_row: IntArray  # per client, -1 when no score
    last_row: IntArray  # per client, -1 when no score
    n_scores: IntArray
    n_setbacks: IntArray
    early_response: Int8Array


@numba.njit(cache=True, inline="always")
def _reliable(delta: float, rc: float, strict: bool) -> bool:  # pragma: no cover - compiled
    return delta > rc if strict else delta >= rc


@numba.njit(cache=True, inline="always")
def _case(y: float, has_cut: bool, cut: float, inclusive: bool) -> bool:  # pragma: no cover
    if not has_cut or np.isnan(y):
        return False
    return y >= cut if inclusive else y > cut


@numba.njit(cache=True, inline="always")
def _plateau_at(  # pragma: no cover - compiled
    y: FloatArray,
    t_out: IntArray,
    day: IntArray,
    start: int,
    r: int,
    k: int,
    rc: float,
    strict: bool,
    has_cut: bool,
    cut: float,
    inclusive: bool,
    better: bool,
    min_days: int,
    slope_share: float,
    tq: float,
) -> int:
    """Plateau code at row ``r`` over the last ``k`` scored rows up to ``r``."""
    lo = np.inf
    hi = -np.inf
    sx = 0.0
    sy = 0.0
    first = r
    found = 0
    q = r
    while q >= start and found < k:
        if not np.isnan(y[q]):
            found += 1
            first = q
            lo = min(lo, y[q])
            hi = max(hi, y[q])
            sx += t_out[q]
            sy += y[q]
        q -= 1
    if found < k:
        return 0
    known = day[first] != -9223372036854775808 and day[r] != -9223372036854775808
    if known and day[r] - day[first] < min_days:
        return 0
    if _reliable(hi - lo, rc, strict):
        return 0
    mx = sx / k
    my = sy / k
    sxx = 0.0
    sxy = 0.0
    for q in range(first, r + 1):
        if not np.isnan(y[q]):
            dx = t_out[q] - mx
            sxx += dx * dx
            sxy += dx * (y[q] - my)
    slope = sxy / sxx
    sse = 0.0
    for q in range(first, r + 1):
        if not np.isnan(y[q]):
            e = y[q] - my - slope * (t_out[q] - mx)
            sse += e * e
    se = np.sqrt(sse / (k - 2) / sxx)
    if abs(slope) > tq * se or abs(slope) * (k - 1) >= rc * slope_share:
        return 0
    if _case(my, has_cut, cut, inclusive):
        return 2 if better else 1
    return 3


@numba.njit(cache=True, parallel=True)
def _scan(  # pragma: no cover - compiled
    offsets: IntArray,
    y: FloatArray,
    day: IntArray,
    session: IntArray,
    rc: float,
    rc_value: float,
    strict: bool,
    has_cut: bool,
    cut: float,
    inclusive: bool,
    k: int,
    min_t: int,
    min_days: int,
    slope_share: float,
    tq: float,
    regain: float,
    window: int,
    er_from: int,
    er_to: int,
    er_partial: float,
    codes: npt.NDArray[np.uint8],
    use_crit3: bool,
    status: Int8Array,
    event: Int8Array,
    in_setback: BoolArray,
    onset: BoolArray,
    setback: Int8Array,
    plateau: Int8Array,
    confirmation: Int8Array,
    provisional: BoolArray,
    t_out: IntArray,
    best_before: FloatArray,
    d_base: FloatArray,
    d_prev: FloatArray,
    intake_row: IntArray,
    last_row: IntArray,
    n_scores: IntArray,
    n_setbacks: IntArray,
    early: Int8Array,
) -> None:
    n_clients = offsets.shape[0] - 1
    tol = 1e-9 * max(1.0, rc_value)
    for c in numba.prange(n_clients):
        start = offsets[c]
        end = offsets[c + 1]
        for r in range(start, end):
            status[r] = 0
            event[r] = 0
            in_setback[r] = False
            onset[r] = False
            setback[r] = 0
            plateau[r] = 0
            confirmation[r] = 0
            provisional[r] = False
            t_out[r] = 0
            best_before[r] = np.nan
            d_base[r] = np.nan
            d_prev[r] = np.nan
        intake = -1
        last = -1
        y1 = np.nan
        best = np.inf
        prev_y = np.nan
        in_ep = False
        best_onset = np.nan
        n_valid = 0
        n_sb = 0
        for r in range(start, end):
            v = y[r]
            if intake >= 0:
                t_out[r] = session[r] - session[intake] + 1
            if np.isnan(v):
                if intake >= 0:
                    event[r] = 12  # missed
                    in_setback[r] = in_ep
                continue
            n_valid += 1
            last = r
            if intake < 0:
                intake = r
                y1 = v
                t_out[r] = 1
                status[r] = 1
                event[r] = 1
                best = v
                prev_y = v
                continue
            t = t_out[r]
            best_before[r] = best
            d = v - y1
            d_base[r] = d
            d_prev[r] = v - prev_y
            worse = _reliable(d, rc, strict)
            better = _reliable(-d, rc, strict)
            plat = 0
            if t >= min_t and n_valid >= k:
                plat = _plateau_at(
                    y,
                    t_out,
                    day,
                    start,
                    r,
                    k,
                    rc,
                    strict,
                    has_cut,
                    cut,
                    inclusive,
                    better,
                    min_days,
                    slope_share,
                    tq,
                )
            plateau[r] = plat
            if worse:
                st = 2
            elif plat == 1:
                st = 3
            elif plat == 2:
                st = 4
            elif (
                better
                and _case(y1, has_cut, cut, inclusive)
                and not _case(v, has_cut, cut, inclusive)
            ):
                st = 5
            elif better:
                st = 6
            else:
                st = 7
            status[r] = st
            # setback episodes
            if in_ep:
                if v <= best_onset + regain * rc_value + tol:
                    in_ep = False
            elif _reliable(v - best, rc, strict) and st != 2:
                in_ep = True
                best_onset = best
                onset[r] = True
                n_sb += 1
            in_setback[r] = in_ep
            # event (first rule that applies)
            code = codes[r]
            complete = (code & 2) != 0
            ev = 0
            pre_ok = (code & 128) != 0  # criterion 3 can still be met once the post window exists
            if (code & 32) != 0:
                if not use_crit3:
                    ev = 2
                elif not complete:
                    ev = 3 if pre_ok else 0
                elif (code & 64) != 0:
                    ev = 2
            if ev == 0 and (code & 8) != 0:
                if not use_crit3:
                    ev = 4
                elif not complete:
                    ev = 5 if pre_ok else 0
                elif (code & 16) != 0:
                    ev = 4
            if ev == 0 and onset[r]:
                ev = 6  # resolved in the look-ahead pass below
            if ev == 0:
                step = v - prev_y
                if not _reliable(abs(step), rc, strict):
                    ev = 9
                elif step < 0:
                    ev = 10
                else:
                    ev = 11
            event[r] = ev
            prev_y = v
            best = min(best, v)
        intake_row[c] = intake
        last_row[c] = last
        n_scores[c] = n_valid
        n_setbacks[c] = n_sb
        early[c] = 0
        if intake < 0:
            continue
        # look-ahead labels: setback resolution, confirmed deterioration
        for r in range(intake, end):
            if np.isnan(y[r]):
                continue
            if onset[r]:
                limit = best_before[r] + regain * rc_value + tol
                seen = 0
                resolved = False
                for q in range(r + 1, end):
                    if np.isnan(y[q]):
                        continue
                    seen += 1
                    if y[q] <= limit:
                        resolved = True
                        break
                    if seen >= window:
                        break
                kind = 7 if resolved else (8 if seen >= window else 6)
                setback[r] = kind - 5  # 1 pending, 2 transient, 3 sustained
                if event[r] == 6:
                    event[r] = kind
                    if kind == 6:
                        provisional[r] = True
            if status[r] == 2:
                nxt = -1
                for q in range(r + 1, end):
                    if not np.isnan(y[q]):
                        nxt = q
                        break
                if nxt < 0:
                    confirmation[r] = 3
                    provisional[r] = True
                elif status[nxt] == 2:
                    confirmation[r] = 1
                else:
                    confirmation[r] = 2
            if event[r] == 3 or event[r] == 5:
                provisional[r] = True
        # early response
        for r in range(intake + 1, end):
            if np.isnan(y[r]):
                continue
            tt = t_out[r]
            if tt > er_to:
                break
            if tt >= er_from:
                imp = y1 - y[r]
                if _reliable(imp, rc, strict):
                    early[c] = 1
                elif imp >= er_partial * rc:
                    early[c] = 2
                else:
                    early[c] = 3
                break


def trajectory_signals(
    offsets: IntArray,
    y: FloatArray,
    day: IntArray,
    session: IntArray,
    *,
    rc: float,
    rc_strict: bool,
    cutoff: float | None,
    cutoff_inclusive: bool,
    interval_codes: npt.NDArray[np.uint8],
    rc_value: float | None = None,
    use_crit3: bool = True,
    params: TrajectoryParams | None = None,
) -> Trajectory:
    """Label every administration of every client (one compiled pass over the flat arrays).

    Parameters
    ----------
    offsets, y, day, session
        The batch in severity orientation (see `ScoreBatch`).
    rc, rc_strict
        Reliable-change threshold as compared (``>=`` or, strict, ``>``; a fixed
        threshold already lowered by its tolerance, `Scale.rc_points`).
    rc_value
        The threshold itself, for arithmetic such as the regain limit
        ``best + RC/2`` (default ``rc``).
    cutoff, cutoff_inclusive
        Clinical range is ``y >= cutoff`` (inclusive) or ``y > cutoff``, in
        severity orientation; None when the instrument has no cut-off (no
        ``recovered`` status and no plateau alerts then).
    interval_codes
        Sudden gain/loss criteria per row from
        `twostep.analytics.sudden_gains.interval_codes`.
    use_crit3
        Whether criterion 3 applies (a sudden gain/loss is then final only once the
        administrations criterion 3 needs exist).
    """
    if not rc > 0:
        raise ConfigurationError("the reliable-change threshold must be positive")
    p = params or TrajectoryParams()
    n = y.shape[0]
    n_clients = offsets.shape[0] - 1
    # np.empty: the compiled scan writes every element (first touch in parallel)
    status = np.empty(n, dtype=np.int8)
    event = np.empty(n, dtype=np.int8)
    in_setback = np.empty(n, dtype=np.bool_)
    onset = np.empty(n, dtype=np.bool_)
    setback = np.empty(n, dtype=np.int8)
    plateau = np.empty(n, dtype=np.int8)
    confirmation = np.empty(n, dtype=np.int8)
    provisional = np.empty(n, dtype=np.bool_)
    t_out = np.empty(n, dtype=np.int64)
    best_before = np.empty(n)
    d_base = np.empty(n)
    d_prev = np.empty(n)
    intake_row = np.empty(n_clients, dtype=np.int64)
    last_row = np.empty(n_clients, dtype=np.int64)
    n_scores = np.empty(n_clients, dtype=np.int64)
    n_setbacks = np.empty(n_clients, dtype=np.int64)
    early = np.empty(n_clients, dtype=np.int8)
    _scan(
        offsets,
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(day, dtype=np.int64),
        np.ascontiguousarray(session, dtype=np.int64),
        float(rc),
        float(rc_value if rc_value is not None else rc),
        bool(rc_strict),
        cutoff is not None,
        float(cutoff) if cutoff is not None else 0.0,
        bool(cutoff_inclusive),
        p.plateau_window,
        p.plateau_min_t,
        p.plateau_min_days,
        float(p.plateau_slope_share),
        T95[p.plateau_window - 3],
        float(p.setback_regain),
        p.setback_window,
        p.early_response_from,
        p.early_response_to,
        float(p.early_partial_share),
        np.ascontiguousarray(interval_codes, dtype=np.uint8),
        use_crit3,
        status,
        event,
        in_setback,
        onset,
        setback,
        plateau,
        confirmation,
        provisional,
        t_out,
        best_before,
        d_base,
        d_prev,
        intake_row,
        last_row,
        n_scores,
        n_setbacks,
        early,
    )
    return Trajectory(
        status=status,
        event=event,
        in_setback=in_setback,
        setback_onset=onset,
        setback=setback,
        plateau=plateau,
        confirmation=confirmation,
        provisional=provisional,
        t=t_out,
        best_before=best_before,
        change_from_intake=d_base,
        change_from_previous=d_prev,
        intake_row=intake_row,
        last_row=last_row,
        n_scores=n_scores,
        n_setbacks=n_setbacks,
        early_response=early,
    )


__all__ = [
    "EARLY_RESPONSE_LABELS",
    "EVENT_LABELS",
    "NO_DAY",
    "PLATEAU_LABELS",
    "SETBACK_LABELS",
    "STATUS_LABELS",
    "Confirmation",
    "EarlyResponse",
    "Event",
    "Plateau",
    "Status",
    "Trajectory",
    "TrajectoryParams",
    "trajectory_signals",
]
