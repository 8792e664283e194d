"""Reading a stored check-in back (`checkin_result`): what `record_checkin` returned, re-derived.

The result page after a form post (Post/Redirect/Get) is built from the stored
administration; it must show exactly what the submission's own answer showed:
the explanations, the crisis flag, "risk not assessed", the signals, and (for a
therapist of the client only) the alerts the administration raised.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_world import CRISIS, DELAY, NOW, World, phq9, phq9_total

from twostep.domain.records import Alert, AlertKind
from twostep.errors import AccessDeniedError, NotFoundError
from twostep.services.checkin import CheckinResult, checkin_result
from twostep.services.drafts import save_draft


def read(world: World, who: str, result: CheckinResult, **kw: object) -> CheckinResult:
    return checkin_result(world.factory, world.actor(who), result.administration.id, **kw)  # type: ignore[arg-type]


def by_id(alerts: tuple[Alert, ...]) -> list[Alert]:
    return sorted(alerts, key=lambda a: a.id)


def same(a: CheckinResult, b: CheckinResult) -> None:
    assert a.administration == b.administration
    assert a.explanations == b.explanations
    assert a.show_crisis_resources == b.show_crisis_resources
    assert a.crisis_text == b.crisis_text
    assert a.delay_notice == b.delay_notice
    assert a.risk_not_assessed == b.risk_not_assessed
    assert a.signals == b.signals
    assert by_id(a.alerts) == by_id(b.alerts)
    assert a.analysis_failed == b.analysis_failed


def test_a_risk_answer_reads_back_with_crisis_resources_and_no_alerts_for_the_client(
    world: World,
) -> None:
    world.series("client_a1", [12, 13], start=NOW - timedelta(weeks=2))
    recorded = world.checkin("client_a1", phq9_total(14, 2), NOW)
    again = read(world, "client_a1", recorded)
    same(again, recorded)
    # by hand: what the client's result page must show
    assert again.show_crisis_resources is True
    assert again.crisis_text == CRISIS
    assert again.delay_notice == DELAY
    assert again.risk_not_assessed is False
    assert again.explanations[0].topic == "risk"
    assert "116 123" in again.explanations[0].client
    assert all(e.therapist is None for e in again.explanations)  # the client's words only
    assert again.alerts == ()  # clients never see alerts
    assert again.signals is not None
    assert again.signals.t == 3
    # the therapist of the client reads the same administration with the alert it raised
    staff = read(world, "ther_a", recorded)
    [risk] = [a for a in staff.alerts if a.kind is AlertKind.RISK]
    assert risk.administration_id == recorded.administration.id
    assert risk.level == 2
    assert staff.explanations[0].therapist is not None
    assert [e.client for e in staff.explanations] == [e.client for e in again.explanations]


def test_a_blank_risk_item_reads_back_as_not_assessed(world: World) -> None:
    recorded = world.checkin("client_a1", phq9([2, 2, 2, 2, 1, 1, 1, 1, None]), NOW)
    again = read(world, "client_a1", recorded)
    same(again, recorded)
    assert again.risk_not_assessed is True
    assert again.show_crisis_resources is False
    assert again.crisis_text is None
    staff = read(world, "ther_a", recorded)
    assert [a.kind for a in staff.alerts] == [AlertKind.RISK_NOT_ASSESSED]


def test_a_therapist_submission_reads_back_with_the_same_alerts(world: World) -> None:
    world.series("client_a1", [10, 11, 12], start=NOW - timedelta(weeks=3))
    recorded = world.checkin("client_a1", phq9_total(22, 1), NOW, by="ther_a")
    kinds = {a.kind for a in recorded.alerts}
    assert AlertKind.RISK in kinds
    assert AlertKind.DETERIORATION in kinds
    same(read(world, "ther_a", recorded), recorded)
    # the client reading it: the same page without alerts and without the therapist's texts
    client_view = read(world, "client_a1", recorded)
    assert client_view.alerts == ()
    assert all(e.therapist is None for e in client_view.explanations)
    assert client_view.signals == recorded.signals


def test_the_alert_of_a_draft_becomes_the_administrations_and_reads_back(world: World) -> None:
    actor = world.actor("client_a1")
    save_draft(world.factory, actor, "phq9", {"item_9": 1}, now=NOW - timedelta(minutes=5))
    recorded = world.checkin("client_a1", phq9_total(12, 1), NOW, by="client_a1")
    staff = read(world, "ther_a", recorded)
    [risk] = staff.alerts
    assert risk.parameters.get("raised_from_draft") is True
    assert risk.administration_id == recorded.administration.id


def test_foreign_and_unknown_administrations_are_one_not_found(world: World) -> None:
    recorded = world.checkin("client_a1", phq9_total(14), NOW)
    messages = set()
    for who in ("client_a2", "client_x", "ther_b", "ther_x"):
        with pytest.raises(NotFoundError) as exc:
            read(world, who, recorded)
        messages.add(str(exc.value))
    with pytest.raises(NotFoundError) as exc:
        checkin_result(world.factory, world.actor("client_a1"), "no-such-id")
    messages.add(str(exc.value))
    with pytest.raises(NotFoundError) as exc:  # the right id under another questionnaire
        read(world, "client_a1", recorded, instrument_id="gad7")
    messages.add(str(exc.value))
    assert len(messages) == 1, messages
    with pytest.raises(AccessDeniedError):
        read(world, "researcher", recorded)
    assert read(world, "client_a1", recorded, instrument_id="phq9").administration.total == 14


def test_reading_a_result_is_one_audited_read_and_writes_nothing_else(world: World) -> None:
    recorded = world.checkin("client_a1", phq9_total(14, 1), NOW)
    tables = ("administrations", "alerts", "drafts")
    before = {t: list(world.store.rows(t)) for t in tables}
    events = len(world.store.audit_events)
    read(world, "client_a1", recorded)
    assert {t: list(world.store.rows(t)) for t in tables} == before
    [event] = world.store.audit_events[events:]
    assert (event.action, event.object_type, event.outcome) == ("read", "administration", "ok")
    assert event.object_id == recorded.administration.id
    assert event.client_id == world.id("client_a1")
