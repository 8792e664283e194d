"""The signed-in user changes their own password (ASVS 6.2.2/6.2.3, 7.4.3).

The current password is required (a session left open on a shared computer
must not be enough) and its wrong guesses count against the account's sign-in
throttle (429 + ``Retry-After`` above the limit, as at sign-in). The new one
meets the password policy and differs from the current one. A change ends
*every* session of the user, this one included: the user signs in again with
the new password. Every attempt is audited (action ``update``, object
``password``; never a password).
"""

from __future__ import annotations

from fastapi import Request, Response

from twostep.domain.ports import AuditEvent, UnitOfWork
from twostep.errors import Problem, ValidationError
from twostep.security.passwords import check_policy, normalise
from twostep.web.problems import ProblemError
from twostep.web.sessions import COOKIE, THROTTLE_WINDOW, SignedIn, account_key, require_session
from twostep.web.state import state_of


def change_own_password(request: Request, response: Response, current: str, new: str) -> None:
    """Check ``current``, set ``new``, end every session; raises ProblemError/ValidationError."""
    signed = require_session(request)
    state = state_of(request)
    now = state.clock()
    acct = account_key(signed.user.email)
    with state.uow_factory() as uow:
        if (
            uow.login_attempts.failures_since(acct, now - THROTTLE_WINDOW)
            >= state.settings.login_max_failures
        ):
            _audit(uow, signed, request, "denied")
            uow.commit()
            raise ProblemError(
                "too-many-requests",
                "too many attempts; wait 15 minutes or ask your clinic to reset your password",
                headers={"Retry-After": str(int(THROTTLE_WINDOW.total_seconds()))},
            )
        stored = uow.users.password_hash(signed.user.id)
        if not state.hasher.verify(stored, current):
            uow.login_attempts.record(acct, now, False)
            _audit(uow, signed, request, "denied")
            uow.commit()
            raise ValidationError(
                [
                    Problem(
                        "current_password", "wrong_password", "the current password is not right"
                    )
                ],
                context="password",
            )
        try:
            check_policy(new, email=signed.user.email, name=signed.user.display_name)
            if normalise(new) == normalise(current):
                raise ValidationError(
                    [Problem("new_password", "unchanged", "choose a password you have not used")],
                    context="password",
                )
        except ValidationError as exc:
            _audit(uow, signed, request, "error")
            uow.commit()
            raise ValidationError(
                [
                    Problem("new_password", p.code, p.message) if p.where == "password" else p
                    for p in exc.problems
                ],
                context="password",
            ) from None
        uow.users.set_password_hash(signed.user.id, state.hasher.hash(new))
        uow.web_sessions.revoke_user(signed.user.id, now)
        _audit(uow, signed, request, "ok")
        uow.commit()
    clear_cookie(response)
    request.state.signed_in = None


def clear_cookie(response: Response) -> None:
    """Delete the session cookie (same attributes as set: a ``__Host-`` cookie needs them)."""
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def _audit(uow: UnitOfWork, signed: SignedIn, request: Request, outcome: str) -> None:
    uow.audit.record(
        AuditEvent(
            actor_id=signed.user.id,
            actor_role=signed.actor.role_label,
            action="update",
            object_type="password",
            object_id=signed.user.id,
            client_id=None,
            outcome=outcome,
            request_id=str(getattr(request.state, "request_id", "") or "") or None,
            at=state_of(request).clock(),
        )
    )
