"""Service outcomes: NHS Talking Therapies rates and course patterns for one clinic, as aggregates.

`service_outcomes` answers the service-outcomes dashboard (therapists, admins,
researchers). It never returns a client's identity, a score or a date of one
person: only counts, rates and intervals per group, with small cells hidden.

What is counted (choices documented here and on the page)
---------------------------------------------------------

* **Episodes.** Every treatment episode of the clinic's clients, finished
  (``ended_on`` set) or ongoing. Ongoing episodes count at their latest paired
  scores (an interim outcome); the page says how many are ongoing.
  Administrations stored without an episode (some imports) are not counted.
* **Pairs.** PHQ-9 and GAD-7 are *paired* when both were completed on the same
  calendar day (UTC) in the same episode (methods.md §2.3: "both measures
  recorded at the same contact"); when one measure was completed twice on one
  day the later one counts. The kernel's `pair_episodes` finds each episode's
  first and last pair; `episode_outcomes` / `service_rates` (methods.md §2.3,
  GAD-7 as the anxiety measure: caseness 8, reliable change 4; PHQ-9 10 and 6)
  give the flags and the rates with 95 % Wilson intervals (z = 1.96,
  `twostep.analytics.intervals.wilson_interval`, as methods.md §2.3 / §12
  prescribe) — the same kernel calls as the HTML report
  (`twostep.reports.talking_therapies`).
* **Finished a course of treatment** = at least two attended appointments that
  were not assessment-only. For an episode with no appointments recorded at all
  the number of paired contacts stands in (as in the HTML report, where the
  score file has no attendance); the page says for how many episodes.
* **Period** = the calendar quarter (``2024-Q2``) of the episode's end, or —
  for an ongoing episode — of its last paired contact (else its last PHQ-9).
  An episode thus belongs to exactly one quarter, the one in which its outcome
  was (last) measured.
* **Therapist** of an episode = the therapist of its last attended
  appointment; without one, the therapist whose assignment to the client
  started last on or before the episode's reference day; otherwise "no
  therapist recorded" (kept as a group so that groups add up to the total).
* **Course patterns** (methods.md §3, §5) from one kernel call
  (`services.histories.analyze_courses`) over every episode's PHQ-9 course:
  *sudden gain* = at least one Tang–DeRubeis sudden gain, *setback* = at
  least one setback (§5.3), over episodes with at least 3 scored PHQ-9s;
  *plateau* = a stuck or partial-response plateau at any administration
  (§5.2), over episodes with at least 6 scored PHQ-9s (a plateau cannot be
  assessed earlier).

Small cells
-----------

Primary suppression: a rate whose numerator or denominator is below 10 is
hidden (shown as "fewer than 10"), as the kernel flags it (zeros included).
Complementary (secondary) suppression, per rate and grouping: when the total
is shown and exactly one group's cell is hidden, the shown group with the
smallest denominator is hidden too ("hidden so that a small group cannot be
worked out from the total"), so that no hidden count equals total minus the
shown groups. Suppression is decided on the whole table before a therapist's
view drops the other therapists' rows. Residual risk, accepted: differences
between separate queries (other periods or groupings) are not controlled.

Rounding (researchers): every count a researcher sees — numerators,
denominators and the episode counts above the table — is rounded to the
nearest multiple of ``researcher_rounding`` (5, the OpenSAFELY rule,
opensafely-core/ehrql#1746; a half rounds up) after suppression, and the rate
and its Wilson interval are computed from the rounded counts, so that they do
not give the exact counts back. A count that rounding would bring below the
threshold is hidden as well, and the episode counts are hidden ("fewer than
10", ``None``) below the threshold. The threshold is 10 (stricter than the
specification's "7 or fewer"); both are parameters of `service_outcomes`.

Therapists and admins of the clinic see exact counts (still with primary and
complementary suppression): they run the service from these figures (NHS
Talking Therapies reports exact counts to commissioners), they already have a
care or management relationship with the clinic's clients, and with
two-digit groups rounding to 5 would blur the small changes a clinic manager
watches. Rounding protects against re-identification by people outside the
clinic, which is what researchers are.

Who sees what
-------------

* an **admin** sees every therapist's row under the therapist's name;
* a **researcher** sees every therapist's row under a pseudonym ("Therapist
  3": a stable order from a hash of clinic and therapist id, not by name);
* a **therapist** (not admin) sees the clinic totals and their own row only.

Clients of other clinics are never included. One audit event per call:
``read`` of ``service_outcomes`` (no client id: it is an aggregate).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from twostep.analytics.batch import ScoreBatch
from twostep.analytics.intervals import (
    DEFAULT_SUPPRESSION_THRESHOLD,
    is_suppressed,
    wilson_interval,
)
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.pairing import pair_episodes
from twostep.analytics.talking_therapies import (
    GAD7_CUTOFF,
    GAD7_RC,
    MIN_TREATMENT_APPOINTMENTS,
    PHQ9_CUTOFF,
    PHQ9_RC,
    EpisodeOutcomes,
    episode_outcomes,
    service_rates,
)
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import (
    Administration,
    Appointment,
    AppointmentStatus,
    Assignment,
    Episode,
    Role,
    User,
)
from twostep.errors import AccessDeniedError, Problem, ValidationError
from twostep.services.access import Actor, verified_roles
from twostep.services.audit import AuditNote, audited
from twostep.services.histories import Course, analyze_courses

__all__ = [
    "MIN_PATTERN_SCORES",
    "RATE_DEFINITIONS",
    "Cell",
    "Grouping",
    "NormsStatus",
    "OutcomeRow",
    "RateDefinition",
    "ServiceOutcomes",
    "norms_status",
    "parse_period",
    "quarter_of",
    "round_count",
    "service_outcomes",
    "shown_cells",
    "suppress_cells",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

THRESHOLD = DEFAULT_SUPPRESSION_THRESHOLD
#: Researchers see every shown count rounded to a multiple of this (1 = exact).
RESEARCHER_ROUNDING = 5
#: Scored PHQ-9 administrations an episode needs before a pattern can be assessed.
MIN_PATTERN_SCORES: Mapping[str, int] = {"sudden_gain": 3, "setback": 3, "plateau": 6}
NO_THERAPIST = "no therapist recorded"


class Grouping(StrEnum):
    NONE = "none"
    THERAPIST = "therapist"
    PERIOD = "period"


@dataclass(frozen=True)
class RateDefinition:
    key: str
    title: str
    plain: str  # in plain words
    definition: str  # the rule, its denominator and its source


RATE_DEFINITIONS: tuple[RateDefinition, ...] = (
    RateDefinition(
        "recovery",
        "Recovery",
        "Of the people who started with enough symptoms to count as a 'case', the share who "
        "finished below the case level on both questionnaires.",
        "A case at the first pair (PHQ-9 ≥ 10 or GAD-7 ≥ 8) and not a case at the last pair. "
        "Denominator: episodes that finished a course of treatment with paired scores, minus "
        "those not a case at the start. NHS Talking Therapies (methods.md §2.3).",
    ),
    RateDefinition(
        "reliable_recovery",
        "Reliable recovery",
        "Recovery that is also bigger than everyday ups and downs: the person moved below the "
        "case level and improved by a reliable amount.",
        "Recovery and reliable improvement together. Same denominator as recovery "
        "(methods.md §2.3).",
    ),
    RateDefinition(
        "reliable_improvement",
        "Reliable improvement",
        "The share of people whose scores went down by more than the questionnaire's usual "
        "measurement noise, without getting reliably worse on the other questionnaire.",
        "PHQ-9 fell by ≥ 6 or GAD-7 by ≥ 4, and neither rose by that much. Denominator: all "
        "episodes that finished a course of treatment with paired scores (methods.md §2.3).",
    ),
    RateDefinition(
        "reliable_deterioration",
        "Reliable deterioration",
        "The share of people whose scores went up by more than measurement noise — people who "
        "got worse during treatment. This is never hidden as 'normal fluctuation'.",
        "PHQ-9 rose by ≥ 6 or GAD-7 by ≥ 4, and neither fell by that much. Denominator: all "
        "episodes that finished a course of treatment with paired scores (methods.md §2.3).",
    ),
    RateDefinition(
        "sudden_gain",
        "Sudden gain",
        "The share of courses with at least one large, stable improvement between two "
        "consecutive questionnaires.",
        "At least one Tang & DeRubeis (1999) sudden gain on PHQ-9 (criterion 1 = RC 6 points, "
        "criterion 2 = 25 %, criterion 3 = adjusted t). Denominator: episodes with at least 3 "
        "scored PHQ-9s (methods.md §3).",
    ),
    RateDefinition(
        "setback",
        "Setback",
        "The share of courses with at least one setback: scores rose clearly above the best so "
        "far, without being reliably worse than at the start. Setbacks are common in therapy "
        "that works.",
        "PHQ-9 at least 6 points above the best earlier score but not reliable deterioration "
        "against intake. Denominator: episodes with at least 3 scored PHQ-9s (methods.md §5.3).",
    ),
    RateDefinition(
        "plateau",
        "Plateau",
        "The share of courses where scores stayed flat for a while while symptoms were still "
        "high — a sign that the plan may need a review.",
        "A stuck or partial-response plateau at any administration from the 6th on (4 scores "
        "within RC over ≥ 21 days, flat trend, still ≥ 10). Denominator: episodes with at least "
        "6 scored PHQ-9s (methods.md §5.2).",
    ),
)
RATE_KEYS: tuple[str, ...] = tuple(d.key for d in RATE_DEFINITIONS)


@dataclass(frozen=True)
class Cell:
    """One rate of one row. Hidden cells carry no numbers (``hidden`` says why)."""

    key: str
    numerator: int | None
    denominator: int | None
    proportion: float | None
    lower: float | None
    upper: float | None
    hidden: str | None = None  # None | "small" | "complementary"

    @property
    def shown(self) -> bool:
        return self.hidden is None


@dataclass(frozen=True)
class OutcomeRow:
    label: str
    kind: str  # total | therapist | period
    cells: tuple[Cell, ...]
    is_own: bool = False

    def cell(self, key: str) -> Cell:
        for c in self.cells:
            if c.key == key:
                return c
        raise KeyError(key)


@dataclass(frozen=True)
class NormsStatus:
    instrument: str
    fitted_at: str
    n_episodes: int
    n_scores: int
    training_window: str | None
    coverage_share: float
    coverage_target: float
    coverage_tolerance: float
    coverage_passed: bool


@dataclass(frozen=True)
class ServiceOutcomes:
    period: str | None  # None = all periods
    grouping: Grouping
    view: str  # admin | researcher | therapist
    total: OutcomeRow
    rows: tuple[OutcomeRow, ...]
    periods: tuple[str, ...]  # quarters with at least one episode, oldest first
    n_episodes: int | None  # None: fewer than the threshold (researchers only)
    n_ongoing: int | None
    n_finished_not_computable: int | None
    n_attendance_from_pairs: int | None
    norms: tuple[NormsStatus, ...]
    definitions: tuple[RateDefinition, ...] = RATE_DEFINITIONS
    threshold: int = THRESHOLD  # cells with a count below this are hidden
    rounded_to: int = 1  # shown counts are multiples of this (researchers: 5)


# -- periods ------------------------------------------------------------------------------


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def parse_period(value: str | None) -> str | None:
    """``None``/``"all"`` → all periods; ``"2024-Q2"`` → itself; else `ValidationError`."""
    if value is None or value == "all":
        return None
    ok = (
        len(value) == 7
        and value[:4].isdigit()
        and value[4:6] == "-Q"
        and value[6] in "1234"
        and value[:4] >= "1900"
    )
    if not ok:
        raise ValidationError(
            [Problem("period", "invalid_period", "use a quarter such as 2024-Q2, or all")]
        )
    return value


# -- norms --------------------------------------------------------------------------------


def norms_status(norms: Mapping[str, NormsModel] | None) -> tuple[NormsStatus, ...]:
    out = []
    for iid in sorted(norms or {}):
        m = (norms or {})[iid]
        window = (
            f"{m.training_first_day} to {m.training_last_day}"
            if m.training_first_day and m.training_last_day
            else None
        )
        c = m.coverage
        out.append(
            NormsStatus(
                m.instrument_id,
                m.created_at,
                m.n_episodes,
                m.n_scores,
                window,
                float(c.share),
                float(c.target),
                float(c.tolerance),
                bool(c.passed),
            )
        )
    return tuple(out)


# -- the use case -------------------------------------------------------------------------


@dataclass
class _Episodes:
    """The clinic's episodes as arrays (index = position in ``episodes``)."""

    episodes: list[Episode]
    therapist: list[str | None]
    period: list[str | None]
    ongoing: BoolArray
    outcomes_args: dict[str, npt.NDArray[np.float64]]
    attendance_from_pairs: BoolArray
    courses: list[Course]


def service_outcomes(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    *,
    period: str | None = None,
    grouping: Grouping | str = Grouping.THERAPIST,
    norms: Mapping[str, NormsModel] | None = None,
    threshold: int = THRESHOLD,
    researcher_rounding: int = RESEARCHER_ROUNDING,
) -> ServiceOutcomes:
    """The clinic's outcome rates for ``period`` (a quarter, or None = all), by ``grouping``.

    Cells with a count below ``threshold`` are hidden (and complementary cells,
    see the module docstring); a researcher's counts are rounded to multiples
    of ``researcher_rounding``. Raises `AccessDeniedError` for a caller without
    the therapist, admin or researcher role, `ValidationError` for a malformed
    period or grouping.
    """
    if threshold < 1 or researcher_rounding < 1:
        raise ValueError("threshold and rounding must be at least 1")

    def op(uow: UnitOfWork, note: AuditNote) -> ServiceOutcomes:
        wanted = parse_period(period)
        try:
            group = Grouping(grouping)
        except ValueError:
            raise ValidationError(
                [Problem("group", "invalid_group", "use therapist, period or none")]
            ) from None
        roles = verified_roles(uow, actor) & {Role.THERAPIST, Role.ADMIN, Role.RESEARCHER}
        if not roles:
            raise AccessDeniedError("service outcomes are for staff")
        view = (
            "admin"
            if Role.ADMIN in roles
            else ("researcher" if Role.RESEARCHER in roles else "therapist")
        )
        note.role = view
        users = uow.users.in_clinic(actor.clinic_id)
        data = _load(uow, actor.clinic_id, users)
        rounding = researcher_rounding if view == "researcher" else 1
        return _summarise(data, users, actor, view, wanted, group, norms, threshold, rounding)

    return audited(uow_factory, actor, "read", "service_outcomes", op)


def _load(uow: UnitOfWork, clinic_id: str, users: Sequence[User]) -> _Episodes:
    clients = [u for u in users if Role.CLIENT in u.roles and u.clinic_id == clinic_id]
    client_ids = [u.id for u in clients]
    episodes: list[Episode] = []
    appointments: list[Appointment] = []
    assignments: dict[str, list[Assignment]] = {}
    # the ports have no clinic-wide episode/appointment query: one call per client and kind
    for cid in client_ids:
        episodes += [e for e in uow.episodes.for_client(cid) if e.clinic_id == clinic_id]
        appointments += [a for a in uow.appointments.for_client(cid) if a.clinic_id == clinic_id]
        assignments[cid] = [a for a in uow.assignments.for_client(cid) if a.clinic_id == clinic_id]
    index = {e.id: i for i, e in enumerate(episodes)}
    n = len(episodes)
    phq = uow.administrations.for_clients(client_ids, "phq9") if client_ids else []
    gad = uow.administrations.for_clients(client_ids, "gad7") if client_ids else []
    phq_ep, phq_day, phq_score = _columns(phq, index)
    gad_ep, gad_day, gad_score = _columns(gad, index)

    p1 = np.full(n, np.nan)
    p2, a1, a2 = p1.copy(), p1.copy(), p1.copy()
    n_pairs = np.zeros(n, dtype=np.int64)
    last_pair_day = np.full(n, -1, dtype=np.int64)
    if phq_ep.size and gad_ep.size:
        pairs = pair_episodes(
            _batch(phq_ep, phq_day, phq_score), _batch(gad_ep, gad_day, gad_score)
        )
        if len(pairs):
            at = np.asarray(pairs.client_keys, dtype=np.int64)
            p1[at], p2[at] = pairs.a_first, pairs.a_last
            a1[at], a2[at] = pairs.b_first, pairs.b_last
            n_pairs[at] = pairs.n_pairs
            last_pair_day[at] = pairs.last_session
    last_phq_day = np.full(n, -1, dtype=np.int64)
    if phq_ep.size:
        np.maximum.at(last_phq_day, phq_ep, phq_day)

    # attended treatment appointments per episode (assessment-only ones excluded)
    ap_ep = np.array([index.get(a.episode_id, -1) for a in appointments], dtype=np.int64)
    treat = np.array(
        [a.status is AppointmentStatus.ATTENDED and not a.assessment_only for a in appointments],
        dtype=np.bool_,
    )
    known = ap_ep >= 0
    any_recorded = np.bincount(ap_ep[known], minlength=n) > 0
    attended = np.bincount(ap_ep[known & treat], minlength=n).astype(np.float64)
    from_pairs = ~any_recorded
    treatment = np.where(from_pairs, n_pairs, attended).astype(np.float64)

    # reference day (for the period) and the therapist of each episode
    last_attended: dict[int, Appointment] = {}
    for a, e in zip(appointments, ap_ep.tolist(), strict=True):
        if e >= 0 and a.status is AppointmentStatus.ATTENDED and a.therapist_id:
            prev = last_attended.get(e)
            if prev is None or a.scheduled_at >= prev.scheduled_at:
                last_attended[e] = a
    therapist: list[str | None] = []
    period: list[str | None] = []
    for i, e in enumerate(episodes):
        day: date | None = e.ended_on
        if day is None:
            ordinal = int(last_pair_day[i]) if last_pair_day[i] > 0 else int(last_phq_day[i])
            day = date.fromordinal(ordinal) if ordinal > 0 else None
        period.append(quarter_of(day) if day is not None else None)
        ap = last_attended.get(i)
        if ap is not None:
            therapist.append(ap.therapist_id)
            continue
        limit = day or date.max
        started = [a for a in assignments.get(e.client_id, []) if a.started_at.date() <= limit]
        therapist.append(max(started, key=lambda a: a.started_at).therapist_id if started else None)

    by_episode: dict[int, list[Administration]] = {}
    for adm, i in zip(phq, _episode_index(phq, index).tolist(), strict=True):
        if i >= 0:
            by_episode.setdefault(i, []).append(adm)
    courses = [
        Course(
            e.client_id,
            e.id,
            tuple(sorted(by_episode.get(i, []), key=lambda a: a.completed_at)),
        )
        for i, e in enumerate(episodes)
    ]
    return _Episodes(
        episodes=episodes,
        therapist=therapist,
        period=period,
        ongoing=np.array([e.ended_on is None for e in episodes], dtype=np.bool_),
        outcomes_args={
            "p1": p1,
            "p2": p2,
            "a1": a1,
            "a2": a2,
            "treatment": treatment,
        },
        attendance_from_pairs=from_pairs,
        courses=courses,
    )


def _episode_index(rows: Sequence[Administration], index: Mapping[str, int]) -> IntArray:
    return np.array(
        [index.get(a.episode_id, -1) if a.episode_id else -1 for a in rows], dtype=np.int64
    )


def _columns(
    rows: Sequence[Administration], index: Mapping[str, int]
) -> tuple[IntArray, IntArray, npt.NDArray[np.float64]]:
    """Episode index, day ordinal and total of each scored row; one row per episode and day."""
    ep = _episode_index(rows, index)
    day = np.array([a.completed_at.date().toordinal() for a in rows], dtype=np.int64)
    stamp = np.array([a.completed_at.timestamp() for a in rows], dtype=np.float64)
    score = np.array([np.nan if a.total is None else a.total for a in rows], dtype=np.float64)
    keep = (ep >= 0) & np.isfinite(score)
    ep, day, stamp, score = ep[keep], day[keep], stamp[keep], score[keep]
    order = np.lexsort((stamp, day, ep))
    ep, day, score = ep[order], day[order], score[order]
    last = np.ones(ep.shape[0], dtype=np.bool_)  # the later of two on one day counts
    if ep.size > 1:
        last[:-1] = (ep[1:] != ep[:-1]) | (day[1:] != day[:-1])
    return ep[last], day[last], score[last]


def _batch(ep: IntArray, day: IntArray, score: npt.NDArray[np.float64]) -> ScoreBatch:
    return ScoreBatch.from_arrays(ep, score, session=day, densify=False)


# -- summarising ----------------------------------------------------------------------------


@dataclass
class _Counts:
    """Numerators and denominators of every rate: shape (n_rates, n_groups + 1), total last."""

    k: IntArray
    n: IntArray


def _summarise(
    data: _Episodes,
    users: Sequence[User],
    actor: Actor,
    view: str,
    wanted: str | None,
    group: Grouping,
    norms: Mapping[str, NormsModel] | None,
    threshold: int = THRESHOLD,
    rounding: int = 1,
) -> ServiceOutcomes:
    all_periods = sorted({p for p in data.period if p is not None})
    sel = np.array(
        [p is not None and (wanted is None or p == wanted) for p in data.period], dtype=np.bool_
    )
    idx = np.flatnonzero(sel)
    args = {k: v[idx] for k, v in data.outcomes_args.items()}
    outcomes = episode_outcomes(
        args["p1"],
        args["p2"],
        args["a1"],
        args["a2"],
        anxiety_cutoff=GAD7_CUTOFF,
        anxiety_rc=GAD7_RC,
        treatment_appointments=args["treatment"],
        phq9_cutoff=PHQ9_CUTOFF,
        phq9_rc=PHQ9_RC,
        min_treatment_appointments=MIN_TREATMENT_APPOINTMENTS,
    )
    # group codes of the selected episodes
    if group is Grouping.THERAPIST:
        keys = [data.therapist[i] or "" for i in idx.tolist()]
        labels_in = sorted(set(keys), key=lambda t: _pseudo_key(actor.clinic_id, t))
    elif group is Grouping.PERIOD:
        keys = [data.period[i] or "" for i in idx.tolist()]
        labels_in = sorted(set(keys))
    else:
        keys, labels_in = ["" for _ in idx.tolist()], []
    code_of = {k: c for c, k in enumerate(labels_in)}
    codes = np.array([code_of.get(k, 0) for k in keys], dtype=np.int64)
    g = len(labels_in)

    counts = _nhs_counts(outcomes, codes, g)
    pk, pn = _pattern_counts(data, idx, codes, g, norms)
    counts = _Counts(np.vstack([counts.k, pk]), np.vstack([counts.n, pn]))
    hidden = suppress_cells(counts.k, counts.n, threshold=threshold, round_to=rounding)

    names = {u.id: u.display_name for u in users}
    # pseudonyms numbered over every therapist of every period: stable across filters
    everyone = sorted(
        {t for t in data.therapist if t}, key=lambda t: _pseudo_key(actor.clinic_id, t)
    )
    pseudonym = {t: n + 1 for n, t in enumerate(everyone)}
    rows: list[OutcomeRow] = []
    for c, key in enumerate(labels_in):
        own = group is Grouping.THERAPIST and key == actor.user_id
        if group is Grouping.THERAPIST:
            if view == "therapist" and not own:
                continue  # a therapist sees their own row and the clinic totals only
            if not key:
                label = NO_THERAPIST
            elif view == "admin":
                label = names.get(key, "unknown therapist")
            elif view == "therapist":
                label = "You"
            else:
                label = f"Therapist {pseudonym[key]}"
            kind = "therapist"
        elif group is Grouping.PERIOD:
            label, kind = key, "period"
        else:  # pragma: no cover - no groups without a grouping
            continue
        cells = shown_cells(counts.k, counts.n, hidden, c, threshold=threshold, round_to=rounding)
        rows.append(OutcomeRow(label, kind, cells, is_own=own))
    total_cells = shown_cells(counts.k, counts.n, hidden, g, threshold=threshold, round_to=rounding)
    total = OutcomeRow("Whole clinic", "total", total_cells)
    sel_ongoing = data.ongoing[idx]

    def count(value: int) -> int | None:
        """An episode count as the view may see it (researchers: hidden or rounded)."""
        if rounding == 1:
            return value
        shown = round_count(value, rounding)
        return None if value < threshold or shown < threshold else shown

    return ServiceOutcomes(
        period=wanted,
        grouping=group,
        view=view,
        total=total,
        rows=tuple(rows),
        periods=tuple(all_periods),
        n_episodes=count(int(idx.size)),
        n_ongoing=count(int(sel_ongoing.sum())),
        n_finished_not_computable=count(
            int((outcomes.finished_treatment & ~outcomes.computable).sum())
        ),
        n_attendance_from_pairs=count(int(data.attendance_from_pairs[idx].sum())),
        norms=norms_status(norms),
        threshold=threshold,
        rounded_to=rounding,
    )


def _pseudo_key(clinic_id: str, therapist_id: str) -> tuple[bool, str]:
    """Order of pseudonyms: by a hash (not by name), the "no therapist" group last."""
    digest = hashlib.sha256(f"{clinic_id}:{therapist_id}".encode()).hexdigest()
    return (therapist_id == "", digest)


def _with_total(per_group: IntArray, total: int) -> IntArray:
    return np.append(per_group.astype(np.int64), np.int64(total))


def _nhs_counts(outcomes: EpisodeOutcomes, codes: IntArray, g: int) -> _Counts:
    by = service_rates(outcomes, group=codes, n_groups=g) if g else None
    tot = service_rates(outcomes, n_groups=1)
    ks, ns = [], []
    for name in ("recovery", "reliable_recovery", "reliable_improvement", "reliable_deterioration"):
        t = getattr(tot, name)
        k_g = getattr(by, name).numerator if by is not None else np.zeros(0, dtype=np.int64)
        n_g = getattr(by, name).denominator if by is not None else np.zeros(0, dtype=np.int64)
        ks.append(_with_total(k_g, int(t.numerator[0])))
        ns.append(_with_total(n_g, int(t.denominator[0])))
    return _Counts(np.vstack(ks), np.vstack(ns))


def _pattern_counts(
    data: _Episodes,
    idx: IntArray,
    codes: IntArray,
    g: int,
    norms: Mapping[str, NormsModel] | None,
) -> tuple[IntArray, IntArray]:
    """Sudden gain, setback and plateau counts from one kernel call over the selected courses."""
    k = np.zeros((3, g + 1), dtype=np.int64)
    n = np.zeros((3, g + 1), dtype=np.int64)
    chosen = [(c, data.courses[i]) for c, i in zip(codes.tolist(), idx.tolist(), strict=True)]
    kept = [(c, course) for c, course in chosen if course.administrations]
    if not kept:
        return k, n
    result = analyze_courses("phq9", [course for _, course in kept], norms=norms)
    analysis = result.analysis
    if analysis is None:
        return k, n
    clients = analysis.clients
    n_courses = len(kept)
    n_scores = np.asarray(clients["n_scores"], dtype=np.int64)
    gains = np.asarray(clients["n_sudden_gains"], dtype=np.int64) > 0
    setbacks = np.asarray(clients["n_setbacks"], dtype=np.int64) > 0
    s = analysis.sessions
    plateau_row = np.isin(np.asarray(s["plateau"], dtype=np.int64), (1, 2))  # stuck, partial
    plateau = (
        np.bincount(
            np.asarray(s["client_id"], dtype=np.int64),
            weights=plateau_row,
            minlength=n_courses,
        )
        > 0
    )
    group = np.array([c for c, _ in kept], dtype=np.int64)
    for r, (flag, key) in enumerate(
        ((gains, "sudden_gain"), (setbacks, "setback"), (plateau, "plateau"))
    ):
        base = n_scores >= MIN_PATTERN_SCORES[key]
        if g:
            n[r, :g] = np.bincount(group[base], minlength=g)
            k[r, :g] = np.bincount(group[base & flag], minlength=g)
        n[r, g] = int(base.sum())
        k[r, g] = int((base & flag).sum())
    return k, n


def round_count(value: int, base: int) -> int:
    """``value`` rounded to the nearest multiple of ``base`` (a half rounds up)."""
    if base <= 1:
        return int(value)
    return int(base * math.floor(value / base + 0.5))


def suppress_cells(
    k: IntArray, n: IntArray, *, threshold: int = THRESHOLD, round_to: int = 1
) -> npt.NDArray[np.int8]:
    """0 shown, 1 hidden (small cell), 2 hidden (complementary); the total is the last column.

    ``k`` and ``n`` have shape (rates, groups + 1). Primary: a numerator or
    denominator below ``threshold`` (zeros included). Complementary, per rate:
    with the total shown, never exactly one hidden group (so no hidden cell is
    the total minus the shown groups); and when the hidden groups could still
    be worked out from the total — a reader knows that a "small" cell's
    numerator is below the threshold and that a "complementary" cell's counts
    are not, so e.g. two small cells whose numerators add up to 0 are both 0 —
    the total is hidden too (`_determined`).
    """
    small = is_suppressed(k, threshold=threshold) | is_suppressed(n, threshold=threshold)
    if round_to > 1:  # a count that would be shown rounded below the threshold is small too
        rounded = np.vectorize(lambda x: round_count(int(x), round_to), otypes=[np.int64])
        small |= (rounded(k) < threshold) | (rounded(n) < threshold)
    counts = _Counts(k, n)
    out = small.astype(np.int8)
    g = counts.k.shape[1] - 1
    for r in range(out.shape[0]):
        if g < 2 or out[r, g]:
            continue  # one group is the total; a hidden total hides nothing more
        hidden = np.flatnonzero(out[r, :g])
        if hidden.size == 1:
            shown = np.flatnonzero(out[r, :g] == 0)
            if shown.size == 0:  # pragma: no cover - g >= 2 and one hidden leaves one shown
                out[r, g] = 2
                continue
            smallest = shown[int(np.argmin(counts.n[r, shown]))]
            out[r, smallest] = 2
        if _determined(counts, out, r, threshold):
            out[r, g] = 2
    return out


def _determined(counts: _Counts, out: npt.NDArray[np.int8], r: int, threshold: int) -> bool:
    """Whether the shown cells of rate ``r`` and its total pin down a hidden group's count.

    Bounds a reader knows: a small cell's numerator is in [0, threshold - 1]
    (k <= n, and one of them is below the threshold), its denominator in
    [0, inf); a complementary cell's counts are >= threshold. Cell i is
    determined when its interval [max(L_i, S - sum U_j), min(U_i, S - sum L_j)]
    (j != i, S = total minus the shown groups) holds one value.
    """
    g = counts.k.shape[1] - 1
    if out[r, g]:
        return False
    hidden = np.flatnonzero(out[r, :g])
    if hidden.size == 0:
        return False
    shown = np.flatnonzero(out[r, :g] == 0)
    inf = math.inf
    for values, small_upper in ((counts.k[r], threshold - 1), (counts.n[r], inf)):
        rest = float(values[g] - values[shown].sum())
        lower = [0.0 if out[r, i] == 1 else float(threshold) for i in hidden]
        upper = [float(small_upper) if out[r, i] == 1 else inf for i in hidden]
        for i in range(hidden.size):
            others_upper = sum(u for j, u in enumerate(upper) if j != i)
            others_lower = sum(lo for j, lo in enumerate(lower) if j != i)
            lo_i = max(lower[i], rest - others_upper)
            hi_i = min(upper[i], rest - others_lower)
            if lo_i >= hi_i:
                return True
    return False


def shown_cells(
    k_all: IntArray,
    n_all: IntArray,
    hidden: npt.NDArray[np.int8],
    col: int,
    *,
    threshold: int = THRESHOLD,
    round_to: int = 1,
) -> tuple[Cell, ...]:
    """The cells of column ``col`` as shown: hidden ones without numbers; with ``round_to``
    > 1 the counts rounded and the rate and interval computed from the rounded counts."""
    k = np.array([round_count(int(x), round_to) for x in k_all[:, col]], dtype=np.int64)
    n = np.array([round_count(int(x), round_to) for x in n_all[:, col]], dtype=np.int64)
    ci = wilson_interval(k, n)
    out = []
    for r, key in enumerate(RATE_KEYS):
        h = int(hidden[r, col])
        if not h and (k[r] < threshold or n[r] < threshold):
            h = 1  # rounding brought a count below the threshold
        if h:
            out.append(
                Cell(key, None, None, None, None, None, "small" if h == 1 else "complementary")
            )
            continue
        out.append(
            Cell(
                key,
                int(k[r]),
                int(n[r]),
                float(ci.proportion[r]),
                float(ci.lower[r]),
                float(ci.upper[r]),
            )
        )
    return tuple(out)
