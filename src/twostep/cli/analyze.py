"""``twostep analyze``: long-format scores in, the four tables and an HTML report out.

Options come from three places, later ones winning: the defaults of
methods.md, a ``--config`` TOML file, and the command line. The config file
uses the option names with underscores, e.g.::

    instrument = "phq9"
    rc = 6
    sg_crit2 = 0.25
    sg_crit3 = true
    [trajectory]
    plateau_window = 4

Nothing is written until the input is valid and the analysis has run; the
output files are written to a temporary folder inside ``--out`` and moved into
place at the end, so an interrupted run leaves the previous outputs intact.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from twostep.analytics.pipeline import AnalysisParams
from twostep.analytics.scale import Scale
from twostep.analytics.sudden_gains import SuddenGainParams
from twostep.analytics.trajectory import TrajectoryParams
from twostep.api import TABLES, AnalysisResult, analyze
from twostep.errors import ConfigurationError, Problem, ValidationError
from twostep.instruments.registry import Catalogue
from twostep.interop.arrow import decode_dictionaries
from twostep.interop.long_format import write_csv
from twostep.interop.norms_file import read_norms
from twostep.reports.html import ReportOptions, render_report
from twostep.reports.talking_therapies import talking_therapies_summary

#: Options that the config file may set (the CLI's, with underscores).
CONFIG_KEYS = {
    "instrument": str,
    "min": float,
    "max": float,
    "better": str,
    "rc": float,
    "reliability": float,
    "sd": float,
    "cutoff": float,
    "sg_crit1": float,
    "sg_crit2": float,
    "sg_crit3": bool,
    "sg_adjust": bool,
    "sg_alpha": float,
    "sg_first_interval": bool,
    "harmed": bool,
    "norms": list,
    "charts": int,
    "allow_extra_columns": bool,
}


@dataclass(frozen=True)
class AnalyzeOptions:
    """Every option of ``twostep analyze`` after merging config and command line."""

    instrument: str | None = None
    min: float | None = None
    max: float | None = None
    better: str | None = None
    rc: float | None = None
    reliability: float | None = None
    sd: float | None = None
    cutoff: float | None = None
    sg_crit1: float | None = None
    sg_crit2: float = 0.25
    sg_crit3: bool = True
    sg_adjust: bool = True
    sg_alpha: float = 0.05
    sg_first_interval: bool = False
    harmed: bool = False
    norms: tuple[Path, ...] = ()
    charts: int = 60
    allow_extra_columns: bool = False
    trajectory: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def load_config(path: Path) -> dict[str, Any]:
    """Read a ``--config`` TOML file; unknown keys and wrong types name the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(
            [Problem(str(path), "not_found", "config file does not exist")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError([Problem(str(path), "malformed_toml", str(exc))]) from None
    problems = []
    out: dict[str, Any] = {}
    trajectory_fields = {f.name for f in dataclasses.fields(TrajectoryParams)}
    for key, value in data.items():
        if key == "trajectory":
            if not isinstance(value, dict):
                problems.append(Problem(f"{path}: trajectory", "type", "expected a table"))
                continue
            for k in value:
                if k not in trajectory_fields:
                    problems.append(
                        Problem(
                            f"{path}: trajectory.{k}",
                            "unknown_key",
                            f"known: {sorted(trajectory_fields)}",
                        )
                    )
            out["trajectory"] = value
            continue
        kind = CONFIG_KEYS.get(key)
        if kind is None:
            problems.append(
                Problem(f"{path}: {key}", "unknown_key", "not an option of twostep analyze")
            )
            continue
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            problems.append(
                Problem(f"{path}: {key}", "type", f"expected {kind.__name__}, got {value!r}")
            )
            continue
        out[key] = tuple(Path(v) for v in value) if key == "norms" else value
    if problems:
        raise ValidationError(problems, context=f"config {path}")
    return out


def merge_options(config: Mapping[str, Any], cli: Mapping[str, Any]) -> AnalyzeOptions:
    """Defaults < config file < command line (a ``None`` on the command line means "not given")."""
    values: dict[str, Any] = dict(config)
    for key, value in cli.items():
        if value is not None and value != ():
            values[key] = value
    return AnalyzeOptions(**values)


def build_params(opts: AnalyzeOptions) -> AnalysisParams:
    try:
        trajectory = TrajectoryParams(**dict(opts.trajectory))
    except TypeError as exc:
        raise ConfigurationError(f"trajectory: {exc}") from None
    return AnalysisParams(
        sudden_gains=SuddenGainParams(
            crit1=opts.sg_crit1,
            crit2=opts.sg_crit2,
            crit3=opts.sg_crit3,
            crit3_adjust=opts.sg_adjust,
            crit3_alpha=opts.sg_alpha,
            first_interval=opts.sg_first_interval,
        ),
        trajectory=trajectory,
        harmed=opts.harmed,
    )


def custom_scale(opts: AnalyzeOptions) -> Scale | None:
    """A scale outside the catalogue from --min/--max/--better, or None."""
    given = [opts.min is not None, opts.max is not None, opts.better is not None]
    if not any(given):
        return None
    if not all(given):
        raise ConfigurationError(
            "a scale outside the catalogue needs all of --min, --max and --better"
        )
    if opts.instrument is not None:
        raise ConfigurationError("give either --instrument or --min/--max/--better, not both")
    if opts.better not in ("lower", "higher"):
        raise ConfigurationError("--better must be 'lower' or 'higher'")
    assert opts.min is not None
    assert opts.max is not None
    return Scale.custom(
        name="score",
        minimum=opts.min,
        maximum=opts.max,
        higher_is_better=opts.better == "higher",
        rc=opts.rc,
        reliability=opts.reliability,
        sd=opts.sd,
        cutoff=opts.cutoff,
        integer=float(opts.min).is_integer() and float(opts.max).is_integer(),
    )


def run_analyze(
    source: Path, out: Path, opts: AnalyzeOptions, catalogue: Catalogue, console: Console
) -> AnalysisResult:
    """Validate, analyse, then write every output atomically; returns the result."""
    params = build_params(opts)
    scale = custom_scale(opts)
    norms = [read_norms(p) for p in opts.norms]
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("reading and checking the scores", total=4)
        result = analyze(
            source,
            instrument=opts.instrument,
            scale=scale,
            params=params,
            norms=norms or None,
            catalogue=catalogue,
            rc=opts.rc if scale is None else None,
            reliability=opts.reliability if scale is None else None,
            sd=opts.sd if scale is None else None,
            cutoff=opts.cutoff if scale is None else None,
            allow_extra_columns=opts.allow_extra_columns,
        )
        progress.update(task, advance=2, description="drawing the report")
        html = render_report(
            result.analyses,
            source=source.name,
            catalogue=catalogue,
            options=ReportOptions(max_charts=opts.charts),
            talking_therapies=talking_therapies_summary(result.analyses),
        )
        progress.update(task, advance=1, description="writing the outputs")
        write_outputs(result, html, out)
        progress.update(task, advance=1)
    return result


def write_outputs(result: AnalysisResult, html: str, out: Path) -> list[Path]:
    """Write the four CSV tables (plus ruptures.csv for alliance measures) and the report.

    Files are written to a temporary folder inside ``out`` and moved into place
    only when all are complete.
    """
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".twostep-", dir=out))
    written: list[Path] = []
    try:
        for name in TABLES:
            table = decode_dictionaries(result.table(name))
            write_csv(
                tmp / f"{name}.csv",
                {n: table.column(n).combine_chunks() for n in table.column_names},
            )
        if result.ruptures is not None:
            table = decode_dictionaries(result.ruptures)
            write_csv(
                tmp / "ruptures.csv",
                {n: table.column(n).combine_chunks() for n in table.column_names},
            )
        (tmp / "report.html").write_text(html, encoding="utf-8")
        for f in sorted(tmp.iterdir()):
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
            target = out / f.name
            os.replace(f, target)
            written.append(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
