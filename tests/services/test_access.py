"""The access policy matrix (reliability-security.md AZ-01..AZ-10) across every read service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest
from service_world import NOW, World, phq9_total

from twostep.domain.ports import UnitOfWorkFactory
from twostep.domain.records import Role
from twostep.errors import AccessDeniedError, NotFoundError
from twostep.services import (
    alerts,
    alliance_followup,
    appointments,
    checkin,
    episodes,
    goals,
    journal,
    progress,
    session_prep,
    timeline,
    triage,
)
from twostep.services.access import Actor
from twostep.services.assignments import assign_therapist, end_assignment

Read = Callable[[UnitOfWorkFactory, Actor, str], object]

#: Every per-client read a client or therapist may call.
READS: dict[str, Read] = {
    "journal": journal.list_journal,
    "reflections": journal.list_reflections,
    "stressors": journal.list_stressors,
    "self_care": journal.list_self_care,
    "skill_practice": journal.list_skill_practice,
    "thought_records": journal.list_thought_records,
    "supporters": journal.list_supporters,
    "support_contacts": journal.list_support_contacts,
    "topics": journal.list_session_topics,
    "sharing": journal.get_sharing,
    "goals": goals.list_goals,
    "gas": goals.gas_trend,
    "reviews_due": goals.goal_reviews_due,
    "timeline": timeline.client_timeline,
    "progress": progress.my_progress,
    "growth": progress.growth,
    "episodes": episodes.list_episodes,
    "appointments": appointments.list_appointments,
    "checkins_due": checkin.checkins_due,
}
#: Reads for the assigned therapist only.
STAFF_READS: dict[str, Read] = {
    "alerts": alerts.list_alerts,
    "session_prep": session_prep.prepare_session,
    "alliance": alliance_followup.alliance_follow_up,
}

# (actor, client, expected): None = allowed
MATRIX = [
    ("client_a1", "client_a1", None),
    ("client_a1", "client_a2", NotFoundError),
    ("client_a1", "client_x", NotFoundError),
    ("ther_a", "client_a1", None),
    ("ther_a", "client_b1", NotFoundError),
    ("ther_a", "client_x", NotFoundError),
    ("ther_x", "client_a1", NotFoundError),
    ("ther_admin", "client_a1", NotFoundError),
    ("admin", "client_a1", AccessDeniedError),
    ("admin", "client_x", AccessDeniedError),
    ("researcher", "client_a1", AccessDeniedError),
]


@pytest.fixture
def filled(world: World) -> World:
    world.series("client_a1", [15, 14, 16])
    world.checkin("client_b1", phq9_total(12), NOW - timedelta(days=3))
    return world


@pytest.mark.parametrize("name", sorted(READS))
@pytest.mark.parametrize(("actor", "client", "expected"), MATRIX)
def test_policy_matrix(
    filled: World, name: str, actor: str, client: str, expected: type[Exception] | None
) -> None:
    call = READS[name]
    if expected is None:
        call(filled.factory, filled.actor(actor), filled.id(client))
    else:
        with pytest.raises(expected):
            call(filled.factory, filled.actor(actor), filled.id(client))


@pytest.mark.parametrize("name", sorted(STAFF_READS))
@pytest.mark.parametrize(("actor", "client", "expected"), MATRIX)
def test_staff_only_reads(
    filled: World, name: str, actor: str, client: str, expected: type[Exception] | None
) -> None:
    call = STAFF_READS[name]
    if actor.startswith("client") and expected is None:
        expected = AccessDeniedError  # the client reaches the record but not this view
    if expected is None:
        call(filled.factory, filled.actor(actor), filled.id(client))
    else:
        with pytest.raises(expected):
            call(filled.factory, filled.actor(actor), filled.id(client))


def test_missing_and_forbidden_look_the_same(filled: World) -> None:
    f, ther = filled.factory, filled.actor("ther_a")
    with pytest.raises(NotFoundError) as hidden:
        journal.list_journal(f, ther, filled.id("client_b1"))
    with pytest.raises(NotFoundError) as missing:
        journal.list_journal(f, ther, "no-such-client")
    assert str(hidden.value) == str(missing.value)
    with pytest.raises(NotFoundError) as not_a_client:
        journal.list_journal(f, ther, filled.id("ther_b"))
    assert str(not_a_client.value) == str(missing.value)


def test_unassignment_takes_effect_on_the_next_call(filled: World) -> None:
    f, ther, cid = filled.factory, filled.actor("ther_a"), filled.id("client_a1")
    timeline.client_timeline(f, ther, cid)
    end_assignment(f, filled.actor("admin"), filled.assignments["client_a1"].id)
    with pytest.raises(NotFoundError):
        timeline.client_timeline(f, ther, cid)
    assert cid not in {e.client_id for e in triage.caseload_triage(f, ther).entries}


def test_an_admin_who_is_assigned_as_therapist_gets_access(filled: World) -> None:
    f, cid = filled.factory, filled.id("client_a1")
    actor = filled.actor("ther_admin")
    with pytest.raises(NotFoundError):
        journal.list_journal(f, actor, cid)
    assign_therapist(f, filled.actor("admin"), cid, filled.id("ther_admin"))
    journal.list_journal(f, actor, cid)
    # an admin-only session of the same person still gets no clinical content
    with pytest.raises(AccessDeniedError):
        journal.list_journal(f, filled.actor("ther_admin", frozenset({Role.ADMIN})), cid)


def test_roles_claimed_by_the_session_must_exist_on_the_user(filled: World) -> None:
    f = filled.factory
    forged = filled.actor("client_a1", frozenset({Role.CLIENT, Role.THERAPIST}))
    with pytest.raises(NotFoundError):
        journal.list_journal(f, forged, filled.id("client_a2"))
    wrong_clinic = replace(filled.actor("ther_a"), clinic_id=filled.clinic2.id)
    with pytest.raises(AccessDeniedError):
        journal.list_journal(f, wrong_clinic, filled.id("client_x"))


def test_a_deactivated_account_is_refused_at_once(filled: World) -> None:
    f = filled.factory
    with f() as uow:
        uow.users.update(replace(filled.users["ther_a"], is_active=False))
        uow.commit()
    with pytest.raises(AccessDeniedError):
        journal.list_journal(f, filled.actor("ther_a"), filled.id("client_a1"))


@pytest.mark.parametrize("actor", ["admin", "researcher", "client_a1"])
def test_triage_needs_the_therapist_role(filled: World, actor: str) -> None:
    with pytest.raises(AccessDeniedError):
        triage.caseload_triage(filled.factory, filled.actor(actor))


def test_therapists_cannot_write_the_clients_own_entries(filled: World) -> None:
    f, ther, cid = filled.factory, filled.actor("ther_a"), filled.id("client_a1")
    with pytest.raises(AccessDeniedError):
        journal.add_journal_entry(f, ther, cid, mood=3)
    with pytest.raises(AccessDeniedError):
        journal.set_sharing(f, ther, cid, "journal_text", True)
    with pytest.raises(NotFoundError):
        journal.add_journal_entry(f, ther, filled.id("client_b1"), mood=3)


def test_clients_cannot_act_as_therapists(filled: World) -> None:
    f, me, cid = filled.factory, filled.actor("client_a1"), filled.id("client_a1")
    with pytest.raises(AccessDeniedError):
        episodes.open_episode(f, me, cid, date(2024, 6, 1))
    with pytest.raises(AccessDeniedError):
        appointments.schedule(f, me, cid, NOW + timedelta(days=1))


def test_writes_cannot_reach_into_another_clients_record(filled: World) -> None:
    f = filled.factory
    other = journal.add_supporter(
        f, filled.actor("client_a2"), filled.id("client_a2"), name="Sam", relation="friend"
    )
    with pytest.raises(NotFoundError):
        journal.add_support_contact(
            f,
            filled.actor("client_a1"),
            filled.id("client_a1"),
            supporter_id=other.id,
            contacted_on=date(2024, 6, 1),
        )
    with pytest.raises(NotFoundError):
        checkin.record_checkin(
            f,
            filled.actor("client_a1"),
            filled.id("client_a1"),
            "phq9",
            phq9_total(5),
            NOW,
            episode_id=filled.episodes["client_a2"].id,
            now=NOW,
        )


def test_admins_manage_assignments_only_in_their_clinic(filled: World) -> None:
    f = filled.factory
    with pytest.raises(NotFoundError):
        assign_therapist(f, filled.actor("admin"), filled.id("client_x"), filled.id("ther_a"))
    with pytest.raises(AccessDeniedError):
        assign_therapist(f, filled.actor("ther_a"), filled.id("client_b1"), filled.id("ther_a"))
    with pytest.raises(NotFoundError):
        end_assignment(f, filled.actor("admin"), filled.assignments["client_x"].id)
