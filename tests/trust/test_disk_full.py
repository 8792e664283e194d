"""RL-10: on a full (or read-only) volume writes fail cleanly, and recover when space returns.

The database lives on a real, small volume: a ``tmpfs`` mounted for the test
(``mount -t tmpfs -o size=...``; we run as root in CI). The volume is filled
to the last byte with a filler file while the served app (`create_app` on
the database, as ``twostep serve`` builds it) keeps running. Then:

* every write is refused with 503 problem+json ``storage-unavailable`` (with
  ``Retry-After``), and nothing of it is stored — no administration, alert,
  audit row or journal entry appears (no half-stored questionnaire); every
  write answered 2xx before is readable afterwards (no 2xx for unwritten data);
* reads that need no write keep working (the signed-in session, the skill
  library, the OpenAPI document). Reads of clinical data write an audit row
  first and **fail closed** (503, no content) while even that row cannot be
  written — AU-04 is stronger than "reads keep working" (docs/security.md);
* when the filler is deleted, the same running app writes and reads again:
  no restart, no repair, ``PRAGMA integrity_check`` is ``ok``.

SQLite uses the tmpfs when the mount is allowed; where it is refused (no
root, a locked-down container) the test falls back to ``PRAGMA
max_page_count`` on every connection, which raises the same SQLITE_FULL
("database or disk is full") from inside SQLite — the test says which one it
used (``volume`` in its report). PostgreSQL puts the test database in a
tablespace on the tmpfs (its WAL stays on the main disk, as a full data
volume leaves it): extending a full relation fails with SQLSTATE 53100
``disk_full``; without the mount that test is skipped with the reason.
A read-only database (SQLite ``query_only``, PostgreSQL
``default_transaction_read_only``) gives SQLITE_READONLY / SQLSTATE 25006: the same 503.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.pool import Pool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_app import BASE_URL, PASSWORD, World, build_app, open_world

from twostep.storage import tables as t
from twostep.storage import upgrade

PHQ9 = {"instrument_id": "phq9", "answers": {f"item_{k}": 1 for k in range(1, 10)}}
#: Reads that write nothing (no audit row: no clinical content).
PLAIN_READS = ("/api/v1/me", "/api/v1/me/skills", "/api/v1/openapi.json")
#: Reads of clinical data (each writes its audit row first).
CLINICAL_READS = ("/api/v1/me/journal", "/api/v1/me/progress")
COUNTED = (t.administrations, t.alerts, t.audit_log, t.journal_entries, t.checkin_drafts)


@contextlib.contextmanager
def small_volume(size: str) -> Iterator[Path | None]:
    """A fresh tmpfs of ``size`` (world-writable), or None where mounting is refused."""
    root = Path(tempfile.mkdtemp(prefix="twostep-rl10-"))
    os.chmod(root, 0o755)
    mnt = root / "volume"
    mnt.mkdir()
    if shutil.which("mount") is None:
        yield None
        shutil.rmtree(root, ignore_errors=True)
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def fill(volume: Path) -> Path:
    """Write a filler file until the volume has no byte left; returns it."""
    filler = volume / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


@dataclass(eq=False)  # a listener: hashable by identity
class PageLimit:
    """The fallback: ``PRAGMA max_page_count`` on every connection the pool hands out."""

    pages: int | None = None

    def __call__(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if getattr(dbapi_connection, "__module__", "").startswith("sqlite3") or hasattr(
            dbapi_connection, "execute"
        ):
            limit = self.pages if self.pages is not None else 1_073_741_823
            with contextlib.suppress(Exception):
                dbapi_connection.execute(f"PRAGMA max_page_count = {limit}")


def counts(world: World) -> dict[str, int]:
    with world.factory.engine.connect() as conn:
        return {
            table.name: int(
                conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
            for table in COUNTED
        }


def sign_in(world: World) -> TestClient:
    client = TestClient(build_app(world), base_url=BASE_URL, follow_redirects=False)
    res = client.post(
        "/api/v1/session", json={"email": world.emails["client"], "password": PASSWORD}
    )
    assert res.status_code == 201, res.text
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return client


def assert_storage_unavailable(res: Any) -> None:
    assert res.status_code == 503, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["type"] == "/problems/storage-unavailable"
    assert res.headers.get("retry-after")


def write(client: TestClient, i: int) -> Any:
    """A check-in (administration + analysis + audit in one transaction) or a long journal entry."""
    if i % 2 == 0:
        return client.post("/api/v1/me/checkins", json=PHQ9)
    return client.post("/api/v1/me/journal", json={"mood": 4, "text": f"entry {i} " + "w" * 9000})


def one_write(world: World, client: TestClient, i: int) -> bool:
    """One write: either acknowledged and stored, or refused (503) with nothing stored."""
    before = counts(world)
    res = write(client, i)
    if res.status_code in (200, 201):
        grown = counts(world)
        table = "administrations" if i % 2 == 0 else "journal_entries"
        assert grown[table] == before[table] + 1, "an acknowledged write is missing"
        return True
    assert_storage_unavailable(res)
    assert counts(world) == before, "a refused write stored something"
    return False


def writes_until_refused(world: World, client: TestClient) -> tuple[int, dict[str, int]]:
    """Write until refused, then a few more (each stored whole or not at all)."""
    accepted = refused = 0
    for i in range(400):
        if one_write(world, client, i):
            accepted += 1
        else:
            refused += 1
        if refused >= 3:
            return accepted, counts(world)
    raise AssertionError("the full volume did not refuse writes")


def check_full_then_recovered(world: World, client: TestClient, free: Any) -> None:
    accepted, at_full = writes_until_refused(world, client)
    for path in PLAIN_READS:
        assert client.get(path).status_code == 200, path
    # minutes later the session's idle clock is due a refresh, which cannot be written:
    # the read still works (the refresh is skipped, never the request)
    state = client.app.state.twostep  # type: ignore[attr-defined]
    real_clock = state.clock
    object.__setattr__(state, "clock", lambda: real_clock() + timedelta(minutes=3))
    try:
        for path in PLAIN_READS:
            assert client.get(path).status_code == 200, path
    finally:
        object.__setattr__(state, "clock", real_clock)
    for path in CLINICAL_READS:
        res = client.get(path)
        # fail closed (AU-04) if not even the audit row fits; never content without its audit row
        assert res.status_code in (200, 503), (path, res.text)
        if res.status_code == 503:
            assert_storage_unavailable(res)
            assert "entry " not in res.text
    free()
    # the same running app, no restart, no repair
    assert write(client, 0).status_code == 201
    assert write(client, 1).status_code == 201
    after = counts(world)
    assert after["administrations"] + after["journal_entries"] == (
        at_full["administrations"] + at_full["journal_entries"] + 2
    )
    journal = client.get("/api/v1/me/journal")
    assert journal.status_code == 200
    checkins = after["administrations"]
    assert len(journal.json()) + checkins >= accepted + 2  # every 2xx is there


def integrity_ok(world: World) -> None:
    with world.factory.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"


def test_sqlite_on_a_full_volume(tmp_path: Path, record_property: Any) -> None:
    with small_volume("3m") as volume:
        if volume is not None:
            record_property("volume", "tmpfs")
            url = f"sqlite:///{volume / 'records.db'}"
            upgrade(url)
            with open_world(url, tmp_path) as world:
                client = sign_in(world)
                write(client, 1)
                filler = fill(volume)
                check_full_then_recovered(world, client, filler.unlink)
                integrity_ok(world)
            return
    # fallback: SQLite's own page limit raises the same SQLITE_FULL
    record_property("volume", "max_page_count")
    url = f"sqlite:///{tmp_path / 'records.db'}"
    upgrade(url)
    limit = PageLimit()
    event.listen(Pool, "checkout", limit)
    try:
        with open_world(url, tmp_path) as world:
            client = sign_in(world)
            write(client, 1)
            with world.factory.engine.connect() as conn:
                limit.pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
            check_full_then_recovered(world, client, lambda: setattr(limit, "pages", None))
            integrity_ok(world)
    finally:
        event.remove(Pool, "checkout", limit)


@dataclass(eq=False)  # a listener: hashable by identity
class ReadOnly:
    """Every connection the pool hands out is read-only while ``on`` (the database's own switch:
    SQLite ``PRAGMA query_only``, PostgreSQL ``default_transaction_read_only``)."""

    dialect: str
    on: bool = False

    def __call__(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if self.dialect == "sqlite":
            dbapi_connection.execute(f"PRAGMA query_only = {int(self.on)}")
        else:
            value = "on" if self.on else "off"
            dbapi_connection.execute(f"SET default_transaction_read_only = {value}")
            dbapi_connection.commit()


def test_a_read_only_database(database_url: str, tmp_path: Path) -> None:
    """SQLITE_READONLY / SQLSTATE 25006: writes 503 and store nothing; then they work again."""
    read_only = ReadOnly(sa.make_url(database_url).get_backend_name())
    with open_world(database_url, tmp_path) as world:
        client = sign_in(world)
        assert write(client, 1).status_code == 201
        before = counts(world)
        event.listen(Pool, "checkout", read_only)
        try:
            read_only.on = True
            for i in range(4):
                assert_storage_unavailable(write(client, i))
            for path in PLAIN_READS:
                assert client.get(path).status_code == 200, path
        finally:
            read_only.on = False
        try:
            assert counts(world) == before
            assert write(client, 0).status_code == 201
            assert write(client, 1).status_code == 201
        finally:
            event.remove(Pool, "checkout", read_only)


def _postgres_owner() -> tuple[int, int] | None:
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


@pytest.mark.postgresql
def test_postgresql_on_a_full_tablespace(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if os.environ.get("TWOSTEP_TEST_PG_URL"):
        pytest.skip("an external PostgreSQL server cannot see this machine's tmpfs")
    server = request.getfixturevalue("postgres_server")
    owner = _postgres_owner()
    with small_volume("48m") as volume:
        if volume is None or (os.geteuid() == 0 and owner is None):
            pytest.skip("mounting a tmpfs for a tablespace is not allowed here (needs root)")
        space = volume / "pg"
        space.mkdir()
        if owner is not None and os.geteuid() == 0:
            os.chown(space, *owner)
        tablespace = f"rl10_{os.getpid()}"
        name = f"twostep_rl10_{os.getpid()}"
        server._admin(f"CREATE TABLESPACE {tablespace} LOCATION '{space}'")
        try:
            server._admin(f"CREATE DATABASE {name} TABLESPACE {tablespace}")
            try:
                url = server.url(name)
                upgrade(url)
                with open_world(url, tmp_path) as world:
                    client = sign_in(world)
                    write(client, 1)
                    filler = fill(volume)
                    check_full_then_recovered(world, client, filler.unlink)
            finally:
                server.drop_database(name)
        finally:
            server._admin(f"DROP TABLESPACE IF EXISTS {tablespace}")
