"""Engines: SQLite durability settings in effect, writers queue, errors come out translated."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import PIPE, Popen

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from twostep.config import Settings
from twostep.domain import records as r
from twostep.errors import ConfigurationError, ConflictError, StorageError, ValidationError
from twostep.storage import SqlUnitOfWorkFactory, engine_from_settings, make_engine
from twostep.storage import tables as t
from twostep.storage.engine import WriterLock, normalise_url
from twostep.storage.failures import translate

from .conftest import World, at


def test_sqlite_pragmas_are_in_effect(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        values = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    engine.dispose()
    assert values == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }


def test_sqlite_transactions_begin_immediate(tmp_path: Path) -> None:
    statements: list[str] = []
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        conn.commit()
    with engine.connect() as conn:
        conn.execution_options(twostep_read_only=True).exec_driver_sql("SELECT 2")
    engine.dispose()
    assert statements == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN", "SELECT 2"]


def test_two_writers_at_once_both_succeed(engine: sa.Engine, world: World) -> None:
    """The second writer waits for the first (busy timeout) instead of failing."""
    uow_factory = SqlUnitOfWorkFactory(engine)
    inside = threading.Event()
    results: list[str] = []

    def slow() -> None:
        with uow_factory() as uow:
            uow.journal.add(r.JournalEntry(r.new_id(), world.client_id, at(1), 1))
            inside.set()
            time.sleep(0.3)  # hold the write lock
            uow.commit()
        results.append("slow")

    def fast() -> None:
        inside.wait(5)
        with uow_factory() as uow:
            # read first, then write: a deferred transaction would fail here on SQLite
            uow.journal.for_client(world.client_id)
            uow.journal.add(r.JournalEntry(r.new_id(), world.client_id, at(2), 2))
            uow.commit()
        results.append("fast")

    threads = [threading.Thread(target=slow), threading.Thread(target=fast)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["fast", "slow"]
    with uow_factory() as uow:
        assert len(uow.journal.for_client(world.client_id)) == 2


def test_in_memory_sqlite_needs_a_static_pool() -> None:
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file.db?mode=memory"):
        with pytest.raises(ConfigurationError, match="in-memory"):
            make_engine(url)
    engine = make_engine("sqlite://", poolclass=StaticPool)
    t.metadata.create_all(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM clinics").scalar() == 0
    engine.dispose()


def test_urls() -> None:
    assert normalise_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ConfigurationError, match="unsupported"):
        normalise_url("mysql://u@h/db")
    with pytest.raises(ConfigurationError):
        normalise_url("not a url")


def test_engine_from_settings(tmp_path: Path) -> None:
    engine = engine_from_settings(Settings(database_url=f"sqlite:///{tmp_path / 'sub' / 's.db'}"))
    try:
        t.metadata.create_all(engine)
        assert (tmp_path / "sub" / "s.db").exists()
        assert oct((tmp_path / "sub").stat().st_mode & 0o777) == "0o700"
    finally:
        engine.dispose()


def test_a_locked_database_is_a_storage_error(tmp_path: Path, keyring: object) -> None:
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}")
    t.metadata.create_all(engine)

    @sa.event.listens_for(engine, "connect")
    def short_wait(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")

    engine.dispose()  # reconnect with the short busy timeout
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with SqlUnitOfWorkFactory(engine)() as uow, pytest.raises(StorageError, match="busy"):
            uow.clinics.add(r.Clinic(r.new_id(), "c", "", ""))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()


def test_a_read_only_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    engine = make_engine(f"sqlite:///{path}")
    t.metadata.create_all(engine)
    engine.dispose()
    ro = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with SqlUnitOfWorkFactory(ro, read_only=True)() as uow:
            assert uow.clinics.get("x") is None  # reads work
            # a read-only unit of work refuses writes itself (they would be rolled back unseen)
            with pytest.raises(RuntimeError, match="read-only unit of work"):
                uow.clinics.add(r.Clinic(r.new_id(), "c", "", ""))
        with SqlUnitOfWorkFactory(ro)() as uow, pytest.raises(StorageError, match="read-only"):
            uow.clinics.add(r.Clinic(r.new_id(), "c", "", ""))
    finally:
        ro.dispose()


def test_a_missing_schema_is_a_storage_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with (
            SqlUnitOfWorkFactory(engine)() as uow,
            pytest.raises(StorageError, match="no such table"),
        ):
            uow.clinics.get("x")
    finally:
        engine.dispose()


def _sqlite_error(cls: type[sqlite3.Error], name: str, message: str) -> sqlite3.Error:
    exc = cls(message)
    exc.sqlite_errorname = name
    return exc


@pytest.mark.parametrize(
    ("error", "expected", "text"),
    [
        (_sqlite_error(sqlite3.OperationalError, "SQLITE_BUSY", "database is locked"), StorageError, "busy"),
        (_sqlite_error(sqlite3.OperationalError, "SQLITE_FULL", "database or disk is full"), StorageError, "disk is full"),
        (_sqlite_error(sqlite3.OperationalError, "SQLITE_READONLY", "attempt to write"), StorageError, "read-only"),
        (_sqlite_error(sqlite3.OperationalError, "SQLITE_IOERR_WRITE", "disk I/O error"), StorageError, "cannot be used"),
        (_sqlite_error(sqlite3.IntegrityError, "SQLITE_CONSTRAINT_UNIQUE", "UNIQUE constraint failed: t.c"), ConflictError, "duplicate"),
        (_sqlite_error(sqlite3.IntegrityError, "SQLITE_CONSTRAINT_CHECK", "CHECK constraint failed: ck_x"), ValidationError, "ck_x"),
        (sa.exc.TimeoutError("pool"), StorageError, "connection"),
    ],
)  # fmt: skip
def test_translation(error: BaseException, expected: type[Exception], text: str) -> None:
    got = translate(error)
    assert type(got) is expected
    assert text in str(got)


def test_postgres_disk_full_and_serialisation_are_storage_errors() -> None:
    class Full(psycopg.errors.DiskFull):
        pass

    assert isinstance(translate(psycopg.errors.DiskFull("no space")), StorageError)
    assert "out of resources" in str(translate(Full("x")))
    assert "try again" in str(translate(psycopg.errors.SerializationFailure("x")))
    assert "read-only" in str(translate(psycopg.errors.ReadOnlySqlTransaction("x")))
    assert isinstance(translate(psycopg.errors.UniqueViolation("x")), ConflictError)
    assert isinstance(translate(psycopg.errors.CheckViolation("x")), ValidationError)


# ------------------------------------------------------------------------ the writer lock


def _lock_of(path: Path) -> threading.Lock:
    return WriterLock.for_database(str(path), memory=False).lock


def test_a_write_transaction_holds_the_writer_lock_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{path}")
    lock = _lock_of(path)
    for end in ("commit", "rollback", "close"):
        conn = engine.connect()
        conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE
        assert lock.locked(), end
        if end == "close":
            conn.close()  # back to the pool: rolled back
        else:
            getattr(conn, end)()
            assert not lock.locked(), end
            conn.close()
        assert not lock.locked(), end
    with engine.connect() as conn:  # a reader does not take it
        conn.execution_options(twostep_read_only=True).exec_driver_sql("SELECT 2")
        assert not lock.locked()
    engine.dispose()


def test_engines_on_one_file_share_the_lock_and_a_waiter_wakes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = (
        make_engine(f"sqlite:///{path}"),
        make_engine(f"sqlite:///{tmp_path}/./shared.db"),
    )
    t.metadata.create_all(first)
    held = threading.Event()
    released_at: list[float] = []

    def hold() -> None:
        with first.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            held.set()
            time.sleep(0.3)
            released_at.append(time.perf_counter())
            conn.commit()

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    with second.connect() as conn:
        conn.exec_driver_sql("SELECT 1")  # waits for the holder's commit
        began_at = time.perf_counter()
        conn.commit()
    thread.join()
    # woken by the release, not by a busy handler's sleep (SQLite's grow to 100 ms)
    assert 0 <= began_at - released_at[0] < 0.05
    first.dispose()
    second.dispose()


def test_a_writer_that_waits_too_long_gets_a_storage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twostep.storage.engine as engine_module

    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_S", 0.1)
    path = tmp_path / "slow.db"
    engine = make_engine(f"sqlite:///{path}")
    t.metadata.create_all(engine)
    lock = _lock_of(path)
    assert lock.acquire(timeout=1)  # another thread of this process is writing
    try:
        with SqlUnitOfWorkFactory(engine)() as uow, pytest.raises(StorageError):
            uow.clinics.add(r.Clinic(r.new_id(), "c", "", ""))
    finally:
        lock.release()
    with SqlUnitOfWorkFactory(engine)() as uow:  # and the next one goes through
        uow.clinics.add(r.Clinic(r.new_id(), "c", "", ""))
        uow.commit()
    assert not lock.locked()
    engine.dispose()


#: A process that holds a write transaction for HOLD_S, then prints when it let go.
HOLDER = """
import sys, time
from twostep.storage import make_engine
engine = make_engine(sys.argv[1])
with engine.connect() as conn:
    conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the writer lock is held
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    released = time.time()
    conn.commit()
print(released, flush=True)
"""


@contextmanager
def _holder(tmp_path: Path, name: str, seconds: float) -> Iterator[tuple[sa.Engine, Popen[str]]]:
    """A fresh database, and another process that holds its write lock for ``seconds``."""
    url = f"sqlite:///{tmp_path / name}"
    engine = make_engine(url)
    t.metadata.create_all(engine)
    try:
        with Popen(
            [sys.executable, "-c", HOLDER, url, str(seconds)], stdout=PIPE, text=True
        ) as holder:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            yield engine, holder
    finally:
        engine.dispose()


def test_a_writer_in_another_process_is_woken_at_once_not_by_a_busy_sleep(
    tmp_path: Path,
) -> None:
    """``--workers 2``: the processes order their writers by a file lock polled every few ms.

    SQLite's busy handler alone would retry after sleeps of 1, 2, 5, ... 100 ms: a lock
    released 0.35 s into the wait would be seen 78 ms or more later.
    """
    with _holder(tmp_path, "two.db", 0.35) as (engine, holder):
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")  # waits for the other process's commit
            began_at = time.time()
            conn.commit()
        assert holder.stdout is not None
        released_at = float(holder.stdout.readline())
    assert 0 <= began_at - released_at < 0.04
    lock_file = tmp_path / "two.db-writer"
    assert lock_file.stat().st_mode & 0o777 == 0o600
    assert lock_file.stat().st_size == 0  # only a lock: nothing is written to it


def test_a_killed_writer_process_leaves_no_lock_behind(tmp_path: Path) -> None:
    with _holder(tmp_path, "killed.db", 60) as (engine, holder):
        holder.kill()  # kill -9 while it holds the lock
        holder.wait(10)
        started = time.monotonic()
        with SqlUnitOfWorkFactory(engine)() as uow:
            uow.clinics.add(r.Clinic(r.new_id(), "c", "", ""))
            uow.commit()
    assert time.monotonic() - started < 1.0


def test_without_a_writable_folder_the_busy_timeout_alone_orders_writers(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "no-such-folder" / "x.db-writer")
    lock.take_file_lock(time.monotonic() + 1)  # cannot open the lock file: nothing to take
    assert lock.lock_path is None
    lock.give_back_file_lock()
    assert os.listdir(tmp_path) == []
