"""The Spark engine: the same per-bucket function through ``groupBy(bucket).applyInArrow``.

The job, on any Spark 4 cluster (``pip install 'twostep[spark]'``):

1. ``spark.read.parquet(INPUT)`` (a file or a partitioned directory; Spark
   reads it in parallel), keeping the long-format columns, plus a record id
   (``monotonically_increasing_id() + 1``) that stands in for the row number
   in error messages — Spark does not keep the input's row order, so on this
   engine a problem's "row" is that id;
2. ``mapInArrow`` adds each row's bucket with `buckets.bucket_of` — the
   same hash as the local engine, computed on Arrow batches;
3. ``groupBy(bucket).applyInArrow(f)``: each bucket arrives as one Arrow
   table and ``f`` runs `work.run_bucket` (validation and the kernel) on it,
   writes the bucket's Parquet parts into the run's staging directory and
   returns one row: the bucket and its pickled `work.Partials`;
4. the driver collects those rows (one per bucket, a few kilobytes each),
   merges the partials and writes ``service.json``.

The output directory must therefore be on storage every executor can write
(a shared mount in a cluster; any path in local mode). Executors need the
twostep package (``spark-submit --py-files`` cannot ship its numba/pyarrow
dependencies: install the wheel into the executors' Python, or use a packed
virtual environment with ``--archives``; see the README). Workers use the
driver's Python (``PYSPARK_PYTHON``) unless the cluster sets it.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from twostep.errors import ConfigurationError, InputFileError, Problem
from twostep.population.buckets import bucket_of
from twostep.population.columns import ROW, wanted_columns
from twostep.population.work import TABLES, Job, Partials

BUCKET = "__bucket"


def spark_session(master: str | None = None) -> Any:
    """The active session, or a new one (local[*] when nothing names a master)."""
    try:
        pyspark = importlib.import_module("pyspark")
        spark_sql = importlib.import_module("pyspark.sql")
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "the spark engine needs PySpark: pip install 'twostep[spark]' (and Java 17)"
        ) from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = spark_sql.SparkSession.builder.appName("twostep-population")
    if master is None and not pyspark.SparkConf().contains("spark.master"):
        master = "local[*]"
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = builder.config("spark.driver.host", "127.0.0.1").config(
                "spark.driver.bindAddress", "127.0.0.1"
            )
    return (
        builder.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


class SparkEngine:
    """Run buckets as Spark tasks (``session`` given, or built from ``master``)."""

    name = "spark"

    def __init__(
        self, master: str | None = None, workers: int | None = None, session: Any = None
    ) -> None:
        self.master = master
        self.session = session
        self.workers = workers or 2

    def run_path(
        self,
        path: str,
        job: Job,
        n_buckets: int | None,
        out: Path | None,
        *,
        allow_extra_columns: bool = False,
    ) -> tuple[Partials, int]:
        """Analyse ``path``; parts go to ``out`` (None: partials only). Returns (partials, buckets)."""
        F = importlib.import_module("pyspark.sql.functions")
        types = importlib.import_module("pyspark.sql.types")

        spark = self.session or spark_session(self.master)
        df = spark.read.parquet(path)
        cols = wanted_columns(df.columns, allow_extra_columns=allow_extra_columns, source=path)
        df = df.select(*cols).withColumn(ROW, F.monotonically_increasing_id() + F.lit(1))
        if n_buckets is None:
            parallel = int(spark.sparkContext.defaultParallelism)
            n_buckets = max(2 * parallel, -(-df.count() // 500_000))
        buckets = n_buckets
        # one shuffle partition, hence one Python task, per bucket
        spark.conf.set("spark.sql.shuffle.partitions", str(buckets))
        with_bucket = types.StructType(
            [*df.schema.fields, types.StructField(BUCKET, types.LongType(), False)]
        )

        def add_bucket(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for b in batches:
                yield pa.RecordBatch.from_arrays(
                    [*b.columns, pa.array(bucket_of(b.column("client_id"), buckets))],
                    names=[*b.schema.names, BUCKET],
                )

        target = str(out) if out is not None else None

        def per_bucket(table: pa.Table) -> pa.Table:
            import numba

            from twostep.population.work import run_bucket

            numba.set_num_threads(1)  # Spark runs one task per core
            bucket = int(table.column(BUCKET)[0].as_py())
            outcome: Partials | list[Problem]
            try:
                result = run_bucket(table.drop_columns([BUCKET]), job)
            except InputFileError as exc:
                outcome = list(exc.problems)
            else:
                outcome = result.partials
                if target is not None:
                    from twostep.population.local import write_parts

                    write_parts(Path(target), bucket, result.tables)
            return pa.table(
                {
                    "bucket": pa.array([bucket], pa.int64()),
                    "partials": pa.array([pickle.dumps(outcome)], pa.binary()),
                }
            )

        if out is not None:
            for name in TABLES:
                (out / name).mkdir(parents=True, exist_ok=True)
        rows = (
            df.mapInArrow(add_bucket, with_bucket)
            .groupBy(BUCKET)
            .applyInArrow(per_bucket, "bucket long, partials binary")
            .collect()
        )
        from twostep.population.local import merge_outcomes

        ordered = sorted(rows, key=lambda r: r["bucket"])
        # unpickling our own executors' output
        outcomes = [pickle.loads(row["partials"]) for row in ordered]
        return merge_outcomes(outcomes, path), buckets
