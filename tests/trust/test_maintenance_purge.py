"""``twostep maintenance purge``: every user's expired short-lived rows go, nothing else.

On SQLite and PostgreSQL (a database made by the shipped migrations): expired
idempotency answers of several users (also of a user who never writes again),
dead sessions (expired, signed out, idle too long) and old login attempts
are deleted; fresh ones, live sessions, recent attempts and every other
table are untouched; the counts are printed; the run is one operator event
in the audit trail (whose chain stays intact); a second run deletes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from twostep.storage import tables as t
from twostep.storage.audit import verify_chain

from .conftest import Clinic, engine_for, make_clinic, run_cli


@pytest.fixture
def engine(migrated_url: str) -> Iterator[sa.Engine]:
    engine = engine_for(migrated_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _key(user_id: str, key: str, at: datetime) -> dict[str, object]:
    return {
        "user_id": user_id,
        "key": key,
        "request_hash": "0" * 64,
        "status_code": 201,
        "response": {"id": key},
        "created_at": at,
    }


def _session(sid: str, user_id: str, **times: datetime | None) -> dict[str, object]:
    now = datetime.now(UTC)
    row: dict[str, object] = {
        "id": sid,
        "user_id": user_id,
        "token_hash": sid.ljust(64, "0")[:64],
        "csrf_hash": "c" * 64,
        "created_at": now - timedelta(hours=1),
        "last_seen_at": now - timedelta(minutes=1),
        "expires_at": now + timedelta(hours=11),
        "revoked_at": None,
    }
    row.update(times)
    return row


def seed(engine: sa.Engine, clinic: Clinic) -> None:
    now = datetime.now(UTC)
    old, fresh = now - timedelta(days=8), now - timedelta(days=6)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(t.idempotency_keys),
            [
                _key(clinic.client_id, "expired-1", old),
                _key(clinic.client_id, "expired-2", now - timedelta(days=30)),
                _key(clinic.other_id, "expired-3", old),  # a user who never writes again
                _key(clinic.client_id, "fresh-1", fresh),
                _key(clinic.other_id, "fresh-2", now),
            ],
        )
        conn.execute(
            sa.insert(t.web_sessions),
            [
                _session("expired", clinic.client_id, expires_at=now - timedelta(minutes=5)),
                _session("revoked", clinic.client_id, revoked_at=now - timedelta(hours=2)),
                _session("idle", clinic.other_id, last_seen_at=now - timedelta(hours=3)),
                _session("live-1", clinic.client_id),
                _session("live-2", clinic.admin.user_id),
            ],
        )
        conn.execute(
            sa.insert(t.login_attempts),
            [
                {"key": "acct:aaaa", "at": now - timedelta(hours=2), "success": False},
                {"key": "net:bbbb", "at": now - timedelta(days=3), "success": False},
                {"key": "acct:aaaa", "at": now - timedelta(minutes=2), "success": False},
            ],
        )


def _left(engine: sa.Engine) -> tuple[set[str], set[str], int]:
    with engine.connect() as conn:
        keys = set(conn.execute(sa.select(t.idempotency_keys.c.key)).scalars())
        sessions = set(conn.execute(sa.select(t.web_sessions.c.id)).scalars())
        attempts = conn.execute(sa.select(sa.func.count()).select_from(t.login_attempts))
        return keys, sessions, int(attempts.scalar_one())


def _other_tables(engine: sa.Engine) -> dict[str, int]:
    skip = {"idempotency_keys", "web_sessions", "login_attempts", "audit_log"}
    with engine.connect() as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for name, table in t.metadata.tables.items()
            if name not in skip
        }


def _count(output: str, table: str) -> int:
    found = re.search(rf"{table}: ([0-9,]+)", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def test_purge_deletes_every_users_expired_rows_and_nothing_else(
    engine: sa.Engine, migrated_url: str
) -> None:
    clinic = make_clinic(engine)
    seed(engine, clinic)
    others = _other_tables(engine)
    with engine.connect() as conn:
        audit_before = int(conn.execute(sa.select(sa.func.count(t.audit_log.c.id))).scalar_one())

    res = run_cli(["maintenance", "purge", "--url", migrated_url])

    assert res.exit_code == 0, res.output
    out = res.output
    assert (_count(out, "idempotency_keys"), _count(out, "web_sessions")) == (3, 3)
    assert _count(out, "login_attempts") == 2
    assert "purged 8 expired rows" in out
    keys, sessions, attempts = _left(engine)
    assert keys == {"fresh-1", "fresh-2"}
    assert sessions == {"live-1", "live-2"}
    assert attempts == 1
    assert _other_tables(engine) == others  # clinical records, accounts, ... untouched
    with engine.connect() as conn:
        events = (
            conn.execute(
                sa.select(t.audit_log)
                .where(t.audit_log.c.id > audit_before)
                .order_by(t.audit_log.c.id)
            )
            .mappings()
            .all()
        )
    assert [(e["action"], e["object_type"], e["actor_role"]) for e in events] == [
        ("purge", "expired_records", "operator")
    ]
    assert events[0]["object_id"] == "idempotency_keys=3,web_sessions=3,login_attempts=2"
    assert verify_chain(engine) is None

    again = run_cli(["maintenance", "purge", "--url", migrated_url])
    assert again.exit_code == 0, again.output
    assert "purged 0 expired rows" in again.output
    assert _left(engine) == (keys, sessions, attempts)


def test_purge_refuses_a_database_that_is_not_migrated(tmp_path: object) -> None:
    res = run_cli(["maintenance", "purge", "--url", f"sqlite:///{tmp_path}/none.db"])
    assert res.exit_code == 2
    assert "run `twostep db upgrade` first" in res.output
