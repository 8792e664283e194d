"""The Spark engine (local mode) gives the same tables as the kernel and the local engine.

Skipped when PySpark or Java is missing, unless ``TWOSTEP_REQUIRE_SPARK=1``
(CI), which turns the skip into a failure. One Spark session serves the
module (its start-up takes ~10 s); the tests run in one xdist group.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import twostep
from twostep.errors import InputFileError
from twostep.population import fit_population_norms, run_population
from twostep.population.work import TABLES

from .conftest import canonical, read_output

pytestmark = [pytest.mark.xdist_group(name="spark"), pytest.mark.slow]


def _missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "PySpark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java 17 is not installed"
    return None


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("TWOSTEP_REQUIRE_SPARK") == "1":
            pytest.fail(f"TWOSTEP_REQUIRE_SPARK=1 but {reason}")
        pytest.skip(reason)
    from twostep.population.spark import spark_session

    session = spark_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_equals_the_kernel_and_the_local_engine(
    spark: Any, population_dir: Path, population: Path, tmp_path: Path
) -> None:
    reference = twostep.analyze(pq.read_table(population))
    summary = run_population(population_dir, tmp_path / "spark", engine="spark", buckets=4)
    assert summary.engine == "spark"
    assert summary.clients == {"gad7": 1500, "phq9": 1500}
    run_population(population, tmp_path / "local", buckets=4, workers=1)
    for name in TABLES:
        expected = canonical(reference.table(name), name)
        got = read_output(tmp_path / "spark", name)
        assert got.num_rows == expected.num_rows > 0, name
        assert got.equals(expected), name
        assert got.equals(read_output(tmp_path / "local", name)), name
    spark_report = json.loads((tmp_path / "spark" / "service.json").read_text())
    local_report = json.loads((tmp_path / "local" / "service.json").read_text())
    spark_report.pop("source"), local_report.pop("source")
    assert spark_report == local_report


def test_spark_norms_fit_equals_the_single_pass_fit(spark: Any, population: Path) -> None:
    stamp = "2026-01-01T00:00:00"
    single = twostep.fit_norms(population, instrument="phq9", created_at=stamp)
    fit = fit_population_norms(
        population, instrument="phq9", created_at=stamp, engine="spark", buckets=3
    )
    local = fit_population_norms(population, instrument="phq9", created_at=stamp, workers=1)
    assert fit.model is not None
    assert fit.model.to_dict() == single.to_dict()
    assert fit.setbacks.to_dict() == local.setbacks.to_dict()


def test_spark_reports_bad_rows(spark: Any, tmp_path: Path) -> None:
    table = pa.table(
        {
            "client_id": ["a", "a", "b"],
            "session": [1, 2, 1],
            "instrument": ["phq9"] * 3,
            "score": [20.0, 40.0, 3.0],
        }
    )
    pq.write_table(table, tmp_path / "bad.parquet")
    with pytest.raises(InputFileError, match="outside the PHQ-9 range"):
        run_population(tmp_path / "bad.parquet", tmp_path / "out", engine="spark", buckets=2)
    assert not (tmp_path / "out").exists()
