"""The in-memory fakes keep the promises of the ports (transactions, keys, immutability)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from twostep.domain.fakes import FakeStore, FakeUnitOfWork, FakeUnitOfWorkFactory
from twostep.domain.ports import AuditEvent, UnitOfWork
from twostep.domain.records import (
    Administration,
    Alert,
    AlertKind,
    AlertStatus,
    Assignment,
    EntryKind,
    JournalEntry,
    Role,
    SharingPreference,
    Stressor,
    StressorCategory,
    User,
    new_id,
)
from twostep.errors import ConflictError, NotFoundError, StorageError

T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)


def entry(client: str = "c1", at: datetime = T0, text: str = "x") -> JournalEntry:
    return JournalEntry(new_id(), client, at, 5, (), text)


def administration(**kw: object) -> Administration:
    base: dict[str, object] = {
        "id": new_id(),
        "clinic_id": "k",
        "client_id": "c1",
        "episode_id": None,
        "instrument_id": "phq9",
        "answers": {},
        "total": 10.0,
        "subscales": {},
        "band": "moderate",
        "case": True,
        "risk": False,
        "risk_level": 0,
        "risk_not_assessed": False,
        "prorated": False,
        "completed_at": T0,
        "received_at": T0,
    }
    base.update(kw)
    return Administration(**base)  # type: ignore[arg-type]


def test_the_fake_satisfies_the_port() -> None:
    uow: UnitOfWork = FakeUnitOfWork(FakeStore())
    assert uow.journal.for_client("nobody") == []


def test_changes_are_visible_to_new_units_of_work_only_after_commit() -> None:
    factory = FakeUnitOfWorkFactory()
    e = entry()
    with factory() as uow:
        uow.journal.add(e)
        with factory() as other:
            assert other.journal.get(e.id) is None
        uow.commit()
    with factory() as uow:
        assert uow.journal.get(e.id) == e
    assert factory.store.commits == 1


def test_leaving_without_commit_and_rollback_discard() -> None:
    factory = FakeUnitOfWorkFactory()
    with factory() as uow:
        uow.journal.add(entry())
    with factory() as uow:
        uow.journal.add(entry())
        uow.rollback()
        assert uow.journal.for_client("c1") == []
        uow.commit()
    assert factory.store.rows("journal") == []


def test_savepoint_undoes_only_its_own_work() -> None:
    factory = FakeUnitOfWorkFactory()
    kept, lost = entry(), entry()
    with factory() as uow:
        uow.journal.add(kept)

        def fail_inside() -> None:
            with uow.savepoint():
                uow.journal.add(lost)
                uow.audit.record(AuditEvent("a", "client", "create", "journal_entry", None, "c1"))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail_inside()
        with uow.savepoint():
            uow.journal.add(entry(text="second"))
        uow.commit()
    ids = {r.id for r in factory.store.rows("journal")}
    assert kept.id in ids
    assert lost.id not in ids
    assert len(ids) == 2
    assert factory.store.audit_events == []


def test_duplicate_ids_and_emails_conflict() -> None:
    factory = FakeUnitOfWorkFactory()
    e = entry()
    user = User("u1", "k", "Ann@Example.org", "Ann", frozenset({Role.CLIENT}))
    with factory() as uow:
        uow.journal.add(e)
        with pytest.raises(ConflictError):
            uow.journal.add(e)
        uow.users.add(user)
        with pytest.raises(ConflictError):
            uow.users.add(replace(user, id="u2", email="ann@example.org "))
        assert uow.users.by_email("ANN@example.org") == user


def test_update_and_delete_need_an_existing_record() -> None:
    factory = FakeUnitOfWorkFactory()
    with factory() as uow:
        with pytest.raises(NotFoundError):
            uow.journal.update(entry())
        with pytest.raises(NotFoundError):
            uow.journal.delete("missing")
        e = uow.journal.add(entry())
        uow.journal.update(replace(e, text="changed"))
        assert uow.journal.get(e.id) == replace(e, text="changed")
        uow.journal.delete(e.id)
        assert uow.journal.get(e.id) is None


def test_administrations_are_immutable_and_versions_supersede_once() -> None:
    factory = FakeUnitOfWorkFactory()
    first = administration()
    with factory() as uow:
        uow.administrations.add(first)
        with pytest.raises(ConflictError):
            uow.administrations.update(replace(first, total=11.0))
        v2 = administration(version=2, supersedes_id=first.id, total=12.0)
        uow.administrations.add(v2)
        with pytest.raises(ConflictError):
            uow.administrations.add(
                administration(
                    version=2, supersedes_id=first.id, completed_at=T0 + timedelta(hours=1)
                )
            )
        with pytest.raises(ConflictError):
            uow.administrations.add(administration(client_id="c2", supersedes_id=v2.id))
        with pytest.raises(NotFoundError):
            uow.administrations.add(
                administration(supersedes_id="nothing", completed_at=T0 + timedelta(hours=2))
            )
        assert [a.id for a in uow.administrations.history("c1", "phq9")] == [v2.id]
        with pytest.raises(ConflictError):  # the same submission twice
            uow.administrations.add(administration())
        assert [a.id for a in uow.administrations.for_clients(["c1"])] == [v2.id]


def test_for_clients_keeps_the_client_order_and_filters_the_instrument() -> None:
    factory = FakeUnitOfWorkFactory()
    with factory() as uow:
        a = uow.administrations.add(administration(client_id="b", completed_at=T0))
        b = uow.administrations.add(
            administration(client_id="a", completed_at=T0 + timedelta(days=1))
        )
        c = uow.administrations.add(
            administration(client_id="a", completed_at=T0, instrument_id="gad7")
        )
        assert [x.id for x in uow.administrations.for_clients(["b", "a"])] == [a.id, c.id, b.id]
        assert [x.id for x in uow.administrations.for_clients(["b", "a"], "phq9")] == [a.id, b.id]


def test_for_client_orders_by_time_and_filters_a_half_open_window() -> None:
    factory = FakeUnitOfWorkFactory()
    with factory() as uow:
        late = uow.journal.add(entry(at=T0 + timedelta(days=2)))
        early = uow.journal.add(entry(at=T0))
        uow.journal.add(entry(client="other"))
        assert uow.journal.for_client("c1") == [early, late]
        assert uow.journal.for_client("c1", since=T0 + timedelta(days=1)) == [late]
        assert uow.journal.for_client("c1", until=T0 + timedelta(days=2)) == [early]
        s = uow.stressors.add(Stressor(new_id(), "c1", StressorCategory.WORK, 3, date(2024, 3, 2)))
        assert uow.stressors.for_client("c1", since=T0) == [s]
        assert uow.stressors.for_client("c1", since=T0 + timedelta(days=1)) == []


def test_assignments_active_at_a_time() -> None:
    factory = FakeUnitOfWorkFactory()
    with factory() as uow:
        a = uow.assignments.add(Assignment("a1", "k", "t", "c", T0, T0 + timedelta(days=10)))
        assert uow.assignments.active_for_client("c", T0 + timedelta(days=1)) == [a]
        assert uow.assignments.active_for_therapist("t", T0 + timedelta(days=10)) == []
        assert uow.assignments.active_for_therapist("t", T0 - timedelta(days=1)) == []


def test_open_alerts_and_sharing() -> None:
    factory = FakeUnitOfWorkFactory()
    with factory() as uow:
        for status in AlertStatus:
            uow.alerts.add(Alert(new_id(), "k", "c", AlertKind.PLATEAU, "r", {}, T0, status=status))
        assert {a.status for a in uow.alerts.open_for_clients(["c"])} == {
            AlertStatus.OPEN,
            AlertStatus.ACKNOWLEDGED,
            AlertStatus.SNOOZED,
        }
        uow.sharing.set(SharingPreference("c", EntryKind.JOURNAL_TEXT, True))
        uow.sharing.set(SharingPreference("c", EntryKind.JOURNAL_TEXT, False))
        assert [p.shared for p in uow.sharing.for_client("c")] == [False]
        uow.commit()
    assert factory.store.commits == 1


def test_audit_failure_can_be_injected() -> None:
    factory = FakeUnitOfWorkFactory()
    factory.store.fail_audit = True
    with factory() as uow, pytest.raises(StorageError):
        uow.audit.record(AuditEvent("a", "client", "read", "x", None, None))
