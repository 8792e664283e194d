"""`twostep audit verify`: intact chain -> exit 0 with the count; tampering -> exit 1 naming the row.

The audit rows are written by real service calls (journal entries, reads), then
changed behind the append-only triggers' back with raw SQL, as someone with DDL
rights on the database could (reliability-security.md AU-03).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from twostep.services.journal import add_journal_entry, list_journal
from twostep.storage import SqlUnitOfWorkFactory
from twostep.storage.triggers import POSTGRESQL_TRIGGERS, SQLITE_TRIGGERS

from .conftest import NOW, engine_for, make_clinic, run_cli


def _write_events(url: str, n: int) -> None:
    engine = engine_for(url)
    try:
        clinic = make_clinic(engine)
        factory = SqlUnitOfWorkFactory(engine)
        for i in range(n):
            if i % 2:
                list_journal(factory, clinic.therapist, clinic.client_id)
            else:
                add_journal_entry(factory, clinic.client, clinic.client_id, mood=i % 10, now=NOW)
    finally:
        engine.dispose()


def _raw(url: str, sql: str) -> None:
    """Run ``sql`` with the append-only triggers dropped, then put them back."""
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
                conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
                conn.exec_driver_sql(sql)
                for stmt in SQLITE_TRIGGERS[:2]:
                    conn.exec_driver_sql(stmt)
            else:
                conn.exec_driver_sql("DROP TRIGGER audit_log_no_change ON audit_log")
                conn.exec_driver_sql(sql)
                conn.exec_driver_sql(POSTGRESQL_TRIGGERS[1])
        # the triggers are back: a plain UPDATE is refused again
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_log SET actor_role = 'x' WHERE id = 1")
    finally:
        engine.dispose()


def _row_time(url: str, row_id: int) -> str:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            at = conn.exec_driver_sql(f"SELECT at FROM audit_log WHERE id = {row_id}").scalar_one()
    finally:
        engine.dispose()
    return str(at)[:19].replace(" ", "T")  # the date and time to the second, as printed


def test_an_intact_chain_is_reported_with_its_count(migrated_url: str) -> None:
    _write_events(migrated_url, 7)
    res = run_cli(["audit", "verify", "--url", migrated_url])
    assert res.exit_code == 0, res.output
    assert "audit chain intact: 7 events" in res.output
    assert re.search(r"newest event: #7 at \S+, hash [0-9a-f]{64}", res.output)


def test_an_empty_trail_is_intact(migrated_url: str) -> None:
    res = run_cli(["audit", "verify", "--url", migrated_url])
    assert res.exit_code == 0, res.output
    assert "audit chain intact: 0 events" in res.output


@pytest.mark.parametrize(
    ("sql", "broken", "why"),
    [
        ("UPDATE audit_log SET actor_id = NULL WHERE id = 4", 4, "contents do not match"),
        ("UPDATE audit_log SET outcome = 'denied' WHERE id = 6", 6, "contents do not match"),
        ("DELETE FROM audit_log WHERE id = 3", 4, "rows before it are missing"),
    ],
    ids=["actor-changed", "outcome-changed", "row-deleted-in-the-middle"],
)
def test_tampering_names_the_first_broken_row(
    migrated_url: str, sql: str, broken: int, why: str
) -> None:
    _write_events(migrated_url, 8)
    assert run_cli(["audit", "verify", "--url", migrated_url]).exit_code == 0
    _raw(migrated_url, sql)
    res = run_cli(["audit", "verify", "--url", migrated_url])
    assert res.exit_code == 1, res.output
    assert f"audit chain broken at row {broken} (" in res.output
    assert _row_time(migrated_url, broken) in res.output
    assert why in res.output


def test_a_rewritten_chain_tail_is_found_at_the_rewritten_row(migrated_url: str) -> None:
    """Changing a row and recomputing its own hash still breaks the link of the next row."""
    _write_events(migrated_url, 5)
    engine = engine_for(migrated_url)
    try:
        from twostep.storage.audit import chain_hash
        from twostep.storage.system_tables import audit_log

        with engine.connect() as conn:
            row = dict(
                conn.execute(sa.select(audit_log).where(audit_log.c.id == 2)).mappings().one()
            )
    finally:
        engine.dispose()
    row["action"] = "create"
    new_hash = chain_hash(row["prev_hash"], row)
    _raw(
        migrated_url,
        f"UPDATE audit_log SET action = 'create', hash = '{new_hash}' WHERE id = 2",
    )
    res = run_cli(["audit", "verify", "--url", migrated_url])
    assert res.exit_code == 1
    assert "audit chain broken at row 3 (" in res.output
    assert "link does not match the row before it" in res.output


def test_a_database_without_an_audit_trail_is_an_error_not_a_pass(tmp_path: object) -> None:
    res = run_cli(["audit", "verify", "--url", f"sqlite:///{tmp_path}/nothing.db"])
    assert res.exit_code == 2
    assert "intact" not in res.output
