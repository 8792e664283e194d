"""API v1: what a client keeps between sessions (``/api/v1/me/...``; the client role only).

Goals (SMART builder, steps, reviews with the GAS T-score of their day),
journal entries and setback reflections, the coping-skill library with
practice and thought records, self-care, stressors, the support network,
sharing choices and the access log. Every route is a thin adapter over
`twostep.services.goals`, `twostep.services.journal` and
`twostep.services.audit.access_log`: bodies are strict (`StrictModel`: no
unknown fields, ``"5"`` or ``true`` is not a number), the services validate
ranges and lengths (422 problem details naming the fields) and do the
object-level checks (another client's goal is 404).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from fastapi import Request, Response
from pydantic import BeforeValidator, Field

from twostep.domain.records import (
    EntryKind,
    GoalReview,
    GoalStep,
    JournalEntry,
    SelfCareEntry,
    SetbackReflection,
    SkillPractice,
    Stressor,
    SupportContact,
    Supporter,
    ThoughtRecord,
)
from twostep.domain.skills import SKILLS
from twostep.errors import Problem, ValidationError
from twostep.services import goals as goals_service
from twostep.services import journal as journal_service
from twostep.services.access import not_found
from twostep.services.audit import access_log
from twostep.services.goals import GasPoint, GoalInput, GoalView, StepInput
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
from twostep.web.policy import C, allow
from twostep.web.state import state_of

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: The calendar days a body may name (goal target dates, step due dates).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2100, 12, 31)


def _iso_day(value: object) -> object:
    """A calendar day given as ``YYYY-MM-DD`` text (JSON has no date type); nothing else."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a calendar date") from None
        if not FIRST_DAY <= day <= LAST_DAY:  # a typo (1850, 2999), not a plan
            raise ValueError(f"not a plausible date ({FIRST_DAY} to {LAST_DAY})")
        return day
    if value is None:
        return value
    raise ValueError("expected a date as YYYY-MM-DD")


#: A calendar day in a request body: ISO 8601 text ``YYYY-MM-DD`` only.
IsoDay = Annotated[date, BeforeValidator(_iso_day)]
Text = Annotated[str, Field(max_length=10_000)]
ShortText = Annotated[str, Field(max_length=500)]


def level_keys(levels: dict[str, str]) -> dict[int, str]:
    """Level descriptors keyed by ``"-2"`` … ``"2"`` (``"+1"`` too) as ints; others dropped.

    A dropped key leaves the set incomplete, which the goal service reports.
    """
    out: dict[int, str] = {}
    for key, text in levels.items():
        k = key.strip()
        if re.fullmatch(r"[+-]?[0-2]", k):
            out[int(k)] = text
        else:
            out[99 + len(out)] = text  # keeps the set wrong: "describe each level"
    return out


def _invalid(where: str, code: str, message: str) -> ValidationError:
    return ValidationError([Problem(where, code, message)], context="request")


# ------------------------------------------------------------------------ goals


class StepIn(StrictModel):
    text: ShortText
    due_on: IsoDay | None = None


class GoalIn(StrictModel):
    """The SMART goal builder: every field of methods.md §7 the client can enter."""

    specific_description: Text
    measurable_indicator: Text
    levels: dict[str, ShortText] = Field(
        description='Observable descriptor per level: keys "-2", "-1", "0", "1", "2"'
    )
    importance: int
    difficulty: int
    baseline_level: int = -1
    achievable_rating: int | None = None
    relevant_to: Text = ""
    target_date: IsoDay | None = None
    review_every_days: int = 28
    steps: list[StepIn] = Field(default_factory=list, max_length=50)

    def as_input(self) -> GoalInput:
        return GoalInput(
            specific_description=self.specific_description,
            measurable_indicator=self.measurable_indicator,
            levels=level_keys(self.levels),
            importance=self.importance,
            difficulty=self.difficulty,
            baseline_level=self.baseline_level,
            achievable_rating=self.achievable_rating,
            relevant_to=self.relevant_to,
            target_date=self.target_date,
            rater="client",
            review_every_days=self.review_every_days,
            steps=tuple(StepInput(s.text, s.due_on) for s in self.steps),
        )


class GoalPatch(StrictModel):
    """Change some SMART fields of a goal (absent fields keep their value)."""

    specific_description: Text | None = None
    measurable_indicator: Text | None = None
    levels: dict[str, ShortText] | None = None
    importance: int | None = None
    difficulty: int | None = None
    baseline_level: int | None = None
    achievable_rating: int | None = None
    relevant_to: Text | None = None
    target_date: IsoDay | None = None
    review_every_days: int | None = None


class StepDoneIn(StrictModel):
    done: bool


class StepOut(OutModel):
    id: str
    text: str
    due_on: date | None
    done: bool
    done_at: datetime | None
    etag: str = Field(description='The ETag to send in If-Match to change it, e.g. "v3"')


class ReviewOut(OutModel):
    id: str
    goal_id: str
    reviewed_at: datetime
    attained_level: int | None
    notes: str
    t_score: float | None = Field(
        description="GAS T-score over all goals reviewed that day (Kiresuk & Sherman 1968)"
    )


class ReviewStatusOut(OutModel):
    last_reviewed_on: date | None
    due_on: date | None
    due: bool
    overdue: bool


class GoalOut(OutModel):
    id: str
    specific_description: str
    measurable_indicator: str
    levels: dict[str, str]
    baseline_level: int
    achievable_rating: int | None
    relevant_to: str
    target_date: date | None
    importance: int
    difficulty: int
    review_every_days: int
    created_at: datetime | None
    closed_at: datetime | None
    steps: list[StepOut]
    reviews: list[ReviewOut]
    review_status: ReviewStatusOut
    etag: str = Field(description='The ETag to send in If-Match to change it, e.g. "v3"')


class GasPointOut(OutModel):
    on: date
    t_score: float | None
    n_goals: int


class GoalsOut(OutModel):
    goals: list[GoalOut]
    gas_trend: list[GasPointOut]
    gas_explanation: str | None


def step_out(s: GoalStep) -> StepOut:
    return StepOut(
        id=s.id, text=s.text, due_on=s.due_on, done=s.done, done_at=s.done_at, etag=etag(s.version)
    )


def review_out(r: GoalReview, t_by_day: dict[date, float | None]) -> ReviewOut:
    return ReviewOut(
        id=r.id,
        goal_id=r.goal_id,
        reviewed_at=r.reviewed_at,
        attained_level=r.attained_level,
        notes=r.notes,
        t_score=t_by_day.get(r.reviewed_at.date()),
    )


def t_scores_by_day(points: tuple[GasPoint, ...]) -> dict[date, float | None]:
    return {p.on: p.t_score for p in points}


def goal_out(v: GoalView, t_by_day: dict[date, float | None]) -> GoalOut:
    g = v.goal
    return GoalOut(
        id=g.id,
        specific_description=g.specific_description,
        measurable_indicator=g.measurable_indicator,
        levels={str(k): t for k, t in sorted(g.levels.items())},
        baseline_level=g.baseline_level,
        achievable_rating=g.achievable_rating,
        relevant_to=g.relevant_to,
        target_date=g.target_date,
        importance=g.importance,
        difficulty=g.difficulty,
        review_every_days=g.review_every_days,
        created_at=g.created_at,
        closed_at=g.closed_at,
        steps=[step_out(s) for s in v.steps],
        reviews=[review_out(r, t_by_day) for r in v.reviews],
        review_status=ReviewStatusOut(
            last_reviewed_on=v.review.last_reviewed_on,
            due_on=v.review.due_on,
            due=v.review.due,
            overdue=v.review.overdue,
        ),
        etag=etag(g.version),
    )


def find_goal(request: Request, goal_id: str) -> GoalView:
    """One of the signed-in client's own goals (`NotFoundError` otherwise)."""
    actor = actor_of(request)
    for v in goals_service.list_goals(state_of(request).uow_factory, actor, actor.user_id):
        if v.goal.id == goal_id:
            return v
    raise not_found("goal")


@router.get(
    "/me/goals",
    name=allow("api.me.goals.list", C, what="the client's goals with steps, reviews, GAS trend"),
    response_model=GoalsOut,
    responses=PROBLEM_RESPONSES,
)
def list_goals(request: Request) -> GoalsOut:
    actor = actor_of(request)
    uow = state_of(request).uow_factory
    views, trend = goals_service.goals_and_trend(uow, actor, actor.user_id)
    t_by_day = t_scores_by_day(trend.points)
    return GoalsOut(
        goals=[goal_out(v, t_by_day) for v in views],
        gas_trend=[
            GasPointOut(on=p.on, t_score=p.t_score, n_goals=p.n_goals) for p in trend.points
        ],
        gas_explanation=trend.explanation.client if trend.explanation else None,
    )


@router.post(
    "/me/goals",
    name=allow("api.me.goals.create", C, what="create a SMART goal with its first steps"),
    response_model=GoalOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def create_goal(body: GoalIn, request: Request) -> GoalOut:
    actor = actor_of(request)
    view = goals_service.create_goal(
        state_of(request).uow_factory, actor, actor.user_id, body.as_input()
    )
    return goal_out(view, {})


@router.get(
    "/me/goals/{goal_id}",
    name=allow("api.me.goals.get", C, what="one of the client's goals (with its ETag)"),
    response_model=GoalOut,
    responses=READ_RESPONSES,
)
def get_goal(goal_id: str, request: Request, response: Response) -> GoalOut:
    view = find_goal(request, goal_id)
    actor = actor_of(request)
    trend = goals_service.gas_trend(state_of(request).uow_factory, actor, actor.user_id)
    with_etag(response, view.goal.version)
    return goal_out(view, t_scores_by_day(trend.points))


@router.patch(
    "/me/goals/{goal_id}",
    name=allow("api.me.goals.update", C, what="change a goal's SMART fields"),
    response_model=GoalOut,
    responses=VERSIONED_RESPONSES,
)
def update_goal(
    goal_id: str, body: GoalPatch, request: Request, response: Response, if_match: IfMatch = None
) -> GoalOut:
    version = expected_version(if_match)
    old = find_goal(request, goal_id).goal
    given = body.model_dump(exclude_unset=True)
    if "levels" in given and body.levels is not None:
        levels: dict[int, str] = level_keys(body.levels)
    else:
        levels = dict(old.levels)
    nullable = {"achievable_rating", "target_date"}
    for key, value in given.items():
        if value is None and key not in nullable:
            raise _invalid(key, "required", "may not be null")
    merged = GoalInput(
        specific_description=given.get("specific_description", old.specific_description),
        measurable_indicator=given.get("measurable_indicator", old.measurable_indicator),
        levels=levels,
        importance=given.get("importance", old.importance),
        difficulty=given.get("difficulty", old.difficulty),
        baseline_level=given.get("baseline_level", old.baseline_level),
        achievable_rating=given.get("achievable_rating", old.achievable_rating),
        relevant_to=given.get("relevant_to", old.relevant_to),
        target_date=given.get("target_date", old.target_date),
        rater=old.rater,
        review_every_days=given.get("review_every_days", old.review_every_days),
        weight=old.weight,
    )
    view = goals_service.update_goal(
        state_of(request).uow_factory,
        actor_of(request),
        goal_id,
        merged,
        expected_version=version if version is not None else old.version,
    )
    with_etag(response, view.goal.version)
    return goal_out(view, {})


@router.post(
    "/me/goals/{goal_id}/steps",
    name=allow("api.me.goals.steps.add", C, what="add a small step to a goal"),
    response_model=StepOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_step(goal_id: str, body: StepIn, request: Request) -> StepOut:
    step = goals_service.add_step(
        state_of(request).uow_factory, actor_of(request), goal_id, StepInput(body.text, body.due_on)
    )
    return step_out(step)


def find_step(request: Request, goal_id: str, step_id: str) -> GoalStep:
    """A step of one of the signed-in client's own goals (`NotFoundError` otherwise)."""
    for s in find_goal(request, goal_id).steps:
        if s.id == step_id:
            return s
    raise not_found("goal step")


@router.get(
    "/me/goals/{goal_id}/steps/{step_id}",
    name=allow("api.me.goals.steps.get", C, what="one step of a goal (with its ETag)"),
    response_model=StepOut,
    responses=READ_RESPONSES,
)
def get_step(goal_id: str, step_id: str, request: Request, response: Response) -> StepOut:
    step = find_step(request, goal_id, step_id)
    with_etag(response, step.version)
    return step_out(step)


@router.patch(
    "/me/goals/{goal_id}/steps/{step_id}",
    name=allow("api.me.goals.steps.done", C, what="tick a goal step done (or not)"),
    response_model=StepOut,
    responses=VERSIONED_RESPONSES,
)
def set_step_done(
    goal_id: str,
    step_id: str,
    body: StepDoneIn,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> StepOut:
    version = expected_version(if_match)
    find_step(request, goal_id, step_id)
    step = goals_service.set_step_done(
        state_of(request).uow_factory,
        actor_of(request),
        step_id,
        body.done,
        expected_version=version,
    )
    with_etag(response, step.version)
    return step_out(step)


@router.get(
    "/me/goals/{goal_id}/reviews",
    name=allow("api.me.goals.reviews", C, what="a goal's reviews with the day's GAS T-score"),
    response_model=list[ReviewOut],
    responses=PROBLEM_RESPONSES,
)
def goal_reviews(goal_id: str, request: Request) -> list[ReviewOut]:
    view = find_goal(request, goal_id)
    actor = actor_of(request)
    trend = goals_service.gas_trend(state_of(request).uow_factory, actor, actor.user_id)
    t_by_day = t_scores_by_day(trend.points)
    return [review_out(r, t_by_day) for r in sorted(view.reviews, key=lambda r: r.reviewed_at)]


# ---------------------------------------------------------------------- journal


class JournalIn(StrictModel):
    mood: int | None = None
    emotions: list[Annotated[str, Field(max_length=50)]] = Field(
        default_factory=list, max_length=20
    )
    text: Text = ""


class JournalOut(OutModel):
    id: str
    created_at: datetime
    mood: int | None
    emotions: list[str]
    text: str


def journal_out(e: JournalEntry) -> JournalOut:
    return JournalOut(
        id=e.id, created_at=e.created_at, mood=e.mood, emotions=list(e.emotions), text=e.text
    )


@router.get(
    "/me/journal",
    name=allow("api.me.journal.list", C, what="the client's journal entries"),
    response_model=list[JournalOut],
    responses=PROBLEM_RESPONSES,
)
def list_journal(request: Request) -> list[JournalOut]:
    actor = actor_of(request)
    rows = journal_service.list_journal(state_of(request).uow_factory, actor, actor.user_id)
    return [journal_out(e) for e in rows]


@router.post(
    "/me/journal",
    name=allow("api.me.journal.create", C, what="write a journal entry (mood, emotions, text)"),
    response_model=JournalOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_journal(body: JournalIn, request: Request) -> JournalOut:
    actor = actor_of(request)
    entry = journal_service.add_journal_entry(
        state_of(request).uow_factory,
        actor,
        actor.user_id,
        mood=body.mood,
        emotions=body.emotions,
        text=body.text,
    )
    return journal_out(entry)


class ReflectionIn(StrictModel):
    what_happened: Text = ""
    what_i_noticed: Text = ""
    what_helped: Text = ""
    what_i_learned: Text = ""


class ReflectionOut(OutModel):
    id: str
    created_at: datetime
    what_happened: str
    what_i_noticed: str
    what_helped: str
    what_i_learned: str


def reflection_out(r: SetbackReflection) -> ReflectionOut:
    return ReflectionOut(
        id=r.id,
        created_at=r.created_at,
        what_happened=r.what_happened,
        what_i_noticed=r.what_i_noticed,
        what_helped=r.what_helped,
        what_i_learned=r.what_i_learned,
    )


@router.get(
    "/me/reflections",
    name=allow("api.me.reflections.list", C, what="the client's setback reflections"),
    response_model=list[ReflectionOut],
    responses=PROBLEM_RESPONSES,
)
def list_reflections(request: Request) -> list[ReflectionOut]:
    actor = actor_of(request)
    rows = journal_service.list_reflections(state_of(request).uow_factory, actor, actor.user_id)
    return [reflection_out(r) for r in rows]


@router.post(
    "/me/reflections",
    name=allow("api.me.reflections.create", C, what="write a setback reflection"),
    response_model=ReflectionOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_reflection(body: ReflectionIn, request: Request) -> ReflectionOut:
    actor = actor_of(request)
    r = journal_service.add_reflection(
        state_of(request).uow_factory, actor, actor.user_id, **body.model_dump()
    )
    return reflection_out(r)


# ----------------------------------------------------------------------- skills


class TimingOut(OutModel):
    inhale_seconds: float
    hold_seconds: float
    exhale_seconds: float
    pause_seconds: float
    default_minutes: int


class SkillOut(OutModel):
    id: str
    name: str
    purpose: str
    steps: list[str]
    timing: TimingOut | None


@router.get(
    "/me/skills",
    name=allow("api.me.skills", C, what="the coping-skill library", clinical=False),
    response_model=list[SkillOut],
    responses=PROBLEM_RESPONSES,
)
def skills(request: Request) -> list[SkillOut]:
    out = []
    for s in SKILLS:
        t = s.timing
        timing = (
            TimingOut(
                inhale_seconds=t.inhale_seconds,
                hold_seconds=t.hold_seconds,
                exhale_seconds=t.exhale_seconds,
                pause_seconds=t.pause_seconds,
                default_minutes=t.default_minutes,
            )
            if t is not None
            else None
        )
        out.append(
            SkillOut(id=s.id, name=s.name, purpose=s.purpose, steps=list(s.steps), timing=timing)
        )
    return out


class PracticeIn(StrictModel):
    skill_id: Annotated[str, Field(max_length=100)]
    helpfulness: int | None = None
    note: Text = ""


class PracticeOut(OutModel):
    id: str
    skill_id: str
    practiced_at: datetime
    helpfulness: int | None
    note: str


def practice_out(p: SkillPractice) -> PracticeOut:
    return PracticeOut(
        id=p.id,
        skill_id=p.skill_id,
        practiced_at=p.practiced_at,
        helpfulness=p.helpfulness,
        note=p.note,
    )


@router.get(
    "/me/skills/practice",
    name=allow("api.me.skills.practice.list", C, what="the client's skill practice"),
    response_model=list[PracticeOut],
    responses=PROBLEM_RESPONSES,
)
def list_practice(request: Request) -> list[PracticeOut]:
    actor = actor_of(request)
    rows = journal_service.list_skill_practice(state_of(request).uow_factory, actor, actor.user_id)
    return [practice_out(p) for p in rows]


@router.post(
    "/me/skills/practice",
    name=allow("api.me.skills.practice.create", C, what="log a practice of a coping skill"),
    response_model=PracticeOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_practice(body: PracticeIn, request: Request) -> PracticeOut:
    actor = actor_of(request)
    p = journal_service.add_skill_practice(
        state_of(request).uow_factory,
        actor,
        actor.user_id,
        skill_id=body.skill_id,
        helpfulness=body.helpfulness,
        note=body.note,
    )
    return practice_out(p)


class ThoughtRecordIn(StrictModel):
    situation: Text
    automatic_thought: Text
    emotion: Annotated[str, Field(max_length=200)]
    intensity: int
    evidence_for: Text = ""
    evidence_against: Text = ""
    balanced_thought: Text = ""
    rerated_intensity: int | None = None


class ThoughtRecordOut(OutModel):
    id: str
    created_at: datetime
    situation: str
    automatic_thought: str
    emotion: str
    intensity: int
    evidence_for: str
    evidence_against: str
    balanced_thought: str
    rerated_intensity: int | None


def thought_out(t: ThoughtRecord) -> ThoughtRecordOut:
    return ThoughtRecordOut(
        id=t.id,
        created_at=t.created_at,
        situation=t.situation,
        automatic_thought=t.automatic_thought,
        emotion=t.emotion,
        intensity=t.intensity,
        evidence_for=t.evidence_for,
        evidence_against=t.evidence_against,
        balanced_thought=t.balanced_thought,
        rerated_intensity=t.rerated_intensity,
    )


@router.get(
    "/me/thought-records",
    name=allow("api.me.thought_records.list", C, what="the client's thought records"),
    response_model=list[ThoughtRecordOut],
    responses=PROBLEM_RESPONSES,
)
def list_thought_records(request: Request) -> list[ThoughtRecordOut]:
    actor = actor_of(request)
    rows = journal_service.list_thought_records(state_of(request).uow_factory, actor, actor.user_id)
    return [thought_out(t) for t in rows]


@router.post(
    "/me/thought-records",
    name=allow("api.me.thought_records.create", C, what="write a thought record"),
    response_model=ThoughtRecordOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_thought_record(body: ThoughtRecordIn, request: Request) -> ThoughtRecordOut:
    actor = actor_of(request)
    t = journal_service.add_thought_record(
        state_of(request).uow_factory, actor, actor.user_id, **body.model_dump()
    )
    return thought_out(t)


# -------------------------------------------------------------------- self-care


class SelfCareIn(StrictModel):
    done_on: IsoDay
    activity: Annotated[str, Field(max_length=50)]
    minutes: int | None = None
    restorative: int | None = None
    note: Text = ""


class SelfCareOut(OutModel):
    id: str
    done_on: date
    activity: str
    minutes: int | None
    restorative: int | None
    note: str


def self_care_out(s: SelfCareEntry) -> SelfCareOut:
    return SelfCareOut(
        id=s.id,
        done_on=s.done_on,
        activity=str(s.activity),
        minutes=s.minutes,
        restorative=s.restorative,
        note=s.note,
    )


@router.get(
    "/me/self-care",
    name=allow("api.me.self_care.list", C, what="the client's self-care log"),
    response_model=list[SelfCareOut],
    responses=PROBLEM_RESPONSES,
)
def list_self_care(request: Request) -> list[SelfCareOut]:
    actor = actor_of(request)
    rows = journal_service.list_self_care(state_of(request).uow_factory, actor, actor.user_id)
    return [self_care_out(s) for s in rows]


@router.post(
    "/me/self-care",
    name=allow("api.me.self_care.create", C, what="log a self-care activity"),
    response_model=SelfCareOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_self_care(body: SelfCareIn, request: Request) -> SelfCareOut:
    actor = actor_of(request)
    s = journal_service.add_self_care(
        state_of(request).uow_factory, actor, actor.user_id, **body.model_dump()
    )
    return self_care_out(s)


# -------------------------------------------------------------------- stressors


class StressorIn(StrictModel):
    category: Annotated[str, Field(max_length=50)]
    severity: int
    started_on: IsoDay
    ended_on: IsoDay | None = None
    description: Annotated[str, Field(max_length=2_000)] = ""


class StressorEndIn(StrictModel):
    ended_on: IsoDay


class StressorOut(OutModel):
    id: str
    category: str
    severity: int
    started_on: date
    ended_on: date | None
    description: str
    etag: str = Field(description='The ETag to send in If-Match to change it, e.g. "v3"')


def stressor_out(s: Stressor) -> StressorOut:
    return StressorOut(
        id=s.id,
        category=str(s.category),
        severity=s.severity,
        started_on=s.started_on,
        ended_on=s.ended_on,
        description=s.description,
        etag=etag(s.version),
    )


@router.get(
    "/me/stressors",
    name=allow("api.me.stressors.list", C, what="the client's stressors and life events"),
    response_model=list[StressorOut],
    responses=PROBLEM_RESPONSES,
)
def list_stressors(request: Request) -> list[StressorOut]:
    actor = actor_of(request)
    rows = journal_service.list_stressors(state_of(request).uow_factory, actor, actor.user_id)
    return [stressor_out(s) for s in rows]


@router.post(
    "/me/stressors",
    name=allow("api.me.stressors.create", C, what="record a stressor or life event"),
    response_model=StressorOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_stressor(body: StressorIn, request: Request) -> StressorOut:
    actor = actor_of(request)
    s = journal_service.add_stressor(
        state_of(request).uow_factory, actor, actor.user_id, **body.model_dump()
    )
    return stressor_out(s)


@router.get(
    "/me/stressors/{stressor_id}",
    name=allow("api.me.stressors.get", C, what="one stressor or life event (with its ETag)"),
    response_model=StressorOut,
    responses=READ_RESPONSES,
)
def get_stressor(stressor_id: str, request: Request, response: Response) -> StressorOut:
    actor = actor_of(request)
    rows = journal_service.list_stressors(state_of(request).uow_factory, actor, actor.user_id)
    for s in rows:
        if s.id == stressor_id:
            with_etag(response, s.version)
            return stressor_out(s)
    raise not_found("stressor")


@router.patch(
    "/me/stressors/{stressor_id}",
    name=allow("api.me.stressors.end", C, what="mark a stressor as over"),
    response_model=StressorOut,
    responses=VERSIONED_RESPONSES,
)
def end_stressor(
    stressor_id: str,
    body: StressorEndIn,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> StressorOut:
    version = expected_version(if_match)
    s = journal_service.end_stressor(
        state_of(request).uow_factory,
        actor_of(request),
        stressor_id,
        body.ended_on,
        expected_version=version,
    )
    with_etag(response, s.version)
    return stressor_out(s)


# -------------------------------------------------------------- support network


class SupporterIn(StrictModel):
    name: Annotated[str, Field(max_length=200)]
    relation: Annotated[str, Field(max_length=100)]
    support_kinds: list[Annotated[str, Field(max_length=20)]] = Field(
        default_factory=list, max_length=10
    )
    is_group: bool = False


class SupporterOut(OutModel):
    id: str
    name: str
    relation: str
    support_kinds: list[str]
    is_group: bool


def supporter_out(s: Supporter) -> SupporterOut:
    return SupporterOut(
        id=s.id,
        name=s.name,
        relation=s.relation,
        support_kinds=list(s.support_kinds),
        is_group=s.is_group,
    )


class ContactIn(StrictModel):
    supporter_id: Annotated[str, Field(max_length=64)]
    contacted_on: IsoDay
    mode: Annotated[str, Field(max_length=20)] = "in_person"
    helpful: int | None = None


class ContactOut(OutModel):
    id: str
    supporter_id: str
    contacted_on: date
    mode: str
    helpful: int | None


def contact_out(c: SupportContact) -> ContactOut:
    return ContactOut(
        id=c.id,
        supporter_id=c.supporter_id,
        contacted_on=c.contacted_on,
        mode=c.mode,
        helpful=c.helpful,
    )


@router.get(
    "/me/supporters",
    name=allow("api.me.supporters.list", C, what="the client's support network"),
    response_model=list[SupporterOut],
    responses=PROBLEM_RESPONSES,
)
def list_supporters(request: Request) -> list[SupporterOut]:
    actor = actor_of(request)
    rows = journal_service.list_supporters(state_of(request).uow_factory, actor, actor.user_id)
    return [supporter_out(s) for s in rows]


@router.post(
    "/me/supporters",
    name=allow("api.me.supporters.create", C, what="add a person or group to the network"),
    response_model=SupporterOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_supporter(body: SupporterIn, request: Request) -> SupporterOut:
    actor = actor_of(request)
    s = journal_service.add_supporter(
        state_of(request).uow_factory, actor, actor.user_id, **body.model_dump()
    )
    return supporter_out(s)


@router.get(
    "/me/support-contacts",
    name=allow("api.me.support_contacts.list", C, what="contacts with the support network"),
    response_model=list[ContactOut],
    responses=PROBLEM_RESPONSES,
)
def list_contacts(request: Request) -> list[ContactOut]:
    actor = actor_of(request)
    rows = journal_service.list_support_contacts(
        state_of(request).uow_factory, actor, actor.user_id
    )
    return [contact_out(c) for c in rows]


@router.post(
    "/me/support-contacts",
    name=allow("api.me.support_contacts.create", C, what="log a contact with a supporter"),
    response_model=ContactOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def add_contact(body: ContactIn, request: Request) -> ContactOut:
    actor = actor_of(request)
    c = journal_service.add_support_contact(
        state_of(request).uow_factory, actor, actor.user_id, **body.model_dump()
    )
    return contact_out(c)


# ---------------------------------------------------------------- privacy


class SharingOut(OutModel):
    sharing: dict[str, bool]
    etag: str = Field(
        description='The ETag of all the choices together, to send in If-Match, e.g. "v3"'
    )


class SharingPatch(StrictModel):
    """Kinds of entry to share (true) or keep private (false); absent kinds are unchanged."""

    sharing: dict[Annotated[str, Field(max_length=50)], bool] = Field(max_length=20)


def sharing_out(state: journal_service.SharingState) -> SharingOut:
    return SharingOut(
        sharing={str(k): v for k, v in state.sharing.items()}, etag=etag(state.version)
    )


@router.get(
    "/me/sharing",
    name=allow("api.me.sharing.get", C, what="the client's sharing choices"),
    response_model=SharingOut,
    responses=READ_RESPONSES,
)
def get_sharing(request: Request, response: Response) -> SharingOut:
    actor = actor_of(request)
    got = journal_service.get_sharing_state(state_of(request).uow_factory, actor, actor.user_id)
    with_etag(response, got.version)
    return sharing_out(got)


@router.patch(
    "/me/sharing",
    name=allow("api.me.sharing.set", C, what="share a kind of entry or keep it private"),
    response_model=SharingOut,
    responses=VERSIONED_RESPONSES,
)
def set_sharing(
    body: SharingPatch, request: Request, response: Response, if_match: IfMatch = None
) -> SharingOut:
    version = expected_version(if_match)
    actor = actor_of(request)
    uow = state_of(request).uow_factory
    known = {k.value for k in EntryKind}
    unknown = [k for k in body.sharing if k not in known]
    if unknown:
        raise _invalid("sharing", "not_allowed", f"kinds must be among: {', '.join(sorted(known))}")
    got = journal_service.set_sharing_choices(
        uow, actor, actor.user_id, body.sharing, expected_version=version
    )
    with_etag(response, got.version)
    return sharing_out(got)


class AccessOut(OutModel):
    at: datetime | None
    who: str
    role: str
    action: str
    object_type: str
    outcome: str


@router.get(
    "/me/access-log",
    name=allow("api.me.access_log", C, what="who looked at or changed the client's record"),
    response_model=list[AccessOut],
    responses=PROBLEM_RESPONSES,
)
def get_access_log(request: Request) -> list[AccessOut]:
    actor = actor_of(request)
    rows = access_log(state_of(request).uow_factory, actor, actor.user_id)
    return [
        AccessOut(
            at=e.at,
            who=e.who,
            role=e.role,
            action=e.action,
            object_type=e.object_type,
            outcome=e.outcome,
        )
        for e in rows
    ]
