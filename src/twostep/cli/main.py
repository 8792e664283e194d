"""The ``twostep`` command: wiring of the sub-commands and error handling.

Every command maps twostep's errors to exit code 2 with a one-line message on
standard error (no traceback); unexpected errors keep their traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from twostep.config import Settings, load_settings
from twostep.errors import ConfigurationError, TwostepError, ValidationError
from twostep.instruments.registry import Catalogue

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="twostep",
    help="Measurement-based psychotherapy care that understands nonlinear progress.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
instruments_app = typer.Typer(help="The instrument catalogue.", no_args_is_help=True)
app.add_typer(instruments_app, name="instruments")
norms_app = typer.Typer(help="Expected-response norms (methods.md §4.2).", no_args_is_help=True)
app.add_typer(norms_app, name="norms")
db_app = typer.Typer(
    help="The records database: migrations and schema revision.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
# the commands of these three are defined in twostep.cli.records (imported at the end)
import_app: typer.Typer = typer.Typer(
    help="Import records: long-format scores, FHIR QuestionnaireResponses.", no_args_is_help=True
)
app.add_typer(import_app, name="import")
export_app: typer.Typer = typer.Typer(
    help="Export records: scores (Parquet/CSV), a client's FHIR Bundle.", no_args_is_help=True
)
app.add_typer(export_app, name="export")
fhir_app: typer.Typer = typer.Typer(
    help="FHIR R4 definitions of the catalogue.", no_args_is_help=True
)
app.add_typer(fhir_app, name="fhir")

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` to standard error and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def fail_validation(exc: ValidationError) -> typer.Exit:
    """One line per problem, so that a long list stays readable."""
    head = f"{exc.context}: " if exc.context else ""
    n = len(exc.problems)
    err.print(
        f"[bold red]error:[/] {escape(head)}{n} problem{'s' if n != 1 else ''}",
        highlight=False,
        soft_wrap=True,
    )
    for p in exc.problems[:50]:
        line = f"  - {p.where}: {p.message} [{p.code}]"
        err.print(escape(line), highlight=False, soft_wrap=True)
    if n > 50:
        err.print(f"  … and {n - 50} more", highlight=False)
    return typer.Exit(2)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn twostep's own errors into a clean message and exit code 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            raise fail_validation(exc) from None
        except TwostepError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            sys.exit(130)

    return wrapper


def settings() -> Settings:
    return load_settings()


def catalogue(s: Settings | None = None) -> Catalogue:
    s = s or settings()
    return Catalogue.load(extra_dirs=s.instrument_paths)


@instruments_app.command("list")
@handle_errors
def instruments_list() -> None:
    """List every instrument in the catalogue."""
    from twostep.cli.render import catalogue_table

    out.print(catalogue_table(catalogue()))


@instruments_app.command("show")
@handle_errors
def instruments_show(
    instrument_id: str = typer.Argument(..., help="Instrument id, e.g. phq9."),
) -> None:
    """Show one instrument: items, scoring, cut-offs, sources and licence."""
    from twostep.cli.render import instrument_panel

    out.print(instrument_panel(catalogue().get(instrument_id)))


@db_app.command("upgrade")
@handle_errors
def db_upgrade(
    url: str | None = typer.Option(
        None, "--url", help="Database URL (default: TWOSTEP_DATABASE_URL or the SQLite file)."
    ),
) -> None:
    """Migrate the database to the newest schema (creating it if needed).

    The encryption keys (TWOSTEP_ENCRYPTION_KEYS) seal values that a migration
    encrypts; the development key outside production, as the app uses.
    """
    from twostep.cli.db import upgrade_database
    from twostep.storage.encryption import KeyRing

    config = settings()
    target = url if url is not None else config.database_url
    upgrade_database(target, err, KeyRing.from_settings(config))


@db_app.command("current")
@handle_errors
def db_current(
    url: str | None = typer.Option(
        None, "--url", help="Database URL (default: TWOSTEP_DATABASE_URL or the SQLite file)."
    ),
) -> None:
    """Print the database's schema revision and whether it is the newest."""
    from twostep.cli.db import show_revision

    show_revision(url if url is not None else settings().database_url, out)


@app.command("demo-data")
@handle_errors
def demo_data(
    out: Path = typer.Option(..., "--out", "-o", help="File to write (.csv or .parquet)."),
    instrument: str = typer.Option("phq9", help="Catalogue id of the measure."),
    clients: int = typer.Option(1000, min=1, help="Number of clients (episodes)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same data."),
    sessions: int | None = typer.Option(
        None, min=1, help="Exactly this many administrations per client (default: 4-20)."
    ),
    items: bool = typer.Option(False, "--items/--no-items", help="Also write item responses."),
    paired: str | None = typer.Option(
        None, help="Add a second measure at every contact, e.g. gad7 with phq9."
    ),
    missing: float = typer.Option(0.05, min=0.0, max=0.9, help="Share of missed administrations."),
) -> None:
    """Write realistic synthetic therapy scores in the long format (see docs/synthetic-data.md)."""
    from twostep.cli.demo_data import write_demo_data
    from twostep.synthetic import SyntheticParams

    cat = catalogue()
    cat.get(instrument)
    if paired is not None:
        cat.get(paired)
    params = SyntheticParams(
        n_clients=clients,
        seed=seed,
        instrument=instrument,
        paired_instrument=paired,
        items=items,
        sessions=sessions,
        missing_rate=missing,
    )
    rows, n = write_demo_data(params, out, items=items)
    out_console = Console(stderr=True)
    out_console.print(f"wrote {rows:,} rows for {n:,} clients to {out}")


@norms_app.command("fit")
@handle_errors
def norms_fit(
    source: str = typer.Argument(
        ..., help="Long-format scores of past episodes (CSV, Parquet, or a Parquet directory)."
    ),
    instrument: str = typer.Option(..., help="Catalogue id, e.g. phq9."),
    out: Path = typer.Option(..., "--out", "-o", help="The norms file to write (JSON)."),
    min_episodes: int = typer.Option(
        300, min=1, help="Fewest episodes to fit on (methods.md: 300)."
    ),
    min_scores: int = typer.Option(
        1500, min=1, help="Fewest scores after intake (methods.md: 1,500)."
    ),
    engine: str = typer.Option("local", help="local or spark (Parquet input)."),
    buckets: int | None = typer.Option(None, min=1, help="Hash buckets of clients."),
    master: str | None = typer.Option(None, help="Spark master URL."),
) -> None:
    """Fit the quantile expected-response model (with its cross-validated coverage check) and
    the setback-context table (methods.md §12) in one pass over CSV, Parquet or a directory."""
    from twostep.cli.population import fit_norms_command

    fit_norms_command(
        source,
        instrument=instrument,
        out=out,
        min_episodes=min_episodes,
        min_scores=min_scores,
        engine=engine,
        buckets=buckets,
        master=master,
    )


@app.command("serve")
@handle_errors
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8000)."),
    workers: int = typer.Option(1, min=1, help="Worker processes (sessions live in the database)."),
) -> None:
    """Run the web app (JSON API under /api/v1 and the pages) with uvicorn."""
    run_server(settings(), host=host, port=port, workers=workers)


def run_server(
    s: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1
) -> None:
    """Check the settings and the schema, then serve ``s`` with uvicorn until interrupted."""
    import os

    import uvicorn

    from twostep.config import require_production_ready
    from twostep.storage.migrate import current, head

    require_production_ready(s)
    if current(s.database_url) != head():
        raise ConfigurationError(
            "the database schema is not current: run `twostep db upgrade` first"
        )
    # the worker processes build the app from the environment (twostep.web.serve)
    os.environ["TWOSTEP_DATABASE_URL"] = s.database_url
    if s.norms_paths:
        os.environ["TWOSTEP_NORMS_PATHS"] = json.dumps([str(p) for p in s.norms_paths])
    if s.require_staff_mfa is not None:
        os.environ["TWOSTEP_REQUIRE_STAFF_MFA"] = "true" if s.require_staff_mfa else "false"
    uvicorn.run(
        "twostep.web.serve:app",
        host=host or s.host,
        port=port or s.port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        log_level="warning",
    )


@app.command("demo")
@handle_errors
def demo(
    folder: Path = typer.Option(
        Path("twostep-demo"), "--out", "-o", help="Folder for the demo database, norms and report."
    ),
    serve_app: bool = typer.Option(
        True, "--serve/--no-serve", help="Start the web app on the demo clinic afterwards."
    ),
    host: str = typer.Option("127.0.0.1", help="Address the web app listens on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port of the web app."),
) -> None:
    """Set up the demo clinic (database, logins), fit norms, write the report, start the app."""
    from twostep.cli.demo import DEMO_PASSWORD, run_demo

    console = Console(stderr=True)
    files = run_demo(folder, catalogue(), console)
    report = (files.out / "report.html").resolve()
    console.print(
        f"\n[bold]Done.[/] Demo clinic database: {escape(str(files.database))} "
        f"({files.loaded.submissions:,} check-ins, {files.loaded.clients} clients)\n"
        f"Report: {escape(report.as_uri())}\n"
        f"Tables: {escape(str(files.out))}/clients.csv, sessions.csv, sudden_gains.csv, "
        "sudden_losses.csv\n"
    )
    console.print(f"Demo logins (password for all: [bold]{escape(DEMO_PASSWORD)}[/]):")
    for role, email, name in files.logins:
        console.print(f"  {role:<10} {escape(email):<36} {escape(name)}")
    if not serve_app:
        return
    console.print(
        f"\n[bold]The web app is starting at http://{host}:{port}/[/] "
        "— sign in with a login above; Ctrl+C stops it."
    )
    demo_settings = settings().model_copy(
        update={
            "database_url": f"sqlite:///{files.database.resolve()}",
            "norms_paths": [p.resolve() for p in files.norms],
            "require_staff_mfa": False,  # the printed logins sign in with passwords only
        }
    )
    run_server(demo_settings, host=host, port=port)


@app.command("analyze")
@handle_errors
def analyze_command(
    source: Path = typer.Argument(..., help="Long-format scores (CSV or Parquet)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the tables and report.html."),
    instrument: str | None = typer.Option(
        None, help="Catalogue id when the file has no instrument column (or to pick one)."
    ),
    minimum: float | None = typer.Option(
        None, "--min", help="Lowest possible score (scale outside the catalogue)."
    ),
    maximum: float | None = typer.Option(
        None, "--max", help="Highest possible score (scale outside the catalogue)."
    ),
    better: str | None = typer.Option(
        None, help="'lower' or 'higher': which end is better (scale outside the catalogue)."
    ),
    rc: float | None = typer.Option(
        None, help="Fixed reliable-change threshold in points (|change| >= rc)."
    ),
    reliability: float | None = typer.Option(
        None, help="Reliability for a Jacobson–Truax threshold (with --sd)."
    ),
    sd: float | None = typer.Option(
        None, help="Pre-treatment or normative SD for a Jacobson–Truax threshold."
    ),
    cutoff: float | None = typer.Option(None, help="Clinical cut-off (replaces the instrument's)."),
    sg_crit1: float | None = typer.Option(
        None, help="Sudden-gain criterion 1 in points (default: the RC)."
    ),
    sg_crit2: float | None = typer.Option(
        None, help="Sudden-gain criterion 2 share of the pregain score (0.25)."
    ),
    sg_crit3: bool | None = typer.Option(
        None, "--sg-crit3/--no-sg-crit3", help="Apply sudden-gain criterion 3 (on)."
    ),
    sg_adjust: bool | None = typer.Option(
        None,
        "--sg-adjust/--no-sg-adjust",
        help="Adjust criterion-3 critical values for missing sessions (on).",
    ),
    sg_alpha: float | None = typer.Option(
        None, help="Alpha of the criterion-3 critical values: 0.05, 0.01 or 0.001."
    ),
    sg_first_interval: bool | None = typer.Option(
        None,
        "--sg-first-interval/--no-sg-first-interval",
        help="Also examine the 1st->2nd interval (only identifiable without criterion 3).",
    ),
    harmed: bool | None = typer.Option(
        None, "--harmed/--no-harmed", help="Add the 'harmed' category."
    ),
    norms: list[Path] | None = typer.Option(
        None, "--norms", help="Fitted norms file (repeat per instrument)."
    ),
    charts: int | None = typer.Option(None, min=0, help="Most client charts in report.html (60)."),
    allow_extra_columns: bool | None = typer.Option(
        None,
        "--allow-extra-columns/--strict-columns",
        help="Ignore unknown columns instead of failing.",
    ),
    config: Path | None = typer.Option(
        None, "--config", help="TOML file with any of these options."
    ),
) -> None:
    """Analyse long-format scores: tables (CSV) and a self-contained report.html."""
    from twostep.cli.analyze import load_config, merge_options, run_analyze

    s = settings()
    base = load_config(config) if config is not None else {}
    cli = {
        "instrument": instrument,
        "min": minimum,
        "max": maximum,
        "better": better,
        "rc": rc,
        "reliability": reliability,
        "sd": sd,
        "cutoff": cutoff,
        "sg_crit1": sg_crit1,
        "sg_crit2": sg_crit2,
        "sg_crit3": sg_crit3,
        "sg_adjust": sg_adjust,
        "sg_alpha": sg_alpha,
        "sg_first_interval": sg_first_interval,
        "harmed": harmed,
        "norms": tuple(norms) if norms else None,
        "charts": charts
        if charts is not None
        else (None if "charts" in base else s.max_report_charts),
        "allow_extra_columns": allow_extra_columns,
    }
    opts = merge_options(base, cli)
    console = Console(stderr=True)
    result = run_analyze(source, out, opts, catalogue(s), console)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    n_clients = sum(a.batch.n_clients for a in result.analyses)
    names = ", ".join(a.scale.name for a in result.analyses)
    console.print(
        f"analysed {n_clients:,} client episodes ({names}); wrote clients.csv, sessions.csv, "
        f"sudden_gains.csv, sudden_losses.csv and report.html to {out}/"
    )
    console.print(f"open the report: {(out / 'report.html').resolve().as_uri()}")


# registers `import`, `export` and `fhir` commands on the apps above (it imports this module)
from twostep.cli import records as _records  # noqa: E402

del _records
from twostep.cli import admin_ops as _admin_ops  # noqa: E402,F401  (audit, keys, backup, gdpr)

# `twostep population ...` (twostep.cli.population imports this module)
from twostep.cli.population import population_app as _population_app  # noqa: E402

app.add_typer(_population_app, name="population")

# `twostep maintenance purge` (twostep.cli.maintenance imports this module)
from twostep.cli.maintenance import maintenance_app as _maintenance_app  # noqa: E402

app.add_typer(_maintenance_app, name="maintenance")


def main() -> None:  # pragma: no cover - console entry point
    app()
