"""Recording a check-in: scoring, storage, kernel signals, alerts and the risk path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from service_world import CRISIS, DELAY, NOW, World, phq9, phq9_total

from twostep.analytics import pipeline
from twostep.domain.records import AlertKind, AlertStatus
from twostep.errors import ConflictError, NotFoundError, ValidationError
from twostep.services import alerts, checkin
from twostep.services.checkin import amend_administration, checkins_due


def kinds(world: World) -> list[tuple[AlertKind, str, int]]:
    return sorted((a.kind, a.rule, a.level) for a in world.store.rows("alerts"))


def test_a_checkin_is_scored_stored_and_explained(world: World) -> None:
    res = world.checkin("client_a1", phq9_total(14), NOW - timedelta(hours=2))
    adm = res.administration
    assert (adm.total, adm.band, adm.case, adm.risk, adm.version) == (
        14.0,
        "moderate",
        True,
        False,
        1,
    )
    assert adm.completed_at == NOW - timedelta(hours=2)
    assert adm.received_at == NOW
    assert adm.episode_id == world.episodes["client_a1"].id
    assert adm.submitted_by == world.id("client_a1")
    assert world.store.rows("administrations") == [adm]
    assert res.signals is not None
    assert res.signals.status == "baseline"
    assert res.explanations
    assert all(e.therapist is None for e in res.explanations)  # client view
    assert res.delay_notice == DELAY
    assert res.show_crisis_resources is False
    assert res.crisis_text is None
    assert res.alerts == ()
    assert not res.analysis_failed


def test_item_9_at_1_raises_a_level_1_risk_alert_and_shows_crisis_resources(world: World) -> None:
    res = world.checkin("client_a1", phq9_total(12, 1), NOW)
    assert res.show_crisis_resources is True
    assert res.crisis_text == CRISIS
    [alert] = world.store.rows("alerts")
    assert (alert.kind, alert.level, alert.status) == (AlertKind.RISK, 1, AlertStatus.OPEN)
    assert alert.administration_id == res.administration.id
    assert alert.parameters["items"] == ["item_9"]
    risk = res.explanations[0]
    assert risk.topic == "risk"
    assert "116 123" in risk.client
    assert DELAY in risk.client
    assert risk.therapist is None  # the follow-up tier is never shown to the client
    assert "same-day" not in risk.client


def test_item_9_at_3_is_level_2_and_the_therapist_sees_the_alert(world: World) -> None:
    res = world.checkin("client_a1", phq9_total(20, 3), NOW, by="ther_a")
    assert [(a.kind, a.level) for a in res.alerts] == [(AlertKind.RISK, 2)]
    assert res.administration.submitted_by == world.id("ther_a")
    assert res.explanations[0].therapist is not None
    assert "urgent" in (res.explanations[0].therapist or "")


def test_risk_alerts_are_never_deduplicated(world: World) -> None:
    world.checkin("client_a1", phq9_total(12, 1), NOW - timedelta(days=7))
    world.checkin("client_a1", phq9_total(12, 1), NOW)
    assert [k for k, _, _ in kinds(world)] == [AlertKind.RISK, AlertKind.RISK]


def test_a_missing_item_9_is_risk_not_assessed_never_no_risk(world: World) -> None:
    res = world.checkin("client_a1", phq9([2, 2, 2, 2, 1, 1, 1, 1, None]), NOW)
    adm = res.administration
    assert adm.risk is False
    assert adm.risk_not_assessed is True
    assert adm.total is None  # item 9 is never prorated
    assert res.risk_not_assessed is True
    assert res.show_crisis_resources is False
    [alert] = world.store.rows("alerts")
    assert alert.kind is AlertKind.RISK_NOT_ASSESSED
    assert res.explanations[0].label == "not_assessed"


def test_the_kernel_failing_keeps_the_submission_and_the_risk_alert(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.series("client_a1", [16, 15])

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("kernel down")

    monkeypatch.setattr(pipeline, "analyze_batch", broken)
    monkeypatch.setattr("twostep.services.histories.analyze_batch", broken)
    res = world.checkin("client_a1", phq9_total(14, 2), NOW)
    assert res.analysis_failed is True
    assert res.show_crisis_resources is True
    assert res.signals is None
    assert [e.topic for e in res.explanations] == ["risk"]
    stored = world.store.rows("administrations")
    assert res.administration in stored
    assert len(stored) == 3
    [alert] = world.store.rows("alerts")
    assert (alert.kind, alert.level) == (AlertKind.RISK, 2)


def test_a_failure_after_alerts_were_added_rolls_back_only_the_kernel_step(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.series("client_a1", [10, 11, 12, 13])
    before = kinds(world)
    original = checkin._without_duplicates

    def add_then_fail(*args: object, **kwargs: object) -> object:
        added = original(*args, **kwargs)  # type: ignore[arg-type]
        assert added, "the deterioration alert should have been added"
        raise RuntimeError("failure after the alerts were added")

    monkeypatch.setattr(checkin, "_without_duplicates", add_then_fail)
    res = world.checkin("client_a1", phq9_total(22, 1), NOW)  # deterioration + risk
    assert res.analysis_failed
    assert sorted([*before, (AlertKind.RISK, "risk item > 0", 1)]) == kinds(world)


def test_answers_and_times_are_validated(world: World) -> None:
    with pytest.raises(ValidationError) as err:
        world.checkin("client_a1", {**phq9_total(5), "item_2": "3"}, NOW)
    assert err.value.problems[0].where == "item_2"
    with pytest.raises(ValidationError):
        world.checkin("client_a1", {**phq9_total(5), "item_3": True}, NOW)
    with pytest.raises(ValidationError):
        world.checkin("client_a1", phq9_total(5), datetime(2024, 6, 1, 9))  # naive
    with pytest.raises(ValidationError):
        checkin.record_checkin(
            world.factory,
            world.actor("client_a1"),
            world.id("client_a1"),
            "phq9",
            phq9_total(5),
            NOW + timedelta(hours=2),
            now=NOW,
        )
    with pytest.raises(ValidationError):
        world.checkin("client_a1", phq9_total(5), NOW, instrument="nope")
    assert world.store.rows("administrations") == []
    assert world.store.rows("alerts") == []


def test_completed_at_is_stored_in_utc(world: World) -> None:
    from datetime import timezone

    local = datetime(2024, 6, 3, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    res = world.checkin("client_a1", phq9_total(5), local)
    assert res.administration.completed_at == datetime(2024, 6, 3, 7, 0, tzinfo=UTC)


def test_deterioration_alerts_escalate_once_and_are_not_duplicated(world: World) -> None:
    world.series("client_a1", [10, 11, 17, 18], start=NOW - timedelta(weeks=4))
    assert (AlertKind.DETERIORATION, "deterioration_first_signal", 1) in kinds(world)
    assert (AlertKind.DETERIORATION, "deterioration_confirmed", 2) in kinds(world)
    world.checkin("client_a1", phq9_total(19), NOW)
    rules = [r for k, r, _ in kinds(world) if k is AlertKind.DETERIORATION]
    assert sorted(rules) == ["deterioration_confirmed", "deterioration_first_signal"]


def test_a_resolved_alert_can_be_raised_again(world: World) -> None:
    world.series("client_a1", [10, 17], start=NOW - timedelta(weeks=2))
    [alert] = [a for a in world.store.rows("alerts") if a.kind is AlertKind.DETERIORATION]
    alerts.resolve(world.factory, world.actor("ther_a"), alert.id, "discussed", now=NOW)
    world.checkin("client_a1", phq9_total(10), NOW - timedelta(days=1))
    world.checkin("client_a1", phq9_total(17), NOW)
    firsts = [a for a in world.store.rows("alerts") if a.rule == "deterioration_first_signal"]
    assert len(firsts) == 2


def test_sudden_loss_and_not_on_track_alerts(world: World) -> None:
    world.series("client_a1", [20, 18, 19, 18, 19, 18, 19, 18, 24])
    found = kinds(world)
    assert any(k is AlertKind.SUDDEN_LOSS for k, _, _ in found)
    assert any(k is AlertKind.NOT_ON_TRACK for k, _, _ in found)
    assert any(k is AlertKind.PLATEAU for k, _, _ in found)


def test_an_srs_rupture_raises_an_alliance_alert(world: World) -> None:
    srs = [38.0, 38.5, 38.0, 31.0]
    for k, total in enumerate(srs):
        world.checkin(
            "client_a1",
            {"item_1": total / 4, "item_2": total / 4, "item_3": total / 4, "item_4": total / 4},
            NOW - timedelta(weeks=len(srs) - k),
            instrument="srs",
            by="ther_a",
        )
    [rupture] = [a for a in world.store.rows("alerts") if a.kind is AlertKind.ALLIANCE_RUPTURE]
    assert rupture.rule == "alliance_rupture"


def test_instruments_without_change_statistics_are_stored_without_signals(world: World) -> None:
    res = world.checkin(
        "client_a1", {f"item_{i}": 2 for i in range(1, 6)}, NOW, instrument="engagement"
    )
    assert res.administration.total == 2.0
    assert res.signals is None
    assert not res.analysis_failed


def test_a_correction_is_a_new_version_linked_to_the_old(world: World) -> None:
    f, me = world.factory, world.actor("client_a1")
    old = world.checkin("client_a1", phq9_total(14), NOW - timedelta(days=1)).administration
    res = amend_administration(f, me, old.id, phq9_total(12, 1), now=NOW)
    new = res.administration
    assert (new.version, new.supersedes_id, new.total) == (2, old.id, 12.0)
    assert new.completed_at == old.completed_at
    assert res.show_crisis_resources
    assert {a.id for a in world.store.rows("administrations")} == {old.id, new.id}
    with f() as uow:
        assert [a.id for a in uow.administrations.history(world.id("client_a1"), "phq9")] == [
            new.id
        ]
    with pytest.raises(ConflictError):
        amend_administration(f, me, old.id, phq9_total(3), now=NOW)
    with pytest.raises(NotFoundError):
        amend_administration(f, world.actor("client_a2"), new.id, phq9_total(3), now=NOW)


def test_checkins_due_follow_the_clinic_schedule(world: World) -> None:
    f, me = world.factory, world.actor("client_a1")
    world.checkin("client_a1", phq9_total(5), NOW - timedelta(days=3))
    due = {d.instrument_id: d for d in checkins_due(f, me, world.id("client_a1"), now=NOW)}
    assert due["phq9"].due_now is False
    assert due["phq9"].due_at == NOW + timedelta(days=4)
    assert due["gad7"].due_now is True
    assert due["gad7"].last_completed_at is None


def test_without_a_clinic_text_the_default_delay_notice_is_used(world: World) -> None:
    res = world.checkin("client_x", phq9_total(5, 1), NOW)
    assert res.delay_notice == checkin.DEFAULT_DELAY_NOTICE
    assert res.crisis_text == "Call 988."


def test_the_same_submission_twice_conflicts(world: World) -> None:
    world.checkin("client_a1", phq9_total(5), NOW - timedelta(hours=1))
    with pytest.raises(ConflictError):
        world.checkin("client_a1", phq9_total(5), NOW - timedelta(hours=1))
    assert len(world.store.rows("administrations")) == 1
