"""Caseload triage: the therapist's clients ranked by who needs attention and why, risk first.

Attention reasons, in order of priority (issue 4 §2; methods.md §4, §5, §6,
§9, §12):

====  =========================  ====================================================
 0    ``risk_urgent``            unresolved risk alert of level 2+ (urgent tier)
 1    ``risk``                   unresolved risk alert (same-day review tier)
 2    ``risk_not_assessed``      unresolved "risk item not answered" alert
 3    ``not_on_track``           ETR band red, confirmed at two administrations
 4    ``deterioration``          reliable deterioration vs intake (latest status)
 5    ``groundhog_day``          plateau + at least two process signs (§12)
 6    ``alliance_rupture``       rupture not (yet) repaired (SRS / WAI-SR)
 7    ``plateau``                plateau, stuck or partial (latest status)
 8    ``goal_review_overdue``    an open goal's review date has passed
 9    ``missed_sessions``        a session missed without notice in the last 4 weeks
10    ``open_alert``             an unresolved signal alert the live labels no longer show
====  =========================  ====================================================

Signal alerts (not on track, deterioration, plateau, sudden loss, ...) are
raised when a check-in is stored; the reasons above come from the *latest*
labels. When a later score no longer shows the signal but its alert is still
unresolved, the client is not put under "no concerns": the alert is listed as
``open_alert`` (lowest priority; the therapist reviews and resolves it). When
the live label still shows it, the alert's id is attached to that reason.

Clients are ordered by their most urgent reason, then by how many reasons
they have, then by name; clients without a reason follow, by name. Each
reason carries a therapist-facing text naming the rule and the numbers.

Scores are analysed with **one kernel call per instrument for the whole
caseload** (each client's current episode is one segment), and the Groundhog
Day rule runs once over all clients (`groundhog_day` is vectorised); nothing
calls the kernel per client. If the kernel fails for an instrument, that
instrument's reasons are left out (and logged); risk reasons come from the
stored alerts and are always shown. Snoozed alerts whose time has not come are left
out; acknowledged ones still count until resolved. The client's sharing
choices apply to the process signs and goal reviews, as everywhere.

**Caching** (`TriageCache`, optional): the caseload page is the therapist's
most-visited page, and the analysis above costs far more than the page's
latency budget. The cache keeps, per therapist and client, that client's
score and process reasons together with the client's activity counter
(`ActivityRepository`, bumped in the same transaction as every write to a
client's record). A view reuses a client's reasons while (a) the counter has
not moved and (b) they are younger than ``max_age`` (default 60 s: reasons
that depend on the clock alone — "2 days ago", the four-week window — are at
most that late), and recomputes only the other clients, in one batch (one
kernel call per instrument for them). One check-in thus costs the next view
one client's analysis, not the caseload's. A client's reasons depend on that
client's records and sharing choices only (the kernel analyses each course
on its own), so a partly cached view equals a fresh one (tested). Alerts are
always read fresh, so a new risk alert shows at once even in a cached view.
The cache is per process; several processes stay correct because the
counters live in the database. Every call is audited whether or not it was
served from the cache.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from twostep.analytics.explain import GROUNDHOG_SIGNS, groundhog_day
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.scale import Scale
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Administration, Alert, AlertKind, AlertStatus, User
from twostep.instruments.model import Purpose
from twostep.instruments.registry import get_instrument
from twostep.services.access import Actor, ClientAccess, Relation, caseload, sharing_for_many
from twostep.services.alerts import effective_status
from twostep.services.audit import AuditNote, audited
from twostep.services.histories import CourseAnalysis, analyze_courses, current_course
from twostep.services.process_signs import collect_signs_many
from twostep.services.validation import utcnow

log = logging.getLogger(__name__)

__all__ = [
    "PRIORITY",
    "AttentionReason",
    "Triage",
    "TriageCache",
    "TriageEntry",
    "caseload_triage",
]

#: Attention reasons and their priority (lower = more urgent).
PRIORITY: Mapping[str, int] = {
    "risk_urgent": 0,
    "risk": 1,
    "risk_not_assessed": 2,
    "not_on_track": 3,
    "deterioration": 4,
    "groundhog_day": 5,
    "alliance_rupture": 6,
    "plateau": 7,
    "goal_review_overdue": 8,
    "missed_sessions": 9,
    "open_alert": 10,
}

_SIGN_TEXT = {
    "engagement_low": "engagement-check mean >= 1.5",
    "practice_down": "practice/journaling down >= 50% vs the previous 4 weeks",
    "missed_sessions": ">= 2 missed or cancelled sessions in 4 weeks",
    "same_focus": "same session focus at >= 3 consecutive sessions",
    "goal_review_overdue": "goal review overdue",
}


@dataclass(frozen=True)
class AttentionReason:
    """One reason to look at a client, with its rule in words."""

    code: str
    priority: int
    text: str
    instrument_id: str | None = None
    alert_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TriageEntry:
    client_id: str
    display_name: str
    reasons: tuple[AttentionReason, ...]

    @property
    def top_priority(self) -> int | None:
        return min((r.priority for r in self.reasons), default=None)


@dataclass(frozen=True)
class Triage:
    generated_at: datetime
    entries: tuple[TriageEntry, ...]

    @property
    def needing_attention(self) -> tuple[TriageEntry, ...]:
        return tuple(e for e in self.entries if e.reasons)


@dataclass(frozen=True)
class _Cached:
    version: int  # the client's activity counter when computed
    norms_key: int
    computed_at: datetime
    reasons: tuple[AttentionReason, ...]  # without the alert reasons


class TriageCache:
    """Per (therapist, client) cache of the score and process reasons (see the module docstring).

    ``hits`` and ``misses`` count clients served from the cache and recomputed.
    At most ``max_entries`` are kept; past that, expired entries are dropped
    first, then all.
    """

    def __init__(
        self, max_age: timedelta = timedelta(seconds=60), max_entries: int = 200_000
    ) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], _Cached] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_many(
        self, therapist_id: str, versions: Mapping[str, int], norms_key: int, at: datetime
    ) -> dict[str, tuple[AttentionReason, ...]]:
        """The still valid reasons of those of ``versions``' clients that have them."""
        found: dict[str, tuple[AttentionReason, ...]] = {}
        with self._lock:
            for cid, version in versions.items():
                entry = self._entries.get((therapist_id, cid))
                if (
                    entry is not None
                    and entry.version == version
                    and entry.norms_key == norms_key
                    and timedelta(0) <= at - entry.computed_at <= self.max_age
                ):
                    found[cid] = entry.reasons
            self.hits += len(found)
            self.misses += len(versions) - len(found)
        return found

    def put_many(
        self,
        therapist_id: str,
        versions: Mapping[str, int],
        norms_key: int,
        at: datetime,
        reasons: Mapping[str, tuple[AttentionReason, ...]],
    ) -> None:
        with self._lock:
            if len(self._entries) + len(reasons) > self.max_entries:
                self._entries = {
                    k: e
                    for k, e in self._entries.items()
                    if timedelta(0) <= at - e.computed_at <= self.max_age
                }
                if len(self._entries) + len(reasons) > self.max_entries:
                    self._entries.clear()
            for cid, found in reasons.items():
                self._entries[(therapist_id, cid)] = _Cached(
                    versions.get(cid, 0), norms_key, at, found
                )


def caseload_triage(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    *,
    now: datetime | None = None,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
    cache: TriageCache | None = None,
) -> Triage:
    """Rank the calling therapist's active caseload (see the module docstring)."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> Triage:
        clients = caseload(uow, actor, at=at)
        note.role = Relation.THERAPIST.value
        ids = [c.id for c in clients]
        cached: dict[str, tuple[AttentionReason, ...]] = {}
        versions: dict[str, int] = {}
        if cache is not None:
            versions = uow.activity.versions(ids)
            versions = {i: versions.get(i, 0) for i in ids}
            cached = cache.get_many(actor.user_id, versions, id(norms), at)
        stale = [c for c in clients if c.id not in cached]
        if stale:
            stale_ids = [c.id for c in stale]
            slow: dict[str, list[AttentionReason]] = {i: [] for i in stale_ids}
            administrations = uow.administrations.for_clients(stale_ids)
            plateau_status = _score_reasons(administrations, slow, scales, norms)
            _process_reasons(uow, actor, stale, at, plateau_status, slow, administrations)
            fresh = {i: tuple(r) for i, r in slow.items()}
            if cache is not None:
                cache.put_many(actor.user_id, versions, id(norms), at, fresh)
            cached = {**cached, **fresh}
        reasons: dict[str, list[AttentionReason]] = {c.id: [] for c in clients}
        signals = _alert_reasons(uow, ids, at, reasons)  # always fresh: risk shows at once
        for cid, found in cached.items():
            if cid in reasons:
                reasons[cid].extend(found)
        _signal_alert_reasons(signals, at, reasons)
        entries = [
            TriageEntry(c.id, c.display_name, tuple(sorted(reasons[c.id], key=_order)))
            for c in clients
        ]
        entries.sort(key=_rank)
        return Triage(at, tuple(entries))

    return audited(uow_factory, actor, "read", "caseload", op)


def _order(r: AttentionReason) -> tuple[int, str]:
    return (r.priority, r.instrument_id or "")


def _rank(e: TriageEntry) -> tuple[int, int, str, str]:
    top = e.top_priority
    return (
        top if top is not None else len(PRIORITY),
        -len(e.reasons),
        e.display_name.casefold(),
        e.client_id,
    )


def _ago(then: datetime, now: datetime) -> str:
    days = (now - then).days
    if days <= 0:
        return "today"
    return "1 day ago" if days == 1 else f"{days} days ago"


def _alert_reasons(
    uow: UnitOfWork, ids: list[str], at: datetime, reasons: dict[str, list[AttentionReason]]
) -> list[Alert]:
    """Add the risk reasons to ``reasons``; returns the unresolved signal alerts."""
    risk: dict[tuple[str, str], list[Alert]] = {}
    signals: list[Alert] = []
    for alert in uow.alerts.open_for_clients(ids):
        status = effective_status(alert, at)
        if status in (AlertStatus.SNOOZED, AlertStatus.RESOLVED) or alert.client_id not in reasons:
            continue
        if alert.kind is AlertKind.RISK:
            code = "risk_urgent" if alert.level >= 2 else "risk"
        elif alert.kind is AlertKind.RISK_NOT_ASSESSED:
            code = "risk_not_assessed"
        else:
            signals.append(alert)  # matched against the live labels afterwards
            continue
        risk.setdefault((alert.client_id, code), []).append(alert)
    for (cid, code), alerts in risk.items():
        alerts.sort(key=lambda a: a.created_at, reverse=True)
        latest = alerts[0]
        inst = str(latest.parameters.get("instrument", ""))
        name = get_instrument(inst).short_name if inst else "questionnaire"
        unack = sum(1 for a in alerts if effective_status(a, at) is AlertStatus.OPEN)
        many = f" ({len(alerts)} unresolved)" if len(alerts) > 1 else ""
        if code == "risk_not_assessed":
            text = (
                f"{name}: risk item not answered {_ago(latest.created_at, at)}{many} - "
                "not assessed, never 'no risk'; ask directly (methods.md §9)"
            )
        else:
            tier = str(latest.parameters.get("tier", "")) or f"level {latest.level}"
            text = (
                f"{name}: risk item above 0 {_ago(latest.created_at, at)}{many} - {tier}; "
                f"{unack} not yet acknowledged (methods.md §9)"
            )
        reasons[cid].append(
            AttentionReason(code, PRIORITY[code], text, inst or None, tuple(a.id for a in alerts))
        )
    return signals


def _signal_alert_reasons(
    signals: Sequence[Alert], at: datetime, reasons: dict[str, list[AttentionReason]]
) -> None:
    """Attach unresolved signal alerts to the live reason that still shows them, or list them.

    An alert matches a live reason of the same code (its kind) and instrument;
    alerts without a match become one ``open_alert`` reason per client and kind.
    """
    unmatched: dict[tuple[str, str], list[Alert]] = {}
    for alert in sorted(signals, key=lambda a: a.created_at, reverse=True):
        inst = str(alert.parameters.get("instrument", "")) or None
        found = reasons[alert.client_id]
        for i, reason in enumerate(found):
            if reason.code == alert.kind.value and reason.instrument_id in (inst, None):
                found[i] = replace(reason, alert_ids=(*reason.alert_ids, alert.id))
                break
        else:
            unmatched.setdefault((alert.client_id, alert.kind.value), []).append(alert)
    for (cid, kind), alerts in unmatched.items():
        latest = alerts[0]
        inst = str(latest.parameters.get("instrument", ""))
        name = get_instrument(inst).short_name if inst else "record"
        many = f" ({len(alerts)} unresolved)" if len(alerts) > 1 else ""
        text = (
            f"{name}: {kind.replace('_', ' ')} alert from {_ago(latest.created_at, at)} is still "
            f"open{many}; the latest scores no longer show it - review, then resolve or follow up"
        )
        reasons[cid].append(
            AttentionReason(
                "open_alert",
                PRIORITY["open_alert"],
                text,
                inst or None,
                tuple(a.id for a in alerts),
            )
        )


def _score_reasons(
    administrations: Sequence[Administration],
    reasons: dict[str, list[AttentionReason]],
    scales: Mapping[str, Scale] | None,
    norms: Mapping[str, NormsModel] | None,
) -> dict[str, str]:
    """Reasons from the latest labels; returns each client's plateau status (for Groundhog Day)."""
    grouped: dict[str, dict[str, list[Administration]]] = {}
    for a in administrations:
        grouped.setdefault(a.instrument_id, {}).setdefault(a.client_id, []).append(a)
    plateau: dict[str, str] = {}
    for iid, by_client in sorted(grouped.items()):
        courses = [current_course(cid, hist) for cid, hist in by_client.items()]
        try:
            result = analyze_courses(iid, courses, scales=scales, norms=norms)
        except Exception as exc:  # risk reasons come from alerts and must always be shown
            log.error("triage: kernel failed for %s (%s)", iid, type(exc).__name__)
            continue
        if result.analysis is not None:
            _label_reasons(result, reasons, plateau)
    return plateau


def _label_reasons(
    result: CourseAnalysis, reasons: dict[str, list[AttentionReason]], plateau: dict[str, str]
) -> None:
    analysis = result.analysis
    assert analysis is not None
    scale = result.scale
    assert scale is not None
    name, iid = scale.name, result.instrument.id
    table = analysis.clients
    status = table.labels("status")
    band = table.labels("etr_band")
    baseline, final = table["baseline"], table["final"]
    unrepaired = np.zeros(len(result.courses), dtype=bool)
    escalated = np.zeros(len(result.courses), dtype=bool)
    if analysis.ruptures is not None and len(analysis.ruptures):
        rup = analysis.ruptures
        open_ = ~np.asarray(rup["repaired"], dtype=bool)
        prov = np.asarray(rup["provisional"], dtype=bool)
        seg = np.asarray(rup["client_id"], dtype=np.int64)
        unrepaired[seg[open_]] = True
        escalated[seg[open_ & ~prov]] = True
    if result.instrument.purpose is not Purpose.OUTCOME:
        # alliance measures speak through their rupture rule, not outcome labels
        status = np.full(status.shape, "", dtype=status.dtype)
        band = np.full(band.shape, "", dtype=band.dtype)
    # only the handful of flagged clients are turned into texts
    flagged = np.flatnonzero(
        (band == "red_confirmed")
        | (status == "deteriorated")
        | np.isin(status, ("plateau_stuck", "plateau_partial"))
        | unrepaired
    )
    rc = scale.rc.threshold
    for k in flagged.tolist():
        cid = result.courses[k].client_id
        out = reasons[cid]
        b, f = float(baseline[k]), float(final[k])
        if band[k] == "red_confirmed":
            out.append(
                AttentionReason(
                    "not_on_track",
                    PRIORITY["not_on_track"],
                    f"{name}: not on track at two administrations in a row (ETR band red "
                    f"confirmed; latest {f:g}, intake {b:g}; methods.md §4)",
                    iid,
                )
            )
        if status[k] == "deteriorated":
            out.append(
                AttentionReason(
                    "deterioration",
                    PRIORITY["deterioration"],
                    f"{name}: reliable deterioration vs intake ({b:g} -> {f:g}; "
                    f"{scale.rc_label}; methods.md §1, §11)",
                    iid,
                )
            )
        if status[k] in ("plateau_stuck", "plateau_partial"):
            kind = "no reliable improvement" if status[k] == "plateau_stuck" else "some gains"
            out.append(
                AttentionReason(
                    "plateau",
                    PRIORITY["plateau"],
                    f"{name}: plateau ({kind}; latest {f:g}, intake {b:g}, "
                    f"changes within RC {rc:g} over the last "
                    f"{analysis.params.trajectory.plateau_window} administrations; methods.md §5.2)",
                    iid,
                )
            )
            plateau.setdefault(cid, str(status[k]))
        if unrepaired[k]:
            what = (
                "unrepaired after the repair window: consider supervision"
                if escalated[k]
                else "awaiting repair"
            )
            out.append(
                AttentionReason(
                    "alliance_rupture",
                    PRIORITY["alliance_rupture"],
                    f"{name}: alliance rupture {what} (methods.md §6.4)",
                    iid,
                )
            )


def _process_reasons(
    uow: UnitOfWork,
    actor: Actor,
    clients: list[User],
    at: datetime,
    plateau: dict[str, str],
    reasons: dict[str, list[AttentionReason]],
    administrations: Sequence[Administration],
) -> None:
    if not clients:
        return
    sharing = sharing_for_many(uow, [c.id for c in clients])
    accesses = [ClientAccess(actor, c, Relation.THERAPIST, sharing[c.id]) for c in clients]
    signs = collect_signs_many(uow, accesses, at, administrations=administrations)

    def col(values: list[float | None]) -> npt.NDArray[np.float64]:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    gd = groundhog_day(
        [plateau.get(c.id, "unchanged") for c in clients],
        engagement_mean=col([s.engagement_mean for s in signs]),
        practice_recent=col([s.practice_recent for s in signs]),
        practice_before=col([s.practice_before for s in signs]),
        missed_in_window=col([float(s.missed_in_window) for s in signs]),
        same_focus_run=col([float(s.same_focus_run) for s in signs]),
        goal_review_overdue=col(
            [None if s.goal_review_overdue is None else float(s.goal_review_overdue) for s in signs]
        ),
    )
    for i, (c, s) in enumerate(zip(clients, signs, strict=True)):
        out = reasons[c.id]
        if bool(gd.raised[i]):
            held = [_SIGN_TEXT[n] for n in gd.signs_held(i) if n in GROUNDHOG_SIGNS]
            out.append(
                AttentionReason(
                    "groundhog_day",
                    PRIORITY["groundhog_day"],
                    f"Groundhog Day: {plateau[c.id].replace('_', ' ')} with "
                    + "; ".join(held)
                    + " (twostep rule, methods.md §12)",
                )
            )
        if s.goal_review_overdue:
            out.append(
                AttentionReason(
                    "goal_review_overdue",
                    PRIORITY["goal_review_overdue"],
                    "goal review overdue"
                    + (
                        f" (last review {s.days_since_goal_review} days ago)"
                        if s.days_since_goal_review is not None
                        else " (never reviewed)"
                    ),
                )
            )
        if s.missed_no_notice > 0:
            n = s.missed_no_notice
            out.append(
                AttentionReason(
                    "missed_sessions",
                    PRIORITY["missed_sessions"],
                    f"missed {n} session{'s' if n > 1 else ''} without notice in the last 4 weeks",
                )
            )
