"""The local engine: bounded-memory streaming of hash buckets through the kernel on all cores.

Two passes over the data, both spread over a process pool (one process per
core; the kernel's own threads are set to one per process):

1. **partition** — each worker reads one slice of the input (a few row groups,
   about a million rows), adds the row numbers, computes each row's bucket
   (`buckets.bucket_of`), sorts the slice by bucket and writes it as one Arrow
   IPC file holding one record batch per bucket;
2. **analyse** — each worker takes one bucket, reads that bucket's record
   batch from every slice file (random access, nothing else is read), and runs
   `work.run_bucket` on it: validation, the kernel, the bucket's Parquet parts
   and its mergeable `Partials`, which the parent merges.

Memory is bounded by one slice or one bucket per worker, whatever the size of
the input: with ``B`` buckets a bucket holds about ``N / B`` rows. The spill
files live in the run's staging directory and go when the run ends.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from twostep.errors import InputFileError, Problem
from twostep.interop.long_format import MAX_LISTED, _row_order
from twostep.population.buckets import bucket_of
from twostep.population.columns import ROW
from twostep.population.source import Source
from twostep.population.work import TABLES, Job, Partials, run_bucket

_T = TypeVar("_T")
#: Inputs smaller than this run in the calling process.
INLINE_BELOW_ROWS = 500_000
_R = TypeVar("_R")


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    import numba

    numba.set_num_threads(1)


def partition_slice(source: Source, index: int, n_buckets: int, spill: Path) -> int:
    """Pass 1 for one slice: write ``spill/slice-<index>.arrow`` (one batch per bucket)."""
    table = source.read(source.slices[index])
    bucket = bucket_of(table.column("client_id"), n_buckets)
    order = np.argsort(bucket, kind="stable")
    table = table.take(pa.array(order))
    ends = np.searchsorted(bucket[order], np.arange(1, n_buckets + 1), side="left")
    path = spill / f"slice-{index:06d}.arrow"
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        start = 0
        for end in ends.tolist():
            part = table.slice(start, end - start)
            batch = part.combine_chunks().to_batches()
            writer.write_batch(
                batch[0] if batch else pa.RecordBatch.from_pylist([], schema=table.schema)
            )
            start = end
    return int(table.num_rows)


def read_bucket(spill: Path, n_slices: int, bucket: int) -> pa.Table:
    """Bucket ``bucket`` of every slice file, concatenated in slice order."""
    batches = []
    schema = None
    for i in range(n_slices):
        with pa.OSFile(str(spill / f"slice-{i:06d}.arrow"), "rb") as f:
            reader = ipc.open_file(f)
            schema = reader.schema
            batch = reader.get_batch(bucket)
            if batch.num_rows:
                batches.append(batch)
    assert schema is not None
    return pa.Table.from_batches(batches, schema=schema)


def analyse_bucket(
    spill: Path, n_slices: int, bucket: int, job: Job, out: Path | None
) -> Partials | list[Problem]:
    """Pass 2 for one bucket: run the kernel, write the bucket's parts, return its partials
    (or the problems of its rows, so that one run reports the problems of every bucket)."""
    table = read_bucket(spill, n_slices, bucket)
    if table.num_rows == 0:
        return Partials()
    try:
        result = run_bucket(table, job)
    except InputFileError as exc:
        return list(exc.problems)
    if out is not None:
        write_parts(out, bucket, result.tables)
    return result.partials


def merge_outcomes(outcomes: Iterable[Partials | list[Problem]], source: str) -> Partials:
    """Merge bucket partials; raise `InputFileError` with every bucket's problems, by row."""
    total = Partials()
    problems: list[Problem] = []
    for part in outcomes:
        if isinstance(part, list):
            problems += part
        elif not problems:
            total.merge(part)
    if problems:
        problems.sort(key=_row_order)
        raise InputFileError(problems[:MAX_LISTED], context=source)
    return total


def write_parts(out: Path, bucket: int, tables: Mapping[str, pa.Table]) -> None:
    """``out/<table>/part-<bucket>.parquet`` for each result table."""
    for name in TABLES:
        if name in tables:
            pq.write_table(tables[name], out / name / f"part-{bucket:05d}.parquet")


def _star(args: tuple[Callable[..., _R], tuple[object, ...]]) -> _R:
    fn, rest = args
    return fn(*rest)


class LocalEngine:
    """Run buckets on a process pool of ``workers`` processes (inline when 1)."""

    name = "local"

    def __init__(self, workers: int | None = None, *, force_pool: bool = False) -> None:
        self.workers = workers or default_workers()
        self.force_pool = force_pool
        #: wall seconds of the last run's passes ("partition", "analyse")
        self.timings: dict[str, float] = {}

    def _map(
        self,
        pool: ProcessPoolExecutor | None,
        fn: Callable[..., _R],
        args: Iterable[tuple[object, ...]],
    ) -> Iterator[_R]:
        if pool is None:
            return (fn(*a) for a in args)
        return pool.map(_star, [(fn, a) for a in args])

    def run(
        self, source: Source, job: Job, n_buckets: int, spill: Path, out: Path | None
    ) -> Partials:
        """Both passes; the parts go to ``out`` (None: partials only)."""
        spill.mkdir(parents=True, exist_ok=True)
        if out is not None:
            for name in TABLES:
                (out / name).mkdir(parents=True, exist_ok=True)
        n_slices = len(source.slices)
        pool = None
        # a pool costs a second or two of start-up (imports, compiled kernels): worth it
        # only when there is more than that to do
        if self.workers > 1 and (source.n_rows >= INLINE_BELOW_ROWS or self.force_pool):
            ctx = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker)
        try:
            start = time.perf_counter()
            list(
                self._map(
                    pool, partition_slice, ((source, i, n_buckets, spill) for i in range(n_slices))
                )
            )
            self.timings["partition"] = time.perf_counter() - start
            outcomes = self._map(
                pool, analyse_bucket, ((spill, n_slices, b, job, out) for b in range(n_buckets))
            )
            merged = merge_outcomes(outcomes, source.name)
            self.timings["analyse"] = time.perf_counter() - start - self.timings["partition"]
            return merged
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(spill, ignore_errors=True)


__all__ = ["ROW", "LocalEngine", "analyse_bucket", "partition_slice", "read_bucket"]
