"""RL-01 in CI: kill -9 the served app three times under check-in load; nothing acknowledged is lost.

The short version of ``benchmarks/durability.py`` (which see): a real
``python -m uvicorn twostep.web.serve:app`` subprocess on a fresh database,
four clients submitting PHQ-9 check-ins (a quarter with a risk answer, each
with its own ``Idempotency-Key``, resent after a failure until acknowledged),
SIGKILL at three random moments with an immediate restart, then every check
against the database: no acknowledged write lost, none stored twice, no
half-stored questionnaire, one risk alert per risk submission, one audit row
per stored submission, an intact audit chain and (SQLite) a clean
``integrity_check``. PostgreSQL runs on a throwaway cluster with its durable
defaults (fsync and synchronous_commit on).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from twostep.devtools.postgres import find_pg_bin

ROOT = Path(__file__).resolve().parents[2]


def durability() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "durability_benchmark", ROOT / "benchmarks" / "durability.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def check(report: Any) -> None:
    lines = "\n".join(report.lines())
    assert report.kills == 3, lines
    assert report.acked > 20, lines  # the load really ran
    assert report.risk_sent_acked > 0, lines
    assert report.lost == [], lines
    assert report.duplicates == [], lines
    assert report.unknown == [], lines
    assert report.wrong_content == [], lines
    assert report.half_stored == [], lines
    assert report.risk_alert_problems == [], lines
    assert report.audit_problems == [], lines
    assert report.chain_broken_at is None, lines
    assert report.integrity == [], lines
    # every submission was settled: resent with its key until the server acknowledged it
    assert report.acked == report.attempts, lines
    assert report.ok, lines


@pytest.mark.slow
def test_kill9_on_sqlite() -> None:
    check(durability().run(seconds=20, kills=3, clients=4, seed=11, echo=False))


@pytest.mark.slow
@pytest.mark.postgresql
@pytest.mark.skipif(find_pg_bin() is None, reason="PostgreSQL server binaries are not installed")
def test_kill9_on_postgresql() -> None:
    check(durability().run(seconds=15, kills=3, clients=4, seed=12, postgresql=True, echo=False))
