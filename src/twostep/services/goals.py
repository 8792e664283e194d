"""SMART goals with steps and reviews, Goal Attainment Scaling T-scores, reviews due.

A goal (methods.md §7) has a specific description, a measurable indicator,
observable descriptors for the five attainment levels −2..+2, a baseline
level (−1, or −2 when no worse outcome is possible: Turner-Stokes 2009), the
clinician's achievability judgement, what it is relevant to, a target date,
importance and difficulty (0–3), small steps, and a review schedule.

Clients and their assigned therapist may both create, change and review
goals (the web's SMART builder and the therapist's goal review); therapists
only while the client shares goals (``EntryKind.GOALS``).

The GAS T-score per review date is computed by the kernel
(`twostep.analytics.goal_attainment.gas_t_score`, Kiresuk & Sherman 1968) in
one call over every review date: each goal contributes the level of its last
review on that date; goals not reviewed that day are left out and the count
of scored goals is reported. Weights are the goal's own weight, else
importance × difficulty (Turner-Stokes 2009); all-zero weights fall back to
equal weights as in ``gasr``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np

from twostep.analytics.explain import GasFacts, explain_gas
from twostep.analytics.goal_attainment import gas_t_score
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import EntryKind, Goal, GoalRater, GoalReview, GoalStep, new_id
from twostep.errors import AccessDeniedError, ConflictError
from twostep.services.access import Actor, ClientAccess, client_access, not_found
from twostep.services.audit import AuditNote, audited
from twostep.services.texts import ExplanationText, texts_for
from twostep.services.validation import MAX_SHORT_TEXT, Checks, utcnow
from twostep.services.versions import based_on

__all__ = [
    "DUE_SOON_DAYS",
    "GasPoint",
    "GasTrend",
    "GoalInput",
    "GoalReviewStatus",
    "GoalView",
    "StepInput",
    "add_step",
    "close_goal",
    "create_goal",
    "gas_points",
    "gas_trend",
    "goal_reviews_due",
    "goals_and_trend",
    "list_goals",
    "record_review",
    "review_status",
    "set_step_done",
    "update_goal",
]

#: A review is "due" this many days before its date (and "overdue" after it).
DUE_SOON_DAYS = 7
_LEVELS = (-2, -1, 0, 1, 2)
_GOAL_TEXT = 2_000


@dataclass(frozen=True)
class StepInput:
    text: str
    due_on: date | None = None


@dataclass(frozen=True)
class GoalInput:
    """What a client or therapist enters in the SMART goal builder."""

    specific_description: str
    measurable_indicator: str
    levels: Mapping[int, str]
    importance: int
    difficulty: int
    baseline_level: int = -1
    achievable_rating: int | None = None
    relevant_to: str = ""
    target_date: date | None = None
    rater: GoalRater | str = GoalRater.JOINT
    review_every_days: int = 28
    weight: float | None = None
    steps: tuple[StepInput, ...] = ()


@dataclass(frozen=True)
class GoalReviewStatus:
    """When a goal is next due for review (None for closed goals)."""

    goal_id: str
    last_reviewed_on: date | None
    due_on: date | None
    due: bool
    overdue: bool


@dataclass(frozen=True)
class GoalView:
    goal: Goal
    steps: tuple[GoalStep, ...]
    reviews: tuple[GoalReview, ...]
    review: GoalReviewStatus


@dataclass(frozen=True)
class GasPoint:
    """The GAS T-score of one review date (None when no goal was rated that day)."""

    on: date
    t_score: float | None
    n_goals: int
    equal_weights_used: bool


@dataclass(frozen=True)
class GasTrend:
    points: tuple[GasPoint, ...]
    explanation: ExplanationText | None


# ----------------------------------------------------------------------- checks


def _check_goal(goal: GoalInput, checks: Checks) -> None:
    """Record every broken rule of ``goal``."""
    c = checks
    if not isinstance(goal.levels, Mapping) or set(goal.levels) != set(_LEVELS):
        c.fail("levels", "levels_incomplete", "describe each level -2, -1, 0, +1 and +2")
    else:
        for lv in _LEVELS:
            c.text(f"levels[{lv}]", goal.levels[lv], required=True, max_len=500)
    c.text("specific_description", goal.specific_description, required=True, max_len=_GOAL_TEXT)
    c.text("measurable_indicator", goal.measurable_indicator, required=True, max_len=_GOAL_TEXT)
    c.text("relevant_to", goal.relevant_to, max_len=_GOAL_TEXT)
    c.integer("baseline_level", goal.baseline_level, -2, -1, required=True)
    c.integer("achievable_rating", goal.achievable_rating, 0, 3)
    c.day("target_date", goal.target_date, required=False)
    c.integer("importance", goal.importance, 0, 3, required=True)
    c.integer("difficulty", goal.difficulty, 0, 3, required=True)
    c.choice("rater", goal.rater, GoalRater)
    c.integer("review_every_days", goal.review_every_days, 1, 365, required=True)
    c.number("weight", goal.weight, 0.0, 100.0)


def _apply(goal: GoalInput, base: Goal) -> Goal:
    """``base`` with the (already checked) fields of ``goal``."""
    return replace(
        base,
        specific_description=goal.specific_description.strip(),
        measurable_indicator=goal.measurable_indicator.strip(),
        levels={lv: goal.levels[lv].strip() for lv in _LEVELS},
        baseline_level=goal.baseline_level,
        achievable_rating=goal.achievable_rating,
        relevant_to=goal.relevant_to.strip(),
        target_date=goal.target_date,
        importance=goal.importance,
        difficulty=goal.difficulty,
        rater=GoalRater(goal.rater),
        review_every_days=goal.review_every_days,
        weight=None if goal.weight is None else float(goal.weight),
    )


def _checked_step(where: str, step: StepInput, checks: Checks) -> tuple[str, date | None]:
    text = checks.text(f"{where}.text", step.text, required=True, max_len=MAX_SHORT_TEXT * 2)
    due = checks.day(f"{where}.due_on", step.due_on, required=False)
    return text, due


def _goal_access(uow: UnitOfWork, actor: Actor, note: AuditNote, goal_id: str) -> Goal:
    """Load a goal the actor may see (NotFoundError otherwise)."""
    goal = uow.goals.get(goal_id)
    if goal is None:
        raise not_found("goal")
    access = note.granted(client_access(uow, actor, goal.client_id))
    if not access.sees(EntryKind.GOALS):
        raise not_found("goal")
    return goal


def _writable(access: ClientAccess) -> None:
    if not access.sees(EntryKind.GOALS):
        raise AccessDeniedError("the client has not shared their goals")


# ------------------------------------------------------------------ review due


def review_status(goal: Goal, reviews: Sequence[GoalReview], today: date) -> GoalReviewStatus:
    """When ``goal`` is due for review: its schedule counted from the last review (or creation)."""
    last = max((r.reviewed_at for r in reviews if r.goal_id == goal.id), default=None)
    last_day = last.date() if last is not None else None
    if goal.closed_at is not None:
        return GoalReviewStatus(goal.id, last_day, None, False, False)
    start = last_day or (goal.created_at.date() if goal.created_at is not None else today)
    due_on = start + timedelta(days=goal.review_every_days)
    return GoalReviewStatus(
        goal_id=goal.id,
        last_reviewed_on=last_day,
        due_on=due_on,
        due=today >= due_on - timedelta(days=DUE_SOON_DAYS),
        overdue=today > due_on,
    )


def _view(uow: UnitOfWork, goal: Goal, today: date) -> GoalView:
    steps = [s for s in uow.goal_steps.for_client(goal.client_id) if s.goal_id == goal.id]
    reviews = [r for r in uow.goal_reviews.for_client(goal.client_id) if r.goal_id == goal.id]
    return GoalView(goal, tuple(steps), tuple(reviews), review_status(goal, reviews, today))


# ------------------------------------------------------------------- use cases


def create_goal(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    goal: GoalInput,
    *,
    now: datetime | None = None,
) -> GoalView:
    """Create a SMART goal with its first steps."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> GoalView:
        access = note.granted(client_access(uow, actor, client_id))
        _writable(access)
        checks = Checks("goal")
        _check_goal(goal, checks)
        steps = [_checked_step(f"steps[{i}]", s, checks) for i, s in enumerate(goal.steps)]
        if len(goal.steps) > 20:
            checks.fail("steps", "too_many", "at most 20 steps")
        checks.done()
        blank = Goal(
            id=new_id(),
            clinic_id=access.client.clinic_id,
            client_id=client_id,
            specific_description="",
            measurable_indicator="",
            levels={},
            baseline_level=-1,
            achievable_rating=None,
            relevant_to="",
            target_date=None,
            importance=0,
            difficulty=0,
            created_at=at,
        )
        record = _apply(goal, blank)
        note.object_id = record.id
        uow.goals.add(record)
        for text, due in steps:
            uow.goal_steps.add(GoalStep(new_id(), record.id, client_id, text, due))
        return _view(uow, record, at.date())

    return audited(uow_factory, actor, "create", "goal", op, client_id=client_id)


def update_goal(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    goal_id: str,
    goal: GoalInput,
    *,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> GoalView:
    """Change a goal's SMART fields (steps are changed with `add_step` / `set_step_done`).

    ``expected_version``: the version the edit is based on (the HTTP ``If-Match``); when
    another writer changed the record since, `StaleVersionError` and nothing is written.
    """
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> GoalView:
        old = based_on(_goal_access(uow, actor, note, goal_id), expected_version)
        if old.closed_at is not None:
            raise ConflictError("a closed goal cannot be changed")
        checks = Checks("goal")
        _check_goal(goal, checks)
        checks.done()
        new = uow.goals.update(_apply(goal, old))
        return _view(uow, new, at.date())

    return audited(uow_factory, actor, "update", "goal", op, object_id=goal_id)


def close_goal(
    uow_factory: UnitOfWorkFactory, actor: Actor, goal_id: str, *, now: datetime | None = None
) -> GoalView:
    """Close a goal (achieved, dropped or replaced); its reviews stay in the GAS history."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> GoalView:
        old = _goal_access(uow, actor, note, goal_id)
        if old.closed_at is not None:
            raise ConflictError("the goal is closed already")
        new = replace(old, closed_at=at)
        uow.goals.update(new)
        return _view(uow, new, at.date())

    return audited(uow_factory, actor, "update", "goal", op, object_id=goal_id)


def add_step(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    goal_id: str,
    step: StepInput,
) -> GoalStep:
    """Add a small step to a goal."""

    def op(uow: UnitOfWork, note: AuditNote) -> GoalStep:
        goal = _goal_access(uow, actor, note, goal_id)
        checks = Checks("goal step")
        text, due = _checked_step("step", step, checks)
        checks.done()
        record = GoalStep(new_id(), goal.id, goal.client_id, text, due)
        note.object_id = record.id
        return uow.goal_steps.add(record)

    return audited(uow_factory, actor, "create", "goal_step", op)


def set_step_done(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    step_id: str,
    done: bool = True,
    *,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> GoalStep:
    """Tick a step off (or un-tick it).

    ``expected_version``: the version the edit is based on (the HTTP ``If-Match``); when
    another writer changed the record since, `StaleVersionError` and nothing is written.
    """
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> GoalStep:
        step = uow.goal_steps.get(step_id)
        if step is None:
            raise not_found("goal step")
        _goal_access(uow, actor, note, step.goal_id)
        step = based_on(step, expected_version)
        return uow.goal_steps.update(replace(step, done=done, done_at=at if done else None))

    return audited(uow_factory, actor, "update", "goal_step", op, object_id=step_id)


def record_review(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    goal_id: str,
    attained_level: int | None,
    *,
    notes: str = "",
    reviewed_at: datetime | None = None,
    now: datetime | None = None,
) -> GoalReview:
    """Record a goal review: the attained level −2..+2 (None = not rated) and notes."""
    current = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> GoalReview:
        goal = _goal_access(uow, actor, note, goal_id)
        checks = Checks("goal review")
        level = checks.integer("attained_level", attained_level, -2, 2)
        text = checks.text("notes", notes)
        when = checks.instant("reviewed_at", reviewed_at or current, now=current)
        checks.done()
        assert when is not None
        record = GoalReview(
            id=new_id(),
            goal_id=goal.id,
            client_id=goal.client_id,
            reviewed_at=when,
            attained_level=level,
            notes=text,
            reviewer_id=actor.user_id,
        )
        note.object_id = record.id
        return uow.goal_reviews.add(record)

    return audited(uow_factory, actor, "create", "goal_review", op)


def list_goals(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    include_closed: bool = True,
    now: datetime | None = None,
) -> tuple[GoalView, ...]:
    """The client's goals with steps, reviews and review status (empty if goals are not shared)."""
    today = (now or utcnow()).date()

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[GoalView, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        if not access.sees(EntryKind.GOALS):
            return ()
        goals = uow.goals.for_client(client_id)
        return tuple(_view(uow, g, today) for g in goals if include_closed or g.closed_at is None)

    return audited(uow_factory, actor, "read", "goal", op, client_id=client_id)


def goal_reviews_due(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    now: datetime | None = None,
) -> tuple[GoalReviewStatus, ...]:
    """Open goals whose review is due within a week or overdue, most overdue first."""
    today = (now or utcnow()).date()

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[GoalReviewStatus, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        if not access.sees(EntryKind.GOALS):
            return ()
        reviews = uow.goal_reviews.for_client(client_id)
        out = [review_status(g, reviews, today) for g in uow.goals.for_client(client_id)]
        due = [s for s in out if s.due]
        return tuple(sorted(due, key=lambda s: (s.due_on or today, s.goal_id)))

    return audited(uow_factory, actor, "read", "goal_review", op, client_id=client_id)


def gas_points(goals: Sequence[Goal], reviews: Sequence[GoalReview]) -> tuple[GasPoint, ...]:
    """GAS T-score per review date over ``goals`` (one kernel call; see the module docstring)."""
    by_goal = {g.id: g for g in goals}
    last: dict[tuple[date, str], GoalReview] = {}
    for r in sorted(reviews, key=lambda r: r.reviewed_at):
        if r.goal_id in by_goal:
            last[(r.reviewed_at.date(), r.goal_id)] = r
    days = sorted({d for d, _ in last})
    if not days:
        return ()
    index = {d: i for i, d in enumerate(days)}
    keys = sorted(last, key=lambda k: (index[k[0]], k[1]))
    levels = np.array([_level(last[k].attained_level) for k in keys], dtype=np.float64)
    weights = np.array([_weight(by_goal[g]) for _, g in keys])
    group = np.array([index[d] for d, _ in keys], dtype=np.int64)
    res = gas_t_score(levels, weights, group=group, n_groups=len(days))
    return tuple(
        GasPoint(
            on=d,
            t_score=None if math.isnan(float(res.t_score[i])) else float(res.t_score[i]),
            n_goals=int(res.n_goals[i]),
            equal_weights_used=bool(res.equal_weights_used[i]),
        )
        for i, d in enumerate(days)
    )


def _level(level: int | None) -> float:
    return math.nan if level is None else float(level)


def _weight(goal: Goal) -> float:
    if goal.weight is not None:
        return float(goal.weight)
    return float(goal.importance * goal.difficulty)


def gas_trend(uow_factory: UnitOfWorkFactory, actor: Actor, client_id: str) -> GasTrend:
    """GAS T-score per review date over the client's goals, with the latest change explained."""

    def op(uow: UnitOfWork, note: AuditNote) -> GasTrend:
        access = note.granted(client_access(uow, actor, client_id))
        if not access.sees(EntryKind.GOALS):
            return GasTrend((), None)
        points = gas_points(uow.goals.for_client(client_id), uow.goal_reviews.for_client(client_id))
        return GasTrend(points, gas_explanation(points, staff=access.is_therapist))

    return audited(uow_factory, actor, "read", "goal_attainment", op, client_id=client_id)


def goals_and_trend(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    include_closed: bool = True,
    now: datetime | None = None,
) -> tuple[tuple[GoalView, ...], GasTrend]:
    """`list_goals` and `gas_trend` in one read: one access, one audit event (AU-01)."""
    today = (now or utcnow()).date()

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[tuple[GoalView, ...], GasTrend]:
        access = note.granted(client_access(uow, actor, client_id))
        if not access.sees(EntryKind.GOALS):
            return (), GasTrend((), None)
        goals = uow.goals.for_client(client_id)
        views = tuple(_view(uow, g, today) for g in goals if include_closed or g.closed_at is None)
        points = gas_points(goals, uow.goal_reviews.for_client(client_id))
        return views, GasTrend(points, gas_explanation(points, staff=access.is_therapist))

    return audited(uow_factory, actor, "read", "goal", op, client_id=client_id)


def gas_explanation(points: Sequence[GasPoint], *, staff: bool) -> ExplanationText | None:
    """The kernel's explanation of the latest scored review against the one before."""
    scored = [p for p in points if p.t_score is not None]
    if not scored:
        return None
    cur = scored[-1]
    prev = scored[-2].t_score if len(scored) > 1 else None
    assert cur.t_score is not None
    facts = GasFacts(t_current=cur.t_score, t_previous=prev, n_goals=cur.n_goals)
    return texts_for([explain_gas(facts)], staff=staff)[0]
