"""Exactly one audit event per service call, never with clinical content, failing closed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from service_world import NOW, World, phq9_total

from twostep.domain.records import Role
from twostep.errors import (
    AccessDeniedError,
    NotFoundError,
    StorageError,
    TwostepError,
    ValidationError,
)
from twostep.services import (
    alerts,
    alliance_followup,
    appointments,
    checkin,
    episodes,
    goals,
    journal,
    progress,
    session_prep,
    setback_context,
    timeline,
    triage,
)
from twostep.services.audit import access_log
from twostep.services.goals import GoalInput

MARKER = "CANARY-7f3a-journal"
LEVELS = {-2: MARKER, -1: MARKER, 0: MARKER, 1: MARKER, 2: MARKER}


def _calls(w: World) -> list[tuple[str, Callable[[], object]]]:
    f = w.factory
    me, ther, cid = w.actor("client_a1"), w.actor("ther_a"), w.id("client_a1")
    first = w.series("client_a1", [18, 17, 19, 12])[0].administration
    entry = journal.add_journal_entry(f, me, cid, mood=5, text=MARKER, now=NOW)
    topic = journal.add_session_topic(f, me, cid, MARKER, now=NOW)
    goal = goals.create_goal(f, me, cid, GoalInput(MARKER, MARKER, LEVELS, 2, 2), now=NOW)
    sup = journal.add_supporter(f, me, cid, name=MARKER, relation=MARKER, now=NOW)
    ap = appointments.schedule(f, ther, cid, NOW + timedelta(days=2), now=NOW)
    risk = w.checkin("client_a1", phq9_total(12, 1), NOW - timedelta(hours=1))
    with f() as uow:
        alert = uow.alerts.for_client(cid)[0]
    return [
        ("journal", lambda: journal.add_journal_entry(f, me, cid, text=MARKER, now=NOW)),
        ("list journal", lambda: journal.list_journal(f, ther, cid)),
        ("get journal", lambda: journal.get_journal_entry(f, me, entry.id)),
        ("reflection", lambda: journal.add_reflection(f, me, cid, what_happened=MARKER, now=NOW)),
        (
            "stressor",
            lambda: journal.add_stressor(
                f,
                me,
                cid,
                category="health",
                severity=3,
                started_on=date(2024, 6, 1),
                description=MARKER,
                now=NOW,
            ),
        ),
        (
            "self-care",
            lambda: journal.add_self_care(
                f, me, cid, done_on=date(2024, 6, 1), activity="sleep", note=MARKER, now=NOW
            ),
        ),
        (
            "skill",
            lambda: journal.add_skill_practice(
                f, me, cid, skill_id="paced_breathing", note=MARKER, now=NOW
            ),
        ),
        (
            "thought record",
            lambda: journal.add_thought_record(
                f,
                me,
                cid,
                situation=MARKER,
                automatic_thought=MARKER,
                emotion=MARKER,
                intensity=50,
                now=NOW,
            ),
        ),
        (
            "contact",
            lambda: journal.add_support_contact(
                f, me, cid, supporter_id=sup.id, contacted_on=date(2024, 6, 2), now=NOW
            ),
        ),
        ("topic", lambda: journal.mark_topic_addressed(f, ther, topic.id, now=NOW)),
        ("sharing", lambda: journal.set_sharing(f, me, cid, "journal_text", True, now=NOW)),
        ("goal review", lambda: goals.record_review(f, ther, goal.goal.id, 1, notes=MARKER)),
        ("gas", lambda: goals.gas_trend(f, ther, cid)),
        ("check-in", lambda: w.checkin("client_a1", phq9_total(10), NOW)),
        ("timeline", lambda: timeline.client_timeline(f, ther, cid)),
        ("triage", lambda: triage.caseload_triage(f, ther, now=NOW)),
        ("prep", lambda: session_prep.prepare_session(f, ther, cid, now=NOW)),
        ("progress", lambda: progress.my_progress(f, me, cid)),
        ("growth", lambda: progress.growth(f, me, cid, now=NOW)),
        ("context", lambda: setback_context.setback_context(f, ther, first.id)),
        ("alliance", lambda: alliance_followup.alliance_follow_up(f, ther, cid)),
        ("ack", lambda: alerts.acknowledge(f, ther, alert.id, now=NOW)),
        ("resolve", lambda: alerts.resolve(f, ther, alert.id, MARKER, now=NOW)),
        ("attend", lambda: appointments.mark_attended(f, ther, ap.id, focus_tags=("sleep",))),
        ("episodes", lambda: episodes.list_episodes(f, me, cid)),
        ("access log", lambda: access_log(f, me, cid)),
        ("denied", lambda: journal.list_journal(f, w.actor("ther_b"), cid)),
        ("role denied", lambda: journal.list_journal(f, w.actor("admin"), cid)),
        ("invalid", lambda: journal.add_journal_entry(f, me, cid, mood=11, text=MARKER)),
        (
            "amend",
            lambda: checkin.amend_administration(f, me, risk.administration.id, phq9_total(9)),
        ),
    ]


def test_every_call_records_exactly_one_event_without_content(world: World) -> None:
    calls = _calls(world)
    for name, call in calls:
        before = len(world.store.audit_events)
        with contextlib.suppress(TwostepError):
            call()
        events = world.store.audit_events[before:]
        assert len(events) == 1, name
        event = events[0]
        assert event.actor_id is not None
        assert event.at is not None
        assert MARKER not in repr(event), name
    assert MARKER not in repr(world.store.audit_events)


def test_outcomes_name_what_happened(world: World) -> None:
    f, cid = world.factory, world.id("client_a1")
    journal.list_journal(f, world.actor("ther_a"), cid)
    with pytest.raises(NotFoundError):
        journal.list_journal(f, world.actor("ther_b"), cid)
    with pytest.raises(AccessDeniedError):
        journal.list_journal(f, world.actor("admin"), cid)
    with pytest.raises(ValidationError):
        journal.add_journal_entry(f, world.actor("client_a1"), cid, mood=-1)
    ok, denied, role, error = world.store.audit_events[-4:]
    assert (ok.outcome, ok.actor_role, ok.action, ok.object_type, ok.client_id) == (
        "ok",
        "therapist",
        "read",
        "journal_entry",
        cid,
    )
    assert (denied.outcome, denied.actor_role) == ("denied", "therapist")
    assert (role.outcome, role.actor_role) == ("denied", Role.ADMIN.value)
    assert (error.outcome, error.action, error.actor_role) == ("error", "create", "client")


def test_a_write_that_is_refused_leaves_nothing_but_the_audit_event(world: World) -> None:
    f, cid = world.factory, world.id("client_a1")
    with pytest.raises(ValidationError):
        journal.add_journal_entry(f, world.actor("client_a1"), cid, text="x" * 10_001)
    assert world.store.rows("journal") == []


def test_the_audit_trail_failing_fails_the_read(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    journal.add_journal_entry(f, me, cid, text=MARKER, now=NOW)
    world.store.fail_audit = True
    with pytest.raises(StorageError):
        journal.list_journal(f, me, cid)
    with pytest.raises(StorageError):
        journal.list_journal(f, world.actor("ther_b"), cid)  # denied, and not recordable


def test_the_audit_trail_failing_fails_the_write(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    world.store.fail_audit = True
    commits = world.store.commits
    with pytest.raises(StorageError):
        journal.add_journal_entry(f, me, cid, text=MARKER, now=NOW)
    with pytest.raises(StorageError):
        world.checkin("client_a1", phq9_total(12, 2), NOW)
    assert world.store.rows("journal") == []
    assert world.store.rows("administrations") == []
    assert world.store.rows("alerts") == []
    assert world.store.commits == commits


def test_the_client_sees_who_accessed_their_record(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    journal.list_journal(f, world.actor("ther_a"), cid)
    log = access_log(f, me, cid)
    assert [(e.who, e.role, e.action) for e in log[:1]] == [("Ther A", "therapist", "read")]
    with pytest.raises(AccessDeniedError):
        access_log(f, world.actor("ther_a"), cid)
    with pytest.raises(NotFoundError):
        access_log(f, world.actor("client_a2"), cid)
