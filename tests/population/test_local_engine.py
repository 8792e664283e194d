"""The local engine gives the in-process kernel's tables, row for row, and commits atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import twostep
from twostep.analytics.setback_stats import setback_counts
from twostep.errors import ConfigurationError, InputFileError
from twostep.instruments.registry import default_catalogue
from twostep.population import fit_population_norms, run_population
from twostep.population.local import LocalEngine
from twostep.population.service import SUPPRESS_BELOW
from twostep.population.source import open_source
from twostep.population.work import TABLES, Job
from twostep.reports.talking_therapies import talking_therapies_summary

from .conftest import canonical, read_output


@pytest.fixture(scope="module")
def reference(population: Path) -> twostep.AnalysisResult:
    return twostep.analyze(pq.read_table(population))


def assert_same_tables(out: Path, reference: twostep.AnalysisResult) -> None:
    for name in TABLES:
        expected = canonical(reference.table(name), name)
        got = read_output(out, name)
        assert got.schema == expected.schema, name
        assert got.num_rows == expected.num_rows > 0, name
        assert got.equals(expected), name


def test_local_engine_equals_the_in_process_kernel(
    population: Path, reference: twostep.AnalysisResult, tmp_path: Path
) -> None:
    summary = run_population(population, tmp_path / "out", buckets=5, workers=1)
    assert summary.n_buckets == 5
    assert summary.clients == {"gad7": 1500, "phq9": 1500}
    assert_same_tables(tmp_path / "out", reference)
    # one part per bucket
    assert len(list((tmp_path / "out" / "sessions").glob("part-*.parquet"))) == 5


def test_process_pool_and_partitioned_directory_give_the_same_files(
    population: Path, population_dir: Path, reference: twostep.AnalysisResult, tmp_path: Path
) -> None:
    inline = run_population(population, tmp_path / "a", buckets=3, workers=1)
    src = open_source(population_dir, slice_rows=5000)
    assert src.n_rows == inline.n_rows
    assert len(src.slices) > 2
    out = tmp_path / "b"
    job = Job(source=str(population_dir))
    staging = tmp_path / "staging"
    LocalEngine(2, force_pool=True).run(src, job, 3, tmp_path / "spill", staging)
    for name in TABLES:
        assert read_output(staging, name).equals(read_output(tmp_path / "a", name)), name
    assert not (tmp_path / "spill").exists()
    run_population(population_dir, out, buckets=3, workers=2)
    assert_same_tables(out, reference)


def test_service_rates_equal_the_in_process_talking_therapies_summary(
    population: Path, reference: twostep.AnalysisResult, tmp_path: Path
) -> None:
    run_population(population, tmp_path / "out", buckets=4, workers=1)
    report = json.loads((tmp_path / "out" / "service.json").read_text())
    summary = talking_therapies_summary(reference.analyses)
    assert summary is not None
    [service] = report["talking_therapies"]["by"]["service"]
    for name in ("recovery", "reliable_recovery", "reliable_improvement", "reliable_deterioration"):
        rate = getattr(summary.rates, name)
        cell = service[name]
        assert (cell["k"], cell["n"]) == (int(rate.numerator[0]), int(rate.denominator[0]))
        assert cell["lower"] == pytest.approx(float(rate.lower[0]), abs=1e-15)
        assert cell["upper"] == pytest.approx(float(rate.upper[0]), abs=1e-15)
    assert service["n_finished"] == int(summary.rates.n_finished[0])
    # by therapist, site and period: groups add up to the service, small cells withheld
    by = report["talking_therapies"]["by"]
    assert set(by) == {"service", "therapist", "site", "period"}
    assert {r["group"] for r in by["site"]} == {"north", "south"}
    assert all(g["group"].count("-Q") == 1 for g in by["period"])
    small = [r for r in by["therapist"] if r["recovery"]["suppressed"]]
    assert small, "some therapists have fewer than 10 finished referrals"
    for row in small:
        assert row["recovery"]["k"] is None
        assert "rate" not in row["recovery"]
    shown = [r for r in by["therapist"] if not r["recovery"]["suppressed"]]
    assert all(r["recovery"]["k"] >= SUPPRESS_BELOW for r in shown)
    phq = report["instruments"]["phq9"]["service"][0]
    clients = reference.clients.filter(pa.compute.equal(reference.clients["instrument"], "phq9"))
    improved = int(np.sum(np.asarray(clients["reliable_change"].to_pylist()) == "improved"))
    assert phq["reliable_improvement"]["k"] == improved
    html = (tmp_path / "out" / "service.html").read_text()
    assert "NHS Talking Therapies" in html
    assert "suppressed" in html


def test_rerun_replaces_the_output_with_identical_files(population: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_population(population, out, buckets=4, workers=1)
    first = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    # a crashed earlier run leaves a staging directory behind: the rerun removes it
    (tmp_path / ".out.staging-crashed").mkdir()
    run_population(population, out, buckets=4, workers=1)
    again = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert first == again
    assert (out / "_SUCCESS").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_invalid_rows_are_named_and_nothing_is_written(population: Path, tmp_path: Path) -> None:
    table = pq.read_table(population)
    score = table.column("score").to_numpy(zero_copy_only=False).copy()
    score[[10, 20]] = 99.0
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.set_column(4, "score", pa.array(score)), bad, row_group_size=1000)
    out = tmp_path / "out"
    run_population(population, out, buckets=2, workers=1)
    before = (out / "run.json").read_text()
    with pytest.raises(InputFileError) as err:
        run_population(bad, out, buckets=2, workers=1)
    text = str(err.value)
    assert "row 11, column score" in text
    assert "row 21, column score" in text
    assert (out / "run.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet", "out"]


def test_refuses_to_replace_a_directory_that_is_not_a_run(population: Path, tmp_path: Path) -> None:
    out = tmp_path / "important"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ConfigurationError):
        run_population(population, out, buckets=2, workers=1)
    assert (out / "keep.txt").exists()


def test_typed_and_text_columns_validate_alike(tmp_path: Path) -> None:
    """Dates as text go through the strict reader; the results are the same."""
    table = pa.table(
        {
            "client_id": ["a", "a", "a", "b", "b", "b"],
            "session": [1, 2, 3, 1, 2, 3],
            "date": ["2025-01-06", "2025-01-13", "2025-01-20"] * 2,
            "instrument": ["phq9"] * 6,
            "score": [20.0, 12.0, None, 15.0, 16.0, 9.0],
        }
    )
    typed = table.set_column(2, "date", pa.compute.cast(table["date"], pa.date32()))
    pq.write_table(table, tmp_path / "text.parquet")
    pq.write_table(typed, tmp_path / "typed.parquet")
    run_population(tmp_path / "text.parquet", tmp_path / "a", buckets=2, workers=1)
    run_population(tmp_path / "typed.parquet", tmp_path / "b", buckets=2, workers=1)
    for name in TABLES:
        assert read_output(tmp_path / "a", name).equals(read_output(tmp_path / "b", name))
    bad = table.set_column(2, "date", pa.array(["2025-01-06", "2025-02-30"] + ["2025-01-20"] * 4))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(InputFileError, match="row 2, column date"):
        run_population(tmp_path / "bad.parquet", tmp_path / "c", buckets=2, workers=1)


def test_norms_fit_from_buckets_equals_the_single_pass_fit(population: Path) -> None:
    single = twostep.fit_norms(population, instrument="phq9", created_at="2026-01-01T00:00:00")
    fit = fit_population_norms(
        population, instrument="phq9", created_at="2026-01-01T00:00:00", buckets=7, workers=1
    )
    assert fit.model is not None
    assert fit.model.to_dict() == single.to_dict()
    assert 1000 < fit.model.n_episodes < 1500  # early dropouts have too few scores
    # the setback-context table equals the count over the whole population at once
    ins = default_catalogue().get("phq9")
    [phq] = [a for a in twostep.analyze(population).analyses if a.scale.instrument_id == "phq9"]
    whole = setback_counts(
        phq,
        bands=[b.label for b in ins.bands],
        band_min=[b.minimum for b in ins.bands],
        band_max=[b.maximum for b in ins.bands],
    )
    assert fit.setbacks.bands == whole.bands
    assert fit.setbacks.n.tolist() == whole.n.tolist()
    assert fit.setbacks.successes.tolist() == whole.successes.tolist()
    assert whole.n.sum() > 100
    assert 0 < whole.successes.sum() < whole.n.sum()


def test_a_csv_file_runs_in_process_as_one_bucket(population: Path, tmp_path: Path) -> None:
    from twostep.interop.long_format import write_csv

    table = pq.read_table(population).slice(0, 3000)
    csv = tmp_path / "scores.csv"
    write_csv(csv, {name: table.column(name) for name in table.column_names})
    summary = run_population(csv, tmp_path / "out")
    assert summary.engine == "in-process"
    assert summary.n_buckets == 1
    reference = twostep.analyze(csv)
    for name in TABLES:
        assert read_output(tmp_path / "out", name).equals(canonical(reference.table(name), name))
