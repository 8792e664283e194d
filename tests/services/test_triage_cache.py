"""The triage cache: the same answer as without it, stale never (writes, caseload, age)."""

from __future__ import annotations

from datetime import datetime, timedelta

from service_world import NOW, World, phq9_total

from twostep.services import alerts, triage


def run(world: World, cache: triage.TriageCache | None, *, now: datetime = NOW) -> triage.Triage:
    return triage.caseload_triage(world.factory, world.actor("ther_a"), now=now, cache=cache)


def summary(result: triage.Triage) -> list[tuple[str, list[str]]]:
    return [(e.client_id, [r.text for r in e.reasons]) for e in result.entries]


def test_a_cached_answer_equals_a_fresh_one(world: World) -> None:
    world.series("client_a2", [10, 17, 18], start=NOW - timedelta(weeks=3))
    cache = triage.TriageCache()
    first = run(world, cache)
    second = run(world, cache)
    assert (cache.misses, cache.hits) == (1, 1)
    assert summary(first) == summary(second) == summary(run(world, None))


def test_a_check_in_makes_the_cached_analysis_stale(world: World) -> None:
    world.series("client_a2", [10, 11, 10], start=NOW - timedelta(weeks=3))
    cache = triage.TriageCache()
    before = run(world, cache)
    assert "deterioration" not in [r.code for e in before.entries for r in e.reasons]
    world.checkin("client_a2", phq9_total(19), NOW - timedelta(hours=1))
    after = run(world, cache)
    assert cache.misses == 2
    assert "deterioration" in [r.code for e in after.entries for r in e.reasons]


def test_a_new_risk_alert_shows_at_once_and_its_resolution_too(world: World) -> None:
    cache = triage.TriageCache()
    run(world, cache)
    world.checkin("client_a1", phq9_total(8, 1), NOW - timedelta(minutes=5))
    result = run(world, cache)
    assert result.entries[0].client_id == world.id("client_a1")
    assert result.entries[0].reasons[0].code == "risk"
    alert_id = result.entries[0].reasons[0].alert_ids[0]
    alerts.resolve(world.factory, world.actor("ther_a"), alert_id, "called, safe", now=NOW)
    assert "risk" not in [r.code for e in run(world, cache).entries for r in e.reasons]


def test_writes_that_bypass_no_service_are_seen_through_the_activity_counter(
    world: World,
) -> None:
    cache = triage.TriageCache()
    run(world, cache)
    with world.factory() as uow:
        uow.activity.touch([world.id("client_a1")], NOW)
        uow.commit()
    run(world, cache)
    assert cache.misses == 2


def test_old_entries_and_other_caseloads_are_recomputed(world: World) -> None:
    cache = triage.TriageCache(max_age=timedelta(seconds=60))
    run(world, cache)
    run(world, cache, now=NOW + timedelta(seconds=61))
    assert cache.misses == 2
    run(world, cache, now=NOW + timedelta(seconds=62))
    assert cache.hits == 1
    other = triage.caseload_triage(
        world.factory, world.actor("ther_b"), now=NOW + timedelta(seconds=62), cache=cache
    )
    assert {e.client_id for e in other.entries} == {world.id("client_b1"), world.id("client_b2")}
    assert cache.misses == 3
