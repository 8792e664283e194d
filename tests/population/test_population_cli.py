"""`twostep population run` and `twostep norms fit` on Parquet (file or directory)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner, Result

import twostep
from twostep.cli.main import app
from twostep.interop.norms_file import read_norms, read_setback_context

from .conftest import canonical, read_output

runner = CliRunner()


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def test_population_run_writes_tables_and_service_report(
    population_dir: Path, population: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = invoke("population", "run", population_dir, "--out", out, "--buckets", "3")
    assert res.exit_code == 0, res.stderr
    assert "analysed 25,168 rows" in " ".join(res.stderr.split())
    reference = twostep.analyze(pq.read_table(population))
    assert read_output(out, "clients").equals(canonical(reference.clients, "clients"))
    run = json.loads((out / "run.json").read_text())
    assert run["buckets"] == 3
    assert run["clients"] == {"gad7": 1500, "phq9": 1500}
    assert (out / "service.html").exists()


def test_population_run_applies_norms_and_reports_errors(population: Path, tmp_path: Path) -> None:
    norms = tmp_path / "phq9.json"
    assert invoke("norms", "fit", population, "--instrument", "phq9", "--out", norms).exit_code == 0
    out = tmp_path / "out"
    res = invoke("population", "run", population, "--out", out, "--norms", norms)
    assert res.exit_code == 0, res.stderr
    model = read_norms(norms)
    reference = twostep.analyze(pq.read_table(population), norms=model)
    assert read_output(out, "sessions").equals(canonical(reference.sessions, "sessions"))
    res = invoke("population", "run", population, "--out", out, "--engine", "dask")
    assert res.exit_code == 2
    assert "unknown engine" in res.stderr
    res = invoke("population", "run", tmp_path / "missing", "--out", tmp_path / "x")
    assert res.exit_code == 2
    assert "does not exist" in res.stderr


def test_norms_fit_on_a_parquet_directory_includes_the_setback_table(
    population_dir: Path, population: Path, tmp_path: Path
) -> None:
    out = tmp_path / "norms.json"
    res = invoke(
        "norms", "fit", population_dir, "--instrument", "phq9", "--out", out, "--buckets", "4"
    )
    assert res.exit_code == 0, res.stderr
    assert "setback-context table" in res.stderr
    model = read_norms(out)
    single = twostep.fit_norms(population, instrument="phq9", created_at=model.created_at)
    assert model.to_dict() == single.to_dict()
    table = read_setback_context(out)
    assert table is not None
    assert table.instrument_id == "phq9"
    assert table.n.sum() > 0
    cells = json.loads(out.read_text())["setback_context"]["cells"]
    assert {c["t_group"] for c in cells} == {"2-4", "5-8", "9+"}
