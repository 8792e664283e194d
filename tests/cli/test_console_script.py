"""The installed `twostep` console script, run as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def twostep_executable() -> str:
    found = shutil.which("twostep", path=str(Path(sys.executable).parent))
    if found is None:  # pragma: no cover - the package is installed in the venv
        pytest.fail("the twostep console script is not installed next to this Python")
    return found


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [twostep_executable(), *(str(a) for a in args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_console_script_demo_data_then_analyze(tmp_path: Path) -> None:
    data = tmp_path / "scores.csv"
    res = run("demo-data", "--clients", "12", "--seed", "1", "--out", data, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "results"
    res = run("analyze", data, "--instrument", "phq9", "--out", out, "--charts", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "clients.csv", "report.html", "sessions.csv", "sudden_gains.csv", "sudden_losses.csv"
    ]  # fmt: skip
    assert "open the report: file://" in res.stderr
    assert res.stdout == ""


def test_console_script_bad_input_exit_2_one_message_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("client_id,session,score\nA,1,5\nA,2,N/A\n", encoding="utf-8")
    res = run("analyze", bad, "--instrument", "phq9", "--out", tmp_path / "out", cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "row 3, column score" in res.stderr
    assert not (tmp_path / "out").exists()

    res = run(
        "analyze",
        tmp_path / "missing.csv",
        "--instrument",
        "phq9",
        "--out",
        tmp_path / "out",
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 2  # "error: 1 problem" and the problem
    assert "does not exist" in lines[1]


def test_console_script_instruments_list(tmp_path: Path) -> None:
    res = run("instruments", "list", cwd=tmp_path)
    assert res.returncode == 0
    assert "phq9" in res.stdout
    assert "wai_sr" in res.stdout


def test_python_dash_m(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "twostep", "instruments", "show", "gad7"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert res.returncode == 0, res.stderr
    assert "GAD-7" in res.stdout
