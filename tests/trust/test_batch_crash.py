"""RL-13: a population run killed at random points, then rerun, gives the same files.

`twostep population run` writes into a staging directory and renames it into
place only when everything is written (`twostep.population.run`). The test
runs it as a real process (its worker pool included, in its own process
group), kills the whole group with SIGKILL at five random moments, and after
each kill checks that the output directory is either absent or a complete
earlier run — never half-written. The last rerun must then produce files
byte-identical to an uninterrupted run, and leave no staging directories.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("batch_crash")


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _command(source: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "twostep",
        "population",
        "run",
        str(source),
        "--out",
        str(out),
        "--buckets",
        "6",
        "--workers",
        "2",
    ]


def _run(source: Path, out: Path) -> float:
    t = time.monotonic()
    done = subprocess.run(_command(source, out), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - t


def test_killed_runs_leave_no_half_output_and_the_rerun_is_identical(tmp_path: Path) -> None:
    source = tmp_path / "scores.parquet"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "twostep",
            "demo-data",
            "--out",
            str(source),
            "--clients",
            "3000",
            "--paired",
            "gad7",
            "--seed",
            "5",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    reference = tmp_path / "reference"
    took = _run(source, reference)
    expected = _files(reference)
    assert "_SUCCESS" in expected

    out = tmp_path / "runs" / "out"
    rng = random.Random(13)
    complete = None  # the files of the last run that finished, if any
    for _ in range(5):
        proc = subprocess.Popen(
            _command(source, out),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the pool's workers die with it
        )
        time.sleep(rng.uniform(0.2, took))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        if out.exists():
            files = _files(out)
            assert "_SUCCESS" in files, "a killed run left a half-written output"
            assert files == expected
            complete = files
    assert complete is None or complete == expected

    _run(source, out)
    assert _files(out) == expected
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # no staging left
