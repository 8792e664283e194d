"""Engines for SQLite (default) and PostgreSQL, configured for clinical records.

SQLite (reliability-security.md §3.3): every connection runs with
``journal_mode=WAL`` (readers never block the writer), ``synchronous=FULL``
(a commit survives power loss), ``foreign_keys=ON`` and
``busy_timeout=5000``; and transactions start with ``BEGIN IMMEDIATE``, so a
second writer waits for the first instead of failing with "database is
locked" when it upgrades from reading to writing. Pure readers may ask for a
deferred ``BEGIN`` with the execution option ``twostep_read_only=True``.

Writers of one process queue on an in-process lock per database file before
``BEGIN IMMEDIATE`` and release it when their transaction ends
(`WriterLock`). SQLite's own busy handler makes a waiting writer *sleep*, in
steps that grow to 100 ms, and retry: with dozens of server threads writing
(every audited read appends its audit row), waiters slept through most of the
time the lock was free, and latency grew while the CPU idled. A waiter on the
in-process lock is woken as soon as the lock is released.

Between processes (``twostep serve --workers 2``, a CLI import beside the
server) the one writer of each process then takes an exclusive ``flock`` on a
lock file beside the database (``<database>-writer``, mode 0600, empty),
polling every 0.2 ms growing to 2 ms, up to the busy timeout: a lock freed by
another process is taken within about a millisecond instead of up to 100 ms
later. The kernel drops the lock of a process that dies, so a crashed worker
never leaves it held. SQLite's own locking is unchanged and still decides;
a process that does not take the file lock (the ``sqlite3`` shell) is waited
for by the busy timeout as before. Where the lock file cannot be created (a
read-only folder) only the busy timeout applies.

PostgreSQL: psycopg 3 (``postgresql://`` is rewritten to
``postgresql+psycopg://``), ``pool_pre_ping`` so that a restarted server does
not surface as an error, and the session time zone set to UTC.

An in-memory SQLite database disappears with its connection, so it is refused
unless the caller passes ``poolclass=StaticPool`` (tests), which keeps one
connection for the engine's lifetime (stack-notes.md A.2, pitfall 1).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import Pool, StaticPool

from twostep.config import Settings
from twostep.errors import ConfigurationError
from twostep.storage.encryption import KeyRing, attach_keyring

__all__ = [
    "SQLITE_PRAGMAS",
    "WriterLock",
    "engine_from_settings",
    "make_engine",
    "normalise_url",
]

#: Applied to every new SQLite connection, in this order.
SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("journal_mode", "WAL"),
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    ("busy_timeout", "5000"),
    # 64 MB of page cache per connection (default 2 MB): index pages of large tables stay
    # in memory, which makes bulk imports about twice as fast; it is a cache, not durability
    ("cache_size", "-65536"),
)

#: SQLite's busy timeout, and how long a writer waits for the in-process lock.
BUSY_TIMEOUT_S = 5.0

#: Execution option: start SQLite transactions with a deferred BEGIN (read-only work).
READ_ONLY_OPTION = "twostep_read_only"


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; choose psycopg 3 for PostgreSQL (``postgresql://``, ``postgres://``)."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:  # ValueError: e.g. a non-numeric port
        raise ConfigurationError(f"not a database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ConfigurationError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///FILE or postgresql://..."
        )
    return parsed


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


class _NoResultRows(logging.Filter):
    """Drops SQLAlchemy's DEBUG dump of result rows: they are decrypted clinical text.

    With the ``sqlalchemy.engine`` logger at DEBUG (an operator's root level
    DEBUG is enough) SQLAlchemy logs every fetched row after the column types
    ran, i.e. journal text in clear (found by tests/trust/test_canary_matrix.py).
    Statements stay loggable; their parameters are hidden (``hide_parameters``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.DEBUG and record.msg in ("Row %r", "Col %r"))


_ROW_FILTER = _NoResultRows()


def _keep_rows_out_of_logs() -> None:
    logger = logging.getLogger("sqlalchemy.engine.Engine")
    if _ROW_FILTER not in logger.filters:
        logger.addFilter(_ROW_FILTER)


def make_engine(
    url: str | URL,
    *,
    keyring: KeyRing | None = None,
    poolclass: type[Pool] | None = None,
    echo: bool = False,
) -> Engine:
    """An engine for twostep's records database.

    ``keyring`` encrypts and decrypts the free-text columns (without one,
    reading or writing them raises `StorageError`; migrations need none).
    The parent folder of a SQLite file is created (mode 0700) if missing.
    """
    _keep_rows_out_of_logs()
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed, poolclass=poolclass, echo=echo)
    else:
        engine = sa.create_engine(
            parsed,
            pool_pre_ping=True,
            echo=echo,
            hide_parameters=True,  # statement parameters are clinical data: keep them out of errors
            connect_args={"options": "-c timezone=UTC"},
            **({"poolclass": poolclass} if poolclass is not None else {}),
        )
    if keyring is not None:
        attach_keyring(engine, keyring)
    return engine


def engine_from_settings(settings: Settings) -> Engine:
    """The engine of ``settings.database_url`` with the key ring from the settings."""
    return make_engine(settings.database_url, keyring=KeyRing.from_settings(settings))


def _sqlite_engine(url: URL, *, poolclass: type[Pool] | None, echo: bool) -> Engine:
    memory = _is_memory(url)
    if memory and poolclass is not StaticPool:
        raise ConfigurationError(
            "an in-memory SQLite database is lost between connections; use a file "
            "(sqlite:///path/to/twostep.db), or poolclass=StaticPool in tests"
        )
    if not memory and url.database is not None and not url.query.get("uri"):
        _create_private_file(Path(url.database).expanduser())
    # a "file:" URI names its file in its own syntax: no lock file is made beside it
    lock = WriterLock.for_database(
        url.database or "", memory=memory, lock_file=not url.query.get("uri")
    )
    kwargs: dict[str, object] = {
        "connect_args": {
            "check_same_thread": False,
            "timeout": BUSY_TIMEOUT_S,
            "factory": lock.connection_class,
        },
        "echo": echo,
    }
    if poolclass is not None:
        kwargs["poolclass"] = poolclass
    engine = sa.create_engine(url, hide_parameters=True, **kwargs)
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite gives its WAL the same mode)."""
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sqlite_on_connect(dbapi_connection: object, _record: object) -> None:
    # Take over transaction control from the sqlite3 module (which would
    # otherwise BEGIN lazily, and only before DML), then set the pragmas.
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name}={value}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN")
        return
    dbapi = conn.connection.dbapi_connection
    if isinstance(dbapi, _LockingConnection):
        dbapi.take_writer_lock()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(dbapi, _LockingConnection):
            dbapi.give_back_writer_lock()
        raise


class _LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its `WriterLock` back when its transaction ends."""

    writer: WriterLock  # set on the subclass made for each database file
    _holds = False

    def take_writer_lock(self) -> None:
        if self._holds:
            return
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        if not self.writer.lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise sqlite3.OperationalError("database is locked")  # as SQLite's own timeout
        try:
            self.writer.take_file_lock(deadline)
        except BaseException:
            self.writer.lock.release()
            raise
        self._holds = True

    def give_back_writer_lock(self) -> None:
        if self._holds:
            self._holds = False
            try:
                self.writer.give_back_file_lock()
            finally:
                self.writer.lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_back_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_back_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_back_writer_lock()


#: Polling of the cross-process file lock: first and longest pause (seconds).
FILE_LOCK_FIRST_PAUSE_S = 0.0002
FILE_LOCK_MAX_PAUSE_S = 0.002


class WriterLock:
    """The writer lock of one SQLite database file (see the module docstring).

    ``lock`` queues the threads of this process; the file lock, taken only by
    the thread holding ``lock``, orders the processes.
    """

    _by_file: ClassVar[dict[str, WriterLock]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, lock_path: Path | None = None) -> None:
        self.lock = threading.Lock()
        self.lock_path = lock_path
        self._fd: int | None = None
        self._fd_pid = 0
        self._file_held = False
        self.connection_class: type[sqlite3.Connection] = type(
            "_WriterLockedConnection", (_LockingConnection,), {"writer": self}
        )

    def _lock_fd(self) -> int | None:
        """This process's descriptor of the lock file (a forked child opens its own: a
        shared open file would share the lock); None when there is no usable lock file."""
        if self.lock_path is None:
            return None
        if self._fd is None or self._fd_pid != os.getpid():
            try:
                self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self.lock_path = None  # read-only folder: SQLite's busy timeout alone
                return None
            self._fd_pid = os.getpid()
        return self._fd

    def take_file_lock(self, deadline: float) -> None:
        """Take the cross-process lock by ``deadline`` (monotonic) or raise "database is locked"."""
        fd = self._lock_fd()
        if fd is None:
            return
        pause = FILE_LOCK_FIRST_PAUSE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, FILE_LOCK_MAX_PAUSE_S)
                continue
            except OSError:
                return  # a file system without flock: SQLite's busy timeout alone
            self._file_held = True
            return

    def give_back_file_lock(self) -> None:
        if self._file_held and self._fd is not None:
            self._file_held = False
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    @classmethod
    def for_database(cls, database: str, *, memory: bool, lock_file: bool = True) -> WriterLock:
        """The lock of ``database`` (one per file and process; a new one for in-memory).

        ``lock_file=False``: no cross-process file lock (SQLite's busy timeout alone).
        """
        if memory:
            return cls()
        key = os.path.realpath(os.path.expanduser(database))
        with cls._guard:
            found = cls._by_file.get(key)
            if found is None:
                found = cls._by_file[key] = cls(Path(key + "-writer") if lock_file else None)
            return found
