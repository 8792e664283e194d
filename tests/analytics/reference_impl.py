"""A deliberately naive reference implementation of the change-analytics rules (the test oracle).

One client at a time, plain Python lists and loops, written from methods.md
(§0 conventions, §1, §3, §5.2, §5.3, §11) and the module docstrings of
``twostep.analytics.trajectory`` / ``sudden_gains`` — not from the compiled
kernels. It is slow on purpose: every rule is spelled out so that it can be
read next to the specification.

Conventions (the same as the kernel's documented ones):

* ``scores`` is one client's administrations in order, one entry per session
  (``None`` = missed administration). Index 0 is the first session given.
* Severity orientation: ``y = maximum - raw`` for higher-is-better scales.
* ``t`` counts administrations from intake (the first score, ``t = 1``);
  missed administrations count in ``t`` but are skipped when a rule speaks of
  "the next" or "the last k" administrations. Rows before the first score get
  no labels (status and event ``""``, ``t = 0``).
* Fixed published RC: reliable iff ``Δ >= RC`` (with a 1e-9-point tolerance
  for decimal scores, as `Scale` documents); computed Jacobson–Truax RC:
  reliable iff ``Δ > RC_raw``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy import stats

from twostep.analytics.batch import ScoreBatch
from twostep.analytics.pipeline import Analysis, AnalysisParams
from twostep.analytics.scale import Scale
from twostep.analytics.trajectory import (
    EARLY_RESPONSE_LABELS,
    EVENT_LABELS,
    PLATEAU_LABELS,
    STATUS_LABELS,
)

TOLERANCE = 1e-9


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class RefScale:
    """What the rules need to know about a measure.

    ``cutoff`` is the clinical range in **severity** orientation: a case is
    ``y >= cutoff`` (``cutoff_inclusive``) or ``y > cutoff``; None = no cut-off.
    """

    maximum: float
    higher_is_better: bool
    rc: float
    strict: bool = False  # True for a computed Jacobson–Truax threshold
    cutoff: float | None = None
    cutoff_inclusive: bool = True

    def severity(self, raw: float | None) -> float | None:
        if raw is None:
            return None
        return self.maximum - raw if self.higher_is_better else float(raw)

    @property
    def tol(self) -> float:
        """Slack for fixed thresholds, so that decimal scores (ORS 24.3 - 19.3 =
        4.999999...) meet a threshold of 5 "as a clinician would" (scale.py); the
        same slack is used for the thresholds derived from RC (RC/2, RC/3, C1)."""
        return 0.0 if self.strict else TOLERANCE * max(1.0, self.rc)

    def reliable(self, delta: float) -> bool:
        """Is a change of ``delta`` points (in the direction that matters) reliable?"""
        if self.strict:
            return delta > self.rc
        return delta >= self.rc - self.tol

    def is_case(self, y: float) -> bool:
        if self.cutoff is None:
            return False
        return y >= self.cutoff if self.cutoff_inclusive else y > self.cutoff


@dataclass(frozen=True)
class RefParams:
    # sudden gains (methods.md §3)
    crit1: float | None = None  # None = the RC
    crit2: float = 0.25
    crit3: bool = True
    crit3_adjust: bool = True
    crit3_alpha: float = 0.05
    crit3_critical_value: float = 2.776
    first_interval: bool = False
    gap_days: int = 28
    # trajectory (methods.md §5.2, §5.3, §11)
    plateau_window: int = 4
    plateau_min_t: int = 6
    plateau_min_days: int = 21
    plateau_slope_share: float = 1 / 3
    setback_regain: float = 0.5
    setback_window: int = 2
    early_response_from: int = 4
    early_response_to: int = 6
    early_partial_share: float = 0.5


# --------------------------------------------------------------------------- results


@dataclass
class RefEvent:
    """One sudden gain or loss; ``pre``/``post`` are row indices into ``scores``."""

    pre: int
    post: int
    magnitude: float
    relative_change: float  # NaN when the pregain score is 0
    reversal: bool
    provisional: bool
    gap: bool
    largest: bool = False
    earliest: bool = False


@dataclass
class RefResult:
    t: list[int]
    status: list[str]
    event: list[str]
    in_setback: list[bool]
    setback_onset: list[bool]
    provisional: list[bool]
    plateau: list[str]
    confirmation: list[str]
    best_before: list[float | None]
    #: at onset rows: "setback_transient" / "setback_sustained" / "setback" (not known yet)
    setback_resolution: list[str]
    gains: list[RefEvent] = field(default_factory=list)
    losses: list[RefEvent] = field(default_factory=list)
    n_setbacks: int = 0
    early_response: str = "not_assessable"
    intake: int | None = None  # row of the first score
    last: int | None = None  # row of the last score


# --------------------------------------------------------------------------- sudden gains


def critical_t(n_pre: int, n_post: int, p: RefParams) -> float:
    """Two-tailed critical t for df = n_pre + n_post - 2 (methods.md §3.2)."""
    if not p.crit3_adjust:
        return p.crit3_critical_value
    df = n_pre + n_post - 2
    return round(float(stats.t.ppf(1 - p.crit3_alpha / 2, df)), 3)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _sum_sq(values: list[float]) -> float:
    m = _mean(values)
    return sum((v - m) ** 2 for v in values)


def criterion3(y: list[float | None], pre: int, post: int, p: RefParams, *, loss: bool) -> bool:
    """Tang–DeRubeis criterion 3 on rows pre-2..pre and post..post+2 (within the client)."""
    before = [v for v in y[max(0, pre - 2) : pre + 1] if v is not None]
    after = [v for v in y[post : post + 3] if v is not None]
    if len(before) < 2 or len(after) < 2:
        return False  # "criterion 3 = missing -> no gain identified"
    # (n-1) s^2 is the sum of squared deviations of each side
    pooled = math.sqrt((_sum_sq(before) + _sum_sq(after)) / (len(before) + len(after) - 2))
    diff = _mean(after) - _mean(before) if loss else _mean(before) - _mean(after)
    return diff > critical_t(len(before), len(after), p) * pooled


def c1(scale: RefScale, p: RefParams) -> float:
    """Criterion 1's cut-off with its slack: a set ``crit1`` gets a 1e-9 relative slack
    (decimal scores meet a cut-off they reach exactly: ORS 32.3 - 25.3 = 6.9999999999999964
    meets C1 = 7), the default (the RC) the slack of the scale's threshold."""
    if p.crit1 is not None:
        return p.crit1 - TOLERANCE * max(1.0, p.crit1)
    return scale.rc - scale.tol


def criteria12(y_pre: float, y_post: float, crit1: float, p: RefParams, *, loss: bool) -> bool:
    """Criteria 1 (absolute, ``>= C1``) and 2 (``>= 25 %`` of the pregain score).

    ``crit1`` already carries the slack of a fixed RC; criterion 2 gets a 1e-9
    slack so that a decimal tie (20.4 -> 15.3) counts as the integer one does."""
    step = y_post - y_pre if loss else y_pre - y_post
    return step >= crit1 and step >= p.crit2 * y_pre - TOLERANCE


def sudden_events(
    scores: list[float | None],
    scale: RefScale,
    p: RefParams,
    days: list[int | None] | None = None,
    *,
    loss: bool,
) -> list[RefEvent]:
    """All sudden gains (or losses) of one client."""
    y = [scale.severity(v) for v in scores]
    crit1 = c1(scale, p)
    intake = next((i for i, v in enumerate(y) if v is not None), None)
    events: list[RefEvent] = []
    if intake is None:
        return events
    first_post = intake + (1 if p.first_interval else 2)
    for post in range(first_post, len(y)):
        pre = post - 1
        y_pre, y_post = y[pre], y[post]
        if y_pre is None or y_post is None:
            continue
        if not criteria12(y_pre, y_post, crit1, p, loss=loss):
            continue
        if p.crit3 and not criterion3(y, pre, post, p, loss=loss):
            continue
        magnitude = abs(y_post - y_pre)
        # reversal: a later score (N+2 onward) gives back more than half of the change
        later = [v for v in y[post + 1 :] if v is not None]
        if loss:
            reversal = any(v < y_post - magnitude / 2 for v in later)
        else:
            reversal = any(v > y_post + magnitude / 2 for v in later)
        gap = False
        if days is not None and days[pre] is not None and days[post] is not None:
            gap = days[post] - days[pre] > p.gap_days
        events.append(
            RefEvent(
                pre=pre,
                post=post,
                magnitude=magnitude,
                relative_change=magnitude / y_pre if y_pre != 0 else math.nan,
                reversal=reversal,
                # criterion 3 is final only once rows N+1..N+3 exist
                provisional=p.crit3 and post + 2 >= len(y),
                gap=gap,
            )
        )
    if events:
        events[0].earliest = True
        biggest = max(e.magnitude for e in events)
        next(e for e in events if e.magnitude == biggest).largest = True
    return events


def _interval_state(
    y: list[float | None], post: int, intake: int, crit1: float, p: RefParams, *, loss: bool
) -> str:
    """ "final" / "possible" / "" for the event rule at row ``post`` (methods.md §11)."""
    if post - intake < (1 if p.first_interval else 2):
        return ""
    y_pre, y_post = y[post - 1], y[post]
    if y_pre is None or y_post is None:
        return ""
    if not criteria12(y_pre, y_post, crit1, p, loss=loss):
        return ""
    if not p.crit3:
        return "final"
    if post + 2 >= len(y):  # N+1..N+3 do not all exist yet
        # possible only while criterion 3 can still be met: it needs two pregain scores
        pre_window = y[max(0, post - 3) : post]
        return "possible" if sum(v is not None for v in pre_window) >= 2 else ""
    return "final" if criterion3(y, post - 1, post, p, loss=loss) else ""


# --------------------------------------------------------------------------- plateau


def plateau_at(
    y: list[float | None],
    t: list[int],
    days: list[int | None] | None,
    r: int,
    y1: float,
    scale: RefScale,
    p: RefParams,
) -> str:
    """Plateau label at row ``r`` ("", "stuck", "partial", "maintenance"), methods.md §5.2."""
    if t[r] < p.plateau_min_t:
        return ""
    window = [q for q in range(r + 1) if y[q] is not None][-p.plateau_window :]
    if len(window) < p.plateau_window:
        return ""
    first = window[0]
    known = days is not None and days[first] is not None and days[r] is not None
    if known and days[r] - days[first] < p.plateau_min_days:
        return ""
    # exact arithmetic (fractions), so that ties such as |slope| (k-1) == RC/3 are ties
    ys = [Fraction(y[q]) for q in window]
    xs = [Fraction(t[q]) for q in window]
    # (1) no reliable movement inside the window
    if scale.reliable(float(max(ys) - min(ys))):
        return ""
    # (2) flat trend: OLS slope, its 90 % CI contains 0, and |slope| (k-1) < RC/3
    k = len(ys)
    mx, my = sum(xs) / k, sum(ys) / k
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (v - my) for x, v in zip(xs, ys, strict=True)) / sxx
    sse = sum((v - my - slope * (x - mx)) ** 2 for x, v in zip(xs, ys, strict=True))
    se = math.sqrt(sse / (k - 2) / sxx)
    if abs(slope) > float(stats.t.ppf(0.95, k - 2)) * se:
        return ""
    share = Fraction(p.plateau_slope_share).limit_denominator(1000)  # 1/3
    if abs(slope) * (k - 1) >= Fraction(scale.rc) * share - Fraction(scale.tol):
        return ""
    # (3) still symptomatic, else the good-enough level
    if not scale.is_case(float(my)):
        return "maintenance"
    return "partial" if scale.reliable(y1 - y[r]) else "stuck"


# --------------------------------------------------------------------------- the scan


def analyse_client(
    scores: list[float | None],
    scale: RefScale,
    p: RefParams | None = None,
    days: list[int | None] | None = None,
) -> RefResult:
    """Every per-administration label and the per-client summary of one client."""
    p = p or RefParams()
    y = [scale.severity(v) for v in scores]
    n = len(y)
    res = RefResult(
        t=[0] * n,
        status=[""] * n,
        event=[""] * n,
        in_setback=[False] * n,
        setback_onset=[False] * n,
        provisional=[False] * n,
        plateau=[""] * n,
        confirmation=[""] * n,
        best_before=[None] * n,
        setback_resolution=[""] * n,
    )
    res.gains = sudden_events(scores, scale, p, days, loss=False)
    res.losses = sudden_events(scores, scale, p, days, loss=True)
    scored = [i for i in range(n) if y[i] is not None]
    if not scored:
        return res
    intake = scored[0]
    res.intake, res.last = intake, scored[-1]
    y1: float = y[intake]
    for i in range(intake, n):
        res.t[i] = i - intake + 1
    crit1 = c1(scale, p)

    # ---- status (first rule that applies) and plateau
    for i in scored:
        if i == intake:
            res.status[i] = "baseline"
            continue
        v: float = y[i]
        res.best_before[i] = min(y[q] for q in scored if q < i)
        plat = plateau_at(y, res.t, days, i, y1, scale, p)
        res.plateau[i] = plat
        if scale.reliable(v - y1):
            res.status[i] = "deteriorated"
        elif plat == "stuck":
            res.status[i] = "plateau_stuck"
        elif plat == "partial":
            res.status[i] = "plateau_partial"
        elif scale.reliable(y1 - v) and scale.is_case(y1) and not scale.is_case(v):
            res.status[i] = "recovered"
        elif scale.reliable(y1 - v):
            res.status[i] = "improved"
        else:
            res.status[i] = "unchanged"

    # ---- setback episodes (onset, in_setback)
    in_episode = False
    best_onset = math.nan
    onsets: list[int] = []
    for i in range(intake, n):
        v = y[i]
        if v is None:
            res.in_setback[i] = in_episode  # a missed administration inside an episode
            continue
        if i == intake:
            continue
        best = res.best_before[i]
        if in_episode:
            if v <= best_onset + p.setback_regain * scale.rc + scale.tol:
                in_episode = False  # ground regained: this row is outside the episode
        elif scale.reliable(v - best) and res.status[i] != "deteriorated":
            in_episode = True
            best_onset = best
            onsets.append(i)
            res.setback_onset[i] = True
        res.in_setback[i] = in_episode
    res.n_setbacks = len(onsets)

    def onset_kind(i: int) -> str:
        limit = res.best_before[i] + p.setback_regain * scale.rc + scale.tol  # inclusive
        nxt = [q for q in scored if q > i][: p.setback_window]
        if any(y[q] <= limit for q in nxt):
            return "setback_transient"
        if len(nxt) == p.setback_window:
            return "setback_sustained"
        return "setback"  # resolution not known yet

    for i in onsets:
        res.setback_resolution[i] = onset_kind(i)

    # ---- event (first rule that applies)
    prev: float = y1
    for i in range(intake, n):
        v = y[i]
        if v is None:
            res.event[i] = "missed"
            continue
        if i == intake:
            res.event[i] = "baseline"
            continue
        loss = _interval_state(y, i, intake, crit1, p, loss=True)
        gain = _interval_state(y, i, intake, crit1, p, loss=False)
        if loss:
            res.event[i] = "sudden_loss" if loss == "final" else "possible_sudden_loss"
        elif gain:
            res.event[i] = "sudden_gain" if gain == "final" else "possible_sudden_gain"
        elif res.setback_onset[i]:
            res.event[i] = res.setback_resolution[i]
        elif not scale.reliable(abs(v - prev)):
            res.event[i] = "fluctuation"
        elif v < prev:
            res.event[i] = "step_better"
        else:
            res.event[i] = "step_worse"
        prev = v

    # ---- confirmation of deterioration, provisional labels
    for i in scored:
        if res.status[i] == "deteriorated":
            nxt = [q for q in scored if q > i]
            if not nxt:
                res.confirmation[i] = "pending"
            elif res.status[nxt[0]] == "deteriorated":
                res.confirmation[i] = "confirmed"
            else:
                res.confirmation[i] = "not_confirmed"
        # provisional: a shown label that later administrations may still change (an
        # onset whose event is a final sudden loss shows that loss, which is final)
        res.provisional[i] = (
            res.event[i] in ("possible_sudden_gain", "possible_sudden_loss", "setback")
            or res.confirmation[i] == "pending"
        )

    # ---- early response: first scored administration with from <= t <= to
    for i in scored:
        if p.early_response_from <= res.t[i] <= p.early_response_to:
            improvement = y1 - y[i]
            if scale.reliable(improvement):
                res.early_response = "early_responder"
            elif improvement >= p.early_partial_share * scale.rc - scale.tol:
                res.early_response = "partial"
            else:
                res.early_response = "early_non_responder"
            break
    return res


# --------------------------------------------------------------------------- glue for the tests
# Running the kernel on the same input and reading its output back per client, so that
# the tests can compare the two. Nothing below implements a rule.


def ref_scale(scale: Scale) -> RefScale:
    """The reference view of a kernel `Scale`."""
    cut = scale.severity_cutoff
    return RefScale(
        maximum=scale.maximum,
        higher_is_better=scale.higher_is_better,
        rc=scale.rc.threshold,
        strict=scale.rc.strict,
        cutoff=cut[0] if cut else None,
        cutoff_inclusive=cut[1] if cut else True,
    )


def ref_params(params: AnalysisParams | None = None) -> RefParams:
    ap = params or AnalysisParams()
    sg, tr = ap.sudden_gains, ap.trajectory
    return RefParams(
        crit1=sg.crit1,
        crit2=sg.crit2,
        crit3=sg.crit3,
        crit3_adjust=sg.crit3_adjust,
        crit3_alpha=sg.crit3_alpha,
        crit3_critical_value=sg.crit3_critical_value,
        first_interval=sg.first_interval,
        gap_days=sg.gap_days,
        plateau_window=tr.plateau_window,
        plateau_min_t=tr.plateau_min_t,
        plateau_min_days=tr.plateau_min_days,
        plateau_slope_share=tr.plateau_slope_share,
        setback_regain=tr.setback_regain,
        setback_window=tr.setback_window,
        early_response_from=tr.early_response_from,
        early_response_to=tr.early_response_to,
        early_partial_share=tr.early_partial_share,
    )


def make_batch(
    clients: Mapping[str, list[float | None]],
    days: Mapping[str, list[int | None] | None] | None = None,
    *,
    drop_missed: Collection[str] = (),
    order: Sequence[int] | None = None,
) -> ScoreBatch:
    """A batch with sessions 1..n per client (None = missed, given as a NaN score).

    ``days`` are day numbers (None = unknown). For the clients in
    ``drop_missed`` the missed administrations between the first and the last
    row are left out of the input, so that the batch fills the gaps in the
    session numbers itself. ``order`` permutes the input rows.
    """
    cid: list[str] = []
    sess: list[int] = []
    score: list[float] = []
    date: list[np.datetime64] = []
    for key, values in clients.items():
        client_days = days.get(key) if days is not None else None
        for i, v in enumerate(values):
            if v is None and key in drop_missed and 0 < i < len(values) - 1:
                continue
            cid.append(key)
            sess.append(i + 1)
            score.append(math.nan if v is None else float(v))
            d = client_days[i] if client_days is not None else None
            date.append(np.datetime64("NaT") if d is None else np.datetime64(d, "D"))
    idx = np.asarray(order if order is not None else range(len(cid)), dtype=np.int64)
    return ScoreBatch.from_arrays(
        np.array(cid, dtype=str)[idx],
        np.array(score, dtype=np.float64)[idx],
        session=np.array(sess, dtype=np.int64)[idx],
        date=np.array(date, dtype="datetime64[D]")[idx] if days is not None else None,
    )


@dataclass
class KernelClient:
    """The kernel's labels for one client's rows, in the reference's vocabulary."""

    t: list[int]
    status: list[str]
    event: list[str]
    in_setback: list[bool]
    setback_onset: list[bool]
    provisional: list[bool]
    plateau: list[str]
    confirmation: list[str]
    best_before: list[float | None]
    n_setbacks: int
    early_response: str


CONFIRMATION = ("", "confirmed", "not_confirmed", "pending")


def kernel_client(analysis: Analysis, key: str) -> KernelClient:
    """Read one client's rows (all rows of the densified batch) out of an analysis."""
    batch, tr = analysis.batch, analysis.trajectory
    c = int(np.flatnonzero(batch.client_keys.astype(str) == key)[0])
    rows = range(int(batch.offsets[c]), int(batch.offsets[c + 1]))
    return KernelClient(
        t=[int(tr.t[r]) for r in rows],
        status=[STATUS_LABELS[tr.status[r]] for r in rows],
        event=[EVENT_LABELS[tr.event[r]] for r in rows],
        in_setback=[bool(tr.in_setback[r]) for r in rows],
        setback_onset=[bool(tr.setback_onset[r]) for r in rows],
        provisional=[bool(tr.provisional[r]) for r in rows],
        plateau=[PLATEAU_LABELS[tr.plateau[r]] for r in rows],
        confirmation=[CONFIRMATION[tr.confirmation[r]] for r in rows],
        best_before=[
            None if math.isnan(tr.best_before[r]) else float(tr.best_before[r]) for r in rows
        ],
        n_setbacks=int(tr.n_setbacks[c]),
        early_response=EARLY_RESPONSE_LABELS[tr.early_response[c]],
    )


def kernel_events(analysis: Analysis, key: str, *, loss: bool) -> list[dict[str, object]]:
    """One client's rows of the sudden_gains (or sudden_losses) table."""
    table = analysis.sudden_losses if loss else analysis.sudden_gains
    out = []
    for i in range(len(table)):
        row = table.row(i)
        if row["client_id"] == key:
            out.append(row)
    return out


def reference_rows(res: RefResult) -> KernelClient:
    """The reference result in the shape of `KernelClient`, for ``==`` comparisons."""
    return KernelClient(
        t=res.t,
        status=res.status,
        event=res.event,
        in_setback=res.in_setback,
        setback_onset=res.setback_onset,
        provisional=res.provisional,
        plateau=res.plateau,
        confirmation=res.confirmation,
        best_before=res.best_before,
        n_setbacks=res.n_setbacks,
        early_response=res.early_response,
    )
