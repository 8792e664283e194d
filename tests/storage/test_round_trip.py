"""Every record type goes into the database and comes back equal, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from twostep.domain import records as r
from twostep.errors import ConflictError, NotFoundError, ValidationError
from twostep.storage import SqlUnitOfWork, SqlUnitOfWorkFactory

from .conftest import REPOSITORIES, World, at

CASES = [(repo, variant) for repo in REPOSITORIES for variant in ("full", "minimal")]


def _client_of(record: Any) -> str | None:
    if isinstance(record, r.User):
        return record.id
    return getattr(record, "client_id", None)


@pytest.mark.parametrize(("repo", "variant"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_round_trip(
    uow_factory: SqlUnitOfWorkFactory, world: World, repo: str, variant: str
) -> None:
    record = world.builders()[repo][variant]()
    with uow_factory() as uow:
        assert getattr(uow, repo).add(record) == record
        uow.commit()
    with uow_factory() as uow:
        back = getattr(uow, repo).get(record.id)
        assert back == record
        # every field, one by one (a clearer failure than the whole record)
        for f in dataclasses.fields(record):
            assert getattr(back, f.name) == getattr(record, f.name), f.name
        # instants come back as aware UTC datetimes
        for f in dataclasses.fields(record):
            value = getattr(back, f.name)
            if isinstance(value, datetime):
                assert value.tzinfo is UTC
        client = _client_of(record)
        if client is not None:
            assert record in getattr(uow, repo).for_client(client)


def test_enums_and_tuples_come_back_typed(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    alert = world.builders()["alerts"]["full"]()
    contact = world.builders()["journal"]["full"]()
    with uow_factory() as uow:
        uow.alerts.add(alert)
        uow.journal.add(contact)
        uow.commit()
    with uow_factory() as uow:
        a = uow.alerts.get(alert.id)
        j = uow.journal.get(contact.id)
    assert a is not None
    assert j is not None
    assert type(a.kind) is r.AlertKind
    assert type(a.status) is r.AlertStatus
    assert j.emotions == ("calm", "tired")
    assert isinstance(j.emotions, tuple)


def test_goal_levels_keep_integer_keys(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    goal = world.builders()["goals"]["full"]()
    with uow_factory() as uow:
        uow.goals.add(goal)
        uow.commit()
    with uow_factory() as uow:
        back = uow.goals.get(goal.id)
    assert back is not None
    assert sorted(back.levels) == [-2, -1, 0, 1, 2]


def test_user_roles_update_and_email_lookup(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    with uow_factory() as uow:
        user = uow.users.get(world.therapist_id)
        assert user is not None
        changed = dataclasses.replace(user, roles=frozenset({r.Role.ADMIN}), display_name="Dr T")
        uow.users.update(changed)
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.get(world.therapist_id) == changed
        assert uow.users.by_email("  T@EXAMPLE.org ") == changed
        assert uow.users.by_email("nobody@example.org") is None
        assert {u.id for u in uow.users.in_clinic(world.clinic_id)} >= {
            world.therapist_id,
            world.client_id,
        }


def test_password_hash_is_kept_apart_from_the_user(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    with uow_factory() as uow:
        assert uow.accounts.password_hash(world.client_id) is None
        uow.accounts.set_password_hash(world.client_id, "$argon2id$v=19$m=65536,t=3,p=4$x$y")
        user = uow.users.get(world.client_id)
        assert user is not None
        uow.users.update(dataclasses.replace(user, display_name="Renamed"))
        uow.commit()
    with uow_factory() as uow:
        assert uow.accounts.password_hash(world.client_id) == "$argon2id$v=19$m=65536,t=3,p=4$x$y"
        with pytest.raises(NotFoundError):
            uow.accounts.set_password_hash(r.new_id(), None)


def test_duplicate_email_is_a_conflict_whatever_the_case(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    dup = r.User(r.new_id(), world.clinic_id, "C@Example.ORG", "Dup", frozenset())
    with uow_factory() as uow, pytest.raises(ConflictError):
        uow.users.add(dup)


def test_update_and_delete(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    entry = world.builders()["journal"]["full"]()
    with uow_factory() as uow:
        uow.journal.add(entry)
        uow.journal.update(dataclasses.replace(entry, text="edited", mood=3))
        uow.commit()
    with uow_factory() as uow:
        back = uow.journal.get(entry.id)
        assert back is not None
        assert back.text == "edited"
        assert back.mood == 3
        uow.journal.delete(entry.id)
        uow.commit()
    with uow_factory() as uow:
        assert uow.journal.get(entry.id) is None
        with pytest.raises(NotFoundError):
            uow.journal.delete(entry.id)
        with pytest.raises(NotFoundError):
            uow.journal.update(entry)


def test_duplicate_id_is_a_conflict_and_the_transaction_stays_usable(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    entry = world.builders()["journal"]["full"]()
    other = world.builders()["journal"]["minimal"]()
    with uow_factory() as uow:
        uow.journal.add(entry)
        with pytest.raises(ConflictError):
            uow.journal.add(entry)
        uow.journal.add(other)  # still usable after the refused write (PG: savepoint)
        uow.commit()
    with uow_factory() as uow:
        assert {e.id for e in uow.journal.for_client(world.client_id)} == {entry.id, other.id}


def test_missing_parent_is_a_conflict(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    orphan = r.JournalEntry(r.new_id(), r.new_id(), at(), 5)
    with uow_factory() as uow, pytest.raises(ConflictError):
        uow.journal.add(orphan)


def test_record_pointing_at_another_clients_goal_is_refused(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    step = r.GoalStep(r.new_id(), world.goal_id, world.other_client_id, "not mine")
    with uow_factory() as uow, pytest.raises(ConflictError):
        uow.goal_steps.add(step)


@pytest.mark.parametrize(
    ("repo", "change"),
    [
        ("journal", {"mood": 11}),
        ("stressors", {"severity": 6}),
        ("self_care", {"restorative": -1}),
        ("skill_practice", {"helpfulness": 11}),
        ("thought_records", {"intensity": 101}),
        ("goals", {"importance": 4}),
        ("goal_reviews", {"attained_level": 3}),
        ("support_contacts", {"mode": "telepathy"}),
    ],
)
def test_out_of_range_values_are_refused_by_the_database(
    uow_factory: SqlUnitOfWorkFactory, world: World, repo: str, change: dict[str, Any]
) -> None:
    record = dataclasses.replace(world.builders()[repo]["full"](), **change)
    with uow_factory() as uow, pytest.raises(ValidationError):
        getattr(uow, repo).add(record)


def test_naive_datetime_is_refused(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    entry = r.JournalEntry(r.new_id(), world.client_id, datetime(2025, 1, 1, 12), 5)
    with uow_factory() as uow, pytest.raises(ValidationError, match="time zone"):
        uow.journal.add(entry)


def test_for_client_filters_since_until_on_instants_and_days(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    base = datetime(2025, 5, 1, tzinfo=UTC)
    entries = [
        r.JournalEntry(r.new_id(), world.client_id, base + timedelta(hours=h), h)
        for h in (0, 5, 10)
    ]
    days = [
        r.SelfCareEntry(
            r.new_id(), world.client_id, date(2025, 5, d), r.SelfCareActivity.SLEEP, 1, 1
        )
        for d in (1, 2, 3)
    ]
    mine_elsewhere = r.JournalEntry(r.new_id(), world.other_client_id, base, 1)
    with uow_factory() as uow:
        for e in reversed(entries):
            uow.journal.add(e)
        for d in days:
            uow.self_care.add(d)
        uow.journal.add(mine_elsewhere)
        uow.commit()
    with uow_factory() as uow:
        assert uow.journal.for_client(world.client_id) == entries  # time order
        got = uow.journal.for_client(
            world.client_id, since=base + timedelta(hours=5), until=base + timedelta(hours=10)
        )
        assert got == [entries[1]]  # since inclusive, until exclusive
        # days count as midnight UTC
        assert (
            uow.self_care.for_client(world.client_id, since=datetime(2025, 5, 1, 0, 1, tzinfo=UTC))
            == days[1:]
        )
        assert (
            uow.self_care.for_client(world.client_id, until=datetime(2025, 5, 3, tzinfo=UTC))
            == days[:2]
        )
        assert (
            uow.self_care.for_client(
                world.client_id, until=datetime(2025, 5, 3, 0, 0, 1, tzinfo=UTC)
            )
            == days
        )
        assert uow.clinics.for_client(world.client_id) == []


def test_records_without_a_time_sort_first_and_drop_out_of_bounded_queries(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    undated = r.Supporter(r.new_id(), world.client_id, "No date", "x")
    dated = r.Supporter(r.new_id(), world.client_id, "Dated", "y", created_at=at(1))
    with uow_factory() as uow:
        uow.supporters.add(dated)
        uow.supporters.add(undated)
        uow.commit()
    with uow_factory() as uow:
        names = [s.name for s in uow.supporters.for_client(world.client_id)]
        assert names.index("No date") < names.index("Dated")
        bounded = uow.supporters.for_client(world.client_id, since=at(-100))
        assert [s.name for s in bounded] == ["Dated"]


def test_active_assignments(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    now = datetime.now(UTC)
    current = r.Assignment(
        r.new_id(), world.clinic_id, world.therapist_id, world.client_id, now - timedelta(days=5)
    )
    ended = r.Assignment(
        r.new_id(), world.clinic_id, world.therapist_id, world.other_client_id,
        now - timedelta(days=50), now - timedelta(days=1),
    )  # fmt: skip
    with uow_factory() as uow:
        uow.assignments.add(current)
        uow.assignments.add(ended)
        uow.commit()
    with uow_factory() as uow:
        assert uow.assignments.active_for_therapist(world.therapist_id) == [current]
        assert uow.assignments.active_for_client(world.client_id) == [current]
        assert uow.assignments.active_for_client(world.other_client_id) == []
        then = now - timedelta(days=10)
        assert uow.assignments.active_for_therapist(world.therapist_id, then) == [ended]


def test_sharing_preferences_upsert(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    first = r.SharingPreference(world.client_id, r.EntryKind.JOURNAL_TEXT, True, at())
    second = r.SharingPreference(world.client_id, r.EntryKind.JOURNAL_TEXT, False, at(1))
    mood = r.SharingPreference(world.client_id, r.EntryKind.MOOD, False)
    with uow_factory() as uow:
        assert uow.sharing.for_client(world.client_id) == []
        uow.sharing.set(first)
        uow.sharing.set(mood)
        uow.commit()
    with uow_factory() as uow:
        uow.sharing.set(second)
        uow.commit()
    with uow_factory() as uow:
        got = uow.sharing.for_client(world.client_id)
    assert got == [second, mood]  # sorted by kind; the later choice replaced the first
    assert all(type(p.kind) is r.EntryKind for p in got)


def test_open_alerts(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    def alert(client: str, status: r.AlertStatus, day: float) -> r.Alert:
        return r.Alert(
            r.new_id(), world.clinic_id, client, r.AlertKind.PLATEAU, "p", {}, at(day), status
        )

    a = alert(world.client_id, r.AlertStatus.OPEN, 2)
    b = alert(world.other_client_id, r.AlertStatus.SNOOZED, 1)
    c = alert(world.client_id, r.AlertStatus.RESOLVED, 0)
    with uow_factory() as uow:
        for x in (a, b, c):
            uow.alerts.add(x)
        uow.commit()
    with uow_factory() as uow:
        assert uow.alerts.open_for_clients([world.client_id, world.other_client_id]) == [b, a]
        assert uow.alerts.open_for_clients([]) == []


def test_many_clients_in_chunks(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    ids = [r.new_id() for _ in range(1200)]
    with uow_factory() as uow:
        got = uow.administrations.for_clients([*ids, world.client_id], "phq9")
    assert [a.id for a in got] == [world.administration_id]


def test_add_many(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    entries = [r.JournalEntry(r.new_id(), world.client_id, at(i), i % 11) for i in range(50)]
    with uow_factory() as uow:
        assert uow.add_many(uow.journal, entries) == 50
        assert uow.add_many(uow.journal, []) == 0
        uow.commit()
    with uow_factory() as uow:
        assert uow.journal.for_client(world.client_id) == entries


def test_uncommitted_work_is_rolled_back(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    entry = world.builders()["journal"]["full"]()
    with uow_factory() as uow:
        uow.journal.add(entry)
    with uow_factory() as uow:
        assert uow.journal.get(entry.id) is None
        uow.journal.add(entry)
        uow.rollback()
        assert uow.journal.get(entry.id) is None


def _add_then_fail(uow: SqlUnitOfWork, entry: r.JournalEntry) -> None:
    with uow.savepoint():
        uow.journal.add(entry)
        raise RuntimeError("boom")


def test_savepoint_undoes_only_its_own_work(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    kept = world.builders()["journal"]["full"]()
    undone = world.builders()["journal"]["minimal"]()
    with uow_factory() as uow:
        uow.journal.add(kept)
        with pytest.raises(RuntimeError, match="boom"):
            _add_then_fail(uow, undone)
        with uow.savepoint():
            pass
        uow.commit()
    with uow_factory() as uow:
        assert uow.journal.get(kept.id) == kept
        assert uow.journal.get(undone.id) is None


def test_unit_of_work_can_be_used_again_after_commit(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    a = world.builders()["topics"]["full"]()
    b = world.builders()["topics"]["minimal"]()
    uow = uow_factory()
    with uow:
        uow.topics.add(a)
        uow.commit()
        uow.topics.add(b)
        uow.commit()
    with uow:
        assert len(uow.topics.for_client(world.client_id)) == 2
