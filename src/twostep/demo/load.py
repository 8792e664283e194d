"""Put the demo clinic into a database, through the same code real data goes through.

Accounts, assignments, episodes, appointments and the between-session
records are inserted in bulk; every questionnaire answer is then replayed
through the check-in service (`twostep.services.checkin.record_checkin`) in
time order, as the client who gave it — so the demo's scores, signals,
alerts and audit trail are produced exactly as they would be in use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twostep.demo.clinic import DemoClinic, Submission
from twostep.domain.ports import UnitOfWorkFactory
from twostep.domain.records import AlertKind, Role
from twostep.services.access import Actor
from twostep.services.alerts import resolve
from twostep.services.checkin import record_checkin


@dataclass(frozen=True)
class LoadSummary:
    """What was stored."""

    clients: int
    submissions: int
    alerts: int


def load_demo_clinic(
    demo: DemoClinic,
    uow_factory: UnitOfWorkFactory,
    *,
    set_password: Callable[[Any, str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LoadSummary:
    """Store ``demo`` and replay its check-ins; ``set_password(uow, user_id)`` sets demo logins."""
    with uow_factory() as uow:
        uow.clinics.add(demo.clinic)
        for user in demo.users:
            uow.users.add(user)
            if set_password is not None:
                set_password(uow, user.id)
        _bulk(uow, "assignments", demo.assignments)
        _bulk(uow, "episodes", demo.episodes)
        _bulk(uow, "appointments", demo.appointments)
        _bulk(uow, "goals", demo.goals)
        _bulk(uow, "goal_steps", demo.goal_steps)
        _bulk(uow, "goal_reviews", demo.goal_reviews)
        _bulk(uow, "journal", demo.journal)
        _bulk(uow, "reflections", demo.reflections)
        _bulk(uow, "stressors", demo.stressors)
        _bulk(uow, "self_care", demo.self_care)
        _bulk(uow, "skill_practice", demo.skill_practice)
        _bulk(uow, "thought_records", demo.thought_records)
        _bulk(uow, "supporters", demo.supporters)
        _bulk(uow, "support_contacts", demo.support_contacts)
        _bulk(uow, "topics", demo.topics)
        for pref in demo.sharing:
            uow.sharing.set(pref)
        uow.commit()

    clients = {u.id: u for u in demo.users if Role.CLIENT in u.roles}
    ordered: Sequence[Submission] = sorted(demo.submissions, key=lambda s: s.completed_at)
    alerts = 0
    for i, sub in enumerate(ordered):
        user = clients[sub.client_id]
        actor = Actor(user.id, user.clinic_id, user.roles)
        result = record_checkin(
            uow_factory,
            actor,
            sub.client_id,
            sub.instrument_id,
            dict(sub.answers),
            sub.completed_at,
            episode_id=sub.episode_id,
            now=sub.completed_at + dt.timedelta(minutes=1),
        )
        alerts += len(result.alerts)
        if progress is not None and (i % 50 == 0 or i == len(ordered) - 1):
            progress(i + 1, len(ordered))
    if ordered:
        _therapists_follow_up(demo, uow_factory, ordered[-1].completed_at)
    return LoadSummary(len(clients), len(ordered), alerts)


#: Alerts older than this at the end of the demo were followed up by the therapist.
FOLLOWED_UP_AFTER = dt.timedelta(days=10)


def _therapists_follow_up(
    demo: DemoClinic, uow_factory: UnitOfWorkFactory, end: dt.datetime
) -> None:
    """Resolve the demo's older alerts as their therapist would have (two days after each).

    A real caseload does not carry months of unread alerts; the recent ones stay
    open so that the demo shows what needs attention now.
    """
    users = {u.id: u for u in demo.users}
    by_therapist: dict[str, list[str]] = {}
    for a in demo.assignments:
        by_therapist.setdefault(a.therapist_id, []).append(a.client_id)
    for therapist_id, client_ids in by_therapist.items():
        therapist = users[therapist_id]
        actor = Actor(therapist.id, therapist.clinic_id, therapist.roles)
        with uow_factory() as uow:
            old = [
                a
                for a in uow.alerts.open_for_clients(client_ids)
                if a.created_at < end - FOLLOWED_UP_AFTER
            ]
        for alert in old:
            action = (
                "Phoned the client the same day; safety plan reviewed together."
                if alert.kind in (AlertKind.RISK, AlertKind.RISK_NOT_ASSESSED)
                else "Discussed at the next session; plan adjusted."
            )
            resolve(
                uow_factory, actor, alert.id, action, now=alert.created_at + dt.timedelta(days=2)
            )


def _bulk(uow: Any, name: str, records: Sequence[Any]) -> None:
    repo = getattr(uow, name)
    add_many = getattr(uow, "add_many", None)
    if add_many is not None:
        add_many(repo, records)
        return
    for record in records:  # the in-memory fakes have no bulk path
        repo.add(record)
