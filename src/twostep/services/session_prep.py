"""Session preparation: what happened since the last attended session, on one page.

For the therapist before a session: new scores with their labels and
explanations, unresolved alerts (and those raised since), stressors started
or still going, the topics the client wants to raise ("For my next
session"), skill practice and self-care summaries, goal steps done and goal
reviews due, setback reflections, and the support suggestions of methods.md
§12 (alliance, motivation, social support, life events, goals; flagged areas
first) with the signals that make them relevant now.

"Since" is the start of the last attended session before now; without one,
the whole current record. The client's sharing choices apply: what they keep
private is missing and named in ``private_kinds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean

from twostep.analytics.explain import Suggestion, SupportInputs, support_suggestions
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.scale import Scale
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import (
    Alert,
    AlertStatus,
    Appointment,
    AppointmentStatus,
    EntryKind,
    GoalStep,
    SelfCareActivity,
    SessionTopic,
    SetbackReflection,
    Stressor,
)
from twostep.domain.skills import get_skill
from twostep.instruments.model import Comparison
from twostep.services.access import Actor, ClientAccess, client_access
from twostep.services.alliance_followup import AllianceFollowUp, alliance_state
from twostep.services.audit import AuditNote, audited
from twostep.services.goals import GoalReviewStatus, review_status
from twostep.services.process_signs import collect_signs
from twostep.services.setback_context import load_context
from twostep.services.timeline import ScoreEntry, score_entries
from twostep.services.validation import utcnow

__all__ = [
    "SUGGESTION_SIGNALS",
    "SelfCareSummary",
    "SessionPrep",
    "SkillSummary",
    "prepare_session",
    "suggestions_for",
]

#: Latest labels with which support suggestions are shown (methods.md §12).
SUGGESTION_SIGNALS = ("deteriorated", "plateau_stuck", "plateau_partial", "red", "red_confirmed")


@dataclass(frozen=True)
class SkillSummary:
    skill_id: str
    name: str
    times: int
    mean_helpfulness: float | None


@dataclass(frozen=True)
class SelfCareSummary:
    activity: SelfCareActivity
    times: int
    minutes: int
    mean_restorative: float | None


@dataclass(frozen=True)
class SessionPrep:
    client_id: str
    since: datetime | None
    last_session: Appointment | None
    next_session: Appointment | None
    new_scores: tuple[ScoreEntry, ...]
    alerts: tuple[Alert, ...]
    stressors: tuple[Stressor, ...]
    topics: tuple[SessionTopic, ...]
    skill_practice: tuple[SkillSummary, ...]
    self_care: tuple[SelfCareSummary, ...]
    journal_entries: int | None
    mean_mood: float | None
    reflections: tuple[SetbackReflection, ...]
    steps_done: tuple[GoalStep, ...]
    goal_reviews_due: tuple[GoalReviewStatus, ...]
    alliance: tuple[AllianceFollowUp, ...]
    suggestions: tuple[Suggestion, ...]
    suggestions_because: tuple[str, ...]
    private_kinds: tuple[EntryKind, ...]


def _mean(values: list[int]) -> float | None:
    return round(fmean(values), 1) if values else None


def prepare_session(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    now: datetime | None = None,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
) -> SessionPrep:
    """The session prep summary for the client's assigned therapist."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> SessionPrep:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_therapist("prepare a session")
        return _prep(uow, access, at, scales, norms)

    return audited(uow_factory, actor, "read", "session_prep", op, client_id=client_id)


def suggestions_for(
    uow: UnitOfWork,
    access: ClientAccess,
    at: datetime,
    scores: list[ScoreEntry],
    *,
    scales: Mapping[str, Scale] | None = None,
) -> tuple[tuple[Suggestion, ...], tuple[str, ...]]:
    """The support suggestions of `prepare_session` and the signals that call for them.

    Inside an open unit of work, from the client's `score_entries` (the client's
    page computes them once for its timeline too: `services.client_page`).
    """
    alliance = tuple(alliance_state(uow, access.client_id, staff=True, scales=scales))
    return _suggestions(uow, access, at, scores, alliance)


def _prep(
    uow: UnitOfWork,
    access: ClientAccess,
    at: datetime,
    scales: Mapping[str, Scale] | None,
    norms: Mapping[str, NormsModel] | None,
) -> SessionPrep:
    cid = access.client_id
    appts = uow.appointments.for_client(cid)
    past = [a for a in appts if a.status is AppointmentStatus.ATTENDED and a.scheduled_at <= at]
    last = past[-1] if past else None
    upcoming = [a for a in appts if a.status is AppointmentStatus.SCHEDULED and a.scheduled_at > at]
    since = last.scheduled_at if last else None

    def new(t: datetime | None) -> bool:
        return t is not None and (since is None or t > since) and t <= at

    scores = score_entries(uow, access, scales=scales, norms=norms)
    new_scores = tuple(s for s in scores if new(s.administration.completed_at))
    alerts = tuple(
        a
        for a in uow.alerts.for_client(cid)
        if a.status is not AlertStatus.RESOLVED or new(a.created_at)
    )
    stressors: tuple[Stressor, ...] = ()
    if access.sees(EntryKind.STRESSORS):
        start_day = since.date() if since else None
        stressors = tuple(
            s
            for s in uow.stressors.for_client(cid)
            if s.started_on <= at.date()
            and (s.ended_on is None or start_day is None or s.ended_on >= start_day)
        )
    topics: tuple[SessionTopic, ...] = ()
    if access.sees(EntryKind.SESSION_TOPICS):
        topics = tuple(t for t in uow.topics.for_client(cid) if t.addressed_at is None)
    skills: tuple[SkillSummary, ...] = ()
    if access.sees(EntryKind.SKILL_PRACTICE):
        by_skill: dict[str, list[int | None]] = {}
        for p in uow.skill_practice.for_client(cid):
            if new(p.practiced_at):
                by_skill.setdefault(p.skill_id, []).append(p.helpfulness)
        skills = tuple(
            SkillSummary(sid, get_skill(sid).name, len(v), _mean([h for h in v if h is not None]))
            for sid, v in sorted(by_skill.items())
        )
    care: tuple[SelfCareSummary, ...] = ()
    if access.sees(EntryKind.SELF_CARE):
        by_act: dict[SelfCareActivity, list[tuple[int | None, int | None]]] = {}
        first_day = since.date() if since else None
        for e in uow.self_care.for_client(cid):
            if (first_day is None or e.done_on >= first_day) and e.done_on <= at.date():
                by_act.setdefault(e.activity, []).append((e.minutes, e.restorative))
        care = tuple(
            SelfCareSummary(
                act,
                len(v),
                sum(m or 0 for m, _ in v),
                _mean([r for _, r in v if r is not None]),
            )
            for act, v in sorted(by_act.items())
        )
    n_journal = mood = None
    if access.sees_journal():
        entries = [e for e in uow.journal.for_client(cid) if new(e.created_at)]
        n_journal = len(entries)
        if access.sees(EntryKind.MOOD):
            mood = _mean([e.mood for e in entries if e.mood is not None])
    reflections: tuple[SetbackReflection, ...] = ()
    if access.sees(EntryKind.SETBACK_REFLECTIONS):
        reflections = tuple(r for r in uow.reflections.for_client(cid) if new(r.created_at))
    steps: tuple[GoalStep, ...] = ()
    due: tuple[GoalReviewStatus, ...] = ()
    if access.sees(EntryKind.GOALS):
        steps = tuple(s for s in uow.goal_steps.for_client(cid) if s.done and new(s.done_at))
        reviews = uow.goal_reviews.for_client(cid)
        due = tuple(
            st
            for st in (review_status(g, reviews, at.date()) for g in uow.goals.for_client(cid))
            if st.due
        )
    alliance = tuple(alliance_state(uow, cid, staff=True, scales=scales))
    suggestions, because = _suggestions(uow, access, at, scores, alliance)
    return SessionPrep(
        client_id=cid,
        since=since,
        last_session=last,
        next_session=upcoming[0] if upcoming else None,
        new_scores=new_scores,
        alerts=alerts,
        stressors=stressors,
        topics=topics,
        skill_practice=skills,
        self_care=care,
        journal_entries=n_journal,
        mean_mood=mood,
        reflections=reflections,
        steps_done=steps,
        goal_reviews_due=due,
        alliance=alliance,
        suggestions=suggestions,
        suggestions_because=because,
        private_kinds=tuple(k for k in EntryKind if not access.sees(k)),
    )


def _suggestions(
    uow: UnitOfWork,
    access: ClientAccess,
    at: datetime,
    scores: list[ScoreEntry],
    alliance: tuple[AllianceFollowUp, ...],
) -> tuple[tuple[Suggestion, ...], tuple[str, ...]]:
    """Support suggestions from the numbers twostep holds, and the signals that call for them."""
    latest: dict[str, ScoreEntry] = {}
    for s in scores:
        if s.signals is not None and s.administration.total is not None:
            latest[s.administration.instrument_id] = s
    because = []
    for _iid, s in sorted(latest.items()):
        assert s.signals is not None
        for label in (s.signals.status, s.signals.etr_band):
            if label in SUGGESTION_SIGNALS:
                because.append(f"{s.instrument_name}: {label}")
    signs = collect_signs(uow, access, at)
    facts = load_context(uow, access, ruptures=False).facts_at(at)  # its stressors only
    measured = [a for a in alliance if a.latest_score is not None]
    recent = max(measured, key=lambda a: a.latest_at or at, default=None)
    inputs = SupportInputs(
        alliance_score=recent.latest_score if recent else None,
        alliance_instrument=recent.instrument_name if recent else "SRS",
        alliance_cutoff=36.0 if recent is None or recent.instrument_id == "srs" else None,
        alliance_cutoff_comparison=Comparison.LT,
        unrepaired_rupture=any(a.unrepaired for a in alliance),
        open_rupture=any(a.open_rupture for a in alliance),
        engagement_mean=signs.engagement_mean,
        practice_recent=signs.practice_recent,
        practice_before=signs.practice_before,
        support_contacts_recent=signs.support_contacts_recent,
        support_contacts_before=signs.support_contacts_before,
        stressors=facts.stressors,
        days_since_goal_review=signs.days_since_goal_review,
        goal_review_overdue=bool(signs.goal_review_overdue),
        gas_t_latest=signs.gas_t_latest,
        gas_t_previous=signs.gas_t_previous,
    )
    return support_suggestions(inputs), tuple(because)
