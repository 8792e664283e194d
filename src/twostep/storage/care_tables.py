"""Tables of the clinic's own records: people, care episodes, questionnaires and alerts.

Clinical records reference the client with ``ON DELETE RESTRICT``: deleting a
user never silently deletes their clinical history. Child records carry the
client id too and reference their parent through ``(parent id, client id)``,
so the database itself refuses a record that points at another client's
episode, administration or goal (reliability-security.md AZ-05).
"""

from __future__ import annotations

import sqlalchemy as sa

from twostep.domain.records import AlertKind, AlertStatus, AppointmentStatus, Role
from twostep.storage.encryption import EncryptedJSON, EncryptedText
from twostep.storage.schema import (
    ID_LENGTH,
    enum_check,
    id_column,
    instant,
    json_type,
    metadata,
    ref,
    row_version,
)

__all__ = [
    "administrations",
    "alerts",
    "appointments",
    "assignments",
    "clinics",
    "episodes",
    "user_roles",
    "users",
]

ADMINISTRATION_SOURCES = ("app", "import", "fhir")

clinics = sa.Table(
    "clinics",
    metadata,
    id_column(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("crisis_text", sa.Text, nullable=False),
    sa.Column("delay_notice", sa.Text, nullable=False),
    sa.Column("instruments", json_type(), nullable=False),
    sa.Column("checkin_every_days", sa.Integer, nullable=False),
    instant("created_at", nullable=True),
    row_version(),
    sa.CheckConstraint("checkin_every_days > 0", name="checkin_every_days"),
)

users = sa.Table(
    "users",
    metadata,
    id_column(),
    ref("clinic_id", "clinics.id"),
    sa.Column("email", sa.String(320), nullable=False),
    # the address as compared (stripped, case-folded): one account per address
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    instant("created_at", nullable=True),
    # an argon2id hash set by the web layer; NULL = cannot log in with a password
    sa.Column("password_hash", sa.String(255), nullable=True),
    row_version(),
    sa.Index(None, "clinic_id"),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    ref("user_id", "users.id", ondelete="CASCADE"),
    sa.Column("role", sa.String(16), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "role"),
    enum_check("role", Role, "role"),
)

assignments = sa.Table(
    "assignments",
    metadata,
    id_column(),
    ref("clinic_id", "clinics.id"),
    ref("therapist_id", "users.id"),
    ref("client_id", "users.id"),
    instant("started_at"),
    instant("ended_at", nullable=True),
    sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="period"),
    sa.CheckConstraint("therapist_id <> client_id", name="not_self"),
    sa.Index(None, "therapist_id", "started_at"),
    sa.Index(None, "client_id", "started_at"),
    # natural key of an open assignment (RL-09): one per therapist and client (migration 0005)
    sa.Index(
        "uq_assignments_open",
        "therapist_id",
        "client_id",
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    ),
)

episodes = sa.Table(
    "episodes",
    metadata,
    id_column(),
    ref("clinic_id", "clinics.id"),
    ref("client_id", "users.id"),
    sa.Column("started_on", sa.Date, nullable=False),
    sa.Column("ended_on", sa.Date, nullable=True),
    sa.Column("end_reason", EncryptedText("episodes.end_reason"), nullable=True),
    sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="period"),
    sa.UniqueConstraint("id", "client_id"),
    sa.Index(None, "client_id", "started_on"),
)

appointments = sa.Table(
    "appointments",
    metadata,
    id_column(),
    ref("clinic_id", "clinics.id"),
    sa.Column("episode_id", sa.String(ID_LENGTH), nullable=False),
    ref("client_id", "users.id"),
    ref("therapist_id", "users.id", nullable=True, ondelete="SET NULL"),
    instant("scheduled_at"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("focus_tags", EncryptedJSON("appointments.focus_tags"), nullable=False),
    sa.Column("assessment_only", sa.Boolean, nullable=False),
    row_version(),
    enum_check("status", AppointmentStatus, "status"),
    sa.ForeignKeyConstraint(
        ["episode_id", "client_id"],
        ["episodes.id", "episodes.client_id"],
        ondelete="RESTRICT",
        name="fk_appointments_episode",
    ),
    sa.Index(None, "client_id", "scheduled_at"),
    sa.Index(None, "episode_id"),
)

administrations = sa.Table(
    "administrations",
    metadata,
    id_column(),
    ref("clinic_id", "clinics.id"),
    ref("client_id", "users.id"),
    sa.Column("episode_id", sa.String(ID_LENGTH), nullable=True),
    sa.Column("instrument_id", sa.String(64), nullable=False),
    sa.Column("answers", json_type(), nullable=False),
    sa.Column("total", sa.Float, nullable=True),
    sa.Column("subscales", json_type(), nullable=False),
    sa.Column("band", sa.String(64), nullable=True),
    sa.Column("is_case", sa.Boolean, nullable=True),
    sa.Column("risk", sa.Boolean, nullable=False),
    sa.Column("risk_level", sa.Integer, nullable=False),
    sa.Column("risk_not_assessed", sa.Boolean, nullable=False),
    sa.Column("prorated", sa.Boolean, nullable=False),
    instant("completed_at"),
    instant("received_at"),
    ref("submitted_by", "users.id", nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("supersedes_id", sa.String(ID_LENGTH), nullable=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.CheckConstraint("version >= 1", name="version"),
    sa.CheckConstraint(
        "(version = 1 AND supersedes_id IS NULL) OR (version > 1 AND supersedes_id IS NOT NULL)",
        name="version_chain",
    ),
    sa.CheckConstraint("risk_level >= 0", name="risk_level"),
    enum_check("source", ADMINISTRATION_SOURCES, "source"),
    sa.ForeignKeyConstraint(
        ["episode_id", "client_id"],
        ["episodes.id", "episodes.client_id"],
        ondelete="RESTRICT",
        name="fk_administrations_episode",
    ),
    sa.ForeignKeyConstraint(
        ["supersedes_id"],
        ["administrations.id"],
        ondelete="RESTRICT",
        name="fk_administrations_supersedes",
    ),
    # that a correction keeps its client is checked by the trigger "administrations_same_client"
    # (a composite foreign key would need one more unique index, costly in bulk imports)
    # the natural key: one submission per client, instrument, moment and version (RL-09)
    sa.UniqueConstraint(
        "client_id",
        "instrument_id",
        "completed_at",
        "version",
        name="uq_administrations_natural_key",
    ),
    # unique: a version can be superseded once, so the chain of corrections is linear.
    # Partial (only corrections are indexed): first versions, nearly every row, cost nothing,
    # which keeps bulk imports fast. The natural key above serves the per-client queries.
    sa.Index(
        "uq_administrations_supersedes_id",
        "supersedes_id",
        unique=True,
        sqlite_where=sa.text("supersedes_id IS NOT NULL"),
        postgresql_where=sa.text("supersedes_id IS NOT NULL"),
    ),
)

alerts = sa.Table(
    "alerts",
    metadata,
    id_column(),
    ref("clinic_id", "clinics.id"),
    ref("client_id", "users.id"),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("parameters", json_type(), nullable=False),
    instant("created_at"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("administration_id", sa.String(ID_LENGTH), nullable=True),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("action_taken", EncryptedText("alerts.action_taken"), nullable=True),
    ref("updated_by", "users.id", nullable=True, ondelete="SET NULL"),
    instant("updated_at", nullable=True),
    instant("snoozed_until", nullable=True),
    enum_check("kind", AlertKind, "kind"),
    enum_check("status", AlertStatus, "status"),
    sa.ForeignKeyConstraint(
        ["administration_id"],
        ["administrations.id"],
        ondelete="RESTRICT",
        name="fk_alerts_administration",
    ),
    sa.Index(None, "client_id", "status"),
    sa.Index(None, "client_id", "created_at"),
    sa.Index(None, "administration_id"),
)
