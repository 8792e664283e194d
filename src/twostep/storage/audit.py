"""The audit trail: append-only and hash-chained (reliability-security.md AU-01..AU-04).

Every row carries ``prev_hash`` (the hash of the row before it; 64 zeros for
the first) and ``hash`` = SHA-256 of ``prev_hash`` and the row's canonical
fields (id, time in UTC, actor, role, action, object, client, outcome,
request id). Changing, deleting or inserting a row anywhere breaks the chain
from that row on, and `verify_chain` names the first broken row. Database
triggers refuse UPDATE and DELETE (`twostep.storage.triggers`), and the
unique ``prev_hash`` means two rows can never follow the same row.

The chain is extended by one writer at a time: events are buffered by the
unit of work and written at commit, inside the transaction, after taking the
chain lock — on PostgreSQL a transaction-scoped advisory lock, on SQLite the
write lock every transaction takes with ``BEGIN IMMEDIATE``. The lock is held
only from the audit insert to the commit, not for the whole unit of work.
Removing rows from the *end* of the chain is not detectable from the chain
alone; ship the latest hash elsewhere (a log, a backup) to anchor it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from twostep.domain.ports import AuditEvent
from twostep.errors import Problem, ValidationError
from twostep.storage.bulk import driver_connection
from twostep.storage.repositories import Executor
from twostep.storage.system_tables import audit_log

__all__ = ["GENESIS_HASH", "SqlAuditLog", "append_events", "chain_hash", "verify_chain"]

GENESIS_HASH = "0" * 64
#: pg_advisory_xact_lock key of the audit chain (any constant; "twostep" in ASCII).
CHAIN_LOCK_KEY = 0x74776F73746570

_FIELDS = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "client_id",
    "outcome",
    "request_id",
)


_CANONICAL_TIMES: dict[datetime, str] = {}


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        text = _CANONICAL_TIMES.get(value)
        if text is None:
            if len(_CANONICAL_TIMES) > 4096:
                _CANONICAL_TIMES.clear()
            text = _CANONICAL_TIMES[value] = value.astimezone(UTC).isoformat(
                timespec="microseconds"
            )
        return text
    return value


def chain_hash(prev_hash: str, row: Mapping[Any, Any]) -> str:
    """SHA-256 (hex) of the previous hash and the row's canonical fields."""
    payload = json.dumps(
        [_canonical(row[name]) for name in _FIELDS], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


class _FastChain:
    """`chain_hash` for many rows at once: each distinct field value is JSON-encoded once.

    The rows of one append share most values (time, actor, action, request id —
    an import writes one event per client), so the payload is joined from cached
    encodings. ``json.dumps`` of a list of scalars with ``(",", ":")`` separators is
    exactly ``"[" + ",".join(json.dumps(each)) + "]"``, so the hash is `chain_hash`'s
    (tested).
    """

    def __init__(self) -> None:
        self._encoded: dict[tuple[type, object], str] = {}

    def _encode(self, value: object) -> str:
        value = _canonical(value)
        key = (type(value), value)
        text = self._encoded.get(key)
        if text is None:
            text = self._encoded[key] = json.dumps(value, ensure_ascii=False)
        return text

    def hash(self, prev_hash: str, row: Mapping[Any, Any]) -> str:
        payload = "[" + ",".join(self._encode(row[name]) for name in _FIELDS) + "]"
        return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


def _instant(event: AuditEvent) -> datetime:
    at = event.at or datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError([Problem("audit.at", "timezone_required", "audit time has no zone")])
    return at.astimezone(UTC)


def append_events(conn: sa.Connection, events: Sequence[AuditEvent]) -> list[int]:
    """Append ``events`` to the chain inside ``conn``'s transaction; returns their ids."""
    if not events:
        return []
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))
    c = audit_log.c
    last = conn.execute(sa.select(c.id, c.hash).order_by(c.id.desc()).limit(1)).first()
    prev_id, prev_hash = (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)
    rows: list[dict[str, Any]] = []
    instants: dict[datetime | None, datetime] = {}  # a bulk import records one time many times
    chain = _FastChain()
    for event in events:
        prev_id += 1
        at = instants.get(event.at)
        if at is None:
            at = instants[event.at] = _instant(event)
        row: dict[str, Any] = {
            "id": prev_id,
            "at": at,
            "actor_id": event.actor_id,
            "actor_role": event.actor_role,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "client_id": event.client_id,
            "outcome": event.outcome,
            "request_id": event.request_id,
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = chain.hash(prev_hash, row)
        rows.append(row)
    if conn.dialect.name == "sqlite" and len(rows) > 1000:
        _insert_sqlite(conn, rows)  # the same values, without a type processor per cell
    else:
        conn.execute(sa.insert(audit_log), rows)
    return [row["id"] for row in rows]


def _insert_sqlite(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk append through the driver: ``at`` as SQLAlchemy's SQLite text (UTC wall time)."""
    names = [*_FIELDS, "prev_hash", "hash"]
    text: dict[datetime, str] = {}

    def stamp(at: datetime) -> str:
        if at not in text:
            text[at] = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return text[at]

    values = [tuple(stamp(r[n]) if n == "at" else r[n] for n in names) for r in rows]
    raw = driver_connection(conn)
    raw.executemany(
        f"INSERT INTO audit_log ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        values,
    )


def _rows(conn: sa.Connection, batch: int) -> Iterator[sa.RowMapping]:
    c = audit_log.c
    last = 0
    while True:
        stmt = sa.select(audit_log).where(c.id > last).order_by(c.id).limit(batch)
        rows = conn.execute(stmt).mappings().all()
        yield from rows
        if len(rows) < batch:
            return
        last = int(rows[-1]["id"])


def verify_chain(connection: sa.Connection | sa.Engine, *, batch: int = 1000) -> int | None:
    """The id of the first row whose link or hash is wrong, or None when the chain is intact."""
    if isinstance(connection, sa.Engine):
        from twostep.storage.engine import READ_ONLY_OPTION
        from twostep.storage.failures import translated

        with translated(), connection.connect() as conn:
            return verify_chain(conn.execution_options(**{READ_ONLY_OPTION: True}), batch=batch)
    prev = GENESIS_HASH
    for row in _rows(connection, batch):
        if row["prev_hash"] != prev or chain_hash(prev, row) != row["hash"]:
            return int(row["id"])
        prev = row["hash"]
    return None


def _event(row: Mapping[Any, Any]) -> AuditEvent:
    return AuditEvent(
        actor_id=row["actor_id"],
        actor_role=row["actor_role"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        client_id=row["client_id"],
        outcome=row["outcome"],
        request_id=row["request_id"],
        at=row["at"],
    )


class SqlAuditLog:
    """`twostep.domain.ports.AuditLog` on the ``audit_log`` table of one unit of work.

    `record` buffers the event; the unit of work appends the buffer to the
    chain when it commits (same transaction: no audit, no commit), and drops
    it on rollback or when a savepoint it was recorded in is rolled back.
    """

    def __init__(self, db: Executor, append: Callable[[list[AuditEvent]], object]) -> None:
        self._db = db
        self._append = append
        self._pending: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        # the time of the event is when it is recorded (a naive time is refused now, not at commit)
        self._pending.append(replace(event, at=_instant(event)))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """Write the buffered events to the chain (the unit of work calls this at commit)."""
        if self._pending:
            self._append(list(self._pending))
            self._pending.clear()

    def truncate(self, size: int) -> None:
        """Forget events recorded after the buffer had ``size`` events."""
        del self._pending[size:]

    def for_client(self, client_id: str) -> list[AuditEvent]:
        """Every event about the client, oldest first (buffered ones included, last).

        The buffer is not written here: written inside a savepoint that is then
        rolled back, events recorded before the savepoint would be lost with it.
        """
        c = audit_log.c
        rows = self._db.read(sa.select(audit_log).where(c.client_id == client_id).order_by(c.id))
        return [_event(row) for row in rows] + [
            e for e in self._pending if e.client_id == client_id
        ]
