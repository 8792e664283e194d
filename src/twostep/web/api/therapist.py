"""API v1: the therapist's workspace (caseload, client timeline, alerts, goals, alliance, prep).

Routes are for the therapist role; the services do the object-level checks
(a client not on the caller's caseload, or of another clinic, is a 404).
Routes nested under ``/clients/{client_id}`` check that the goal,
appointment or topic named in the path belongs to that client (404
otherwise), so a path never mixes two clients. Bodies are strict
(`StrictModel`): unknown fields, ``"3"`` or ``true`` for a number, and naive
times are refused with 422 problem details naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from fastapi import Request, Response
from pydantic import Field

from twostep.domain.records import Alert
from twostep.errors import NotFoundError, Problem, ValidationError
from twostep.services import alerts as alert_service
from twostep.services.alliance_followup import alliance_follow_up
from twostep.services.appointments import (
    list_appointments,
    mark_attended,
    mark_missed,
    set_focus_tags,
)
from twostep.services.goals import goals_and_trend, list_goals, record_review
from twostep.services.journal import list_session_topics, mark_topic_addressed
from twostep.services.session_prep import prepare_session
from twostep.services.timeline import client_timeline
from twostep.services.triage import caseload_triage
from twostep.web.api import router
from twostep.web.api.schemas import PROBLEM_RESPONSES, OutModel, StrictModel
from twostep.web.deps import actor_of
from twostep.web.etag import (
    READ_RESPONSES,
    VERSIONED_RESPONSES,
    IfMatch,
    etag,
    expected_version,
    with_etag,
)
from twostep.web.idempotency import idempotent
from twostep.web.pages.therapist import REASON_LABELS
from twostep.web.policy import T, allow
from twostep.web.state import state_of

# ------------------------------------------------------------------------- helpers


def aware_instant(text: str, where: str = "until") -> datetime:
    """An ISO 8601 date and time with its offset (422 naming ``where`` otherwise)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            [Problem(where, "invalid_datetime", "expected an ISO 8601 date and time with offset")],
            context="request",
        )
    return value


def plain(value: object) -> Any:
    """A service result as JSON-ready data (dataclasses, enums, times, mappings, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


# -------------------------------------------------------------------------- models


class ReasonOut(OutModel):
    code: str
    priority: int
    label: str
    text: str
    instrument_id: str | None
    alert_ids: list[str]


class CaseloadEntryOut(OutModel):
    client_id: str
    display_name: str
    needs_attention: bool
    reasons: list[ReasonOut]


class CaseloadOut(OutModel):
    generated_at: datetime
    entries: list[CaseloadEntryOut]


class TimelineItemOut(OutModel):
    at: datetime
    stream: str
    id: str
    record: dict[str, Any]
    signals: dict[str, Any] | None = None
    explanations: list[dict[str, Any]] | None = None


class TimelineOut(OutModel):
    client_id: str
    private_kinds: list[str]
    items: list[TimelineItemOut]


class AlertOut(OutModel):
    id: str
    client_id: str
    kind: str
    rule: str
    parameters: dict[str, Any]
    level: int
    created_at: datetime
    status: str = Field(description="the status now (a snooze that has run out is open)")
    stored_status: str
    administration_id: str | None
    action_taken: str | None
    updated_by: str | None
    updated_at: datetime | None
    snoozed_until: datetime | None


class AlertsOut(OutModel):
    alerts: list[AlertOut]


class AcknowledgeIn(StrictModel):
    """No fields: the alert id is in the path."""


class SnoozeIn(StrictModel):
    until: str = Field(
        min_length=10,
        max_length=40,
        description="ISO 8601 date and time with its offset, e.g. 2024-06-10T09:00:00+00:00",
    )


class ResolveIn(StrictModel):
    action_taken: str = Field(max_length=10_000, description="what was done (required)")


class GoalReviewIn(StrictModel):
    attained_level: int | None = Field(ge=-2, le=2, description="-2..+2, or null = not rated")
    notes: str = Field(default="", max_length=10_000)


class GoalReviewOut(OutModel):
    id: str
    goal_id: str
    client_id: str
    reviewed_at: datetime
    attained_level: int | None
    notes: str


class GoalsOut(OutModel):
    client_id: str
    goals: list[dict[str, Any]]
    gas: list[dict[str, Any]]
    gas_explanation: dict[str, Any] | None


class FocusTagsIn(StrictModel):
    tags: list[str] = Field(max_length=10)


class AppointmentOut(OutModel):
    id: str
    client_id: str
    episode_id: str
    therapist_id: str | None
    scheduled_at: datetime
    status: str
    focus_tags: list[str]
    assessment_only: bool
    etag: str = Field(description='The ETag to send in If-Match to change it, e.g. "v3"')


class AppointmentsOut(OutModel):
    appointments: list[AppointmentOut]


class TopicOut(OutModel):
    id: str
    client_id: str
    created_at: datetime
    text: str
    addressed_at: datetime | None


class DataOut(OutModel):
    """A service's view as plain data (see the route's description for its fields)."""

    client_id: str
    data: dict[str, Any]


# ------------------------------------------------------------------------ caseload


@router.get(
    "/caseload",
    name=allow("api.therapist.caseload", T, what="caseload triage: who needs attention and why"),
    response_model=CaseloadOut,
    responses=PROBLEM_RESPONSES,
)
def caseload(request: Request) -> CaseloadOut:
    """The caller's active caseload ranked by who needs attention, risk first."""
    st = state_of(request)
    triage = caseload_triage(
        st.uow_factory, actor_of(request), now=st.clock(), norms=st.norms, cache=st.triage_cache
    )
    return CaseloadOut(
        generated_at=triage.generated_at,
        entries=[
            CaseloadEntryOut(
                client_id=e.client_id,
                display_name=e.display_name,
                needs_attention=bool(e.reasons),
                reasons=[
                    ReasonOut(
                        code=r.code,
                        priority=r.priority,
                        label=REASON_LABELS.get(r.code, (r.code, ""))[0],
                        text=r.text,
                        instrument_id=r.instrument_id,
                        alert_ids=list(r.alert_ids),
                    )
                    for r in e.reasons
                ],
            )
            for e in triage.entries
        ],
    )


# ------------------------------------------------------------------------ timeline


@router.get(
    "/clients/{client_id}/timeline",
    name=allow("api.therapist.timeline", T, what="a client's timeline: every stream, time order"),
    response_model=TimelineOut,
    responses=PROBLEM_RESPONSES,
)
def timeline(request: Request, client_id: str) -> TimelineOut:
    """Every stream in time order, as the client's sharing choices allow (scores with labels)."""
    st = state_of(request)
    tl = client_timeline(st.uow_factory, actor_of(request), client_id, norms=st.norms)
    items = []
    for i in tl.items:
        items.append(
            TimelineItemOut(
                at=i.at,
                stream=i.stream,
                id=i.record.id,
                record=plain(i.record),
                signals=plain(i.score.signals) if i.score and i.score.signals else None,
                explanations=plain(i.score.explanations) if i.score else None,
            )
        )
    return TimelineOut(
        client_id=tl.client_id, private_kinds=[k.value for k in tl.private_kinds], items=items
    )


# -------------------------------------------------------------------------- alerts


def _alert_out(alert: Alert, now: datetime) -> AlertOut:
    return AlertOut(
        id=alert.id,
        client_id=alert.client_id,
        kind=alert.kind.value,
        rule=alert.rule,
        parameters=plain(alert.parameters),
        level=alert.level,
        created_at=alert.created_at,
        status=alert_service.effective_status(alert, now).value,
        stored_status=alert.status.value,
        administration_id=alert.administration_id,
        action_taken=alert.action_taken,
        updated_by=alert.updated_by,
        updated_at=alert.updated_at,
        snoozed_until=alert.snoozed_until,
    )


@router.get(
    "/clients/{client_id}/alerts",
    name=allow("api.therapist.alerts", T, what="a client's alerts, newest first"),
    response_model=AlertsOut,
    responses=PROBLEM_RESPONSES,
)
def alerts(request: Request, client_id: str, include_resolved: bool = False) -> AlertsOut:
    st = state_of(request)
    found = alert_service.list_alerts(
        st.uow_factory, actor_of(request), client_id, include_resolved=include_resolved
    )
    now = st.clock()
    return AlertsOut(alerts=[_alert_out(a, now) for a in found])


@router.post(
    "/alerts/{alert_id}/acknowledge",
    name=allow("api.therapist.alert.acknowledge", T, what="acknowledge an alert"),
    response_model=AlertOut,
    responses=PROBLEM_RESPONSES,
)
@idempotent
def acknowledge(request: Request, alert_id: str, body: AcknowledgeIn | None = None) -> AlertOut:
    st = state_of(request)
    now = st.clock()
    return _alert_out(
        alert_service.acknowledge(st.uow_factory, actor_of(request), alert_id, now=now), now
    )


@router.post(
    "/alerts/{alert_id}/snooze",
    name=allow("api.therapist.alert.snooze", T, what="snooze an alert until a time"),
    response_model=AlertOut,
    responses=PROBLEM_RESPONSES,
)
@idempotent
def snooze(request: Request, alert_id: str, body: SnoozeIn) -> AlertOut:
    """Hide the alert until ``until`` (an aware ISO 8601 time, at most 90 days ahead)."""
    until = aware_instant(body.until)
    st = state_of(request)
    now = st.clock()
    return _alert_out(
        alert_service.snooze(st.uow_factory, actor_of(request), alert_id, until, now=now), now
    )


@router.post(
    "/alerts/{alert_id}/resolve",
    name=allow("api.therapist.alert.resolve", T, what="resolve an alert with the action taken"),
    response_model=AlertOut,
    responses=PROBLEM_RESPONSES,
)
@idempotent
def resolve(request: Request, alert_id: str, body: ResolveIn) -> AlertOut:
    st = state_of(request)
    now = st.clock()
    return _alert_out(
        alert_service.resolve(
            st.uow_factory, actor_of(request), alert_id, body.action_taken, now=now
        ),
        now,
    )


# --------------------------------------------------------------------------- goals


@router.get(
    "/clients/{client_id}/goals",
    name=allow(
        "api.therapist.goals", T, what="a client's goals, reviews due and GAS T-score trend"
    ),
    response_model=GoalsOut,
    responses=PROBLEM_RESPONSES,
)
def goals(request: Request, client_id: str) -> GoalsOut:
    """Each goal with its level descriptors, steps, reviews and review status; the GAS trend."""
    st = state_of(request)
    actor = actor_of(request)
    views, trend = goals_and_trend(st.uow_factory, actor, client_id, now=st.clock())
    return GoalsOut(
        client_id=client_id,
        goals=[plain(v) for v in views],
        gas=[plain(p) for p in trend.points],
        gas_explanation=plain(trend.explanation) if trend.explanation else None,
    )


@router.post(
    "/clients/{client_id}/goals/{goal_id}/reviews",
    name=allow("api.therapist.goal.review", T, what="record a goal review (GAS level, notes)"),
    response_model=GoalReviewOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def goal_review(
    request: Request, client_id: str, goal_id: str, body: GoalReviewIn
) -> GoalReviewOut:
    st = state_of(request)
    actor = actor_of(request)
    views = list_goals(st.uow_factory, actor, client_id, now=st.clock())
    if not any(v.goal.id == goal_id for v in views):
        raise NotFoundError("no goal with this id")
    r = record_review(
        st.uow_factory, actor, goal_id, body.attained_level, notes=body.notes, now=st.clock()
    )
    return GoalReviewOut(
        id=r.id,
        goal_id=r.goal_id,
        client_id=r.client_id,
        reviewed_at=r.reviewed_at,
        attained_level=r.attained_level,
        notes=r.notes,
    )


# ------------------------------------------------------------------------ alliance


@router.get(
    "/clients/{client_id}/alliance",
    name=allow("api.therapist.alliance", T, what="alliance follow-up: ruptures and repair"),
    response_model=DataOut,
    responses=PROBLEM_RESPONSES,
)
def alliance(request: Request, client_id: str) -> DataOut:
    """``data.measures``: per SRS / WAI-SR, the rupture episodes with their alerts (the
    repair conversation is the ``action_taken`` of a resolved rupture alert)."""
    st = state_of(request)
    found = alliance_follow_up(st.uow_factory, actor_of(request), client_id)
    measures = []
    for m in found:
        d = plain(m)
        d["open_rupture"] = m.open_rupture
        d["unrepaired"] = m.unrepaired
        for e, ep in zip(d["episodes"], m.episodes, strict=True):
            e["repair_logged"] = ep.repair_logged
        measures.append(d)
    return DataOut(client_id=client_id, data={"measures": measures})


# ------------------------------------------------------------- prep and sessions


@router.get(
    "/clients/{client_id}/prep",
    name=allow("api.therapist.prep", T, what="session prep: what happened since last session"),
    response_model=DataOut,
    responses=PROBLEM_RESPONSES,
)
def prep(request: Request, client_id: str) -> DataOut:
    """The fields of `twostep.services.session_prep.SessionPrep` as ``data``."""
    st = state_of(request)
    found = prepare_session(
        st.uow_factory, actor_of(request), client_id, now=st.clock(), norms=st.norms
    )
    return DataOut(client_id=client_id, data=plain(found))


def _appointment_out(a: Any) -> AppointmentOut:
    return AppointmentOut(
        id=a.id,
        client_id=a.client_id,
        episode_id=a.episode_id,
        therapist_id=a.therapist_id,
        scheduled_at=a.scheduled_at,
        status=a.status.value,
        focus_tags=list(a.focus_tags),
        assessment_only=a.assessment_only,
        etag=etag(a.version),
    )


@router.get(
    "/clients/{client_id}/appointments",
    name=allow("api.therapist.appointments", T, what="a client's appointments in time order"),
    response_model=AppointmentsOut,
    responses=PROBLEM_RESPONSES,
)
def appointments(request: Request, client_id: str) -> AppointmentsOut:
    st = state_of(request)
    found = list_appointments(st.uow_factory, actor_of(request), client_id)
    return AppointmentsOut(appointments=[_appointment_out(a) for a in found])


def _own_appointment(request: Request, client_id: str, appointment_id: str) -> Any:
    st = state_of(request)
    found = list_appointments(st.uow_factory, actor_of(request), client_id)
    for a in found:
        if a.id == appointment_id:
            return a
    raise NotFoundError("no appointment with this id")


@router.get(
    "/clients/{client_id}/appointments/{appointment_id}",
    name=allow("api.therapist.appointment.get", T, what="one appointment (with its ETag)"),
    response_model=AppointmentOut,
    responses=READ_RESPONSES,
)
def appointment(
    request: Request, response: Response, client_id: str, appointment_id: str
) -> AppointmentOut:
    found = _own_appointment(request, client_id, appointment_id)
    with_etag(response, found.version)
    return _appointment_out(found)


@router.put(
    "/clients/{client_id}/appointments/{appointment_id}/focus-tags",
    name=allow("api.therapist.appointment.tags", T, what="replace the session-focus tags"),
    response_model=AppointmentOut,
    responses=VERSIONED_RESPONSES,
)
def focus_tags(
    request: Request,
    response: Response,
    client_id: str,
    appointment_id: str,
    body: FocusTagsIn,
    if_match: IfMatch = None,
) -> AppointmentOut:
    version = expected_version(if_match)
    _own_appointment(request, client_id, appointment_id)
    st = state_of(request)
    changed = set_focus_tags(
        st.uow_factory, actor_of(request), appointment_id, body.tags, expected_version=version
    )
    with_etag(response, changed.version)
    return _appointment_out(changed)


@router.post(
    "/clients/{client_id}/appointments/{appointment_id}/attended",
    name=allow("api.therapist.appointment.attended", T, what="mark an appointment attended"),
    response_model=AppointmentOut,
    responses=PROBLEM_RESPONSES,
)
@idempotent
def attended(
    request: Request, client_id: str, appointment_id: str, body: AcknowledgeIn | None = None
) -> AppointmentOut:
    _own_appointment(request, client_id, appointment_id)
    st = state_of(request)
    return _appointment_out(mark_attended(st.uow_factory, actor_of(request), appointment_id))


@router.post(
    "/clients/{client_id}/appointments/{appointment_id}/missed",
    name=allow("api.therapist.appointment.missed", T, what="mark an appointment missed"),
    response_model=AppointmentOut,
    responses=PROBLEM_RESPONSES,
)
@idempotent
def missed(
    request: Request, client_id: str, appointment_id: str, body: AcknowledgeIn | None = None
) -> AppointmentOut:
    _own_appointment(request, client_id, appointment_id)
    st = state_of(request)
    return _appointment_out(mark_missed(st.uow_factory, actor_of(request), appointment_id))


@router.post(
    "/clients/{client_id}/topics/{topic_id}/addressed",
    name=allow("api.therapist.topic.addressed", T, what="mark a client's topic as addressed"),
    response_model=TopicOut,
    responses=PROBLEM_RESPONSES,
)
@idempotent
def topic_addressed(
    request: Request, client_id: str, topic_id: str, body: AcknowledgeIn | None = None
) -> TopicOut:
    st = state_of(request)
    actor = actor_of(request)
    topics = list_session_topics(st.uow_factory, actor, client_id)
    if not any(t.id == topic_id for t in topics):
        raise NotFoundError("no topic with this id")
    t = mark_topic_addressed(st.uow_factory, actor, topic_id, now=st.clock())
    return TopicOut(
        id=t.id,
        client_id=t.client_id,
        created_at=t.created_at,
        text=t.text,
        addressed_at=t.addressed_at,
    )
