"""The seeded world of the import/export tests on SQLite and PostgreSQL (see conftest.py).

`DbWorld` is two clinics seeded through the ordinary repositories. Clinic 1:
an admin, therapists A and B, a researcher, clients a1 and a2 (therapist A)
and b1 (therapist B), each with an open episode. Clinic 2: therapist X and
client x.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from twostep.domain.records import Assignment, Clinic, Episode, Role, User, new_id
from twostep.services.access import Actor
from twostep.storage import SqlUnitOfWorkFactory
from twostep.storage import tables as t

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)

PEOPLE: Mapping[str, tuple[int, tuple[Role, ...]]] = {
    "admin": (1, (Role.ADMIN,)),
    "ther_a": (1, (Role.THERAPIST,)),
    "ther_b": (1, (Role.THERAPIST,)),
    "researcher": (1, (Role.RESEARCHER,)),
    "client_a1": (1, (Role.CLIENT,)),
    "client_a2": (1, (Role.CLIENT,)),
    "client_b1": (1, (Role.CLIENT,)),
    "ther_x": (2, (Role.THERAPIST,)),
    "client_x": (2, (Role.CLIENT,)),
}
CASELOAD = (
    ("ther_a", "client_a1"),
    ("ther_a", "client_a2"),
    ("ther_b", "client_b1"),
    ("ther_x", "client_x"),
)


@dataclass
class DbWorld:
    factory: SqlUnitOfWorkFactory
    engine: sa.Engine
    clinic_id: str
    clinic2_id: str
    users: dict[str, User] = field(default_factory=dict)
    episodes: dict[str, Episode] = field(default_factory=dict)

    def id(self, name: str) -> str:
        return self.users[name].id

    def email(self, name: str) -> str:
        return self.users[name].email

    def actor(self, name: str) -> Actor:
        u = self.users[name]
        return Actor(u.id, u.clinic_id, u.roles, request_id="test")

    def count(self, table: sa.Table) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def counts(self) -> dict[str, int]:
        """Rows of every table an import or export may write (to prove nothing changed)."""
        return {
            tbl.name: self.count(tbl)
            for tbl in (t.administrations, t.alerts, t.audit_log, t.import_batches)
        }


def seed(factory: SqlUnitOfWorkFactory, engine: sa.Engine) -> DbWorld:
    """The world of the module docstring, written through the repositories."""
    c1 = Clinic(new_id(), "one", "Call 999.", "", created_at=NOW - timedelta(days=500))
    c2 = Clinic(new_id(), "two", "Call 988.", "", created_at=NOW - timedelta(days=500))
    w = DbWorld(factory, engine, c1.id, c2.id)
    with factory() as uow:
        uow.clinics.add(c1)
        uow.clinics.add(c2)
        for name, (clinic, roles) in PEOPLE.items():
            cid = c1.id if clinic == 1 else c2.id
            user = User(
                new_id(),
                cid,
                f"{name}@clinic{clinic}.example",
                name.replace("_", " ").title(),
                frozenset(roles),
                True,
                NOW - timedelta(days=400),
            )
            w.users[name] = uow.users.add(user)
        for therapist, client in CASELOAD:
            th, cl = w.users[therapist], w.users[client]
            started = NOW - timedelta(days=200)
            uow.assignments.add(Assignment(new_id(), cl.clinic_id, th.id, cl.id, started))
            ep = Episode(new_id(), cl.clinic_id, cl.id, date(2023, 6, 1))
            w.episodes[client] = uow.episodes.add(ep)
        uow.commit()
    return w
