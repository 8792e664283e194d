"""GDPR: the data map, a complete export and real erasure (reliability-security.md GD-01..GD-03).

A clinic is filled so that every table with a client column holds rows of the
client (and of a second client), with a marker string in every free-text
field: ``CANARY-<table>-<who>``. The export must carry every row the database
holds about the client (counted in the database, table by table) and none of
anyone else's; erasure must leave no row of the erasable tables and keep the
clinical record, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from twostep.domain import records as r
from twostep.domain.ports import IdempotentResponse
from twostep.errors import AccessDeniedError, NotFoundError
from twostep.services.access import Actor
from twostep.services.audit import access_log
from twostep.services.checkin import record_checkin
from twostep.services.drafts import save_draft
from twostep.services.gdpr import DATA_MAP, ERASED_TABLES, erase_client, export_client
from twostep.services.journal import (
    add_journal_entry,
    add_reflection,
    add_self_care,
    add_session_topic,
    add_skill_practice,
    add_stressor,
    add_support_contact,
    add_supporter,
    add_thought_record,
    set_sharing,
)
from twostep.storage import SqlUnitOfWorkFactory
from twostep.storage.tables import metadata

from .conftest import NOW, Clinic, engine_for, make_clinic, run_cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data-map.md"
ANSWERS = {f"item_{i}": 1 for i in range(1, 9)} | {"item_9": 1}  # item 9 > 0: a risk alert


def canary(table: str, who: str) -> str:
    return f"CANARY-{table}-{who}"


def person_columns(table: sa.Table) -> set[str]:
    """Columns that identify a person: a reference to users, or a client/user/actor id."""
    cols = {
        c.name
        for c in table.columns
        if c.name in ("client_id", "user_id", "actor_id")
        or any(fk.column.table.name == "users" for fk in c.foreign_keys)
    }
    if table.name == "users":
        cols.add("id")
    return cols


def fill(factory: SqlUnitOfWorkFactory, c: Clinic, who: Actor, tag: str) -> None:
    """Rows for client ``who`` in every table with a client column, markers in all free text."""
    cid = who.user_id
    add_journal_entry(factory, who, cid, mood=5, text=canary("journal_entries", tag), now=NOW)
    add_reflection(factory, who, cid, what_happened=canary("setback_reflections", tag), now=NOW)
    add_stressor(
        factory, who, cid, category="work", severity=2, started_on=date(2025, 5, 1),
        description=canary("stressors", tag), now=NOW,
    )  # fmt: skip
    add_self_care(
        factory, who, cid, done_on=date(2025, 6, 1), activity="sleep",
        note=canary("self_care_entries", tag), now=NOW,
    )  # fmt: skip
    add_skill_practice(
        factory, who, cid, skill_id="grounding", note=canary("skill_practices", tag), now=NOW
    )
    add_thought_record(
        factory, who, cid, situation=canary("thought_records", tag), automatic_thought="t",
        emotion="fear", intensity=50, now=NOW,
    )  # fmt: skip
    sup = add_supporter(
        factory, who, cid, name=canary("supporters", tag), relation="friend", now=NOW
    )
    add_support_contact(
        factory, who, cid, supporter_id=sup.id, contacted_on=date(2025, 6, 1), now=NOW
    )
    add_session_topic(factory, who, cid, canary("session_topics", tag), now=NOW)
    set_sharing(factory, who, cid, r.EntryKind.JOURNAL_TEXT, True, now=NOW)
    save_draft(factory, who, "gad7", {"item_1": 2}, now=NOW)
    record_checkin(factory, who, cid, "phq9", ANSWERS, NOW - timedelta(days=1), now=NOW)
    with factory() as uow:
        (episode,) = uow.episodes.for_client(cid)
        uow.episodes.add(
            r.Episode(
                r.new_id(), c.clinic_id, cid, date(2024, 1, 1), date(2024, 3, 1),
                canary("episodes", tag),
            )
        )  # fmt: skip
        uow.appointments.add(
            r.Appointment(
                r.new_id(), c.clinic_id, episode.id, cid, c.therapist.user_id,
                NOW + timedelta(days=3),
            )
        )  # fmt: skip
        goal = r.Goal(
            r.new_id(), c.clinic_id, cid, canary("goals", tag), "walks", {0: "two"}, 0, None,
            "health", None, 2, 2,
        )  # fmt: skip
        uow.goals.add(goal)
        uow.goal_steps.add(r.GoalStep(r.new_id(), goal.id, cid, canary("goal_steps", tag)))
        uow.goal_reviews.add(
            r.GoalReview(
                r.new_id(), goal.id, cid, NOW, 1, canary("goal_reviews", tag),
                c.therapist.user_id,
            )
        )  # fmt: skip
        (alert, *_) = [a for a in uow.alerts.for_client(cid) if a.kind == r.AlertKind.RISK]
        from dataclasses import replace

        uow.alerts.update(
            replace(
                alert, status=r.AlertStatus.RESOLVED, action_taken=canary("alerts", tag),
                updated_by=c.therapist.user_id, updated_at=NOW,
            )
        )  # fmt: skip
        uow.idempotency.add(  # the cached answer to one of the client's own writes
            IdempotentResponse(
                cid, r.new_id(), "0" * 64, 201, {"text": canary("idempotency_keys", tag)}, NOW
            )
        )
        uow.commit()


@pytest.fixture
def world(migrated_url: str) -> tuple[str, Clinic, Clinic]:
    engine = engine_for(migrated_url)
    try:
        c = make_clinic(engine, "a")
        far = make_clinic(engine, "b")
        f = SqlUnitOfWorkFactory(engine)
        fill(f, c, c.client, "me")
        fill(f, c, c.other, "other")
        fill(f, far, far.client, "far")
    finally:
        engine.dispose()
    return migrated_url, c, far


def _count(url: str, table: str, column: str, value: str) -> int:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            t = metadata.tables[table]
            stmt = sa.select(sa.func.count()).select_from(t).where(t.c[column] == value)
            return int(conn.execute(stmt).scalar_one())
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- data map


def test_every_table_has_a_rule_here_and_in_the_docs() -> None:
    assert set(DATA_MAP) == set(metadata.tables)
    doc = DOCS.read_text(encoding="utf-8")
    for name, rule in DATA_MAP.items():
        row = re.search(rf"^\| `{name}` \|(.+)$", doc, re.M)
        assert row is not None, f"docs/data-map.md has no row for {name}"
        assert rule.erasure in row.group(1), f"docs/data-map.md: {name} should say {rule.erasure}"
        assert rule.retention
        assert rule.reason
    assert set(ERASED_TABLES) == {n for n, rule in DATA_MAP.items() if rule.erasure == "erased"}


def test_every_table_about_a_person_is_exported_or_excluded_with_a_reason() -> None:
    for table in metadata.sorted_tables:
        cols = person_columns(table)
        rule = DATA_MAP[table.name]
        if rule.exported:
            assert rule.subject_column in {c.name for c in table.columns}, table.name
            assert rule.subject_column in cols or table.name == "audit_log", table.name
        else:
            assert len(rule.excluded) > 20, f"{table.name}: excluded without a reason"
        if cols and not rule.exported:
            assert rule.subject_column is None or rule.erasure in ("expires", "kept", "erased")


# ------------------------------------------------------------------------------ export


def test_export_holds_every_row_about_the_client_and_nothing_else(
    world: tuple[str, Clinic, Clinic], tmp_path: Path
) -> None:
    url, c, _far = world
    out = tmp_path / "export" / "client.json"
    res = run_cli(
        ["gdpr", "export", "--client", c.client_email, "--out", str(out), "--as", c.admin_email,
         "--url", url]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["client_id"] == c.client_id
    exported = data["tables"]
    for name, rule in DATA_MAP.items():
        if not rule.exported:
            assert name not in exported
            assert data["excluded"][name] == rule.excluded
            continue
        assert rule.subject_column is not None
        n = _count(url, name, rule.subject_column, c.client_id)
        assert n > 0, f"the fixture leaves {name} empty: the test would prove nothing"
        if name == "audit_log":
            n -= 1  # the export's own event is written after the export was read
        assert len(exported[name]) == n, f"{name}: {len(exported[name])} exported, {n} stored"
    # every marker of the client, in plain text; nobody else's
    for name in metadata.tables:
        if canary(name, "other") in text or canary(name, "far") in text:
            pytest.fail(f"another client's {name} is in the export")
    expected = {m.group(0) for m in re.finditer(r"CANARY-[a-z_]+-me", text)}
    assert expected == {
        canary(n, "me")
        for n in (
            "journal_entries", "setback_reflections", "stressors", "self_care_entries",
            "skill_practices", "thought_records", "supporters", "session_topics", "episodes",
            "goals", "goal_steps", "goal_reviews", "alerts",
        )
    }  # fmt: skip
    assert "argon2" not in text
    assert "password" not in text
    assert "token_hash" not in text


def test_who_may_export(world: tuple[str, Clinic, Clinic]) -> None:
    url, c, far = world
    engine = engine_for(url)
    try:
        f = SqlUnitOfWorkFactory(engine)
        mine = export_client(f, c.client, c.client_id)  # the client themself
        assert mine["client_id"] == c.client_id
        with pytest.raises(AccessDeniedError):
            export_client(f, c.therapist, c.client_id)  # the therapist: not this way
        with pytest.raises(AccessDeniedError):
            export_client(f, c.other, c.client_id)  # another client
        with pytest.raises(NotFoundError):
            export_client(f, far.admin, c.client_id)  # the admin of another clinic
        with pytest.raises(NotFoundError):
            export_client(f, c.admin, far.client_id)
        with pytest.raises(NotFoundError):
            export_client(f, c.admin, c.therapist.user_id)  # not a client
        # the client sees the export and every refused attempt in their access log
        seen = [e for e in access_log(f, c.client, c.client_id) if e.object_type == "gdpr_export"]
        assert sorted((e.action, e.outcome, e.role) for e in seen) == [
            ("export", "denied", "admin"),  # the other clinic's admin
            ("export", "denied", "client"),  # the other client
            ("export", "denied", "therapist"),
            ("export", "ok", "client"),
        ]
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ erasure


def _all_counts(url: str, client_id: str) -> dict[str, int]:
    return {
        name: _count(url, name, rule.subject_column, client_id)
        for name, rule in DATA_MAP.items()
        if rule.subject_column is not None
    }


def test_erasure_deletes_what_the_client_wrote_and_keeps_the_clinical_record(
    world: tuple[str, Clinic, Clinic], tmp_path: Path
) -> None:
    url, c, far = world
    before = _all_counts(url, c.client_id)
    other_before = _all_counts(url, c.other_id)
    far_before = _all_counts(url, far.client_id)

    refused = run_cli(
        ["gdpr", "erase", "--client", c.client_id, "--as", c.admin_email, "--url", url]
    )
    assert refused.exit_code == 2
    assert "--yes" in refused.output
    assert _all_counts(url, c.client_id) == before

    res = run_cli(
        ["gdpr", "erase", "--client", c.client_id, "--as", c.admin_email, "--yes", "--url", url]
    )
    assert res.exit_code == 0, res.output
    assert "erased  journal_entries: 1" in res.output
    assert "kept    administrations:" in res.output

    after = _all_counts(url, c.client_id)
    for name, rule in DATA_MAP.items():
        if rule.subject_column is None:
            continue
        if rule.erasure == "erased":
            assert before[name] > 0, name
            assert after[name] == 0, name
        elif name == "audit_log":
            assert after[name] == before[name] + 1  # the erasure itself
        elif name == "client_activity":
            assert after[name] == 1
        else:
            assert after[name] == before[name], name
    assert _all_counts(url, c.other_id) == other_before
    assert _all_counts(url, far.client_id) == far_before

    # what remains about the client holds none of the erased text, but all the clinical record
    out = tmp_path / "after.json"
    exp = run_cli(
        ["gdpr", "export", "--client", c.client_id, "--out", str(out), "--as", c.admin_email,
         "--url", url]
    )  # fmt: skip
    assert exp.exit_code == 0, exp.output
    text = out.read_text(encoding="utf-8")
    for name in ERASED_TABLES:
        assert canary(name, "me") not in text
    for name in ("episodes", "goals", "goal_steps", "goal_reviews", "alerts"):
        assert canary(name, "me") in text
    data = json.loads(text)
    assert any(e["action"] == "erase" and e["outcome"] == "ok" for e in data["tables"]["audit_log"])
    assert run_cli(["audit", "verify", "--url", url]).exit_code == 0


def test_only_an_admin_of_the_clinic_may_erase(world: tuple[str, Clinic, Clinic]) -> None:
    url, c, far = world
    before = _all_counts(url, c.client_id)
    engine = engine_for(url)
    try:
        f = SqlUnitOfWorkFactory(engine)
        with pytest.raises(AccessDeniedError):
            erase_client(f, c.client, c.client_id)  # the client asks the clinic, not the app
        with pytest.raises(AccessDeniedError):
            erase_client(f, c.therapist, c.client_id)
        with pytest.raises(NotFoundError):
            erase_client(f, far.admin, c.client_id)
    finally:
        engine.dispose()
    # the CLI applies the same rule: a client acting for themself is refused
    res = run_cli(
        ["gdpr", "erase", "--client", c.client_id, "--as", c.client_email, "--yes", "--url", url]
    )
    assert res.exit_code == 2
    assert "admin" in res.output
    after = _all_counts(url, c.client_id)
    assert after.pop("audit_log") == before.pop("audit_log") + 4  # four refusals, audited
    assert after == before
