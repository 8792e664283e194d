"""Encrypt journal emotions and appointment focus tags at rest (were JSON in clear).

Both are short free text: the words a client picks for how they feel, the
tags a therapist gives a session. Free text is stored as AES-256-GCM
ciphertext like every other free-text column (reliability-security.md
CR-01), with the column's name as associated data.

Each column is rebuilt in place, with no table copied: a new binary column
is added, every stored value is sealed into it, the old column is dropped
and the new one takes its name. (Copying the table, Alembic's batch mode on
SQLite, would drop the old table, and with foreign keys on, SQLite deletes
what refers to it.) Sealing needs the key ring: `twostep.storage.migrate.upgrade`
passes it in ``config.attributes["keyring"]``; without one, a database that
holds values stops here with nothing changed (the upgrade is one transaction),
and an empty one needs none.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column); the associated data of a value is "table.column".
SEALED = (("journal_entries", "emotions"), ("appointments", "focus_tags"))
BATCH = 1000


def _keyring(needed: bool) -> Any:
    config = op.get_context().config
    ring = config.attributes.get("keyring") if config is not None else None
    if ring is None and needed:
        from twostep.errors import StorageError

        raise StorageError(
            "migration 0007 encrypts the journal emotions and appointment focus tags already "
            "stored, and needs the encryption keys: run `twostep db upgrade` with "
            "TWOSTEP_ENCRYPTION_KEYS set (nothing was changed)"
        )
    return ring


def _empty_bytes() -> sa.TextClause:
    return sa.text("'\\x'::bytea") if op.get_bind().dialect.name == "postgresql" else sa.text("x''")


def _rebuild(table: str, column: str, new_type: sa.types.TypeEngine[Any], default: Any) -> str:
    """Add the column that replaces ``column``; returns its temporary name."""
    temp = f"{column}_new"
    op.add_column(table, sa.Column(temp, new_type, nullable=False, server_default=default))
    return temp


def _finish(table: str, column: str, temp: str) -> None:
    op.drop_column(table, column)
    op.alter_column(table, temp, new_column_name=column)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(table, column, server_default=None)


def _rows(table: str, column: str) -> list[Any]:
    return list(op.get_bind().execute(sa.text(f"SELECT id, {column} FROM {table}")).all())


def _write(table: str, temp: str, values: list[dict[str, Any]], bind_type: Any) -> None:
    stmt = sa.text(f"UPDATE {table} SET {temp} = :v WHERE id = :id").bindparams(
        sa.bindparam("v", type_=bind_type)
    )
    for i in range(0, len(values), BATCH):
        op.get_bind().execute(stmt, values[i : i + BATCH])


def upgrade() -> None:
    for table, column in SEALED:
        rows = _rows(table, column)
        ring = _keyring(needed=bool(rows))
        context = f"{table}.{column}"
        sealed = []
        for row_id, value in rows:
            items = json.loads(value) if isinstance(value, str | bytes) else value
            text = json.dumps(items, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            sealed.append({"id": row_id, "v": ring.encrypt(text.encode("utf-8"), context)})
        temp = _rebuild(table, column, sa.LargeBinary(), _empty_bytes())
        _write(table, temp, sealed, sa.LargeBinary())
        _finish(table, column, temp)


def downgrade() -> None:
    json_type = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    for table, column in SEALED:
        rows = _rows(table, column)
        ring = _keyring(needed=bool(rows))
        context = f"{table}.{column}"
        plain = [
            {"id": row_id, "v": json.loads(ring.decrypt(bytes(blob), context).decode("utf-8"))}
            for row_id, blob in rows
        ]
        postgres = op.get_bind().dialect.name == "postgresql"
        temp = _rebuild(table, column, json_type, sa.text("'[]'::jsonb" if postgres else "'[]'"))
        _write(table, temp, plain, json_type)
        _finish(table, column, temp)
