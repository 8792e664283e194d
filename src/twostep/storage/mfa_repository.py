"""`MfaRepository` on ``user_mfa`` (TOTP second factor, reliability-security.md AN-05)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from twostep.domain.records import MfaEnrolment
from twostep.storage import tables as t
from twostep.storage.repositories import Executor

__all__ = ["SqlMfaRepository"]


def _enrolment(r: RowMapping) -> MfaEnrolment:
    hashes = str(r["recovery_hashes"] or "")
    return MfaEnrolment(
        user_id=r["user_id"],
        secret=r["secret"],
        created_at=r["created_at"],
        confirmed_at=r["confirmed_at"],
        last_step=None if r["last_step"] is None else int(r["last_step"]),
        recovery_hashes=tuple(hashes.split()),
    )


class SqlMfaRepository:
    """One row per user; the secret is an `EncryptedText` column."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    def get(self, user_id: str) -> MfaEnrolment | None:
        rows = self._db.read(sa.select(t.user_mfa).where(t.user_mfa.c.user_id == user_id))
        return _enrolment(rows[0]) if rows else None

    def put(self, enrolment: MfaEnrolment) -> None:
        values = {
            "secret": enrolment.secret,
            "created_at": enrolment.created_at,
            "confirmed_at": enrolment.confirmed_at,
            "last_step": enrolment.last_step,
            "recovery_hashes": " ".join(enrolment.recovery_hashes),
        }
        c = t.user_mfa.c
        changed = self._db.write(
            sa.update(t.user_mfa).where(c.user_id == enrolment.user_id).values(**values)
        )
        if not changed:
            self._db.write(sa.insert(t.user_mfa).values(user_id=enrolment.user_id, **values))

    def delete(self, user_id: str) -> int:
        return self._db.write(sa.delete(t.user_mfa).where(t.user_mfa.c.user_id == user_id))

    def use_step(self, user_id: str, step: int) -> bool:
        c = t.user_mfa.c
        return (
            self._db.write(
                sa.update(t.user_mfa)
                .where(c.user_id == user_id, sa.or_(c.last_step.is_(None), c.last_step < step))
                .values(last_step=step)
            )
            == 1
        )

    def use_recovery(self, user_id: str, code_hash: str) -> bool:
        found = self.get(user_id)
        if found is None or code_hash not in found.recovery_hashes:
            return False
        left = " ".join(h for h in found.recovery_hashes if h != code_hash)
        c = t.user_mfa.c
        # conditional on the list read: a code used meanwhile by another request fails here
        return (
            self._db.write(
                sa.update(t.user_mfa)
                .where(
                    c.user_id == user_id,
                    c.recovery_hashes == " ".join(found.recovery_hashes),
                )
                .values(recovery_hashes=left)
            )
            == 1
        )
