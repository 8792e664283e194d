"""Alliance ruptures and repairs from session-by-session alliance ratings (methods.md §6.4).

This is a **twostep rule** (methods.md §6.4, marked [PROPOSED]), not a
published one, and it must be named so wherever it is explained. The
literature agrees on the shape — a rupture is a drop in the client's alliance
rating beyond what that client's ratings usually do, and a repair is a return
towards the earlier level — but not on the numbers: Stiles et al. (2004) and
Strauss et al. (2006) use standard-deviation-based drops whose exact multiple,
SD and repair window were not verified for twostep [UNCERTAIN], and counts of
"rupture–repair sequences" depend strongly on the criterion chosen. Every
number below is therefore a parameter of `AllianceParams`.

Scores are in the instrument's native direction (higher = better): SRS totals
0–40, WAI-SR mean item scores 1–5 (or totals 12–60 with
``AllianceParams.wai_sr(scale="total")``).

**Rules**, for each scored administration ``a_t`` of one client, in order:

* ``B_t`` = median of the previous up to ``baseline_window`` (3) scored
  administrations, defined when there are at least ``baseline_min`` (2);
  ``SD_w`` = sample SD (``ddof = 1``) of all the client's previous changes
  between consecutive scored administrations, with a floor
  (SRS 1.0 point, WAI-SR 0.25 mean-item points): ``SD_w = max(floor, SD)``;
  with fewer than two previous changes the floor is used, and so it is for a
  constant history such as 40, 40, 40 (``SD = 0``).
* **Rupture** (red), when no rupture episode is open::

      B_t - a_t >= max(D_min, k * SD_w)            (k = 1.5)

  with ``D_min`` = 3 SRS points, or the local Jacobson–Truax RC for the WAI-SR
  (fallback 0.5 mean-item points); **or** ``a_t`` is in the concern range of
  the cut-off (SRS ``a_t < 36``, comparison configurable) for the first time
  in the series. With fewer than two previous scores (the first two
  administrations) only the cut-off rule can apply.
* **Marker** (yellow), a row that is not a rupture, repair or escalation:
  a drop of at least ``marker_drop`` (1 SRS point) from the previous scored
  administration (PCOMS practice as described in OpenFIT documentation), or
  any single SRS line below ``marker_item_below`` (9) when item scores are
  given [UNCERTAIN origin].
* **Repair**, at one of the next ``repair_window`` (3) scored
  administrations after the rupture: ``a >= B_t - margin`` with margin 1
  point (SRS) or the ``SD_w`` of the rupture row (WAI-SR); or, if the episode
  went into the concern range, ``a`` is back out of it (SRS ``>= 36``). A
  rupture found by the cut-off alone in the first two administrations has no
  ``B_t`` and can only be repaired by the cut-off route.
* **Unrepaired escalation**: the ``repair_window``-th administration after the
  rupture without a repair; the therapist gets a supervision prompt.

While an episode is open, no new rupture starts; a score entering the concern
range inside an open episode uses up the "first time below the cut-off"
rule. Missed administrations (NaN) are skipped: they are not counted in the
repair window and do not break the chain of changes behind ``SD_w``.

**Live and retrospective agree.** The code of administration ``t`` depends
only on administrations up to ``t``; what is not yet known is whether an open
episode will be repaired, so the rows of an episode whose repair window is not
over at the end of the data are ``provisional``.

**Raters are never pooled.** Client-rated and therapist-rated forms are
separate series (methods.md §6.4): call the functions once per rater, with one
series per client.

References
----------
Stiles, W. B., Glick, M. J., Osatuke, K., Hardy, G. E., Shapiro, D. A.,
Agnew-Davies, R., Rees, A., & Barkham, M. (2004). Patterns of alliance
development and the rupture–repair hypothesis: are productive relationships
U-shaped or V-shaped? Journal of Counseling Psychology 51(1), 81–92.
Strauss, J. L., Hayes, A. M., Johnson, S. L., Newman, C. F., Brown, G. K.,
Barber, J. P., Laurenceau, J.-P., & Beck, A. T. (2006). Early alliance,
alliance ruptures, and symptom change in a nonrandomized trial of cognitive
therapy for avoidant and obsessive-compulsive personality disorders. JCCP
74(2), 337–345.
Eubanks, C. F., Muran, J. C., & Safran, J. D. (2018). Alliance rupture repair:
a meta-analysis. Psychotherapy 55(4), 508–519.
Duncan, B. L., et al. (2003). The Session Rating Scale. Journal of Brief
Therapy 3(1), 3–12 (cut-off 36, PCOMS practice [UNCERTAIN derivation]).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

from twostep.analytics.batch import ScoreBatch
from twostep.errors import AnalysisError, ConfigurationError
from twostep.instruments.model import Comparison

__all__ = [
    "ALLIANCE_LABELS",
    "AllianceCode",
    "AllianceParams",
    "AllianceReason",
    "AllianceSignals",
    "RuptureEpisodes",
    "alliance_ruptures",
    "alliance_ruptures_batch",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]
UInt8Array = npt.NDArray[np.uint8]

#: Absolute tolerance for the ``>=`` comparisons (scores such as 39.3 - 36.3 are not exact).
TOLERANCE = 1e-9

#: Number of WAI-SR items (mean-item points x 12 = total points).
WAI_SR_ITEMS = 12


class AllianceCode(IntEnum):
    """What one alliance administration shows (one code per row)."""

    NONE = 0  # nothing to report (also missed administrations)
    MARKER = 1  # yellow: a small drop or a low line
    RUPTURE = 2  # red: the start of a rupture episode
    REPAIR = 3  # the episode's repair
    UNREPAIRED_ESCALATION = 4  # the repair window ended without repair: supervision prompt


ALLIANCE_LABELS: tuple[str, ...] = (
    "none",
    "marker",
    "rupture",
    "repair",
    "unrepaired_escalation",
)


class AllianceReason(IntFlag):
    """Which rules held at a row (several may hold; stored as ``uint8``)."""

    RELATIVE_DROP = 1  # B_t - a_t >= max(D_min, k * SD_w)
    FIRST_BELOW_CUTOFF = 2  # first score in the concern range of the series
    MARKER_DROP = 4  # drop >= marker_drop from the previous score
    MARKER_ITEM = 8  # a line below marker_item_below
    REPAIR_BASELINE = 16  # a >= B_rupture - margin
    REPAIR_CUTOFF = 32  # back out of the concern range


_COMPARISON_CODE: dict[Comparison, int] = {
    Comparison.LT: 0,
    Comparison.LE: 1,
    Comparison.GT: 2,
    Comparison.GE: 3,
}


@dataclass(frozen=True)
class AllianceParams:
    """Parameters of the twostep rupture rule (methods.md §6.4, [PROPOSED]).

    Use the presets `AllianceParams.srs` and `AllianceParams.wai_sr`; change
    single values with `dataclasses.replace`. All values are in the units of
    the scores passed in.

    Attributes
    ----------
    instrument
        Short name used in explanations ("SRS", "WAI-SR").
    baseline_window, baseline_min
        ``B_t`` is the median of the previous up to ``baseline_window`` (3)
        scores, defined from ``baseline_min`` (2) scores on.
    sd_floor
        Floor of ``SD_w`` (SRS 1.0; WAI-SR 0.25 mean-item points).
    sd_multiplier
        ``k`` in ``max(D_min, k * SD_w)`` (1.5).
    min_drop, min_drop_source
        ``D_min`` (SRS 3 points; WAI-SR the local J&T RC, fallback 0.5) and
        where it comes from.
    cutoff, cutoff_comparison, cutoff_source
        Concern range ``a <comparison> cutoff`` (SRS ``< 36``); None = no
        cut-off rule (WAI-SR).
    marker_drop
        Marker when the score drops by at least this from the previous score
        (SRS 1 point); None = off.
    marker_item_below
        Marker when any item is below this (SRS 9); None = off.
    repair_window
        Administrations allowed for a repair (3).
    repair_margin
        Repair when ``a >= B_t - repair_margin`` (SRS 1 point); None = use the
        ``SD_w`` of the rupture row (WAI-SR).
    """

    instrument: str = "SRS"
    baseline_window: int = 3
    baseline_min: int = 2
    sd_floor: float = 1.0
    sd_multiplier: float = 1.5
    min_drop: float = 3.0
    min_drop_source: str = "twostep rule (methods.md §6.4): 3 SRS points"
    cutoff: float | None = 36.0
    cutoff_comparison: Comparison = Comparison.LT
    cutoff_source: str = "PCOMS practice (Duncan et al. 2003) [UNCERTAIN derivation]"
    marker_drop: float | None = 1.0
    marker_item_below: float | None = 9.0
    repair_window: int = 3
    repair_margin: float | None = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.baseline_min <= self.baseline_window:
            raise ConfigurationError("need 1 <= baseline_min <= baseline_window")
        if not (np.isfinite(self.sd_floor) and self.sd_floor >= 0):
            raise ConfigurationError("sd_floor must be a finite number >= 0")
        if not (np.isfinite(self.sd_multiplier) and self.sd_multiplier >= 0):
            raise ConfigurationError("sd_multiplier must be a finite number >= 0")
        if not (np.isfinite(self.min_drop) and self.min_drop > 0):
            raise ConfigurationError("min_drop (D_min) must be a positive number")
        if self.cutoff is not None and not np.isfinite(self.cutoff):
            raise ConfigurationError("cutoff must be finite or None")
        if self.marker_drop is not None and not self.marker_drop > 0:
            raise ConfigurationError("marker_drop must be positive or None")
        if self.marker_item_below is not None and not np.isfinite(self.marker_item_below):
            raise ConfigurationError("marker_item_below must be finite or None")
        if self.repair_window < 1:
            raise ConfigurationError("repair_window must be at least 1 administration")
        if self.repair_margin is not None and not (
            np.isfinite(self.repair_margin) and self.repair_margin >= 0
        ):
            raise ConfigurationError("repair_margin must be a finite number >= 0 or None")
        if self.cutoff_comparison not in _COMPARISON_CODE:
            raise ConfigurationError(f"unknown cut-off comparison {self.cutoff_comparison!r}")

    @classmethod
    def srs(
        cls, *, cutoff: float | None = 36.0, cutoff_comparison: Comparison = Comparison.LT
    ) -> AllianceParams:
        """The SRS preset: totals 0–40, ``D_min`` 3, floor 1.0, cut-off ``< 36``, markers on.

        ``cutoff_comparison = Comparison.LE`` gives the "36 or below" reading
        that some sources use (methods.md §6.2 [UNCERTAIN]).
        """
        return cls(cutoff=cutoff, cutoff_comparison=Comparison(cutoff_comparison))

    @classmethod
    def wai_sr(
        cls,
        rc: float | None = None,
        *,
        rc_source: str = "local Jacobson–Truax RC (methods.md §1.1, §6.1)",
        scale: Literal["mean_item", "total"] = "mean_item",
    ) -> AllianceParams:
        """The WAI-SR preset: ``D_min`` = the local J&T RC, floor 0.25, no cut-off, no markers.

        Parameters
        ----------
        rc
            The service's Jacobson–Truax reliable-change threshold in the
            units of ``scale``; None uses the fallback 0.5 mean-item points
            (6 total points).
        rc_source
            Where ``rc`` comes from, for explanations.
        scale
            ``"mean_item"`` (1–5, the default) or ``"total"`` (12–60); the
            floor and the fallback are multiplied by 12 for totals.
        """
        if scale not in ("mean_item", "total"):
            raise ConfigurationError("scale must be 'mean_item' or 'total'")
        factor = 1.0 if scale == "mean_item" else float(WAI_SR_ITEMS)
        if rc is None:
            d_min = 0.5 * factor
            source = "twostep fallback (methods.md §6.4): 0.5 mean-item points"
        else:
            d_min = float(rc)
            source = rc_source
        return cls(
            instrument="WAI-SR",
            sd_floor=0.25 * factor,
            min_drop=d_min,
            min_drop_source=source,
            cutoff=None,
            cutoff_source="",
            marker_drop=None,
            marker_item_below=None,
            repair_margin=None,
        )


@dataclass(frozen=True, eq=False)
class RuptureEpisodes:
    """One row per rupture (episode start), in row order.

    Attributes
    ----------
    client
        Segment (client) number.
    start_row, trough_row
        Row of the rupture and of the lowest score up to the episode's end
        (the first one if tied).
    repair_row
        Row of the repair, -1 when not (yet) repaired.
    end_row
        Row of the repair or of the unrepaired escalation; -1 while open.
    repaired
        The episode ended with a repair.
    provisional
        The repair window is not over at the end of the data.
    baseline
        ``B_t`` at the rupture (NaN for a cut-off rupture in the first two
        administrations).
    trough_score
        The lowest score of the episode.
    reason
        `AllianceReason` bits of the rupture row.
    """

    client: IntArray
    start_row: IntArray
    trough_row: IntArray
    repair_row: IntArray
    end_row: IntArray
    repaired: BoolArray
    provisional: BoolArray
    baseline: FloatArray
    trough_score: FloatArray
    reason: UInt8Array

    def __len__(self) -> int:
        return int(self.client.shape[0])


@dataclass(frozen=True, eq=False)
class AllianceSignals:
    """Per-row and per-episode results of `alliance_ruptures`.

    Attributes
    ----------
    code
        `AllianceCode` per row (int8).
    reason
        `AllianceReason` bits per row (uint8).
    provisional
        Rows of an episode whose repair window is not over.
    in_episode
        Rows from a rupture up to and including its repair or escalation row.
    baseline
        ``B_t`` per row (NaN with fewer than ``baseline_min`` previous scores or
        a missed administration).
    sd_w
        ``SD_w`` per scored row (the floor when fewer than two previous
        changes exist); NaN for missed administrations.
    threshold
        ``max(D_min, k * SD_w)`` where ``B_t`` is defined, else NaN.
    episodes
        The episode table.
    n_ruptures, n_repaired, n_escalated
        Per client.
    offsets
        The client segments the results refer to.
    params
        The parameters used.
    """

    code: Int8Array
    reason: UInt8Array
    provisional: BoolArray
    in_episode: BoolArray
    baseline: FloatArray
    sd_w: FloatArray
    threshold: FloatArray
    episodes: RuptureEpisodes
    n_ruptures: IntArray
    n_repaired: IntArray
    n_escalated: IntArray
    offsets: IntArray
    params: AllianceParams

    @property
    def labels(self) -> npt.NDArray[np.str_]:
        """The code of every row as its label (``ALLIANCE_LABELS``)."""
        return np.asarray(ALLIANCE_LABELS)[self.code]


@numba.njit(cache=True, inline="always")
def _in_concern(v: float, cut: float, op: int) -> bool:  # pragma: no cover - compiled
    if op == 0:
        return v < cut
    if op == 1:
        return v <= cut
    if op == 2:
        return v > cut
    return v >= cut


@numba.njit(cache=True, parallel=True)
def _scan(  # pragma: no cover - compiled
    offsets: IntArray,
    a: FloatArray,
    items: FloatArray,
    base_window: int,
    base_min: int,
    floor: float,
    mult: float,
    d_min: float,
    has_cut: bool,
    cut: float,
    cut_op: int,
    has_mdrop: bool,
    mdrop: float,
    has_mitem: bool,
    mitem: float,
    rwin: int,
    has_rmargin: bool,
    rmargin: float,
    tol: float,
    code: Int8Array,
    reason: UInt8Array,
    provisional: BoolArray,
    in_ep: BoolArray,
    baseline: FloatArray,
    sdw: FloatArray,
    threshold: FloatArray,
    ep_trough: IntArray,
    ep_end: IntArray,
    ep_repaired: BoolArray,
    ep_open: BoolArray,
) -> None:
    n_clients = offsets.shape[0] - 1
    n_items = items.shape[1]
    for c in numba.prange(n_clients):
        start = offsets[c]
        end = offsets[c + 1]
        ring = np.empty(base_window)
        n_obs = 0
        prev = np.nan
        # Welford over the changes between consecutive scored administrations
        n_ch = 0
        mean_ch = 0.0
        m2_ch = 0.0
        seen_concern = False
        open_ = False
        ep_start = -1
        ep_b = np.nan
        ep_margin = 0.0
        ep_concern = False
        count = 0
        trough = -1
        trough_v = np.inf
        for r in range(start, end):
            code[r] = 0
            reason[r] = 0
            provisional[r] = False
            in_ep[r] = open_
            baseline[r] = np.nan
            sdw[r] = np.nan
            threshold[r] = np.nan
            ep_trough[r] = -1
            ep_end[r] = -1
            ep_repaired[r] = False
            ep_open[r] = False
            v = a[r]
            if np.isnan(v):
                continue
            rs = 0
            if has_mdrop and n_obs >= 1 and prev - v >= mdrop - tol:
                rs |= 4
            if has_mitem:
                for j in range(n_items):
                    x = items[r, j]
                    if not np.isnan(x) and x < mitem:
                        rs |= 8
                        break
            concern = has_cut and _in_concern(v, cut, cut_op)
            sd = np.sqrt(m2_ch / (n_ch - 1)) if n_ch >= 2 else 0.0
            sd_w = max(floor, sd)
            sdw[r] = sd_w
            b = np.nan
            thr = np.nan
            if n_obs >= base_min:
                m = min(n_obs, base_window)
                b = np.median(ring[:m])
                thr = max(d_min, mult * sd_w)
                baseline[r] = b
                threshold[r] = thr
            cd = 0
            if open_:
                count += 1
                in_ep[r] = True
                if v < trough_v:
                    trough_v = v
                    trough = r
                if concern:
                    ep_concern = True
                repaired = False
                if not np.isnan(ep_b) and v >= ep_b - ep_margin - tol:
                    rs |= 16
                    repaired = True
                if ep_concern and not concern:
                    rs |= 32
                    repaired = True
                if repaired or count >= rwin:
                    cd = 3 if repaired else 4
                    ep_trough[ep_start] = trough
                    ep_end[ep_start] = r
                    ep_repaired[ep_start] = repaired
                    open_ = False
                elif (rs & 12) != 0:
                    cd = 1
            else:
                rupture = False
                if not np.isnan(b) and b - v >= thr - tol:
                    rs |= 1
                    rupture = True
                if concern and not seen_concern:
                    rs |= 2
                    rupture = True
                if rupture:
                    cd = 2
                    open_ = True
                    in_ep[r] = True
                    ep_start = r
                    ep_b = b
                    ep_margin = rmargin if has_rmargin else sd_w
                    ep_concern = concern
                    count = 0
                    trough = r
                    trough_v = v
                elif (rs & 12) != 0:
                    cd = 1
            if concern:
                seen_concern = True
            code[r] = cd
            reason[r] = rs
            # history for the next administration
            if n_obs >= 1:
                n_ch += 1
                delta = v - prev
                d1 = delta - mean_ch
                mean_ch += d1 / n_ch
                m2_ch += d1 * (delta - mean_ch)
            ring[n_obs % base_window] = v
            n_obs += 1
            prev = v
        if open_:
            ep_trough[ep_start] = trough
            ep_open[ep_start] = True
            for r in range(ep_start, end):
                provisional[r] = True


def _validated(
    offsets: npt.ArrayLike, score: npt.ArrayLike, items: npt.ArrayLike | None
) -> tuple[IntArray, FloatArray, FloatArray]:
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    a = np.ascontiguousarray(score, dtype=np.float64)
    if off.ndim != 1 or a.ndim != 1:
        raise AnalysisError("offsets and score must be one-dimensional")
    n = a.shape[0]
    if off.shape[0] < 1 or off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 0):
        raise AnalysisError("offsets must rise from 0 to the number of rows")
    if np.any(np.isinf(a)):
        raise AnalysisError("alliance scores must be finite (NaN = missed administration)")
    if items is None:
        it = np.empty((n, 0), dtype=np.float64)
    else:
        it = np.ascontiguousarray(items, dtype=np.float64)
        if it.ndim != 2 or it.shape[0] != n:
            raise AnalysisError("items must be a 2-D array with one row per administration")
    return off, a, it


def alliance_ruptures(
    offsets: npt.ArrayLike,
    score: npt.ArrayLike,
    params: AllianceParams | None = None,
    *,
    items: npt.ArrayLike | None = None,
) -> AllianceSignals:
    """Find rupture and repair episodes in many clients' alliance series at once.

    One compiled pass over the flat arrays (clients in parallel; the rule is
    sequential within a client). See the module docstring for the rules.

    Parameters
    ----------
    offsets
        Client segments: client ``c`` owns rows ``offsets[c]:offsets[c+1]``,
        in administration order (as in `ScoreBatch`).
    score
        Alliance score per row in the native direction (higher = better);
        NaN = missed administration. One rater per call: never mix client-
        and therapist-rated forms.
    params
        `AllianceParams`; default `AllianceParams.srs()`.
    items
        Optional item scores, shape ``(n_rows, n_items)`` (NaN = missing), for
        the low-line marker; used only when ``params.marker_item_below`` is set.

    Returns
    -------
    AllianceSignals
        Per-row codes, reasons, provisional flags and the numbers behind them,
        and the episode table.

    Examples
    --------
    >>> r = alliance_ruptures([0, 5], [40, 40, 40, 36, 39.5])
    >>> r.labels.tolist()
    ['none', 'none', 'none', 'rupture', 'repair']
    """
    p = params or AllianceParams.srs()
    off, a, it = _validated(offsets, score, items)
    n = a.shape[0]
    n_clients = off.shape[0] - 1
    code = np.empty(n, dtype=np.int8)
    reason = np.empty(n, dtype=np.uint8)
    provisional = np.empty(n, dtype=np.bool_)
    in_ep = np.empty(n, dtype=np.bool_)
    baseline = np.empty(n)
    sdw = np.empty(n)
    threshold = np.empty(n)
    ep_trough = np.empty(n, dtype=np.int64)
    ep_end = np.empty(n, dtype=np.int64)
    ep_repaired = np.empty(n, dtype=np.bool_)
    ep_open = np.empty(n, dtype=np.bool_)
    _scan(
        off,
        a,
        it,
        p.baseline_window,
        p.baseline_min,
        float(p.sd_floor),
        float(p.sd_multiplier),
        float(p.min_drop),
        p.cutoff is not None,
        float(p.cutoff) if p.cutoff is not None else 0.0,
        _COMPARISON_CODE[p.cutoff_comparison],
        p.marker_drop is not None,
        float(p.marker_drop) if p.marker_drop is not None else 0.0,
        p.marker_item_below is not None and it.shape[1] > 0,
        float(p.marker_item_below) if p.marker_item_below is not None else 0.0,
        p.repair_window,
        p.repair_margin is not None,
        float(p.repair_margin) if p.repair_margin is not None else 0.0,
        TOLERANCE,
        code,
        reason,
        provisional,
        in_ep,
        baseline,
        sdw,
        threshold,
        ep_trough,
        ep_end,
        ep_repaired,
        ep_open,
    )
    client_index = np.repeat(np.arange(n_clients, dtype=np.int64), np.diff(off))
    start = np.flatnonzero(code == AllianceCode.RUPTURE).astype(np.int64)
    repaired = ep_repaired[start]
    end_row = ep_end[start]
    trough = ep_trough[start]
    episodes = RuptureEpisodes(
        client=client_index[start],
        start_row=start,
        trough_row=trough,
        repair_row=np.where(repaired, end_row, -1).astype(np.int64),
        end_row=end_row,
        repaired=repaired,
        provisional=ep_open[start],
        baseline=baseline[start],
        trough_score=a[trough],
        reason=reason[start],
    )
    escalated = (~repaired) & (end_row >= 0)
    return AllianceSignals(
        code=code,
        reason=reason,
        provisional=provisional,
        in_episode=in_ep,
        baseline=baseline,
        sd_w=sdw,
        threshold=threshold,
        episodes=episodes,
        n_ruptures=np.bincount(episodes.client, minlength=n_clients).astype(np.int64),
        n_repaired=np.bincount(episodes.client[repaired], minlength=n_clients).astype(np.int64),
        n_escalated=np.bincount(episodes.client[escalated], minlength=n_clients).astype(np.int64),
        offsets=off,
        params=p,
    )


def alliance_ruptures_batch(
    batch: ScoreBatch,
    params: AllianceParams | None = None,
    *,
    items: npt.ArrayLike | None = None,
) -> AllianceSignals:
    """`alliance_ruptures` on a `ScoreBatch` of one alliance instrument and one rater.

    ``batch.raw`` is used as it is (native direction). Rows the batch inserted
    for gaps in the session numbers are missed administrations (NaN) and are
    skipped; ``items``, if given, must be aligned with the batch's rows.
    """
    return alliance_ruptures(batch.offsets, batch.raw, params, items=items)
