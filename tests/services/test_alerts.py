"""The alert state machine: acknowledge, snooze, resolve; resolved is final."""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_world import NOW, World, phq9_total

from twostep.domain.records import Alert, AlertKind, AlertStatus
from twostep.errors import AccessDeniedError, ConflictError, NotFoundError, ValidationError
from twostep.services import alerts


def _alert(world: World, kind: str = "plateau") -> Alert:
    if kind == "risk":
        world.checkin("client_a1", phq9_total(10, 1), NOW - timedelta(hours=1))
    else:
        world.series("client_a1", [10, 17], start=NOW - timedelta(weeks=2))
    wanted = AlertKind.RISK if kind == "risk" else AlertKind.DETERIORATION
    return next(a for a in world.store.rows("alerts") if a.kind is wanted)


def test_acknowledge_then_resolve_records_who_when_and_what(world: World) -> None:
    a = _alert(world)
    f, ther = world.factory, world.actor("ther_a")
    acked = alerts.acknowledge(f, ther, a.id, now=NOW)
    assert (acked.status, acked.updated_by, acked.updated_at) == (
        AlertStatus.ACKNOWLEDGED,
        world.id("ther_a"),
        NOW,
    )
    done = alerts.resolve(f, ther, a.id, "Talked it through; plan adjusted", now=NOW)
    assert done.status is AlertStatus.RESOLVED
    assert done.action_taken == "Talked it through; plan adjusted"
    assert alerts.list_alerts(f, ther, world.id("client_a1")) == tuple(
        x for x in alerts.list_alerts(f, ther, world.id("client_a1")) if x.id != a.id
    )
    assert a.id in {
        x.id for x in alerts.list_alerts(f, ther, world.id("client_a1"), include_resolved=True)
    }


@pytest.mark.parametrize(
    "move",
    [
        lambda f, t, i: alerts.acknowledge(f, t, i, now=NOW),
        lambda f, t, i: alerts.snooze(f, t, i, NOW + timedelta(days=1), now=NOW),
        lambda f, t, i: alerts.resolve(f, t, i, "again", now=NOW),
    ],
)
def test_resolved_is_final(world: World, move: object) -> None:
    a = _alert(world)
    f, ther = world.factory, world.actor("ther_a")
    alerts.resolve(f, ther, a.id, "done", now=NOW)
    with pytest.raises(ConflictError):
        move(f, ther, a.id)  # type: ignore[operator]


def test_acknowledging_twice_conflicts(world: World) -> None:
    a = _alert(world)
    f, ther = world.factory, world.actor("ther_a")
    alerts.acknowledge(f, ther, a.id, now=NOW)
    with pytest.raises(ConflictError):
        alerts.acknowledge(f, ther, a.id, now=NOW)


def test_snooze_needs_a_future_time_and_ends_by_itself(world: World) -> None:
    a = _alert(world)
    f, ther = world.factory, world.actor("ther_a")
    with pytest.raises(ValidationError):
        alerts.snooze(f, ther, a.id, NOW - timedelta(hours=1), now=NOW)
    with pytest.raises(ValidationError):
        alerts.snooze(f, ther, a.id, NOW + timedelta(days=91), now=NOW)
    s = alerts.snooze(f, ther, a.id, NOW + timedelta(days=2), now=NOW)
    assert s.snoozed_until == NOW + timedelta(days=2)
    assert alerts.effective_status(s, NOW + timedelta(days=1)) is AlertStatus.SNOOZED
    assert alerts.effective_status(s, NOW + timedelta(days=2)) is AlertStatus.OPEN
    again = alerts.snooze(f, ther, a.id, NOW + timedelta(days=5), now=NOW)
    assert again.snoozed_until == NOW + timedelta(days=5)
    acked = alerts.acknowledge(f, ther, a.id, now=NOW)
    assert acked.snoozed_until is None


def test_a_risk_alert_must_be_acknowledged_before_a_snooze(world: World) -> None:
    a = _alert(world, "risk")
    f, ther = world.factory, world.actor("ther_a")
    with pytest.raises(ConflictError):
        alerts.snooze(f, ther, a.id, NOW + timedelta(hours=4), now=NOW)
    alerts.acknowledge(f, ther, a.id, now=NOW)
    assert alerts.snooze(f, ther, a.id, NOW + timedelta(hours=4), now=NOW).status is (
        AlertStatus.SNOOZED
    )


def test_resolving_needs_the_action_taken(world: World) -> None:
    a = _alert(world)
    with pytest.raises(ValidationError):
        alerts.resolve(world.factory, world.actor("ther_a"), a.id, "   ", now=NOW)


def test_only_the_assigned_therapist_acts_on_alerts(world: World) -> None:
    a = _alert(world)
    f = world.factory
    with pytest.raises(AccessDeniedError):
        alerts.acknowledge(f, world.actor("client_a1"), a.id, now=NOW)
    with pytest.raises(NotFoundError):
        alerts.acknowledge(f, world.actor("ther_b"), a.id, now=NOW)
    with pytest.raises(NotFoundError):
        alerts.acknowledge(f, world.actor("ther_a"), "no-such-alert", now=NOW)
    with pytest.raises(AccessDeniedError):
        alerts.list_alerts(f, world.actor("client_a1"), world.id("client_a1"))


def test_the_transition_table_is_complete() -> None:
    assert set(alerts.TRANSITIONS) == set(AlertStatus)
    assert alerts.TRANSITIONS[AlertStatus.RESOLVED] == frozenset()
