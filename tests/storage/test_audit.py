"""The audit trail is append-only, hash-chained, and never forks under concurrent writers."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from twostep.domain.ports import AuditEvent
from twostep.errors import ConflictError, StorageError, ValidationError
from twostep.storage import SqlUnitOfWork, SqlUnitOfWorkFactory, verify_chain
from twostep.storage import tables as t
from twostep.storage.audit import GENESIS_HASH, chain_hash
from twostep.storage.failures import translated

from .conftest import World


def event(i: int, client: str | None = "c-1", **kw: object) -> AuditEvent:
    base: dict[str, object] = {
        "actor_id": f"u-{i}",
        "actor_role": "therapist",
        "action": "read",
        "object_type": "journal_entry",
        "object_id": f"o-{i}",
        "client_id": client,
        "outcome": "ok",
        "request_id": f"req-{i}",
        "at": datetime(2025, 1, 1, 12, 0, i % 60, 5, tzinfo=UTC),
    }
    base.update(kw)
    return AuditEvent(**base)  # type: ignore[arg-type]


def _record(uow_factory: SqlUnitOfWorkFactory, events: list[AuditEvent]) -> None:
    with uow_factory() as uow:
        for e in events:
            uow.audit.record(e)
        uow.commit()


def test_events_are_chained_and_read_back(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    events = [event(i, client="c-1" if i % 2 else "c-2") for i in range(6)]
    _record(uow_factory, events[:3])
    _record(uow_factory, events[3:])
    assert verify_chain(engine) is None
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.audit_log).order_by(t.audit_log.c.id)).mappings().all()
        assert verify_chain(conn) is None
    assert [row["id"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["prev_hash"] == GENESIS_HASH
    for before, row in itertools.pairwise(rows):
        assert row["prev_hash"] == before["hash"] == chain_hash(before["prev_hash"], before)
    with uow_factory() as uow:
        assert uow.audit.for_client("c-1") == [e for e in events if e.client_id == "c-1"]


def test_time_defaults_to_now_and_naive_times_are_refused(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    before = datetime.now(UTC)
    _record(uow_factory, [event(1, at=None)])
    with uow_factory() as uow:
        (got,) = uow.audit.for_client("c-1")
        assert got.at is not None
        assert got.at >= before.replace(microsecond=0)
        with pytest.raises(ValidationError):
            uow.audit.record(event(2, at=datetime(2025, 1, 1)))


def _record_then_fail(uow: SqlUnitOfWork) -> None:
    with uow.savepoint():
        uow.audit.record(event(4))
        raise RuntimeError


def test_events_go_with_their_transaction(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.audit.record(event(1))
        # not committed: gone
    with uow_factory() as uow:
        uow.audit.record(event(2))
        uow.rollback()
        uow.audit.record(event(3))
        with pytest.raises(RuntimeError):
            _record_then_fail(uow)
        uow.commit()
    with uow_factory() as uow:
        assert [e.object_id for e in uow.audit.for_client("c-1")] == ["o-3"]


def test_for_client_sees_events_of_its_own_transaction(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.audit.record(event(1))
        assert [e.object_id for e in uow.audit.for_client("c-1")] == ["o-1"]
        uow.commit()
    with uow_factory() as uow:
        assert len(uow.audit.for_client("c-1")) == 1


def test_a_bad_event_fails_the_commit_and_nothing_is_written(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    from twostep.domain import records as r

    entry = r.JournalEntry(r.new_id(), world.client_id, datetime.now(UTC), 3)
    with uow_factory() as uow:
        uow.journal.add(entry)
        uow.audit.record(event(1, outcome="maybe"))  # breaks the outcome CHECK
        with pytest.raises(ValidationError):
            uow.commit()
    with uow_factory() as uow:
        assert uow.journal.get(entry.id) is None  # no audit, no data
        assert uow.audit.for_client("c-1") == []


def test_update_and_delete_are_refused_by_the_database(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    _record(uow_factory, [event(1), event(2)])
    for stmt in (
        sa.update(t.audit_log).where(t.audit_log.c.id == 1).values(actor_id="someone-else"),
        sa.delete(t.audit_log).where(t.audit_log.c.id == 2),
        sa.delete(t.audit_log),
    ):
        with (
            pytest.raises(ConflictError, match="append-only"),
            translated(),
            engine.begin() as conn,
        ):
            conn.execute(stmt)
    assert verify_chain(engine) is None


@pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)
def test_truncate_is_refused_on_postgresql(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    _record(uow_factory, [event(1)])
    with pytest.raises(ConflictError), translated(), engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE audit_log")


def _tamper(engine: sa.Engine, sql: str) -> None:
    """Change audit rows behind the triggers' back (as an attacker with DDL rights could)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        conn.exec_driver_sql(sql)


@pytest.mark.fresh_database
@pytest.mark.parametrize(
    ("sql", "broken"),
    [
        ("UPDATE audit_log SET actor_id = 'u-x' WHERE id = 3", 3),
        ("UPDATE audit_log SET outcome = 'denied' WHERE id = 5", 5),
        ("DELETE FROM audit_log WHERE id = 2", 3),
        ("UPDATE audit_log SET hash = 'x' || substr(hash, 2) WHERE id = 4", 4),
    ],
)
def test_tampering_is_found_at_the_first_broken_row(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory, sql: str, broken: int
) -> None:
    _record(uow_factory, [event(i) for i in range(6)])
    assert verify_chain(engine) is None
    _tamper(engine, sql)
    assert verify_chain(engine, batch=2) == broken


def test_concurrent_writers_do_not_fork_the_chain(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    n_threads, per_thread = 8, 5
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work(k: int) -> None:
        try:
            start.wait()
            for j in range(per_thread):
                _record(uow_factory, [event(k * 100 + j % 50, client=f"c-{k}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert verify_chain(engine) is None
    with engine.connect() as conn:
        ids = conn.execute(sa.select(t.audit_log.c.id).order_by(t.audit_log.c.id)).scalars().all()
    assert ids == list(range(1, n_threads * per_thread + 1))


@pytest.mark.fresh_database
def test_audit_failure_surfaces_as_a_twostep_error(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_log")
    with uow_factory() as uow:
        uow.audit.record(event(1))
        with pytest.raises(StorageError):
            uow.commit()


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.integers(1, 10**12),
                "at": st.datetimes(timezones=st.just(UTC)),
                "actor_id": st.none() | st.text(max_size=40),
                "actor_role": st.sampled_from(["client", "therapist", "anonymous"]),
                "action": st.text(min_size=1, max_size=12),
                "object_type": st.text(min_size=1, max_size=12),
                "object_id": st.none() | st.text(max_size=40),
                "client_id": st.none() | st.text(max_size=40),
                "outcome": st.sampled_from(["ok", "denied", "error"]),
                "request_id": st.none() | st.text(max_size=40),
            }
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_bulk_hash_is_the_chain_hash(rows: list[dict[str, object]]) -> None:
    """`append_events` hashes with cached field encodings; it must equal `chain_hash`."""
    from twostep.storage.audit import _FastChain

    fast = _FastChain()
    prev = GENESIS_HASH
    for row in [*rows, *rows]:  # repeated values come from the cache the second time
        expected = chain_hash(prev, row)
        assert fast.hash(prev, row) == expected
        prev = expected
