"""Session prep: what happened since the last attended session, and support suggestions."""

from __future__ import annotations

from datetime import date, timedelta

from service_world import NOW, World, phq9_total

from twostep.analytics.explain import SUPPORT_AREAS
from twostep.domain.records import AppointmentStatus
from twostep.services import goals, journal, session_prep
from twostep.services.goals import GoalInput, StepInput

LEVELS = {-2: "a", -1: "b", 0: "c", 1: "d", 2: "e"}


def test_since_the_last_attended_session(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    last = world.appointment("client_a1", NOW - timedelta(days=7))
    world.appointment("client_a1", NOW - timedelta(days=3), AppointmentStatus.CANCELLED)
    nxt = world.appointment("client_a1", NOW + timedelta(days=1), AppointmentStatus.SCHEDULED)
    world.checkin("client_a1", phq9_total(14), NOW - timedelta(days=10))
    world.checkin("client_a1", phq9_total(20), NOW - timedelta(days=2))
    journal.add_session_topic(f, me, cid, "my sister", now=NOW - timedelta(days=1))
    for days, helped in ((8, 2), (5, 6), (4, 8)):
        journal.add_skill_practice(
            f,
            me,
            cid,
            skill_id="paced_breathing",
            helpfulness=helped,
            practiced_at=NOW - timedelta(days=days),
            now=NOW,
        )
    journal.add_self_care(
        f, me, cid, done_on=date(2024, 6, 1), activity="nature", minutes=40, restorative=7, now=NOW
    )
    journal.add_stressor(
        f, me, cid, category="family", severity=4, started_on=date(2024, 5, 31), now=NOW
    )
    journal.add_journal_entry(f, me, cid, mood=3, text="CANARY-text", now=NOW - timedelta(days=1))
    g = goals.create_goal(
        f,
        me,
        cid,
        GoalInput("g", "m", LEVELS, 1, 1, steps=(StepInput("s1"),)),
        now=NOW - timedelta(days=40),
    )
    goals.set_step_done(f, me, g.steps[0].id, now=NOW - timedelta(days=1))
    prep = session_prep.prepare_session(f, world.actor("ther_a"), cid, now=NOW)
    assert prep.last_session == last
    assert prep.next_session == nxt
    assert prep.since == last.scheduled_at
    assert [s.administration.total for s in prep.new_scores] == [20.0]
    assert [t.text for t in prep.topics] == ["my sister"]
    [skill] = prep.skill_practice
    assert (skill.skill_id, skill.name, skill.times, skill.mean_helpfulness) == (
        "paced_breathing",
        "Paced breathing",
        2,
        7.0,
    )
    [care] = prep.self_care
    assert (care.times, care.minutes, care.mean_restorative) == (1, 40, 7.0)
    assert [s.category.value for s in prep.stressors] == ["family"]
    assert prep.journal_entries == 1
    assert prep.mean_mood == 3.0
    assert "CANARY-text" not in repr(prep)
    assert [s.text for s in prep.steps_done] == ["s1"]
    assert [d.goal_id for d in prep.goal_reviews_due] == [g.goal.id]
    assert {s.area for s in prep.suggestions} == set(SUPPORT_AREAS)
    flagged = [s.area for s in prep.suggestions if s.flagged]
    assert flagged[:2] == ["life_events", "goals"]
    assert prep.suggestions_because == ("PHQ-9: deteriorated", "PHQ-9: red")


def test_without_a_past_session_everything_counts(world: World) -> None:
    world.checkin("client_a1", phq9_total(14), NOW - timedelta(days=30))
    prep = session_prep.prepare_session(
        world.factory, world.actor("ther_a"), world.id("client_a1"), now=NOW
    )
    assert prep.since is None
    assert len(prep.new_scores) == 1
    assert prep.suggestions_because == ()
