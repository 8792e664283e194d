"""The header of a client's pages for their therapist: name and sharing choices.

The therapist's pages (timeline, goals, alliance, session prep) open with who
the client is and which kinds of entry they keep private, so that a missing
journal text reads as "private", never as "nothing written". One access check
and one audit event (``read client``), like every service call.
"""

from __future__ import annotations

from dataclasses import dataclass

from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import EntryKind
from twostep.services.access import Actor, ClientAccess, client_access
from twostep.services.audit import AuditNote, audited

__all__ = ["ClientCard", "card_of", "client_card"]


@dataclass(frozen=True)
class ClientCard:
    client_id: str
    display_name: str
    shared_kinds: tuple[EntryKind, ...]
    private_kinds: tuple[EntryKind, ...]


def client_card(uow_factory: UnitOfWorkFactory, actor: Actor, client_id: str) -> ClientCard:
    """Name and sharing choices of a client the actor may reach (404 otherwise)."""

    def op(uow: UnitOfWork, note: AuditNote) -> ClientCard:
        return card_of(note.granted(client_access(uow, actor, client_id)))

    return audited(uow_factory, actor, "read", "client", op, client_id=client_id)


def card_of(access: ClientAccess) -> ClientCard:
    """The card of the client ``access`` was granted for (inside a use case)."""
    return ClientCard(
        client_id=access.client_id,
        display_name=access.client.display_name,
        shared_kinds=tuple(k for k in EntryKind if access.sees(k)),
        private_kinds=tuple(k for k in EntryKind if not access.sees(k)),
    )
