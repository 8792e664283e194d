"""The clinic's administration: accounts, roles, assignments and clinic settings (admins only).

No use case here returns clinical content: accounts (name, e-mail, roles,
active), assignments (who is whose therapist) and the clinic's settings. An
admin who is also a therapist reaches clinical records only through the
therapist's use cases. Every call records exactly one audit event
(`services.audit.audited`), reads included; the event names the account or
assignment, never a password.

Rules
-----

* Only an active admin of the clinic may call these (`AccessDeniedError`);
  an id of another clinic, or that does not exist, is `NotFoundError` (same
  message: no existence oracle).
* New accounts: e-mail (unique across twostep, compared trimmed and
  case-folded), display name, at least one role. A client account has the
  client role only (clients and staff are separate accounts), and an existing
  account cannot move between client and staff (the clinical record hangs on
  it). The initial password is set by the admin and must meet the password
  policy (`security.passwords.check_policy`: at least 12 characters, not a
  common password, not the address or name), or is generated (24 random
  URL-safe characters, returned once and never stored in clear).
* An admin cannot deactivate their own account, and the last active admin of
  a clinic cannot lose the admin role or be deactivated, so a clinic is never
  left without one. Deactivating an account or setting a new password ends the
  account's sessions at once.
* Clinic settings: crisis-resource text (required: clients must always be
  told where to get urgent help), the delay notice, the instruments offered
  for check-ins (catalogue ids, at least one) and how often (every 1–90 days).
  Stored on the `Clinic` record (columns ``instruments``, ``checkin_every_days``
  exist already: no migration).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Assignment, Clinic, Role, User, new_id
from twostep.errors import ConflictError
from twostep.security.passwords import Hasher, check_policy
from twostep.services.access import Actor, not_found, require_role
from twostep.services.audit import AuditNote, audited
from twostep.services.validation import MAX_SHORT_TEXT, Checks, utcnow
from twostep.services.versions import based_on

__all__ = [
    "AccountView",
    "AssignmentView",
    "ClinicSettings",
    "NewAccount",
    "clinic_settings",
    "create_account",
    "list_accounts",
    "list_assignments",
    "new_account_roles",
    "reset_password",
    "update_account",
    "update_clinic_settings",
]

STAFF = frozenset({Role.THERAPIST, Role.ADMIN, Role.RESEARCHER})
MAX_EMAIL = 320
MAX_CRISIS_TEXT = 2_000
MAX_DELAY_NOTICE = 1_000
MAX_CHECKIN_EVERY_DAYS = 90
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class AccountView:
    """An account as the admin area shows it (no password, no clinical content)."""

    id: str
    email: str
    display_name: str
    roles: tuple[str, ...]
    is_active: bool
    created_at: datetime | None
    version: int = 1  # the row version (ETag)

    @classmethod
    def of(cls, user: User) -> AccountView:
        return cls(
            user.id,
            user.email,
            user.display_name,
            tuple(sorted(r.value for r in user.roles)),
            user.is_active,
            user.created_at,
            user.version,
        )


@dataclass(frozen=True)
class NewAccount:
    account: AccountView
    generated_password: str | None  # shown once when twostep made the password


@dataclass(frozen=True)
class AssignmentView:
    id: str
    therapist_id: str
    therapist_name: str
    client_id: str
    client_name: str
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class ClinicSettings:
    id: str
    name: str
    crisis_text: str
    delay_notice: str
    instruments: tuple[str, ...]
    checkin_every_days: int
    version: int = 1  # the row version (ETag)

    @classmethod
    def of(cls, c: Clinic) -> ClinicSettings:
        return cls(
            c.id,
            c.name,
            c.crisis_text,
            c.delay_notice,
            tuple(c.instruments),
            c.checkin_every_days,
            c.version,
        )


def _admin(uow: UnitOfWork, actor: Actor, note: AuditNote, what: str) -> None:
    require_role(uow, actor, Role.ADMIN, what)
    note.role = Role.ADMIN.value


def _account(uow: UnitOfWork, actor: Actor, user_id: str) -> User:
    user = uow.users.get(user_id)
    if user is None or user.clinic_id != actor.clinic_id:
        raise not_found("user")
    return user


def _roles(c: Checks, values: Collection[object] | None) -> frozenset[Role]:
    if values is None or isinstance(values, str):
        c.fail("roles", "wrong_type", "expected a list of roles")
        return frozenset()
    out: set[Role] = set()
    for i, v in enumerate(values):
        try:
            if not isinstance(v, str):
                raise ValueError(v)
            out.add(Role(v))
        except ValueError:
            c.fail(f"roles[{i}]", "unknown_role", "use client, therapist, admin or researcher")
    if not out and not c.problems:
        c.fail("roles", "required", "give at least one role")
    if Role.CLIENT in out and out & STAFF:
        c.fail("roles", "client_and_staff", "a client account has the client role only")
    return frozenset(out)


def _active_admins(uow: UnitOfWork, clinic_id: str) -> list[User]:
    return [u for u in uow.users.in_clinic(clinic_id) if u.is_active and Role.ADMIN in u.roles]


# -- accounts ---------------------------------------------------------------------------------


def list_accounts(uow_factory: UnitOfWorkFactory, actor: Actor) -> tuple[AccountView, ...]:
    """Every account of the admin's clinic, by name."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[AccountView, ...]:
        _admin(uow, actor, note, "list accounts")
        users = sorted(
            uow.users.in_clinic(actor.clinic_id), key=lambda u: (u.display_name.casefold(), u.id)
        )
        return tuple(AccountView.of(u) for u in users)

    return audited(uow_factory, actor, "read", "users", op)


def create_account(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    *,
    email: str,
    display_name: str,
    roles: Sequence[str | Role],
    password: str | None,
    hasher: Hasher,
    now: datetime | None = None,
) -> NewAccount:
    """A new account in the admin's clinic; ``password`` None → a generated one (returned once)."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> NewAccount:
        _admin(uow, actor, note, "create accounts")
        c = Checks("account")
        mail = c.text("email", email, required=True, max_len=MAX_EMAIL)
        if mail and not _EMAIL.match(mail):
            c.fail("email", "invalid_email", "not an e-mail address")
        elif mail and any(unicodedata.category(ch)[0] == "C" for ch in mail):
            # zero-width, bidi overrides, controls: an address that looks like another
            c.fail("email", "invalid_email", "invisible or control characters in the address")
        name = c.text("display_name", display_name, required=True, max_len=MAX_SHORT_TEXT)
        wanted = _roles(c, roles)
        c.done()
        generated = None
        if password is None:
            generated = secrets.token_urlsafe(18)
            secret = generated
        else:
            check_policy(password, email=mail, name=name)
            secret = password
        if uow.users.by_email(mail) is not None:
            raise ConflictError("an account with this e-mail address exists already")
        user = User(new_id(), actor.clinic_id, mail, name, wanted, True, at)
        note.object_id = user.id
        if Role.CLIENT in wanted:
            note.client_id = user.id
        uow.users.add(user)
        uow.users.set_password_hash(user.id, hasher.hash(secret))
        return NewAccount(AccountView.of(user), generated)

    return audited(uow_factory, actor, "create", "user", op)


def update_account(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    user_id: str,
    *,
    roles: Sequence[str | Role] | None = None,
    is_active: bool | None = None,
    display_name: str | None = None,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> AccountView:
    """Change an account's roles, active state or name (see the module's rules).

    ``expected_version``: the version the edit is based on (the HTTP ``If-Match``); when
    another writer changed the record since, `StaleVersionError` and nothing is written.
    """
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> AccountView:
        _admin(uow, actor, note, "change accounts")
        user = based_on(_account(uow, actor, user_id), expected_version)
        if Role.CLIENT in user.roles:
            note.client_id = user.id
        c = Checks("account")
        new_roles = user.roles if roles is None else _roles(c, roles)
        name = (
            user.display_name
            if display_name is None
            else c.text("display_name", display_name, required=True, max_len=MAX_SHORT_TEXT)
        )
        if is_active is not None and not isinstance(is_active, bool):
            c.fail("is_active", "wrong_type", "expected true or false")
        c.done()
        active = user.is_active if is_active is None else is_active
        if (Role.CLIENT in user.roles) != (Role.CLIENT in new_roles):
            raise ConflictError("an account cannot move between client and staff")
        if user.id == actor.user_id and not active:
            raise ConflictError("you cannot deactivate your own account")
        losing_admin = (
            Role.ADMIN in user.roles
            and user.is_active
            and (Role.ADMIN not in new_roles or not active)
        )
        if losing_admin and all(u.id == user.id for u in _active_admins(uow, actor.clinic_id)):
            raise ConflictError("the clinic's last admin must stay an active admin")
        updated = uow.users.update(
            replace(user, roles=frozenset(new_roles), is_active=active, display_name=name)
        )
        if user.is_active and not active:
            uow.web_sessions.revoke_user(user.id, at)
        return AccountView.of(updated)

    return audited(uow_factory, actor, "update", "user", op, object_id=user_id)


def reset_password(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    user_id: str,
    *,
    password: str | None,
    hasher: Hasher,
    now: datetime | None = None,
) -> str | None:
    """Set a new password (policy-checked), or generate one (returned once); ends all sessions."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> str | None:
        _admin(uow, actor, note, "set passwords")
        user = _account(uow, actor, user_id)
        if Role.CLIENT in user.roles:
            note.client_id = user.id
        generated = None
        if password is None:
            generated = secrets.token_urlsafe(18)
            secret = generated
        else:
            check_policy(password, email=user.email, name=user.display_name)
            secret = password
        uow.users.set_password_hash(user.id, hasher.hash(secret))
        uow.web_sessions.revoke_user(user.id, at)
        return generated

    return audited(uow_factory, actor, "update", "password", op, object_id=user_id)


def reset_mfa(
    uow_factory: UnitOfWorkFactory, actor: Actor, user_id: str, *, now: datetime | None = None
) -> bool:
    """Remove a user's second factor (a lost phone, no recovery code left); ends all their
    sessions. True when there was one. The user sets up a new one at the next sign-in."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> bool:
        _admin(uow, actor, note, "reset second factors")
        user = _account(uow, actor, user_id)
        if Role.CLIENT in user.roles:
            note.client_id = user.id
        removed = uow.mfa.delete(user.id) > 0
        uow.web_sessions.revoke_user(user.id, at)
        return removed

    return audited(uow_factory, actor, "delete", "mfa", op, object_id=user_id)


# -- assignments ------------------------------------------------------------------------------


def list_assignments(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    *,
    include_ended: bool = False,
    now: datetime | None = None,
) -> tuple[AssignmentView, ...]:
    """The clinic's therapist↔client assignments (active now, or all), by client then start."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[AssignmentView, ...]:
        _admin(uow, actor, note, "see assignments")
        users = {u.id: u for u in uow.users.in_clinic(actor.clinic_id)}
        rows: list[Assignment] = []
        for u in users.values():
            if Role.CLIENT not in u.roles:
                continue
            rows += [
                a
                for a in uow.assignments.for_client(u.id)
                if a.clinic_id == actor.clinic_id
                and (include_ended or a.ended_at is None or a.ended_at > at)
            ]

        def name(uid: str) -> str:
            found = users.get(uid)
            return found.display_name if found else "unknown"

        out = [
            AssignmentView(
                a.id,
                a.therapist_id,
                name(a.therapist_id),
                a.client_id,
                name(a.client_id),
                a.started_at,
                a.ended_at,
            )
            for a in rows
        ]
        out.sort(key=lambda v: (v.client_name.casefold(), v.client_id, v.started_at))
        return tuple(out)

    return audited(uow_factory, actor, "read", "assignments", op)


# -- clinic settings --------------------------------------------------------------------------


def clinic_settings(uow_factory: UnitOfWorkFactory, actor: Actor) -> ClinicSettings:
    def op(uow: UnitOfWork, note: AuditNote) -> ClinicSettings:
        _admin(uow, actor, note, "see the clinic's settings")
        clinic = uow.clinics.get(actor.clinic_id)
        if clinic is None:  # pragma: no cover - an actor's clinic exists
            raise not_found("clinic")
        note.object_id = clinic.id
        return ClinicSettings.of(clinic)

    return audited(uow_factory, actor, "read", "clinic", op, object_id=actor.clinic_id)


def update_clinic_settings(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    *,
    known_instruments: Collection[str],
    crisis_text: str | None = None,
    delay_notice: str | None = None,
    instruments: Sequence[str] | None = None,
    checkin_every_days: int | None = None,
    expected_version: int | None = None,
) -> ClinicSettings:
    """Change the given settings (None = keep).

    ``known_instruments``: the ids that may be offered for check-ins (the web
    app passes the catalogue's instruments whose item text may be shown).
    ``expected_version``: the version the edit is based on (the HTTP ``If-Match``); when
    another writer changed the record since, `StaleVersionError` and nothing is written.
    """

    def op(uow: UnitOfWork, note: AuditNote) -> ClinicSettings:
        _admin(uow, actor, note, "change the clinic's settings")
        clinic = uow.clinics.get(actor.clinic_id)
        if clinic is None:  # pragma: no cover
            raise not_found("clinic")
        clinic = based_on(clinic, expected_version)
        c = Checks("clinic")
        crisis = (
            clinic.crisis_text
            if crisis_text is None
            else c.text("crisis_text", crisis_text, required=True, max_len=MAX_CRISIS_TEXT)
        )
        delay = (
            clinic.delay_notice
            if delay_notice is None
            else c.text("delay_notice", delay_notice, max_len=MAX_DELAY_NOTICE)
        )
        chosen = tuple(clinic.instruments)
        if instruments is not None:
            chosen = c.texts("instruments", instruments, max_items=30, max_len=64)
            for i, iid in enumerate(chosen):
                if iid not in known_instruments:
                    c.fail(
                        f"instruments[{i}]",
                        "unknown_instrument",
                        "not offered: unknown, or its questions may not be shown to clients",
                    )
            if not chosen and not c.problems:
                c.fail("instruments", "required", "offer at least one questionnaire")
        every = clinic.checkin_every_days
        if checkin_every_days is not None:
            every = (
                c.integer("checkin_every_days", checkin_every_days, 1, MAX_CHECKIN_EVERY_DAYS)
                or every
            )
        c.done()
        updated = uow.clinics.update(
            replace(
                clinic,
                crisis_text=crisis,
                delay_notice=delay,
                instruments=chosen,
                checkin_every_days=every,
            )
        )
        return ClinicSettings.of(updated)

    return audited(uow_factory, actor, "update", "clinic", op, object_id=actor.clinic_id)


def new_account_roles() -> tuple[str, ...]:
    """The roles an account may have, in the order forms list them."""
    return tuple(r.value for r in (Role.CLIENT, Role.THERAPIST, Role.ADMIN, Role.RESEARCHER))
