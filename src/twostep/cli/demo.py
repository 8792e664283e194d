"""``twostep demo``: the main job on the embedded default, end to end.

1. A fresh SQLite database (``<folder>/twostep.db``) with the demo clinic: two
   therapists, forty clients over six months, every stream filled, the
   check-ins replayed through the check-in service (scores, signals, alerts,
   audit trail), and demo logins with one shared demo password.
2. Expected-response norms fitted from a synthetic service history (3,000
   past episodes), saved as ``norms-<instrument>.json``.
3. ``twostep analyze`` on the demo clinic's PHQ-9 and GAD-7 scores with those
   norms: ``<folder>/analysis/report.html`` and the four tables.

Everything is synthetic and deterministic apart from the dates, which end
today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from twostep.api import fit_norms
from twostep.cli.analyze import AnalyzeOptions, run_analyze
from twostep.cli.demo_data import write_demo_data
from twostep.config import Settings
from twostep.demo.clinic import DemoClinic, build_demo_clinic
from twostep.demo.load import LoadSummary, load_demo_clinic
from twostep.instruments.registry import Catalogue
from twostep.instruments.scoring import score_submission
from twostep.interop.long_format import write_csv
from twostep.interop.norms_file import write_norms
from twostep.security.passwords import Hasher
from twostep.synthetic import SyntheticParams

HISTORY_SEED = 1

#: The password of every demo account (printed by the demo; demo data only).
DEMO_PASSWORD = "two steps forward one back"


@dataclass(frozen=True)
class DemoFiles:
    database: Path
    scores: Path
    norms: tuple[Path, ...]
    out: Path
    logins: tuple[tuple[str, str, str], ...]
    loaded: LoadSummary
    clinic: DemoClinic


def run_demo(folder: Path, catalogue: Catalogue, console: Console) -> DemoFiles:
    """Create the demo database, norms and analysis under ``folder`` (replacing an older demo)."""
    from twostep.storage.engine import engine_from_settings
    from twostep.storage.migrate import upgrade
    from twostep.storage.unit_of_work import SqlUnitOfWorkFactory

    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "twostep.db"
    for f in (database, database.with_name("twostep.db-wal"), database.with_name("twostep.db-shm")):
        f.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    upgrade(url)
    engine = engine_from_settings(Settings(database_url=url))
    factory = SqlUnitOfWorkFactory(engine)
    demo = build_demo_clinic()
    hasher = Hasher()
    password_hash = hasher.hash(DEMO_PASSWORD)
    console.print(
        f"• creating the demo clinic in {database}: {len(demo.users)} accounts, "
        f"{len(demo.submissions):,} check-ins to replay through the check-in service"
    )
    with console.status("replaying check-ins") as status:
        loaded = load_demo_clinic(
            demo,
            factory,
            set_password=lambda uow, user_id: uow.accounts.set_password_hash(
                user_id, password_hash
            ),
            progress=lambda i, n: status.update(f"replaying check-ins: {i:,} of {n:,}"),
        )
    engine.dispose()

    history = folder / "service-history.csv"
    console.print("• writing a synthetic service history (3,000 past episodes) for the norms")
    write_demo_data(
        SyntheticParams(n_clients=3000, seed=HISTORY_SEED, paired_instrument="gad7"),
        history,
        items=False,
    )
    norms = []
    for instrument in ("phq9", "gad7"):
        model = fit_norms(history, instrument=instrument, catalogue=catalogue)
        path = folder / f"norms-{instrument}.json"
        write_norms(model, path)
        norms.append(path)
        console.print(f"• fitted {instrument} norms: {model.describe()}")
    scores = folder / "clinic-scores.csv"
    _write_clinic_scores(demo, scores, catalogue)
    out = folder / "analysis"
    console.print("• analysing the clinic's PHQ-9 and GAD-7 scores (twostep analyze)")
    run_analyze(scores, out, AnalyzeOptions(norms=tuple(norms)), catalogue, console)
    return DemoFiles(database, scores, tuple(norms), out, tuple(demo.logins), loaded, demo)


def _write_clinic_scores(demo: DemoClinic, path: Path, catalogue: Catalogue) -> None:
    """The demo clinic's PHQ-9 and GAD-7 totals in the long format (one row per check-in)."""
    rows = [s for s in demo.submissions if s.instrument_id in ("phq9", "gad7")]
    rows.sort(key=lambda s: (s.client_id, s.instrument_id, s.completed_at))
    names = {u.id: u.email.split("@")[0] for u in demo.users}
    therapist = {a.client_id: names[a.therapist_id] for a in demo.assignments}
    totals = [score_submission(catalogue.get(s.instrument_id), s.answers).total for s in rows]
    session: list[int] = []
    last: tuple[str, str] | None = None
    for s in rows:
        key = (s.client_id, s.instrument_id)
        session.append(session[-1] + 1 if key == last else 1)
        last = key
    write_csv(
        path,
        {
            "client_id": np.array([names[s.client_id] for s in rows]),
            "session": np.array(session),
            "date": np.array(
                [s.completed_at.date().isoformat() for s in rows], dtype="datetime64[D]"
            ),
            "instrument": np.array([s.instrument_id for s in rows]),
            "score": np.array([np.nan if t is None else t for t in totals]),
            "therapist_id": np.array([therapist.get(s.client_id, "") for s in rows]),
        },
    )


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
