"""`twostep demo-data`, `twostep norms fit` and `twostep demo`."""

from __future__ import annotations

import csv
import itertools
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from twostep.cli.main import app
from twostep.interop.long_format import read_long
from twostep.interop.norms_file import read_norms

runner = CliRunner()
PHQ9_ITEMS = [f"item_{i}" for i in range(1, 11)]


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def assert_sorted_blocks(rows: list[dict[str, str]], instruments: list[str]) -> None:
    """Each instrument is one block (in the given order), sorted by client then session."""
    order = [r["instrument"] for r in rows]
    blocks = [order[0]] + [b for a, b in itertools.pairwise(order) if a != b]
    assert blocks == instruments
    for iid in instruments:
        keys = [(r["client_id"], int(r["session"])) for r in rows if r["instrument"] == iid]
        assert keys == sorted(keys)
        assert len(set(keys)) == len(keys)


# ------------------------------------------------------------------ demo-data


def test_demo_data_paired_items_fixed_sessions(tmp_path: Path) -> None:
    out = tmp_path / "data" / "scores.csv"
    res = invoke(
        "demo-data", "--instrument", "phq9", "--clients", "5", "--items",
        "--paired", "gad7", "--sessions", "12", "--seed", "3", "--out", out,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "wrote 120 rows for 5 clients" in res.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["scores.csv"]  # no partial file
    rows = read_rows(out)
    assert list(rows[0]) == [
        "client_id", "session", "date", "instrument", "score", "therapist_id", *PHQ9_ITEMS
    ]  # fmt: skip
    assert len(rows) == 120
    assert_sorted_blocks(rows, ["phq9", "gad7"])
    for iid in ("phq9", "gad7"):
        per_client: dict[str, list[int]] = {}
        for r in rows:
            if r["instrument"] == iid:
                per_client.setdefault(r["client_id"], []).append(int(r["session"]))
        assert len(per_client) == 5
        assert all(s == list(range(1, 13)) for s in per_client.values())
    gad = [r for r in rows if r["instrument"] == "gad7"]
    assert all(r["item_8"] == r["item_9"] == r["item_10"] == "" for r in gad)
    assert any(r["item_9"] != "" for r in rows if r["instrument"] == "phq9")
    # the file is valid long format and its items match its scores
    res = invoke("analyze", out, "--out", tmp_path / "analysis", "--charts", "0")
    assert res.exit_code == 0, res.stderr


def test_demo_data_defaults_have_no_items(tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    res = invoke("demo-data", "--clients", "8", "--out", out)
    assert res.exit_code == 0, res.stderr
    rows = read_rows(out)
    assert list(rows[0]) == ["client_id", "session", "date", "instrument", "score", "therapist_id"]
    assert {r["instrument"] for r in rows} == {"phq9"}
    assert len({r["client_id"] for r in rows}) == 8
    assert_sorted_blocks(rows, ["phq9"])
    table = read_long(out)
    assert len(table) == len(rows)


def test_demo_data_is_deterministic(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    assert invoke("demo-data", "--clients", "6", "--seed", "4", "--out", a).exit_code == 0
    assert invoke("demo-data", "--clients", "6", "--seed", "4", "--out", b).exit_code == 0
    assert invoke("demo-data", "--clients", "6", "--seed", "5", "--out", c).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_demo_data_parquet(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    res = invoke(
        "demo-data", "--instrument", "ors", "--clients", "4", "--sessions", "5", "--out", out
    )
    assert res.exit_code == 0, res.stderr
    table = pq.read_table(out)
    assert table.num_rows == 20
    assert set(table.column("instrument").to_pylist()) == {"ors"}
    long = read_long(out)
    assert long.score is not None
    assert len(long) == 20


@pytest.mark.parametrize(
    "args",
    [
        ["--instrument", "bdi"],
        ["--paired", "bdi"],
        ["--clients", "0"],
        ["--sessions", "0"],
        ["--missing", "0.95"],
    ],
)
def test_demo_data_bad_options_exit_2(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "scores.csv"
    res = invoke("demo-data", *args, "--out", out)
    assert res.exit_code == 2
    assert "Traceback" not in res.stderr
    assert not out.exists()


# ------------------------------------------------------------------ norms fit


def test_norms_fit_on_too_little_data_explains_the_minimum(tmp_path: Path) -> None:
    data = tmp_path / "history.csv"
    assert invoke("demo-data", "--clients", "20", "--out", data).exit_code == 0
    out = tmp_path / "norms.json"
    res = invoke("norms", "fit", data, "--instrument", "phq9", "--out", out)
    assert res.exit_code == 2
    message = " ".join(res.stderr.split())
    assert "too little data" in message
    assert "at least 300 episodes and 1500 scores" in message
    assert re.search(r"\d+ episodes and \d+ scores after intake", message)
    assert not out.exists()


def test_norms_fit_writes_a_valid_file(tmp_path: Path) -> None:
    data = tmp_path / "history.csv"
    assert invoke("demo-data", "--clients", "60", "--seed", "9", "--out", data).exit_code == 0
    out = tmp_path / "norms" / "phq9.json"
    res = invoke(
        "norms", "fit", data, "--instrument", "phq9", "--out", out,
        "--min-episodes", "50", "--min-scores", "200",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "wrote" in res.stderr
    assert "quantile model for phq9" in " ".join(res.stderr.split())
    model = read_norms(out)
    assert model.instrument_id == "phq9"
    assert json.loads(out.read_text(encoding="utf-8"))["format_version"] == model.format_version


def test_norms_fit_missing_input(tmp_path: Path) -> None:
    res = invoke(
        "norms", "fit", tmp_path / "none.csv", "--instrument", "phq9", "--out", tmp_path / "n.json"
    )
    assert res.exit_code == 2
    assert "does not exist" in res.stderr
    assert not (tmp_path / "n.json").exists()


# ------------------------------------------------------------------ demo


@pytest.mark.slow
def test_demo_creates_clinic_database_norms_and_report(tmp_path: Path) -> None:
    import sqlite3

    folder = tmp_path / "demo"
    res = invoke("demo", "--out", folder, "--no-serve")
    assert res.exit_code == 0, res.stderr
    names = {p.name for p in folder.iterdir()}
    assert {"analysis", "clinic-scores.csv", "norms-gad7.json", "norms-phq9.json",
            "service-history.csv", "twostep.db"} <= names  # fmt: skip
    analysis = folder / "analysis"
    assert sorted(p.name for p in analysis.iterdir()) == [
        "clients.csv", "report.html", "sessions.csv", "sudden_gains.csv", "sudden_losses.csv"
    ]  # fmt: skip
    clients = read_rows(analysis / "clients.csv")
    assert {r["instrument"] for r in clients} == {"phq9", "gad7"}
    assert read_norms(folder / "norms-phq9.json").instrument_id == "phq9"
    assert read_norms(folder / "norms-gad7.json").instrument_id == "gad7"
    html = (analysis / "report.html").read_text(encoding="utf-8")
    assert "NHS Talking Therapies outcomes" in html
    assert "Against fitted norms" in html
    with sqlite3.connect(folder / "twostep.db") as db:
        n_admins = db.execute("select count(*) from administrations").fetchone()[0]
        n_users = db.execute("select count(*) from users").fetchone()[0]
        n_audit = db.execute("select count(*) from audit_log").fetchone()[0]
    assert n_admins > 100
    assert n_users >= 10
    assert n_audit > 0
    out = " ".join(res.stderr.split()) + " ".join(res.stdout.split())
    assert "report.html" in out
    # running it again replaces the demo instead of failing or duplicating it
    again = invoke("demo", "--out", folder, "--no-serve")
    assert again.exit_code == 0, again.stderr
    with sqlite3.connect(folder / "twostep.db") as db:
        assert db.execute("select count(*) from administrations").fetchone()[0] == n_admins
