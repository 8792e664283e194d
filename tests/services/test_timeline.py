"""The client timeline: every stream on one time axis."""

from __future__ import annotations

from datetime import date, timedelta

from service_world import NOW, World, phq9_total

from twostep.domain.records import EntryKind
from twostep.services import goals, journal, timeline
from twostep.services.goals import GoalInput, StepInput

LEVELS = {-2: "a", -1: "b", 0: "c", 1: "d", 2: "e"}


def _fill(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    d = NOW - timedelta(days=10)
    world.checkin("client_a1", phq9_total(15), d)
    world.checkin("client_a1", phq9_total(12, 1), d + timedelta(days=7))
    journal.add_journal_entry(
        f, me, cid, mood=6, text="a walk", created_at=d + timedelta(days=1), now=NOW
    )
    journal.add_reflection(
        f, me, cid, what_helped="talking", created_at=d + timedelta(days=2), now=NOW
    )
    journal.add_stressor(
        f, me, cid, category="work", severity=3, started_on=date(2024, 5, 26), now=NOW
    )
    journal.add_self_care(
        f, me, cid, done_on=date(2024, 5, 27), activity="sleep", minutes=30, now=NOW
    )
    journal.add_skill_practice(
        f, me, cid, skill_id="grounding", practiced_at=d + timedelta(days=3), now=NOW
    )
    journal.add_thought_record(
        f,
        me,
        cid,
        situation="s",
        automatic_thought="t",
        emotion="e",
        intensity=60,
        created_at=d + timedelta(days=4),
        now=NOW,
    )
    s = journal.add_supporter(f, me, cid, name="Ann", relation="friend", now=d)
    journal.add_support_contact(
        f, me, cid, supporter_id=s.id, contacted_on=date(2024, 5, 29), now=NOW
    )
    g = goals.create_goal(
        f, me, cid, GoalInput("g", "m", LEVELS, 1, 1, steps=(StepInput("one"),)), now=d
    )
    goals.set_step_done(f, me, g.steps[0].id, now=d + timedelta(days=5))
    goals.record_review(
        f, world.actor("ther_a"), g.goal.id, 0, reviewed_at=d + timedelta(days=6), now=NOW
    )
    journal.add_session_topic(f, me, cid, "my sleep", now=d + timedelta(days=8))
    world.appointment("client_a1", d + timedelta(days=9))


def test_every_stream_on_one_axis_for_the_therapist(world: World) -> None:
    _fill(world)
    journal.set_sharing(
        world.factory,
        world.actor("client_a1"),
        world.id("client_a1"),
        EntryKind.THOUGHT_RECORDS,
        True,
    )
    journal.set_sharing(
        world.factory,
        world.actor("client_a1"),
        world.id("client_a1"),
        EntryKind.SETBACK_REFLECTIONS,
        True,
    )
    tl = timeline.client_timeline(world.factory, world.actor("ther_a"), world.id("client_a1"))
    streams = {i.stream for i in tl.items}
    assert streams == set(timeline.STREAMS)
    times = [i.at for i in tl.items]
    assert times == sorted(times)
    scores = [i.score for i in tl.items if i.stream == "score"]
    assert all(s is not None and s.signals is not None for s in scores)
    assert scores[-1] is not None
    assert scores[-1].explanations[0].topic == "status" or scores[-1].explanations
    assert tl.private_kinds == (EntryKind.JOURNAL_TEXT,)
    [entry] = [i.record for i in tl.items if i.stream == "journal"]
    assert entry.text == ""  # type: ignore[union-attr]


def test_the_client_sees_everything_but_alerts(world: World) -> None:
    _fill(world)
    tl = timeline.client_timeline(world.factory, world.actor("client_a1"), world.id("client_a1"))
    streams = {i.stream for i in tl.items}
    assert "alert" not in streams
    assert set(timeline.STREAMS) - {"alert"} == streams
    assert tl.private_kinds == ()
    score = next(i.score for i in tl.items if i.stream == "score")
    assert score is not None
    assert all(e.therapist is None for e in score.explanations)


def test_a_window(world: World) -> None:
    _fill(world)
    since = NOW - timedelta(days=4)
    tl = timeline.client_timeline(
        world.factory, world.actor("client_a1"), world.id("client_a1"), since=since, until=NOW
    )
    assert tl.items
    assert all(since <= i.at < NOW for i in tl.items)


def test_scores_of_every_episode_are_analysed_per_episode(world: World) -> None:
    from twostep.services import episodes

    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    world.series("client_a1", [15, 14], start=NOW - timedelta(days=60))
    episodes.close_episode(
        f, ther, world.episodes["client_a1"].id, date(2024, 5, 1), "completed", now=NOW
    )
    episodes.open_episode(f, ther, cid, date(2024, 5, 20), now=NOW)
    world.checkin("client_a1", phq9_total(16), NOW - timedelta(days=2))
    tl = timeline.client_timeline(f, ther, cid)
    labels = [i.score.signals.status for i in tl.items if i.score and i.score.signals]
    assert labels == ["baseline", "unchanged", "baseline"]
