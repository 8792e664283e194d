"""The ports services depend on: repositories and the unit of work.

Services (`twostep.services`) talk only to these protocols. The SQLAlchemy
adapter (`twostep.storage`) implements them on SQLite and PostgreSQL; the
in-memory fakes (`twostep.domain.fakes`) implement them for fast service
tests. A unit of work is one transaction: everything done through it is
committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from twostep.domain.records import (
    Administration,
    AdministrationColumns,
    Alert,
    AlertStatus,
    Appointment,
    Assignment,
    CheckinDraft,
    Clinic,
    Episode,
    Goal,
    GoalReview,
    GoalStep,
    ImportBatch,
    JournalEntry,
    MfaEnrolment,
    SelfCareEntry,
    SessionTopic,
    SetbackReflection,
    SharingPreference,
    SkillPractice,
    Stressor,
    SupportContact,
    Supporter,
    ThoughtRecord,
    User,
    WebSession,
)

T = TypeVar("T")


class Repository(Protocol[T]):
    """Storage of one kind of record, all scoped by ``client_id`` where the record has one."""

    def add(self, record: T) -> T:
        """Store a new record; raises `twostep.errors.ConflictError` on a duplicate key."""
        ...

    def get(self, record_id: str) -> T | None: ...

    def update(self, record: T) -> T:
        """Replace the stored record with the same id (NotFoundError if none).

        Records with a row version (``version`` of `Goal`, `User`, ...) are written
        only if the stored version still equals the record's, in one conditional
        statement; the returned record has the new version. Otherwise
        `twostep.errors.StaleVersionError` and nothing changes.
        """
        ...

    def delete(self, record_id: str) -> None: ...

    def for_client(
        self, client_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[T]:
        """The client's records in time order (by the record's main time field)."""
        ...

    def for_many_clients(self, client_ids: Sequence[str]) -> list[T]:
        """The records of all ``client_ids`` in one query (caseload views), in time order."""
        ...

    def get_many(self, record_ids: Sequence[str]) -> list[T]:
        """The records with these ids that exist (in no particular order)."""
        ...


class UserRepository(Repository[User], Protocol):
    def by_email(self, email: str) -> User | None: ...

    def in_clinic(self, clinic_id: str) -> list[User]: ...

    def password_hash(self, user_id: str) -> str | None:
        """The stored password hash (None when none is set); never part of `User`."""
        ...

    def set_password_hash(self, user_id: str, password_hash: str | None) -> None: ...

    def client_refs(self, clinic_id: str) -> dict[str, str]:
        """Active clients of a clinic by id and by e-mail (trimmed, case-folded) -> their id."""
        ...


class AssignmentRepository(Repository[Assignment], Protocol):
    def active_for_therapist(
        self, therapist_id: str, at: datetime | None = None
    ) -> list[Assignment]: ...

    def active_for_client(self, client_id: str, at: datetime | None = None) -> list[Assignment]: ...


class AdministrationRepository(Repository[Administration], Protocol):
    def history(self, client_id: str, instrument_id: str) -> list[Administration]:
        """Current (not superseded) administrations of one instrument, by ``completed_at``."""
        ...

    def for_clients(
        self, client_ids: Sequence[str], instrument_id: str | None = None
    ) -> list[Administration]:
        """Current administrations of many clients (for caseload analytics), in client order."""
        ...

    def add_columns(self, columns: AdministrationColumns) -> int:
        """Store many new administrations of one instrument at once (bulk import)."""
        ...

    def keys_for_clients(
        self, client_ids: Sequence[str], instrument_id: str
    ) -> dict[tuple[str, datetime], float | None]:
        """(client, completion time) -> total of the current administrations (for import deduplication)."""
        ...


class AlertRepository(Repository[Alert], Protocol):
    def open_for_clients(self, client_ids: Sequence[str]) -> list[Alert]:
        """Alerts not resolved (open, acknowledged, or snoozed) of these clients."""
        ...


class SharingRepository(Protocol):
    def for_client(self, client_id: str) -> list[SharingPreference]: ...

    def for_clients(self, client_ids: Sequence[str]) -> list[SharingPreference]: ...

    def set(self, preference: SharingPreference, based_on: int | None = None) -> SharingPreference:
        """Insert or replace a choice; with ``based_on``, only if the stored version is that
        (0: none stored yet), else `twostep.errors.StaleVersionError`. Returns the new version."""
        ...

    def lock(self, client_id: str) -> None:
        """Serialise changes of the client's sharing choices until the transaction ends."""
        ...


@dataclass(frozen=True)
class AuditEvent:
    """One access to clinical data (who, what, which client, outcome); never the content."""

    actor_id: str | None
    actor_role: str
    action: str  # read | create | update | delete | export | login ...
    object_type: str
    object_id: str | None
    client_id: str | None
    outcome: str = "ok"  # ok | denied | error
    request_id: str | None = None
    at: datetime | None = None


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None:
        """Append one event in the current transaction (it commits or rolls back with it)."""
        ...

    def for_client(self, client_id: str) -> list[AuditEvent]: ...


class ImportLog(Protocol):
    """Files already imported (scores, FHIR), by content hash."""

    def find(self, clinic_id: str, kind: str, file_hash: str) -> ImportBatch | None: ...

    def record(self, batch: ImportBatch) -> ImportBatch: ...


class DraftRepository(Protocol):
    """Unsubmitted check-ins, one per client and instrument."""

    def get(self, client_id: str, instrument_id: str) -> CheckinDraft | None: ...

    def save(self, draft: CheckinDraft, based_on: int | None = None) -> CheckinDraft:
        """Insert or replace the client's draft of this instrument (returned with its new
        version); with ``based_on``, only if the stored version is that (0: no draft yet),
        else `twostep.errors.StaleVersionError`."""
        ...

    def delete(self, client_id: str, instrument_id: str) -> None: ...


class ActivityRepository(Protocol):
    """A change counter per client, bumped at every successful write to their record."""

    def touch(self, client_ids: Sequence[str], at: datetime) -> None: ...

    def versions(self, client_ids: Sequence[str]) -> dict[str, int]:
        """Current counters (a client never written to is absent)."""
        ...


@dataclass(frozen=True)
class IdempotentResponse:
    """The first answer to a write sent with an ``Idempotency-Key`` (replayed on a retry)."""

    user_id: str
    key: str
    request_hash: str
    status_code: int
    body: dict[str, object]
    created_at: datetime


class IdempotencyRepository(Protocol):
    """Answers to idempotent writes by (user, key); stored in the transaction of the write."""

    def get(self, user_id: str, key: str) -> IdempotentResponse | None: ...

    def add(self, response: IdempotentResponse) -> IdempotentResponse:
        """Store an answer; `ConflictError` when the user's key is taken (a concurrent twin)."""
        ...

    def purge(self, before: datetime, user_id: str | None = None) -> int:
        """Delete answers stored before ``before`` (of one user, or all); returns how many."""
        ...


class WebSessionRepository(Protocol):
    """Server-side browser sessions (see `WebSession`)."""

    def add(self, session: WebSession) -> WebSession: ...

    def by_token_hash(self, token_hash: str) -> WebSession | None: ...

    def touch(self, session_id: str, at: datetime) -> None:
        """Record activity (the idle timeout counts from ``last_seen_at``)."""
        ...

    def revoke(self, session_id: str, at: datetime) -> None: ...

    def revoke_user(self, user_id: str, at: datetime) -> int:
        """End every session of a user (logout everywhere, disabled account, new password)."""
        ...


class LoginAttemptRepository(Protocol):
    """Recent login attempts by key (a hash of the address, or of the network), for throttling."""

    def record(self, key: str, at: datetime, success: bool) -> None: ...

    def failures_since(self, key: str, since: datetime) -> int:
        """Failed attempts for ``key`` since ``since`` and after the key's last success."""
        ...


class MfaRepository(Protocol):
    """Users' TOTP enrolments (one per user; see `MfaEnrolment`)."""

    def get(self, user_id: str) -> MfaEnrolment | None: ...

    def put(self, enrolment: MfaEnrolment) -> None:
        """Insert the user's enrolment, or replace it whole."""
        ...

    def delete(self, user_id: str) -> int: ...

    def use_step(self, user_id: str, step: int) -> bool:
        """Record ``step`` as the last one used if it is later than the stored one (one
        conditional write, so two requests cannot both use one code); False otherwise."""
        ...

    def use_recovery(self, user_id: str, code_hash: str) -> bool:
        """Remove one unused recovery code (by hash); False when it is not (or no longer) there."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository."""

    clinics: Repository[Clinic]
    users: UserRepository
    assignments: AssignmentRepository
    episodes: Repository[Episode]
    appointments: Repository[Appointment]
    administrations: AdministrationRepository
    alerts: AlertRepository
    goals: Repository[Goal]
    goal_steps: Repository[GoalStep]
    goal_reviews: Repository[GoalReview]
    journal: Repository[JournalEntry]
    reflections: Repository[SetbackReflection]
    stressors: Repository[Stressor]
    self_care: Repository[SelfCareEntry]
    skill_practice: Repository[SkillPractice]
    thought_records: Repository[ThoughtRecord]
    supporters: Repository[Supporter]
    support_contacts: Repository[SupportContact]
    topics: Repository[SessionTopic]
    sharing: SharingRepository
    audit: AuditLog
    imports: ImportLog
    web_sessions: WebSessionRepository
    login_attempts: LoginAttemptRepository
    mfa: MfaRepository
    drafts: DraftRepository
    activity: ActivityRepository
    idempotency: IdempotencyRepository

    def add_many(self, repository: Repository[T], records: Sequence[T]) -> int:
        """Add many records to one of this unit's repositories (one statement where possible)."""
        ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None:
        """Roll back anything not committed."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an exception inside undoes only what was done inside."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...

    def reading(self) -> UnitOfWorkFactory:
        """A factory of units of work that only read (SQLite: no write lock while they run).

        A unit of work from it refuses writes; it may be this factory itself where
        reading and writing cost the same (the in-memory fakes).
        """
        ...


def open_statuses() -> tuple[AlertStatus, ...]:
    return (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.SNOOZED)


def iter_chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
