"""Repositories with queries of their own: users, assignments, administrations, alerts, sharing."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from twostep.domain.ports import iter_chunks, open_statuses
from twostep.domain.records import (
    Administration,
    AdministrationColumns,
    Alert,
    Assignment,
    CheckinDraft,
    EntryKind,
    ImportBatch,
    Role,
    SharingPreference,
    User,
    WebSession,
)
from twostep.errors import ConflictError, NotFoundError, StaleVersionError
from twostep.storage import mapping as m
from twostep.storage import tables as t
from twostep.storage.bulk import driver_connection, insert_administration_columns
from twostep.storage.failures import translated
from twostep.storage.repositories import CHUNK, Executor, SqlRepository

__all__ = [
    "SqlAdministrationRepository",
    "SqlAlertRepository",
    "SqlAssignmentRepository",
    "SqlSharingRepository",
    "SqlUserRepository",
]


def email_key(email: str) -> str:
    """The form in which e-mail addresses are compared (one account per address): NFKC and
    case-folded, so that look-alikes (full-width letters, ligatures) are the same address."""
    return unicodedata.normalize("NFKC", email.strip()).casefold()


class SqlUserRepository(SqlRepository[User]):
    """Users with their roles (``user_roles``); a user's ``for_client`` is the user."""

    def __init__(self, db: Executor) -> None:
        super().__init__(db, m.USER, client_column="id")

    def _row(self, record: User) -> dict[str, object]:
        row = super()._row(record)
        row["email_key"] = email_key(record.email)
        return row

    def _roles_rows(self, record: User) -> list[dict[str, Any]]:
        return [{"user_id": record.id, "role": Role(x).value} for x in sorted(record.roles)]

    def add(self, record: User) -> User:
        super().add(record)
        if record.roles:
            self._db.write(sa.insert(t.user_roles), self._roles_rows(record))
        return record

    def add_many(self, records: Sequence[User]) -> int:
        n = super().add_many(records)
        roles = [row for x in records for row in self._roles_rows(x)]
        if roles:
            self._db.write(sa.insert(t.user_roles), roles)
        return n

    def update(self, record: User) -> User:
        record = super().update(record)
        self._db.write(sa.delete(t.user_roles).where(t.user_roles.c.user_id == record.id))
        if record.roles:
            self._db.write(sa.insert(t.user_roles), self._roles_rows(record))
        return record

    def _all(self, stmt: sa.Select[Any]) -> list[User]:
        rows = self._db.read(stmt)
        roles: dict[str, set[Role]] = {}
        for chunk in iter_chunks([row["id"] for row in rows], CHUNK):
            q = sa.select(t.user_roles).where(t.user_roles.c.user_id.in_(chunk))
            for x in self._db.read(q):
                roles.setdefault(x["user_id"], set()).add(Role(x["role"]))
        return [
            self._mapper.from_row(row, roles=frozenset(roles.get(row["id"], ()))) for row in rows
        ]

    def by_email(self, email: str) -> User | None:
        found = self._all(self._select().where(t.users.c.email_key == email_key(email)))
        return found[0] if found else None

    def in_clinic(self, clinic_id: str) -> list[User]:
        return self._all(self._ordered(self._select().where(t.users.c.clinic_id == clinic_id)))

    def client_refs(self, clinic_id: str) -> dict[str, str]:
        """Active clients of a clinic by id and by e-mail key -> id (one lean query)."""
        u, r = t.users.c, t.user_roles.c
        rows = self._db.read(
            sa.select(u.id, u.email_key)
            .join(t.user_roles, r.user_id == u.id)
            .where(u.clinic_id == clinic_id, u.is_active.is_(True), r.role == Role.CLIENT.value)
        )
        out: dict[str, str] = {}
        for row in rows:
            out[row["id"]] = row["id"]
            out[row["email_key"]] = row["id"]
        return out

    def set_password_hash(self, user_id: str, password_hash: str | None) -> None:
        """Store (or clear) the user's password hash; it is never part of `User`."""
        stmt = sa.update(t.users).where(t.users.c.id == user_id)
        if self._db.write(stmt.values(password_hash=password_hash)) == 0:
            raise NotFoundError("no User with this id")

    def password_hash(self, user_id: str) -> str | None:
        """The stored password hash (None when none is set or the user does not exist)."""
        rows = self._db.read(sa.select(t.users.c.password_hash).where(t.users.c.id == user_id))
        return rows[0]["password_hash"] if rows else None


def _active_at(at: datetime | None) -> list[sa.ColumnElement[bool]]:
    when = at or datetime.now(UTC)
    c = t.assignments.c
    return [c.started_at <= when, sa.or_(c.ended_at.is_(None), c.ended_at > when)]


class SqlAssignmentRepository(SqlRepository[Assignment]):
    def __init__(self, db: Executor) -> None:
        super().__init__(db, m.ASSIGNMENT)

    def active_for_therapist(
        self, therapist_id: str, at: datetime | None = None
    ) -> list[Assignment]:
        c = t.assignments.c
        stmt = self._select().where(c.therapist_id == therapist_id, *_active_at(at))
        return self._all(self._ordered(stmt))

    def active_for_client(self, client_id: str, at: datetime | None = None) -> list[Assignment]:
        c = t.assignments.c
        stmt = self._select().where(c.client_id == client_id, *_active_at(at))
        return self._all(self._ordered(stmt))


_successor = t.administrations.alias("successor")
#: Not superseded by a later version.
_CURRENT = ~sa.exists().where(_successor.c.supersedes_id == t.administrations.c.id)


class SqlAdministrationRepository(SqlRepository[Administration]):
    """Submitted questionnaires: immutable; a correction is a new version (``supersedes_id``)."""

    def __init__(self, db: Executor) -> None:
        super().__init__(db, m.ADMINISTRATION)

    def add(self, record: Administration) -> Administration:
        if record.supersedes_id is not None:
            old = self.get(record.supersedes_id)
            if old is None:
                raise NotFoundError("no Administration with this id to supersede")
            if old.client_id != record.client_id or old.instrument_id != record.instrument_id:
                raise ConflictError("a correction must keep the client and the instrument")
            if record.version != old.version + 1:
                raise ConflictError(
                    f"a correction of version {old.version} must be version {old.version + 1}"
                )
        # the unique supersedes_id refuses a second correction of the same version, even
        # when two are submitted at once
        return super().add(record)

    def update(self, record: Administration) -> Administration:
        raise ConflictError("a submitted administration is immutable; add a corrected version")

    def delete(self, record_id: str) -> None:
        raise ConflictError("a submitted administration is part of the clinical record")

    def add_columns(self, columns: AdministrationColumns) -> int:
        """Bulk insert (see `twostep.storage.bulk`), in this unit of work's transaction."""
        with translated():
            return insert_administration_columns(self._db.connection, columns)

    def keys_for_clients(
        self, client_ids: Sequence[str], instrument_id: str
    ) -> dict[tuple[str, datetime], float | None]:
        """(client, completion time) -> total of every current administration of these clients."""
        c = t.administrations.c
        out: dict[tuple[str, datetime], float | None] = {}
        for chunk in iter_chunks(list(client_ids), CHUNK):
            rows = self._db.read(
                sa.select(c.client_id, c.completed_at, c.total).where(
                    c.client_id.in_(chunk), c.instrument_id == instrument_id, _CURRENT
                )
            )
            for r in rows:
                out[(r["client_id"], r["completed_at"])] = r["total"]
        return out

    def history(self, client_id: str, instrument_id: str) -> list[Administration]:
        c = t.administrations.c
        stmt = self._select().where(
            c.client_id == client_id, c.instrument_id == instrument_id, _CURRENT
        )
        return self._all(self._ordered(stmt))

    def for_clients(
        self, client_ids: Sequence[str], instrument_id: str | None = None
    ) -> list[Administration]:
        """Current administrations, in the order of ``client_ids``, then by completion time."""
        c = t.administrations.c
        where = [_CURRENT]
        if instrument_id is not None:
            where.append(c.instrument_id == instrument_id)
        rows = self._for_many(c.client_id, client_ids, *where)
        order = {client: i for i, client in enumerate(dict.fromkeys(client_ids))}
        return sorted(rows, key=lambda a: (order[a.client_id], a.completed_at, a.id))


class SqlAlertRepository(SqlRepository[Alert]):
    def __init__(self, db: Executor) -> None:
        super().__init__(db, m.ALERT)

    def open_for_clients(self, client_ids: Sequence[str]) -> list[Alert]:
        """Alerts not resolved (open, acknowledged, snoozed), oldest first."""
        c = t.alerts.c
        states = [s.value for s in open_statuses()]
        rows = self._for_many(c.client_id, client_ids, c.status.in_(states))
        return sorted(rows, key=lambda a: (a.created_at, a.id))


class SqlSharingRepository:
    """The client's sharing choices; a kind never chosen is absent (defaults apply)."""

    def __init__(self, db: Executor, dialect_name: str) -> None:
        self._db = db
        self._dialect = dialect_name

    def _load(self, row: RowMapping) -> SharingPreference:
        return m.SHARING.from_row(row)

    def for_client(self, client_id: str) -> list[SharingPreference]:
        table = t.sharing_preferences
        rows = self._db.read(sa.select(table).where(table.c.client_id == client_id))
        return sorted((self._load(x) for x in rows), key=lambda p: EntryKind(p.kind).value)

    def for_clients(self, client_ids: Sequence[str]) -> list[SharingPreference]:
        table = t.sharing_preferences
        out: list[SharingPreference] = []
        for chunk in iter_chunks(list(dict.fromkeys(client_ids)), CHUNK):
            rows = self._db.read(sa.select(table).where(table.c.client_id.in_(chunk)))
            out.extend(self._load(x) for x in rows)
        return sorted(out, key=lambda p: (p.client_id, EntryKind(p.kind).value))

    def set(self, preference: SharingPreference, based_on: int | None = None) -> SharingPreference:
        """Insert or replace the choice for (client, kind); returns it with its new version.

        ``based_on`` makes the write conditional: the stored row must still have
        that version (0: there must be no row yet), else `StaleVersionError`.
        """
        table = t.sharing_preferences
        c = table.c
        row = m.SHARING.to_row(preference)
        if based_on is None:
            dialect = postgresql if self._dialect == "postgresql" else sqlite
            row["version"] = 1
            stmt = dialect.insert(table).values(row)
            stmt = stmt.on_conflict_do_update(
                index_elements=["client_id", "kind"],
                set_={
                    "shared": stmt.excluded.shared,
                    "updated_at": stmt.excluded.updated_at,
                    "version": table.c.version + 1,
                },
            )
            self._db.write(stmt)
            got = self._db.read(
                sa.select(c.version).where(c.client_id == row["client_id"], c.kind == row["kind"])
            )
            return replace(preference, version=int(got[0]["version"]) if got else 1)
        if based_on == 0:
            row["version"] = 1
            try:
                self._db.write(sa.insert(table).values(row))
            except ConflictError:
                raise StaleVersionError("the sharing choice was changed meanwhile") from None
            return replace(preference, version=1)
        n = self._db.write(
            sa.update(table)
            .where(c.client_id == row["client_id"], c.kind == row["kind"], c.version == based_on)
            .values(shared=row["shared"], updated_at=row["updated_at"], version=based_on + 1)
        )
        if n == 0:
            raise StaleVersionError("the sharing choice was changed meanwhile")
        return replace(preference, version=based_on + 1)

    def lock(self, client_id: str) -> None:
        """Serialise changes of one client's sharing choices until the transaction ends.

        PostgreSQL: a row lock on the client's account row (``FOR UPDATE``);
        SQLite's write transactions are serial already (``BEGIN IMMEDIATE``).
        """
        if self._dialect == "postgresql":
            self._db.read(
                sa.select(t.users.c.id).where(t.users.c.id == client_id).with_for_update()
            )


class SqlImportLog:
    """`ImportLog` on the ``import_batches`` table."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    def find(self, clinic_id: str, kind: str, file_hash: str) -> ImportBatch | None:
        table = t.import_batches
        rows = self._db.read(
            sa.select(table).where(
                table.c.clinic_id == clinic_id, table.c.kind == kind, table.c.file_hash == file_hash
            )
        )
        if not rows:
            return None
        r = rows[0]
        return ImportBatch(
            id=r["id"],
            clinic_id=r["clinic_id"],
            kind=r["kind"],
            source_name=r["source_name"],
            file_hash=r["file_hash"],
            rows=r["rows"],
            created_at=r["created_at"],
            created_by=r["created_by"],
        )

    def record(self, batch: ImportBatch) -> ImportBatch:
        self._db.write(
            sa.insert(t.import_batches).values(
                id=batch.id,
                clinic_id=batch.clinic_id,
                kind=batch.kind,
                source_name=batch.source_name[:500],
                file_hash=batch.file_hash,
                rows=batch.rows,
                created_at=batch.created_at,
                created_by=batch.created_by,
            )
        )
        return batch


class SqlWebSessionRepository:
    """`WebSessionRepository` on ``web_sessions``."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    def add(self, session: WebSession) -> WebSession:
        self._db.write(
            sa.insert(t.web_sessions).values(
                id=session.id,
                user_id=session.user_id,
                token_hash=session.token_hash,
                csrf_hash=session.csrf_hash,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                expires_at=session.expires_at,
                revoked_at=session.revoked_at,
            )
        )
        return session

    def by_token_hash(self, token_hash: str) -> WebSession | None:
        c = t.web_sessions.c
        rows = self._db.read(sa.select(t.web_sessions).where(c.token_hash == token_hash))
        if not rows:
            return None
        r = rows[0]
        return WebSession(
            id=r["id"],
            user_id=r["user_id"],
            token_hash=r["token_hash"],
            csrf_hash=r["csrf_hash"],
            created_at=r["created_at"],
            last_seen_at=r["last_seen_at"],
            expires_at=r["expires_at"],
            revoked_at=r["revoked_at"],
        )

    def touch(self, session_id: str, at: datetime) -> None:
        c = t.web_sessions.c
        self._db.write(sa.update(t.web_sessions).where(c.id == session_id).values(last_seen_at=at))

    def revoke(self, session_id: str, at: datetime) -> None:
        c = t.web_sessions.c
        self._db.write(
            sa.update(t.web_sessions)
            .where(c.id == session_id, c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    def revoke_user(self, user_id: str, at: datetime) -> int:
        c = t.web_sessions.c
        return self._db.write(
            sa.update(t.web_sessions)
            .where(c.user_id == user_id, c.revoked_at.is_(None))
            .values(revoked_at=at)
        )


class SqlLoginAttemptRepository:
    """`LoginAttemptRepository` on ``login_attempts``."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    def record(self, key: str, at: datetime, success: bool) -> None:
        self._db.write(sa.insert(t.login_attempts).values(key=key, at=at, success=success))

    def failures_since(self, key: str, since: datetime) -> int:
        c = t.login_attempts.c
        last_ok = sa.select(sa.func.max(c.at)).where(c.key == key, c.success.is_(True))
        rows = self._db.read(
            sa.select(sa.func.count().label("n")).where(
                c.key == key,
                c.success.is_(False),
                c.at >= since,
                sa.or_(last_ok.scalar_subquery().is_(None), c.at > last_ok.scalar_subquery()),
            )
        )
        return int(rows[0]["n"]) if rows else 0


class SqlDraftRepository:
    """`DraftRepository` on ``checkin_drafts`` (answers encrypted at rest)."""

    def __init__(self, db: Executor, dialect_name: str) -> None:
        self._db = db
        self._dialect = dialect_name

    def get(self, client_id: str, instrument_id: str) -> CheckinDraft | None:
        c = t.checkin_drafts.c
        rows = self._db.read(
            sa.select(t.checkin_drafts).where(
                c.client_id == client_id, c.instrument_id == instrument_id
            )
        )
        if not rows:
            return None
        r = rows[0]
        return CheckinDraft(
            client_id=r["client_id"],
            instrument_id=r["instrument_id"],
            answers=dict(r["answers"]),
            updated_at=r["updated_at"],
            risk_alerted=bool(r["risk_alerted"]),
            version=int(r["version"]),
        )

    def save(self, draft: CheckinDraft, based_on: int | None = None) -> CheckinDraft:
        """Store the draft; returns it with its new version.

        ``based_on`` makes the write conditional: the stored draft must still have
        that version (0: there must be no draft yet), else `StaleVersionError`.
        """
        table = t.checkin_drafts
        c = table.c
        row = {
            "client_id": draft.client_id,
            "instrument_id": draft.instrument_id,
            "answers": dict(draft.answers),
            "updated_at": draft.updated_at,
            "risk_alerted": draft.risk_alerted,
        }
        key = (c.client_id == draft.client_id, c.instrument_id == draft.instrument_id)
        if based_on is None:
            dialect = postgresql if self._dialect == "postgresql" else sqlite
            stmt = dialect.insert(table).values({**row, "version": 1})
            stmt = stmt.on_conflict_do_update(
                index_elements=["client_id", "instrument_id"],
                set_={
                    "answers": stmt.excluded.answers,
                    "updated_at": stmt.excluded.updated_at,
                    "risk_alerted": stmt.excluded.risk_alerted,
                    "version": table.c.version + 1,
                },
            )
            self._db.write(stmt)
            got = self._db.read(sa.select(c.version).where(*key))
            return replace(draft, version=int(got[0]["version"]) if got else 1)
        if based_on == 0:
            try:
                self._db.write(sa.insert(table).values({**row, "version": 1}))
            except ConflictError:
                raise StaleVersionError("the draft was saved elsewhere meanwhile") from None
            return replace(draft, version=1)
        n = self._db.write(
            sa.update(table)
            .where(*key, c.version == based_on)
            .values(
                answers=row["answers"],
                updated_at=row["updated_at"],
                risk_alerted=row["risk_alerted"],
                version=based_on + 1,
            )
        )
        if n == 0:
            raise StaleVersionError("the draft was saved elsewhere meanwhile")
        return replace(draft, version=based_on + 1)

    def delete(self, client_id: str, instrument_id: str) -> None:
        c = t.checkin_drafts.c
        self._db.write(
            sa.delete(t.checkin_drafts).where(
                c.client_id == client_id, c.instrument_id == instrument_id
            )
        )


#: above this many clients a touch goes straight to the SQLite driver (an import touches
#: every client in the file; SQLAlchemy's per-row parameter processing cost more than the upsert)
_BULK_TOUCH = 1000

_TOUCH_SQLITE = (
    "INSERT INTO client_activity (client_id, version, changed_at) VALUES (?, 1, ?) "
    "ON CONFLICT (client_id) DO UPDATE SET version = client_activity.version + 1, "
    "changed_at = excluded.changed_at"
)


def _touch_sqlite(connection: sa.Connection, client_ids: Sequence[str], at: datetime) -> None:
    """The same upsert as `SqlActivityRepository.touch`, through the driver.

    ``changed_at`` is written as SQLAlchemy's SQLite ``DateTime`` text (UTC wall
    time), so the rows read back through the repository unchanged (tested).
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("activity time needs a timezone")
    stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with translated():
        raw = driver_connection(connection)
        raw.executemany(_TOUCH_SQLITE, [(c, stamp) for c in client_ids])


class SqlActivityRepository:
    """`ActivityRepository` on ``client_activity`` (an upsert per touched client)."""

    def __init__(self, db: Executor, dialect_name: str) -> None:
        self._db = db
        self._dialect = dialect_name

    def touch(self, client_ids: Sequence[str], at: datetime) -> None:
        ids = list(dict.fromkeys(client_ids))
        if not ids:
            return
        if self._dialect == "sqlite" and len(ids) > _BULK_TOUCH:
            _touch_sqlite(self._db.connection, ids, at)
            return
        table = t.client_activity
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        stmt = dialect.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["client_id"],
            set_={"version": table.c.version + 1, "changed_at": stmt.excluded.changed_at},
        )
        self._db.write(stmt, [{"client_id": c, "version": 1, "changed_at": at} for c in ids])

    def versions(self, client_ids: Sequence[str]) -> dict[str, int]:
        table = t.client_activity
        out: dict[str, int] = {}
        for chunk in iter_chunks(list(dict.fromkeys(client_ids)), CHUNK):
            rows = self._db.read(
                sa.select(table.c.client_id, table.c.version).where(table.c.client_id.in_(chunk))
            )
            out.update({r["client_id"]: int(r["version"]) for r in rows})
        return out
