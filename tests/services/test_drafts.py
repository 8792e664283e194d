"""Check-in drafts: a risk answer alerts at once, and the submission keeps that one alert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_world import NOW, World, phq9_total

from twostep.domain.records import Alert, AlertKind, AlertStatus
from twostep.errors import AccessDeniedError
from twostep.services import alerts, drafts


def risk_alerts(world: World, name: str) -> list[Alert]:
    with world.factory() as uow:
        found = uow.alerts.for_client(world.id(name))
    return [a for a in found if a.kind is AlertKind.RISK]


def test_a_risk_answer_in_a_draft_alerts_once(world: World) -> None:
    actor = world.actor("client_a1")
    state = drafts.save_draft(world.factory, actor, "phq9", {"item_9": 1}, now=NOW)
    assert state.show_crisis_resources
    assert state.crisis_text
    drafts.save_draft(world.factory, actor, "phq9", {"item_1": 2}, now=NOW)
    [alert] = risk_alerts(world, "client_a1")
    assert alert.administration_id is None
    assert alert.parameters["draft"] is True


def test_the_submission_takes_over_the_drafts_alert(world: World) -> None:
    actor = world.actor("client_a1")
    drafts.save_draft(world.factory, actor, "phq9", {"item_9": 1}, now=NOW - timedelta(minutes=9))
    result = world.checkin("client_a1", phq9_total(10, 2), NOW)
    [alert] = risk_alerts(world, "client_a1")
    assert alert.administration_id == result.administration.id
    assert alert.created_at == NOW - timedelta(minutes=9)  # when the answer was first given
    assert alert.level == result.administration.risk_level
    assert alert.parameters["raised_from_draft"] is True
    with world.factory() as uow:
        assert uow.drafts.get(world.id("client_a1"), "phq9") is None


def test_a_resolved_draft_alert_is_not_reused(world: World) -> None:
    actor = world.actor("client_a1")
    drafts.save_draft(world.factory, actor, "phq9", {"item_9": 1}, now=NOW - timedelta(hours=2))
    [first] = risk_alerts(world, "client_a1")
    alerts.resolve(world.factory, world.actor("ther_a"), first.id, "phoned: safe", now=NOW)
    result = world.checkin("client_a1", phq9_total(10, 1), NOW)
    found = risk_alerts(world, "client_a1")
    assert len(found) == 2
    new = next(a for a in found if a.id != first.id)
    assert new.administration_id == result.administration.id
    assert new.status is AlertStatus.OPEN


def test_a_submission_without_a_risk_answer_leaves_the_drafts_alert_alone(
    world: World,
) -> None:
    actor = world.actor("client_a1")
    drafts.save_draft(world.factory, actor, "phq9", {"item_9": 1}, now=NOW)
    world.checkin("client_a1", phq9_total(10, 0), NOW)  # the client changed the answer
    [alert] = risk_alerts(world, "client_a1")
    assert alert.administration_id is None  # the answer was given: it stays for the therapist


def test_only_the_client_keeps_drafts(world: World) -> None:
    with pytest.raises(AccessDeniedError):
        drafts.save_draft(world.factory, world.actor("ther_a"), "phq9", {"item_1": 1}, now=NOW)
