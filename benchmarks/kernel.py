"""Kernel benchmark: the full analysis of N clients x 12 PHQ-9 administrations, in process.

Run:  python benchmarks/kernel.py            (10k, 100k and 1M clients)
      python benchmarks/kernel.py --clients 1000000 --repeat 5

For each size the script generates synthetic PHQ-9 scores (12 administrations
per client, 5 % missed; generation is not timed), fits expected-response norms
on the same data (timed: target <= 10 s at 1M clients), builds the sorted
`ScoreBatch`, then times `analyze_batch` with the norms supplied: sudden gains
and losses, status/event/setback/plateau scan, ETR bands, per-client
statistics and the four result tables. Targets at 1M clients (12M scores) on
a 2-core machine: <= 1.5 s and <= 2 GB peak memory.

Memory is the process's peak resident set size (VmHWM) during the timed step,
measured after resetting the peak (Linux ``/proc/self/clear_refs``), so it
includes the input arrays that already exist; the figure "added" subtracts the
resident size before the step.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import numpy as np

from twostep.analytics.batch import ScoreBatch
from twostep.analytics.folds import client_folds
from twostep.analytics.norms import NormsAccumulator
from twostep.analytics.pipeline import analyze_batch
from twostep.analytics.scale import Scale
from twostep.instruments.registry import get_instrument
from twostep.synthetic import SyntheticParams, generate_episodes


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    # not Linux, or not permitted: the peak then covers the whole run
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def run(n_clients: int, repeat: int) -> dict[str, float]:
    data = generate_episodes(
        SyntheticParams(n_clients=n_clients, seed=7, sessions=12, missing_rate=0.05)
    )
    ids = np.repeat(np.arange(n_clients, dtype=np.int64), 12)
    scale = Scale.from_instrument(get_instrument("phq9"))
    batch = ScoreBatch.from_arrays(ids, data.score, session=data.session, date=data.date)
    del data, ids  # keep only the batch (the input of the timed step) in memory
    info = scale.scale_info()

    t0 = time.perf_counter()
    acc = NormsAccumulator(info)
    acc.add(
        batch.offsets,
        scale.severity(batch.raw),
        None,
        client_folds(batch.client_keys),
        day=batch.day,
    )
    norms = acc.fit(instrument_id="phq9", created_at="benchmark", min_episodes=300, min_scores=1500)
    fit_s = time.perf_counter() - t0
    assert norms is not None

    analyze_batch(
        batch.take_clients(np.arange(min(n_clients, 100))), scale, norms=norms
    )  # compile/warm
    times = []
    peak_kb = added_kb = 0
    for _ in range(repeat):
        before = _status_kb("VmRSS")
        _reset_peak()
        t = time.perf_counter()
        result = analyze_batch(batch, scale, norms=norms)
        times.append(time.perf_counter() - t)
        peak_kb = max(peak_kb, _status_kb("VmHWM"))
        added_kb = max(added_kb, _status_kb("VmHWM") - before)
        del result
    rows = batch.n_rows
    best = min(times)
    return {
        "clients": n_clients,
        "scores": rows,
        "best_s": best,
        "median_s": statistics.median(times),
        "scores_per_s": rows / best,
        "peak_mb": peak_kb / 1024,
        "added_mb": added_kb / 1024,
        "fit_s": fit_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'clients':>10} {'scores':>11} {'best s':>8} {'median s':>9} {'scores/s':>12} "
        f"{'peak MB':>8} {'added MB':>9} {'norm fit s':>10}"
    )
    for n in args.clients:
        r = run(n, args.repeat)
        print(
            f"{r['clients']:>10,.0f} {r['scores']:>11,.0f} {r['best_s']:>8.3f} {r['median_s']:>9.3f} "
            f"{r['scores_per_s']:>12,.0f} {r['peak_mb']:>8.0f} {r['added_mb']:>9.0f} {r['fit_s']:>10.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
