"""The client's page for their therapist: one use case, one audit event, the same content."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from service_world import NOW, World, phq9_total

from twostep.errors import AccessDeniedError, NotFoundError
from twostep.services import client_card, client_page, journal, session_prep, timeline
from twostep.services.setback_context import setback_context


def test_the_page_equals_its_parts_read_one_by_one(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_a1"), world.id("client_a1")
    world.series("client_a1", [20, 12, 10, 18, 11], start=NOW - timedelta(weeks=8))
    journal.add_stressor(
        f, me, cid, category="work", severity=4, started_on=date(2024, 5, 20), now=NOW
    )
    journal.add_journal_entry(f, me, cid, mood=4, text="kept private", now=NOW)
    ther = world.actor("ther_a")
    page = client_page.client_page(f, ther, cid, now=NOW)
    assert page.card == client_card.client_card(f, ther, cid)
    assert page.timeline == timeline.client_timeline(f, ther, cid)
    assert page.setback is not None
    assert page.setback.administration.total == 18.0  # the setback at the fourth score
    assert page.setback_context == setback_context(f, ther, page.setback.administration.id)
    prep = session_prep.prepare_session(f, ther, cid, now=NOW)
    assert (page.suggestions, page.suggestions_because) == (
        prep.suggestions,
        prep.suggestions_because,
    )


def test_a_client_without_scores_has_no_setback(world: World) -> None:
    page = client_page.client_page(
        world.factory, world.actor("ther_a"), world.id("client_a2"), now=NOW
    )
    assert (page.setback, page.setback_context) == (None, None)
    assert [i.stream for i in page.timeline.items if i.stream == "score"] == []


def test_one_view_is_one_audit_event(world: World) -> None:
    world.series("client_a1", [20, 12, 10, 18, 11], start=NOW - timedelta(weeks=8))
    before = len(world.store.audit_events)
    client_page.client_page(world.factory, world.actor("ther_a"), world.id("client_a1"), now=NOW)
    [event] = world.store.audit_events[before:]
    assert (event.action, event.object_type, event.client_id, event.outcome) == (
        "read",
        "client_page",
        world.id("client_a1"),
        "ok",
    )


def test_only_the_clients_therapist_opens_the_page(world: World) -> None:
    f, cid = world.factory, world.id("client_a1")
    world.checkin("client_a1", phq9_total(12), NOW - timedelta(days=1))
    with pytest.raises(NotFoundError):
        client_page.client_page(f, world.actor("ther_b"), cid, now=NOW)
    with pytest.raises(AccessDeniedError):
        client_page.client_page(f, world.actor("client_a1"), cid, now=NOW)
    outcomes = [e.outcome for e in world.store.audit_events[-2:]]
    assert outcomes == ["denied", "denied"]
