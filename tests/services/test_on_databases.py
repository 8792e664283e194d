"""The main service flows end to end on SQLite and PostgreSQL (not the fakes).

The other service tests run on the in-memory fakes; these run the same use
cases through `SqlUnitOfWorkFactory` on the ``engine`` fixture of
``tests/conftest.py`` (a SQLite file, and a PostgreSQL database the test
set-up starts itself), plus one flow on a schema made by the shipped
migrations. Assertions read back what the database holds: the stored
administrations and alerts, the audit trail row by row, and — on SQLite — the
raw bytes of the database file and its WAL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from service_world import CRISIS, DELAY, NOW, World, phq9, phq9_total

from twostep.analytics import pipeline
from twostep.domain.records import (
    AlertKind,
    AlertStatus,
    AppointmentStatus,
    Assignment,
    Clinic,
    EntryKind,
    Episode,
    Role,
    User,
    new_id,
)
from twostep.errors import AccessDeniedError, ConflictError, NotFoundError, TwostepError
from twostep.services import (
    alerts,
    checkin,
    goals,
    journal,
    session_prep,
    timeline,
    triage,
)
from twostep.services.assignments import end_assignment
from twostep.services.goals import GoalInput, StepInput
from twostep.storage import SqlUnitOfWorkFactory, make_engine, upgrade, verify_chain
from twostep.storage.tables import audit_log

T = TypeVar("T")

MARKER = "CANARY-db-5e1d-journal"
LEVELS = {-2: "none", -1: "one", 0: "two", 1: "three", 2: "four or more"}


# ----------------------------------------------------------------------------- the world


def seed_world(factory: SqlUnitOfWorkFactory) -> World:
    """One clinic: an admin, two therapists, two clients of therapist A (and one of B)."""
    clinic = Clinic(new_id(), "one", CRISIS, DELAY, created_at=NOW - timedelta(days=500))
    clinic2 = Clinic(new_id(), "two", "Call 988.", "", created_at=NOW - timedelta(days=500))
    w = World(factory, clinic, clinic2)  # type: ignore[arg-type]
    people = {
        "admin": (Role.ADMIN,),
        "ther_a": (Role.THERAPIST,),
        "ther_b": (Role.THERAPIST,),
        "client_a1": (Role.CLIENT,),
        "client_a2": (Role.CLIENT,),
        "client_b1": (Role.CLIENT,),
    }
    with factory() as uow:
        uow.clinics.add(clinic)
        uow.clinics.add(clinic2)
        for name, roles in people.items():
            user = User(
                new_id(), clinic.id, f"{name}@one.example", name.replace("_", " ").title(),
                frozenset(roles), True, NOW - timedelta(days=400),
            )  # fmt: skip
            w.users[name] = uow.users.add(user)
        for therapist, client in (
            ("ther_a", "client_a1"),
            ("ther_a", "client_a2"),
            ("ther_b", "client_b1"),
        ):
            a = Assignment(
                new_id(), clinic.id, w.id(therapist), w.id(client), NOW - timedelta(days=200)
            )
            w.assignments[client] = uow.assignments.add(a)
            ep = Episode(new_id(), clinic.id, w.id(client), date(2024, 1, 2))
            w.episodes[client] = uow.episodes.add(ep)
        uow.commit()
    return w


@pytest.fixture
def factory(engine: sa.Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


@pytest.fixture
def world(factory: SqlUnitOfWorkFactory) -> World:
    """Overrides the fake world of conftest.py: the same people, in the database."""
    return seed_world(factory)


def stored_alerts(w: World, name: str) -> list[Any]:
    with w.factory() as uow:
        return uow.alerts.for_client(w.id(name))


def kinds(w: World, name: str) -> list[tuple[AlertKind, str, int]]:
    return sorted((a.kind, a.rule, a.level) for a in stored_alerts(w, name))


# ------------------------------------------------------------------------------ check-ins


def test_checkins_risk_item_and_deterioration_alerts_are_stored(world: World) -> None:
    w = world
    week = timedelta(weeks=1)
    start = NOW - 4 * week
    first = w.checkin("client_a1", phq9_total(10, 0), start)
    assert (first.administration.risk, first.administration.risk_not_assessed) == (False, False)
    assert stored_alerts(w, "client_a1") == []

    risky = w.checkin("client_a1", phq9_total(12, 1), start + week)
    assert risky.show_crisis_resources is True
    assert risky.crisis_text == CRISIS
    [risk] = stored_alerts(w, "client_a1")
    assert (risk.kind, risk.level, risk.status) == (AlertKind.RISK, 1, AlertStatus.OPEN)
    assert risk.administration_id == risky.administration.id
    assert risk.parameters["items"] == ["item_9"]

    blank = w.checkin("client_a1", phq9([2, 2, 2, 2, 1, 1, 1, 1, None]), start + 2 * week)
    assert blank.administration.risk_not_assessed is True
    assert blank.administration.total is None  # item 9 is never prorated
    missing = [a for a in stored_alerts(w, "client_a1") if a.kind is AlertKind.RISK_NOT_ASSESSED]
    assert [(a.level, a.administration_id) for a in missing] == [(1, blank.administration.id)]

    worse = w.checkin("client_a1", phq9_total(18, 0), start + 3 * week)
    assert worse.signals is not None
    assert worse.signals.status == "deteriorated"
    assert (AlertKind.DETERIORATION, "deterioration_first_signal", 1) in kinds(w, "client_a1")
    worst = w.checkin("client_a1", phq9_total(19, 0), start + 4 * week)
    assert worst.signals is not None
    assert (AlertKind.DETERIORATION, "deterioration_confirmed", 2) in kinds(w, "client_a1")
    # stored as submitted, in time order, with instants in UTC
    with w.factory() as uow:
        history = uow.administrations.history(w.id("client_a1"), "phq9")
    assert [a.id for a in history] == [
        x.administration.id for x in (first, risky, blank, worse, worst)
    ]
    assert history[1] == risky.administration
    assert all(a.completed_at.tzinfo is UTC for a in history)
    assert [a.episode_id for a in history] == [w.episodes["client_a1"].id] * 5


def test_an_srs_rupture_raises_an_alliance_alert(world: World) -> None:
    srs = [38.0, 38.5, 38.0, 31.0]
    for k, total in enumerate(srs):
        w_ = world.checkin(
            "client_a1",
            {f"item_{i}": total / 4 for i in range(1, 5)},
            NOW - timedelta(weeks=len(srs) - k),
            instrument="srs",
            by="ther_a",
        )
    [rupture] = [
        a for a in stored_alerts(world, "client_a1") if a.kind is AlertKind.ALLIANCE_RUPTURE
    ]
    assert rupture.rule == "alliance_rupture"
    assert rupture.administration_id == w_.administration.id
    assert w_.alerts == (rupture,)  # the therapist caller sees the alert it created


def test_the_kernel_failing_still_stores_the_submission_and_the_risk_alert(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.series("client_a1", [16, 15])

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("kernel down")

    monkeypatch.setattr(pipeline, "analyze_batch", broken)
    monkeypatch.setattr("twostep.services.histories.analyze_batch", broken)
    res = world.checkin("client_a1", phq9_total(14, 2), NOW)
    assert res.analysis_failed is True
    assert res.signals is None
    assert res.show_crisis_resources is True
    with world.factory() as uow:
        stored = uow.administrations.for_client(world.id("client_a1"))
        assert res.administration in stored
        assert len(stored) == 3
        [alert] = uow.alerts.for_client(world.id("client_a1"))
    assert (alert.kind, alert.level, alert.administration_id) == (
        AlertKind.RISK,
        2,
        res.administration.id,
    )


def test_amending_an_administration_adds_a_new_version(world: World) -> None:
    f, me = world.factory, world.actor("client_a1")
    old = world.checkin("client_a1", phq9_total(12, 1), NOW - timedelta(days=1)).administration
    fixed = checkin.amend_administration(f, me, old.id, phq9_total(9, 0), now=NOW).administration
    assert (fixed.version, fixed.supersedes_id, fixed.total) == (2, old.id, 9.0)
    assert fixed.completed_at == old.completed_at
    with f() as uow:
        assert uow.administrations.get(old.id) == old  # the old version stays stored
        assert uow.administrations.history(world.id("client_a1"), "phq9") == [fixed]
    with pytest.raises(ConflictError):  # only the current version can be corrected
        checkin.amend_administration(f, me, old.id, phq9_total(8, 0), now=NOW)
    # the alert raised by the old version stays until a therapist resolves it
    assert [a.kind for a in stored_alerts(world, "client_a1")] == [AlertKind.RISK]


# ---------------------------------------------------------------- timeline and sharing


def test_the_timeline_enforces_sharing_choices(world: World) -> None:
    f, me, ther, cid = (
        world.factory, world.actor("client_a1"), world.actor("ther_a"), world.id("client_a1"),
    )  # fmt: skip
    world.checkin("client_a1", phq9_total(14), NOW - timedelta(days=3))
    entry = journal.add_journal_entry(
        f, me, cid, mood=6, emotions=("calm",), text=f"walked {MARKER}", now=NOW - timedelta(1)
    )
    journal.add_thought_record(
        f, me, cid, situation="bus", automatic_thought="faint", emotion="fear", intensity=70,
        created_at=NOW - timedelta(hours=5), now=NOW,
    )  # fmt: skip
    world.appointment("client_a1", NOW - timedelta(days=2))

    def journal_items(actor_name: str) -> list[Any]:
        tl = timeline.client_timeline(f, world.actor(actor_name), cid)
        assert [i.at for i in tl.items] == sorted(i.at for i in tl.items)
        return [i for i in tl.items if i.stream == "journal"]

    [mine] = journal_items("client_a1")
    assert mine.record == entry
    tl = timeline.client_timeline(f, ther, cid)
    [theirs] = [i.record for i in tl.items if i.stream == "journal"]
    assert (theirs.mood, theirs.emotions, theirs.text) == (6, ("calm",), "")
    assert {i.stream for i in tl.items} == {"score", "appointment", "journal"}  # no thought record
    assert set(tl.private_kinds) == {
        EntryKind.JOURNAL_TEXT,
        EntryKind.SETBACK_REFLECTIONS,
        EntryKind.THOUGHT_RECORDS,
    }
    assert journal.list_journal(f, ther, cid)[0].text == ""
    journal.set_sharing(f, me, cid, EntryKind.MOOD, False, now=NOW)
    with pytest.raises(NotFoundError):  # neither text nor mood shared: the entry is hidden
        journal.get_journal_entry(f, ther, entry.id)
    assert journal_items("ther_a") == []
    journal.set_sharing(f, me, cid, EntryKind.JOURNAL_TEXT, True, now=NOW)
    [shared] = journal_items("ther_a")
    assert shared.record.text == f"walked {MARKER}"
    assert shared.record.mood is None  # mood is still private
    with pytest.raises(AccessDeniedError):  # only the client chooses
        journal.set_sharing(f, ther, cid, EntryKind.THOUGHT_RECORDS, True, now=NOW)
    assert journal.get_sharing(f, me, cid)[EntryKind.JOURNAL_TEXT] is True


# ------------------------------------------------------------------ triage and prep


def test_triage_puts_risk_first(world: World) -> None:
    world.series("client_a2", [10, 17, 18], start=NOW - timedelta(weeks=3))  # deterioration
    world.checkin("client_a1", phq9_total(8, 1), NOW - timedelta(days=1))  # risk
    result = triage.caseload_triage(world.factory, world.actor("ther_a"), now=NOW)
    first, second = result.entries
    assert first.client_id == world.id("client_a1")
    assert first.reasons[0].code == "risk"
    assert first.reasons[0].alert_ids
    assert second.client_id == world.id("client_a2")
    assert "deterioration" in [r.code for r in second.reasons]
    assert world.id("client_b1") not in [e.client_id for e in result.entries]
    # snoozed after acknowledging, the risk leaves the list; when the snooze runs out it is back
    f, ther = world.factory, world.actor("ther_a")
    [alert] = [a for a in stored_alerts(world, "client_a1") if a.kind is AlertKind.RISK]
    alerts.acknowledge(f, ther, alert.id, now=NOW)
    alerts.snooze(f, ther, alert.id, NOW + timedelta(hours=3), now=NOW)
    again = triage.caseload_triage(f, ther, now=NOW)
    assert [e.client_id for e in again.needing_attention] == [world.id("client_a2")]
    later = triage.caseload_triage(f, ther, now=NOW + timedelta(hours=4))
    assert later.entries[0].client_id == world.id("client_a1")


def test_session_prep_since_the_last_session(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    last = world.appointment("client_a1", NOW - timedelta(days=7))
    nxt = world.appointment("client_a1", NOW + timedelta(days=1), AppointmentStatus.SCHEDULED)
    world.checkin("client_a1", phq9_total(14), NOW - timedelta(days=10))
    world.checkin("client_a1", phq9_total(20), NOW - timedelta(days=2))
    journal.add_session_topic(f, me, cid, "my sister", now=NOW - timedelta(days=1))
    for days, helped in ((8, 2), (5, 6), (4, 8)):
        journal.add_skill_practice(
            f, me, cid, skill_id="paced_breathing", helpfulness=helped,
            practiced_at=NOW - timedelta(days=days), now=NOW,
        )  # fmt: skip
    journal.add_self_care(
        f, me, cid, done_on=date(2024, 6, 1), activity="nature", minutes=40, restorative=7, now=NOW
    )
    journal.add_journal_entry(f, me, cid, mood=3, text=MARKER, now=NOW - timedelta(days=1))
    g = goals.create_goal(
        f, me, cid, GoalInput("g", "m", LEVELS, 1, 1, steps=(StepInput("s1"),)),
        now=NOW - timedelta(days=40),
    )  # fmt: skip
    goals.set_step_done(f, me, g.steps[0].id, now=NOW - timedelta(days=1))
    prep = session_prep.prepare_session(f, world.actor("ther_a"), cid, now=NOW)
    assert prep.last_session == last
    assert prep.next_session == nxt
    assert [s.administration.total for s in prep.new_scores] == [20.0]
    assert [t.text for t in prep.topics] == ["my sister"]
    [skill] = prep.skill_practice
    assert (skill.times, skill.mean_helpfulness) == (2, 7.0)
    [care] = prep.self_care
    assert (care.times, care.minutes, care.mean_restorative) == (1, 40, 7.0)
    assert (prep.journal_entries, prep.mean_mood) == (1, 3.0)
    assert MARKER not in repr(prep)
    assert [s.text for s in prep.steps_done] == ["s1"]
    assert [d.goal_id for d in prep.goal_reviews_due] == [g.goal.id]


# ---------------------------------------------------------------------------- goals


@pytest.mark.parametrize(
    ("levels", "weights", "expected"),
    [
        ([-2, 0, -1, 2, 0, 1], [3, 5, 1, 4, 2, 6], 55.0),
        ([-1, -1, -1], None, 36.31),
        ([2], None, 70.0),
    ],
)
def test_goals_steps_reviews_and_gas_t_scores(
    world: World, levels: list[int], weights: list[float] | None, expected: float
) -> None:
    """The GAS vectors of methods.md §7, through goals stored in the database."""
    f, ther, me, cid = (
        world.factory, world.actor("ther_a"), world.actor("client_a1"), world.id("client_a1"),
    )  # fmt: skip
    made = []
    for i, level in enumerate(levels):
        w = None if weights is None else float(weights[i])
        g = goals.create_goal(
            f, ther, cid,
            GoalInput(
                "Walk in the park", "walks per week", LEVELS, 1, 1, weight=w,
                target_date=date(2024, 9, 1), steps=(StepInput("shoes", date(2024, 5, 20)),),
            ),
            now=NOW - timedelta(days=30),
        )  # fmt: skip
        goals.add_step(f, me, g.goal.id, StepInput("plan a route"))
        goals.set_step_done(f, me, g.steps[0].id, now=NOW - timedelta(days=2))
        goals.record_review(f, ther, g.goal.id, level, notes="reviewed", reviewed_at=NOW, now=NOW)
        made.append(g.goal.id)
    trend = goals.gas_trend(f, ther, cid)
    [point] = trend.points
    assert point.t_score == pytest.approx(expected, abs=0.01)
    assert point.n_goals == len(levels)
    views = goals.list_goals(f, me, cid, now=NOW)
    assert [v.goal.id for v in views] == sorted(made)  # created at the same moment: by id
    for v in views:
        assert v.goal.levels == LEVELS  # integer keys back from the database
        assert [(s.text, s.done) for s in v.steps] == [("plan a route", False), ("shoes", True)]
        assert [r.notes for r in v.reviews] == ["reviewed"]
        assert v.review.last_reviewed_on == NOW.date()


# ---------------------------------------------------------------------------- alerts


def test_alert_acknowledge_snooze_and_resolve_are_stored(world: World) -> None:
    f, ther = world.factory, world.actor("ther_a")
    world.checkin("client_a1", phq9_total(8, 1), NOW - timedelta(hours=2))
    [alert] = stored_alerts(world, "client_a1")
    with pytest.raises(ConflictError):  # a risk alert is acknowledged before it is snoozed
        alerts.snooze(f, ther, alert.id, NOW + timedelta(hours=1), now=NOW)
    with pytest.raises(AccessDeniedError):  # clients never act on (or see) alerts
        alerts.acknowledge(f, world.actor("client_a1"), alert.id, now=NOW)
    alerts.acknowledge(f, ther, alert.id, now=NOW)
    [acked] = stored_alerts(world, "client_a1")
    assert (acked.status, acked.updated_by, acked.updated_at) == (
        AlertStatus.ACKNOWLEDGED,
        world.id("ther_a"),
        NOW,
    )
    until = NOW + timedelta(days=1)
    alerts.snooze(f, ther, alert.id, until, now=NOW)
    [snoozed] = stored_alerts(world, "client_a1")
    assert (snoozed.status, snoozed.snoozed_until) == (AlertStatus.SNOOZED, until)
    alerts.resolve(f, ther, alert.id, f"called {MARKER}; safety plan reviewed", now=NOW)
    [done] = stored_alerts(world, "client_a1")
    assert done.status is AlertStatus.RESOLVED
    assert done.action_taken == f"called {MARKER}; safety plan reviewed"
    with pytest.raises(ConflictError):  # resolved is final
        alerts.acknowledge(f, ther, alert.id, now=NOW)
    with f() as uow:
        assert uow.alerts.open_for_clients([world.id("client_a1")]) == []
    assert alerts.list_alerts(f, ther, world.id("client_a1")) == ()
    assert alerts.list_alerts(f, ther, world.id("client_a1"), include_resolved=True) == (done,)


# ------------------------------------------------------------------------------ access


def test_the_access_policy(world: World) -> None:
    f, cid = world.factory, world.id("client_a1")
    journal.add_journal_entry(f, world.actor("client_a1"), cid, mood=4, now=NOW)
    assert len(timeline.client_timeline(f, world.actor("ther_a"), cid).items) == 1
    with pytest.raises(NotFoundError):  # another client
        timeline.client_timeline(f, world.actor("client_a2"), cid)
    with pytest.raises(NotFoundError):  # a therapist not assigned
        journal.list_journal(f, world.actor("ther_b"), cid)
    with pytest.raises(NotFoundError):  # an id that does not exist: the same error
        journal.list_journal(f, world.actor("ther_a"), new_id())
    with pytest.raises(AccessDeniedError):  # an admin never reaches clinical rows
        journal.list_journal(f, world.actor("admin"), cid)
    # ending the assignment takes effect on the very next call
    end_assignment(f, world.actor("admin"), world.assignments["client_a1"].id)
    with pytest.raises(NotFoundError):
        timeline.client_timeline(f, world.actor("ther_a"), cid)
    with pytest.raises(NotFoundError):
        world.checkin("client_a1", phq9_total(5), NOW, by="ther_a")
    assert [
        c.client_id for c in triage.caseload_triage(f, world.actor("ther_a"), now=None).entries
    ] == [world.id("client_a2")]
    # the client still reaches their own record
    assert journal.list_journal(f, world.actor("client_a1"), cid)[0].mood == 4


# ------------------------------------------------------------------------------- audit


def _audit_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings().all()
    return [dict(r) for r in rows]


@pytest.fixture
def one_audit_row(engine: sa.Engine) -> Callable[[str, Callable[[], T]], T | None]:
    """Run a service call and check that it wrote exactly one audit row, without content."""

    def run(name: str, call: Callable[[], T]) -> T | None:
        before = len(_audit_rows(engine))
        result: T | None = None
        with contextlib.suppress(TwostepError):
            result = call()
        rows = _audit_rows(engine)
        assert len(rows) == before + 1, name
        assert MARKER not in repr(rows[-1]), name
        return result

    return run


def test_one_audit_row_per_call_and_no_clinical_text_anywhere_at_rest(
    world: World, engine: sa.Engine, one_audit_row: Callable[[str, Callable[[], Any]], Any]
) -> None:
    f, me, ther, cid = (
        world.factory, world.actor("client_a1"), world.actor("ther_a"), world.id("client_a1"),
    )  # fmt: skip
    call = one_audit_row
    entry = call(
        "journal", lambda: journal.add_journal_entry(f, me, cid, mood=5, text=MARKER, now=NOW)
    )
    assert entry is not None
    call("topic", lambda: journal.add_session_topic(f, me, cid, f"about {MARKER}", now=NOW))
    call("reflection", lambda: journal.add_reflection(f, me, cid, what_happened=MARKER, now=NOW))
    g = call(
        "goal",
        lambda: goals.create_goal(f, me, cid, GoalInput(MARKER, MARKER, LEVELS, 2, 2), now=NOW),
    )
    call("review", lambda: goals.record_review(f, ther, g.goal.id, 1, notes=MARKER, now=NOW))
    res = call("check-in", lambda: world.checkin("client_a1", phq9_total(12, 1), NOW))
    [alert] = stored_alerts(world, "client_a1")
    call("ack", lambda: alerts.acknowledge(f, ther, alert.id, now=NOW))
    call("resolve", lambda: alerts.resolve(f, ther, alert.id, MARKER, now=NOW))
    call("amend", lambda: checkin.amend_administration(f, me, res.administration.id, phq9_total(9)))
    call("list journal", lambda: journal.list_journal(f, ther, cid))
    call("get journal", lambda: journal.get_journal_entry(f, me, entry.id))
    call("timeline", lambda: timeline.client_timeline(f, ther, cid))
    call("triage", lambda: triage.caseload_triage(f, ther, now=NOW))
    call("prep", lambda: session_prep.prepare_session(f, ther, cid, now=NOW))
    call("share", lambda: journal.set_sharing(f, me, cid, EntryKind.JOURNAL_TEXT, True, now=NOW))
    call("denied", lambda: journal.list_journal(f, world.actor("ther_b"), cid))
    call("role denied", lambda: journal.list_journal(f, world.actor("admin"), cid))
    call("invalid", lambda: journal.add_journal_entry(f, me, cid, mood=11, text=MARKER))
    rows = _audit_rows(engine)
    assert MARKER not in repr(rows)
    outcomes = [r["outcome"] for r in rows]
    assert outcomes[-3:] == ["denied", "denied", "error"]
    assert outcomes[:-3] == ["ok"] * (len(rows) - 3)
    # every call names the client it reached, but triage, which is about a whole caseload
    assert {(r["object_type"], r["client_id"]) for r in rows if r["client_id"] != cid} == {
        ("caseload", None)
    }
    assert all(r["at"] is not None and r["actor_id"] is not None for r in rows)
    assert verify_chain(engine) is None

    # free text is ciphertext in the database: the raw columns never hold the marker
    with engine.connect() as conn:
        for table, column in (
            ("journal_entries", "text"),
            ("session_topics", "text"),
            ("setback_reflections", "what_happened"),
            ("goals", "specific_description"),
            ("goal_reviews", "notes"),
            ("alerts", "action_taken"),
        ):
            raw = conn.execute(sa.text(f"SELECT {column} FROM {table}")).scalars().all()
            assert raw, table
            assert all(MARKER not in str(v) for v in raw), table
    # and the services read it back in clear
    assert journal.get_journal_entry(f, ther, entry.id).text == MARKER

    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
        assert wal.stat().st_size > 0
        data = path.read_bytes() + wal.read_bytes()
        assert MARKER.encode() not in data
        assert MARKER.encode("utf-16-le") not in data
        assert b"client_a1@one.example" in data  # the grep does see plain columns


# ------------------------------------------------------------------ migrated schema


@pytest.fixture
def migrated_factory(empty_database_url: str, keyring: Any) -> Iterator[SqlUnitOfWorkFactory]:
    """A database whose schema was made by the shipped migrations (not ``create_all``)."""
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url, keyring=keyring)
    try:
        yield SqlUnitOfWorkFactory(engine)
    finally:
        engine.dispose()


def test_the_main_flow_on_a_migrated_schema(migrated_factory: SqlUnitOfWorkFactory) -> None:
    w = seed_world(migrated_factory)
    f, me, cid = w.factory, w.actor("client_a1"), w.id("client_a1")
    w.series("client_a1", [10, 17], start=NOW - timedelta(weeks=2))
    w.checkin("client_a1", phq9_total(12, 1), NOW)
    journal.add_journal_entry(f, me, cid, mood=6, text=MARKER, now=NOW)
    got = {a.kind for a in stored_alerts(w, "client_a1")}
    assert {AlertKind.RISK, AlertKind.DETERIORATION} <= got
    tl = timeline.client_timeline(f, w.actor("ther_a"), cid)
    [j] = [i.record for i in tl.items if i.stream == "journal"]
    assert (j.mood, j.text) == (6, "")
    first = triage.caseload_triage(f, w.actor("ther_a"), now=NOW).entries[0]
    assert first.client_id == cid
    assert first.reasons[0].code == "risk"
    with migrated_factory() as uow:
        # three check-ins, a journal entry and the timeline (triage names no one client)
        assert len(uow.audit.for_client(cid)) == 5
    assert verify_chain(migrated_factory.engine) is None
