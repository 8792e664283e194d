"""The client's sharing choices are enforced for therapists in every query."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from service_world import NOW, World

from twostep.domain.records import DEFAULT_SHARING, EntryKind
from twostep.errors import NotFoundError
from twostep.services import goals, journal, progress, session_prep, timeline
from twostep.services.goals import GoalInput

LEVELS = {-2: "never", -1: "rarely", 0: "weekly", 1: "twice a week", 2: "daily"}


def canary(kind: EntryKind) -> str:
    return f"CANARY-{kind.value}"


def _write(world: World, kind: EntryKind) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    mark = canary(kind)
    day = NOW.date() - timedelta(days=2)
    when = NOW - timedelta(days=2)
    if kind is EntryKind.SETBACK_REFLECTIONS:
        journal.add_reflection(f, me, cid, what_happened=mark, created_at=when, now=NOW)
    elif kind is EntryKind.STRESSORS:
        journal.add_stressor(
            f, me, cid, category="work", severity=4, started_on=day, description=mark, now=NOW
        )
    elif kind is EntryKind.SELF_CARE:
        journal.add_self_care(
            f, me, cid, done_on=day, activity="nature", restorative=7, note=mark, now=NOW
        )
    elif kind is EntryKind.SKILL_PRACTICE:
        journal.add_skill_practice(
            f, me, cid, skill_id="grounding", helpfulness=6, note=mark, practiced_at=when, now=NOW
        )
    elif kind is EntryKind.THOUGHT_RECORDS:
        journal.add_thought_record(
            f,
            me,
            cid,
            situation=mark,
            automatic_thought="I always fail",
            emotion="sad",
            intensity=80,
            created_at=when,
            now=NOW,
        )
    elif kind is EntryKind.SUPPORT_NETWORK:
        s = journal.add_supporter(f, me, cid, name=mark, relation="sister", now=NOW)
        journal.add_support_contact(
            f, me, cid, supporter_id=s.id, contacted_on=day, helpful=8, now=NOW
        )
    elif kind is EntryKind.GOALS:
        goals.create_goal(
            f,
            me,
            cid,
            GoalInput(mark, "walks per week", LEVELS, importance=2, difficulty=2),
            now=when,
        )
    elif kind is EntryKind.SESSION_TOPICS:
        journal.add_session_topic(f, me, cid, mark, now=when)
    else:  # journal text and mood
        journal.add_journal_entry(
            f, me, cid, mood=4, emotions=("tired",), text=mark, created_at=when, now=NOW
        )


LISTS: dict[EntryKind, list[Callable[..., tuple[object, ...]]]] = {
    EntryKind.SETBACK_REFLECTIONS: [journal.list_reflections],
    EntryKind.STRESSORS: [journal.list_stressors],
    EntryKind.SELF_CARE: [journal.list_self_care],
    EntryKind.SKILL_PRACTICE: [journal.list_skill_practice],
    EntryKind.THOUGHT_RECORDS: [journal.list_thought_records],
    EntryKind.SUPPORT_NETWORK: [journal.list_supporters, journal.list_support_contacts],
    EntryKind.GOALS: [goals.list_goals],
    EntryKind.SESSION_TOPICS: [journal.list_session_topics],
}


def _share(world: World, kind: EntryKind, shared: bool) -> None:
    journal.set_sharing(
        world.factory, world.actor("client_a1"), world.id("client_a1"), kind, shared, now=NOW
    )


@pytest.mark.parametrize("kind", sorted(LISTS))
@pytest.mark.parametrize("shared", [True, False])
def test_every_kind_follows_the_choice(world: World, kind: EntryKind, shared: bool) -> None:
    _write(world, kind)
    _share(world, kind, shared)
    f, cid = world.factory, world.id("client_a1")
    for listing in LISTS[kind]:
        assert len(listing(f, world.actor("client_a1"), cid)) >= 1  # the client sees it all
        seen = listing(f, world.actor("ther_a"), cid)
        assert bool(seen) is shared
    tl = timeline.client_timeline(f, world.actor("ther_a"), cid)
    assert (canary(kind) in repr(tl)) is shared
    assert (kind in tl.private_kinds) is (not shared)
    prep = session_prep.prepare_session(f, world.actor("ther_a"), cid, now=NOW)
    if not shared:
        assert canary(kind) not in repr(prep)
        assert kind in prep.private_kinds
    grow = progress.growth(f, world.actor("ther_a"), cid, now=NOW)
    assert canary(kind) not in repr(grow)


def test_defaults_keep_journal_text_private_and_share_mood(world: World) -> None:
    assert DEFAULT_SHARING[EntryKind.JOURNAL_TEXT] is False
    assert DEFAULT_SHARING[EntryKind.MOOD] is True
    _write(world, EntryKind.JOURNAL_TEXT)
    f, cid = world.factory, world.id("client_a1")
    [mine] = journal.list_journal(f, world.actor("client_a1"), cid)
    assert mine.text == canary(EntryKind.JOURNAL_TEXT)
    [theirs] = journal.list_journal(f, world.actor("ther_a"), cid)
    assert theirs.text == ""
    assert theirs.mood == 4
    assert theirs.emotions == ("tired",)
    for view in (
        timeline.client_timeline(f, world.actor("ther_a"), cid),
        session_prep.prepare_session(f, world.actor("ther_a"), cid, now=NOW),
        journal.get_journal_entry(f, world.actor("ther_a"), theirs.id),
    ):
        assert canary(EntryKind.JOURNAL_TEXT) not in repr(view)


@pytest.mark.parametrize(
    ("text", "mood", "expect_text", "expect_mood"),
    [
        (True, True, True, True),
        (True, False, True, False),
        (False, True, False, True),
    ],
)
def test_journal_parts_follow_their_own_choices(
    world: World, text: bool, mood: bool, expect_text: bool, expect_mood: bool
) -> None:
    _write(world, EntryKind.JOURNAL_TEXT)
    _share(world, EntryKind.JOURNAL_TEXT, text)
    _share(world, EntryKind.MOOD, mood)
    [e] = journal.list_journal(world.factory, world.actor("ther_a"), world.id("client_a1"))
    assert (e.text == canary(EntryKind.JOURNAL_TEXT)) is expect_text
    assert (e.mood == 4) is expect_mood
    assert bool(e.emotions) is expect_mood


def test_a_journal_shared_in_no_part_is_not_returned_at_all(world: World) -> None:
    _write(world, EntryKind.JOURNAL_TEXT)
    _share(world, EntryKind.MOOD, False)
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    assert journal.list_journal(f, ther, cid) == ()
    [mine] = journal.list_journal(f, world.actor("client_a1"), cid)
    with pytest.raises(NotFoundError):
        journal.get_journal_entry(f, ther, mine.id)
    prep = session_prep.prepare_session(f, ther, cid, now=NOW)
    assert prep.journal_entries is None
    assert prep.mean_mood is None
    tl = timeline.client_timeline(f, ther, cid)
    assert not [i for i in tl.items if i.stream == "journal"]


def test_hidden_goals_cannot_be_reached_by_id(world: World) -> None:
    _write(world, EntryKind.GOALS)
    _share(world, EntryKind.GOALS, False)
    f, cid = world.factory, world.id("client_a1")
    [view] = goals.list_goals(f, world.actor("client_a1"), cid)
    with pytest.raises(NotFoundError):
        goals.record_review(f, world.actor("ther_a"), view.goal.id, 0)
    assert goals.gas_trend(f, world.actor("ther_a"), cid).points == ()


def test_unshared_stressors_are_left_out_of_the_context(world: World) -> None:
    f, cid = world.factory, world.id("client_a1")
    journal.add_stressor(
        f,
        world.actor("client_a1"),
        cid,
        category="financial",
        severity=5,
        started_on=date(2024, 5, 30),
        now=NOW,
    )
    _share(world, EntryKind.STRESSORS, False)
    prep = session_prep.prepare_session(f, world.actor("ther_a"), cid, now=NOW)
    assert prep.stressors == ()
    life = next(s for s in prep.suggestions if s.area == "life_events")
    assert "financial" not in life.finding
