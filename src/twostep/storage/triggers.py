"""Database triggers that keep the audit trail append-only and administrations immutable.

The application never updates these rows; the triggers make sure nothing
else does either (a bug, a hand-written ``UPDATE``, a compromised app role):
``audit_log`` refuses UPDATE, DELETE (and TRUNCATE on PostgreSQL), and a
submitted questionnaire (``administrations``) refuses UPDATE — a correction
is a new version (reliability-security.md AU-03, IN-01). The refusal
surfaces as `twostep.errors.ConflictError`.

The same statements are in the initial migration (copied, so that old
migrations never change); `install_triggers` attaches them to
`metadata.create_all` for tests and throwaway databases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import sqlalchemy as sa

#: sa.DDL is untyped in SQLAlchemy's stubs
_ddl = cast(Callable[[str], sa.DDL], sa.DDL)

__all__ = ["POSTGRESQL_TRIGGERS", "SQLITE_TRIGGERS", "install_triggers"]

SQLITE_TRIGGERS: tuple[str, ...] = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER administrations_no_update BEFORE UPDATE ON administrations "
    "BEGIN SELECT RAISE(ABORT, 'administrations are immutable'); END",
    # No same-client trigger on administrations in SQLite: even with a WHEN clause a row
    # trigger costs a third of bulk-insert speed there (measured with
    # benchmarks/import_scores.py), and corrections are only written by
    # SqlAdministrationRepository, which checks that a correction keeps its client
    # (tests/storage/test_administrations.py). PostgreSQL has the trigger.
    "CREATE TRIGGER alerts_same_client BEFORE INSERT ON alerts "
    "WHEN NEW.administration_id IS NOT NULL AND NEW.client_id IS NOT "
    "(SELECT client_id FROM administrations WHERE id = NEW.administration_id) "
    "BEGIN SELECT RAISE(ABORT, 'an alert must belong to the client of its administration'); END",
    "CREATE TRIGGER alerts_same_client_update BEFORE UPDATE OF administration_id, client_id "
    "ON alerts WHEN NEW.administration_id IS NOT NULL AND NEW.client_id IS NOT "
    "(SELECT client_id FROM administrations WHERE id = NEW.administration_id) "
    "BEGIN SELECT RAISE(ABORT, 'an alert must belong to the client of its administration'); END",
)

POSTGRESQL_TRIGGERS: tuple[str, ...] = (
    """CREATE OR REPLACE FUNCTION twostep_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is %', TG_TABLE_NAME, TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END
$$""",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION twostep_refuse_change('append-only')",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION twostep_refuse_change('append-only')",
    "CREATE TRIGGER administrations_no_update BEFORE UPDATE ON administrations "
    "FOR EACH ROW EXECUTE FUNCTION twostep_refuse_change('immutable')",
    """CREATE OR REPLACE FUNCTION twostep_same_client() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.client_id IS DISTINCT FROM
       (SELECT client_id FROM administrations WHERE id = NEW.supersedes_id) THEN
        RAISE EXCEPTION 'a correction must keep the client' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$""",
    "CREATE TRIGGER administrations_same_client BEFORE INSERT ON administrations "
    "FOR EACH ROW WHEN (NEW.supersedes_id IS NOT NULL) EXECUTE FUNCTION twostep_same_client()",
    """CREATE OR REPLACE FUNCTION twostep_alert_client() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.client_id IS DISTINCT FROM
       (SELECT client_id FROM administrations WHERE id = NEW.administration_id) THEN
        RAISE EXCEPTION 'an alert must belong to the client of its administration'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$""",
    "CREATE TRIGGER alerts_same_client BEFORE INSERT OR UPDATE OF administration_id, client_id "
    "ON alerts FOR EACH ROW WHEN (NEW.administration_id IS NOT NULL) "
    "EXECUTE FUNCTION twostep_alert_client()",
)

POSTGRESQL_DROP: tuple[str, ...] = (
    "DROP FUNCTION IF EXISTS twostep_refuse_change() CASCADE",
    "DROP FUNCTION IF EXISTS twostep_same_client() CASCADE",
    "DROP FUNCTION IF EXISTS twostep_alert_client() CASCADE",
)


def install_triggers(metadata: sa.MetaData) -> None:
    """Create the triggers after ``metadata.create_all`` (and drop the PG function after drop_all)."""
    for stmt in SQLITE_TRIGGERS:
        sa.event.listen(metadata, "after_create", _ddl(stmt).execute_if(dialect="sqlite"))
    for stmt in POSTGRESQL_TRIGGERS:
        # DDL statements are %-format strings: escape PL/pgSQL's own %
        ddl = _ddl(stmt.replace("%", "%%"))
        sa.event.listen(metadata, "after_create", ddl.execute_if(dialect="postgresql"))
    for stmt in POSTGRESQL_DROP:
        sa.event.listen(metadata, "after_drop", _ddl(stmt).execute_if(dialect="postgresql"))
