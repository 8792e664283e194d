"""Backup and restore rehearsal (reliability-security.md RL-11): time, size, writes during backup.

Run:  python benchmarks/backup_restore.py                         (SQLite, 200,000 scores)
      python benchmarks/backup_restore.py --rows 1000000 --backend both

The script fills a records database (SQLite file, or PostgreSQL: a durable
throwaway cluster on 127.0.0.1 or ``TWOSTEP_TEST_PG_URL``) with synthetic
PHQ-9 scores through the bulk import (one audit event per client) and 2,000
encrypted journal entries, then:

1. runs `backup_database` while a writer thread keeps adding journal entries
   through the unit of work, and reports the backup's time and size and the
   writer's commits and worst commit latency during the backup;
2. restores the backup into a new database with `restore_database` (which
   verifies the audit chain) and reports the time;
3. checks that every table of the restored database holds at least the rows
   the source held when the backup started and at most those it held at the
   end (the restore adds one audit event of its own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_scores import make_file
from twostep.config import Settings
from twostep.domain.records import Clinic, JournalEntry, Role, User, new_id, new_ids
from twostep.interop.scores_import import import_scores
from twostep.services.access import Actor
from twostep.storage.backup import backup_database, restore_database
from twostep.storage.engine import engine_from_settings
from twostep.storage.migrate import upgrade
from twostep.storage.tables import metadata
from twostep.storage.unit_of_work import SqlUnitOfWorkFactory


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in metadata.sorted_tables
        }


def fill(url: str, scores: Path, emails: list[str]) -> tuple[SqlUnitOfWorkFactory, list[str]]:
    upgrade(url)
    factory = SqlUnitOfWorkFactory(engine_from_settings(Settings(database_url=url)))
    now = dt.datetime.now(dt.UTC)
    ids = new_ids(len(emails) + 2)
    clinic = Clinic(ids[0], "Backup clinic", "crisis", "delay", created_at=now)
    admin = User(ids[1], clinic.id, "admin@bench.example", "Admin", frozenset({Role.ADMIN}))
    users = [
        User(uid, clinic.id, e, e, frozenset({Role.CLIENT}), True, now)
        for uid, e in zip(ids[2:], emails, strict=True)
    ]
    with factory() as uow:
        uow.clinics.add(clinic)
        uow.users.add(admin)
        uow.add_many(uow.users, users)
        uow.commit()
    import_scores(scores, factory, Actor(admin.id, clinic.id, frozenset({Role.ADMIN})))
    with factory() as uow:
        entries = [
            JournalEntry(new_id(), users[i % len(users)].id, now, 5, ("calm",), f"entry {i} " * 20)
            for i in range(2000)
        ]
        uow.add_many(uow.journal, entries)
        uow.commit()
    return factory, [u.id for u in users[:50]]


def rehearse(url: str, target_url: str, folder: Path, scores: Path, emails: list[str]) -> None:
    factory, clients = fill(url, scores, emails)
    engine = factory.engine
    before = counts(engine)
    stop = threading.Event()
    latencies: list[float] = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            with factory() as uow:
                entry = JournalEntry(
                    new_id(), clients[i % len(clients)], dt.datetime.now(dt.UTC), 4, (), "w"
                )
                uow.journal.add(entry)
                uow.commit()
            latencies.append(time.perf_counter() - t0)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.3)
    n0 = len(latencies)
    out = folder / "records.backup"
    result = backup_database(url, out)
    during = latencies[n0:]
    stop.set()
    thread.join()
    after = counts(engine)
    engine.dispose()
    restored = restore_database(target_url, out)
    target = sa.create_engine(target_url.replace("postgresql://", "postgresql+psycopg://"))
    got = counts(target)
    target.dispose()
    for name in got:
        extra = 1 if name == "audit_log" else 0  # the restore's own event
        assert before[name] + extra <= got[name] <= after[name] + extra, (name, got[name])
    assert restored.audit_broken_at is None
    worst = max(during) * 1000 if during else float("nan")
    print(
        f"  database: {before['administrations']:,} administrations, "
        f"{before['journal_entries']:,} journal entries, {before['audit_log']:,} audit events"
    )
    print(
        f"  backup:   {result.seconds:.2f} s, {result.size / 1e6:.1f} MB; "
        f"writer committed {len(during):,} entries meanwhile, worst commit {worst:.0f} ms"
    )
    print(
        f"  restore:  {restored.seconds:.2f} s (audit chain verified: "
        f"{restored.audit_events:,} events); every table between the start and end counts"
    )


@contextmanager
def postgres() -> Iterator[str]:
    url = os.environ.get("TWOSTEP_TEST_PG_URL")
    if url:
        yield url
        return
    from twostep.devtools.postgres import throwaway_cluster

    with throwaway_cluster(durable=True) as cluster_url:
        yield cluster_url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scores, emails = make_file(folder, args.rows)
        mails = [str(e) for e in emails.tolist()]
        if args.backend in ("sqlite", "both"):
            print(f"SQLite ({args.rows:,} score rows):")
            rehearse(
                f"sqlite:///{folder / 'src.db'}",
                f"sqlite:///{folder / 'restored.db'}",
                folder,
                scores,
                mails,
            )
        if args.backend in ("postgresql", "both"):
            with postgres() as base:
                import psycopg

                root = base.rsplit("/", 1)[0]
                admin_dsn = base.replace("postgresql+psycopg://", "postgresql://")
                with psycopg.connect(admin_dsn, autocommit=True) as conn:
                    conn.execute("CREATE DATABASE bench_src")
                    conn.execute("CREATE DATABASE bench_restored")
                print(f"PostgreSQL ({args.rows:,} score rows):")
                (folder / "records.backup").unlink(missing_ok=True)
                rehearse(f"{root}/bench_src", f"{root}/bench_restored", folder, scores, mails)


if __name__ == "__main__":
    main()
