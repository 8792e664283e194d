"""`SqlUnitOfWork`: one database transaction over every repository.

Usage (services receive a factory, never an engine)::

    engine = make_engine(settings.database_url, keyring=KeyRing.from_settings(settings))
    uow_factory = SqlUnitOfWorkFactory(engine)
    with uow_factory() as uow:
        uow.journal.add(entry)
        uow.audit.record(event)
        uow.commit()            # leaving the block without commit rolls back

Every call raises only twostep errors (`twostep.storage.failures`). A
refused write — `ConflictError` for a duplicate — leaves the transaction
usable on both backends (on PostgreSQL each write runs in a savepoint).
`commit` first appends the buffered audit events to the hash chain; if that
fails nothing is committed. ``read_only=True`` starts SQLite transactions
with a deferred ``BEGIN`` (for reads, exports and analytics: no write lock
while they run) and refuses every write, audit events included — a write
there would be rolled back unseen, so it is a programming error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql import Executable

from twostep.domain.ports import (
    ActivityRepository,
    AdministrationRepository,
    AlertRepository,
    AssignmentRepository,
    AuditEvent,
    AuditLog,
    DraftRepository,
    IdempotencyRepository,
    ImportLog,
    LoginAttemptRepository,
    MfaRepository,
    Repository,
    SharingRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    UserRepository,
    WebSessionRepository,
)
from twostep.domain.records import (
    Appointment,
    Clinic,
    Episode,
    Goal,
    GoalReview,
    GoalStep,
    JournalEntry,
    SelfCareEntry,
    SessionTopic,
    SetbackReflection,
    SkillPractice,
    Stressor,
    SupportContact,
    Supporter,
    ThoughtRecord,
)
from twostep.storage import mapping as m
from twostep.storage.audit import SqlAuditLog, append_events
from twostep.storage.care_repositories import (
    SqlActivityRepository,
    SqlAdministrationRepository,
    SqlAlertRepository,
    SqlAssignmentRepository,
    SqlDraftRepository,
    SqlImportLog,
    SqlLoginAttemptRepository,
    SqlSharingRepository,
    SqlUserRepository,
    SqlWebSessionRepository,
)
from twostep.storage.engine import READ_ONLY_OPTION
from twostep.storage.failures import translated
from twostep.storage.idempotency import SqlIdempotencyRepository
from twostep.storage.mfa_repository import SqlMfaRepository
from twostep.storage.repositories import SqlRepository

__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory"]

R = TypeVar("R")


class SqlUnitOfWork:
    """`twostep.domain.ports.UnitOfWork` on one SQLAlchemy connection and transaction."""

    def __init__(self, engine: sa.Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
        self._conn: sa.Connection | None = None
        self._savepoint_writes = engine.dialect.name == "postgresql"
        # typed as the ports (their attributes are invariant); SQL extras: `accounts`, `add_many`
        self.clinics: Repository[Clinic] = SqlRepository(self, m.CLINIC, client_column=None)
        self._users = SqlUserRepository(self)
        self.users: UserRepository = self._users
        self.assignments: AssignmentRepository = SqlAssignmentRepository(self)
        self.episodes: Repository[Episode] = SqlRepository(self, m.EPISODE)
        self.appointments: Repository[Appointment] = SqlRepository(self, m.APPOINTMENT)
        self.administrations: AdministrationRepository = SqlAdministrationRepository(self)
        self.alerts: AlertRepository = SqlAlertRepository(self)
        self.goals: Repository[Goal] = SqlRepository(self, m.GOAL)
        self.goal_steps: Repository[GoalStep] = SqlRepository(self, m.GOAL_STEP)
        self.goal_reviews: Repository[GoalReview] = SqlRepository(self, m.GOAL_REVIEW)
        self.journal: Repository[JournalEntry] = SqlRepository(self, m.JOURNAL)
        self.reflections: Repository[SetbackReflection] = SqlRepository(self, m.REFLECTION)
        self.stressors: Repository[Stressor] = SqlRepository(self, m.STRESSOR)
        self.self_care: Repository[SelfCareEntry] = SqlRepository(self, m.SELF_CARE)
        self.skill_practice: Repository[SkillPractice] = SqlRepository(self, m.SKILL_PRACTICE)
        self.thought_records: Repository[ThoughtRecord] = SqlRepository(self, m.THOUGHT_RECORD)
        self.supporters: Repository[Supporter] = SqlRepository(self, m.SUPPORTER)
        self.support_contacts: Repository[SupportContact] = SqlRepository(self, m.SUPPORT_CONTACT)
        self.topics: Repository[SessionTopic] = SqlRepository(self, m.TOPIC)
        self.sharing: SharingRepository = SqlSharingRepository(self, engine.dialect.name)
        self.imports: ImportLog = SqlImportLog(self)
        self.web_sessions: WebSessionRepository = SqlWebSessionRepository(self)
        self.login_attempts: LoginAttemptRepository = SqlLoginAttemptRepository(self)
        self.mfa: MfaRepository = SqlMfaRepository(self)
        self.drafts: DraftRepository = SqlDraftRepository(self, engine.dialect.name)
        self.activity: ActivityRepository = SqlActivityRepository(self, engine.dialect.name)
        self.idempotency: IdempotencyRepository = SqlIdempotencyRepository(self)
        self._audit = SqlAuditLog(self, self._append_audit)
        self.audit: AuditLog = self._audit

    @property
    def accounts(self) -> SqlUserRepository:
        """The users repository with its SQL-only extras (password hashes)."""
        return self._users

    def add_many(self, repository: Repository[R], records: Sequence[R]) -> int:
        """Insert many records into one of this unit's repositories in one statement."""
        if not isinstance(repository, SqlRepository):
            raise TypeError("add_many needs a repository of this unit of work")
        return repository.add_many(records)

    # -- connection and transaction ----------------------------------------------------------

    @property
    def connection(self) -> sa.Connection:
        """The connection of this unit of work (opened on first use)."""
        if self._conn is None:
            with translated():
                conn = self.engine.connect()
            if self.read_only:
                conn = conn.execution_options(**{READ_ONLY_OPTION: True})
            self._conn = conn
        return self._conn

    def __enter__(self) -> SqlUnitOfWork:
        self.connection  # noqa: B018 - connect now, so that a dead database fails here
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Roll back anything not committed and return the connection to the pool."""
        self._audit.truncate(0)
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with translated():
            try:
                if conn.in_transaction():
                    conn.rollback()
            finally:
                conn.close()

    def commit(self) -> None:
        """Append the buffered audit events, then commit; on any failure nothing is committed."""
        conn = self.connection
        try:
            with translated():
                self._audit.flush()
                conn.commit()
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        self._audit.truncate(0)
        if self._conn is not None:
            with translated():
                self._conn.rollback()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an exception inside undoes only what was done inside."""
        mark = self._audit.pending
        with translated():
            nested = self.connection.begin_nested()
        try:
            yield
        except BaseException:
            self._audit.truncate(mark)
            with translated():
                if nested.is_active:
                    nested.rollback()
            raise
        with translated():
            nested.commit()

    # -- statements (used by the repositories) -----------------------------------------------

    def read(self, statement: Executable) -> list[RowMapping]:
        """Run a query and fetch every row (decryption errors surface here, translated)."""
        with translated():
            return list(self.connection.execute(statement).mappings().all())

    def write(self, statement: Executable, rows: Sequence[dict[str, Any]] | None = None) -> int:
        """Run a write; returns the rows matched. Refused writes leave the transaction usable."""
        self._require_writable()
        conn = self.connection
        with translated():
            if self._savepoint_writes:
                with conn.begin_nested():
                    result = conn.execute(statement, list(rows) if rows is not None else None)
            else:
                result = conn.execute(statement, list(rows) if rows is not None else None)
            return int(getattr(result, "rowcount", 0) or 0)

    def _require_writable(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot write")

    def _append_audit(self, events: list[AuditEvent]) -> None:
        self._require_writable()
        with translated():
            append_events(self.connection, events)


class SqlUnitOfWorkFactory:
    """A `twostep.domain.ports.UnitOfWorkFactory`: a new `SqlUnitOfWork` per call."""

    def __init__(self, engine: sa.Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, read_only=self.read_only)

    def reading(self) -> SqlUnitOfWorkFactory:
        """The same database, read-only units of work (deferred ``BEGIN`` on SQLite)."""
        return self if self.read_only else SqlUnitOfWorkFactory(self.engine, read_only=True)


def _conforms(engine: sa.Engine) -> tuple[UnitOfWorkFactory, UnitOfWork]:
    """Never called: makes mypy check that the SQL classes implement the ports."""
    return SqlUnitOfWorkFactory(engine), SqlUnitOfWork(engine)
