"""Scoring benchmark: 1,000,000 PHQ-9 item rows scored in one vectorised call.

Run:  python benchmarks/scoring.py [--rows 1000000]

Generates random valid PHQ-9 answers (10 items including the unscored
difficulty item; 2 % single missing items to exercise prorating), then times
`score_matrix` with validation on and off, printing rows/s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import numpy.typing as npt

from twostep.instruments.model import Instrument
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import score_matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ins = get_instrument("phq9")
    rng = np.random.default_rng(0)
    answers = rng.integers(0, 4, size=(args.rows, len(ins.items))).astype(np.float64)
    holes = rng.random(args.rows) < 0.02
    answers[holes, rng.integers(0, 8, size=int(holes.sum()))] = np.nan
    score_matrix(ins, answers[:10])
    for validate in (True, False):
        best = min(_time(ins, answers, validate) for _ in range(args.repeat))
        label = "with validation" if validate else "without validation"
        print(f"{args.rows:,} PHQ-9 rows {label}: {best:.3f} s ({args.rows / best:,.0f} rows/s)")


def _time(ins: Instrument, answers: npt.NDArray[np.float64], validate: bool) -> float:
    t = time.perf_counter()
    table = score_matrix(ins, answers, validate=validate)
    elapsed = time.perf_counter() - t
    assert len(table) == answers.shape[0]
    return elapsed


if __name__ == "__main__":
    main()
