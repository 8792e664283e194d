"""Checking a user's second factor (TOTP or a recovery code) inside a unit of work.

Shared by sign-in (`twostep.web.sessions`) and the enrolment pages and API
(`twostep.web.mfa`). An accepted code is *used up* in the same transaction: the
TOTP step is stored as the last one (a conditional write, so the same code in
two concurrent requests succeeds once), a recovery code is removed.
"""

from __future__ import annotations

import datetime as dt

from twostep.config import Settings, staff_mfa_required
from twostep.domain.ports import UnitOfWork
from twostep.domain.records import MfaEnrolment, Role, User
from twostep.security import totp

STAFF_ROLES = frozenset({Role.THERAPIST, Role.ADMIN, Role.RESEARCHER})


def use_code(uow: UnitOfWork, enrolment: MfaEnrolment, code: str, now: dt.datetime) -> bool:
    """True when ``code`` is a valid TOTP code of a step later than the last one used (now
    stored as the last), or one of the unused recovery codes (now removed)."""
    code = (code or "").strip()
    if not code or len(code) > 64:
        return False
    if totp.looks_like_recovery_code(code):
        found = totp.match_recovery(code, enrolment.recovery_hashes)
        return found is not None and uow.mfa.use_recovery(enrolment.user_id, found)
    step = totp.matching_step(
        totp.secret_bytes(enrolment.secret), code, now, after_step=enrolment.last_step
    )
    return step is not None and uow.mfa.use_step(enrolment.user_id, step)


def needs_enrolment(settings: Settings, user: User, enrolment: MfaEnrolment | None) -> bool:
    """Staff without a confirmed second factor, where the deployment requires one."""
    return (
        bool(user.roles & STAFF_ROLES)
        and staff_mfa_required(settings)
        and (enrolment is None or not enrolment.enabled)
    )
