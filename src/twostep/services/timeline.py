"""The client timeline: every stream on one time axis.

Questionnaire scores (with the kernel's §11 labels and their explanations),
journal entries and mood, setback reflections, stressors, self-care, skill
practice, thought records, supporters added and contacts with them, goals, goal reviews and
steps done, appointments, alerts and session topics — merged and ordered by
time. Calendar days (a stressor's start, a self-care day) sit at midnight UTC
of that day.

The sharing policy applies as everywhere: for a therapist, kinds the client
keeps private are left out (`Timeline.private_kinds` names them, so the page
can say so) and journal entries lose their unshared parts. Alerts appear on
the therapist's timeline only.

Scores are analysed with one kernel call per instrument for all of the
client's episodes (each episode its own course). Context ("what else was
going on") is looked up only for the administrations whose labels call for
it (setback, deterioration, sudden loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from twostep.analytics.norms_model import NormsModel
from twostep.analytics.scale import Scale
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import (
    Administration,
    Alert,
    Appointment,
    EntryKind,
    Goal,
    GoalReview,
    GoalStep,
    JournalEntry,
    SelfCareEntry,
    SessionTopic,
    SetbackReflection,
    SkillPractice,
    Stressor,
    SupportContact,
    Supporter,
    ThoughtRecord,
)
from twostep.instruments.registry import get_instrument
from twostep.services.access import Actor, ClientAccess, client_access
from twostep.services.audit import AuditNote, audited
from twostep.services.histories import Signals, analyze_courses, courses_by_episode
from twostep.services.setback_context import ClientContext, explain_at, load_context
from twostep.services.texts import ExplanationText, texts_for
from twostep.services.validation import instant_of

__all__ = [
    "STREAMS",
    "ScoreEntry",
    "Timeline",
    "TimelineItem",
    "build_timeline",
    "client_timeline",
    "score_entries",
]

#: The streams of the timeline, in the order used to break ties in time.
STREAMS: tuple[str, ...] = (
    "appointment",
    "score",
    "alert",
    "journal",
    "reflection",
    "stressor",
    "self_care",
    "skill_practice",
    "thought_record",
    "supporter",
    "support_contact",
    "goal",
    "goal_review",
    "goal_step",
    "session_topic",
)

TimelineRecord = (
    Administration
    | Alert
    | Appointment
    | Goal
    | GoalReview
    | GoalStep
    | JournalEntry
    | SelfCareEntry
    | SessionTopic
    | SetbackReflection
    | SkillPractice
    | Stressor
    | SupportContact
    | Supporter
    | ThoughtRecord
)

_CONTEXT_LABELS = {
    "deteriorated",
    "sudden_loss",
    "possible_sudden_loss",
    "setback",
    "setback_transient",
    "setback_sustained",
}


@dataclass(frozen=True)
class ScoreEntry:
    """One administration with its labels and explanations."""

    administration: Administration
    instrument_name: str
    signals: Signals | None
    explanations: tuple[ExplanationText, ...]


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    stream: str
    record: TimelineRecord
    score: ScoreEntry | None = None


@dataclass(frozen=True)
class Timeline:
    client_id: str
    items: tuple[TimelineItem, ...]
    private_kinds: tuple[EntryKind, ...]


def score_entries(
    uow: UnitOfWork,
    access: ClientAccess,
    *,
    explain: bool = True,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
) -> list[ScoreEntry]:
    """Every current administration of the client with labels (one kernel call per instrument)."""
    cid = access.client_id
    by_instrument: dict[str, list[Administration]] = {}
    for a in uow.administrations.for_clients([cid]):
        by_instrument.setdefault(a.instrument_id, []).append(a)
    out: list[ScoreEntry] = []
    context: ClientContext | None = None  # loaded at the first setback that needs it
    for iid, history in sorted(by_instrument.items()):
        result = analyze_courses(iid, courses_by_episode(cid, history), scales=scales, norms=norms)
        name = get_instrument(iid).short_name
        for ci, course in enumerate(result.courses):
            for pos, adm in enumerate(course.administrations):
                sig = result.signals(ci, pos)
                texts: tuple[ExplanationText, ...] = ()
                if explain and sig is not None:
                    facts = None
                    if sig.status in _CONTEXT_LABELS or sig.event in _CONTEXT_LABELS:
                        if context is None:
                            context = load_context(
                                uow, access, scales=scales, histories=by_instrument
                            )
                        facts = context.facts_at(adm.completed_at)
                    texts = texts_for(
                        explain_at(result, ci, pos, facts=facts), staff=access.is_therapist
                    )
                out.append(ScoreEntry(adm, name, sig, texts))
    return out


def _between(at: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if at is None:
        return False
    return (since is None or at >= since) and (until is None or at < until)


def client_timeline(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
) -> Timeline:
    """All of the client's streams in time order, as the actor may see them."""

    def op(uow: UnitOfWork, note: AuditNote) -> Timeline:
        access = note.granted(client_access(uow, actor, client_id))
        return build_timeline(uow, access, since=since, until=until, scales=scales, norms=norms)

    return audited(uow_factory, actor, "read", "timeline", op, client_id=client_id)


def build_timeline(
    uow: UnitOfWork,
    access: ClientAccess,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
    scores: list[ScoreEntry] | None = None,
) -> Timeline:
    """`client_timeline` inside an open unit of work (after the access check).

    ``scores``: the client's `score_entries` when the caller has them already.
    """
    if scores is None:
        scores = score_entries(uow, access, scales=scales, norms=norms)
    items = _items(uow, access, scores)
    kept = [i for i in items if _between(i.at, since, until)]
    order = {s: k for k, s in enumerate(STREAMS)}
    kept.sort(key=lambda i: (i.at, order[i.stream], i.record.id))
    private = tuple(k for k in EntryKind if not access.sees(k))
    return Timeline(access.client_id, tuple(kept), private)


def _items(uow: UnitOfWork, access: ClientAccess, scores: list[ScoreEntry]) -> list[TimelineItem]:
    cid = access.client_id
    items: list[TimelineItem] = [
        TimelineItem(s.administration.completed_at, "score", s.administration, s) for s in scores
    ]
    items += [
        TimelineItem(a.scheduled_at, "appointment", a) for a in uow.appointments.for_client(cid)
    ]
    if access.is_therapist:
        items += [TimelineItem(a.created_at, "alert", a) for a in uow.alerts.for_client(cid)]
    for entry in uow.journal.for_client(cid):
        seen = access.journal_entry(entry)
        if seen is not None:
            items.append(TimelineItem(seen.created_at, "journal", seen))
    if access.sees(EntryKind.SETBACK_REFLECTIONS):
        items += [
            TimelineItem(r.created_at, "reflection", r) for r in uow.reflections.for_client(cid)
        ]
    if access.sees(EntryKind.STRESSORS):
        items += [
            TimelineItem(instant_of(s.started_on), "stressor", s)
            for s in uow.stressors.for_client(cid)
        ]
    if access.sees(EntryKind.SELF_CARE):
        items += [
            TimelineItem(instant_of(s.done_on), "self_care", s)
            for s in uow.self_care.for_client(cid)
        ]
    if access.sees(EntryKind.SKILL_PRACTICE):
        items += [
            TimelineItem(p.practiced_at, "skill_practice", p)
            for p in uow.skill_practice.for_client(cid)
        ]
    if access.sees(EntryKind.THOUGHT_RECORDS):
        items += [
            TimelineItem(t.created_at, "thought_record", t)
            for t in uow.thought_records.for_client(cid)
        ]
    if access.sees(EntryKind.SUPPORT_NETWORK):
        items += [
            TimelineItem(s.created_at, "supporter", s)
            for s in uow.supporters.for_client(cid)
            if s.created_at is not None
        ]
        items += [
            TimelineItem(instant_of(c.contacted_on), "support_contact", c)
            for c in uow.support_contacts.for_client(cid)
        ]
    if access.sees(EntryKind.GOALS):
        items += [
            TimelineItem(g.created_at, "goal", g)
            for g in uow.goals.for_client(cid)
            if g.created_at is not None
        ]
        items += [
            TimelineItem(r.reviewed_at, "goal_review", r) for r in uow.goal_reviews.for_client(cid)
        ]
        items += [
            TimelineItem(s.done_at, "goal_step", s)
            for s in uow.goal_steps.for_client(cid)
            if s.done and s.done_at is not None
        ]
    if access.sees(EntryKind.SESSION_TOPICS):
        items += [
            TimelineItem(t.created_at, "session_topic", t) for t in uow.topics.for_client(cid)
        ]
    return items
