"""Schema migrations (Alembic), run from the installed package: `upgrade`, `current`, `head`.

The migration scripts live in ``twostep/storage/migrations`` and ship in the
wheel; the Alembic configuration is built here, so no ``alembic.ini`` is
needed at run time (stack-notes.md A.2, pitfall 4). `upgrade` runs inside one
transaction (SQLite too: ``BEGIN IMMEDIATE`` makes its DDL transactional and
serialises two upgrades started at once), and refuses a database stamped with
a revision this version of twostep does not know — a newer twostep migrated
it, and an older one must not touch it (reliability-security.md RL-12).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from twostep.errors import StorageError
from twostep.storage.encryption import KeyRing
from twostep.storage.engine import make_engine, normalise_url
from twostep.storage.failures import translated

__all__ = ["MIGRATIONS", "current", "head", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

Target = str | sa.URL | sa.Engine


def alembic_config(
    connection: sa.Connection | None = None, keyring: KeyRing | None = None
) -> Config:
    """An Alembic `Config` for the shipped migrations (optionally bound to ``connection``).

    ``keyring``: for migrations that encrypt stored values (``config.attributes["keyring"]``).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    if keyring is not None:
        config.attributes["keyring"] = keyring
    return config


def head() -> str:
    """The newest revision this version of twostep knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package always ships revisions
        raise StorageError("no migrations found in the package")
    return revision


@contextmanager
def _engine(target: Target) -> Iterator[sa.Engine]:
    if isinstance(target, sa.Engine):
        yield target
        return
    engine = make_engine(target)
    try:
        yield engine
    finally:
        engine.dispose()


def _stamped(conn: sa.Connection) -> str | None:
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None:
        return None
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        raise StorageError(
            f"the database is at schema revision {revision!r}, which this version of twostep "
            f"does not know (it knows up to {head()!r}); it was probably migrated by a newer "
            "twostep — upgrade twostep instead of the database"
        ) from None
    return revision


def _missing_sqlite_file(target: Target) -> bool:
    if isinstance(target, sa.Engine):
        return False
    url = normalise_url(target)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    return not Path(url.database).expanduser().exists()


def current(target: Target) -> str | None:
    """The schema revision of the database (None for a database never migrated).

    Looking never creates anything: a SQLite file that does not exist is "never migrated".
    """
    if _missing_sqlite_file(target):
        return None
    with _engine(target) as engine, translated(), engine.connect() as conn:
        return _stamped(conn)


def upgrade(
    target: Target, revision: str = "head", *, keyring: KeyRing | None = None
) -> str | None:
    """Migrate the database to ``revision`` (default: the newest); returns the new revision.

    ``keyring`` is needed only where a migration encrypts values already stored
    (0007: journal emotions and appointment focus tags); without it such a
    migration stops, changing nothing, with a `StorageError` that says so. An
    empty database needs none.
    """
    with _engine(target) as engine, translated():
        with engine.begin() as conn:
            _stamped(conn)
            try:
                command.upgrade(alembic_config(conn, keyring), revision)
            except CommandError as exc:
                raise StorageError(f"migration failed: {exc}") from None
        with engine.connect() as conn:
            return _stamped(conn)
