"""``twostep demo``: the main job on the embedded default, end to end.

It writes a synthetic service history and a current caseload (PHQ-9 paired
with GAD-7, item responses included), fits expected-response norms for both
measures from the history, and runs ``twostep analyze`` on the caseload with
those norms. Everything is deterministic (fixed seeds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from twostep.api import fit_norms
from twostep.cli.analyze import AnalyzeOptions, run_analyze
from twostep.cli.demo_data import write_demo_data
from twostep.instruments.registry import Catalogue
from twostep.interop.norms_file import write_norms
from twostep.synthetic import SyntheticParams

HISTORY_SEED = 1
CASELOAD_SEED = 2026


@dataclass(frozen=True)
class DemoFiles:
    scores: Path
    history: Path
    norms: tuple[Path, ...]
    out: Path


def run_demo(
    folder: Path, catalogue: Catalogue, console: Console, *, clients: int = 300
) -> DemoFiles:
    """Create the demo data, norms and analysis under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    history = folder / "service-history.csv"
    scores = folder / "caseload-scores.csv"
    console.print("• writing a synthetic service history (3,000 past episodes) for the norms")
    write_demo_data(
        SyntheticParams(n_clients=3000, seed=HISTORY_SEED, paired_instrument="gad7"),
        history,
        items=False,
    )
    console.print(
        f"• writing the current caseload: {clients} clients, PHQ-9 and GAD-7 with item answers"
    )
    write_demo_data(
        SyntheticParams(
            n_clients=clients, seed=CASELOAD_SEED, paired_instrument="gad7", items=True
        ),
        scores,
        items=True,
    )
    norms = []
    for instrument in ("phq9", "gad7"):
        model = fit_norms(history, instrument=instrument, catalogue=catalogue)
        path = folder / f"norms-{instrument}.json"
        write_norms(model, path)
        norms.append(path)
        console.print(f"• fitted {instrument} norms: {model.describe()}")
    out = folder / "analysis"
    console.print("• analysing the caseload (twostep analyze)")
    run_analyze(scores, out, AnalyzeOptions(norms=tuple(norms)), catalogue, console)
    return DemoFiles(scores, history, tuple(norms), out)
