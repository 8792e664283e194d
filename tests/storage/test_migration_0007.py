"""Migration 0007 seals journal emotions and appointment focus tags already stored.

Written with today's schema, taken back to 0006 (the values in clear JSON, as
0006 stored them), then upgraded again: without the keys nothing changes; with
them every value reads back the same and its words are in no stored byte.
"""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from twostep.cli.main import app
from twostep.domain import records as r
from twostep.errors import StorageError
from twostep.storage import SqlUnitOfWorkFactory, current, head, make_engine, upgrade
from twostep.storage.encryption import KeyRing
from twostep.storage.migrate import alembic_config

from .conftest import at

WORDS = ("hopeful-zq7", "sleep-zq7", "gr\u00fcn \u00e9motion-zq7")


def _seed(url: str, keyring: KeyRing) -> tuple[str, str]:
    engine = make_engine(url, keyring=keyring)
    clinic = r.Clinic(r.new_id(), "Clinic", "", "")
    therapist = r.User(r.new_id(), clinic.id, "t@example.org", "T", frozenset({r.Role.THERAPIST}))
    client = r.User(r.new_id(), clinic.id, "c@example.org", "C", frozenset({r.Role.CLIENT}))
    episode = r.Episode(r.new_id(), clinic.id, client.id, date(2025, 1, 1))
    entry = r.JournalEntry(r.new_id(), client.id, at(1), 4, WORDS[:2], "")
    empty = r.JournalEntry(r.new_id(), client.id, at(2), 6, (), "")
    visit = r.Appointment(
        r.new_id(), clinic.id, episode.id, client.id, therapist.id, at(3),
        r.AppointmentStatus.ATTENDED, (WORDS[2],),
    )  # fmt: skip
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            uow.clinics.add(clinic)
            uow.users.add(therapist)
            uow.users.add(client)
            uow.episodes.add(episode)
            uow.journal.add(entry)
            uow.journal.add(empty)
            uow.appointments.add(visit)
            uow.commit()
    finally:
        engine.dispose()
    return entry.id, visit.id


def _back_to_0006(url: str, keyring: KeyRing) -> None:
    """Downgrade to 0006: the values back in clear JSON, as that revision stored them."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn, keyring), "0006")
    finally:
        engine.dispose()


def _raw(url: str) -> bytes:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            values = [
                *conn.execute(sa.text("SELECT emotions FROM journal_entries")).scalars(),
                *conn.execute(sa.text("SELECT focus_tags FROM appointments")).scalars(),
            ]
    finally:
        engine.dispose()
    return b"".join(v if isinstance(v, bytes | memoryview) else str(v).encode() for v in values)


def _found(data: bytes) -> list[str]:
    """The words readable in ``data``, as UTF-8 or as JSON escapes them."""
    return [w for w in WORDS if w.encode() in data or json.dumps(w)[1:-1].encode() in data]


def test_0007_seals_stored_values_and_needs_the_keys_to_do_so(
    empty_database_url: str, keyring: KeyRing
) -> None:
    url = empty_database_url
    upgrade(url)
    entry_id, visit_id = _seed(url, keyring)
    assert _found(_raw(url)) == []  # today's schema writes them sealed

    _back_to_0006(url, keyring)
    assert current(url) == "0006"
    assert len(_found(_raw(url))) == 3  # 0006 kept them in clear

    with pytest.raises(StorageError, match="TWOSTEP_ENCRYPTION_KEYS"):
        upgrade(url)
    assert current(url) == "0006"  # one transaction: nothing changed
    assert len(_found(_raw(url))) == 3

    assert upgrade(url, keyring=keyring) == head()
    assert _found(_raw(url)) == []
    engine = make_engine(url, keyring=keyring)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            entry = uow.journal.get(entry_id)
            visit = uow.appointments.get(visit_id)
            empties = [e for e in uow.journal.for_client(entry.client_id) if e.id != entry_id]
        assert entry.emotions == WORDS[:2]
        assert visit.focus_tags == (WORDS[2],)
        assert [e.emotions for e in empties] == [()]
    finally:
        engine.dispose()


def test_0007_on_an_empty_database_needs_no_keys(empty_database_url: str) -> None:
    assert upgrade(empty_database_url) == head()


def test_cli_db_upgrade_seals_with_the_configured_keys(tmp_path: Path) -> None:
    key = bytes(range(100, 132))
    ring = KeyRing([("cli-key", key)])
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url)
    entry_id, _ = _seed(url, ring)
    _back_to_0006(url, ring)
    env = {
        "TWOSTEP_ENCRYPTION_KEYS": f"cli-key:{base64.b64encode(key).decode()}",
        "TWOSTEP_ENVIRONMENT": "test",
    }
    res = CliRunner().invoke(app, ["db", "upgrade", "--url", url], env=env)
    assert res.exit_code == 0, res.output
    assert current(url) == head()
    assert _found(_raw(url)) == []
    engine = make_engine(url, keyring=ring)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            assert uow.journal.get(entry_id).emotions == WORDS[:2]
    finally:
        engine.dispose()
