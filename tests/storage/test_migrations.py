"""The shipped migrations create exactly the schema of `metadata`, with the triggers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from twostep.cli.main import app
from twostep.domain.ports import AuditEvent
from twostep.errors import ConflictError, StorageError
from twostep.storage import current, head, make_engine, upgrade
from twostep.storage import tables as t
from twostep.storage.audit import append_events
from twostep.storage.failures import translated
from twostep.storage.migrate import MIGRATIONS


def test_upgrade_creates_the_schema_of_metadata(empty_database_url: str) -> None:
    assert current(empty_database_url) is None
    assert upgrade(empty_database_url) == head()
    assert current(empty_database_url) == head()
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), t.metadata
            )
            assert diff == []
            tables = set(sa.inspect(conn).get_table_names())
        assert tables == set(t.metadata.tables) | {"alembic_version"}
        # the triggers came with the migration
        assert _triggers(engine) == {
            "administrations_no_update",
            "alerts_same_client",
            *(
                ("audit_log_no_update", "audit_log_no_delete", "alerts_same_client_update")
                if engine.dialect.name == "sqlite"
                else ("audit_log_no_change", "audit_log_no_truncate", "administrations_same_client")
            ),
        }
        with engine.begin() as conn:
            append_events(conn, [AuditEvent("u", "admin", "read", "user", "x", None)])
        with pytest.raises(ConflictError), translated(), engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_log")
    finally:
        engine.dispose()
    assert upgrade(empty_database_url) == head()  # a second run changes nothing


def _triggers(engine: sa.Engine) -> set[str]:
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        if engine.dialect.name == "sqlite"
        else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    )
    with engine.connect() as conn:
        return set(conn.exec_driver_sql(sql).scalars())


def test_downgrade_removes_everything(empty_database_url: str) -> None:
    from alembic import command

    from twostep.storage.migrate import alembic_config

    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_an_unknown_newer_revision_is_refused(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'from_the_future'")
    try:
        with pytest.raises(StorageError, match="from_the_future"):
            upgrade(engine)
        with pytest.raises(StorageError, match="newer twostep"):
            current(engine)
    finally:
        engine.dispose()


def test_the_migration_scripts_are_package_data() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert list((MIGRATIONS / "versions").glob("0001_*.py"))
    # inside the package folder, which the wheel includes whole
    assert MIGRATIONS.is_relative_to(Path(__import__("twostep").__file__).parent)


def test_cli_db_upgrade_and_current(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    res = runner.invoke(app, ["db", "current", "--url", url])
    assert res.exit_code == 0, res.output
    assert "none" in res.output
    assert not (tmp_path / "cli.db").exists()  # looking creates nothing
    res = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert res.exit_code == 0, res.output
    assert "migrated" in res.output
    res = runner.invoke(app, ["db", "current", "--url", url])
    assert res.exit_code == 0
    assert f"{head()} (the newest)" in res.output
    res = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert res.exit_code == 0
    assert "is at the newest" in res.output


def test_cli_refuses_a_newer_database_with_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    res = CliRunner().invoke(app, ["db", "upgrade", "--url", url])
    assert res.exit_code == 2
    assert "9999" in res.output
    assert "Traceback" not in res.output


def test_cli_uses_the_configured_url_and_hides_passwords(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TWOSTEP_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}",
        "COLUMNS": "200",
    }
    twostep = Path(sys.executable).with_name("twostep")
    res = subprocess.run(
        [str(twostep), "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "env.db").exists()
    res = subprocess.run(
        [str(twostep), "db", "current", "--url", "postgresql://me:s3cret@127.0.0.1:1/none"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 2
    assert "s3cret" not in res.stdout + res.stderr


def test_same_client_triggers_refuse_cross_client_links(engine: sa.Engine) -> None:
    """A correction or an alert can never point at another client's administration."""
    import datetime as dt

    from twostep.domain.records import Administration, Alert, AlertKind, Clinic, Role, User, new_id
    from twostep.errors import ConflictError as Conflict
    from twostep.errors import ValidationError
    from twostep.storage.unit_of_work import SqlUnitOfWork

    now = dt.datetime(2025, 1, 6, 12, tzinfo=dt.UTC)
    clinic = Clinic(new_id(), "c", "crisis", "delay", created_at=now)
    a, b = (
        User(new_id(), clinic.id, f"{x}@example.org", x, frozenset({Role.CLIENT}), True, now)
        for x in "ab"
    )
    first = Administration(
        new_id(), clinic.id, a.id, None, "phq9", {}, 10.0, {}, "moderate", True, False, 0,
        True, False, now, now,
    )  # fmt: skip
    with SqlUnitOfWork(engine) as uow:
        uow.clinics.add(clinic)
        uow.users.add(a)
        uow.users.add(b)
        uow.administrations.add(first)
        uow.commit()
    with SqlUnitOfWork(engine) as uow, pytest.raises((Conflict, ValidationError)):
        uow.alerts.add(
            Alert(
                new_id(), clinic.id, b.id, AlertKind.RISK, "r", {}, now, administration_id=first.id
            )
        )
    other = Administration(
        new_id(), clinic.id, b.id, None, "phq9", {}, 11.0, {}, "moderate", True, False, 0,
        True, False, now, now, version=2, supersedes_id=first.id,
    )  # fmt: skip
    # the repository refuses it on both backends ...
    with SqlUnitOfWork(engine) as uow, pytest.raises(Conflict):
        uow.administrations.add(other)
    if engine.dialect.name != "postgresql":
        return  # SQLite has no trigger for it (see storage.triggers)
    # ... and PostgreSQL itself too, when the repository is bypassed
    from twostep.storage import mapping as m
    from twostep.storage import tables as tb

    with SqlUnitOfWork(engine) as uow, pytest.raises((Conflict, ValidationError)):
        uow.write(sa.insert(tb.administrations).values(m.ADMINISTRATION.to_row(other)))
