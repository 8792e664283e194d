"""Caseload triage: risk first, each reason with its text, one kernel call per instrument."""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_world import NOW, World, phq9_total

from twostep.domain.records import AlertKind, AppointmentStatus, EntryKind
from twostep.services import alerts, goals, histories, journal, triage
from twostep.services.goals import GoalInput
from twostep.services.process_signs import focus_run

ENGAGED_LOW = {f"item_{i}": 2 for i in range(1, 6)}
LEVELS = {-2: "a", -1: "b", 0: "c", 1: "d", 2: "e"}


def _groundhog_client(world: World, name: str = "client_b1", therapist: str = "ther_b") -> None:
    """A PHQ-9 plateau with a high engagement-check mean and two missed sessions."""
    for days in (20, 6):
        world.checkin(name, ENGAGED_LOW, NOW - timedelta(days=days), instrument="engagement")
    for days in (17, 10):
        world.appointment(
            name, NOW - timedelta(days=days), AppointmentStatus.MISSED, therapist=therapist
        )
    world.series(name, [18, 17, 18, 17, 18, 17], start=NOW - timedelta(weeks=6))


def codes(entry: triage.TriageEntry) -> list[str]:
    return [r.code for r in entry.reasons]


def test_risk_comes_first_and_every_reason_has_a_text(world: World) -> None:
    world.series("client_a2", [10, 17, 18], start=NOW - timedelta(weeks=3))  # deterioration
    world.checkin("client_a1", phq9_total(8, 1), NOW - timedelta(days=1))  # risk
    result = triage.caseload_triage(world.factory, world.actor("ther_a"), now=NOW)
    first, second = result.entries
    assert first.client_id == world.id("client_a1")
    assert codes(first)[0] == "risk"
    assert "item above 0" in first.reasons[0].text
    assert first.reasons[0].alert_ids
    assert second.client_id == world.id("client_a2")
    assert "deterioration" in codes(second)
    det = next(r for r in second.reasons if r.code == "deterioration")
    assert "10 -> 18" in det.text
    assert "RC 6" in det.text
    assert all(r.text for e in result.entries for r in e.reasons)


def test_urgent_risk_outranks_same_day_risk(world: World) -> None:
    world.checkin("client_a1", phq9_total(8, 1), NOW - timedelta(days=1))
    world.checkin("client_a2", phq9_total(12, 3), NOW - timedelta(days=2))
    result = triage.caseload_triage(world.factory, world.actor("ther_a"), now=NOW)
    assert [e.client_id for e in result.entries] == [world.id("client_a2"), world.id("client_a1")]
    assert codes(result.entries[0]) == ["risk_urgent"]


def test_risk_not_assessed_is_a_reason_of_its_own(world: World) -> None:
    world.checkin("client_a1", {f"item_{i}": 1 for i in range(1, 9)}, NOW)
    [entry, _] = triage.caseload_triage(world.factory, world.actor("ther_a"), now=NOW).entries
    assert codes(entry) == ["risk_not_assessed"]
    assert "never 'no risk'" in entry.reasons[0].text


def test_snoozed_and_resolved_risk_alerts_leave_the_list(world: World) -> None:
    world.checkin("client_a1", phq9_total(8, 1), NOW - timedelta(days=1))
    f, ther = world.factory, world.actor("ther_a")
    [alert] = world.store.rows("alerts")
    alerts.acknowledge(f, ther, alert.id, now=NOW)
    assert codes(triage.caseload_triage(f, ther, now=NOW).entries[0]) == ["risk"]
    alerts.snooze(f, ther, alert.id, NOW + timedelta(hours=3), now=NOW)
    assert triage.caseload_triage(f, ther, now=NOW).needing_attention == ()
    later = NOW + timedelta(hours=4)
    assert codes(triage.caseload_triage(f, ther, now=later).entries[0]) == ["risk"]
    alerts.resolve(f, ther, alert.id, "called; safe", now=NOW)
    assert triage.caseload_triage(f, ther, now=later).needing_attention == ()


def test_groundhog_day_needs_a_plateau_and_two_signs(world: World) -> None:
    _groundhog_client(world)
    result = triage.caseload_triage(world.factory, world.actor("ther_b"), now=NOW)
    entry = next(e for e in result.entries if e.client_id == world.id("client_b1"))
    # the not-on-track alert raised on the way is unresolved, so it is listed too
    assert codes(entry) == ["groundhog_day", "plateau", "missed_sessions", "open_alert"]
    text = entry.reasons[0].text
    assert "engagement-check mean >= 1.5" in text
    assert "missed or cancelled" in text
    # the check-in that completed the plateau raised the alert too
    gd = [a for a in world.store.rows("alerts") if a.kind is AlertKind.GROUNDHOG_DAY]
    assert [sorted(a.parameters["signs"]) for a in gd] == [["engagement_low", "missed_sessions"]]  # type: ignore[call-overload]


def test_a_plateau_with_one_sign_is_only_a_plateau(world: World) -> None:
    world.checkin("client_b1", ENGAGED_LOW, NOW - timedelta(days=3), instrument="engagement")
    world.series("client_b1", [18, 17, 18, 17, 18, 17], start=NOW - timedelta(weeks=6))
    result = triage.caseload_triage(world.factory, world.actor("ther_b"), now=NOW)
    entry = next(e for e in result.entries if e.client_id == world.id("client_b1"))
    assert codes(entry) == ["plateau", "open_alert"]
    [plateau_alert] = [a for a in world.store.rows("alerts") if a.kind is AlertKind.PLATEAU]
    assert entry.reasons[0].alert_ids == (plateau_alert.id,)  # the live reason carries its alert


def test_an_unresolved_signal_alert_is_never_under_no_concerns(world: World) -> None:
    world.series("client_b1", [18, 17, 18, 17, 18, 17], start=NOW - timedelta(weeks=6))
    f, ther = world.factory, world.actor("ther_b")
    [old] = [a for a in world.store.rows("alerts") if a.kind is AlertKind.NOT_ON_TRACK]
    entry = next(e for e in triage.caseload_triage(f, ther, now=NOW).entries if e.reasons)
    [listed] = [r for r in entry.reasons if r.code == "open_alert"]
    assert listed.alert_ids == (old.id,)
    assert "not on track alert from today is still open" in listed.text
    for a in world.store.rows("alerts"):
        if a.kind is not AlertKind.PLATEAU:
            alerts.resolve(f, ther, a.id, "reviewed in session", now=NOW)
    entry = next(e for e in triage.caseload_triage(f, ther, now=NOW).entries if e.reasons)
    assert codes(entry) == ["plateau"]


def test_practice_down_and_same_focus_signs(world: World) -> None:
    f, me, cid = world.factory, world.actor("client_b1"), world.id("client_b1")
    for days in (40, 38, 36, 34, 5):
        journal.add_skill_practice(
            f, me, cid, skill_id="grounding", practiced_at=NOW - timedelta(days=days), now=NOW
        )
    for days in (21, 14, 7):
        world.appointment(
            "client_b1", NOW - timedelta(days=days), tags=("Sleep",), therapist="ther_b"
        )
    world.series("client_b1", [18, 17, 18, 17, 18, 17], start=NOW - timedelta(weeks=6))
    result = triage.caseload_triage(f, world.actor("ther_b"), now=NOW)
    entry = next(e for e in result.entries if e.client_id == cid)
    assert codes(entry)[0] == "groundhog_day"
    assert "practice/journaling down" in entry.reasons[0].text
    assert "same session focus" in entry.reasons[0].text
    # hidden practice is not a sign
    journal.set_sharing(f, me, cid, EntryKind.SKILL_PRACTICE, False)
    entry = next(
        e
        for e in triage.caseload_triage(f, world.actor("ther_b"), now=NOW).entries
        if e.client_id == cid
    )
    assert "groundhog_day" not in codes(entry)


def test_goal_review_overdue_and_missed_sessions_rank_last(world: World) -> None:
    f, ther = world.factory, world.actor("ther_b")
    goals.create_goal(
        f,
        ther,
        world.id("client_b2"),
        GoalInput("x", "y", LEVELS, 1, 1),
        now=NOW - timedelta(days=60),
    )
    world.appointment(
        "client_b2", NOW - timedelta(days=3), AppointmentStatus.MISSED, therapist="ther_b"
    )
    _groundhog_client(world)
    result = triage.caseload_triage(f, ther, now=NOW)
    assert [e.client_id for e in result.entries] == [world.id("client_b1"), world.id("client_b2")]
    assert codes(result.entries[1]) == ["goal_review_overdue", "missed_sessions"]
    assert "never reviewed" in result.entries[1].reasons[0].text


def test_an_unrepaired_alliance_rupture(world: World) -> None:
    for k, total in enumerate([38.0, 38.5, 38.0, 31.0, 30.0, 30.5, 30.0]):
        item = total / 4
        world.checkin(
            "client_a1",
            {"item_1": item, "item_2": item, "item_3": item, "item_4": item},
            NOW - timedelta(weeks=7 - k),
            instrument="srs",
            by="ther_a",
        )
    entry = triage.caseload_triage(world.factory, world.actor("ther_a"), now=NOW).entries[0]
    assert codes(entry) == ["alliance_rupture"]
    assert "consider supervision" in entry.reasons[0].text


def test_the_kernel_runs_once_per_instrument_for_the_whole_caseload(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("client_a1", "client_a2"):
        world.series(name, [15, 14, 16])
        for k, v in enumerate([3, 2]):
            gad = {f"item_{i}": v for i in range(1, 8)}
            world.checkin(name, gad, NOW - timedelta(days=10 - k), instrument="gad7")
    calls: list[int] = []
    original = histories.analyze_batch

    def counting(batch: object, *args: object, **kwargs: object) -> object:
        calls.append(batch.n_clients)  # type: ignore[attr-defined]
        return original(batch, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(histories, "analyze_batch", counting)
    triage.caseload_triage(world.factory, world.actor("ther_a"), now=NOW)
    assert calls == [2, 2]  # gad7 and phq9, both clients in one call each


def test_focus_run_counts_each_tag_over_consecutive_sessions(world: World) -> None:
    aps = [
        world.appointment("client_a1", NOW - timedelta(days=d), tags=tags)
        for d, tags in ((28, ("work",)), (21, ("sleep", "work")), (14, ("Work ",)), (7, ("sleep",)))
    ]
    assert focus_run(aps) == (3, "work")
    assert focus_run(aps[1:]) == (2, "work")
    assert focus_run(aps[3:]) == (1, "sleep")
    assert focus_run([]) == (0, None)


def test_empty_caseload(world: World) -> None:
    result = triage.caseload_triage(world.factory, world.actor("ther_admin"), now=NOW)
    assert result.entries == ()
    assert result.generated_at == NOW


def test_risk_is_shown_even_when_the_kernel_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.checkin("client_a1", phq9_total(8, 1), NOW - timedelta(days=1))

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("kernel down")

    monkeypatch.setattr(histories, "analyze_batch", broken)
    entry = triage.caseload_triage(world.factory, world.actor("ther_a"), now=NOW).entries[0]
    assert codes(entry) == ["risk"]
