"""Fixtures of the web tests: the app over the service-test world, and signed-in clients.

`web_world` is `tests/services/service_world.make_world` (two clinics, an
admin, therapists A and B, four clients, a researcher, a therapist-admin, and
clinic 2 with one therapist and one client) with a password for everyone.
`as_user("client_a1")` returns an `httpx`-style `TestClient` signed in as that
user through the JSON API, with the CSRF token in its default headers, so a
test reads like what a browser or API client does. Everything runs on the
in-memory fakes (fast); `tests/web/test_on_sqlite.py` runs the app on SQLite.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from service_world import World, make_world

from twostep.config import Settings
from twostep.security.passwords import Hasher
from twostep.web.app import create_app

#: Everyone's password in the web tests.
PASSWORD = "a long enough test passphrase"
#: Cheap Argon2id parameters, for tests only.
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)
BASE_URL = "https://testserver"  # the session cookie is __Host- (Secure): HTTPS only


@pytest.fixture
def web_world() -> World:
    w = make_world()
    digest = FAST_HASHER.hash(PASSWORD)
    with w.factory() as uow:
        for user in w.users.values():
            uow.users.set_password_hash(user.id, digest)
        uow.commit()
    return w


@pytest.fixture
def app(web_world: World, tmp_path: Path) -> FastAPI:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", data_dir=tmp_path)
    return create_app(settings, uow_factory=web_world.factory, hasher=FAST_HASHER)


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        yield client


def sign_in(app: FastAPI, email: str, password: str = PASSWORD) -> TestClient:
    """A client signed in as ``email`` with the session's CSRF token as a default header."""
    client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    res = client.post("/api/v1/session", json={"email": email, "password": password})
    assert res.status_code == 201, res.text
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return client


@pytest.fixture
def as_user(app: FastAPI, web_world: World) -> Iterator[Callable[[str], TestClient]]:
    """``as_user(name)``: a client signed in as the world's user ``name``."""
    opened: list[TestClient] = []

    def make(name: str) -> TestClient:
        client = sign_in(app, web_world.users[name].email)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()
