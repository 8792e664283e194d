"""The admin's use cases: accounts, roles, passwords, assignments, clinic settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_world import NOW, World

from twostep.domain.records import Role, WebSession, new_id
from twostep.errors import AccessDeniedError, ConflictError, NotFoundError, ValidationError
from twostep.security.passwords import Hasher
from twostep.services.assignments import assign_therapist, end_assignment
from twostep.services.clinic_admin import (
    clinic_settings,
    create_account,
    list_accounts,
    list_assignments,
    reset_password,
    update_account,
    update_clinic_settings,
)

HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)
KNOWN = ("phq9", "gad7", "core10", "srs")


def test_list_accounts_is_for_admins_of_the_clinic_only(world: World) -> None:
    rows = list_accounts(world.factory, world.actor("admin"))
    emails = {r.email for r in rows}
    assert world.users["client_a1"].email in emails
    assert world.users["client_x"].email not in emails  # another clinic
    for name in ("ther_a", "researcher", "client_a1"):
        with pytest.raises(AccessDeniedError):
            list_accounts(world.factory, world.actor(name))
    # the therapist-admin acts as admin here
    assert list_accounts(world.factory, world.actor("ther_admin"))


def test_create_account_with_a_policy_password_or_a_generated_one(world: World) -> None:
    made = create_account(
        world.factory,
        world.actor("admin"),
        email="new.therapist@one.example",
        display_name="New Therapist",
        roles=["therapist"],
        password="a long and unusual passphrase",
        hasher=HASHER,
        now=NOW,
    )
    assert made.generated_password is None
    assert made.account.roles == ("therapist",)
    with world.factory() as uow:
        stored = uow.users.password_hash(made.account.id)
    assert HASHER.verify(stored, "a long and unusual passphrase")
    gen = create_account(
        world.factory,
        world.actor("admin"),
        email="c@one.example",
        display_name="C",
        roles=["client"],
        password=None,
        hasher=HASHER,
    )
    assert gen.generated_password is not None
    assert len(gen.generated_password) >= 20
    with world.factory() as uow:
        assert HASHER.verify(uow.users.password_hash(gen.account.id), gen.generated_password)
    ev = world.store.audit_events[-1]
    assert (ev.action, ev.object_type, ev.object_id, ev.outcome) == (
        "create",
        "user",
        gen.account.id,
        "ok",
    )


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"password": "short"}, "too_short"),
        ({"password": "qwerty123456"}, "too_common"),
        ({"email": "not-an-address"}, "invalid_email"),
        ({"roles": []}, "required"),
        ({"roles": ["superuser"]}, "unknown_role"),
        ({"roles": ["client", "therapist"]}, "client_and_staff"),
        ({"display_name": "  "}, "required"),
    ],
)
def test_create_account_refuses_bad_input(world: World, kw: dict[str, object], code: str) -> None:
    args: dict[str, object] = {
        "email": "x@one.example",
        "display_name": "X",
        "roles": ["therapist"],
        "password": "a long and unusual passphrase",
    }
    args.update(kw)
    with pytest.raises(ValidationError) as info:
        create_account(world.factory, world.actor("admin"), hasher=HASHER, **args)  # type: ignore[arg-type]
    assert code in {p.code for p in info.value.problems}
    assert world.store.audit_events[-1].outcome == "error"


def test_duplicate_email_is_a_conflict(world: World) -> None:
    with pytest.raises(ConflictError):
        create_account(
            world.factory,
            world.actor("admin"),
            email=world.users["ther_a"].email.upper(),
            display_name="Dup",
            roles=["therapist"],
            password=None,
            hasher=HASHER,
        )


def test_roles_and_deactivation_rules(world: World) -> None:
    admin = world.actor("admin")
    out = update_account(
        world.factory, admin, world.id("ther_a"), roles=["therapist", "researcher"]
    )
    assert out.roles == ("researcher", "therapist")
    with pytest.raises(ConflictError):  # a client stays a client
        update_account(world.factory, admin, world.id("client_a1"), roles=["therapist"])
    with pytest.raises(ConflictError):
        update_account(world.factory, admin, world.id("admin"), is_active=False)
    # two admins (admin, ther_admin): one may lose the role, not the last one
    update_account(world.factory, admin, world.id("ther_admin"), roles=["therapist"])
    with pytest.raises(ConflictError):
        update_account(world.factory, admin, world.id("admin"), roles=["researcher"])
    with pytest.raises(NotFoundError):
        update_account(world.factory, admin, world.id("ther_x"), is_active=False)
    with pytest.raises(NotFoundError):
        update_account(world.factory, admin, new_id(), is_active=False)


def test_deactivation_and_password_reset_end_sessions(world: World) -> None:
    uid = world.id("ther_b")
    with world.factory() as uow:
        s = WebSession(new_id(), uid, "t", "c", NOW, NOW, NOW + timedelta(hours=1))
        uow.web_sessions.add(s)
        uow.commit()
    generated = reset_password(
        world.factory, world.actor("admin"), uid, password=None, hasher=HASHER, now=NOW
    )
    assert generated
    with world.factory() as uow:
        assert uow.web_sessions.by_token_hash("t").revoked_at is not None  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        reset_password(
            world.factory, world.actor("admin"), uid, password="1qaz2wsx3edc", hasher=HASHER
        )
    out = update_account(world.factory, world.actor("admin"), uid, is_active=False, now=NOW)
    assert not out.is_active
    ev = world.store.audit_events[-1]
    assert (ev.action, ev.object_type, ev.object_id) == ("update", "user", uid)
    out = update_account(world.factory, world.actor("admin"), uid, is_active=True)
    assert out.is_active


def test_assignments_listed_assigned_and_ended(world: World) -> None:
    admin = world.actor("admin")
    rows = list_assignments(world.factory, admin, now=NOW)
    assert {(r.therapist_name, r.client_name) for r in rows} == {
        ("Ther A", "Client A1"),
        ("Ther A", "Client A2"),
        ("Ther B", "Client B1"),
        ("Ther B", "Client B2"),
    }
    a = assign_therapist(world.factory, admin, world.id("client_a1"), world.id("ther_b"), now=NOW)
    assert len(list_assignments(world.factory, admin, now=NOW)) == 5
    end_assignment(world.factory, admin, a.id, now=NOW + timedelta(seconds=1))
    later = NOW + timedelta(minutes=1)
    assert len(list_assignments(world.factory, admin, now=later)) == 4
    assert len(list_assignments(world.factory, admin, include_ended=True, now=later)) == 5
    with pytest.raises(AccessDeniedError):
        list_assignments(world.factory, world.actor("ther_a"))


def test_clinic_settings(world: World) -> None:
    admin = world.actor("admin")
    s = clinic_settings(world.factory, admin)
    assert s.instruments == ("phq9", "gad7")
    assert s.checkin_every_days == 7
    out = update_clinic_settings(
        world.factory,
        admin,
        known_instruments=KNOWN,
        crisis_text="Call 111.",
        instruments=["phq9", "core10"],
        checkin_every_days=14,
    )
    assert (out.crisis_text, out.instruments, out.checkin_every_days) == (
        "Call 111.",
        ("phq9", "core10"),
        14,
    )
    assert out.delay_notice == s.delay_notice
    assert clinic_settings(world.factory, admin) == out
    for bad in (
        {"crisis_text": " "},
        {"instruments": ["nope"]},
        {"instruments": []},
        {"checkin_every_days": 0},
        {"checkin_every_days": True},
    ):
        with pytest.raises(ValidationError):
            update_clinic_settings(world.factory, admin, known_instruments=KNOWN, **bad)  # type: ignore[arg-type]
    with pytest.raises(AccessDeniedError):
        update_clinic_settings(world.factory, world.actor("ther_a"), known_instruments=KNOWN)
    assert world.store.audit_events[-1].outcome == "denied"
    # the other clinic is untouched
    with world.factory() as uow:
        assert uow.clinics.get(world.clinic2.id).crisis_text == "Call 988."  # type: ignore[union-attr]
    assert Role.ADMIN in world.users["admin"].roles


# ------------------------------------------------------------- on SQLite / PostgreSQL


@pytest.fixture
def sql_world(engine: object) -> World:
    """Clinic one with an admin and two therapists, stored in the real database."""
    from service_world import CRISIS, DELAY

    from twostep.domain.records import Clinic, User
    from twostep.storage import SqlUnitOfWorkFactory

    factory = SqlUnitOfWorkFactory(engine)  # type: ignore[arg-type]
    clinic = Clinic(new_id(), "one", CRISIS, DELAY, created_at=NOW - timedelta(days=500))
    clinic2 = Clinic(new_id(), "two", "Call 988.", "", created_at=NOW - timedelta(days=500))
    w = World(factory, clinic, clinic2)  # type: ignore[arg-type]
    with factory() as uow:
        uow.clinics.add(clinic)
        uow.clinics.add(clinic2)
        for name, roles in (
            ("admin", {Role.ADMIN}),
            ("ther_a", {Role.THERAPIST}),
            ("ther_b", {Role.THERAPIST}),
            ("researcher", {Role.RESEARCHER}),
        ):
            user = User(new_id(), clinic.id, f"{name}@one.example", name.replace("_", " ").title(),
                        frozenset(roles), True, NOW - timedelta(days=400))  # fmt: skip
            w.users[name] = uow.users.add(user)
        uow.commit()
    return w


def test_admin_use_cases_on_the_database(sql_world: World) -> None:
    w = sql_world
    admin = w.actor("admin")
    out = update_clinic_settings(
        w.factory,
        admin,
        known_instruments=KNOWN,
        instruments=["phq9", "core10"],
        checkin_every_days=3,
    )
    assert clinic_settings(w.factory, admin) == out
    made = create_account(
        w.factory, admin, email="c@one.example", display_name="C", roles=["client"],
        password=None, hasher=HASHER,
    )  # fmt: skip
    assign_therapist(w.factory, admin, made.account.id, w.id("ther_a"), now=NOW)
    rows = list_assignments(w.factory, admin, now=NOW + timedelta(seconds=1))
    assert [(r.client_name, r.therapist_name) for r in rows] == [("C", "Ther A")]
    changed = update_account(w.factory, admin, w.id("ther_b"), roles=["therapist", "admin"])
    assert changed.roles == ("admin", "therapist")
    with pytest.raises(ConflictError):
        update_account(w.factory, admin, w.id("admin"), is_active=False)


def test_outcomes_on_the_database(sql_world: World) -> None:
    from test_outcomes import hand_case

    from twostep.services.outcomes import service_outcomes

    hand_case(sql_world, "ther_a")
    out = service_outcomes(sql_world.factory, sql_world.actor("admin"), grouping="none")
    cell = out.total.cell("recovery")
    assert (cell.numerator, cell.denominator) == (10, 13)
    # researchers get the same counts rounded to 5 (AZ-09)
    out = service_outcomes(sql_world.factory, sql_world.actor("researcher"), grouping="none")
    cell = out.total.cell("recovery")
    assert (cell.numerator, cell.denominator) == (10, 15)
