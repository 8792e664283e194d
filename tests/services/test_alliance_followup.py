"""Alliance follow-up: rupture → repair conversation logged → did it recover?"""

from __future__ import annotations

from datetime import timedelta

from service_world import NOW, World

from twostep.domain.records import AlertKind
from twostep.services import alerts
from twostep.services.alliance_followup import alliance_follow_up


def _srs(world: World, totals: list[float]) -> None:
    for k, total in enumerate(totals):
        item = total / 4
        world.checkin(
            "client_a1",
            {"item_1": item, "item_2": item, "item_3": item, "item_4": item},
            NOW - timedelta(weeks=len(totals) - k),
            instrument="srs",
            by="ther_a",
        )


def test_a_rupture_repaired_with_the_conversation_logged(world: World) -> None:
    _srs(world, [38.0, 38.5, 38.0, 31.0, 38.0])
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    [rupture] = [a for a in world.store.rows("alerts") if a.kind is AlertKind.ALLIANCE_RUPTURE]
    alerts.resolve(f, ther, rupture.id, "Asked about the session; agreed a new focus", now=NOW)
    [srs] = alliance_follow_up(f, ther, cid)
    assert (srs.instrument_id, srs.latest_score) == ("srs", 38.0)
    [episode] = srs.episodes
    assert episode.repaired
    assert episode.repaired_at == NOW - timedelta(weeks=1)
    assert episode.trough_score == 31.0
    assert episode.repair_logged
    assert not srs.open_rupture
    assert not srs.unrepaired
    assert srs.explanations
    assert srs.explanations[0].label == "repair"


def test_an_open_rupture(world: World) -> None:
    _srs(world, [38.0, 38.5, 38.0, 31.0])
    [srs] = alliance_follow_up(world.factory, world.actor("ther_a"), world.id("client_a1"))
    [episode] = srs.episodes
    assert episode.awaiting_repair
    assert not episode.repair_logged
    assert srs.open_rupture


def test_nothing_to_follow_up(world: World) -> None:
    assert alliance_follow_up(world.factory, world.actor("ther_a"), world.id("client_a1")) == ()
