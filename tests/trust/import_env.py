"""The database the import catalogue tests (CSV #31–#44, FHIR #45–#55) run their commands on.

A migrated SQLite file with two clinics (`make_clinic`: "h" is home, "w" is
away) and helpers that tell whether a refused import stored anything: the row
count of every table and the audit events written since a given id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from twostep.storage import tables as t
from twostep.storage import upgrade

from .conftest import Clinic, engine_for, make_clinic
from .db_probe import last_audit_id, row_counts


@dataclass
class ImportEnv:
    url: str
    engine: sa.Engine
    home: Clinic
    away: Clinic
    therapist: str  # e-mail of the home clinic's therapist
    folder: Path

    def counts(self) -> dict[str, int]:
        return row_counts(self.engine)

    def last_audit_id(self) -> int:
        return last_audit_id(self.engine)

    def audit_since(self, after: int) -> list[sa.Row[tuple[str, str]]]:
        """(action, outcome) of every audit event after ``after``."""
        a = t.audit_log.c
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(a.action, a.outcome).where(a.id > after)))

    def outcomes_since(self, after: int) -> list[str]:
        return [row.outcome for row in self.audit_since(after)]


@contextmanager
def import_env(folder: Path) -> Iterator[ImportEnv]:
    """A migrated database in ``folder`` with the home and away clinics."""
    url = f"sqlite:///{folder / 'records.db'}"
    upgrade(url)
    engine = engine_for(url)
    home, away = make_clinic(engine, "h"), make_clinic(engine, "w")
    try:
        yield ImportEnv(
            url, engine, home, away, f"therapisth@{home.clinic_id[:8]}.example.org", folder
        )
    finally:
        engine.dispose()


def clear_twostep_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``TWOSTEP_*`` variable of the machine running the tests reaches the command."""
    for name in list(os.environ):
        if name.startswith("TWOSTEP_"):
            monkeypatch.delenv(name)
