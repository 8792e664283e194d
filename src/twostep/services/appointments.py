"""Appointments: schedule, mark attended / missed / cancelled, session-focus tags.

An appointment starts ``scheduled`` and moves once to ``attended``,
``missed`` (did not attend, no notice) or ``cancelled``; those are final
(`ConflictError` otherwise). Session-focus tags (short words such as
"sleep" or "work stress") record what a session was about; the same tag at
three consecutive sessions is one of the Groundhog Day signs (methods.md
§12). Tags are stored trimmed and in lower case.

The client's assigned therapist schedules and updates appointments; clients
see their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Appointment, AppointmentStatus, new_id
from twostep.errors import ConflictError
from twostep.services.access import Actor, client_access, not_found
from twostep.services.audit import AuditNote, audited
from twostep.services.validation import Checks, utcnow
from twostep.services.versions import based_on

__all__ = [
    "MAX_TAGS",
    "cancel",
    "list_appointments",
    "mark_attended",
    "mark_missed",
    "schedule",
    "set_focus_tags",
]

#: At most this many focus tags per session.
MAX_TAGS = 10


def _tags(checks: Checks, tags: Sequence[str]) -> tuple[str, ...]:
    cleaned = checks.texts("focus_tags", tags, max_items=MAX_TAGS, max_len=40)
    return tuple(dict.fromkeys(t.casefold() for t in cleaned))


def schedule(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    scheduled_at: datetime,
    *,
    episode_id: str | None = None,
    assessment_only: bool = False,
    now: datetime | None = None,
) -> Appointment:
    """Book an appointment with the calling therapist, in the open episode by default."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> Appointment:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_therapist("schedule appointments")
        c = Checks("appointment")
        when = c.instant("scheduled_at", scheduled_at, now=at, allow_future=True)
        episodes = uow.episodes.for_client(client_id)
        if episode_id is None:
            open_ = [e for e in episodes if e.ended_on is None]
            if not open_:
                c.fail("episode_id", "no_open_episode", "open an episode first")
            episode = open_[-1] if open_ else None
        else:
            episode = next((e for e in episodes if e.id == episode_id), None)
            if episode is None:
                raise not_found("episode")
        c.done()
        assert when is not None
        assert episode is not None
        ap = Appointment(
            id=new_id(),
            clinic_id=access.client.clinic_id,
            episode_id=episode.id,
            client_id=client_id,
            therapist_id=actor.user_id,
            scheduled_at=when,
            assessment_only=assessment_only,
        )
        note.object_id = ap.id
        return uow.appointments.add(ap)

    return audited(uow_factory, actor, "create", "appointment", op, client_id=client_id)


def _update(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    appointment_id: str,
    status: AppointmentStatus | None,
    tags: Sequence[str] | None,
    expected_version: int | None = None,
) -> Appointment:
    def op(uow: UnitOfWork, note: AuditNote) -> Appointment:
        ap = uow.appointments.get(appointment_id)
        if ap is None:
            raise not_found("appointment")
        access = note.granted(client_access(uow, actor, ap.client_id))
        access.require_therapist("update appointments")
        ap = based_on(ap, expected_version)
        c = Checks("appointment")
        new_tags = _tags(c, tags) if tags is not None else ap.focus_tags
        c.done()
        new_status = ap.status
        if status is not None:
            if ap.status is not AppointmentStatus.SCHEDULED:
                raise ConflictError(f"the appointment is {ap.status.value} already")
            new_status = status
        return uow.appointments.update(replace(ap, status=new_status, focus_tags=new_tags))

    return audited(uow_factory, actor, "update", "appointment", op, object_id=appointment_id)


def mark_attended(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    appointment_id: str,
    *,
    focus_tags: Sequence[str] | None = None,
) -> Appointment:
    """The session took place (optionally with its focus tags)."""
    return _update(uow_factory, actor, appointment_id, AppointmentStatus.ATTENDED, focus_tags)


def mark_missed(uow_factory: UnitOfWorkFactory, actor: Actor, appointment_id: str) -> Appointment:
    """The client did not attend and gave no notice."""
    return _update(uow_factory, actor, appointment_id, AppointmentStatus.MISSED, None)


def cancel(uow_factory: UnitOfWorkFactory, actor: Actor, appointment_id: str) -> Appointment:
    """The appointment was cancelled (by either side)."""
    return _update(uow_factory, actor, appointment_id, AppointmentStatus.CANCELLED, None)


def set_focus_tags(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    appointment_id: str,
    tags: Sequence[str],
    *,
    expected_version: int | None = None,
) -> Appointment:
    """Replace the session-focus tags of an appointment.

    ``expected_version``: the version the edit is based on (the HTTP ``If-Match``); when
    another writer changed the record since, `StaleVersionError` and nothing is written.
    """
    return _update(uow_factory, actor, appointment_id, None, tags, expected_version)


def list_appointments(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[Appointment, ...]:
    """The client's appointments in time order."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[Appointment, ...]:
        note.granted(client_access(uow, actor, client_id))
        rows = uow.appointments.for_client(client_id)
        return tuple(
            a
            for a in rows
            if (since is None or a.scheduled_at >= since)
            and (until is None or a.scheduled_at < until)
        )

    return audited(uow_factory, actor, "read", "appointment", op, client_id=client_id)
