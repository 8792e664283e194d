"""Import benchmark: 1,000,000 score rows from CSV into SQLite and into PostgreSQL.

Run:  python benchmarks/import_scores.py                      (SQLite, 1M rows)
      python benchmarks/import_scores.py --rows 200000 --backend both
      TWOSTEP_TEST_PG_URL=postgresql+psycopg://... python benchmarks/import_scores.py --backend postgresql

The script creates a clinic with one admin and the clients, writes a
long-format CSV of synthetic PHQ-9 totals (dated administrations, about
8.6 per client), then times `twostep.interop.scores_import.import_scores`
end to end: reading and validating the file, resolving the clients,
scoring, deduplication against stored rows, the bulk insert, the audit
events and the commit. It then imports the same file again (recognised by
its hash: nothing added). Target: >= 50,000 rows/s on SQLite.

For PostgreSQL it uses ``TWOSTEP_TEST_PG_URL`` or starts a throwaway cluster
on 127.0.0.1 (as the test suite does; needs the PostgreSQL server binaries).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

from twostep.config import Settings
from twostep.domain.records import Clinic, Role, User, new_ids
from twostep.interop.long_format import write_csv
from twostep.interop.scores_import import import_scores
from twostep.services.access import Actor
from twostep.storage.engine import engine_from_settings
from twostep.storage.migrate import upgrade
from twostep.storage.unit_of_work import SqlUnitOfWorkFactory
from twostep.synthetic import SyntheticParams, generate_episodes


def make_file(folder: Path, rows: int) -> tuple[Path, npt.NDArray[np.str_]]:
    clients = max(1, int(rows / 8.6))
    data = generate_episodes(SyntheticParams(n_clients=clients, seed=11, missing_rate=0.0))
    n = min(rows, data.n_rows)
    emails = np.char.add(data.client_id[:n].astype(str), "@bench.example")
    path = folder / "scores.csv"
    write_csv(
        path,
        {
            "client_id": emails,
            "session": data.session[:n],
            "date": data.date[:n],
            "instrument": np.repeat("phq9", n),
            "score": data.score[:n],
        },
    )
    return path, np.unique(emails)


def run(url: str, path: Path, emails: npt.NDArray[np.str_]) -> dict[str, float]:
    upgrade(url)
    factory = SqlUnitOfWorkFactory(engine_from_settings(Settings(database_url=url)))
    now = dt.datetime.now(dt.UTC)
    ids = new_ids(len(emails) + 2)
    clinic = Clinic(ids[0], "Benchmark clinic", "crisis text", "delay notice", created_at=now)
    admin = User(
        ids[1], clinic.id, "admin@bench.example", "Admin", frozenset({Role.ADMIN}), True, now
    )
    users = [
        User(uid, clinic.id, str(e), str(e), frozenset({Role.CLIENT}), True, now)
        for uid, e in zip(ids[2:], emails.tolist(), strict=True)
    ]
    with factory() as uow:
        uow.clinics.add(clinic)
        uow.users.add(admin)
        uow.add_many(uow.users, users)
        uow.commit()
    actor = Actor(admin.id, clinic.id, frozenset({Role.ADMIN}))
    t = time.perf_counter()
    first = import_scores(path, factory, actor)
    elapsed = time.perf_counter() - t
    t = time.perf_counter()
    again = import_scores(path, factory, actor)
    again_s = time.perf_counter() - t
    assert again.already_imported
    assert again.inserted == 0
    return {
        "rows": first.inserted,
        "seconds": elapsed,
        "rows_per_s": first.inserted / elapsed,
        "again_s": again_s,
    }


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
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, emails = make_file(folder, args.rows)
        print(f"{path.stat().st_size / 1e6:.0f} MB CSV, {len(emails):,} clients")
        if args.backend in ("sqlite", "both"):
            r = run(f"sqlite:///{folder / 'bench.db'}", path, emails)
            print(
                f"SQLite:     {r['rows']:,.0f} rows in {r['seconds']:.1f} s = {r['rows_per_s']:,.0f} rows/s; re-import {r['again_s']:.2f} s"
            )
        if args.backend in ("postgresql", "both"):
            with postgres() as url:
                r = run(url, path, emails)
            print(
                f"PostgreSQL: {r['rows']:,.0f} rows in {r['seconds']:.1f} s = {r['rows_per_s']:,.0f} rows/s; re-import {r['again_s']:.2f} s"
            )


if __name__ == "__main__":
    main()
