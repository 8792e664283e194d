"""What a refused request or import left in the database: row counts and the audit's last id.

Bad-input tests compare these before and after (reliability-security.md §4:
"nothing stored").
"""

from __future__ import annotations

import sqlalchemy as sa

from twostep.storage import tables as t
from twostep.storage.tables import metadata


def row_counts(engine: sa.Engine) -> dict[str, int]:
    """The number of rows of every table of the schema."""
    with engine.connect() as conn:
        return {
            tbl.name: int(conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one())
            for tbl in metadata.sorted_tables
        }


def last_audit_id(engine: sa.Engine) -> int:
    """The id of the latest audit event (0 when there is none)."""
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.audit_log.c.id), 0))).scalar_one()
        )
