"""Encryption at rest (reliability-security.md CR-01): what clients write is not in the files.

Marker strings are written through the services, as the app writes them, into
a journal entry (its text and emotions), a setback reflection, a thought
record, a session topic, an appointment's focus tags and the other free-text
fields. Then the raw SQLite file, its ``-wal`` file and a
backup made by ``twostep backup`` are searched for the markers' bytes, in
UTF-8 and UTF-16 (both byte orders): none may appear — before a checkpoint
(the text is still in the WAL) and after one (it is in the main file). A
control value that is not encrypted (the client's e-mail address) must be
found, so the search itself is shown to work.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from twostep.services.appointments import mark_attended, schedule
from twostep.services.journal import (
    add_journal_entry,
    add_reflection,
    add_self_care,
    add_session_topic,
    add_skill_practice,
    add_stressor,
    add_supporter,
    add_thought_record,
    list_journal,
    list_reflections,
    list_session_topics,
    list_thought_records,
)
from twostep.storage import SqlUnitOfWorkFactory, upgrade

from .conftest import NOW, engine_for, make_clinic, run_cli

MARK = "CANARY-7c1e"


def marker(field: str) -> str:
    return f"{MARK}-{field}-zq"


FIELDS = [
    "journal", "reflection.what_happened", "reflection.what_i_learned", "thought.situation",
    "thought.automatic_thought", "thought.balanced_thought", "topic", "stressor", "self_care",
    "skill", "supporter.name", "emotion", "tag",
]  # fmt: skip


def _encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")]


def _hits(data: bytes, text: str) -> bool:
    return any(enc in data for enc in _encodings(text))


@pytest.mark.parametrize("checkpoint", [False, True], ids=["in-the-wal", "checkpointed"])
def test_client_text_is_in_no_file_the_database_leaves_behind(
    tmp_path: Path, checkpoint: bool
) -> None:
    db = tmp_path / "records.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    engine = engine_for(url)
    try:
        c = make_clinic(engine)
        f = SqlUnitOfWorkFactory(engine)
        me, cid = c.client, c.client_id
        add_journal_entry(
            f, me, cid, mood=4, text=f"today {marker('journal')} again",
            emotions=[marker("emotion")], now=NOW,
        )  # fmt: skip
        visit = schedule(f, c.therapist, cid, NOW - timedelta(days=1), now=NOW)
        mark_attended(f, c.therapist, visit.id, focus_tags=[marker("tag").lower()])
        add_reflection(
            f, me, cid, what_happened=marker("reflection.what_happened"),
            what_i_learned=marker("reflection.what_i_learned"), now=NOW,
        )  # fmt: skip
        add_thought_record(
            f, me, cid, situation=marker("thought.situation"),
            automatic_thought=marker("thought.automatic_thought"), emotion="fear",
            intensity=80, balanced_thought=marker("thought.balanced_thought"), now=NOW,
        )  # fmt: skip
        add_session_topic(f, me, cid, marker("topic"), now=NOW)
        add_stressor(
            f, me, cid, category="work", severity=3, started_on=date(2025, 5, 1),
            description=marker("stressor"), now=NOW,
        )  # fmt: skip
        add_self_care(
            f, me, cid, done_on=date(2025, 6, 1), activity="yoga", note=marker("self_care"),
            now=NOW,
        )  # fmt: skip
        add_skill_practice(f, me, cid, skill_id="paced_breathing", note=marker("skill"), now=NOW)
        add_supporter(f, me, cid, name=marker("supporter.name"), relation="sister", now=NOW)

        # stored, and readable through the services with the key
        assert marker("journal") in list_journal(f, me, cid)[0].text
        assert list_journal(f, me, cid)[0].emotions == (marker("emotion"),)
        assert list_reflections(f, me, cid)[0].what_happened == marker("reflection.what_happened")
        assert list_thought_records(f, me, cid)[0].situation == marker("thought.situation")
        assert list_session_topics(f, me, cid)[0].text == marker("topic")

        if checkpoint:
            raw = sqlite3.connect(db, isolation_level=None)
            try:
                busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                raw.close()
            assert busy == 0
        wal = db.with_name(db.name + "-wal")
        files = {"database": db.read_bytes(), "wal": wal.read_bytes() if wal.exists() else b""}
        if not checkpoint:
            assert len(files["wal"]) > 0, "the last transactions are still in the WAL"

        out = tmp_path / "backup" / "records.backup"
        res = run_cli(["backup", "--out", str(out), "--url", url])
        assert res.exit_code == 0, res.output
        files["backup"] = out.read_bytes()
    finally:
        engine.dispose()

    everything = b"".join(files.values())
    # the search works: a value that is stored in plain text is found
    assert _hits(everything, c.client_email)
    assert _hits(files["backup"], c.client_email)
    for name, data in files.items():
        assert MARK.encode() not in data, f"a marker is readable in the {name} file"
        for field in FIELDS:
            assert not _hits(data, marker(field)), f"{field} is readable in the {name} file"
            assert not _hits(data, marker(field).lower()), f"{field} is readable in {name}"
