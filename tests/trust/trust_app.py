"""The served app on a real database for the durability and bad-input tests.

`seed` creates one clinic with every role (admin, therapist, researcher, two
clients in the therapist's caseload, each with an open episode);
`build_app` builds the app the way `twostep serve` does (`create_app` on the
database's settings, no fakes); `LiveServer` serves it with a real uvicorn on
a free loopback port (for cut connections and true concurrency); `sign_in`
opens a session through ``POST /api/v1/session``. The session cookie is
``__Host-`` (Secure), so plain-http callers send the Cookie header themselves.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType

from fastapi import FastAPI

from twostep.config import Settings
from twostep.domain.records import Assignment, Clinic, Episode, Role, User, new_id
from twostep.security.passwords import Hasher
from twostep.storage.engine import engine_from_settings
from twostep.storage.unit_of_work import SqlUnitOfWorkFactory
from twostep.web.app import create_app

PASSWORD = "a long enough trust-test passphrase"
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only
BASE_URL = "https://testserver"
ROLES = ("client", "client2", "therapist", "admin", "researcher")


@dataclass(frozen=True)
class World:
    url: str
    settings: Settings
    factory: SqlUnitOfWorkFactory
    ids: dict[str, str]  # role name -> user id
    emails: dict[str, str]  # role name -> e-mail
    apps: list[FastAPI]

    def close(self) -> None:
        """Dispose of every engine (the world's and its apps'): no connection outlives a test."""
        for app in self.apps:
            st = app.state.twostep
            for f in (st.uow_factory, st.read_factory):
                engine = getattr(f, "engine", None)
                if engine is not None:
                    engine.dispose()
        self.factory.engine.dispose()


def seed(url: str, folder: Path) -> World:
    """One clinic with every role on the (already created) schema at ``url``."""
    settings = Settings(database_url=url, data_dir=folder)
    factory = SqlUnitOfWorkFactory(engine_from_settings(settings))
    now = datetime.now(UTC)
    clinic = Clinic(
        new_id(), "trust clinic", "Call 116 123.", "", created_at=now - timedelta(days=90)
    )
    roles = {
        "client": Role.CLIENT,
        "client2": Role.CLIENT,
        "therapist": Role.THERAPIST,
        "admin": Role.ADMIN,
        "researcher": Role.RESEARCHER,
    }
    ids: dict[str, str] = {}
    emails: dict[str, str] = {}
    digest = FAST_HASHER.hash(PASSWORD)
    with factory() as uow:
        uow.clinics.add(clinic)
        for name, role in roles.items():
            email = f"{name}-{clinic.id[:8]}@trust.example"
            user = User(
                new_id(),
                clinic.id,
                email,
                name.title(),
                frozenset({role}),
                True,
                now - timedelta(days=60),
            )
            ids[name] = uow.users.add(user).id
            emails[name] = email
            uow.users.set_password_hash(user.id, digest)
        for c in ("client", "client2"):
            uow.assignments.add(
                Assignment(new_id(), clinic.id, ids["therapist"], ids[c], now - timedelta(days=30))
            )
            uow.episodes.add(Episode(new_id(), clinic.id, ids[c], date.today()))
        uow.commit()
    return World(url, settings, factory, ids, emails, [])


@contextmanager
def open_world(url: str, folder: Path) -> Iterator[World]:
    world = seed(url, folder)
    try:
        yield world
    finally:
        world.close()


def build_app(world: World) -> FastAPI:
    app = create_app(world.settings, hasher=FAST_HASHER)
    world.apps.append(app)
    return app


@dataclass(frozen=True)
class Login:
    cookie: str  # "name=value", for a Cookie header
    csrf: str

    def headers(self) -> dict[str, str]:
        return {"Cookie": self.cookie, "X-CSRF-Token": self.csrf}


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.read(), {k.lower(): v for k, v in res.getheaders()}
    finally:
        conn.close()


def sign_in_http(port: int, email: str) -> Login:
    status, data, headers = http_request(
        port,
        "POST",
        "/api/v1/session",
        json.dumps({"email": email, "password": PASSWORD}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 201, data
    return Login(headers["set-cookie"].split(";", 1)[0], json.loads(data)["csrf_token"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """A real uvicorn serving ``app`` on a free loopback port, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
