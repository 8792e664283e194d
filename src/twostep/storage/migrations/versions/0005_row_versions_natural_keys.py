"""Row versions for optimistic concurrency; the natural key of open assignments.

Every record the web app edits in place (clinic settings, accounts,
appointments, goals, goal steps, stressors, sharing choices, check-in
drafts) gets a ``version`` counter, starting at 1 for existing rows: the
HTTP ``ETag`` (reliability-security.md IN-02, RL-08). A partial unique index
makes one open assignment per therapist and client a database rule instead
of a check-then-insert (RL-09).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables whose rows are edited in place (each gets ``version``).
VERSIONED = (
    "clinics",
    "users",
    "appointments",
    "goals",
    "goal_steps",
    "stressors",
    "sharing_preferences",
    "checkin_drafts",
)


def upgrade() -> None:
    for table in VERSIONED:
        op.add_column(
            table,
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        )
    op.create_index(
        "uq_assignments_open",
        "assignments",
        ["therapist_id", "client_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_assignments_open", table_name="assignments")
    for table in reversed(VERSIONED):
        op.drop_column(table, "version")
