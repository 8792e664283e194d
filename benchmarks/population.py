"""Population analytics end to end: Parquet in, the four tables and service.json out.

    python benchmarks/population.py                    # 10,000,000 scores, local engine
    python benchmarks/population.py --scores 1000000
    python benchmarks/population.py --scores 100000000 # larger than memory: streamed
    python benchmarks/population.py --engine spark --master 'local[2]'

The input is synthetic PHQ-9 scores (``twostep.synthetic``, about 11.8
administrations per client, so 10 M scores are about 850,000 clients) written
once to a Parquet directory (one file per million clients, row groups of a
million rows) and reused by later runs. What is timed is the whole
``population run``: scanning, bucketing (pass 1), validation and the kernel
per bucket, writing the Parquet parts and the service report (pass 2), and
the atomic commit. "peak" is the largest sum of the resident set sizes of
this process and its workers, sampled every 20 ms (Spark: the driver's Python
and its Python workers; the JVM is reported apart).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from twostep.population import run_population
from twostep.synthetic import SyntheticParams, generate_episodes

CLIENTS_PER_FILE = 1_000_000
SCORES_PER_CLIENT = 11.8  # sessions_mean 12 with dropouts and the 4-20 range


def make_data(root: Path, n_scores: int) -> Path:
    """Write (once) about ``n_scores`` PHQ-9 scores as a Parquet directory."""
    path = root / f"phq9-{n_scores}"
    if (path / "_done").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    written = 0
    chunk = 0
    while written < n_scores:
        # a few more clients than needed; each file is cut at a client boundary
        want = int((n_scores - written) / SCORES_PER_CLIENT * 1.1) + 10
        data = generate_episodes(
            SyntheticParams(
                n_clients=min(CLIENTS_PER_FILE, want), seed=1000 + chunk, sessions_mean=12.0
            )
        )
        ends = data.offsets[1:]
        last = int(np.searchsorted(ends, n_scores - written, side="right")) - 1
        take = int(ends[max(last, 0)])
        ids = np.char.add(f"F{chunk:03d}-", data.client_id[:take])
        table = pa.table(
            {
                "client_id": pa.array(ids),
                "session": pa.array(data.session[:take]),
                "date": pa.array(data.date[:take]),
                "instrument": pa.array(np.repeat("phq9", take)),
                "score": pa.array(data.score[:take], from_pandas=True),
                "therapist_id": pa.array(data.therapist_id[:take]),
            }
        )
        pq.write_table(table, path / f"part-{chunk:04d}.parquet", row_group_size=1_000_000)
        written += take
        chunk += 1
    (path / "_done").write_text(str(written))
    return path


def _tree_rss(pid: int) -> tuple[int, int]:
    """(Python processes, JVMs) resident bytes of ``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as fh:
                names[int(entry)] = fh.read().strip()
        except OSError:
            continue
        p = int(entry)
        children.setdefault(int(fields[1]), []).append(p)
        rss[p] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    py = jvm = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        if names.get(p) == "java":
            jvm += rss.get(p, 0)
        else:
            py += rss.get(p, 0)
        stack += children.get(p, [])
    return py, jvm


class PeakSampler:
    def __init__(self) -> None:
        self.peak_py = 0
        self.peak_jvm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            py, jvm = _tree_rss(os.getpid())
            self.peak_py = max(self.peak_py, py)
            self.peak_jvm = max(self.peak_jvm, jvm)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (pool workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scores", type=int, default=10_000_000)
    ap.add_argument("--engine", default="local", choices=["local", "spark"])
    ap.add_argument("--master", default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--buckets", type=int, default=None)
    ap.add_argument("--data", type=Path, default=Path("/tmp/twostep-bench"))
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    data = make_data(args.data, args.scores)
    n_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in data.glob("*.parquet"))
    size = sum(p.stat().st_size for p in data.glob("*.parquet"))
    print(
        f"input: {n_rows:,} scores in {data} ({size / 1e6:,.0f} MB Parquet; "
        f"prepared in {time.perf_counter() - t0:.1f} s)"
    )
    out = args.data / f"out-{args.engine}-{args.scores}"
    spark = None
    if args.engine == "spark":
        from twostep.population.spark import spark_session

        t = time.perf_counter()
        spark = spark_session(args.master or "local[2]")
        spark.sparkContext.setLogLevel("ERROR")
        print(f"spark session started in {time.perf_counter() - t:.1f} s")
    for _ in range(args.repeat):
        load = os.getloadavg()[0]
        cpu0 = _cpu_seconds()
        with PeakSampler() as peak:
            start = time.perf_counter()
            summary = run_population(
                data,
                out,
                engine=args.engine,
                workers=args.workers,
                buckets=args.buckets,
                master=args.master,
            )
            wall = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu0
        out_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        clients = sum(summary.clients.values())
        jvm = f", JVM {peak.peak_jvm / 2**30:.2f} GB" if peak.peak_jvm else ""
        print(
            f"{args.engine}: {summary.n_rows:,} scores, {clients:,} clients, "
            f"{summary.n_buckets} buckets: {wall:.2f} s wall, "
            f"{summary.n_rows / wall / 1e6:.2f} M scores/s, "
            f"peak {peak.peak_py / 2**30:.2f} GB (Python processes){jvm}; "
            f"output {out_mb:,.0f} MB; CPU {cpu:.1f} s in this process and its workers "
            f"(load average before: {load:.1f})"
        )
    if spark is not None:
        spark.stop()


if __name__ == "__main__":
    main()
