"""Fixtures shared by every test folder: databases on SQLite and PostgreSQL.

``engine`` is parametrised over ``sqlite`` (a file in ``tmp_path``) and
``postgresql``; each test gets a fresh, empty schema. For PostgreSQL the
server is ``TWOSTEP_TEST_PG_URL`` when set (the user must be allowed to
create databases), otherwise a throwaway cluster this test session starts
itself on 127.0.0.1 (stack-notes.md A.6): ``initdb`` as the ``postgres`` user
when running as root, ``fsync=off`` for speed, the socket in its own temporary
folder, stopped and removed at the end of the session. With xdist, every
worker starts its own. Only when no PostgreSQL binaries exist at all is the
``postgresql`` parameter skipped, with the reason; a cluster that fails to
start fails the tests.

Each PostgreSQL test database is a copy of a template that already holds the
schema (``CREATE DATABASE ... TEMPLATE``), which takes milliseconds.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from twostep.storage.encryption import KeyRing

PG_URL_ENV = "TWOSTEP_TEST_PG_URL"

#: The key ring of the test databases (two keys, so rotation can be tested).
TEST_KEYRING = KeyRing([("test-a", bytes(range(32))), ("test-b", bytes(range(32, 64)))])


def find_pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian layout), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()],
    )
    for folder in reversed(found):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A PostgreSQL server the tests may create and drop databases on."""

    base_url: str  # postgresql+psycopg://user@host:port (no database)
    maintenance_db: str = "postgres"
    _counter: Iterator[int] = field(default_factory=itertools.count)
    _template: str | None = None
    _shared: str | None = None

    def url(self, database: str) -> str:
        return f"{self.base_url}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        dsn = self.url(self.maintenance_db).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, *, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``); returns its name."""
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = f"twostep_t_{worker}_{os.getpid()}_{next(self._counter)}"
        suffix = f" TEMPLATE {template}" if template else ""
        self._admin(f"CREATE DATABASE {name}{suffix}")
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def template(self) -> str:
        """A database holding twostep's schema (created once per session), to copy per test."""
        if self._template is None:
            from twostep.storage import make_engine
            from twostep.storage.tables import metadata

            name = self.create_database()
            engine = make_engine(self.url(name))
            try:
                metadata.create_all(engine)
            finally:
                engine.dispose()
            self._template = name
        return self._template

    def shared(self) -> str:
        """A database with twostep's schema, reused by test after test and emptied before each."""
        if self._shared is None:
            self._shared = self.create_database(template=self.template())
        self.empty(self._shared)
        return self._shared

    def close(self) -> None:
        """Drop the databases this session made for sharing (on a server that outlives it)."""
        for name in (self._shared, self._template):
            if name is not None:
                self.drop_database(name)
        self._shared = self._template = None

    def empty(self, name: str) -> None:
        """Delete every row of every table (triggers off, so the audit log goes too)."""
        import psycopg

        from twostep.storage.tables import metadata

        dsn = self.url(name).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in reversed(metadata.sorted_tables):
                conn.execute(f"DELETE FROM {table.name}")  # type: ignore[arg-type]


class _Cluster:
    """A throwaway cluster in a temporary folder, owned by ``postgres`` when we are root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="twostep-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        self._run(
            "initdb", "-D", str(self.data), "-U", "twostep", "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = self.root / "server.log"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"
        )
        return PostgresServer(f"postgresql+psycopg://twostep@127.0.0.1:{self.port}")

    def log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no server log)"

    def stop(self) -> None:
        try:
            if self.data.exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this session (or worker); skips only without PostgreSQL."""
    url = os.environ.get(PG_URL_ENV)
    if url:
        base, _, database = url.replace("postgresql://", "postgresql+psycopg://").rpartition("/")
        external = PostgresServer(base, maintenance_db=database or "postgres")
        try:
            yield external
        finally:
            external.close()
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        reason = f"PostgreSQL is not installed (no initdb) and {PG_URL_ENV} is not set"
        if os.environ.get("TWOSTEP_REQUIRE_POSTGRES"):  # CI: a missing server is a failure
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = _Cluster(bin_dir)
    try:
        server = cluster.start()
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        log = cluster.log_tail()
        cluster.stop()
        pytest.fail(f"could not start a throwaway PostgreSQL: {exc}\n{detail}\n{log}")
    try:
        yield server
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of an empty database kept for the whole session (or xdist worker)."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: the database a test runs on."""
    return str(request.param)


@pytest.fixture
def empty_database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The URL of a new, empty database (no tables) on the test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'twostep.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty database holding twostep's schema, on the test's backend.

    On PostgreSQL the database is shared by the tests of one worker and emptied
    before each (milliseconds, where a new database takes a third of a second);
    tests that alter the schema itself (drop a table or trigger) are marked
    ``fresh_database`` and get a copy of their own.
    """
    if backend == "sqlite":
        from twostep.storage import make_engine
        from twostep.storage.tables import metadata

        url = f"sqlite:///{tmp_path / 'twostep.db'}"
        engine = make_engine(url)
        try:
            metadata.create_all(engine)
        finally:
            engine.dispose()
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    if request.node.get_closest_marker("fresh_database") is None:
        yield server.url(server.shared())
        return
    name = server.create_database(template=server.template())
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def keyring() -> KeyRing:
    """The key ring the ``engine`` fixture encrypts with (active key ``test-a``)."""
    return TEST_KEYRING


@pytest.fixture
def engine(database_url: str) -> Iterator[object]:
    """A `sqlalchemy.Engine` on a fresh schema, with the test key ring attached."""
    from twostep.storage import make_engine

    eng = make_engine(database_url, keyring=TEST_KEYRING)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[object]:
    """One headless Chromium per test worker (Debian's, via Playwright; no download).

    Playwright's sync API may run only once per thread, so every browser test
    (tests/e2e and tests/web) shares this one and opens its own contexts.
    Skipped without a Chromium unless ``TWOSTEP_REQUIRE_BROWSER=1``.
    """
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api")
    path = os.environ.get("TWOSTEP_CHROMIUM") or (
        shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if path is None:
        if os.environ.get("TWOSTEP_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (TWOSTEP_REQUIRE_BROWSER=1) but was not found")
        pytest.skip("no Chromium installed (apt install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()
