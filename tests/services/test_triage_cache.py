"""The triage cache: the same answer as without it, stale never (writes, caseload, age).

The cache is per (therapist, client): ``hits`` and ``misses`` count clients.
"""

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
    n = len(first.entries)
    second = run(world, cache)
    assert (cache.misses, cache.hits) == (n, n)
    assert summary(first) == summary(second) == summary(run(world, None))


def test_a_check_in_makes_the_cached_analysis_stale(world: World) -> None:
    world.series("client_a2", [10, 11, 10], start=NOW - timedelta(weeks=3))
    cache = triage.TriageCache()
    before = run(world, cache)
    n = len(before.entries)
    assert "deterioration" not in [r.code for e in before.entries for r in e.reasons]
    world.checkin("client_a2", phq9_total(19), NOW - timedelta(hours=1))
    after = run(world, cache)
    assert (cache.misses, cache.hits) == (n + 1, n - 1)  # only the client written to
    assert "deterioration" in [r.code for e in after.entries for r in e.reasons]
    assert summary(after) == summary(run(world, None))


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
    n = len(run(world, cache).entries)
    with world.factory() as uow:
        uow.activity.touch([world.id("client_a1")], NOW)
        uow.commit()
    run(world, cache)
    assert cache.misses == n + 1


def test_old_entries_and_other_caseloads_are_recomputed(world: World) -> None:
    cache = triage.TriageCache(max_age=timedelta(seconds=60))
    n = len(run(world, cache).entries)
    run(world, cache, now=NOW + timedelta(seconds=61))
    assert cache.misses == 2 * n
    run(world, cache, now=NOW + timedelta(seconds=62))
    assert cache.hits == n
    other = triage.caseload_triage(
        world.factory, world.actor("ther_b"), now=NOW + timedelta(seconds=62), cache=cache
    )
    assert {e.client_id for e in other.entries} == {world.id("client_b1"), world.id("client_b2")}
    assert cache.misses == 2 * n + 2


def test_a_partly_cached_view_equals_a_fresh_one_whichever_clients_moved(world: World) -> None:
    world.series("client_a1", [18, 12, 13, 12, 12], start=NOW - timedelta(weeks=6))
    world.series("client_a2", [10, 11, 10], start=NOW - timedelta(weeks=3))
    for moved in ("client_a1", "client_a2"):
        cache = triage.TriageCache()
        run(world, cache)
        world.checkin(moved, phq9_total(20), NOW - timedelta(minutes=30))
        partly = run(world, cache)
        assert cache.hits >= 1
        assert summary(partly) == summary(run(world, None))


def test_the_cache_stays_within_its_size() -> None:
    cache = triage.TriageCache(max_age=timedelta(seconds=60), max_entries=3)
    versions = {f"c{i}": 1 for i in range(3)}
    cache.put_many("t", versions, 0, NOW, dict.fromkeys(versions, ()))
    later = NOW + timedelta(seconds=61)
    cache.put_many("t", {"c9": 1}, 0, later, {"c9": ()})
    assert cache.get_many("t", {**versions, "c9": 1}, 0, later) == {"c9": ()}
