"""``twostep population run`` and the population norms fit: engines, staging and commit.

A run writes everything into a staging directory next to ``--out``
(``.<name>.staging-<id>``) and only then moves it into place, so ``--out``
holds either the previous complete result or the new one, never half a run;
a rerun after a crash removes the stale staging directory and produces the
same files (nothing in them depends on the clock, the engine or the number of
workers: buckets are a function of the client id and groups are sorted).

Output layout::

    OUT/clients/part-<bucket>.parquet        one row per client and instrument
    OUT/sessions/part-<bucket>.parquet       one row per administration
    OUT/sudden_gains/part-<bucket>.parquet   one row per event
    OUT/sudden_losses/part-<bucket>.parquet
    OUT/service.json, OUT/service.html       outcome rates (`population.service`)
    OUT/run.json                             what was run (input, engine, buckets, counts)
    OUT/_SUCCESS                             written last

Each table directory is one Parquet dataset (``pyarrow.dataset``, Spark,
DuckDB and pandas read it as one table); the columns are those of
`twostep.analyze` (design.md data contract).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twostep.analytics.norms import NormsAccumulator
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.setback_stats import SetbackCounts
from twostep.errors import ConfigurationError
from twostep.population.buckets import default_buckets
from twostep.population.local import LocalEngine
from twostep.population.service import service_html, service_report
from twostep.population.source import is_parquet, open_source
from twostep.population.work import Job, Partials, run_long

if TYPE_CHECKING:
    from twostep.population.spark import SparkEngine

ENGINES = ("local", "spark")


@dataclass(frozen=True)
class RunSummary:
    out: Path
    engine: str
    n_buckets: int
    n_rows: int
    clients: dict[str, int]


def _local(engine: str, workers: int | None) -> LocalEngine:
    if engine != "local":
        raise ConfigurationError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    return LocalEngine(workers)


def _spark(master: str | None, workers: int | None) -> SparkEngine:
    from twostep.population.spark import SparkEngine

    return SparkEngine(master=master, workers=workers)


def _staging(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    # what a crashed earlier run left behind: its staging directory, or the previous
    # output it was replacing when it died between the two renames of `_commit`
    for pattern in (f".{out.name}.staging-*", f".{out.name}.old-*"):
        for stale in out.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    path = out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def _commit(staging: Path, out: Path) -> None:
    """Move ``staging`` into place as ``out`` (replacing a previous run's output)."""
    (staging / "_SUCCESS").write_text("")
    if out.exists():
        if not (out / "run.json").exists():
            raise ConfigurationError(
                f"{out} exists and is not the output of a population run: refusing to replace it"
            )
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def run_population(
    source: Path | str,
    out: Path,
    *,
    engine: str = "local",
    instrument: str | None = None,
    norms: tuple[NormsModel, ...] = (),
    buckets: int | None = None,
    workers: int | None = None,
    master: str | None = None,
    allow_extra_columns: bool = False,
    instrument_paths: tuple[str, ...] = (),
    min_pairs: int = 2,
) -> RunSummary:
    """Analyse every client of ``source`` (Parquet file or directory) into ``out``."""
    name = str(source)  # a URI such as hdfs://… must not go through Path (it drops a slash)
    source = Path(source)
    job = Job(
        source=name,
        instrument=instrument,
        norms=norms,
        instrument_paths=instrument_paths,
        min_pairs=min_pairs,
    )
    staging = _staging(out)
    try:
        if engine == "spark":
            partials, n_buckets = _spark(master, workers).run_path(
                name, job, buckets, staging, allow_extra_columns=allow_extra_columns
            )
            engine_name = "spark"
        elif is_parquet(source):
            src = open_source(source, allow_extra_columns=allow_extra_columns)
            eng = _local(engine, workers)
            n_buckets = buckets or default_buckets(src.n_rows, eng.workers)
            partials = eng.run(src, job, n_buckets, staging / "_spill", staging)
            engine_name = eng.name
        else:
            partials, n_buckets, engine_name = _in_process(
                source, job, staging, allow_extra_columns
            )
        report = service_report(partials, source=name, min_pairs=min_pairs)
        _write_json(staging / "service.json", report)
        (staging / "service.html").write_text(service_html(report), encoding="utf-8")
        _write_json(
            staging / "run.json",
            {
                "input": name,
                "instrument": instrument,
                "norms": [m.instrument_id for m in norms],
                "buckets": n_buckets,
                "n_rows": partials.n_rows,
                "clients": dict(sorted(partials.clients.items())),
                "bucket_hash": "fnv1a64(trimmed utf-8 id) >> 32 mod buckets",
            },
        )
        _commit(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RunSummary(out, engine_name, n_buckets, partials.n_rows, dict(partials.clients))


def _in_process(
    source: Path, job: Job, out: Path | None, allow_extra_columns: bool
) -> tuple[Partials, int, str]:
    """A CSV file: read strictly into memory and run as one bucket."""
    from twostep.interop.long_format import read_long
    from twostep.population.local import write_parts

    long = read_long(source, allow_extra_columns=allow_extra_columns)
    result = run_long(long, job)
    if out is not None and job.write_tables:
        for name in result.tables:
            (out / name).mkdir(parents=True, exist_ok=True)
        write_parts(out, 0, result.tables)
    return result.partials, 1, "in-process"


@dataclass(frozen=True)
class NormsFit:
    """A population norms fit: the §4.2 model (None below the minimum data) and the §12 table."""

    model: NormsModel | None
    setbacks: SetbackCounts
    accumulator: NormsAccumulator


def fit_population_norms(
    source: Path | str,
    *,
    instrument: str,
    created_at: str,
    engine: str = "local",
    buckets: int | None = None,
    workers: int | None = None,
    master: str | None = None,
    allow_extra_columns: bool = False,
    instrument_paths: tuple[str, ...] = (),
    min_episodes: int = 300,
    min_scores: int = 1500,
) -> NormsFit:
    """Count training cells and setback episodes bucket by bucket, merge, fit once."""
    name = str(source)
    source = Path(source)
    job = Job(
        source=name,
        instrument=instrument,
        instrument_paths=instrument_paths,
        write_tables=False,
        fit_instrument=instrument,
    )
    iid = job.catalogue().get(instrument).id
    job = replace(job, instrument=iid, fit_instrument=iid)
    if engine == "spark":
        partials, _ = _spark(master, workers).run_path(
            name, job, buckets, None, allow_extra_columns=allow_extra_columns
        )
    elif is_parquet(source):
        src = open_source(source, allow_extra_columns=allow_extra_columns)
        eng = _local(engine, workers)
        n_buckets = buckets or default_buckets(src.n_rows, eng.workers)
        spill = Path(tempfile.mkdtemp(prefix="twostep-norms-"))
        try:
            partials = eng.run(src, job, n_buckets, spill, None)
        finally:
            shutil.rmtree(spill, ignore_errors=True)
    else:
        partials, _, _ = _in_process(source, job, None, allow_extra_columns)
    acc = partials.norms.get(iid)
    setbacks = partials.setbacks.get(iid)
    if acc is None or setbacks is None:
        raise ConfigurationError(f"the data have no {iid} scores")
    model = acc.fit(
        instrument_id=iid, created_at=created_at, min_episodes=min_episodes, min_scores=min_scores
    )
    return NormsFit(model, setbacks, acc)
