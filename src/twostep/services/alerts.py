"""Alerts: list, acknowledge, snooze, resolve — a small state machine with who and when.

States (records.AlertStatus) and the moves allowed::

    open ──► acknowledged ──► resolved
      │          │   ▲            ▲
      │          ▼   │            │
      └──────► snoozed ───────────┘      (open ──► resolved directly too)

``resolved`` is final; resolving needs the action taken (e.g. "called the
client, C-SSRS screener negative, safety plan reviewed"). Snoozing needs a
time in the future (at most 90 days ahead); a snoozed alert whose time has
passed counts as open again (`effective_status`). A risk alert must be
acknowledged before it can be snoozed (methods.md §9 point 4). Every move
records who made it and when. Only the client's assigned therapist acts on
alerts; clients never see them (no automated risk level is shown to a
client, methods.md §9 point 3).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Alert, AlertKind, AlertStatus
from twostep.errors import ConflictError
from twostep.services.access import Actor, client_access, not_found
from twostep.services.audit import AuditNote, audited
from twostep.services.validation import Checks, utcnow

__all__ = [
    "MAX_SNOOZE",
    "TRANSITIONS",
    "acknowledge",
    "effective_status",
    "list_alerts",
    "resolve",
    "snooze",
]

#: The longest snooze allowed.
MAX_SNOOZE = timedelta(days=90)

#: Allowed moves of the alert state machine.
TRANSITIONS: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.OPEN: frozenset(
        {AlertStatus.ACKNOWLEDGED, AlertStatus.SNOOZED, AlertStatus.RESOLVED}
    ),
    AlertStatus.ACKNOWLEDGED: frozenset({AlertStatus.SNOOZED, AlertStatus.RESOLVED}),
    AlertStatus.SNOOZED: frozenset(
        {AlertStatus.ACKNOWLEDGED, AlertStatus.SNOOZED, AlertStatus.RESOLVED}
    ),
    AlertStatus.RESOLVED: frozenset(),
}


def effective_status(alert: Alert, now: datetime) -> AlertStatus:
    """The status as it stands at ``now``: a snooze that has run out is open again."""
    if (
        alert.status is AlertStatus.SNOOZED
        and alert.snoozed_until is not None
        and alert.snoozed_until <= now
    ):
        return AlertStatus.OPEN
    return alert.status


def list_alerts(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    include_resolved: bool = False,
) -> tuple[Alert, ...]:
    """The client's alerts, newest first (the assigned therapist only)."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[Alert, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_therapist("see alerts")
        alerts = uow.alerts.for_client(client_id)
        if not include_resolved:
            alerts = [a for a in alerts if a.status is not AlertStatus.RESOLVED]
        return tuple(sorted(alerts, key=lambda a: a.created_at, reverse=True))

    return audited(uow_factory, actor, "read", "alert", op, client_id=client_id)


def _move(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    alert_id: str,
    to: AlertStatus,
    now: datetime,
    *,
    action_taken: str | None = None,
    until: datetime | None = None,
) -> Alert:
    def op(uow: UnitOfWork, note: AuditNote) -> Alert:
        alert = uow.alerts.get(alert_id)
        if alert is None:
            raise not_found("alert")
        access = note.granted(client_access(uow, actor, alert.client_id))
        access.require_therapist("act on alerts")
        current = effective_status(alert, now)
        if to not in TRANSITIONS[current]:
            raise ConflictError(f"an alert that is {current.value} cannot become {to.value}")
        checks = Checks("alert")
        snoozed_until = None
        action = alert.action_taken
        if to is AlertStatus.SNOOZED:
            if alert.kind is AlertKind.RISK and current is AlertStatus.OPEN:
                raise ConflictError("acknowledge a risk alert before snoozing it")
            snoozed_until = checks.instant("until", until, now=now, allow_future=True)
            if snoozed_until is not None and not now < snoozed_until <= now + MAX_SNOOZE:
                checks.fail("until", "out_of_range", "must be in the future, at most 90 days")
        if to is AlertStatus.RESOLVED:
            action = checks.text("action_taken", action_taken, required=True)
        checks.done()
        updated = replace(
            alert,
            status=to,
            updated_by=actor.user_id,
            updated_at=now,
            snoozed_until=snoozed_until,
            action_taken=action,
        )
        return uow.alerts.update(updated)

    return audited(uow_factory, actor, "update", "alert", op, object_id=alert_id)


def acknowledge(
    uow_factory: UnitOfWorkFactory, actor: Actor, alert_id: str, *, now: datetime | None = None
) -> Alert:
    """Mark an alert as seen by the therapist (it stays unresolved)."""
    return _move(uow_factory, actor, alert_id, AlertStatus.ACKNOWLEDGED, now or utcnow())


def snooze(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    alert_id: str,
    until: datetime,
    *,
    now: datetime | None = None,
) -> Alert:
    """Hide an alert until ``until`` (then it is open again)."""
    return _move(uow_factory, actor, alert_id, AlertStatus.SNOOZED, now or utcnow(), until=until)


def resolve(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    alert_id: str,
    action_taken: str,
    *,
    now: datetime | None = None,
) -> Alert:
    """Close an alert for good, recording the action taken."""
    return _move(
        uow_factory,
        actor,
        alert_id,
        AlertStatus.RESOLVED,
        now or utcnow(),
        action_taken=action_taken,
    )
