"""The one access policy every service uses: who may read or write which client's data.

Rules (reliability-security.md AZ-01..AZ-10), checked on every call against
the stored users and assignments, so that a change (an ended assignment, a
removed role, a deactivated account) takes effect on the very next call:

1. The actor must be an active user of their clinic; the roles that count are
   those both in the `Actor` and on the stored user. Otherwise
   `AccessDeniedError`.
2. Only the roles ``client`` and ``therapist`` reach row-level clinical data.
   An admin (who is not also a therapist) or a researcher gets
   `AccessDeniedError` on every clinical call, whatever the client id
   (researchers get aggregates only, from other services).
3. A client reaches their own record (relation ``self``).
4. A therapist reaches a client of the same clinic to whom they have an
   assignment active now (relation ``therapist``).
5. Anything else — another client, an unassigned client, a client of another
   clinic, an id that does not exist — raises `NotFoundError` with the same
   message, so a caller cannot learn whether a record exists.

For therapists the client's sharing choices (`EntryKind`, defaults in
`DEFAULT_SHARING`) apply to every between-session entry: a kind that is not
shared is not returned at all, and journal entries lose their text unless
``journal_text`` is shared and their mood and emotions unless ``mood`` is
(`ClientAccess.journal_entry`). Questionnaire scores, alerts, appointments and
episodes are the clinical record and are not subject to sharing choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from twostep.domain.ports import UnitOfWork
from twostep.domain.records import DEFAULT_SHARING, EntryKind, JournalEntry, Role, User
from twostep.errors import AccessDeniedError, NotFoundError

__all__ = [
    "Actor",
    "ClientAccess",
    "Relation",
    "caseload",
    "client_access",
    "not_found",
    "require_role",
    "sharing_for",
    "verified_roles",
]


@dataclass(frozen=True)
class Actor:
    """Who is calling: the signed-in user, their clinic and the roles of their session."""

    user_id: str
    clinic_id: str
    roles: frozenset[Role]
    request_id: str | None = None

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def role_label(self) -> str:
        """The roles as one string for audit records (e.g. ``admin+therapist``)."""
        return "+".join(sorted(r.value for r in self.roles)) or "none"


class Relation(StrEnum):
    """How the actor relates to the client whose data they reach."""

    SELF = "client"
    THERAPIST = "therapist"


@dataclass(frozen=True)
class ClientAccess:
    """Permission to reach one client's record, with the sharing choices that apply."""

    actor: Actor
    client: User
    relation: Relation
    sharing: Mapping[EntryKind, bool] = field(default_factory=lambda: dict(DEFAULT_SHARING))

    @property
    def client_id(self) -> str:
        return self.client.id

    @property
    def is_self(self) -> bool:
        return self.relation is Relation.SELF

    @property
    def is_therapist(self) -> bool:
        return self.relation is Relation.THERAPIST

    def sees(self, kind: EntryKind) -> bool:
        """Whether entries of this kind may be shown to the actor."""
        return self.is_self or bool(self.sharing.get(kind, DEFAULT_SHARING[kind]))

    def sees_journal(self) -> bool:
        """Journal entries are returned when their text or their mood is shared."""
        return self.sees(EntryKind.JOURNAL_TEXT) or self.sees(EntryKind.MOOD)

    def journal_entry(self, entry: JournalEntry) -> JournalEntry | None:
        """The entry as the actor may see it: None, or with unshared parts removed."""
        if not self.sees_journal():
            return None
        if not self.sees(EntryKind.JOURNAL_TEXT):
            entry = replace(entry, text="")
        if not self.sees(EntryKind.MOOD):
            entry = replace(entry, mood=None, emotions=())
        return entry

    def require_self(self, what: str) -> None:
        """Only the client may do this (e.g. write a journal entry, change sharing)."""
        if not self.is_self:
            raise AccessDeniedError(f"only the client may {what}")

    def require_therapist(self, what: str) -> None:
        """Only an assigned therapist may do this (e.g. resolve an alert)."""
        if not self.is_therapist:
            raise AccessDeniedError(f"only the client's therapist may {what}")


def not_found(what: str) -> NotFoundError:
    """The one error for "no such record" and "not yours" alike."""
    return NotFoundError(f"no {what} with this id")


def verified_roles(uow: UnitOfWork, actor: Actor) -> frozenset[Role]:
    """The actor's roles that the stored user still has (rule 1)."""
    user = uow.users.get(actor.user_id)
    if user is None or not user.is_active or user.clinic_id != actor.clinic_id:
        raise AccessDeniedError("this account may not use the service")
    return actor.roles & user.roles


def require_role(uow: UnitOfWork, actor: Actor, role: Role, what: str) -> frozenset[Role]:
    """Role-level check for calls that are not about one client (e.g. triage)."""
    roles = verified_roles(uow, actor)
    if role not in roles:
        raise AccessDeniedError(f"the {role.value} role is needed to {what}")
    return roles


def sharing_for(uow: UnitOfWork, client_id: str) -> dict[EntryKind, bool]:
    """The client's sharing choices, with the defaults for kinds never chosen."""
    out = dict(DEFAULT_SHARING)
    for pref in uow.sharing.for_client(client_id):
        out[EntryKind(pref.kind)] = pref.shared
    return out


def sharing_for_many(
    uow: UnitOfWork, client_ids: Sequence[str]
) -> dict[str, dict[EntryKind, bool]]:
    """`sharing_for` of many clients with one query."""
    out = {c: dict(DEFAULT_SHARING) for c in client_ids}
    for pref in uow.sharing.for_clients(client_ids):
        if pref.client_id in out:
            out[pref.client_id][EntryKind(pref.kind)] = pref.shared
    return out


def client_access(
    uow: UnitOfWork, actor: Actor, client_id: str, *, at: datetime | None = None
) -> ClientAccess:
    """Check that ``actor`` may reach ``client_id``'s record (rules 1-5).

    Raises `AccessDeniedError` for a role that never reaches clinical rows and
    `NotFoundError` for a client the actor may not see (or that does not exist).
    """
    roles = verified_roles(uow, actor)
    if not roles & {Role.CLIENT, Role.THERAPIST}:
        raise AccessDeniedError("this role has no access to clinical records")
    client = uow.users.get(client_id)
    if client is None or Role.CLIENT not in client.roles or client.clinic_id != actor.clinic_id:
        raise not_found("client")
    if Role.CLIENT in roles and actor.user_id == client_id:
        return ClientAccess(actor, client, Relation.SELF, sharing_for(uow, client_id))
    if Role.THERAPIST in roles and any(
        a.therapist_id == actor.user_id and a.clinic_id == actor.clinic_id
        for a in uow.assignments.active_for_client(client_id, at)
    ):
        return ClientAccess(actor, client, Relation.THERAPIST, sharing_for(uow, client_id))
    raise not_found("client")


def caseload(uow: UnitOfWork, actor: Actor, *, at: datetime | None = None) -> list[User]:
    """The therapist's clients with an assignment active now (same clinic), by name."""
    require_role(uow, actor, Role.THERAPIST, "see a caseload")
    wanted = [
        a.client_id
        for a in uow.assignments.active_for_therapist(actor.user_id, at)
        if a.clinic_id == actor.clinic_id
    ]
    users = [
        u
        for u in uow.users.get_many(wanted)
        if u.clinic_id == actor.clinic_id and Role.CLIENT in u.roles
    ]
    return sorted(users, key=lambda u: (u.display_name.casefold(), u.id))
