"""The fixture world of the service tests, on the in-memory fakes (see conftest.py).

Two clinics. Clinic 1: an admin, two therapists (A and B), four clients (two
each), a researcher and a therapist who is also an admin. Clinic 2: one
therapist and one client. Everything runs on `FakeUnitOfWorkFactory`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from twostep.domain.fakes import FakeStore, FakeUnitOfWorkFactory
from twostep.domain.records import (
    Appointment,
    AppointmentStatus,
    Assignment,
    Clinic,
    Episode,
    Role,
    User,
    new_id,
)
from twostep.services.access import Actor
from twostep.services.checkin import CheckinResult, record_checkin

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
CRISIS = "Samaritans: call 116 123.\nIn an emergency, call 999."
DELAY = "Your therapist may not read your answers until the next working day."


def phq9(total_items: list[int | None]) -> dict[str, int | None]:
    """PHQ-9 answers from nine item values (item 10 left out)."""
    return {f"item_{i + 1}": v for i, v in enumerate(total_items)}


def phq9_total(total: int, item9: int | None = 0) -> dict[str, int | None]:
    """Answers with the given total (items 1-8 filled, then item 9)."""
    rest = total - (item9 or 0)
    items: list[int | None] = []
    for _ in range(8):
        v = min(3, max(0, rest))
        items.append(v)
        rest -= v
    assert rest == 0, "total not reachable"
    return phq9([*items, item9])


@dataclass
class World:
    factory: FakeUnitOfWorkFactory
    clinic: Clinic
    clinic2: Clinic
    users: dict[str, User] = field(default_factory=dict)
    episodes: dict[str, Episode] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)

    @property
    def store(self) -> FakeStore:
        return self.factory.store

    def actor(self, name: str, roles: frozenset[Role] | None = None) -> Actor:
        u = self.users[name]
        return Actor(u.id, u.clinic_id, roles if roles is not None else u.roles)

    def id(self, name: str) -> str:
        return self.users[name].id

    def checkin(
        self,
        name: str,
        answers: Mapping[str, object],
        at: datetime,
        *,
        instrument: str = "phq9",
        by: str | None = None,
        **kw: object,
    ) -> CheckinResult:
        return record_checkin(
            self.factory,
            self.actor(by or name),
            self.id(name),
            instrument,
            answers,
            at,
            now=max(at, NOW) if at.tzinfo is not None else NOW,
            **kw,  # type: ignore[arg-type]
        )

    def series(
        self,
        name: str,
        totals: list[int | None],
        *,
        start: datetime = NOW - timedelta(weeks=12),
        every: timedelta = timedelta(weeks=1),
        instrument: str = "phq9",
    ) -> list[CheckinResult]:
        out = []
        for k, total in enumerate(totals):
            answers = phq9_total(total) if total is not None else phq9([None] * 9)
            out.append(self.checkin(name, answers, start + k * every, instrument=instrument))
        return out

    def appointment(
        self,
        name: str,
        at: datetime,
        status: AppointmentStatus = AppointmentStatus.ATTENDED,
        tags: tuple[str, ...] = (),
        therapist: str = "ther_a",
    ) -> Appointment:
        ap = Appointment(
            new_id(),
            self.clinic.id,
            self.episodes[name].id,
            self.id(name),
            self.id(therapist),
            at,
            status,
            tags,
        )
        with self.factory() as uow:
            uow.appointments.add(ap)
            uow.commit()
        return ap


def _user(clinic: Clinic, name: str, *roles: Role) -> User:
    return User(
        id=new_id(),
        clinic_id=clinic.id,
        email=f"{name}@{clinic.name}.example",
        display_name=name.replace("_", " ").title(),
        roles=frozenset(roles),
        created_at=NOW - timedelta(days=400),
    )


def make_world() -> World:
    factory = FakeUnitOfWorkFactory()
    clinic = Clinic(new_id(), "one", CRISIS, DELAY, created_at=NOW - timedelta(days=500))
    clinic2 = Clinic(new_id(), "two", "Call 988.", "", created_at=NOW - timedelta(days=500))
    w = World(factory, clinic, clinic2)
    people = {
        "admin": (clinic, (Role.ADMIN,)),
        "ther_a": (clinic, (Role.THERAPIST,)),
        "ther_b": (clinic, (Role.THERAPIST,)),
        "ther_admin": (clinic, (Role.THERAPIST, Role.ADMIN)),
        "researcher": (clinic, (Role.RESEARCHER,)),
        "client_a1": (clinic, (Role.CLIENT,)),
        "client_a2": (clinic, (Role.CLIENT,)),
        "client_b1": (clinic, (Role.CLIENT,)),
        "client_b2": (clinic, (Role.CLIENT,)),
        "ther_x": (clinic2, (Role.THERAPIST,)),
        "client_x": (clinic2, (Role.CLIENT,)),
    }
    started = NOW - timedelta(days=200)
    with factory() as uow:
        uow.clinics.add(clinic)
        uow.clinics.add(clinic2)
        for name, (c, roles) in people.items():
            w.users[name] = uow.users.add(_user(c, name, *roles))
        for therapist, client in (
            ("ther_a", "client_a1"),
            ("ther_a", "client_a2"),
            ("ther_b", "client_b1"),
            ("ther_b", "client_b2"),
            ("ther_x", "client_x"),
        ):
            t, cl = w.users[therapist], w.users[client]
            a = Assignment(new_id(), t.clinic_id, t.id, cl.id, started)
            w.assignments[client] = uow.assignments.add(a)
            ep = Episode(new_id(), cl.clinic_id, cl.id, date(2024, 1, 2))
            w.episodes[client] = uow.episodes.add(ep)
        uow.commit()
    return w
