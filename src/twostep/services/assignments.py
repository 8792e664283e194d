"""Therapist↔client assignments, managed by the clinic's admins.

Assignments decide who sees a client's record (`twostep.services.access`),
so ending one takes effect on the therapist's very next call. Admins manage
them without seeing any clinical content.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Assignment, Role, new_id
from twostep.errors import ConflictError
from twostep.services.access import Actor, not_found, require_role
from twostep.services.audit import AuditNote, audited
from twostep.services.validation import utcnow

__all__ = ["assign_therapist", "end_assignment"]


def assign_therapist(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    therapist_id: str,
    *,
    now: datetime | None = None,
) -> Assignment:
    """Make ``therapist_id`` responsible for ``client_id`` from now (admins of the clinic)."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> Assignment:
        require_role(uow, actor, Role.ADMIN, "manage assignments")
        note.role = Role.ADMIN.value
        client = uow.users.get(client_id)
        therapist = uow.users.get(therapist_id)
        if client is None or client.clinic_id != actor.clinic_id or not client.has(Role.CLIENT):
            raise not_found("client")
        if (
            therapist is None
            or therapist.clinic_id != actor.clinic_id
            or not therapist.has(Role.THERAPIST)
            or not therapist.is_active
        ):
            raise not_found("therapist")
        if any(
            a.therapist_id == therapist_id for a in uow.assignments.active_for_client(client_id, at)
        ):
            raise ConflictError("this therapist is assigned to the client already")
        a = Assignment(new_id(), actor.clinic_id, therapist_id, client_id, at)
        note.object_id = a.id
        return uow.assignments.add(a)

    return audited(uow_factory, actor, "create", "assignment", op, client_id=client_id)


def end_assignment(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    assignment_id: str,
    *,
    now: datetime | None = None,
) -> Assignment:
    """End an assignment now; the therapist loses access at once."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> Assignment:
        require_role(uow, actor, Role.ADMIN, "manage assignments")
        note.role = Role.ADMIN.value
        a = uow.assignments.get(assignment_id)
        if a is None or a.clinic_id != actor.clinic_id:
            raise not_found("assignment")
        note.client_id = a.client_id
        if a.ended_at is not None:
            raise ConflictError("the assignment has ended already")
        return uow.assignments.update(replace(a, ended_at=at))

    return audited(uow_factory, actor, "update", "assignment", op, object_id=assignment_id)
