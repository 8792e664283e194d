""" "My progress" and "How I'm growing"."""

from __future__ import annotations

from datetime import date, timedelta

import textstat
from service_world import NOW, World

from twostep.services import goals, journal, progress
from twostep.services.goals import GoalInput, StepInput

LEVELS = {-2: "a", -1: "b", 0: "c", 1: "d", 2: "e"}


def test_my_progress_has_the_chart_and_the_latest_explanation(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    world.series("client_a1", [20, 16, 13, 10, 12, 16], start=NOW - timedelta(weeks=6))
    world.checkin("client_a1", {f"item_{i}": 1 for i in range(1, 6)}, NOW, instrument="engagement")
    journal.add_stressor(
        f, me, cid, category="family", severity=4, started_on=date(2024, 5, 25), now=NOW
    )
    [m] = progress.my_progress(f, me, cid)
    assert (m.instrument_id, m.name, m.cutoff, m.rc, m.higher_is_better) == (
        "phq9",
        "PHQ-9",
        10.0,
        6.0,
        False,
    )
    assert [p.score for p in m.points] == [20, 16, 13, 10, 12, 16]
    assert [p.best_so_far for p in m.points] == [20, 16, 13, 10, 10, 10]
    last = m.points[-1]
    assert (last.fluctuation_low, last.fluctuation_high) == (10.0, 16.0)
    assert last.event.startswith("setback")
    assert [s.category.value for s in m.stressors] == ["family"]
    assert m.summary is not None
    assert "setback" in m.summary.client
    assert m.latest
    assert all(e.therapist is None for e in m.latest)
    assert any(e.topic == "context" for e in m.latest)


def test_growth_week_by_week_with_kind_highlights(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    for days, helped in ((2, 7), (3, 8), (10, 5)):
        journal.add_skill_practice(
            f,
            me,
            cid,
            skill_id="grounding",
            helpfulness=helped,
            practiced_at=NOW - timedelta(days=days),
            now=NOW,
        )
    journal.add_self_care(
        f, me, cid, done_on=NOW.date() - timedelta(days=1), activity="yoga", restorative=8, now=NOW
    )
    s = journal.add_supporter(f, me, cid, name="Ann", relation="friend", now=NOW)
    journal.add_support_contact(f, me, cid, supporter_id=s.id, contacted_on=NOW.date(), now=NOW)
    journal.add_reflection(f, me, cid, what_i_learned="rest helps", now=NOW)
    g = goals.create_goal(
        f, me, cid, GoalInput("g", "m", LEVELS, 1, 1, steps=(StepInput("x"),)), now=NOW
    )
    goals.set_step_done(f, me, g.steps[0].id, now=NOW)
    grow = progress.growth(f, me, cid, weeks=4, now=NOW)
    assert [w.week_start for w in grow.weeks] == [
        date(2024, 5, 13),
        date(2024, 5, 20),
        date(2024, 5, 27),
        date(2024, 6, 3),
    ]
    assert [w.skill_practice for w in grow.weeks] == [0, 1, 2, 0]
    assert grow.weeks[2].mean_helpfulness == 7.5
    assert grow.weeks[3].support_contacts == 1
    assert grow.weeks[3].steps_done == 1
    assert len(grow.highlights) == 6
    for sentence in grow.highlights:
        assert sentence.startswith(("You", "On average"))
        assert textstat.flesch_kincaid_grade(sentence) <= 8
    ther = progress.growth(f, world.actor("ther_a"), cid, weeks=4, now=NOW)
    assert ther.weeks[3].reflections is None  # reflections are private by default
    assert all(h.startswith(("The client", "On average")) for h in ther.highlights)


def test_only_one_measure_is_the_same_measure(world: World) -> None:
    """A chart asks for one measure (`only`): the same as in the full list, nothing else."""
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    world.series("client_a1", [20, 16, 13, 10, 12, 16], start=NOW - timedelta(weeks=6))
    for weeks, item in ((3, 2), (2, 1), (1, 1)):
        answers = {f"item_{i}": item for i in range(1, 8)}
        world.checkin("client_a1", answers, NOW - timedelta(weeks=weeks), instrument="gad7")
    every = {m.instrument_id: m for m in progress.my_progress(f, me, cid)}
    assert set(every) == {"phq9", "gad7"}
    for iid, m in every.items():
        assert progress.my_progress(f, me, cid, only=iid) == (m,)
    assert progress.my_progress(f, me, cid, only="srs") == ()
