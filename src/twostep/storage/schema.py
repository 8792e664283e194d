"""The building blocks every table uses: metadata, column types and constraint helpers.

One `MetaData` with a naming convention, so every constraint and index has
the same, predictable name on SQLite and PostgreSQL (migrations and
`alembic check` depend on that). Identifiers are UUID strings, instants are
stored in UTC by `UTCDateTime`, mappings and tuples are JSON (JSONB on
PostgreSQL), enumerations are short strings guarded by CHECK constraints.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from twostep.errors import Problem, ValidationError

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

#: All of twostep's tables (filled by the table modules; `twostep.storage.tables` loads them all).
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

ID_LENGTH = 36  # str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC, read back as an aware UTC `datetime`.

    Naive datetimes are refused on write: a time without an offset is ambiguous
    (reliability-security.md §4.1, #22). SQLite keeps the UTC wall time as text
    (microsecond precision), PostgreSQL a ``timestamptz``; both read back equal.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise ValidationError(
                [Problem("datetime", "not_a_datetime", f"expected a datetime, got {value!r}")]
            )
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                [
                    Problem(
                        "datetime",
                        "timezone_required",
                        f"{value.isoformat()} has no time zone; store aware datetimes",
                    )
                ]
            )
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact)."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def id_column(name: str = "id", **kw: object) -> sa.Column[str]:
    """A UUID-string primary key."""
    return sa.Column(name, sa.String(ID_LENGTH), primary_key=True, **kw)  # type: ignore[arg-type]


def ref(
    name: str, target: str, *, nullable: bool = False, ondelete: str = "RESTRICT"
) -> sa.Column[str]:
    """A UUID-string foreign key column to ``target`` (``"table.column"``)."""
    return sa.Column(
        name,
        sa.String(ID_LENGTH),
        sa.ForeignKey(target, ondelete=ondelete),
        nullable=nullable,
    )


def instant(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def row_version() -> sa.Column[int]:
    """The row's version counter for optimistic concurrency (the HTTP ``ETag``).

    Every change of the row goes through ``UPDATE ... SET version = version + 1
    WHERE id = ? AND version = ?``: an edit based on an older version changes
    nothing and is refused (`twostep.errors.StaleVersionError`). Added by migration 0005.
    """
    return sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1"))


def enum_check(
    column: str, values: type[StrEnum] | tuple[str, ...], name: str
) -> sa.CheckConstraint:
    """``column IN (...)``: enumerations are plain strings, guarded by the database."""
    allowed = tuple(v.value for v in values) if isinstance(values, type) else values
    listed = ", ".join("'" + v.replace("'", "''") + "'" for v in allowed)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


def range_check(
    column: str, low: int | None, high: int | None, name: str, *, nullable: bool = True
) -> sa.CheckConstraint:
    """``low <= column <= high`` (NULL passes when the column is nullable)."""
    parts = []
    if low is not None:
        parts.append(f"{column} >= {low}")
    if high is not None:
        parts.append(f"{column} <= {high}")
    cond = " AND ".join(parts)
    if nullable:
        cond = f"{column} IS NULL OR ({cond})"
    return sa.CheckConstraint(cond, name=name)
