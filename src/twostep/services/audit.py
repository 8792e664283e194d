"""The audit trail of clinical data: exactly one event per service call, failing closed.

`audited` runs one use case inside one unit of work and records one
`AuditEvent` — actor, role, action, object type and id, client id, outcome,
time, request id — in the same transaction (reliability-security.md AU-01,
AU-02, AU-04):

* on success the event (outcome ``ok``) is recorded and committed together
  with whatever the use case wrote;
* a read (``read``, ``export``) runs in a read-only unit of work
  (`UnitOfWorkFactory.reading`: on SQLite a deferred transaction, so the
  single write lock is not held while the use case computes), and its event
  is then committed in a short write transaction of its own *before* the
  result is returned — the read is on record before anyone sees the data;
* when the use case is refused (`NotFoundError`, `AccessDeniedError`:
  outcome ``denied``) or rejects its input (`ValidationError`,
  `ConflictError`: outcome ``error``), everything it did is rolled back and
  the event alone is committed, then the error is raised again;
* a successful write (any action but ``read`` and ``export``) about a client
  also bumps that client's activity counter in the same transaction;
* if the event cannot be recorded, the error propagates and nothing is
  committed or returned: no audit, no data.

Events carry identifiers and names of types only — never scores, answers or
anything a client wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from twostep.domain.ports import AuditEvent, UnitOfWork, UnitOfWorkFactory
from twostep.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from twostep.services.access import Actor, ClientAccess, client_access

__all__ = ["AccessLogEntry", "AuditNote", "access_log", "audited"]

T = TypeVar("T")

#: Actions that change nothing; every other successful action bumps the client's activity
#: counter (`ActivityRepository`), which tells cached caseload views that they are stale.
READ_ACTIONS = frozenset({"read", "export"})


@dataclass
class AuditNote:
    """What a use case tells its audit event as it learns it (ids only)."""

    object_id: str | None = None
    client_id: str | None = None
    role: str | None = None

    def granted(self, access: ClientAccess) -> ClientAccess:
        """Note the client and the role under which access was granted; returns ``access``."""
        self.client_id = access.client_id
        self.role = access.relation.value
        return access


def _event(
    actor: Actor, action: str, object_type: str, note: AuditNote, outcome: str
) -> AuditEvent:
    return AuditEvent(
        actor_id=actor.user_id,
        actor_role=note.role or actor.role_label,
        action=action,
        object_type=object_type,
        object_id=note.object_id,
        client_id=note.client_id,
        outcome=outcome,
        request_id=actor.request_id,
        at=datetime.now(UTC),
    )


def audited(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    action: str,
    object_type: str,
    op: Callable[[UnitOfWork, AuditNote], T],
    *,
    object_id: str | None = None,
    client_id: str | None = None,
) -> T:
    """Run ``op`` in one transaction with exactly one audit event (see the module docstring).

    ``object_id`` and ``client_id`` are what the caller asked for; ``op`` may
    refine them through the `AuditNote` it receives (e.g. the id of a new record).
    """
    note = AuditNote(object_id=object_id, client_id=client_id)
    if action in READ_ACTIONS:
        return _audited_read(uow_factory, actor, action, object_type, op, note)
    with uow_factory() as uow:
        try:
            result = op(uow, note)
        except (NotFoundError, AccessDeniedError):
            _record_alone(uow, _event(actor, action, object_type, note, "denied"))
            raise
        except (ValidationError, ConflictError):
            _record_alone(uow, _event(actor, action, object_type, note, "error"))
            raise
        event = _event(actor, action, object_type, note, "ok")
        if action not in READ_ACTIONS and note.client_id is not None:
            uow.activity.touch([note.client_id], event.at or datetime.now(UTC))
        uow.audit.record(event)
        uow.commit()
        return result


def _audited_read(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    action: str,
    object_type: str,
    op: Callable[[UnitOfWork, AuditNote], T],
    note: AuditNote,
) -> T:
    """A read: the use case in a read-only unit of work, then its event in a write one."""
    try:
        with uow_factory.reading()() as uow:
            result = op(uow, note)
    except (NotFoundError, AccessDeniedError):
        _record(uow_factory, _event(actor, action, object_type, note, "denied"))
        raise
    except (ValidationError, ConflictError):
        _record(uow_factory, _event(actor, action, object_type, note, "error"))
        raise
    _record(uow_factory, _event(actor, action, object_type, note, "ok"))
    return result


def _record(uow_factory: UnitOfWorkFactory, event: AuditEvent) -> None:
    with uow_factory() as uow:
        uow.audit.record(event)
        uow.commit()


def _record_alone(uow: UnitOfWork, event: AuditEvent) -> None:
    uow.rollback()
    uow.audit.record(event)
    uow.commit()


@dataclass(frozen=True)
class AccessLogEntry:
    """One access to the client's record, as the client sees it (AU-05)."""

    at: datetime | None
    who: str
    role: str
    action: str
    object_type: str
    outcome: str


def access_log(
    uow_factory: UnitOfWorkFactory, actor: Actor, client_id: str
) -> tuple[AccessLogEntry, ...]:
    """Who accessed the client's record, newest first (the client themselves only)."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[AccessLogEntry, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_self("see who accessed the record")
        names: dict[str, str] = {}
        out = []
        for e in uow.audit.for_client(client_id):
            who = "unknown"
            if e.actor_id is not None:
                if e.actor_id not in names:
                    user = uow.users.get(e.actor_id)
                    names[e.actor_id] = (
                        "you"
                        if e.actor_id == client_id
                        else (user.display_name if user else "unknown")
                    )
                who = names[e.actor_id]
            out.append(AccessLogEntry(e.at, who, e.actor_role, e.action, e.object_type, e.outcome))
        out.sort(key=lambda x: x.at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return tuple(out)

    return audited(uow_factory, actor, "read", "audit_log", op, client_id=client_id)
