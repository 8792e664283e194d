"""Free text is ciphertext at rest, tamper-evident, bound to its column, and rotatable."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import sqlalchemy as sa

from twostep.config import Settings, require_production_ready
from twostep.domain import records as r
from twostep.errors import ConfigurationError, StorageError
from twostep.storage import KeyRing, SqlUnitOfWorkFactory, generate_key, make_engine, rotate_keys
from twostep.storage import tables as t
from twostep.storage.encryption import EncryptedJSON, EncryptedText, encrypted_columns

from .conftest import World, at

MARKER = "CANARY-journal-7f3a9c"


def _raw(engine: sa.Engine, table: sa.Table, column: str, row_id: str) -> bytes:
    with engine.connect() as conn:
        stmt = sa.select(sa.type_coerce(table.c[column], sa.LargeBinary)).where(
            table.c.id == row_id
        )
        return bytes(conn.execute(stmt).scalar_one())


def _put_raw(engine: sa.Engine, table: sa.Table, column: str, row_id: str, blob: bytes) -> None:
    with engine.begin() as conn:
        value = sa.type_coerce(blob, sa.LargeBinary)
        conn.execute(sa.update(table).where(table.c.id == row_id).values({column: value}))


def test_marker_is_not_in_the_sqlite_file_or_its_wal(tmp_path: Path, keyring: KeyRing) -> None:
    path = tmp_path / "canary.db"
    engine = make_engine(f"sqlite:///{path}", keyring=keyring)
    t.metadata.create_all(engine)
    uow_factory = SqlUnitOfWorkFactory(engine)
    clinic = r.Clinic(r.new_id(), "c", "", "")
    client = r.User(r.new_id(), clinic.id, "x@example.org", "X", frozenset({r.Role.CLIENT}))
    entry = r.JournalEntry(r.new_id(), client.id, at(), 4, ("sad",), f"today {MARKER} again")
    with uow_factory() as uow:
        uow.clinics.add(clinic)
        uow.users.add(client)
        uow.journal.add(entry)
        uow.commit()
    # the WAL still holds the last transaction (no checkpoint yet): look at both files
    wal = path.with_name(path.name + "-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0
    for file in (path, wal):
        data = file.read_bytes()
        assert MARKER.encode() not in data
        assert MARKER.encode("utf-16-le") not in data
    assert b"x@example.org" in path.read_bytes() + wal.read_bytes()  # the grep does work
    with uow_factory() as uow:
        back = uow.journal.get(entry.id)
        assert back is not None
        assert MARKER in back.text
    engine.dispose()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_tampered_ciphertext_is_an_error_not_garbage(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    entry = r.JournalEntry(r.new_id(), world.client_id, at(), 4, (), "private words")
    with uow_factory() as uow:
        uow.journal.add(entry)
        uow.commit()
    blob = bytearray(_raw(engine, t.journal_entries, "text", entry.id))
    assert b"private words" not in blob
    blob[-20] ^= 0x01
    _put_raw(engine, t.journal_entries, "text", entry.id, bytes(blob))
    with uow_factory() as uow, pytest.raises(StorageError, match=r"journal_entries\.text"):
        uow.journal.get(entry.id)
    with uow_factory() as uow, pytest.raises(StorageError):
        uow.journal.for_client(world.client_id)


def test_a_value_moved_to_another_column_fails_authentication(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    note = r.SelfCareEntry(
        r.new_id(), world.client_id, at().date(), r.SelfCareActivity.HOBBY, 1, 1, "my note"
    )
    entry = r.JournalEntry(r.new_id(), world.client_id, at(), 4, (), "journal text")
    with uow_factory() as uow:
        uow.self_care.add(note)
        uow.journal.add(entry)
        uow.commit()
    moved = _raw(engine, t.self_care_entries, "note", note.id)
    _put_raw(engine, t.journal_entries, "text", entry.id, moved)
    with uow_factory() as uow, pytest.raises(StorageError, match="failed authentication"):
        uow.journal.get(entry.id)


def test_every_free_text_column_is_encrypted() -> None:
    found = {
        f"{table.name}.{c.name}" for table, cols in encrypted_columns(t.metadata) for c in cols
    }
    expected = {
        "journal_entries.text",
        "journal_entries.emotions",
        "appointments.focus_tags",
        "setback_reflections.what_happened",
        "setback_reflections.what_i_noticed",
        "setback_reflections.what_helped",
        "setback_reflections.what_i_learned",
        "stressors.description",
        "self_care_entries.note",
        "skill_practices.note",
        "thought_records.situation",
        "thought_records.automatic_thought",
        "thought_records.emotion",
        "thought_records.evidence_for",
        "thought_records.evidence_against",
        "thought_records.balanced_thought",
        "supporters.name",
        "supporters.relation",
        "goals.specific_description",
        "goals.measurable_indicator",
        "goals.relevant_to",
        "goals.levels",
        "goal_steps.text",
        "goal_reviews.notes",
        "session_topics.text",
        "alerts.action_taken",
        "episodes.end_reason",
        "idempotency_keys.response",
        "checkin_drafts.answers",
        "user_mfa.secret",
    }
    assert found == expected
    # the associated data names the column the value lives in
    for table, cols in encrypted_columns(t.metadata):
        for c in cols:
            assert isinstance(c.type, EncryptedText | EncryptedJSON)
            assert c.type.context == f"{table.name}.{c.name}"


def test_key_rotation_re_encrypts_everything_with_the_new_active_key(
    database_url: str, world: World, keyring: KeyRing
) -> None:
    old_engine = make_engine(database_url, keyring=keyring)
    with SqlUnitOfWorkFactory(old_engine)() as uow:
        for i in range(7):
            uow.journal.add(r.JournalEntry(r.new_id(), world.client_id, at(i), i, (), f"text {i}"))
        uow.commit()
    old_engine.dispose()

    new_key = base64.b64decode(generate_key())
    settings = Settings(
        encryption_keys=f"new:{base64.b64encode(new_key).decode()},test-a:"
        + base64.b64encode(bytes(range(32))).decode()
    )
    ring = KeyRing.from_settings(settings)
    assert ring.active_id == "new"
    engine = make_engine(database_url, keyring=ring)
    try:
        n = rotate_keys(engine, ring, batch_size=3)
        assert n >= 7 + 5  # the journal texts, plus the goal and supporter of the world
        assert rotate_keys(engine, ring) == 0  # idempotent
        with engine.connect() as conn:
            blobs = conn.execute(
                sa.select(sa.type_coerce(t.journal_entries.c.text, sa.LargeBinary))
            ).scalars()
            assert {ring.key_id_of(b) for b in blobs} == {"new"}
        # readable with the new key alone: the old one can be retired
        only_new = KeyRing([("new", new_key)])
        engine2 = make_engine(database_url, keyring=only_new)
        with SqlUnitOfWorkFactory(engine2)() as uow:
            texts = [e.text for e in uow.journal.for_client(world.client_id)]
        engine2.dispose()
        assert texts == [f"text {i}" for i in range(7)]
    finally:
        engine.dispose()


def test_unknown_key_id_is_named(database_url: str, world: World, keyring: KeyRing) -> None:
    engine = make_engine(database_url, keyring=KeyRing([("other", bytes(32))]))
    try:
        with SqlUnitOfWorkFactory(engine)() as uow, pytest.raises(StorageError, match="test-a"):
            uow.goals.get(world.goal_id)
    finally:
        engine.dispose()


def test_engine_without_a_key_ring_refuses_encrypted_columns(
    database_url: str, world: World
) -> None:
    engine = make_engine(database_url)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow, pytest.raises(StorageError, match="key ring"):
            uow.supporters.get(world.supporter_id)
    finally:
        engine.dispose()


def test_key_ring_format_and_errors() -> None:
    ring = KeyRing([("a", bytes(32)), ("b", bytes(range(32)))])
    sealed = ring.encrypt("hé".encode(), "t.c")
    assert sealed[0] == 1
    assert sealed[1] == 1
    assert sealed[2:3] == b"a"
    assert len(sealed) == 2 + 1 + 12 + len("hé".encode()) + 16
    assert ring.decrypt(sealed, "t.c") == "hé".encode()
    assert ring.encrypt(b"x", "t.c") != ring.encrypt(b"x", "t.c")  # random nonce
    with pytest.raises(StorageError, match="another column"):
        ring.decrypt(sealed, "t.other")
    with pytest.raises(StorageError, match="truncated"):
        ring.decrypt(sealed[:10], "t.c")
    with pytest.raises(StorageError, match="known format"):
        ring.decrypt(b"\x02" + sealed[1:], "t.c")
    assert repr(ring) == "KeyRing(active='a', keys=['a', 'b'])"  # no key material
    with pytest.raises(ConfigurationError):
        KeyRing([])
    with pytest.raises(ConfigurationError):
        KeyRing([("a", bytes(16))])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("k1", "key_id:base64key"),
        ("k1:not base64!", "base64"),
        ("k1:" + base64.b64encode(bytes(16)).decode(), "32 bytes"),
        ("k1:{k},k1:{k}".format(k=base64.b64encode(bytes(32)).decode()), "twice"),
    ],
)
def test_bad_key_settings_are_named_without_the_key(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        KeyRing.from_settings(Settings(encryption_keys=value))
    assert "AAAA" not in str(info.value)


def test_production_refuses_the_development_key() -> None:
    with pytest.raises(ConfigurationError, match="TWOSTEP_ENCRYPTION_KEYS"):
        require_production_ready(Settings(environment="production"))
    with pytest.raises(ConfigurationError):
        KeyRing.from_settings(Settings(environment="production"))
    dev = base64.b64encode(bytes(32)).decode()
    with pytest.raises(ConfigurationError, match="development key"):
        require_production_ready(Settings(environment="production", encryption_keys=f"dev:{dev}"))
    good = Settings(environment="production", encryption_keys=f"k1:{generate_key()}")
    require_production_ready(good)
    assert KeyRing.from_settings(good).active_id == "k1"
    require_production_ready(Settings(environment="development"))
    assert KeyRing.from_settings(Settings(environment="test")).active_id == "dev"


def test_settings_do_not_print_the_keys() -> None:
    key = generate_key()
    settings = Settings(encryption_keys=f"k1:{key}")
    assert key not in repr(settings)
    assert key not in str(settings.model_dump())
