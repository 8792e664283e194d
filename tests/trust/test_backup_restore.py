"""`twostep backup` / `twostep restore` (reliability-security.md RL-11).

The backup is taken while another thread keeps submitting check-ins through the
check-in service. The restored database must be one consistent moment of the
source: its check-ins are exactly the first N that were acknowledged (no gap,
no half-stored submission), each with its one audit event, the audit chain is
intact, and the encrypted journal text reads back with the keys.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from twostep.services.checkin import record_checkin
from twostep.services.journal import add_journal_entry, list_journal
from twostep.storage import SqlUnitOfWorkFactory, upgrade
from twostep.storage.backup import find_pg_tool
from twostep.storage.tables import metadata

from .conftest import NOW, Clinic, engine_for, make_clinic, run_cli

MARKER = "CANARY-backup-journal-51c0"
ANSWERS = {f"item_{i}": (i % 3) for i in range(1, 9)} | {"item_9": 0}


@pytest.fixture
def restore_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second database to restore into: a new SQLite file, or a new empty PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'records.db'}"
        return
    if find_pg_tool("pg_dump") is None or find_pg_tool("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed")
    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


def _counts(url: str) -> dict[str, int]:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def _administration_ids(url: str) -> set[str]:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            ids = conn.exec_driver_sql("SELECT id FROM administrations").scalars().all()
            audited = conn.exec_driver_sql(
                "SELECT object_id FROM audit_log WHERE object_type = 'administration' "
                "AND action = 'create' AND outcome = 'ok'"
            ).scalars()
            assert sorted(ids) == sorted(audited), "every stored check-in has its one audit row"
            return set(ids)
    finally:
        engine.dispose()


def _seed(url: str) -> Clinic:
    engine = engine_for(url)
    try:
        c = make_clinic(engine)
        f = SqlUnitOfWorkFactory(engine)
        add_journal_entry(f, c.client, c.client_id, mood=3, text=f"note {MARKER}", now=NOW)
    finally:
        engine.dispose()
    return c


def test_backup_while_writing_restores_one_consistent_moment(
    migrated_url: str, restore_url: str, tmp_path: Path
) -> None:
    clinic = _seed(migrated_url)
    engine = engine_for(migrated_url)
    factory = SqlUnitOfWorkFactory(engine)
    acknowledged: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set() or i < 10:
                who = clinic.client if i % 2 else clinic.other
                when = NOW - timedelta(days=30) + timedelta(minutes=i)
                res = record_checkin(factory, who, who.user_id, "phq9", ANSWERS, when, now=NOW)
                acknowledged.append(res.administration.id)
                i += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(acknowledged) < 5 and thread.is_alive():
            time.sleep(0.01)
        out = tmp_path / "backups" / "twostep.backup"
        res = run_cli(["backup", "--out", str(out), "--url", migrated_url])
        during = len(acknowledged)
        time.sleep(0.2)  # keep writing after the backup
    finally:
        stop.set()
        thread.join()
        engine.dispose()
    assert errors == []
    assert res.exit_code == 0, res.output
    assert len(acknowledged) > during >= 5
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not list(out.parent.glob(".*.tmp*")), "no temporary file left behind"

    restored = run_cli(["restore", str(out), "--url", restore_url])
    assert restored.exit_code == 0, restored.output
    assert "audit chain intact" in restored.output

    ids = _administration_ids(restore_url)
    # a prefix of what was acknowledged, in order: nothing from after the snapshot leaks in,
    # nothing from before it is missing
    assert ids == set(acknowledged[: len(ids)])
    assert 5 <= len(ids) <= len(acknowledged)

    verify = run_cli(["audit", "verify", "--url", restore_url])
    assert verify.exit_code == 0, verify.output

    engine = engine_for(restore_url)
    try:
        f = SqlUnitOfWorkFactory(engine)
        texts = [e.text for e in list_journal(f, clinic.client, clinic.client_id)]
    finally:
        engine.dispose()
    assert texts == [f"note {MARKER}"]


def test_a_quiet_database_restores_with_every_row(
    migrated_url: str, restore_url: str, tmp_path: Path
) -> None:
    clinic = _seed(migrated_url)
    engine = engine_for(migrated_url)
    try:
        f = SqlUnitOfWorkFactory(engine)
        for i in range(3):
            record_checkin(
                f, clinic.client, clinic.client_id, "phq9", ANSWERS,
                NOW - timedelta(days=10 - i), now=NOW,
            )  # fmt: skip
    finally:
        engine.dispose()
    before = _counts(migrated_url)
    out = tmp_path / "quiet.backup"
    assert run_cli(["backup", "-o", str(out), "--url", migrated_url]).exit_code == 0
    res = run_cli(["restore", str(out), "--url", restore_url])
    assert res.exit_code == 0, res.output
    after = _counts(restore_url)
    # the restore itself is on the audit trail of the restored database
    assert after == before | {"audit_log": before["audit_log"] + 1}
    assert before["administrations"] == 3


def test_restore_refuses_a_database_that_is_not_empty(
    migrated_url: str, restore_url: str, tmp_path: Path
) -> None:
    _seed(migrated_url)
    out = tmp_path / "b.backup"
    assert run_cli(["backup", "--out", str(out), "--url", migrated_url]).exit_code == 0
    # into the source itself: refused, nothing changed
    before = _counts(migrated_url)
    res = run_cli(["restore", str(out), "--url", migrated_url])
    assert res.exit_code == 2
    assert "not empty" in res.output
    assert _counts(migrated_url) == before
    # into a database that has the schema but no rows: nothing to lose, no --force needed
    upgrade(restore_url)
    assert run_cli(["restore", str(out), "--url", restore_url]).exit_code == 0
    assert run_cli(["audit", "verify", "--url", restore_url]).exit_code == 0
    # into a database with rows: --force needed
    again = run_cli(["restore", str(out), "--url", restore_url])
    assert again.exit_code == 2
    forced = run_cli(["restore", str(out), "--url", restore_url, "--force"])
    assert forced.exit_code == 0, forced.output
    assert run_cli(["audit", "verify", "--url", restore_url]).exit_code == 0


def test_backup_never_replaces_a_file_without_force(migrated_url: str, tmp_path: Path) -> None:
    out = tmp_path / "exists.backup"
    out.write_bytes(b"keep me")
    res = run_cli(["backup", "--out", str(out), "--url", migrated_url])
    assert res.exit_code == 2
    assert "exists" in res.output
    assert out.read_bytes() == b"keep me"
    forced = run_cli(["backup", "--out", str(out), "--url", migrated_url, "--force"])
    assert forced.exit_code == 0, forced.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_restore_refuses_files_that_are_not_backups(
    migrated_url: str, restore_url: str, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.backup"
    junk.write_bytes(os.urandom(4096))
    res = run_cli(["restore", str(junk), "--url", restore_url])
    assert res.exit_code == 2
    assert "not a SQLite backup" in res.output
    missing = run_cli(["restore", str(tmp_path / "nope"), "--url", restore_url])
    assert missing.exit_code == 2


def test_backup_refuses_a_folder_anyone_may_write_to(migrated_url: str, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    res = run_cli(["backup", "--out", str(shared / "b.backup"), "--url", migrated_url])
    assert res.exit_code == 2
    assert "writable by every user" in res.output
    assert not list(shared.iterdir())


def test_backup_of_a_missing_database_is_an_error(tmp_path: Path) -> None:
    res = run_cli(["backup", "--out", str(tmp_path / "x"), "--url", f"sqlite:///{tmp_path}/no.db"])
    assert res.exit_code == 2
    assert not (tmp_path / "x").exists()
