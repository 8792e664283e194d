"""Fixtures of the trust tests: a migrated database, a small clinic, and the CLI.

``migrated_url`` is a database at the newest schema revision (made by the
shipped migrations, as `twostep db upgrade` makes it) on the test's backend.
`Clinic` holds the ids and actors of one clinic (an admin, a therapist, two
clients), created through the unit of work; clinical content is then written
through the services, as the app writes it. `run_cli` runs ``twostep`` with the
test key ring in ``TWOSTEP_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from typer.testing import CliRunner, Result

from twostep.cli import main
from twostep.domain import records as r
from twostep.services.access import Actor
from twostep.storage import KeyRing, SqlUnitOfWorkFactory, make_engine, upgrade

#: the key ring the test data is written with, and the same keys as the CLI sees them
KEY_A = bytes(range(32))
KEYRING = KeyRing([("test-a", KEY_A)])
KEYS_ENV = f"test-a:{base64.b64encode(KEY_A).decode()}"
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def migrated_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database at the newest schema revision, on the test's backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'records.db'}"
        upgrade(url)
        yield url
        return
    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    url = server.url(name)
    try:
        upgrade(url)
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide consoles, so that messages are not wrapped (the width depends on the host)."""
    monkeypatch.setattr(main, "out", Console(width=400, force_terminal=False))
    monkeypatch.setattr(main, "err", Console(width=400, force_terminal=False, stderr=True))


def run_cli(args: Sequence[str], *, keys: str = KEYS_ENV) -> Result:
    env = {"TWOSTEP_ENCRYPTION_KEYS": keys, "TWOSTEP_ENVIRONMENT": "test"}
    return CliRunner().invoke(main.app, list(args), env=env)


@dataclass
class Clinic:
    clinic_id: str
    admin: Actor
    therapist: Actor
    client: Actor
    other: Actor
    admin_email: str
    client_email: str

    @property
    def client_id(self) -> str:
        return self.client.user_id

    @property
    def other_id(self) -> str:
        return self.other.user_id


def make_clinic(engine: sa.Engine, tag: str = "") -> Clinic:
    """One clinic: an admin, a therapist assigned to two clients, an open episode each."""
    clinic = r.Clinic(r.new_id(), f"Clinic {tag}", "Call 111", "We reply in two days")
    people = {
        "admin": (r.Role.ADMIN,),
        "therapist": (r.Role.THERAPIST,),
        "client": (r.Role.CLIENT,),
        "other": (r.Role.CLIENT,),
    }
    users = {
        k: r.User(
            r.new_id(),
            clinic.id,
            f"{k}{tag}@{clinic.id[:8]}.example.org",
            k.title(),
            frozenset(roles),
            created_at=NOW - timedelta(days=60),
        )
        for k, roles in people.items()
    }
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.clinics.add(clinic)
        for u in users.values():
            uow.users.add(u)
        for k in ("client", "other"):
            uow.assignments.add(
                r.Assignment(
                    r.new_id(),
                    clinic.id,
                    users["therapist"].id,
                    users[k].id,
                    NOW - timedelta(days=50),
                )
            )
            uow.episodes.add(r.Episode(r.new_id(), clinic.id, users[k].id, date(2025, 4, 1)))
        uow.commit()

    def actor(k: str) -> Actor:
        u = users[k]
        return Actor(u.id, clinic.id, u.roles, request_id=f"test-{k}")

    return Clinic(
        clinic.id,
        actor("admin"),
        actor("therapist"),
        actor("client"),
        actor("other"),
        users["admin"].email,
        users["client"].email,
    )


def engine_for(url: str, keyring: KeyRing = KEYRING) -> sa.Engine:
    return make_engine(url, keyring=keyring)
