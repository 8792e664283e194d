"""In-memory implementations of every port in `twostep.domain.ports`.

Service tests (and later fast web tests) run against these instead of a
database, as in cosmicpython's ``FakeUnitOfWork``: a `FakeStore` holds the
committed state, and each `FakeUnitOfWork` works on its own copy of it.

They keep the promises the SQL adapter keeps, so that a service that passes
its tests here behaves the same on SQLite and PostgreSQL:

* **transactions** — what a unit of work writes becomes visible to *new*
  units of work only on `FakeUnitOfWork.commit`; `rollback` (and leaving the
  ``with`` block without committing) discards it; `FakeUnitOfWork.savepoint`
  undoes only what was done inside it when an exception leaves it;
* **keys** — adding a record whose id exists raises `ConflictError`, as does
  a second user with the same e-mail address, or a second administration of
  the same client, instrument, completion time and version (a double
  submission or re-import);
* **immutable administrations** — `update` or `delete` of an administration
  raises `ConflictError`; a correction is a new record with ``supersedes_id``
  and ``version`` one above it (else `ConflictError`; a version above 1
  without ``supersedes_id`` or 1 with it is a `ValidationError`, as the
  database's CHECK), and a second version superseding the same
  administration raises `ConflictError`;
* **time order** — ``for_client`` returns records ordered by their main time
  field, then by id (records without a time first), filtered by
  ``since <= time < until`` (dates count as midnight UTC; naive bounds raise
  `ValidationError`); ``for_clients`` and ``open_for_clients`` break ties
  by id too;
* **instants** — a naive datetime is refused (`ValidationError`) and aware
  ones are kept in UTC, as the database reads them back; an audit event
  without a time gets the time it is recorded;
* **clinical record** — an administration cannot be deleted, and a
  correction must be the next version of the one it supersedes.

`FakeStore.fail_audit` makes every audit write raise `StorageError`, to test
that services fail closed when the audit trail cannot be written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time
from typing import Any, Generic, Protocol, TypeVar

from twostep.domain.ports import AuditEvent, IdempotentResponse, Repository, open_statuses
from twostep.domain.records import (
    Administration,
    AdministrationColumns,
    Alert,
    Appointment,
    Assignment,
    CheckinDraft,
    Clinic,
    EntryKind,
    Episode,
    Goal,
    GoalReview,
    GoalStep,
    ImportBatch,
    JournalEntry,
    MfaEnrolment,
    Role,
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
from twostep.errors import (
    ConflictError,
    NotFoundError,
    Problem,
    StaleVersionError,
    StorageError,
    ValidationError,
)

__all__ = [
    "FakeAdministrationRepository",
    "FakeAlertRepository",
    "FakeAssignmentRepository",
    "FakeAuditLog",
    "FakeRepository",
    "FakeSharingRepository",
    "FakeStore",
    "FakeUnitOfWork",
    "FakeUnitOfWorkFactory",
    "FakeUserRepository",
]


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Identified)
T = TypeVar("T")

#: The main time field of each record type (the order of ``for_client``).
TIME_FIELDS: Mapping[type, str] = {
    Clinic: "created_at",
    User: "created_at",
    Assignment: "started_at",
    Episode: "started_on",
    Appointment: "scheduled_at",
    Administration: "completed_at",
    Alert: "created_at",
    Goal: "created_at",
    GoalStep: "due_on",
    GoalReview: "reviewed_at",
    JournalEntry: "created_at",
    SetbackReflection: "created_at",
    Stressor: "started_on",
    SelfCareEntry: "done_on",
    SkillPractice: "practiced_at",
    ThoughtRecord: "created_at",
    Supporter: "created_at",
    SupportContact: "contacted_on",
    SessionTopic: "created_at",
}

#: The table name of each repository attribute of the unit of work.
TABLES: tuple[str, ...] = (
    "clinics",
    "users",
    "assignments",
    "episodes",
    "appointments",
    "administrations",
    "alerts",
    "goals",
    "goal_steps",
    "goal_reviews",
    "journal",
    "reflections",
    "stressors",
    "self_care",
    "skill_practice",
    "thought_records",
    "supporters",
    "support_contacts",
    "topics",
    "imports",
    "web_sessions",
    "login_attempts",
    "mfa",
    "passwords",
    "drafts",
    "activity",
    "idempotency_keys",
)


def as_instant(value: object) -> datetime | None:
    """A record's time field as an aware datetime (a date is midnight UTC; None stays None)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    return None


_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _aware(value: datetime, where: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused (as the SQL adapter refuses it)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            [Problem(where, "timezone_required", "store and query with aware datetimes")]
        )
    return value.astimezone(UTC)


def stored(record: T) -> T:
    """``record`` as the database keeps it: every instant in UTC (naive ones refused)."""
    changes = {
        f.name: _aware(value, f.name)
        for f in fields(record)  # type: ignore[arg-type]
        if isinstance(value := getattr(record, f.name), datetime)
    }
    return replace(record, **changes) if changes else record  # type: ignore[type-var]


def _order_key(at: datetime | None, record_id: str) -> tuple[bool, datetime, str]:
    """Time order with records without a time first, ties broken by id (as the SQL adapter)."""
    return (at is not None, at or _EARLIEST, record_id)


@dataclass
class _State:
    """The rows of every table, the sharing choices and the audit trail."""

    tables: dict[str, dict[str, Any]] = field(default_factory=lambda: {t: {} for t in TABLES})
    sharing: dict[tuple[str, EntryKind], SharingPreference] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)

    def copy(self) -> _State:
        # records are frozen, so copying the containers copies the state
        return _State(
            {t: dict(rows) for t, rows in self.tables.items()},
            dict(self.sharing),
            list(self.audit),
        )

    def restore(self, other: _State) -> None:
        """Make this state equal to ``other`` in place (repositories keep their references)."""
        for t, rows in self.tables.items():
            rows.clear()
            rows.update(other.tables[t])
        self.sharing.clear()
        self.sharing.update(other.sharing)
        self.audit[:] = other.audit


class FakeStore:
    """The committed state shared by the units of work of one test (the "database")."""

    def __init__(self) -> None:
        self.state = _State()
        self.commits = 0
        self.fail_audit = False

    def rows(self, table: str) -> list[Any]:
        """Committed records of one table (for assertions in tests)."""
        return list(self.state.tables[table].values())

    @property
    def audit_events(self) -> list[AuditEvent]:
        """The committed audit trail, oldest first."""
        return list(self.state.audit)

    def apply(self, base: _State, work: _State) -> None:
        """Write the changes ``work`` made since ``base`` (a commit)."""
        for t in TABLES:
            before, after, target = base.tables[t], work.tables[t], self.state.tables[t]
            for key, record in after.items():
                if before.get(key) is not record:
                    target[key] = record
            for key in before.keys() - after.keys():
                target.pop(key, None)
        for choice, pref in work.sharing.items():
            if base.sharing.get(choice) is not pref:
                self.state.sharing[choice] = pref
        self.state.audit.extend(work.audit[len(base.audit) :])
        self.commits += 1


class FakeRepository(Generic[R]):
    """A dict-backed `Repository` of one record type."""

    def __init__(
        self, rows: dict[str, R], record_type: type, client_of: Callable[[R], str | None]
    ) -> None:
        self._rows = rows
        self._time_field = TIME_FIELDS[record_type]
        self._client_of = client_of
        self._name = record_type.__name__

    def _time(self, record: R) -> datetime | None:
        return as_instant(getattr(record, self._time_field))

    def add(self, record: R) -> R:
        row = stored(record)
        if record.id in self._rows:
            raise ConflictError(f"a {self._name} with this id exists already")
        self._rows[record.id] = row
        return record

    def get(self, record_id: str) -> R | None:
        return self._rows.get(record_id)

    def update(self, record: R) -> R:
        row = stored(record)
        if record.id not in self._rows:
            raise NotFoundError(f"no {self._name} with this id")
        if _versioned(record):
            edited: Any = record
            based_on = edited.version
            if self._rows[record.id].version != based_on:  # type: ignore[attr-defined]
                raise StaleVersionError(f"the {self._name} was changed by someone else meanwhile")
            row = replace(stored(edited), version=based_on + 1)
            record = replace(edited, version=based_on + 1)
        self._rows[record.id] = row
        return record

    def delete(self, record_id: str) -> None:
        if self._rows.pop(record_id, None) is None:
            raise NotFoundError(f"no {self._name} with this id")

    def _ordered(self, records: list[R]) -> list[R]:
        return sorted(records, key=lambda r: _order_key(self._time(r), r.id))

    def for_many_clients(self, client_ids: Sequence[str]) -> list[R]:
        wanted = set(client_ids)
        return self._ordered([r for r in self._rows.values() if self._client_of(r) in wanted])

    def get_many(self, record_ids: Sequence[str]) -> list[R]:
        return [self._rows[i] for i in dict.fromkeys(record_ids) if i in self._rows]

    def for_client(
        self, client_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[R]:
        since = None if since is None else _aware(since, "since")
        until = None if until is None else _aware(until, "until")
        out = []
        for record in self._rows.values():
            if self._client_of(record) != client_id:
                continue
            at = self._time(record)
            if since is not None and (at is None or at < since):
                continue
            if until is not None and (at is None or at >= until):
                continue
            out.append(record)
        return self._ordered(out)


def _client_id(record: Any) -> str | None:
    value = getattr(record, "client_id", None)
    return value if isinstance(value, str) else None


#: Records whose ``version`` is a row version (optimistic concurrency), as in the SQL adapter.
VERSIONED = (Clinic, User, Appointment, Goal, GoalStep, Stressor)


def _versioned(record: Any) -> bool:
    return isinstance(record, VERSIONED)


class FakeUserRepository(FakeRepository[User]):
    def __init__(self, rows: dict[str, Any], passwords: dict[str, Any], *args: Any) -> None:
        super().__init__(rows, *args)
        self._passwords = passwords

    def add(self, record: User) -> User:
        if self.by_email(record.email) is not None:
            raise ConflictError("a user with this e-mail address exists already")
        return super().add(record)

    def update(self, record: User) -> User:
        other = self.by_email(record.email)
        if other is not None and other.id != record.id:
            raise ConflictError("a user with this e-mail address exists already")
        return super().update(record)

    def by_email(self, email: str) -> User | None:
        wanted = email.strip().casefold()
        for user in self._rows.values():
            if user.email.strip().casefold() == wanted:
                return user
        return None

    def in_clinic(self, clinic_id: str) -> list[User]:
        return self._ordered([u for u in self._rows.values() if u.clinic_id == clinic_id])

    def password_hash(self, user_id: str) -> str | None:
        value = self._passwords.get(user_id)
        return value if isinstance(value, str) else None

    def set_password_hash(self, user_id: str, password_hash: str | None) -> None:
        if user_id not in self._rows:
            raise NotFoundError("no User with this id")
        self._passwords[user_id] = password_hash

    def client_refs(self, clinic_id: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for u in self._rows.values():
            if u.clinic_id == clinic_id and u.is_active and Role.CLIENT in u.roles:
                out[u.id] = u.id
                out[u.email.strip().casefold()] = u.id
        return out


def _active(a: Assignment, at: datetime) -> bool:
    return a.started_at <= at and (a.ended_at is None or a.ended_at > at)


class FakeAssignmentRepository(FakeRepository[Assignment]):
    def active_for_therapist(
        self, therapist_id: str, at: datetime | None = None
    ) -> list[Assignment]:
        when = at or datetime.now(UTC)
        return self._ordered(
            [a for a in self._rows.values() if a.therapist_id == therapist_id and _active(a, when)]
        )

    def active_for_client(self, client_id: str, at: datetime | None = None) -> list[Assignment]:
        when = at or datetime.now(UTC)
        return self._ordered(
            [a for a in self._rows.values() if a.client_id == client_id and _active(a, when)]
        )


class FakeAdministrationRepository(FakeRepository[Administration]):
    """Administrations are immutable: corrections are new versions (``supersedes_id``)."""

    def add(self, record: Administration) -> Administration:
        row = stored(record)
        if record.supersedes_id is not None:
            old = self._rows.get(record.supersedes_id)
            if old is None:
                raise NotFoundError("no Administration with this id to supersede")
            if old.client_id != record.client_id or old.instrument_id != record.instrument_id:
                raise ConflictError("a correction must keep the client and the instrument")
            if record.version != old.version + 1:
                raise ConflictError(
                    f"a correction of version {old.version} must be version {old.version + 1}"
                )
        if record.id in self._rows:
            raise ConflictError("an Administration with this id exists already")
        key = (record.client_id, record.instrument_id, record.completed_at, record.version)
        if any(
            (a.client_id, a.instrument_id, a.completed_at, a.version) == key
            for a in self._rows.values()
        ):
            # the SQL adapter's unique key: the same submission stored twice (re-import, retry)
            raise ConflictError("this administration has been stored already")
        if record.supersedes_id is not None and any(
            a.supersedes_id == record.supersedes_id for a in self._rows.values()
        ):
            raise ConflictError("this administration has been superseded already")
        if (record.version == 1) != (record.supersedes_id is None) or record.version < 1:
            # the database's CHECK constraint "version_chain"
            raise ValidationError(
                [
                    Problem(
                        "version_chain",
                        "constraint",
                        "version 1 supersedes nothing; a later version names the one it replaces",
                    )
                ]
            )
        self._rows[record.id] = row
        return record

    def add_columns(self, columns: AdministrationColumns) -> int:
        """The bulk-import path, one record at a time (the fakes have no bulk storage)."""
        n = 0
        for record in columns.records():
            self.add(record)
            n += 1
        return n

    def keys_for_clients(
        self, client_ids: Sequence[str], instrument_id: str
    ) -> dict[tuple[str, datetime], float | None]:
        wanted = set(client_ids)
        superseded = {a.supersedes_id for a in self._rows.values() if a.supersedes_id}
        return {
            (a.client_id, a.completed_at): a.total
            for a in self._rows.values()
            if a.client_id in wanted and a.instrument_id == instrument_id and a.id not in superseded
        }

    def update(self, record: Administration) -> Administration:
        raise ConflictError("a submitted administration is immutable; add a corrected version")

    def delete(self, record_id: str) -> None:
        raise ConflictError("a submitted administration is part of the clinical record")

    def _superseded(self) -> set[str]:
        return {a.supersedes_id for a in self._rows.values() if a.supersedes_id is not None}

    def history(self, client_id: str, instrument_id: str) -> list[Administration]:
        gone = self._superseded()
        return self._ordered(
            [
                a
                for a in self._rows.values()
                if a.client_id == client_id
                and a.instrument_id == instrument_id
                and a.id not in gone
            ]
        )

    def for_clients(
        self, client_ids: Sequence[str], instrument_id: str | None = None
    ) -> list[Administration]:
        gone = self._superseded()
        wanted = {c: i for i, c in enumerate(dict.fromkeys(client_ids))}
        rows = [
            a
            for a in self._rows.values()
            if a.client_id in wanted
            and a.id not in gone
            and (instrument_id is None or a.instrument_id == instrument_id)
        ]
        return sorted(rows, key=lambda a: (wanted[a.client_id], a.completed_at, a.id))


class FakeAlertRepository(FakeRepository[Alert]):
    def open_for_clients(self, client_ids: Sequence[str]) -> list[Alert]:
        wanted = set(client_ids)
        states = open_statuses()
        return self._ordered(
            [a for a in self._rows.values() if a.client_id in wanted and a.status in states]
        )


class FakeSharingRepository:
    """Sharing choices keyed by (client, kind); a kind never chosen is absent."""

    def __init__(self, rows: dict[tuple[str, EntryKind], SharingPreference]) -> None:
        self._rows = rows

    def for_client(self, client_id: str) -> list[SharingPreference]:
        return [p for (c, _), p in sorted(self._rows.items()) if c == client_id]

    def for_clients(self, client_ids: Sequence[str]) -> list[SharingPreference]:
        wanted = set(client_ids)
        return [p for (c, _), p in sorted(self._rows.items()) if c in wanted]

    def set(self, preference: SharingPreference, based_on: int | None = None) -> SharingPreference:
        kind = EntryKind(preference.kind)
        old = self._rows.get((preference.client_id, kind))
        now = old.version if old is not None else 0
        if based_on is not None and based_on != now:
            raise StaleVersionError("the sharing choice was changed meanwhile")
        new = replace(preference, kind=kind, version=now + 1)
        self._rows[(preference.client_id, kind)] = stored(new)
        return replace(preference, version=now + 1)

    def lock(self, client_id: str) -> None:
        """Units of work are serial here already."""


class FakeAuditLog:
    """Append-only audit trail inside the transaction (it commits or rolls back with it)."""

    def __init__(self, events: list[AuditEvent], store: FakeStore) -> None:
        self._events = events
        self._store = store

    def record(self, event: AuditEvent) -> None:
        at = _aware(event.at, "audit.at") if event.at is not None else datetime.now(UTC)
        if self._store.fail_audit:
            raise StorageError("the audit trail cannot be written")
        self._events.append(replace(event, at=at))

    def for_client(self, client_id: str) -> list[AuditEvent]:
        return [e for e in self._events if e.client_id == client_id]


class FakeImportLog:
    """Imported files by (clinic, kind, hash)."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self._rows = rows

    def find(self, clinic_id: str, kind: str, file_hash: str) -> ImportBatch | None:
        batch = self._rows.get(f"{clinic_id}|{kind}|{file_hash}")
        return batch if isinstance(batch, ImportBatch) else None

    def record(self, batch: ImportBatch) -> ImportBatch:
        key = f"{batch.clinic_id}|{batch.kind}|{batch.file_hash}"
        if key in self._rows:
            raise ConflictError("this file has been imported already")
        self._rows[key] = batch
        return batch


class FakeWebSessionRepository:
    """Sessions by id, looked up by token hash."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self._rows = rows

    def add(self, session: WebSession) -> WebSession:
        if session.id in self._rows or self.by_token_hash(session.token_hash) is not None:
            raise ConflictError("this session exists already")
        self._rows[session.id] = session
        return session

    def by_token_hash(self, token_hash: str) -> WebSession | None:
        for s in self._rows.values():
            if isinstance(s, WebSession) and s.token_hash == token_hash:
                return s
        return None

    def touch(self, session_id: str, at: datetime) -> None:
        s = self._rows.get(session_id)
        if isinstance(s, WebSession):
            self._rows[session_id] = replace(s, last_seen_at=at)

    def revoke(self, session_id: str, at: datetime) -> None:
        s = self._rows.get(session_id)
        if isinstance(s, WebSession) and s.revoked_at is None:
            self._rows[session_id] = replace(s, revoked_at=at)

    def revoke_user(self, user_id: str, at: datetime) -> int:
        n = 0
        for sid, s in list(self._rows.items()):
            if isinstance(s, WebSession) and s.user_id == user_id and s.revoked_at is None:
                self._rows[sid] = replace(s, revoked_at=at)
                n += 1
        return n


class FakeLoginAttemptRepository:
    """Login attempts as (key, time, success), in order."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self._rows = rows

    def record(self, key: str, at: datetime, success: bool) -> None:
        self._rows[str(len(self._rows))] = (key, at, success)

    def failures_since(self, key: str, since: datetime) -> int:
        mine = [r for r in self._rows.values() if r[0] == key]
        last_ok = max((r[1] for r in mine if r[2]), default=None)
        return sum(
            1 for k, at, ok in mine if not ok and at >= since and (last_ok is None or at > last_ok)
        )


class FakeMfaRepository:
    """TOTP enrolments by user id."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self._rows = rows

    def get(self, user_id: str) -> MfaEnrolment | None:
        found = self._rows.get(user_id)
        return found if isinstance(found, MfaEnrolment) else None

    def put(self, enrolment: MfaEnrolment) -> None:
        self._rows[enrolment.user_id] = stored(enrolment)

    def delete(self, user_id: str) -> int:
        return 1 if self._rows.pop(user_id, None) is not None else 0

    def use_step(self, user_id: str, step: int) -> bool:
        found = self.get(user_id)
        if found is None or (found.last_step is not None and found.last_step >= step):
            return False
        self._rows[user_id] = replace(found, last_step=step)
        return True

    def use_recovery(self, user_id: str, code_hash: str) -> bool:
        found = self.get(user_id)
        if found is None or code_hash not in found.recovery_hashes:
            return False
        left = tuple(h for h in found.recovery_hashes if h != code_hash)
        self._rows[user_id] = replace(found, recovery_hashes=left)
        return True


class FakeDraftRepository:
    """Drafts by (client, instrument)."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self._rows = rows

    def get(self, client_id: str, instrument_id: str) -> CheckinDraft | None:
        d = self._rows.get(f"{client_id}|{instrument_id}")
        return d if isinstance(d, CheckinDraft) else None

    def save(self, draft: CheckinDraft, based_on: int | None = None) -> CheckinDraft:
        old = self.get(draft.client_id, draft.instrument_id)
        now = old.version if old is not None else 0
        if based_on is not None and based_on != now:
            raise StaleVersionError("the draft was saved elsewhere meanwhile")
        new = replace(draft, version=now + 1)
        self._rows[f"{draft.client_id}|{draft.instrument_id}"] = new
        return new

    def delete(self, client_id: str, instrument_id: str) -> None:
        self._rows.pop(f"{client_id}|{instrument_id}", None)


class FakeActivityRepository:
    """Change counters by client."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self._rows = rows

    def touch(self, client_ids: Sequence[str], at: datetime) -> None:
        for c in dict.fromkeys(client_ids):
            old = self._rows.get(c)
            self._rows[c] = (old if isinstance(old, int) else 0) + 1

    def versions(self, client_ids: Sequence[str]) -> dict[str, int]:
        return {c: v for c in client_ids if isinstance(v := self._rows.get(c), int)}


class FakeIdempotencyRepository:
    """Answers to idempotent writes by (user, key)."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self._rows = rows

    def get(self, user_id: str, key: str) -> IdempotentResponse | None:
        r = self._rows.get(f"{user_id}|{key}")
        return r if isinstance(r, IdempotentResponse) else None

    def add(self, response: IdempotentResponse) -> IdempotentResponse:
        k = f"{response.user_id}|{response.key}"
        if k in self._rows:
            raise ConflictError("this idempotency key has been used")
        self._rows[k] = response
        return response

    def purge(self, before: datetime, user_id: str | None = None) -> int:
        old = [
            k
            for k, r in self._rows.items()
            if r.created_at < before and (user_id is None or r.user_id == user_id)
        ]
        for k in old:
            del self._rows[k]
        return len(old)


class FakeUnitOfWork:
    """One transaction over in-memory copies of every table.

    Use it as the SQL unit of work is used::

        with uow_factory() as uow:
            uow.journal.add(entry)
            uow.commit()
    """

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self._work = _State()
        self._base = _State()
        self.committed = False
        t = self._work.tables
        self.clinics: Repository[Clinic] = FakeRepository(t["clinics"], Clinic, lambda _: None)
        self.users = FakeUserRepository(t["users"], t["passwords"], User, lambda u: u.id)
        self.assignments = FakeAssignmentRepository(t["assignments"], Assignment, _client_id)
        self.episodes: Repository[Episode] = FakeRepository(t["episodes"], Episode, _client_id)
        self.appointments: Repository[Appointment] = FakeRepository(
            t["appointments"], Appointment, _client_id
        )
        self.administrations = FakeAdministrationRepository(
            t["administrations"], Administration, _client_id
        )
        self.alerts = FakeAlertRepository(t["alerts"], Alert, _client_id)
        self.goals: Repository[Goal] = FakeRepository(t["goals"], Goal, _client_id)
        self.goal_steps: Repository[GoalStep] = FakeRepository(
            t["goal_steps"], GoalStep, _client_id
        )
        self.goal_reviews: Repository[GoalReview] = FakeRepository(
            t["goal_reviews"], GoalReview, _client_id
        )
        self.journal: Repository[JournalEntry] = FakeRepository(
            t["journal"], JournalEntry, _client_id
        )
        self.reflections: Repository[SetbackReflection] = FakeRepository(
            t["reflections"], SetbackReflection, _client_id
        )
        self.stressors: Repository[Stressor] = FakeRepository(t["stressors"], Stressor, _client_id)
        self.self_care: Repository[SelfCareEntry] = FakeRepository(
            t["self_care"], SelfCareEntry, _client_id
        )
        self.skill_practice: Repository[SkillPractice] = FakeRepository(
            t["skill_practice"], SkillPractice, _client_id
        )
        self.thought_records: Repository[ThoughtRecord] = FakeRepository(
            t["thought_records"], ThoughtRecord, _client_id
        )
        self.supporters: Repository[Supporter] = FakeRepository(
            t["supporters"], Supporter, _client_id
        )
        self.support_contacts: Repository[SupportContact] = FakeRepository(
            t["support_contacts"], SupportContact, _client_id
        )
        self.topics: Repository[SessionTopic] = FakeRepository(
            t["topics"], SessionTopic, _client_id
        )
        self.sharing = FakeSharingRepository(self._work.sharing)
        self.audit = FakeAuditLog(self._work.audit, store)
        self.imports = FakeImportLog(t["imports"])
        self.web_sessions = FakeWebSessionRepository(t["web_sessions"])
        self.login_attempts = FakeLoginAttemptRepository(t["login_attempts"])
        self.mfa = FakeMfaRepository(t["mfa"])
        self.drafts = FakeDraftRepository(t["drafts"])
        self.activity = FakeActivityRepository(t["activity"])
        self.idempotency = FakeIdempotencyRepository(t["idempotency_keys"])
        self._begin()

    def _begin(self) -> None:
        """Start a new transaction from the committed state."""
        self._base = self._store.state.copy()
        self._work.restore(self._base)

    def __enter__(self) -> FakeUnitOfWork:
        self._begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()

    def commit(self) -> None:
        self._store.apply(self._base, self._work)
        self.committed = True
        self._begin()

    def rollback(self) -> None:
        self._begin()

    def add_many(self, repository: Repository[Any], records: Sequence[Any]) -> int:
        """Add the records one by one (the fakes have no bulk path)."""
        for record in records:
            repository.add(record)
        return len(records)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        snapshot = self._work.copy()
        try:
            yield
        except BaseException:
            self._work.restore(snapshot)
            raise


class FakeUnitOfWorkFactory:
    """A `UnitOfWorkFactory` over one `FakeStore` (a new store when none is given)."""

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def reading(self) -> FakeUnitOfWorkFactory:
        return self
