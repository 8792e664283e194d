"""The 14 days before a change (methods.md §12) and the setback statistic interface."""

from __future__ import annotations

from datetime import date, timedelta

from service_world import NOW, World

from twostep.analytics.explain import SetbackStatistic
from twostep.domain.records import AppointmentStatus
from twostep.services import journal
from twostep.services.setback_context import (
    GENERAL_STATEMENT,
    SetbackQuery,
    setback_context,
)

START = NOW - timedelta(weeks=6)


def _setback(world: World) -> str:
    """A PHQ-9 course with a setback at the sixth administration (id returned)."""
    results = world.series("client_a1", [20, 16, 13, 10, 12, 16], start=START)
    assert results[-1].signals is not None
    assert results[-1].signals.event.startswith("setback")
    return results[-1].administration.id


def _context(world: World, at_days_before: int = 3) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    t = START + timedelta(weeks=5)
    journal.add_stressor(
        f,
        me,
        cid,
        category="family",
        severity=4,
        started_on=(t - timedelta(days=at_days_before)).date(),
        now=NOW,
    )
    journal.add_stressor(
        f, me, cid, category="work", severity=2, started_on=(t - timedelta(days=2)).date(), now=NOW
    )
    journal.add_stressor(
        f,
        me,
        cid,
        category="health",
        severity=5,
        started_on=date(2024, 1, 5),
        ended_on=date(2024, 2, 1),
        now=NOW,
    )
    for days, rating in ((30, 8), (25, 8), (20, 9), (5, 5), (3, 6)):
        journal.add_self_care(
            f,
            me,
            cid,
            done_on=(t - timedelta(days=days)).date(),
            activity="exercise",
            restorative=rating,
            now=NOW,
        )
    world.appointment("client_a1", t - timedelta(days=4), AppointmentStatus.MISSED)


def test_the_14_day_context_names_what_else_was_going_on(world: World) -> None:
    _context(world)
    adm_id = _setback(world)
    ctx = setback_context(world.factory, world.actor("ther_a"), adm_id)
    assert ctx.facts.stressors == (("family", 4),)  # severity >= 3, inside the window
    assert ctx.facts.restorative_drop == 2.83  # mean 8.33 before, 5.5 in the window
    assert ctx.facts.missed_sessions == 1
    assert ctx.facts.alliance_rupture is False
    assert ctx.facts.any
    what_else = next(e for e in ctx.explanations if e.topic == "context")
    assert "family" in what_else.client
    assert "restful" in what_else.client
    assert "You missed a session." in what_else.client
    assert what_else.therapist is not None


def test_without_a_statistic_the_general_statement_is_used(world: World) -> None:
    adm_id = _setback(world)
    ctx = setback_context(world.factory, world.actor("client_a1"), adm_id)
    assert ctx.statistic is None
    assert ctx.statistic_shown is False
    assert ctx.general_statement == GENERAL_STATEMENT
    assert any(GENERAL_STATEMENT in e.client for e in ctx.explanations)
    assert all(e.therapist is None for e in ctx.explanations)


def test_a_provider_with_enough_episodes_is_shown(world: World) -> None:
    adm_id = _setback(world)
    asked: list[SetbackQuery] = []

    def provider(q: SetbackQuery) -> SetbackStatistic | None:
        asked.append(q)
        return SetbackStatistic(successes=24, n=40, group=f"{q.instrument_id} {q.t_group}")

    ctx = setback_context(world.factory, world.actor("client_a1"), adm_id, provider=provider)
    assert asked == [SetbackQuery("phq9", "severe", 6)]
    assert asked[0].t_group == "5-8"
    assert ctx.statistic_shown
    assert any("60 in every 100" in e.client for e in ctx.explanations)


def test_a_statistic_on_too_few_episodes_is_withheld(world: World) -> None:
    adm_id = _setback(world)
    ctx = setback_context(
        world.factory,
        world.actor("client_a1"),
        adm_id,
        provider=lambda q: SetbackStatistic(successes=9, n=12),
    )
    assert ctx.statistic is not None
    assert not ctx.statistic_shown
    assert any(GENERAL_STATEMENT in e.client for e in ctx.explanations)


def test_t_groups() -> None:
    assert [SetbackQuery("phq9", None, t).t_group for t in (2, 4, 5, 8, 9, 20)] == [
        "2-4",
        "2-4",
        "5-8",
        "5-8",
        "9+",
        "9+",
    ]


def test_a_rupture_in_the_window_counts(world: World) -> None:
    t = START + timedelta(weeks=5)
    for k, total in enumerate([38.0, 38.5, 38.0, 31.0]):
        item = total / 4
        world.checkin(
            "client_a1",
            {"item_1": item, "item_2": item, "item_3": item, "item_4": item},
            t - timedelta(days=3 * (3 - k)),
            instrument="srs",
            by="ther_a",
        )
    adm_id = _setback(world)
    ctx = setback_context(world.factory, world.actor("ther_a"), adm_id)
    assert ctx.facts.alliance_rupture is True
