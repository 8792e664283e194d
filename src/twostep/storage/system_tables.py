"""Tables of the system itself: the audit trail, import batches and idempotency keys.

``audit_log`` is append-only and hash-chained (see `twostep.storage.audit`);
it has no foreign keys on purpose, so that it outlives the accounts and
records it names, and it holds identifiers only, never content.
"""

from __future__ import annotations

import sqlalchemy as sa

from twostep.storage.encryption import EncryptedJSON, EncryptedText
from twostep.storage.schema import ID_LENGTH, enum_check, id_column, instant, metadata, ref

__all__ = [
    "AUDIT_OUTCOMES",
    "audit_log",
    "client_activity",
    "idempotency_keys",
    "import_batches",
    "login_attempts",
    "user_mfa",
    "web_sessions",
]

AUDIT_OUTCOMES = ("ok", "denied", "error")
HASH_LENGTH = 64  # SHA-256, hex

audit_log = sa.Table(
    "audit_log",
    metadata,
    # dense 1, 2, 3, ... assigned under the chain lock (the order of the chain)
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    instant("at"),
    sa.Column("actor_id", sa.String(ID_LENGTH), nullable=True),
    sa.Column("actor_role", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("object_type", sa.String(64), nullable=False),
    sa.Column("object_id", sa.String(200), nullable=True),
    sa.Column("client_id", sa.String(ID_LENGTH), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("request_id", sa.String(200), nullable=True),
    # unique: two rows can never follow the same row, so the chain cannot fork
    sa.Column("prev_hash", sa.String(HASH_LENGTH), nullable=False, unique=True),
    sa.Column("hash", sa.String(HASH_LENGTH), nullable=False, unique=True),
    enum_check("outcome", AUDIT_OUTCOMES, "outcome"),
    sa.Index(None, "client_id", "id"),
    sa.Index(None, "actor_id", "id"),
)

import_batches = sa.Table(
    "import_batches",
    metadata,
    id_column(),
    ref("clinic_id", "clinics.id"),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source_name", sa.String(500), nullable=False),
    sa.Column("file_hash", sa.String(HASH_LENGTH), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    instant("created_at"),
    ref("created_by", "users.id", nullable=True, ondelete="SET NULL"),
    enum_check("kind", ("scores", "fhir"), "kind"),
    sa.CheckConstraint("rows >= 0", name="rows"),
    # the same file imported twice into one clinic is recognised and skipped
    sa.UniqueConstraint("clinic_id", "file_hash"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    ref("user_id", "users.id", ondelete="CASCADE"),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("request_hash", sa.String(HASH_LENGTH), nullable=False),
    # NULL until the first request finished (a concurrent retry then gets 409)
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response", EncryptedJSON("idempotency_keys.response"), nullable=True),
    instant("created_at"),
    sa.PrimaryKeyConstraint("user_id", "key"),
    sa.Index(None, "created_at"),
)


#: Browser sessions, server-side (the cookie holds a random token; only its hash is kept).
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    id_column(),
    ref("user_id", "users.id", ondelete="CASCADE"),
    sa.Column("token_hash", sa.String(HASH_LENGTH), nullable=False, unique=True),
    sa.Column("csrf_hash", sa.String(HASH_LENGTH), nullable=False),
    instant("created_at"),
    instant("last_seen_at"),
    instant("expires_at"),
    instant("revoked_at", nullable=True),
    sa.Index(None, "user_id"),
)

#: A user's TOTP second factor (reliability-security.md AN-05): the shared secret encrypted
#: at rest, when it was confirmed, the time step of the last accepted code (no replay) and
#: the SHA-256 hashes of the unused recovery codes (space-separated).
user_mfa = sa.Table(
    "user_mfa",
    metadata,
    ref("user_id", "users.id", ondelete="CASCADE"),
    sa.Column("secret", EncryptedText("user_mfa.secret"), nullable=False),
    instant("created_at"),
    instant("confirmed_at", nullable=True),
    sa.Column("last_step", sa.BigInteger, nullable=True),
    sa.Column("recovery_hashes", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("user_id"),
)

#: Login attempts by key: a hash of the e-mail address or of the client network, never the
#: address itself. Kept for throttling; old rows may be deleted (they are not clinical data).
login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("key", sa.String(HASH_LENGTH + 8), nullable=False),
    instant("at"),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Index(None, "key", "at"),
)

#: One row per client whose clinical record changed: a counter the services bump at every
#: successful write (`twostep.services.audit.audited`). Caseload views compare it to decide
#: whether a cached analysis is still current (several app processes share the database).
client_activity = sa.Table(
    "client_activity",
    metadata,
    ref("client_id", "users.id", ondelete="CASCADE"),
    sa.Column("version", sa.BigInteger, nullable=False),
    instant("changed_at"),
    sa.PrimaryKeyConstraint("client_id"),
)
