"""Validation of what clients write between sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from service_world import NOW, World

from twostep.domain.records import EntryKind
from twostep.errors import ConflictError, ValidationError
from twostep.services import journal

BAD: dict[str, Callable[..., object]] = {
    "mood above 10": lambda f, a, c: journal.add_journal_entry(f, a, c, mood=11, now=NOW),
    "mood as text": lambda f, a, c: journal.add_journal_entry(f, a, c, mood="5", now=NOW),
    "mood as bool": lambda f, a, c: journal.add_journal_entry(f, a, c, mood=True, now=NOW),
    "empty entry": lambda f, a, c: journal.add_journal_entry(f, a, c, text="  ", now=NOW),
    "text too long": lambda f, a, c: journal.add_journal_entry(f, a, c, text="x" * 10_001, now=NOW),
    "emotions as text": lambda f, a, c: journal.add_journal_entry(f, a, c, emotions="sad", now=NOW),
    "naive time": lambda f, a, c: journal.add_journal_entry(
        f, a, c, mood=3, created_at=datetime(2024, 6, 1, 9), now=NOW
    ),
    "future time": lambda f, a, c: journal.add_journal_entry(
        f, a, c, mood=3, created_at=NOW + timedelta(hours=1), now=NOW
    ),
    "empty reflection": lambda f, a, c: journal.add_reflection(f, a, c, now=NOW),
    "stressor category": lambda f, a, c: journal.add_stressor(
        f, a, c, category="school", severity=3, started_on=date(2024, 6, 1), now=NOW
    ),
    "stressor severity": lambda f, a, c: journal.add_stressor(
        f, a, c, category="work", severity=6, started_on=date(2024, 6, 1), now=NOW
    ),
    "stressor ends first": lambda f, a, c: journal.add_stressor(
        f,
        a,
        c,
        category="work",
        severity=3,
        started_on=date(2024, 6, 1),
        ended_on=date(2024, 5, 1),
        now=NOW,
    ),
    "self-care activity": lambda f, a, c: journal.add_self_care(
        f, a, c, done_on=date(2024, 6, 1), activity="shopping", now=NOW
    ),
    "restorative range": lambda f, a, c: journal.add_self_care(
        f, a, c, done_on=date(2024, 6, 1), activity="sleep", restorative=-1, now=NOW
    ),
    "self-care next week": lambda f, a, c: journal.add_self_care(
        f, a, c, done_on=date(2024, 6, 10), activity="sleep", now=NOW
    ),
    "minutes": lambda f, a, c: journal.add_self_care(
        f, a, c, done_on=date(2024, 6, 1), activity="sleep", minutes=2000, now=NOW
    ),
    "unknown skill": lambda f, a, c: journal.add_skill_practice(f, a, c, skill_id="yodel", now=NOW),
    "helpfulness": lambda f, a, c: journal.add_skill_practice(
        f, a, c, skill_id="grounding", helpfulness=11, now=NOW
    ),
    "thought record": lambda f, a, c: journal.add_thought_record(
        f, a, c, situation="", automatic_thought="t", emotion="e", intensity=101, now=NOW
    ),
    "supporter kinds": lambda f, a, c: journal.add_supporter(
        f, a, c, name="Ann", relation="friend", support_kinds=("money",), now=NOW
    ),
    "supporter name": lambda f, a, c: journal.add_supporter(
        f, a, c, name="", relation="x", now=NOW
    ),
    "topic": lambda f, a, c: journal.add_session_topic(f, a, c, "", now=NOW),
    "sharing kind": lambda f, a, c: journal.set_sharing(f, a, c, "diary", True, now=NOW),
    "sharing value": lambda f, a, c: journal.set_sharing(f, a, c, "mood", "yes", now=NOW),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_rejected_and_nothing_is_stored(world: World, case: str) -> None:
    with pytest.raises(ValidationError) as err:
        BAD[case](world.factory, world.actor("client_a1"), world.id("client_a1"))
    assert err.value.problems
    for table in ("journal", "reflections", "stressors", "self_care", "skill_practice", "topics"):
        assert world.store.rows(table) == []


def test_good_entries_are_stored_as_given(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    e = journal.add_journal_entry(
        f, me, cid, mood=0, emotions=(" calm ", "calm", "hopeful"), text=" ok ", now=NOW
    )
    assert (e.mood, e.emotions, e.text, e.created_at) == (0, ("calm", "hopeful"), "ok", NOW)
    s = journal.add_stressor(
        f, me, cid, category="financial", severity=5, started_on=date(2024, 7, 1), now=NOW
    )
    assert s.started_on == date(2024, 7, 1)  # a planned event may lie ahead
    ended = journal.end_stressor(f, me, s.id, date(2024, 7, 2), now=NOW + timedelta(days=40))
    assert ended.ended_on == date(2024, 7, 2)
    sup = journal.add_supporter(
        f,
        me,
        cid,
        name="Walking group",
        relation="group",
        support_kinds=("company",),
        is_group=True,
        now=NOW,
    )
    c = journal.add_support_contact(
        f,
        me,
        cid,
        supporter_id=sup.id,
        contacted_on=date(2024, 6, 2),
        mode="group",
        helpful=9,
        now=NOW,
    )
    assert c.supporter_id == sup.id
    assert journal.list_support_contacts(f, world.actor("ther_a"), cid) == (c,)


def test_topics_are_marked_addressed_once(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    t = journal.add_session_topic(f, me, cid, "sleep", now=NOW)
    journal.mark_topic_addressed(f, world.actor("ther_a"), t.id, now=NOW)
    assert journal.list_session_topics(f, me, cid, open_only=True) == ()
    with pytest.raises(ConflictError):
        journal.mark_topic_addressed(f, me, t.id, now=NOW)


def test_sharing_choices_are_read_with_defaults(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    journal.set_sharing(f, me, cid, "journal_text", True, now=NOW)
    sharing = journal.get_sharing(f, world.actor("ther_a"), cid)
    assert sharing[EntryKind.JOURNAL_TEXT] is True
    assert sharing[EntryKind.THOUGHT_RECORDS] is False
