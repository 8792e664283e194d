"""The clinic's crisis resources for the pages that always show them (services.crisis_resources)."""

from __future__ import annotations

import pytest
from service_world import CRISIS, DELAY, World

from twostep.analytics.explain import DEFAULT_DELAY_NOTICE
from twostep.errors import AccessDeniedError
from twostep.services.crisis_resources import crisis_resources


def test_the_clients_own_clinic(world: World) -> None:
    got = crisis_resources(world.factory, world.actor("client_a1"))
    assert got.text == CRISIS
    assert got.lines == ("Samaritans: call 116 123.", "In an emergency, call 999.")
    assert got.delay_notice == DELAY
    other = crisis_resources(world.factory, world.actor("client_x"))
    assert other.text == "Call 988."
    assert other.delay_notice == DEFAULT_DELAY_NOTICE  # clinic two left it empty


def test_one_audit_event_per_call(world: World) -> None:
    before = len(world.store.audit_events)
    crisis_resources(world.factory, world.actor("ther_a"))
    [event] = world.store.audit_events[before:]
    assert (event.action, event.object_type, event.outcome) == ("read", "crisis_resources", "ok")
    assert event.object_id == world.clinic.id


def test_an_actor_claiming_another_clinic_is_refused(world: World) -> None:
    actor = world.actor("client_a1")
    forged = type(actor)(actor.user_id, world.clinic2.id, actor.roles)
    with pytest.raises(AccessDeniedError):
        crisis_resources(world.factory, forged)
