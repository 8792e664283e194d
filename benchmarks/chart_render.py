"""Client chart rendering: CPU milliseconds per chart, cache bypassed.

Run:  python benchmarks/chart_render.py [--sessions 30] [--charts 200]

Builds one PHQ-9 series of ``--sessions`` sessions with everything the chart
can draw (expected band and median, the normal-fluctuation band, the
clinical cut-off, missed administrations, sudden gains and losses, setbacks,
reliable deterioration and stressors), then calls the renderer behind
`client_chart_svg` (`_render`, so the content cache does not hide the work)
``--charts`` times with a different title each time, printing process CPU ms
and wall ms per chart and the size of one SVG.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from twostep.reports import charts
from twostep.reports.charts import ClientSeries


def full_series(n: int, title: str = "C001 — PHQ-9") -> ClientSeries:
    """A PHQ-9 series of ``n`` sessions with every band and marker the chart knows."""
    rng = np.random.default_rng(7)
    score = np.clip(np.linspace(21, 7, n) + rng.normal(0, 2.5, n), 0, 27).round()
    score[rng.random(n) < 0.08] = np.nan
    best = np.full(n, np.nan)
    running = np.nan
    for i in range(n):
        best[i] = running
        if np.isfinite(score[i]):
            running = score[i] if np.isnan(running) else min(running, score[i])
    median = np.linspace(20, 11, n)
    idx = np.flatnonzero(np.isfinite(score))
    pick = idx[:: max(1, idx.size // 4)]
    return ClientSeries(
        title=title,
        measure="PHQ-9",
        session=np.arange(1, n + 1, dtype=np.int64),
        score=score,
        higher_is_better=False,
        minimum=0.0,
        maximum=27.0,
        rc=6.0,
        cutoff=10.0,
        best_before=best,
        expected_low=median - 4,
        expected_high=median + 4,
        expected_median=median,
        gains=pick[1:2],
        losses=pick[2:3],
        setbacks=pick[2:3],
        deteriorated=pick[3:4],
        stressors=np.array([n / 3 + 0.5, 2 * n / 3]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--charts", type=int, default=200)
    args = parser.parse_args()
    many = [full_series(args.sessions, f"C{i:04d} — PHQ-9") for i in range(args.charts)]
    svg = charts._render(many[0], 6.4, 2.8, "c")  # warm-up (imports, fonts)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for s in many:
        charts._render(s, 6.4, 2.8, "c")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(
        f"{args.charts} charts of {args.sessions} sessions (all bands and markers): "
        f"{cpu / args.charts * 1000:.2f} ms CPU, {wall / args.charts * 1000:.2f} ms wall per chart; "
        f"SVG {len(svg.encode()):,} bytes"
    )


if __name__ == "__main__":
    main()
