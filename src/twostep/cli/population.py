"""``twostep population run`` and the engine-backed ``twostep norms fit``.

Both hand the work to `twostep.population`; this module parses options,
prints what happened and maps errors to exit codes (through
`twostep.cli.main.handle_errors`).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from twostep.cli import main as cli

population_app = typer.Typer(
    help="Population analytics over a whole service's data (Parquet; local or Spark engine).",
    no_args_is_help=True,
)

ENGINE_HELP = "local (this machine, all cores, bounded memory) or spark (a Spark cluster)."
BUCKETS_HELP = "Hash buckets of clients (default: about 500,000 rows each, at least 2 per worker)."
MASTER_HELP = "Spark master URL (default: the usual Spark configuration, else local[*])."
WORKERS_HELP = "Local engine: worker processes (default: one per core)."


@population_app.command("run")
@cli.handle_errors
def population_run(
    source: str = typer.Argument(
        ...,
        help="Long-format scores: a Parquet file or a directory of Parquet files "
        "(with --engine spark: any path Spark reads, e.g. hdfs://…).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (replaced atomically)."),
    engine: str = typer.Option("local", help=ENGINE_HELP),
    norms: list[Path] | None = typer.Option(
        None, "--norms", help="Fitted norms file (repeat per instrument)."
    ),
    instrument: str | None = typer.Option(
        None, help="Catalogue id when the data have no instrument column (or to pick one)."
    ),
    buckets: int | None = typer.Option(None, min=1, help=BUCKETS_HELP),
    master: str | None = typer.Option(None, help=MASTER_HELP),
    workers: int | None = typer.Option(None, min=1, help=WORKERS_HELP),
    allow_extra_columns: bool = typer.Option(
        False, "--allow-extra-columns/--strict-columns", help="Ignore unknown columns."
    ),
) -> None:
    """Analyse every client: clients/sessions/sudden_gains/sudden_losses as Parquet, plus
    service.json and service.html (NHS Talking Therapies-style rates, 95 % Wilson intervals,
    by therapist/site/period, cells under 10 suppressed)."""
    from twostep.interop.norms_file import read_norms
    from twostep.population import run_population

    s = cli.settings()
    models = tuple(read_norms(p) for p in norms or ())
    start = time.perf_counter()
    summary = run_population(
        source,
        out,
        engine=engine,
        instrument=instrument,
        norms=models,
        buckets=buckets,
        workers=workers,
        master=master,
        allow_extra_columns=allow_extra_columns,
        instrument_paths=tuple(str(p) for p in s.instrument_paths),
    )
    seconds = time.perf_counter() - start
    console = Console(stderr=True)
    clients = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.clients.items()))
    console.print(
        f"analysed {summary.n_rows:,} rows ({escape(clients)} clients) with the "
        f"{summary.engine} engine in {summary.n_buckets} buckets, {seconds:.1f} s; "
        f"wrote {escape(str(out))}/"
    )


def fit_norms_command(
    source: str,
    *,
    instrument: str,
    out: Path,
    min_episodes: int,
    min_scores: int,
    engine: str,
    buckets: int | None,
    master: str | None,
    workers: int | None = None,
) -> None:
    """The body of ``twostep norms fit``: one pass, mergeable partials, one fit."""
    from twostep.errors import ConfigurationError
    from twostep.interop.norms_file import write_norms
    from twostep.population import fit_population_norms

    s = cli.settings()
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    fit = fit_population_norms(
        source,
        instrument=instrument,
        created_at=stamp,
        engine=engine,
        buckets=buckets,
        workers=workers,
        master=master,
        instrument_paths=tuple(str(p) for p in s.instrument_paths),
        min_episodes=min_episodes,
        min_scores=min_scores,
    )
    model = fit.model
    if model is None:
        acc = fit.accumulator
        raise ConfigurationError(
            f"too little data to fit {instrument} norms: {acc.n_episodes} episodes and "
            f"{acc.n_scores} scores after intake; methods.md §4.2 asks for at least "
            f"{min_episodes} episodes and {min_scores} scores (until then the rule-based "
            "fallback of §4.3 is used)"
        )
    write_norms(model, out, setback_context=fit.setbacks.to_dict())
    console = Console(stderr=True)
    console.print(escape(model.describe()))
    if not model.coverage.passed:
        console.print(
            "[yellow]warning:[/] the coverage check failed: the 90th percentile does not hold "
            "10 % ± 2 % of held-out scores; treat not-on-track signals from these norms with care"
        )
    shown = sum(1 for row in fit.setbacks.rows() if row["shown"])
    console.print(
        f"setback-context table: {int(fit.setbacks.n.sum()):,} episode-groups with a setback, "
        f"{shown} of {len(fit.setbacks.rows())} cells with at least 30 episodes"
    )
    console.print(f"wrote {escape(str(out))}")
