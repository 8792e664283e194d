"""`twostep keys rotate`: every encrypted value moves to the active key; old keys can retire."""

from __future__ import annotations

import base64
import os

import pytest
import sqlalchemy as sa

from twostep.errors import StorageError
from twostep.services.journal import (
    add_journal_entry,
    add_reflection,
    add_session_topic,
    add_supporter,
    add_thought_record,
    list_journal,
)
from twostep.storage import KeyRing, SqlUnitOfWorkFactory
from twostep.storage.encryption import encrypted_columns
from twostep.storage.tables import metadata

from .conftest import NOW, engine_for, make_clinic, run_cli

K1 = os.urandom(32)
K2 = os.urandom(32)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _key_ids(url: str) -> dict[str, set[str]]:
    """table -> ids of the keys its stored values are sealed with (read from the raw bytes)."""
    engine = engine_for(url, KeyRing([("k1", K1), ("k2", K2)]))
    ring = KeyRing([("k1", K1), ("k2", K2)])
    out: dict[str, set[str]] = {}
    try:
        with engine.connect() as conn:
            for table, cols in encrypted_columns(metadata):
                for col in cols:
                    raw = sa.type_coerce(col, sa.LargeBinary)
                    for (blob,) in conn.execute(sa.select(raw).where(col.is_not(None))):
                        assert bytes(blob)[2 : 2 + blob[1]].decode() == ring.key_id_of(blob)
                        out.setdefault(table.name, set()).add(ring.key_id_of(blob))
    finally:
        engine.dispose()
    return out


def _write(url: str) -> str:
    engine = engine_for(url, KeyRing([("k1", K1)]))
    try:
        c = make_clinic(engine)
        f = SqlUnitOfWorkFactory(engine)
        for i in range(5):
            add_journal_entry(f, c.client, c.client_id, text=f"journal {i}", now=NOW)
        add_reflection(f, c.client, c.client_id, what_happened="argument", now=NOW)
        add_thought_record(
            f, c.client, c.client_id, situation="bus", automatic_thought="faint",
            emotion="fear", intensity=70, now=NOW,
        )  # fmt: skip
        add_session_topic(f, c.client, c.client_id, "sleep", now=NOW)
        add_supporter(f, c.client, c.client_id, name="Maria", relation="sister", now=NOW)
    finally:
        engine.dispose()
    return c.client_id


def _read_journal(url: str, ring: KeyRing, client_id: str) -> list[str]:
    engine = engine_for(url, ring)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            return sorted(e.text for e in uow.journal.for_client(client_id))
    finally:
        engine.dispose()


def test_rotation_moves_everything_to_the_new_key(migrated_url: str) -> None:
    client_id = _write(migrated_url)
    assert set().union(*_key_ids(migrated_url).values()) == {"k1"}

    keys = f"k2:{_b64(K2)},k1:{_b64(K1)}"
    res = run_cli(["keys", "rotate", "--url", migrated_url], keys=keys)
    assert res.exit_code == 0, res.output
    assert "with key 'k2'" in res.output
    assert "journal_entries: 10 re-encrypted, 10 values" in res.output  # text and emotions
    assert "setback_reflections: 4 re-encrypted, 4 values" in res.output  # 4 columns
    assert "may be removed from TWOSTEP_ENCRYPTION_KEYS" in res.output
    held = _key_ids(migrated_url)
    assert set(held) >= {"journal_entries", "thought_records", "session_topics", "supporters"}
    assert all(ids == {"k2"} for ids in held.values()), held

    # idempotent: nothing left to do
    again = run_cli(["keys", "rotate", "--url", migrated_url], keys=keys)
    assert again.exit_code == 0, again.output
    assert "re-encrypted 0 values" in again.output
    assert "journal_entries: 0 re-encrypted, 10 values" in again.output

    # k2 alone reads everything; k1 alone reads nothing any more
    texts = _read_journal(migrated_url, KeyRing([("k2", K2)]), client_id)
    assert texts == [f"journal {i}" for i in range(5)]
    with pytest.raises(StorageError, match="k2"):
        _read_journal(migrated_url, KeyRing([("k1", K1)]), client_id)

    # the app reads it too, through the services, with only the new key
    engine = engine_for(migrated_url, KeyRing([("k2", K2)]))
    try:
        f = SqlUnitOfWorkFactory(engine)
        with f() as uow:
            client = uow.users.get(client_id)
        assert client is not None
        from twostep.services.access import Actor

        me = Actor(client.id, client.clinic_id, client.roles)
        assert len(list_journal(f, me, client_id)) == 5
    finally:
        engine.dispose()

    # the rotation is on the audit trail
    verify = run_cli(["audit", "verify", "--url", migrated_url], keys=f"k2:{_b64(K2)}")
    assert verify.exit_code == 0, verify.output


def test_a_missing_old_key_stops_the_rotation_before_anything_changes(migrated_url: str) -> None:
    _write(migrated_url)
    res = run_cli(["keys", "rotate", "--url", migrated_url], keys=f"k2:{_b64(K2)}")
    assert res.exit_code == 2
    assert "k1" in res.output
    assert "cannot be read" in res.output
    assert set().union(*_key_ids(migrated_url).values()) == {"k1"}


def test_rotation_without_configured_keys_is_refused(migrated_url: str) -> None:
    res = run_cli(["keys", "rotate", "--url", migrated_url], keys="")
    assert res.exit_code == 2
    assert "TWOSTEP_ENCRYPTION_KEYS is not set" in res.output


def test_key_material_is_never_printed(migrated_url: str) -> None:
    _write(migrated_url)
    res = run_cli(["keys", "rotate", "--url", migrated_url], keys=f"k2:{_b64(K2)},k1:{_b64(K1)}")
    assert res.exit_code == 0
    assert _b64(K1) not in res.output
    assert _b64(K2) not in res.output
