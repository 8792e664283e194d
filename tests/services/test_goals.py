"""SMART goals, steps, reviews and GAS T-scores through the service (methods.md §7 vectors)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from service_world import NOW, World

from twostep.errors import ConflictError, ValidationError
from twostep.services import goals
from twostep.services.goals import GoalInput, StepInput

LEVELS = {
    -2: "No walks",
    -1: "One walk a week",
    0: "Two walks a week",
    1: "Three walks a week",
    2: "Four or more walks a week",
}


def goal(**kw: object) -> GoalInput:
    base: dict[str, object] = {
        "specific_description": "Walk in the park",
        "measurable_indicator": "walks per week",
        "levels": LEVELS,
        "importance": 1,
        "difficulty": 1,
    }
    base.update(kw)
    return GoalInput(**base)  # type: ignore[arg-type]


def _review_all(world: World, levels: list[int], weights: list[float] | None = None) -> None:
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    for i, level in enumerate(levels):
        w = None if weights is None else weights[i]
        g = goals.create_goal(f, ther, cid, goal(weight=w), now=NOW - timedelta(days=30))
        goals.record_review(f, ther, g.goal.id, level, reviewed_at=NOW, now=NOW)


@pytest.mark.parametrize(
    ("levels", "weights", "expected"),
    [
        ([-2, 0, -1, 2, 0, 1], [3, 5, 1, 4, 2, 6], 55.0),
        ([-1, -1, -1], None, 36.31),
        ([2], None, 70.0),
    ],
)
def test_gas_t_scores_match_the_methods_vectors(
    world: World, levels: list[int], weights: list[float] | None, expected: float
) -> None:
    _review_all(world, levels, weights)
    trend = goals.gas_trend(world.factory, world.actor("ther_a"), world.id("client_a1"))
    [point] = trend.points
    assert point.t_score == pytest.approx(expected, abs=0.01)
    assert point.n_goals == len(levels)
    assert trend.explanation is not None
    assert trend.explanation.label == "first"


def test_weights_default_to_importance_times_difficulty(world: World) -> None:
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    for (imp, dif), level in zip([(3, 1), (1, 1)], [2, -2], strict=True):
        g = goals.create_goal(f, ther, cid, goal(importance=imp, difficulty=dif), now=NOW)
        goals.record_review(f, ther, g.goal.id, level, reviewed_at=NOW, now=NOW)
    [point] = goals.gas_trend(f, ther, cid).points
    # weights 3 and 1: T = 50 + 10 (6 - 2) / sqrt(0.7*10 + 0.3*16) = 61.64
    assert point.t_score == pytest.approx(61.64, abs=0.01)


def test_gas_per_review_date_and_unrated_goals(world: World) -> None:
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    g1 = goals.create_goal(f, ther, cid, goal(), now=NOW - timedelta(days=60))
    g2 = goals.create_goal(f, ther, cid, goal(), now=NOW - timedelta(days=60))
    first = NOW - timedelta(days=28)
    goals.record_review(f, ther, g1.goal.id, -1, reviewed_at=first, now=NOW)
    goals.record_review(f, ther, g2.goal.id, -1, reviewed_at=first, now=NOW)
    goals.record_review(f, ther, g1.goal.id, 1, reviewed_at=NOW, now=NOW)
    goals.record_review(f, ther, g2.goal.id, None, reviewed_at=NOW, now=NOW)
    trend = goals.gas_trend(f, ther, cid)
    assert [p.on for p in trend.points] == [first.date(), NOW.date()]
    assert [p.n_goals for p in trend.points] == [2, 1]
    assert trend.points[1].t_score == pytest.approx(60.0)
    assert trend.explanation is not None
    assert trend.explanation.label == "up"


def test_goal_fields_are_validated(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    with pytest.raises(ValidationError) as err:
        goals.create_goal(
            f,
            me,
            cid,
            goal(
                specific_description=" ",
                levels={0: "x"},
                importance=4,
                baseline_level=1,
                rater="boss",
                review_every_days=0,
            ),
        )
    where = {p.where for p in err.value.problems}
    assert {
        "specific_description",
        "levels",
        "importance",
        "baseline_level",
        "rater",
        "review_every_days",
    } <= where
    assert world.store.rows("goals") == []
    with pytest.raises(ValidationError):
        goals.create_goal(f, me, cid, goal(importance=True))


def test_reviews_are_validated(world: World) -> None:
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    g = goals.create_goal(f, ther, cid, goal(), now=NOW)
    for bad in (3, -3, 1.5, "1"):
        with pytest.raises(ValidationError):
            goals.record_review(f, ther, g.goal.id, bad, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        goals.record_review(f, ther, g.goal.id, 0, reviewed_at=NOW + timedelta(days=1), now=NOW)


def test_steps_and_updates(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    g = goals.create_goal(
        f, me, cid, goal(steps=(StepInput("Buy shoes", date(2024, 6, 10)),)), now=NOW
    )
    assert [s.text for s in g.steps] == ["Buy shoes"]
    step = goals.add_step(f, me, g.goal.id, StepInput("Find a friend to walk with"))
    done = goals.set_step_done(f, me, step.id, now=NOW)
    assert done.done
    assert done.done_at == NOW
    changed = goals.update_goal(f, world.actor("ther_a"), g.goal.id, goal(importance=3), now=NOW)
    assert changed.goal.importance == 3
    assert len(changed.steps) == 2
    closed = goals.close_goal(f, me, g.goal.id, now=NOW)
    assert closed.goal.closed_at == NOW
    assert closed.review.due_on is None
    with pytest.raises(ConflictError):
        goals.update_goal(f, me, g.goal.id, goal(), now=NOW)


def test_reviews_due_and_overdue(world: World) -> None:
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    old = goals.create_goal(f, ther, cid, goal(), now=NOW - timedelta(days=40))
    soon = goals.create_goal(f, ther, cid, goal(), now=NOW - timedelta(days=23))
    goals.create_goal(f, ther, cid, goal(), now=NOW - timedelta(days=2))
    due = goals.goal_reviews_due(f, ther, cid, now=NOW)
    assert [d.goal_id for d in due] == [old.goal.id, soon.goal.id]
    assert [d.overdue for d in due] == [True, False]
    goals.record_review(f, ther, old.goal.id, 0, now=NOW)
    assert [d.goal_id for d in goals.goal_reviews_due(f, ther, cid, now=NOW)] == [soon.goal.id]
    [view] = [v for v in goals.list_goals(f, ther, cid, now=NOW) if v.goal.id == old.goal.id]
    assert view.review.last_reviewed_on == NOW.date()
    assert view.review.due_on == NOW.date() + timedelta(days=28)
