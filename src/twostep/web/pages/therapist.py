"""Pages: the therapist's workspace.

* ``/caseload`` — who needs attention and why, risk first (`triage.caseload_triage`);
  kept light: no charts, one service call.
* ``/clients/{id}`` — the client timeline: every stream on one time axis, a chart
  per measure, therapist-facing explanations, open alerts with their forms,
  the context of the latest setback and the support suggestions.
* ``/clients/{id}/goals`` — goal review (GAS level −2..+2) and the T-score trend.
* ``/clients/{id}/alliance`` — rupture episodes and the repair conversation logged
  on the rupture alert (`alerts.resolve`).
* ``/clients/{id}/prep`` — session prep since the last session, the client's topics
  (mark addressed) and the session-focus tags of appointments.

Every page calls services only; a client not on the caller's caseload (or of
another clinic) is a 404 from the services' access policy. Forms post with
the CSRF token; a refused form re-renders its page with the rule broken (422)
or the conflict (409), next to the form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from twostep.domain.records import Alert, AlertKind, AlertStatus, EntryKind
from twostep.errors import (
    ConflictError,
    NotFoundError,
    StaleVersionError,
    TwostepError,
    ValidationError,
)
from twostep.instruments.registry import get_instrument
from twostep.reports.charts import client_chart_svg
from twostep.services import alerts as alert_service
from twostep.services.alliance_followup import alliance_follow_up
from twostep.services.appointments import (
    list_appointments,
    mark_attended,
    mark_missed,
    set_focus_tags,
)
from twostep.services.client_card import client_card
from twostep.services.client_page import client_page
from twostep.services.goals import gas_trend, list_goals, record_review
from twostep.services.journal import list_session_topics, mark_topic_addressed
from twostep.services.progress import MeasureProgress, my_progress
from twostep.services.session_prep import prepare_session
from twostep.services.timeline import ScoreEntry, Timeline
from twostep.services.triage import caseload_triage
from twostep.web.charts import series_of
from twostep.web.deps import actor_of
from twostep.web.etag import CHANGED_ELSEWHERE, form_version
from twostep.web.pages import router
from twostep.web.policy import T, allow
from twostep.web.render import render
from twostep.web.state import state_of

# --------------------------------------------------------------- words and labels

#: Each triage reason as a short label in words (the page never relies on colour alone).
REASON_LABELS: Mapping[str, tuple[str, str]] = {
    "risk_urgent": ("Urgent risk", "concern"),
    "risk": ("Risk item", "concern"),
    "risk_not_assessed": ("Risk not assessed", "concern"),
    "not_on_track": ("Not on track", "concern"),
    "deterioration": ("Deterioration", "concern"),
    "groundhog_day": ("Groundhog Day", "watch"),
    "alliance_rupture": ("Alliance rupture", "watch"),
    "plateau": ("Plateau", "watch"),
    "goal_review_overdue": ("Goal review overdue", "watch"),
    "missed_sessions": ("Missed sessions", "watch"),
    "open_alert": ("Open alert", "watch"),
}

ALERT_LABELS: Mapping[AlertKind, str] = {
    AlertKind.RISK: "Risk item answered",
    AlertKind.RISK_NOT_ASSESSED: "Risk item not answered",
    AlertKind.DETERIORATION: "Reliable deterioration",
    AlertKind.NOT_ON_TRACK: "Not on track",
    AlertKind.PLATEAU: "Plateau",
    AlertKind.GROUNDHOG_DAY: "Groundhog Day",
    AlertKind.SUDDEN_LOSS: "Sudden loss",
    AlertKind.ALLIANCE_RUPTURE: "Alliance rupture",
    AlertKind.GOAL_REVIEW_OVERDUE: "Goal review overdue",
    AlertKind.MISSED_SESSIONS: "Missed sessions",
}

STREAM_LABELS: Mapping[str, str] = {
    "appointment": "Appointment",
    "score": "Score",
    "alert": "Alert",
    "journal": "Journal",
    "reflection": "Setback reflection",
    "stressor": "Stressor",
    "self_care": "Self-care",
    "skill_practice": "Skill practice",
    "thought_record": "Thought record",
    "supporter": "Supporter added",
    "support_contact": "Support contact",
    "goal": "Goal set",
    "goal_review": "Goal review",
    "goal_step": "Goal step done",
    "session_topic": "Topic for next session",
}

KIND_LABELS: Mapping[EntryKind, str] = {
    EntryKind.JOURNAL_TEXT: "journal text",
    EntryKind.MOOD: "mood and emotions",
    EntryKind.SETBACK_REFLECTIONS: "setback reflections",
    EntryKind.STRESSORS: "stressors",
    EntryKind.SELF_CARE: "self-care",
    EntryKind.SKILL_PRACTICE: "skill practice",
    EntryKind.THOUGHT_RECORDS: "thought records",
    EntryKind.SUPPORT_NETWORK: "support network",
    EntryKind.GOALS: "goals",
    EntryKind.SESSION_TOPICS: "topics for the next session",
}

LEVEL_CLASSES = {0: "good", 1: "info", 2: "info", 3: "watch", 4: "concern", 5: "concern"}
LEVEL_WORDS = {
    0: "Good news",
    1: "Information",
    2: "Ups and downs",
    3: "Worth a look",
    4: "Concern",
    5: "Risk",
}
RETURN_TO = ("timeline", "alliance", "prep")
GAS_LEVELS = (2, 1, 0, -1, -2)


def words(label: str | None) -> str:
    """A kernel label in words (``plateau_stuck`` -> ``plateau stuck``)."""
    return (label or "").replace("_", " ")


def when(at: datetime | date | None) -> str:
    if at is None:
        return "—"
    if isinstance(at, datetime):
        return at.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")
    return at.strftime("%-d %b %Y")


def ago(at: datetime | None, now: datetime) -> str:
    """How long ago, in words ("today", "1 day ago", "12 days ago", "in 3 days")."""
    if at is None:
        return ""
    days = (now.date() - at.astimezone(UTC).date()).days
    if days == 0:
        return "today"
    if days < 0:
        return "tomorrow" if days == -1 else f"in {-days} days"
    return "1 day ago" if days == 1 else f"{days} days ago"


def signed(level: int | None) -> str:
    if level is None:
        return "not rated"
    return f"+{level}" if level > 0 else str(level)


def alert_text(alert: Alert) -> str:
    """What an alert is about, for the therapist: the kind in words, the rule and its numbers."""
    p = alert.parameters
    parts = [ALERT_LABELS.get(alert.kind, words(alert.kind.value))]
    inst = p.get("instrument")
    if inst:
        parts.append(f"({_instrument_name(str(inst))})")
    text = " ".join(parts) + f" — rule: {words(alert.rule)}"
    extra = [
        f"{k} {', '.join(map(str, v)) if isinstance(v, list | tuple) else v}"
        for k, v in sorted(p.items())
        if k not in ("instrument", "draft")  # a draft's rule says "in an unsubmitted check-in"
    ]
    if extra:
        text += " (" + "; ".join(extra) + ")"
    return text


def _instrument_name(instrument_id: str) -> str:
    try:
        return get_instrument(instrument_id).short_name
    except TwostepError:
        return instrument_id


def _helpers(request: Request) -> dict[str, object]:
    now = state_of(request).clock()
    return {
        "now": now,
        "when": when,
        "ago": lambda at: ago(at, now),
        "words": words,
        "signed": signed,
        "alert_text": alert_text,
        "alert_labels": ALERT_LABELS,
        "reason_labels": REASON_LABELS,
        "stream_labels": STREAM_LABELS,
        "kind_labels": KIND_LABELS,
        "level_classes": LEVEL_CLASSES,
        "level_words": LEVEL_WORDS,
        "status_of": lambda a: alert_service.effective_status(a, now).value,
    }


FormErrors = Mapping[str, Sequence[str]]


def _problem_messages(exc: ValidationError | ConflictError) -> list[str]:
    if isinstance(exc, ValidationError):
        return [f"{p.where.replace('_', ' ')}: {p.message}" for p in exc.problems]
    return [str(exc)]


def _status_of(exc: ValidationError | ConflictError) -> int:
    return 422 if isinstance(exc, ValidationError) else 409


# ----------------------------------------------------------------------- caseload


@router.get(
    "/caseload",
    name=allow("page.therapist.caseload", T, what="caseload triage: who needs attention and why"),
    response_class=HTMLResponse,
)
def caseload_page(request: Request) -> Response:
    st = state_of(request)
    triage = caseload_triage(
        st.uow_factory, actor_of(request), now=st.clock(), norms=st.norms, cache=st.triage_cache
    )
    calm = [e for e in triage.entries if not e.reasons]
    ctx = {"triage": triage, "attention": triage.needing_attention, "calm": calm}
    return render(request, "therapist/caseload.html", {**_helpers(request), **ctx})


# ----------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class MeasureView:
    """One measure's scores on the timeline page (newest last) and its chart."""

    instrument_id: str
    name: str
    scores: tuple[ScoreEntry, ...]

    @property
    def charted(self) -> bool:
        """Whether the kernel analyses this measure (it has a chart); the engagement check not."""
        return any(s.signals is not None for s in self.scores)

    @property
    def latest(self) -> ScoreEntry | None:
        scored = [s for s in self.scores if s.administration.total is not None]
        return scored[-1] if scored else None


def _measures(timeline: Timeline) -> list[MeasureView]:
    by: dict[str, list[ScoreEntry]] = {}
    for item in timeline.items:
        if item.score is not None:
            by.setdefault(item.score.administration.instrument_id, []).append(item.score)
    return [
        MeasureView(iid, scores[0].instrument_name, tuple(scores))
        for iid, scores in sorted(by.items())
    ]


def _alert_order(alert: Alert) -> tuple[bool, float]:
    """Risk alerts first, then newest first."""
    risk = alert.kind in (AlertKind.RISK, AlertKind.RISK_NOT_ASSESSED)
    return (not risk, -alert.created_at.timestamp())


def _timeline_page(
    request: Request,
    client_id: str,
    *,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    now = st.clock()
    page = client_page(st.uow_factory, actor, client_id, now=now, norms=st.norms)
    timeline = page.timeline
    alerts = sorted(
        (
            i.record
            for i in timeline.items
            if isinstance(i.record, Alert)
            and alert_service.effective_status(i.record, now) is not AlertStatus.RESOLVED
        ),
        key=_alert_order,
    )
    supporters = {
        i.record.id: getattr(i.record, "name", "")
        for i in timeline.items
        if i.stream == "supporter"
    }
    ctx = {
        "card": page.card,
        "client_id": client_id,
        "items": list(reversed(timeline.items)),
        "measures": _measures(timeline),
        "open_alerts": alerts,
        "setback": page.setback,
        "setback_context": page.setback_context,
        "suggestions": page.suggestions,
        "suggestions_because": page.suggestions_because,
        "supporters": supporters,
        "errors": errors or {},
        "section": "timeline",
    }
    return render(
        request, "therapist/timeline.html", {**_helpers(request), **ctx}, status_code=status_code
    )


@router.get(
    "/clients/{client_id}",
    name=allow(
        "page.therapist.timeline",
        T,
        what="a client's timeline: every stream on one time axis, charts, alerts",
    ),
    response_class=HTMLResponse,
)
def timeline_page(request: Request, client_id: str) -> Response:
    return _timeline_page(request, client_id)


# -------------------------------------------------------------------------- charts


def therapist_chart_svg(m: MeasureProgress) -> str:
    """The client's own progress chart (`web.charts.series_of`), titled for the therapist."""
    series = dataclasses.replace(series_of(m), title=f"{m.name} scores")
    return client_chart_svg(series, id_prefix=f"m-{m.instrument_id}")  # has its xmlns


@router.get(
    "/clients/{client_id}/charts/{instrument_id}.svg",
    name=allow("page.therapist.chart", T, what="chart of one measure of a client (SVG image)"),
)
def chart_svg(request: Request, client_id: str, instrument_id: str) -> Response:
    st = state_of(request)
    measures = my_progress(
        st.uow_factory, actor_of(request), client_id, norms=st.norms, only=instrument_id
    )
    found = next((m for m in measures if m.instrument_id == instrument_id), None)
    if found is None or not found.points:
        raise NotFoundError("no chart for this measure")
    svg = therapist_chart_svg(found)
    return Response(svg, media_type="image/svg+xml")


# -------------------------------------------------------------------------- alerts


def _back(client_id: str, return_to: str, anchor: str = "") -> RedirectResponse:
    path = {
        "timeline": f"/clients/{client_id}",
        "alliance": f"/clients/{client_id}/alliance",
        "prep": f"/clients/{client_id}/prep",
    }.get(return_to, f"/clients/{client_id}")
    return RedirectResponse(path + (f"#{anchor}" if anchor else ""), status_code=303)


def _rerender(
    request: Request, client_id: str, return_to: str, errors: FormErrors, status: int
) -> Response:
    if return_to == "alliance":
        return _alliance_page(request, client_id, errors=errors, status_code=status)
    if return_to == "prep":
        return _prep_page(request, client_id, errors=errors, status_code=status)
    return _timeline_page(request, client_id, errors=errors, status_code=status)


def _client_alert(request: Request, client_id: str, alert_id: str) -> Alert:
    """The alert, when it is one of this client's (404 otherwise: the path must be consistent)."""
    st = state_of(request)
    found = alert_service.list_alerts(
        st.uow_factory, actor_of(request), client_id, include_resolved=True
    )
    alert = next((a for a in found if a.id == alert_id), None)
    if alert is None:
        raise NotFoundError("no alert with this id")
    return alert


def parse_local_instant(text: str) -> datetime | None:
    """A ``datetime-local`` form value (read as UTC) or an ISO time with an offset."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


ReturnTo = Annotated[str, Form(max_length=20)]


@router.post(
    "/clients/{client_id}/alerts/{alert_id}/acknowledge",
    name=allow("page.therapist.alert.acknowledge", T, what="acknowledge a client's alert"),
)
def alert_acknowledge(
    request: Request, client_id: str, alert_id: str, return_to: ReturnTo = "timeline"
) -> Response:
    _client_alert(request, client_id, alert_id)
    st = state_of(request)
    try:
        alert_service.acknowledge(st.uow_factory, actor_of(request), alert_id, now=st.clock())
    except ConflictError as exc:
        return _rerender(
            request, client_id, return_to, {f"alert-{alert_id}": _problem_messages(exc)}, 409
        )
    return _back(client_id, return_to, f"alert-{alert_id}")


@router.post(
    "/clients/{client_id}/alerts/{alert_id}/snooze",
    name=allow("page.therapist.alert.snooze", T, what="snooze a client's alert until a time"),
)
def alert_snooze(
    request: Request,
    client_id: str,
    alert_id: str,
    until: Annotated[str, Form(max_length=40)] = "",
    return_to: ReturnTo = "timeline",
) -> Response:
    _client_alert(request, client_id, alert_id)
    st = state_of(request)
    key = f"alert-{alert_id}"
    instant = parse_local_instant(until)
    if instant is None:
        errors = {key: ["until: enter the date and time to snooze until"]}
        return _rerender(request, client_id, return_to, errors, 422)
    try:
        alert_service.snooze(st.uow_factory, actor_of(request), alert_id, instant, now=st.clock())
    except (ValidationError, ConflictError) as exc:
        return _rerender(
            request, client_id, return_to, {key: _problem_messages(exc)}, _status_of(exc)
        )
    return _back(client_id, return_to, key)


@router.post(
    "/clients/{client_id}/alerts/{alert_id}/resolve",
    name=allow(
        "page.therapist.alert.resolve", T, what="resolve a client's alert with the action taken"
    ),
)
def alert_resolve(
    request: Request,
    client_id: str,
    alert_id: str,
    action_taken: Annotated[str, Form(max_length=10_000)] = "",
    return_to: ReturnTo = "timeline",
) -> Response:
    _client_alert(request, client_id, alert_id)
    st = state_of(request)
    key = f"alert-{alert_id}"
    try:
        alert_service.resolve(
            st.uow_factory, actor_of(request), alert_id, action_taken, now=st.clock()
        )
    except (ValidationError, ConflictError) as exc:
        return _rerender(
            request, client_id, return_to, {key: _problem_messages(exc)}, _status_of(exc)
        )
    return _back(client_id, return_to, key)


# --------------------------------------------------------------------------- goals


def _goals_page(
    request: Request,
    client_id: str,
    *,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    card = client_card(st.uow_factory, actor, client_id)
    views = list_goals(st.uow_factory, actor, client_id, now=st.clock())
    trend = gas_trend(st.uow_factory, actor, client_id)
    ctx = {
        "card": card,
        "client_id": client_id,
        "goals": sorted(
            views, key=lambda v: (v.goal.closed_at is not None, v.goal.created_at or st.clock())
        ),
        "gas": trend,
        "gas_levels": GAS_LEVELS,
        "errors": errors or {},
        "goals_private": EntryKind.GOALS in card.private_kinds,
        "section": "goals",
    }
    return render(
        request, "therapist/goals.html", {**_helpers(request), **ctx}, status_code=status_code
    )


@router.get(
    "/clients/{client_id}/goals",
    name=allow(
        "page.therapist.goals", T, what="goal review: levels, reviews due, GAS T-score trend"
    ),
    response_class=HTMLResponse,
)
def goals_page(request: Request, client_id: str) -> Response:
    return _goals_page(request, client_id)


@router.post(
    "/clients/{client_id}/goals/{goal_id}/review",
    name=allow("page.therapist.goal.review", T, what="record a goal review (GAS level, notes)"),
)
def goal_review(
    request: Request,
    client_id: str,
    goal_id: str,
    attained_level: Annotated[str, Form(max_length=4)] = "",
    notes: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    views = list_goals(st.uow_factory, actor, client_id, now=st.clock())
    if not any(v.goal.id == goal_id for v in views):
        raise NotFoundError("no goal with this id")
    key = f"goal-{goal_id}"
    level: int | None = None
    if attained_level.strip() not in ("", "none"):
        try:
            level = int(attained_level)
        except ValueError:
            errors = {key: ["attained level: choose a level from −2 to +2, or not rated"]}
            return _goals_page(request, client_id, errors=errors, status_code=422)
    try:
        record_review(st.uow_factory, actor, goal_id, level, notes=notes, now=st.clock())
    except ValidationError as exc:
        errors = {key: _problem_messages(exc)}
        return _goals_page(request, client_id, errors=errors, status_code=422)
    return RedirectResponse(f"/clients/{client_id}/goals#{key}", status_code=303)


# ------------------------------------------------------------------------ alliance


def _alliance_page(
    request: Request,
    client_id: str,
    *,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    card = client_card(st.uow_factory, actor, client_id)
    measures = alliance_follow_up(st.uow_factory, actor, client_id)
    ctx = {
        "card": card,
        "client_id": client_id,
        "measures": measures,
        "errors": errors or {},
        "section": "alliance",
    }
    return render(
        request, "therapist/alliance.html", {**_helpers(request), **ctx}, status_code=status_code
    )


@router.get(
    "/clients/{client_id}/alliance",
    name=allow(
        "page.therapist.alliance",
        T,
        what="alliance follow-up: ruptures, repair conversations, recovery",
    ),
    response_class=HTMLResponse,
)
def alliance_page(request: Request, client_id: str) -> Response:
    return _alliance_page(request, client_id)


# ---------------------------------------------------------------- prep and sessions


def _prep_page(
    request: Request,
    client_id: str,
    *,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    now = st.clock()
    card = client_card(st.uow_factory, actor, client_id)
    prep = prepare_session(st.uow_factory, actor, client_id, now=now, norms=st.norms)
    appts = list_appointments(st.uow_factory, actor, client_id)
    ctx = {
        "card": card,
        "client_id": client_id,
        "prep": prep,
        "prep_alerts": sorted(prep.alerts, key=_alert_order),
        "appointments": list(reversed(appts)),
        "errors": errors or {},
        "section": "prep",
    }
    return render(
        request, "therapist/prep.html", {**_helpers(request), **ctx}, status_code=status_code
    )


@router.get(
    "/clients/{client_id}/prep",
    name=allow("page.therapist.prep", T, what="session prep: what happened since the last session"),
    response_class=HTMLResponse,
)
def prep_page(request: Request, client_id: str) -> Response:
    return _prep_page(request, client_id)


def split_tags(text: str) -> list[str]:
    """Tags typed as one comma-separated line (empty parts dropped)."""
    return [t for t in (part.strip() for part in text.split(",")) if t]


def _client_appointment(request: Request, client_id: str, appointment_id: str) -> None:
    st = state_of(request)
    found = list_appointments(st.uow_factory, actor_of(request), client_id)
    if not any(a.id == appointment_id for a in found):
        raise NotFoundError("no appointment with this id")


@router.post(
    "/clients/{client_id}/appointments/{appointment_id}/focus-tags",
    name=allow("page.therapist.appointment.tags", T, what="set the session-focus tags"),
)
def appointment_tags(
    request: Request,
    client_id: str,
    appointment_id: str,
    tags: Annotated[str, Form(max_length=1_000)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    _client_appointment(request, client_id, appointment_id)
    key = f"appointment-{appointment_id}"
    try:
        set_focus_tags(
            state_of(request).uow_factory,
            actor_of(request),
            appointment_id,
            split_tags(tags),
            expected_version=form_version(version),
        )
    except StaleVersionError:
        return _prep_page(request, client_id, errors={key: [CHANGED_ELSEWHERE]}, status_code=409)
    except ValidationError as exc:
        return _prep_page(request, client_id, errors={key: _problem_messages(exc)}, status_code=422)
    return _back(client_id, "prep", key)


@router.post(
    "/clients/{client_id}/appointments/{appointment_id}/status",
    name=allow(
        "page.therapist.appointment.status", T, what="mark an appointment attended or missed"
    ),
)
def appointment_status(
    request: Request,
    client_id: str,
    appointment_id: str,
    status: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    _client_appointment(request, client_id, appointment_id)
    st = state_of(request)
    key = f"appointment-{appointment_id}"
    try:
        if status == "attended":
            mark_attended(st.uow_factory, actor_of(request), appointment_id)
        elif status == "missed":
            mark_missed(st.uow_factory, actor_of(request), appointment_id)
        else:
            errors = {key: ["status: choose attended or missed"]}
            return _prep_page(request, client_id, errors=errors, status_code=422)
    except ConflictError as exc:
        return _prep_page(request, client_id, errors={key: _problem_messages(exc)}, status_code=409)
    return _back(client_id, "prep", key)


@router.post(
    "/clients/{client_id}/topics/{topic_id}/addressed",
    name=allow("page.therapist.topic.addressed", T, what="mark a client's topic as addressed"),
)
def topic_addressed(request: Request, client_id: str, topic_id: str) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    topics = list_session_topics(st.uow_factory, actor, client_id)
    if not any(t.id == topic_id for t in topics):
        raise NotFoundError("no topic with this id")
    try:
        mark_topic_addressed(st.uow_factory, actor, topic_id, now=st.clock())
    except ConflictError as exc:
        errors = {"topics": _problem_messages(exc)}
        return _prep_page(request, client_id, errors=errors, status_code=409)
    return _back(client_id, "prep", "topics")


__all__ = [
    "REASON_LABELS",
    "alert_text",
    "parse_local_instant",
    "split_tags",
    "therapist_chart_svg",
]
