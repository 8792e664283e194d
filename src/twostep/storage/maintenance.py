"""Housekeeping: delete what has outlived its purpose (docs/data-map.md, retention).

`purge_expired` deletes, for every user at once, in one transaction:

* ``idempotency_keys`` older than the retry window — cached answers to
  retried writes, their content encrypted; a user's own expired keys also go
  at their next keyed write, this reaches the users who never write again;
* ``web_sessions`` that can no longer open anything — past their absolute
  expiry, signed out / revoked, or idle for longer than the longest idle
  timeout (sign-in and sign-out stay in the audit trail);
* ``login_attempts`` older than what throttling looks at.

Nothing else is touched: clinical records, client-authored data and the
audit trail have their own retention (the clinic's policy). Running it again
deletes nothing more (each rule is "older than", relative to ``now``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from twostep.storage import tables as t
from twostep.storage.failures import translated

__all__ = ["Purged", "purge_expired"]


@dataclass(frozen=True)
class Purged:
    """How many rows `purge_expired` deleted, by table."""

    idempotency_keys: int
    web_sessions: int
    login_attempts: int

    @property
    def total(self) -> int:
        return self.idempotency_keys + self.web_sessions + self.login_attempts

    def as_dict(self) -> dict[str, int]:
        return {
            "idempotency_keys": self.idempotency_keys,
            "web_sessions": self.web_sessions,
            "login_attempts": self.login_attempts,
        }


def purge_expired(
    engine: sa.Engine,
    *,
    now: datetime,
    idempotency_keep: timedelta,
    session_idle: timedelta,
    login_attempts_keep: timedelta,
) -> Purged:
    """Delete expired idempotency answers, dead sessions and old login attempts (all users)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    keys, sessions, attempts = t.idempotency_keys.c, t.web_sessions.c, t.login_attempts.c
    with translated(), engine.begin() as conn:
        n_keys = conn.execute(
            sa.delete(t.idempotency_keys).where(keys.created_at < now - idempotency_keep)
        ).rowcount
        n_sessions = conn.execute(
            sa.delete(t.web_sessions).where(
                sa.or_(
                    sessions.expires_at <= now,
                    sessions.revoked_at.is_not(None),
                    sessions.last_seen_at < now - session_idle,
                )
            )
        ).rowcount
        n_attempts = conn.execute(
            sa.delete(t.login_attempts).where(attempts.at < now - login_attempts_keep)
        ).rowcount
    return Purged(int(n_keys or 0), int(n_sessions or 0), int(n_attempts or 0))
