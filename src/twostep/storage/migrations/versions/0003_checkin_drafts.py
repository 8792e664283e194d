"""Check-in drafts: questionnaires started but not submitted (answers encrypted).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkin_drafts",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("risk_alerted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["users.id"],
            name=op.f("fk_checkin_drafts_client_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "instrument_id", name=op.f("pk_checkin_drafts")),
    )


def downgrade() -> None:
    op.drop_table("checkin_drafts")
