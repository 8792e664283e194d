"""`twostep analyze`: outputs, bad input (exit 2, nothing written), config files and options."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from twostep.cli.demo_data import write_demo_data
from twostep.cli.main import app
from twostep.synthetic import SyntheticParams

FIVE = ["clients.csv", "report.html", "sessions.csv", "sudden_gains.csv", "sudden_losses.csv"]
runner = CliRunner()


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def write(tmp_path: Path, text: str, name: str = "scores.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (
            p.read_bytes() if p.is_file() else b"<dir>",
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scores") / "scores.csv"
    write_demo_data(SyntheticParams(n_clients=25, seed=8), path, items=False)
    return path


GAINS = (
    "client_id,session,score\n"
    + "".join(f"A,{i},{v}\n" for i, v in enumerate([20, 21, 19, 12, 11, 12], 1))
    + "".join(f"B,{i},{v}\n" for i, v in enumerate([20, 10, 21, 12, 20, 11], 1))
    + "".join(f"C,{i},{v}\n" for i, v in enumerate([20, 12, 11, 12, 11], 1))
)


def gains(out: Path) -> list[tuple[str, str, str]]:
    return [
        (r["client_id"], r["pre_session"], r["post_session"])
        for r in read_rows(out / "sudden_gains.csv")
    ]


# ------------------------------------------------------------------ outputs


def test_analyze_writes_exactly_the_five_files(tmp_path: Path, scores: Path) -> None:
    out = tmp_path / "out"
    res = invoke("analyze", scores, "--instrument", "phq9", "--out", out, "--charts", "3")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == FIVE  # no temporary folder left
    clients = read_rows(out / "clients.csv")
    assert len(clients) == 25
    assert {
        "client_id",
        "instrument",
        "rci",
        "reliable_change",
        "clinical_category",
        "status",
    } <= set(clients[0])
    sessions = read_rows(out / "sessions.csv")
    assert {"client_id", "session", "score", "etr_band", "expected_median", "provisional"} <= set(
        sessions[0]
    )
    assert "analysed 25 client episodes" in " ".join(res.stderr.split())
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_rerun_replaces_outputs(tmp_path: Path, scores: Path) -> None:
    out = tmp_path / "out"
    assert (
        invoke("analyze", scores, "--instrument", "phq9", "--out", out, "--charts", "0").exit_code
        == 0
    )
    first = (out / "clients.csv").read_bytes()
    res = invoke(
        "analyze", scores, "--instrument", "phq9", "--out", out, "--charts", "0", "--rc", "3"
    )
    assert res.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == FIVE
    assert (out / "clients.csv").read_bytes() != first


def test_text_cells_in_outputs_are_formula_safe(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'client_id,session,score\n"=HYPERLINK(""x"")",1,20\n"=HYPERLINK(""x"")",2,10\n'
    )
    out = tmp_path / "out"
    assert invoke("analyze", path, "--instrument", "phq9", "--out", out).exit_code == 0
    [row] = read_rows(out / "clients.csv")
    assert row["client_id"] == '\'=HYPERLINK("x")'
    assert row["change"] == "-10"  # numbers untouched


def test_missed_scores_are_empty_cells(tmp_path: Path) -> None:
    path = write(tmp_path, "client_id,session,score\nA,1,20\nA,2,\nA,3,12\n")
    out = tmp_path / "out"
    assert invoke("analyze", path, "--instrument", "phq9", "--out", out).exit_code == 0
    rows = read_rows(out / "sessions.csv")
    assert [r["score"] for r in rows] == ["20", "", "12"]


# ------------------------------------------------------------------ bad input


BAD_INPUTS = [
    ("client_id,session,score\nA,1,5\nA,2,N/A\n", "row 3, column score"),
    ("client_id,session,score\nA,1,5\nA,2,28\n", "row 3, column score"),
    ("client_id,session,score\nA,1,5\nA,2,6,SECRET\n", "row 3"),
    ("client_id,session,score\nSECRET,1,5\nSECRET,1,6\n", "rows 2 and 3"),
    ("client_id,session,score,notes\nA,1,5,SECRET\n", "row 1, column notes"),
    ("client_id,date,score\nA,2025-02-30,5\n", "row 2, column date"),
    ("client_id,session,score\nA,2.5,5\n", "row 2, column session"),
    ("client_id,session,instrument,score\nA,1,bdi,5\n", "row 2, column instrument"),
    ("client_id;session;score\nA;1;5\n", "row 1"),
    ("client_id,session,score\n", "no rows"),
]


@pytest.mark.parametrize(("text", "place"), BAD_INPUTS)
def test_bad_input_exits_2_names_the_place_and_writes_nothing(
    tmp_path: Path, text: str, place: str
) -> None:
    path = write(tmp_path, text)
    out = tmp_path / "out"
    opts = [] if "instrument" in text.splitlines()[0] else ["--instrument", "phq9"]
    res = invoke("analyze", path, *opts, "--out", out)
    assert res.exit_code == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("error: ")
    assert str(path) in res.stderr
    assert place in res.stderr
    assert not out.exists()
    if place != "rows 2 and 3":  # the duplicate message echoes the id (see test_batches)
        assert "SECRET" not in res.stderr


def test_bad_input_leaves_previous_outputs_unchanged(tmp_path: Path, scores: Path) -> None:
    out = tmp_path / "out"
    assert (
        invoke("analyze", scores, "--instrument", "phq9", "--out", out, "--charts", "1").exit_code
        == 0
    )
    (out / "my-notes.txt").write_text("keep me", encoding="utf-8")
    before = snapshot(out)
    bad = write(tmp_path, "client_id,session,score\nA,1,5\nA,2,99\n")
    res = invoke("analyze", bad, "--instrument", "phq9", "--out", out)
    assert res.exit_code == 2
    assert snapshot(out) == before


def test_latin1_input_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_bytes("client_id,session,score\nA,1,5\nJos\xe9,2,6\n".encode("latin-1"))
    res = invoke("analyze", path, "--instrument", "phq9", "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "row 3" in res.stderr
    assert "UTF-8" in res.stderr


def test_missing_input_file_exits_2_without_traceback(tmp_path: Path) -> None:
    res = invoke(
        "analyze", tmp_path / "missing.csv", "--instrument", "phq9", "--out", tmp_path / "out"
    )
    assert res.exit_code == 2
    assert "does not exist" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_flag_exits_2_with_usage(tmp_path: Path, scores: Path) -> None:
    res = invoke("analyze", scores, "--out", tmp_path / "out", "--since", "2025-13-01")
    assert res.exit_code == 2
    assert "No such option" in res.output or "No such option" in res.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_instrument_option(tmp_path: Path, scores: Path) -> None:
    res = invoke("analyze", scores, "--instrument", "bdi", "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "unknown instrument 'bdi'" in res.stderr


def test_many_problems_are_listed_one_per_line_and_capped(tmp_path: Path) -> None:
    text = "client_id,session,score\n" + "".join(f"A,{i},x\n" for i in range(1, 61))
    res = invoke(
        "analyze", write(tmp_path, text), "--instrument", "phq9", "--out", tmp_path / "out"
    )
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert lines[0].endswith("50 problems")  # long-format reading lists 50
    assert len([ln for ln in lines if ln.startswith("  - ")]) == 50


def test_phq9_and_gad7_without_pairs_is_analysed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "client_id,session,instrument,score\nA,1,phq9,15\nA,2,phq9,12\nB,1,gad7,8\nB,2,gad7,5\n",
    )
    out = tmp_path / "out"
    res = invoke("analyze", path, "--out", out)
    assert res.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == FIVE


# ------------------------------------------------------------------ config


def test_config_unknown_key_exits_2_naming_it(tmp_path: Path, scores: Path) -> None:
    cfg = write(tmp_path, 'instrument = "phq9"\nsudden_gain_crit = 3\n', name="c.toml")
    res = invoke("analyze", scores, "--config", cfg, "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "sudden_gain_crit" in res.stderr
    assert "unknown_key" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[trajectory]\nplateau_windw = 4\n", "trajectory.plateau_windw"),
        ('rc = "six"\n', "rc"),
        ("sg_crit3 = 1\n", "sg_crit3"),
        ("charts = 2.5\n", "charts"),
        ("trajectory = 3\n", "trajectory"),
        ("rc = \n", "malformed_toml"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, scores: Path, toml: str, needle: str) -> None:
    cfg = write(tmp_path, toml, name="c.toml")
    res = invoke(
        "analyze", scores, "--instrument", "phq9", "--config", cfg, "--out", tmp_path / "out"
    )
    assert res.exit_code == 2
    assert needle in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_config_file(tmp_path: Path, scores: Path) -> None:
    res = invoke("analyze", scores, "--config", tmp_path / "none.toml", "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "config file does not exist" in res.stderr


def test_config_and_command_line_precedence(tmp_path: Path) -> None:
    data = write(tmp_path, "client_id,session,score\nA,1,14\nA,2,8\n")
    cfg = write(tmp_path, 'instrument = "phq9"\nrc = 10\n', name="c.toml")
    out1, out2, out3 = tmp_path / "o1", tmp_path / "o2", tmp_path / "o3"
    # the config gives the instrument and rc 10: a change of 6 is not reliable
    assert invoke("analyze", data, "--config", cfg, "--out", out1).exit_code == 0
    assert read_rows(out1 / "clients.csv")[0]["reliable_change"] == "no_change"
    # the command line wins over the config
    assert invoke("analyze", data, "--config", cfg, "--rc", "6", "--out", out2).exit_code == 0
    assert read_rows(out2 / "clients.csv")[0]["reliable_change"] == "improved"
    # without config the catalogue RC (6) applies
    assert invoke("analyze", data, "--instrument", "phq9", "--out", out3).exit_code == 0
    assert read_rows(out3 / "clients.csv")[0]["reliable_change"] == "improved"


def test_config_boolean_overridden_by_flag(tmp_path: Path) -> None:
    data = write(tmp_path, GAINS)
    cfg = write(tmp_path, 'instrument = "phq9"\nsg_crit3 = false\n', name="c.toml")
    assert invoke("analyze", data, "--config", cfg, "--out", tmp_path / "o1").exit_code == 0
    assert len(gains(tmp_path / "o1")) == 3
    assert (
        invoke("analyze", data, "--config", cfg, "--sg-crit3", "--out", tmp_path / "o2").exit_code
        == 0
    )
    assert gains(tmp_path / "o2") == [("A", "3", "4")]


def test_config_trajectory_table(tmp_path: Path, scores: Path) -> None:
    cfg = write(tmp_path, 'instrument = "phq9"\n[trajectory]\nplateau_window = 5\n', name="c.toml")
    out = tmp_path / "out"
    assert invoke("analyze", scores, "--config", cfg, "--out", out, "--charts", "0").exit_code == 0
    assert "plateau over the last 5 scores" in (out / "report.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------ sudden-gain options


def test_sudden_gain_options_change_results(tmp_path: Path) -> None:
    data = write(tmp_path, GAINS)

    def run(*opts: str) -> list[tuple[str, str, str]]:
        out = tmp_path / f"o{len(list(tmp_path.iterdir()))}"
        res = invoke("analyze", data, "--instrument", "phq9", "--out", out, *opts)
        assert res.exit_code == 0, res.stderr
        return gains(out)

    default = run()
    assert default == [("A", "3", "4")]
    no_crit3 = run("--no-sg-crit3")
    assert no_crit3 == [("A", "3", "4"), ("B", "3", "4"), ("B", "5", "6")]
    assert run("--sg-crit1", "8") == []
    first = run("--no-sg-crit3", "--sg-first-interval")
    assert ("B", "1", "2") in first
    assert ("C", "1", "2") in first
    assert len(first) == 5


# ------------------------------------------------------------------ custom scales


def test_custom_scale_without_threshold_is_a_clean_error(tmp_path: Path) -> None:
    data = write(tmp_path, "client_id,session,score\nA,1,40\nA,2,20\n")
    res = invoke(
        "analyze", data, "--min", "0", "--max", "63", "--better", "lower", "--out", tmp_path / "o"
    )
    assert res.exit_code == 2
    assert "give rc (--rc), or reliability and sd (--reliability, --sd)" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("opts", "needle"),
    [
        (["--min", "0", "--max", "63"], "needs all of --min, --max and --better"),
        (["--min", "0", "--max", "63", "--better", "up", "--rc", "5"], "--better must be"),
        (
            ["--min", "0", "--max", "63", "--better", "lower", "--rc", "5", "--instrument", "phq9"],
            "not both",
        ),
        (["--min", "63", "--max", "0", "--better", "lower", "--rc", "5"], "minimum must be below"),
        (["--min", "0", "--max", "63", "--better", "lower", "--reliability", "0.9"], "needs both"),
        (
            [
                "--min",
                "0",
                "--max",
                "63",
                "--better",
                "lower",
                "--rc",
                "5",
                "--reliability",
                "0.9",
                "--sd",
                "7",
            ],
            "not both",
        ),
    ],
)
def test_custom_scale_option_errors(tmp_path: Path, opts: list[str], needle: str) -> None:
    data = write(tmp_path, "client_id,session,score\nA,1,40\nA,2,20\n")
    res = invoke("analyze", data, *opts, "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert needle in res.stderr
    assert not (tmp_path / "o").exists()


def test_custom_bdi_scale_with_reliability_and_sd(tmp_path: Path) -> None:
    data = write(tmp_path, "client_id,session,score\nA,1,40\nA,2,30\nA,3,10\nB,1,20\nB,2,21\n")
    out = tmp_path / "o"
    res = invoke(
        "analyze", data, "--min", "0", "--max", "63", "--better", "lower",
        "--reliability", "0.9", "--sd", "7.5", "--cutoff", "14", "--out", out,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    rows = {r["client_id"]: r for r in read_rows(out / "clients.csv")}
    assert rows["A"]["clinical_category"] == "recovered"
    assert rows["B"]["reliable_change"] == "no_change"
    assert "Jacobson" in (out / "report.html").read_text(encoding="utf-8")


def test_custom_scale_range_is_checked(tmp_path: Path) -> None:
    data = write(tmp_path, "client_id,session,score\nA,1,64\n")
    res = invoke(
        "analyze",
        data,
        "--min",
        "0",
        "--max",
        "63",
        "--better",
        "lower",
        "--rc",
        "7",
        "--out",
        tmp_path / "o",
    )
    assert res.exit_code == 2
    assert "row 2, column score" in res.stderr


# ------------------------------------------------------------------ other options


def test_charts_option_and_allow_extra_columns(tmp_path: Path) -> None:
    data = write(tmp_path, "client_id,session,score,notes\nA,1,20,x\nA,2,12,y\nB,1,15,\nB,2,17,\n")
    res = invoke("analyze", data, "--instrument", "phq9", "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert "column notes" in res.stderr
    res = invoke(
        "analyze",
        data,
        "--instrument",
        "phq9",
        "--allow-extra-columns",
        "--charts",
        "0",
        "--out",
        tmp_path / "o",
    )
    assert res.exit_code == 0, res.stderr
    assert "<svg" not in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    res = invoke(
        "analyze",
        data,
        "--instrument",
        "phq9",
        "--allow-extra-columns",
        "--charts",
        "1",
        "--out",
        tmp_path / "o",
    )
    assert (tmp_path / "o" / "report.html").read_text(encoding="utf-8").count("<svg") == 1


def test_harmed_option_adds_the_category(tmp_path: Path) -> None:
    data = write(tmp_path, "client_id,session,score\nA,1,5\nA,2,20\n")
    assert invoke("analyze", data, "--instrument", "phq9", "--out", tmp_path / "o1").exit_code == 0
    assert read_rows(tmp_path / "o1" / "clients.csv")[0]["clinical_category"] == "deteriorated"
    assert (
        invoke(
            "analyze", data, "--instrument", "phq9", "--harmed", "--out", tmp_path / "o2"
        ).exit_code
        == 0
    )
    assert read_rows(tmp_path / "o2" / "clients.csv")[0]["clinical_category"] == "harmed"


def test_norms_option(tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    write_demo_data(SyntheticParams(n_clients=350, seed=31), history, items=False)
    norms = tmp_path / "norms.json"
    res = invoke("norms", "fit", history, "--instrument", "phq9", "--out", norms)
    assert res.exit_code == 0, res.stderr
    data = tmp_path / "current.csv"
    write_demo_data(SyntheticParams(n_clients=10, seed=32, sessions=5), data, items=False)
    out = tmp_path / "o"
    res = invoke(
        "analyze", data, "--instrument", "phq9", "--norms", norms, "--out", out, "--charts", "1"
    )
    assert res.exit_code == 0, res.stderr
    rows = read_rows(out / "sessions.csv")
    later = [r for r in rows if int(r["session"]) >= 2]
    assert later
    assert all(r["expected_median"] != "" for r in later)
    assert all(r["expected_median"] == "" for r in rows if r["session"] == "1")
    # a broken norms file is named
    broken = write(tmp_path, "{not json", name="broken.json")
    res = invoke(
        "analyze", data, "--instrument", "phq9", "--norms", broken, "--out", tmp_path / "o2"
    )
    assert res.exit_code == 2
    assert str(broken) in res.stderr
    assert not (tmp_path / "o2").exists()
