"""API v1 for clients: their progress, their signs of growth and their session topics.

``GET /api/v1/me/progress`` returns, per measure, every check-in with the
kernel's labels (in codes and in plain words), the normal-fluctuation band
around the best score so far, the expected band when norms exist, the
cut-off, the logged stressors and the plain-language explanation of the
latest change. ``GET /api/v1/me/growth`` returns the weekly growth signs,
``/api/v1/me/session-topics`` lists and adds topics for the next session.
Clients only: staff reach a client's data through the therapist area.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import Request
from pydantic import Field

from twostep.domain.records import SessionTopic
from twostep.services.journal import add_session_topic, list_session_topics
from twostep.services.progress import MeasureProgress, growth, my_progress
from twostep.web.api import router
from twostep.web.api.client_checkin import ExplanationOut, explanation_out
from twostep.web.api.schemas import PROBLEM_RESPONSES, OutModel, StrictModel
from twostep.web.charts import EVENT_WORDS, STATUS_WORDS
from twostep.web.deps import actor_of
from twostep.web.idempotency import idempotent
from twostep.web.policy import C, allow
from twostep.web.state import state_of


class PointOut(OutModel):
    administration_id: str
    completed_at: datetime
    t: int
    score: float | None
    status: str
    status_label: str
    event: str
    event_label: str
    etr_band: str
    in_setback: bool
    provisional: bool
    best_so_far: float | None
    fluctuation_low: float | None
    fluctuation_high: float | None
    expected_low: float | None
    expected_median: float | None
    expected_high: float | None


class StressorOut(OutModel):
    started_on: date
    ended_on: date | None
    category: str
    severity: int


class MeasureOut(OutModel):
    instrument_id: str
    name: str
    higher_is_better: bool
    minimum: float
    maximum: float
    cutoff: float | None
    reliable_change: float | None
    chart_url: str
    points: list[PointOut]
    stressors: list[StressorOut]
    explanation: str | None
    explanations: list[ExplanationOut]
    summary: ExplanationOut | None


def measure_out(m: MeasureProgress) -> MeasureOut:
    latest = [explanation_out(e) for e in m.latest]
    return MeasureOut(
        instrument_id=m.instrument_id,
        name=m.name,
        higher_is_better=m.higher_is_better,
        minimum=m.minimum,
        maximum=m.maximum,
        cutoff=m.cutoff,
        reliable_change=m.rc,
        chart_url=f"/me/progress/{m.instrument_id}/chart.svg",
        points=[
            PointOut(
                administration_id=p.administration_id,
                completed_at=p.completed_at,
                t=p.t,
                score=p.score,
                status=p.status,
                status_label=STATUS_WORDS.get(p.status, p.status),
                event=p.event,
                event_label=EVENT_WORDS.get(p.event, p.event),
                etr_band=p.etr_band,
                in_setback=p.in_setback,
                provisional=p.provisional,
                best_so_far=p.best_so_far,
                fluctuation_low=p.fluctuation_low,
                fluctuation_high=p.fluctuation_high,
                expected_low=p.expected_low,
                expected_median=p.expected_median,
                expected_high=p.expected_high,
            )
            for p in m.points
        ],
        stressors=[
            StressorOut(
                started_on=s.started_on,
                ended_on=s.ended_on,
                category=s.category.value,
                severity=s.severity,
            )
            for s in m.stressors
        ],
        explanation=latest[0].text if latest else None,
        explanations=latest,
        summary=explanation_out(m.summary) if m.summary is not None else None,
    )


@router.get(
    "/me/progress",
    name=allow("api.me.progress", C, what="the client's progress per measure, with explanations"),
    response_model=list[MeasureOut],
    responses=PROBLEM_RESPONSES,
)
def progress(request: Request) -> list[MeasureOut]:
    st = state_of(request)
    actor = actor_of(request)
    return [
        measure_out(m) for m in my_progress(st.uow_factory, actor, actor.user_id, norms=st.norms)
    ]


class WeekOut(OutModel):
    week_start: date
    skill_practice: int | None
    mean_helpfulness: float | None
    self_care: int | None
    mean_restorative: float | None
    support_contacts: int | None
    reflections: int | None
    journal_entries: int | None
    steps_done: int | None


class GasOut(OutModel):
    on: date
    t_score: float | None
    n_goals: int


class GrowthOut(OutModel):
    weeks: list[WeekOut]
    goal_attainment: list[GasOut]
    goal_explanation: str | None
    highlights: list[str]


@router.get(
    "/me/growth",
    name=allow("api.me.growth", C, what="the client's signs of growth week by week"),
    response_model=GrowthOut,
    responses=PROBLEM_RESPONSES,
)
def growth_api(request: Request) -> GrowthOut:
    st = state_of(request)
    actor = actor_of(request)
    g = growth(st.uow_factory, actor, actor.user_id, now=st.clock())
    return GrowthOut(
        weeks=[
            WeekOut(
                week_start=w.week_start,
                skill_practice=w.skill_practice,
                mean_helpfulness=w.mean_helpfulness,
                self_care=w.self_care,
                mean_restorative=w.mean_restorative,
                support_contacts=w.support_contacts,
                reflections=w.reflections,
                journal_entries=w.journal_entries,
                steps_done=w.steps_done,
            )
            for w in g.weeks
        ],
        goal_attainment=[GasOut(on=p.on, t_score=p.t_score, n_goals=p.n_goals) for p in g.gas],
        goal_explanation=g.gas_explanation.client if g.gas_explanation else None,
        highlights=list(g.highlights),
    )


class TopicIn(StrictModel):
    text: str = Field(min_length=1, max_length=2000)


class TopicOut(OutModel):
    id: str
    text: str
    created_at: datetime
    addressed_at: datetime | None


def topic_out(t: SessionTopic) -> TopicOut:
    return TopicOut(id=t.id, text=t.text, created_at=t.created_at, addressed_at=t.addressed_at)


@router.get(
    "/me/session-topics",
    name=allow("api.me.topics.list", C, what="the client's topics for the next session"),
    response_model=list[TopicOut],
    responses=PROBLEM_RESPONSES,
)
def topics(request: Request) -> list[TopicOut]:
    st = state_of(request)
    actor = actor_of(request)
    return [topic_out(t) for t in list_session_topics(st.uow_factory, actor, actor.user_id)]


@router.post(
    "/me/session-topics",
    name=allow("api.me.topics.create", C, what="add a topic for the next session"),
    response_model=TopicOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def topic_create(request: Request, body: TopicIn) -> TopicOut:
    st = state_of(request)
    actor = actor_of(request)
    return topic_out(
        add_session_topic(st.uow_factory, actor, actor.user_id, body.text, now=st.clock())
    )
