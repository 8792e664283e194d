"""Sign-in, sessions and CSRF: server-side sessions in the database.

* **Sessions** (OWASP ASVS V7): a 256-bit random token in a ``__Host-`` cookie
  (Secure, HttpOnly, SameSite=Lax, Path=/); the database keeps only its
  SHA-256, so sessions work behind a load balancer against one PostgreSQL and
  a leaked database copy hands out none. A new token at every sign-in (no
  fixation). Idle timeout (staff 15 min, clients 30 min by default) and an
  absolute lifetime (12 h); sign-out, a disabled account or a new password
  end every session of the user at once (other devices too), and signing in
  again ends the session the browser presented.
* **CSRF** (ASVS 3.5): a per-session synchronizer token, sent by pages as a
  hidden form field and by htmx / the API as the ``X-CSRF-Token`` header;
  checked on every unsafe method, together with the ``Origin`` header when
  the browser sends one. State never changes on GET.
* **Sign-in** (ASVS 6.3): one generic message for a wrong address or
  password; unknown addresses are checked against a dummy Argon2 hash so that
  both take the same time; failures are counted per account (a hash of the
  address) and per network, and answered with 429 + ``Retry-After`` above a
  threshold — never a permanent lock-out. Every attempt is audited (no address
  or password in the audit row).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from twostep.domain.ports import AuditEvent, UnitOfWork
from twostep.domain.records import Role, User, WebSession, new_id
from twostep.errors import StorageError
from twostep.security.passwords import dummy_hash
from twostep.services.access import Actor
from twostep.web.problems import ProblemError
from twostep.web.second_factor import use_code
from twostep.web.state import WebState, reader, state_of

COOKIE = "__Host-twostep_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
THROTTLE_WINDOW = dt.timedelta(minutes=15)
STAFF_ROLES = frozenset({Role.THERAPIST, Role.ADMIN, Role.RESEARCHER})

log = logging.getLogger(__name__)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def new_token() -> str:
    """A new session token: 256 random bits from the OS generator, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SignedIn:
    """The request's session and user (None when signed out)."""

    session: WebSession
    user: User
    csrf_token: str | None  # known only in the response that created the session

    @property
    def actor(self) -> Actor:
        return Actor(self.user.id, self.user.clinic_id, self.user.roles)

    @property
    def is_staff(self) -> bool:
        return bool(self.user.roles & STAFF_ROLES)


def idle_limit(state: WebState, user: User) -> dt.timedelta:
    minutes = (
        state.settings.session_idle_minutes_staff
        if user.roles & STAFF_ROLES
        else state.settings.session_idle_minutes_client
    )
    return dt.timedelta(minutes=minutes)


def load_session(request: Request) -> SignedIn | None:
    """The valid session of this request, or None (expired, revoked, user disabled, no cookie)."""
    cached: SignedIn | bool | None = getattr(request.state, "signed_in", False)
    if cached is not False:
        return cached if isinstance(cached, SignedIn) else None
    found = _load(request)
    request.state.signed_in = found
    return found


def _load(request: Request) -> SignedIn | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    if len(token) > 200:
        _refused(request, None, state_of(request).clock())
        return None
    state = state_of(request)
    now = state.clock()
    # a read-only transaction: most requests only read their session (no write lock)
    with reader(state)() as uow:
        session = uow.web_sessions.by_token_hash(token_hash(token))
        user = None if session is None else uow.users.get(session.user_id)
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        _refused(request, session.user_id if session else None, now)
        return None
    if user is None or not user.is_active:
        _refused(request, session.user_id, now)
        return None
    if now - session.last_seen_at > idle_limit(state, user):
        with state.uow_factory() as uow:
            uow.web_sessions.revoke(session.id, now)
            _audit_session_refused(uow, request, user.id, now)
            uow.commit()
        return None
    # refresh the idle clock at most once a minute (fewer writes under load)
    if now - session.last_seen_at > dt.timedelta(minutes=1):
        try:
            with state.uow_factory() as uow:
                uow.web_sessions.touch(session.id, now)
                uow.commit()
        except StorageError:
            pass  # full or read-only storage (RL-10): the idle clock only runs out sooner
    return SignedIn(session, user, None)


def _refused(request: Request, user_id: str | None, now: dt.datetime) -> None:
    """A session cookie that opens nothing (forged, expired, signed out, user disabled):
    recorded as a failed authentication (reliability-security.md #29), without the token.

    The request is answered as signed out either way: when storage cannot take the
    record (full or read-only, RL-10) the refusal is logged instead of failing the
    sign-in page too.
    """
    try:
        with state_of(request).uow_factory() as uow:
            _audit_session_refused(uow, request, user_id, now)
            uow.commit()
    except StorageError:
        log.warning("refused session cookie not audited: storage unavailable")


def _audit_session_refused(
    uow: UnitOfWork, request: Request, user_id: str | None, at: dt.datetime
) -> None:
    uow.audit.record(
        AuditEvent(
            actor_id=user_id,
            actor_role="anonymous",
            action="authenticate",
            object_type="session",
            object_id=None,
            client_id=None,
            outcome="denied",
            request_id=str(getattr(request.state, "request_id", "") or "") or None,
            at=at,
        )
    )


def require_session(request: Request) -> SignedIn:
    found = load_session(request)
    if found is None:
        raise ProblemError("unauthenticated")
    return found


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse an unsafe request whose CSRF token (or Origin) does not match the session."""
    found = load_session(request)
    if found is None:
        raise ProblemError("unauthenticated")
    origin = request.headers.get("origin")
    if origin and origin != _own_origin(request):
        raise ProblemError("csrf", "the request came from another site")
    token = submitted or request.headers.get(CSRF_HEADER)
    if not token or not hmac.compare_digest(token_hash(token), found.session.csrf_hash):
        raise ProblemError("csrf", "the form has expired; reload the page and try again")


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def csrf_token_for(request: Request) -> str:
    """The CSRF token pages embed: derived from the session token (never stored in clear)."""
    token = request.cookies.get(COOKIE, "")
    return _csrf_from(token)


def _csrf_from(session_token: str) -> str:
    return hashlib.sha256(b"twostep-csrf:" + session_token.encode("ascii", "replace")).hexdigest()


def account_key(email: str) -> str:
    return "acct:" + hashlib.sha256(email.strip().casefold().encode("utf-8")).hexdigest()


def network_key(request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    if ":" in host:  # IPv6: the /64 network
        host = ":".join(host.split(":")[:4])
    return "net:" + hashlib.sha256(host.encode("utf-8")).hexdigest()


def sign_in(
    request: Request, response: Response, email: str, password: str, code: str | None = None
) -> SignedIn:
    """Check the credentials, open a session and set its cookie; raises ProblemError on refusal.

    A user with a second factor (`twostep.web.second_factor`) also needs ``code``: without
    one the answer is ``mfa-required`` (the password is not recorded as a success, so it
    does not reset the throttle); a wrong, old or replayed code counts as a failure.
    """
    state = state_of(request)
    now = state.clock()
    acct, net = account_key(email), network_key(request)
    with state.uow_factory() as uow:
        if (
            uow.login_attempts.failures_since(acct, now - THROTTLE_WINDOW)
            >= state.settings.login_max_failures
            or uow.login_attempts.failures_since(net, now - THROTTLE_WINDOW)
            >= state.settings.login_max_failures_network
        ):
            _audit_login(uow, None, "throttled", request, now)
            uow.commit()
            raise ProblemError(
                "too-many-requests",
                "too many attempts; wait 15 minutes or ask your clinic to reset your password",
                headers={"Retry-After": str(int(THROTTLE_WINDOW.total_seconds()))},
            )
        user = uow.users.by_email(email)
        stored = uow.users.password_hash(user.id) if user is not None else None
        ok = state.hasher.verify(stored or dummy_hash(state.hasher), password)
        ok = ok and user is not None and stored is not None and user.is_active
        if not ok:
            uow.login_attempts.record(acct, now, False)
            # only failures count for the network: a success of an account the attacker
            # owns must not reset a credential-stuffing run
            uow.login_attempts.record(net, now, False)
        if not ok or user is None:
            _audit_login(uow, None, "denied", request, now)
            uow.commit()
            raise ProblemError("unauthenticated", "the e-mail address or the password is not right")
        enrolment = uow.mfa.get(user.id)
        if enrolment is not None and enrolment.enabled:
            if not code or not code.strip():
                _audit_login(uow, user, "denied", request, now, factor=True)
                uow.commit()
                raise ProblemError(
                    "mfa-required", "enter the 6-digit code from your authenticator app"
                )
            if not use_code(uow, enrolment, code, now):
                uow.login_attempts.record(acct, now, False)
                uow.login_attempts.record(net, now, False)
                _audit_login(uow, user, "denied", request, now, factor=True)
                uow.commit()
                raise ProblemError(
                    "unauthenticated",
                    "the code is not right or was already used; wait for the next code",
                )
        uow.login_attempts.record(acct, now, True)
        # re-authentication ends the session the browser presented (ASVS 7.2.4)
        presented = request.cookies.get(COOKIE)
        if presented and len(presented) <= 200:
            old = uow.web_sessions.by_token_hash(token_hash(presented))
            if old is not None:
                uow.web_sessions.revoke(old.id, now)
        token = new_token()
        session = WebSession(
            id=new_id(),
            user_id=user.id,
            token_hash=token_hash(token),
            csrf_hash=token_hash(_csrf_from(token)),
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(hours=state.settings.session_absolute_hours),
        )
        uow.web_sessions.add(session)
        if stored is not None and state.hasher.needs_rehash(stored):
            uow.users.set_password_hash(user.id, state.hasher.hash(password))
        _audit_login(uow, user, "ok", request, now)
        uow.commit()
    set_cookie(response, token, state)
    signed = SignedIn(session, user, _csrf_from(token))
    request.state.signed_in = signed
    return signed


def set_cookie(response: Response, token: str, state: WebState) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=state.settings.session_absolute_hours * 3600,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def sign_out(request: Request, response: Response) -> None:
    state = state_of(request)
    found = load_session(request)
    if found is not None:
        now = state.clock()
        with state.uow_factory() as uow:
            # every session of the user ends, on other devices too (a shared clinic PC)
            uow.web_sessions.revoke_user(found.user.id, now)
            uow.audit.record(
                AuditEvent(
                    found.user.id,
                    found.actor.role_label,
                    "logout",
                    "session",
                    found.session.id,
                    None,
                    at=now,
                )
            )
            uow.commit()
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    request.state.signed_in = None


def _audit_login(
    uow: UnitOfWork,
    user: User | None,
    outcome: str,
    request: Request,
    at: dt.datetime,
    *,
    factor: bool = False,
) -> None:
    """One ``login`` event; ``factor``: refused at the second factor (object ``mfa``)."""
    uow.audit.record(
        AuditEvent(
            actor_id=user.id if user else None,
            actor_role="+".join(sorted(r.value for r in user.roles)) if user else "anonymous",
            action="login",
            object_type="mfa" if factor else "session",
            object_id=None,
            client_id=None,
            outcome="ok" if outcome == "ok" else "denied",
            request_id=str(getattr(request.state, "request_id", "") or "") or None,
            at=at,
        )
    )
