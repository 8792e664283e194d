"""Database failures as twostep errors: nothing raw from SQLAlchemy leaves the adapter.

=====================================  ===================================
what the database said                 what the caller gets
=====================================  ===================================
duplicate key (unique / primary key)   `ConflictError`
foreign key (missing or still used)    `ConflictError`
immutable / append-only trigger        `ConflictError`
CHECK, NOT NULL, bad value             `ValidationError` (code ``constraint``)
locked, busy, disk full, read-only,    `StorageError` (nothing was changed;
I/O error, lost connection, deadlock,  the caller may retry later)
anything else
=====================================  ===================================

Messages name the constraint or table, never the values (they may be PHI).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa_exc

from twostep.errors import (
    ConflictError,
    Problem,
    StorageError,
    TwostepError,
    ValidationError,
)

__all__ = ["translate", "translated"]

_SQLITE_CONFLICT = {
    "SQLITE_CONSTRAINT_UNIQUE": "duplicate key",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "duplicate key",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "a referenced record is missing or still referenced",
    "SQLITE_CONSTRAINT_TRIGGER": "refused by the database",
}
_SQLITE_INVALID = {
    "SQLITE_CONSTRAINT_CHECK",
    "SQLITE_CONSTRAINT_NOTNULL",
    "SQLITE_CONSTRAINT_DATATYPE",
    "SQLITE_MISMATCH",
    "SQLITE_TOOBIG",
}
_PG_CONFLICT = {
    "23505": "duplicate key",
    "23503": "a referenced record is missing or still referenced",
    "23001": "refused by the database",
}
_PG_INVALID_CLASSES = ("22",)  # data exceptions: value too long, NUL in text, out of range
_PG_INVALID = {"23514", "23502"}


def _sqlite(orig: sqlite3.Error) -> TwostepError:
    name = getattr(orig, "sqlite_errorname", "") or ""
    text = str(orig)
    if name in _SQLITE_CONFLICT:
        return ConflictError(f"{_SQLITE_CONFLICT[name]}: {text}")
    if name in _SQLITE_INVALID:
        return ValidationError([Problem(_constraint_of(text), "constraint", text)])
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StorageError("the database is busy (locked by another writer); try again")
    if name.startswith("SQLITE_FULL"):
        return StorageError("the disk is full; nothing was written")
    if name.startswith("SQLITE_READONLY"):
        return StorageError("the database is read-only; nothing was written")
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StorageError(f"the database file cannot be used: {text}")
    return StorageError(f"database error: {text}")


def _constraint_of(text: str) -> str:
    """The constraint name at the end of a SQLite/PG message (or the whole message)."""
    return text.rsplit(":", 1)[-1].strip() or text


def _postgres(orig: psycopg.Error) -> TwostepError:
    state = orig.sqlstate or ""
    diag = orig.diag
    where = diag.constraint_name or diag.table_name or "database"
    primary = diag.message_primary or type(orig).__name__
    if state in _PG_CONFLICT:
        return ConflictError(f"{_PG_CONFLICT[state]}: {where}: {primary}")
    if state in _PG_INVALID or state.startswith(_PG_INVALID_CLASSES):
        return ValidationError([Problem(where, "constraint", primary)])
    if state in ("40001", "40P01", "55P03"):
        return StorageError("the database could not serialise this transaction; try again")
    if state.startswith("53"):
        return StorageError("the database server is out of resources (disk or memory)")
    if state == "25006":
        return StorageError("the database is read-only; nothing was written")
    if state.startswith(("08", "57")):
        return StorageError("the connection to the database was lost")
    return StorageError(f"database error ({state or 'no code'}): {primary}")


def translate(error: BaseException) -> TwostepError:
    """The twostep error for an exception raised by SQLAlchemy or a database driver."""
    if isinstance(error, TwostepError):
        return error
    if isinstance(error, sa_exc.StatementError):
        inner = error.orig
        if isinstance(inner, TwostepError):  # raised by our own type processors
            return inner
        if isinstance(inner, BaseException) and inner is not error:
            return translate(inner)
    if isinstance(error, sqlite3.Error):
        return _sqlite(error)
    if isinstance(error, psycopg.Error):
        return _postgres(error)
    if isinstance(error, sa_exc.TimeoutError):
        return StorageError("no database connection became free in time; try again")
    # never the message itself: it may carry SQL text and values (clinical data)
    return StorageError(f"database error: {type(error).__name__}")


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise database exceptions inside the block as twostep errors."""
    try:
        yield
    except TwostepError:
        raise
    except (sa_exc.SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:
        # `from None`: the driver's exception may hold statement parameters, i.e.
        # clinical data, which must not reach logs through a chained traceback
        raise translate(exc) from None
