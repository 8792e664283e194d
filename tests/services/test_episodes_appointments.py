"""Episodes and appointments: open/close, schedule/attend/miss/cancel, focus tags."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from service_world import NOW, World

from twostep.domain.records import AppointmentStatus
from twostep.errors import ConflictError, NotFoundError, ValidationError
from twostep.services import appointments, episodes


def test_one_open_episode_at_a_time(world: World) -> None:
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    with pytest.raises(ConflictError):
        episodes.open_episode(f, ther, cid, date(2024, 6, 1), now=NOW)
    ep = world.episodes["client_a1"]
    with pytest.raises(ValidationError):
        episodes.close_episode(f, ther, ep.id, date(2023, 1, 1), "completed", now=NOW)
    with pytest.raises(ValidationError):
        episodes.close_episode(f, ther, ep.id, date(2024, 6, 1), " ", now=NOW)
    closed = episodes.close_episode(f, ther, ep.id, date(2024, 6, 1), "completed", now=NOW)
    assert (closed.ended_on, closed.end_reason) == (date(2024, 6, 1), "completed")
    with pytest.raises(ConflictError):
        episodes.close_episode(f, ther, ep.id, date(2024, 6, 1), "again", now=NOW)
    new = episodes.open_episode(f, ther, cid, date(2024, 6, 2), now=NOW)
    assert [e.id for e in episodes.list_episodes(f, world.actor("client_a1"), cid)] == [
        ep.id,
        new.id,
    ]


def test_appointments_move_once_from_scheduled(world: World) -> None:
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    ap = appointments.schedule(f, ther, cid, NOW + timedelta(days=1), now=NOW)
    assert (ap.status, ap.therapist_id, ap.episode_id) == (
        AppointmentStatus.SCHEDULED,
        world.id("ther_a"),
        world.episodes["client_a1"].id,
    )
    done = appointments.mark_attended(f, ther, ap.id, focus_tags=(" Sleep ", "sleep", "Work"))
    assert done.status is AppointmentStatus.ATTENDED
    assert done.focus_tags == ("sleep", "work")
    with pytest.raises(ConflictError):
        appointments.mark_missed(f, ther, ap.id)
    retagged = appointments.set_focus_tags(f, ther, ap.id, ["grief"])
    assert retagged.focus_tags == ("grief",)
    other = appointments.schedule(f, ther, cid, NOW + timedelta(days=8), now=NOW)
    assert appointments.cancel(f, ther, other.id).status is AppointmentStatus.CANCELLED
    third = appointments.schedule(f, ther, cid, NOW + timedelta(days=15), now=NOW)
    assert appointments.mark_missed(f, ther, third.id).status is AppointmentStatus.MISSED
    mine = appointments.list_appointments(f, world.actor("client_a1"), cid)
    assert [a.id for a in mine] == [ap.id, other.id, third.id]
    with pytest.raises(ValidationError):
        appointments.set_focus_tags(f, ther, ap.id, ["x" * 41])
    with pytest.raises(ValidationError):
        appointments.set_focus_tags(f, ther, ap.id, [f"t{i}" for i in range(11)])


def test_scheduling_needs_an_open_episode_of_this_client(world: World) -> None:
    f, ther, cid = world.factory, world.actor("ther_a"), world.id("client_a1")
    with pytest.raises(NotFoundError):
        appointments.schedule(f, ther, cid, NOW, episode_id=world.episodes["client_a2"].id, now=NOW)
    episodes.close_episode(
        f, ther, world.episodes["client_a1"].id, date(2024, 6, 1), "completed", now=NOW
    )
    with pytest.raises(ValidationError):
        appointments.schedule(f, ther, cid, NOW + timedelta(days=1), now=NOW)
