"""SQL repositories: the `twostep.domain.ports` repositories over SQLAlchemy Core.

Each repository runs its statements through the unit of work
(`SqlUnitOfWork.read` / ``write``), which translates database errors into
twostep errors and, on PostgreSQL, wraps every write in a savepoint so that a
refused write (a duplicate key, say) leaves the transaction usable — as it
does on SQLite and in the in-memory fakes.

``for_client(since, until)`` keeps ``since <= time < until`` on the record's
main time field; a calendar day counts as midnight UTC (as in the fakes).
Records without a time sort first and are left out when a bound is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql import ColumnElement, Executable

from twostep.domain.ports import iter_chunks
from twostep.errors import NotFoundError, Problem, StaleVersionError, ValidationError
from twostep.storage.mapping import RecordMapper

__all__ = ["Executor", "SqlRepository", "day_bound", "time_filters"]

R = TypeVar("R")

#: Most ids in one ``IN (...)`` list (well below SQLite's and PostgreSQL's parameter limits).
CHUNK = 500


class Executor(Protocol):
    """What repositories need from the unit of work."""

    def read(self, statement: Executable) -> list[RowMapping]: ...

    def write(self, statement: Executable, rows: Sequence[dict[str, Any]] | None = None) -> int: ...

    @property
    def connection(self) -> sa.Connection:
        """The connection of the current transaction (for bulk paths)."""
        ...


def _utc(value: datetime, where: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            [Problem(where, "timezone_required", "bounds must be timezone-aware datetimes")]
        )
    return value.astimezone(UTC)


def day_bound(value: datetime, where: str) -> date:
    """The first calendar day whose midnight (UTC) is at or after ``value``."""
    utc = _utc(value, where)
    day = utc.date()
    return day if utc == datetime(day.year, day.month, day.day, tzinfo=UTC) else day + timedelta(1)


def time_filters(
    column: sa.Column[Any], since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """``since <= column < until`` for an instant or a calendar-day column."""
    is_day = isinstance(column.type, sa.Date) and not isinstance(column.type, sa.DateTime)
    out: list[ColumnElement[bool]] = []
    if since is not None:
        out.append(column >= (day_bound(since, "since") if is_day else _utc(since, "since")))
    if until is not None:
        out.append(column < (day_bound(until, "until") if is_day else _utc(until, "until")))
    return out


class SqlRepository(Generic[R]):
    """Storage of one record type in one table (add, get, update, delete, for_client)."""

    def __init__(
        self, db: Executor, mapper: RecordMapper[R], *, client_column: str | None = "client_id"
    ) -> None:
        self._db = db
        self._mapper = mapper
        self._table = mapper.table
        self._client = self._table.c[client_column] if client_column else None
        self._name = mapper.record_type.__name__

    # -- writing -------------------------------------------------------------------------------

    def _row(self, record: R) -> dict[str, object]:
        return self._mapper.to_row(record)

    def add(self, record: R) -> R:
        """Insert ``record``; `ConflictError` if its id (or another unique key) exists."""
        self._db.write(sa.insert(self._table).values(self._row(record)))
        return record

    def add_many(self, records: Sequence[R]) -> int:
        """Insert many records in one statement (all or none); returns how many."""
        if not records:
            return 0
        self._db.write(sa.insert(self._table), [self._row(x) for x in records])
        return len(records)

    def update(self, record: R) -> R:
        """Replace the stored record with the same id; `NotFoundError` if there is none.

        A versioned record is written only if the stored row still has the
        record's ``version`` (one ``UPDATE ... WHERE id = ? AND version = ?``,
        atomic on both backends): the row gets ``version + 1``, which the returned
        record carries; if another writer got there first nothing changes and
        `StaleVersionError` is raised.
        """
        row = self._row(record)
        pk = self._table.c.id
        stmt = sa.update(self._table).where(pk == row["id"])
        if not self._mapper.versioned:
            if self._db.write(stmt.values(row)) == 0:
                raise NotFoundError(f"no {self._name} with this id")
            return record
        based_on = int(record.version)  # type: ignore[attr-defined]
        row["version"] = based_on + 1
        if self._db.write(stmt.where(self._table.c.version == based_on).values(row)) == 0:
            if not self._db.read(sa.select(pk).where(pk == row["id"])):
                raise NotFoundError(f"no {self._name} with this id")
            raise StaleVersionError(f"the {self._name} was changed by someone else meanwhile")
        return replace(record, version=based_on + 1)  # type: ignore[type-var]

    def delete(self, record_id: str) -> None:
        """Delete one record; `NotFoundError` if there is none."""
        n = self._db.write(sa.delete(self._table).where(self._table.c.id == record_id))
        if n == 0:
            raise NotFoundError(f"no {self._name} with this id")

    # -- reading -------------------------------------------------------------------------------

    def _load(self, row: RowMapping) -> R:
        return self._mapper.from_row(row)

    def _select(self) -> sa.Select[Any]:
        return sa.select(self._table)

    def _ordered(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        time = self._mapper.time_column
        if time is None:
            return stmt.order_by(self._table.c.id)
        return stmt.order_by(time.asc().nulls_first(), self._table.c.id)

    def _all(self, stmt: sa.Select[Any]) -> list[R]:
        return [self._load(row) for row in self._db.read(stmt)]

    def get(self, record_id: str) -> R | None:
        rows = self._all(self._select().where(self._table.c.id == record_id))
        return rows[0] if rows else None

    def for_client(
        self, client_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[R]:
        """The client's records in time order, ``since <= time < until``."""
        if self._client is None:
            return []
        stmt = self._select().where(self._client == client_id)
        time = self._mapper.time_column
        if time is not None:
            stmt = stmt.where(*time_filters(time, since, until))
        return self._all(self._ordered(stmt))

    def for_many_clients(self, client_ids: Sequence[str]) -> list[R]:
        """The records of all ``client_ids`` (chunked ``IN`` lists), in time order."""
        if self._client is None:
            return []
        out = self._for_many(self._client, client_ids)
        time = self._mapper.time_column
        if time is None:
            return sorted(out, key=lambda r: r.id)  # type: ignore[attr-defined]
        key = time.key
        return sorted(out, key=lambda r: _time_key(getattr(r, key), r.id))  # type: ignore[attr-defined]

    def get_many(self, record_ids: Sequence[str]) -> list[R]:
        return self._for_many(self._table.c.id, record_ids)

    def _for_many(
        self, column: sa.Column[Any], values: Sequence[str], *where: ColumnElement[bool]
    ) -> list[R]:
        """Records whose ``column`` is one of ``values`` (chunked ``IN`` lists)."""
        out: list[R] = []
        for chunk in iter_chunks(list(dict.fromkeys(values)), CHUNK):
            out.extend(self._all(self._select().where(column.in_(chunk), *where)))
        return out


def _time_key(at: object, record_id: str) -> tuple[int, str, str]:
    """Sort key of (time, id) with missing times first, like ``NULLS FIRST``."""
    if at is None:
        return (0, "", record_id)
    return (1, at.isoformat() if hasattr(at, "isoformat") else str(at), record_id)
