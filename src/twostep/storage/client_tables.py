"""Tables of what the client keeps between sessions: goals, journal, logs, support network.

Everything a person wrote in their own words is an `EncryptedText` (or
`EncryptedJSON`) column. Material only the client authored (journal,
reflections, stressors, self-care, skill practice, thought records, support
network, session topics, sharing choices) goes with the client's account
(``ON DELETE CASCADE``: it is erasable under GDPR Art. 17); goals with their
steps and reviews are part of the clinical record (``RESTRICT``), reviewed
with the therapist.
"""

from __future__ import annotations

import sqlalchemy as sa

from twostep.domain.records import EntryKind, GoalRater, SelfCareActivity, StressorCategory
from twostep.storage.encryption import EncryptedJSON, EncryptedText
from twostep.storage.schema import (
    ID_LENGTH,
    enum_check,
    id_column,
    instant,
    json_type,
    metadata,
    range_check,
    ref,
    row_version,
)

__all__ = [
    "checkin_drafts",
    "goal_reviews",
    "goal_steps",
    "goals",
    "journal_entries",
    "self_care_entries",
    "session_topics",
    "setback_reflections",
    "sharing_preferences",
    "skill_practices",
    "stressors",
    "support_contacts",
    "supporters",
    "thought_records",
]

CONTACT_MODES = ("in_person", "phone", "message", "online", "group")


def _owner() -> sa.Column[str]:
    """The client who wrote the entry; the entry goes with their account."""
    return ref("client_id", "users.id", ondelete="CASCADE")


def _text(table: str, column: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(column, EncryptedText(f"{table}.{column}"), nullable=nullable)


goals = sa.Table(
    "goals",
    metadata,
    id_column(),
    ref("clinic_id", "clinics.id"),
    ref("client_id", "users.id"),
    _text("goals", "specific_description"),
    _text("goals", "measurable_indicator"),
    # level descriptors -2..+2 as [[level, text], ...], encrypted as one value
    sa.Column("levels", EncryptedJSON("goals.levels"), nullable=False),
    sa.Column("baseline_level", sa.Integer, nullable=False),
    sa.Column("achievable_rating", sa.Integer, nullable=True),
    _text("goals", "relevant_to"),
    sa.Column("target_date", sa.Date, nullable=True),
    sa.Column("importance", sa.Integer, nullable=False),
    sa.Column("difficulty", sa.Integer, nullable=False),
    sa.Column("rater", sa.String(16), nullable=False),
    sa.Column("review_every_days", sa.Integer, nullable=False),
    sa.Column("weight", sa.Float, nullable=True),
    instant("created_at", nullable=True),
    instant("closed_at", nullable=True),
    row_version(),
    range_check("baseline_level", -2, 2, "baseline_level", nullable=False),
    range_check("achievable_rating", 0, 3, "achievable_rating"),
    range_check("importance", 0, 3, "importance", nullable=False),
    range_check("difficulty", 0, 3, "difficulty", nullable=False),
    sa.CheckConstraint("review_every_days > 0", name="review_every_days"),
    sa.CheckConstraint("weight IS NULL OR weight >= 0", name="weight"),
    enum_check("rater", GoalRater, "rater"),
    sa.UniqueConstraint("id", "client_id"),
    sa.Index(None, "client_id", "created_at"),
)

goal_steps = sa.Table(
    "goal_steps",
    metadata,
    id_column(),
    sa.Column("goal_id", sa.String(ID_LENGTH), nullable=False),
    ref("client_id", "users.id"),
    _text("goal_steps", "text"),
    sa.Column("due_on", sa.Date, nullable=True),
    sa.Column("done", sa.Boolean, nullable=False),
    instant("done_at", nullable=True),
    row_version(),
    sa.ForeignKeyConstraint(
        ["goal_id", "client_id"],
        ["goals.id", "goals.client_id"],
        ondelete="CASCADE",
        name="fk_goal_steps_goal",
    ),
    sa.Index(None, "client_id", "due_on"),
    sa.Index(None, "goal_id"),
)

goal_reviews = sa.Table(
    "goal_reviews",
    metadata,
    id_column(),
    sa.Column("goal_id", sa.String(ID_LENGTH), nullable=False),
    ref("client_id", "users.id"),
    instant("reviewed_at"),
    sa.Column("attained_level", sa.Integer, nullable=True),
    _text("goal_reviews", "notes"),
    ref("reviewer_id", "users.id", nullable=True, ondelete="SET NULL"),
    range_check("attained_level", -2, 2, "attained_level"),
    sa.ForeignKeyConstraint(
        ["goal_id", "client_id"],
        ["goals.id", "goals.client_id"],
        ondelete="CASCADE",
        name="fk_goal_reviews_goal",
    ),
    sa.Index(None, "client_id", "reviewed_at"),
    sa.Index(None, "goal_id"),
)

journal_entries = sa.Table(
    "journal_entries",
    metadata,
    id_column(),
    _owner(),
    instant("created_at"),
    sa.Column("mood", sa.Integer, nullable=True),
    sa.Column("emotions", EncryptedJSON("journal_entries.emotions"), nullable=False),
    _text("journal_entries", "text"),
    range_check("mood", 0, 10, "mood"),
    sa.Index(None, "client_id", "created_at"),
)

setback_reflections = sa.Table(
    "setback_reflections",
    metadata,
    id_column(),
    _owner(),
    instant("created_at"),
    _text("setback_reflections", "what_happened"),
    _text("setback_reflections", "what_i_noticed"),
    _text("setback_reflections", "what_helped"),
    _text("setback_reflections", "what_i_learned"),
    sa.Index(None, "client_id", "created_at"),
)

stressors = sa.Table(
    "stressors",
    metadata,
    id_column(),
    _owner(),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("severity", sa.Integer, nullable=False),
    sa.Column("started_on", sa.Date, nullable=False),
    sa.Column("ended_on", sa.Date, nullable=True),
    _text("stressors", "description"),
    instant("created_at", nullable=True),
    row_version(),
    enum_check("category", StressorCategory, "category"),
    range_check("severity", 1, 5, "severity", nullable=False),
    sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="period"),
    sa.Index(None, "client_id", "started_on"),
)

self_care_entries = sa.Table(
    "self_care_entries",
    metadata,
    id_column(),
    _owner(),
    sa.Column("done_on", sa.Date, nullable=False),
    sa.Column("activity", sa.String(16), nullable=False),
    sa.Column("minutes", sa.Integer, nullable=True),
    sa.Column("restorative", sa.Integer, nullable=True),
    _text("self_care_entries", "note"),
    enum_check("activity", SelfCareActivity, "activity"),
    range_check("minutes", 0, None, "minutes"),
    range_check("restorative", 0, 10, "restorative"),
    sa.Index(None, "client_id", "done_on"),
)

skill_practices = sa.Table(
    "skill_practices",
    metadata,
    id_column(),
    _owner(),
    sa.Column("skill_id", sa.String(64), nullable=False),
    instant("practiced_at"),
    sa.Column("helpfulness", sa.Integer, nullable=True),
    _text("skill_practices", "note"),
    range_check("helpfulness", 0, 10, "helpfulness"),
    sa.Index(None, "client_id", "practiced_at"),
)

thought_records = sa.Table(
    "thought_records",
    metadata,
    id_column(),
    _owner(),
    instant("created_at"),
    _text("thought_records", "situation"),
    _text("thought_records", "automatic_thought"),
    _text("thought_records", "emotion"),
    sa.Column("intensity", sa.Integer, nullable=False),
    _text("thought_records", "evidence_for"),
    _text("thought_records", "evidence_against"),
    _text("thought_records", "balanced_thought"),
    sa.Column("rerated_intensity", sa.Integer, nullable=True),
    range_check("intensity", 0, 100, "intensity", nullable=False),
    range_check("rerated_intensity", 0, 100, "rerated_intensity"),
    sa.Index(None, "client_id", "created_at"),
)

supporters = sa.Table(
    "supporters",
    metadata,
    id_column(),
    _owner(),
    _text("supporters", "name"),
    _text("supporters", "relation"),
    sa.Column("support_kinds", json_type(), nullable=False),
    sa.Column("is_group", sa.Boolean, nullable=False),
    instant("created_at", nullable=True),
    sa.UniqueConstraint("id", "client_id"),
    sa.Index(None, "client_id", "created_at"),
)

support_contacts = sa.Table(
    "support_contacts",
    metadata,
    id_column(),
    sa.Column("supporter_id", sa.String(ID_LENGTH), nullable=False),
    _owner(),
    sa.Column("contacted_on", sa.Date, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("helpful", sa.Integer, nullable=True),
    enum_check("mode", CONTACT_MODES, "mode"),
    range_check("helpful", 0, 10, "helpful"),
    sa.ForeignKeyConstraint(
        ["supporter_id", "client_id"],
        ["supporters.id", "supporters.client_id"],
        ondelete="CASCADE",
        name="fk_support_contacts_supporter",
    ),
    sa.Index(None, "client_id", "contacted_on"),
    sa.Index(None, "supporter_id"),
)

session_topics = sa.Table(
    "session_topics",
    metadata,
    id_column(),
    _owner(),
    instant("created_at"),
    _text("session_topics", "text"),
    instant("addressed_at", nullable=True),
    sa.Index(None, "client_id", "created_at"),
)

sharing_preferences = sa.Table(
    "sharing_preferences",
    metadata,
    _owner(),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False),
    instant("updated_at", nullable=True),
    row_version(),
    sa.PrimaryKeyConstraint("client_id", "kind"),
    enum_check("kind", EntryKind, "kind"),
)


#: Started, unsubmitted check-ins (answers encrypted); deleted when the check-in is submitted.
checkin_drafts = sa.Table(
    "checkin_drafts",
    metadata,
    ref("client_id", "users.id", ondelete="CASCADE"),
    sa.Column("instrument_id", sa.String(64), nullable=False),
    sa.Column("answers", EncryptedJSON("checkin_drafts.answers"), nullable=False),
    instant("updated_at"),
    sa.Column("risk_alerted", sa.Boolean, nullable=False),
    row_version(),
    sa.PrimaryKeyConstraint("client_id", "instrument_id"),
)
