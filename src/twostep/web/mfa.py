"""The signed-in user's second factor: set up, confirm, switch off (reliability-security.md AN-05).

TOTP (`twostep.security.totp`): the user asks for a new secret (shown as
base32 text for manual entry and as an ``otpauth://`` URI), types the code
their app shows, and the factor is on; they get 10 single-use recovery codes
(shown once, stored as hashes). Switching it off needs the password *and* a
current code (or a recovery code). Turning the factor on or off ends every
session of the user, this one included (ASVS 7.4.3): they sign in again, with
the code from now on. Wrong codes and passwords count against the account's
sign-in throttle (429 + ``Retry-After`` above the limit). Every change and
every refusal is audited (object ``mfa``; never a secret or a code).

Where ``TWOSTEP_REQUIRE_STAFF_MFA`` is on (default: production), staff
without a confirmed factor reach only these routes and sign-out
(`twostep.web.policy.MFA_ENROLMENT_ROUTES`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from fastapi import Request

from twostep.config import staff_mfa_required
from twostep.domain.ports import AuditEvent, UnitOfWork
from twostep.domain.records import MfaEnrolment
from twostep.errors import Problem, ValidationError
from twostep.security import totp
from twostep.web.problems import ProblemError
from twostep.web.second_factor import needs_enrolment, use_code
from twostep.web.sessions import THROTTLE_WINDOW, SignedIn, account_key, require_session
from twostep.web.state import reader, state_of

ISSUER = "twostep"


@dataclass(frozen=True)
class MfaStatus:
    enabled: bool
    pending: bool  # a secret was issued and not yet confirmed
    confirmed_at: dt.datetime | None
    recovery_codes_left: int
    required: bool  # staff in a deployment that requires a second factor
    secret: str | None = None  # only while pending (the user is still typing it in)
    otpauth_uri: str | None = None


@dataclass(frozen=True)
class NewSecret:
    secret: str
    otpauth_uri: str


def _uri(signed: SignedIn, secret: str) -> str:
    return totp.provisioning_uri(secret, signed.user.email, ISSUER)


def status(request: Request) -> MfaStatus:
    signed = require_session(request)
    state = state_of(request)
    with reader(state)() as uow:
        found = uow.mfa.get(signed.user.id)
    pending = found is not None and not found.enabled
    return MfaStatus(
        enabled=found is not None and found.enabled,
        pending=pending,
        confirmed_at=found.confirmed_at if found else None,
        recovery_codes_left=len(found.recovery_hashes) if found and found.enabled else 0,
        required=signed.is_staff and staff_mfa_required(state.settings),
        secret=found.secret if found is not None and pending else None,
        otpauth_uri=_uri(signed, found.secret) if found is not None and pending else None,
    )


def must_enrol(request: Request, signed: SignedIn) -> bool:
    """Whether this user must set up a second factor before anything else."""
    state = state_of(request)
    if not (signed.is_staff and staff_mfa_required(state.settings)):
        return False
    with reader(state)() as uow:
        return needs_enrolment(state.settings, signed.user, uow.mfa.get(signed.user.id))


def start(request: Request) -> NewSecret:
    """A new secret for the signed-in user (replacing an unconfirmed one)."""
    signed = require_session(request)
    state = state_of(request)
    now = state.clock()
    with state.uow_factory() as uow:
        found = uow.mfa.get(signed.user.id)
        if found is not None and found.enabled:
            _audit(uow, signed, request, "create", "denied")
            uow.commit()
            raise ProblemError(
                "conflict", "a second factor is already set up; switch it off first to replace it"
            )
        secret = totp.new_secret()
        uow.mfa.put(MfaEnrolment(signed.user.id, secret, now))
        _audit(uow, signed, request, "create", "ok")
        uow.commit()
    return NewSecret(secret, _uri(signed, secret))


def confirm(request: Request, code: str) -> list[str]:
    """Turn the factor on with a current code; returns the new recovery codes (shown once).

    Every session of the user ends (sign in again, with a code).
    """
    signed = require_session(request)
    state = state_of(request)
    now = state.clock()
    with state.uow_factory() as uow:
        _throttle(uow, signed, request, now, "update")
        found = uow.mfa.get(signed.user.id)
        if found is None or found.enabled:
            _audit(uow, signed, request, "update", "denied")
            uow.commit()
            raise ProblemError(
                "conflict",
                "a second factor is already set up"
                if found is not None
                else "start the set-up first (ask for a new secret)",
            )
        step = totp.matching_step(
            totp.secret_bytes(found.secret), code, now, after_step=found.last_step
        )
        if step is None:
            uow.login_attempts.record(account_key(signed.user.email), now, False)
            _audit(uow, signed, request, "update", "denied")
            uow.commit()
            raise ValidationError(
                [
                    Problem(
                        "code",
                        "wrong_code",
                        "the code is not right; check the time on your phone and type the "
                        "code your app shows now",
                    )
                ],
                context="mfa",
            )
        codes = totp.new_recovery_codes()
        uow.mfa.put(
            replace(found, confirmed_at=now, last_step=step, recovery_hashes=totp.hashes_of(codes))
        )
        uow.web_sessions.revoke_user(signed.user.id, now)
        _audit(uow, signed, request, "update", "ok")
        uow.commit()
    request.state.signed_in = None
    return codes


def disable(request: Request, password: str, code: str) -> None:
    """Switch the factor off: needs the password and a current (or recovery) code.

    Every session of the user ends.
    """
    signed = require_session(request)
    state = state_of(request)
    now = state.clock()
    with state.uow_factory() as uow:
        _throttle(uow, signed, request, now, "delete")
        found = uow.mfa.get(signed.user.id)
        if found is None or not found.enabled:
            _audit(uow, signed, request, "delete", "denied")
            uow.commit()
            raise ProblemError("conflict", "no second factor is set up")
        problems: list[Problem] = []
        if not state.hasher.verify(uow.users.password_hash(signed.user.id), password):
            problems.append(Problem("password", "wrong_password", "the password is not right"))
        elif not use_code(uow, found, code, now):
            problems.append(
                Problem("code", "wrong_code", "the code is not right or was already used")
            )
        if problems:
            uow.login_attempts.record(account_key(signed.user.email), now, False)
            _audit(uow, signed, request, "delete", "denied")
            uow.commit()
            raise ValidationError(problems, context="mfa")
        uow.mfa.delete(signed.user.id)
        uow.web_sessions.revoke_user(signed.user.id, now)
        _audit(uow, signed, request, "delete", "ok")
        uow.commit()
    request.state.signed_in = None


def _throttle(
    uow: UnitOfWork, signed: SignedIn, request: Request, now: dt.datetime, action: str
) -> None:
    state = state_of(request)
    acct = account_key(signed.user.email)
    if (
        uow.login_attempts.failures_since(acct, now - THROTTLE_WINDOW)
        >= state.settings.login_max_failures
    ):
        _audit(uow, signed, request, action, "denied")
        uow.commit()
        raise ProblemError(
            "too-many-requests",
            "too many attempts; wait 15 minutes and try again",
            headers={"Retry-After": str(int(THROTTLE_WINDOW.total_seconds()))},
        )


def _audit(uow: UnitOfWork, signed: SignedIn, request: Request, action: str, outcome: str) -> None:
    uow.audit.record(
        AuditEvent(
            actor_id=signed.user.id,
            actor_role=signed.actor.role_label,
            action=action,
            object_type="mfa",
            object_id=signed.user.id,
            client_id=None,
            outcome=outcome,
            request_id=str(getattr(request.state, "request_id", "") or "") or None,
            at=state_of(request).clock(),
        )
    )
