"""``twostep import|export|fhir`` end to end on a temporary SQLite database.

The database is made by ``twostep db upgrade --url`` and seeded through the
repositories (`records_world.seed`); the commands run through Typer's test
runner with the settings taken from the environment, as in production.
Checked: output, exit codes (2 for every refusal, 130 on Ctrl-C), that
nothing is half-stored, file modes (0600), ``--force``, and that a database
password never appears in any output (reliability-security.md §4.4).
"""

from __future__ import annotations

import csv
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from records_world import DbWorld, seed
from typer.testing import CliRunner, Result

from twostep.cli.main import app
from twostep.config import Settings
from twostep.instruments.registry import default_catalogue
from twostep.services.records_io import pseudonym
from twostep.storage import KeyRing, SqlUnitOfWorkFactory, make_engine

runner = CliRunner()
START = datetime.now(UTC)  # recent: the FHIR test expects a risk alert for it
PSEUDO_KEY = "pseudonymisation-key-for-tests-0123456789"
HEADER = "client_id,date,instrument,score," + ",".join(f"item_{i}" for i in range(1, 10))


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@dataclass
class Cli:
    url: str
    world: DbWorld
    folder: Path

    def run(self, *args: object, who: str | None = "ther_a") -> Result:
        extra: list[object] = ["--as", self.world.email(who)] if who else []
        return invoke(*args, *extra, "--url", self.url)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith("TWOSTEP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TWOSTEP_PSEUDONYMISATION_KEY", PSEUDO_KEY)
    url = f"sqlite:///{tmp_path / 'db' / 'records.db'}"
    res = invoke("db", "upgrade", "--url", url)
    assert res.exit_code == 0, res.stderr
    engine = make_engine(url, keyring=KeyRing.from_settings(Settings()))
    try:
        world = seed(SqlUnitOfWorkFactory(engine), engine)
        yield Cli(url, world, tmp_path)
    finally:
        engine.dispose()


def scores_file(c: Cli, name: str = "scores.csv", *, extra: list[str] = ()) -> Path:  # type: ignore[assignment]
    w = c.world
    lines = [
        HEADER,
        f"{w.id('client_a1')},2024-03-04,phq9,,1,1,1,1,1,1,1,1,0",
        f"{w.id('client_a1')},2024-03-11,phq9,,1,1,1,1,1,1,1,0,0",
        f"{w.email('client_a2')},2024-03-05,phq9,17,,,,,,,,,",
        *extra,
    ]
    path = c.folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_line_error(res: Result) -> str:
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


# -------------------------------------------------------------------- import scores


def test_import_scores_once(cli: Cli) -> None:
    path = scores_file(cli)
    res = cli.run("import", "scores", path)
    assert res.exit_code == 0, res.stderr
    assert "rows 3, inserted 3, skipped 0, clients 2" in res.stdout
    again = cli.run("import", "scores", path)
    assert again.exit_code == 0, again.stderr
    assert "already imported" in again.stdout
    assert "inserted 0" in again.stdout
    assert cli.world.counts()["administrations"] == 3
    # the same rows in another file: skipped, not duplicated
    other = scores_file(
        cli, "other.csv", extra=[f"{cli.world.id('client_a2')},2024-03-12,phq9,15,,,,,,,,,"]
    )
    res = cli.run("import", "scores", other)
    assert "rows 4, inserted 1, skipped 3, clients 2" in res.stdout
    assert cli.world.counts()["administrations"] == 4


def test_import_scores_with_the_instrument_option(cli: Cli) -> None:
    path = cli.folder / "gad.csv"
    path.write_text(
        f"client_id,date,score\n{cli.world.id('client_a1')},2024-03-04,7\n", encoding="utf-8"
    )
    res = cli.run("import", "scores", path, "--instrument", "gad7")
    assert res.exit_code == 0, res.stderr
    with cli.world.factory() as uow:
        (adm,) = uow.administrations.history(cli.world.id("client_a1"), "gad7")
    assert adm.total == 7


@pytest.mark.parametrize("target", ["missing.csv", "."])
def test_an_unreadable_input_is_one_line_and_exit_2(cli: Cli, target: str) -> None:
    line = one_line_error(cli.run("import", "scores", cli.folder / target))
    assert "cannot read" in line
    line = one_line_error(cli.run("import", "fhir", cli.folder / target))
    assert "cannot read" in line


def test_a_bad_file_lists_its_problems_and_stores_nothing(cli: Cli) -> None:
    before = cli.world.counts()
    w = cli.world
    path = scores_file(cli, extra=[f"{w.id('client_b1')},2024-03-20,phq9,4,,,,,,,,,"])
    res = cli.run("import", "scores", path)
    assert res.exit_code == 2
    assert f"{path}, row 5, column client_id" in res.stderr
    assert "[forbidden_subject]" in res.stderr
    assert "Traceback" not in res.stderr
    # nothing stored; the refusal itself is on the audit trail
    assert cli.world.counts() == {**before, "audit_log": before["audit_log"] + 1}


def test_ctrl_c_mid_import_rolls_back_and_exits_130(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twostep.storage import care_repositories

    before = cli.world.counts()
    path = scores_file(cli)

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # after the rows are written, before the commit

    with monkeypatch.context() as m:
        m.setattr(care_repositories.SqlImportLog, "record", interrupted)
        res = cli.run("import", "scores", path)
    assert res.exit_code == 130
    assert cli.world.counts() == before
    res = cli.run("import", "scores", path)  # the rerun imports exactly once
    assert "inserted 3" in res.stdout
    assert cli.world.counts()["administrations"] == before["administrations"] + 3


def test_the_acting_user_must_be_an_active_user(cli: Cli) -> None:
    path = scores_file(cli)
    res = invoke("import", "scores", path, "--as", "nobody@nowhere.example", "--url", cli.url)
    assert "no active user" in one_line_error(res)
    res = invoke("import", "scores", path, "--url", cli.url)  # --as is required
    assert res.exit_code == 2
    res = cli.run("import", "scores", path, who="researcher")
    assert "only therapists and clinic admins" in one_line_error(res)


def test_a_database_without_the_schema_is_refused(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    res = invoke("import", "scores", scores_file(cli), "--as", "x@y.example", "--url", url)
    assert "twostep db upgrade" in one_line_error(res)
    assert not (tmp_path / "empty.db").exists()  # nothing created


# ---------------------------------------------------------------------- import fhir


def fhir_bundle(c: Cli, totals: list[int], *, status: str = "completed") -> dict[str, Any]:
    from twostep.domain.records import Administration, new_id
    from twostep.instruments.registry import get_instrument
    from twostep.instruments.scoring import score_submission
    from twostep.interop.fhir import questionnaire_response

    entries = []
    now = START.replace(microsecond=0)
    for k, total in enumerate(totals):
        answers: dict[str, int | None] = {f"item_{i}": 0 for i in range(1, 10)}
        for i in range(1, 9):
            answers[f"item_{i}"] = min(3, max(0, total - 3 * (i - 1)))
        answers["item_9"] = 1 if k == 0 else 0
        score = score_submission(get_instrument("phq9"), answers)
        adm = Administration(
            id=new_id(), clinic_id="x", client_id=c.world.id("client_a1"), episode_id=None,
            instrument_id="phq9", answers=answers, total=score.total, subscales={},
            band=score.band, case=score.case, risk=score.risk, risk_level=score.risk_level,
            risk_not_assessed=score.risk_not_assessed, prorated=False,
            completed_at=now - timedelta(days=1 + 30 * k), received_at=now,
        )  # fmt: skip
        res = dict(questionnaire_response(adm))
        res["identifier"] = {"system": "urn:example:emr", "value": f"qr-{k}"}
        res["status"] = status
        entries.append({"resource": res})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def test_import_fhir_bundle(cli: Cli) -> None:
    path = cli.folder / "bundle.json"
    path.write_text(json.dumps(fhir_bundle(cli, [12, 9])), encoding="utf-8")
    res = cli.run("import", "fhir", path)
    assert res.exit_code == 0, res.stderr
    assert "responses 2, stored 2 (amendments 0), skipped 0, clients 1, risk alerts 1" in res.stdout
    res = cli.run("import", "fhir", path)
    assert "stored 0 (amendments 0), skipped 2" in res.stdout
    amended = fhir_bundle(cli, [13, 9], status="amended")
    path.write_text(json.dumps(amended), encoding="utf-8")
    res = cli.run("import", "fhir", path)
    assert "stored 1 (amendments 1), skipped 1" in res.stdout


def test_import_fhir_refuses_xml_and_names_file_location_and_code(cli: Cli) -> None:
    before = cli.world.counts()
    xml = cli.folder / "bundle.xml"
    xml.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Bundle/>'
    )
    res = cli.run("import", "fhir", xml)
    assert res.exit_code == 2
    assert f"{xml}, (document)" in res.stderr
    assert "[unsupported-format]" in res.stderr
    bad = fhir_bundle(cli, [12, 9])
    bad["entry"][1]["resource"]["subject"] = {"reference": "https://elsewhere.example/Patient/1"}
    path = cli.folder / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    res = cli.run("import", "fhir", path)
    assert res.exit_code == 2
    assert f"{path}, Bundle.entry[1].resource.subject" in res.stderr
    assert "[unresolved-reference]" in res.stderr
    assert "Traceback" not in res.stderr
    empty = cli.folder / "empty.json"
    empty.write_text('{"resourceType": "Bundle", "type": "collection"}')
    res = cli.run("import", "fhir", empty)
    assert res.exit_code == 2
    assert "[empty-import]" in res.stderr
    assert cli.world.counts() == before


# -------------------------------------------------------------------------- exports


def seeded(c: Cli) -> None:
    res = c.run("import", "scores", scores_file(c))
    assert res.exit_code == 0, res.stderr


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_scores_csv_and_parquet_private_and_forced(cli: Cli) -> None:
    seeded(cli)
    w = cli.world
    out = cli.folder / "exports" / "scores.csv"
    res = cli.run("export", "scores", "--out", out)
    assert res.exit_code == 0, res.stderr
    assert "exported 3 scores of 2 clients" in res.stdout
    assert mode(out) == 0o600
    rows = read_csv(out)
    assert list(rows[0]) == [
        "client_id", "session", "date", "completed_at", "instrument", "score", "therapist_id"
    ]  # fmt: skip
    a1 = [r for r in rows if r["client_id"] == w.id("client_a1")]
    assert [(r["session"], r["date"], r["completed_at"], r["score"]) for r in a1] == [
        ("1", "2024-03-04", "2024-03-04T12:00:00Z", "8"),
        ("2", "2024-03-11", "2024-03-11T12:00:00Z", "7"),
    ]
    assert {r["therapist_id"] for r in rows} == {w.id("ther_a")}  # assigned at the time
    # an existing file is kept without --force
    out.write_text("keep me")
    line = one_line_error(cli.run("export", "scores", "--out", out))
    assert "exists" in line
    assert "--force" in line
    assert out.read_text() == "keep me"
    res = cli.run("export", "scores", "--out", out, "--force")
    assert res.exit_code == 0, res.stderr
    assert mode(out) == 0o600
    assert len(read_csv(out)) == 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["scores.csv"]  # no temp files left
    parquet = cli.folder / "scores.parquet"
    res = cli.run("export", "scores", "--out", parquet, "--client", w.email("client_a2"))
    assert res.exit_code == 0, res.stderr
    table = pq.read_table(parquet).to_pylist()
    assert [(r["client_id"], r["session"], r["date"], r["score"]) for r in table] == [
        (w.id("client_a2"), 1, date(2024, 3, 5), 17.0)
    ]
    assert mode(parquet) == 0o600


def test_an_export_imports_back_as_the_same_rows(cli: Cli) -> None:
    seeded(cli)
    out = cli.folder / "exports" / "roundtrip.csv"
    assert cli.run("export", "scores", "--out", out).exit_code == 0
    before = cli.world.counts()["administrations"]
    res = cli.run("import", "scores", out)
    assert res.exit_code == 0, res.stderr
    assert "inserted 0, skipped 3" in res.stdout
    assert cli.world.counts()["administrations"] == before


def test_export_refuses_a_folder_anyone_may_write_to(cli: Cli) -> None:
    seeded(cli)
    shared = cli.folder / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    line = one_line_error(cli.run("export", "scores", "--out", shared / "s.csv"))
    assert "writable by every user" in line
    res = cli.run("export", "scores", "--out", shared / "s.csv", "--force")
    assert res.exit_code == 0
    assert mode(shared / "s.csv") == 0o600


def test_export_scores_role_rules(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded(cli)
    w = cli.world
    out = cli.folder / "s.csv"
    line = one_line_error(cli.run("export", "scores", "--out", out, who="admin"))
    assert "no clinical content" in line
    for extra in ((), ("--pseudonymise",)):  # researchers: aggregates only (AZ-09)
        line = one_line_error(cli.run("export", "scores", "--out", out, *extra, who="researcher"))
        assert "aggregates only" in line
    line = one_line_error(cli.run("export", "scores", "--out", out, "--client", w.id("client_b1")))
    assert "no client with this id" in line
    assert not out.exists()
    res = cli.run("export", "scores", "--out", out, "--pseudonymise", who="ther_a")
    assert res.exit_code == 0, res.stderr
    rows = read_csv(out)
    assert "completed_at" not in rows[0]
    key = PSEUDO_KEY.encode()
    assert {r["client_id"] for r in rows} == {
        pseudonym(key, w.id("client_a1")),
        pseudonym(key, w.id("client_a2")),
    }
    text = out.read_text()
    assert not any(u.id in text or u.email in text for u in w.users.values())
    assert all(date.fromisoformat(r["date"]).weekday() == 0 for r in rows)
    monkeypatch.delenv("TWOSTEP_PSEUDONYMISATION_KEY")
    line = one_line_error(
        cli.run("export", "scores", "--out", out, "--pseudonymise", "--force", who="ther_a")
    )
    assert "TWOSTEP_PSEUDONYMISATION_KEY" in line
    line = one_line_error(cli.run("export", "scores", "--out", cli.folder / "s.txt"))
    assert ".parquet or .csv" in line


def test_export_fhir_bundle(cli: Cli) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    seeded(cli)
    w = cli.world
    out = cli.folder / "bundle.json"
    res = cli.run("export", "fhir", "--client", w.id("client_a1"), "--out", out)
    assert res.exit_code == 0, res.stderr
    assert mode(out) == 0o600
    bundle = json.loads(out.read_text())
    get_fhir_model_class("Bundle").model_validate(bundle)
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    kinds = sorted(e["resource"]["resourceType"] for e in bundle["entry"])
    assert kinds.count("QuestionnaireResponse") == 2
    # the client may export their own; another therapist may not
    own = cli.folder / "own.json"
    res = cli.run("export", "fhir", "--client", w.id("client_a1"), "--out", own, who="client_a1")
    assert res.exit_code == 0, res.stderr
    line = one_line_error(
        cli.run(
            "export", "fhir", "--client", w.id("client_a1"), "--out", own, "--force", who="ther_b"
        )
    )
    assert "no client with this id" in line
    # and importing the export back adds nothing
    res = cli.run("import", "fhir", out)
    assert "[wrong-resource-type]" in res.stderr
    res = cli.run("import", "fhir", out, "--skip-other-resources")
    assert "stored 0 (amendments 0), skipped 2" in res.stdout


def test_fhir_questionnaires(cli: Cli) -> None:
    out = cli.folder / "q"
    res = invoke("fhir", "questionnaires", "--out", out)
    assert res.exit_code == 0, res.stderr
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == len(default_catalogue().ids)
    assert "phq9.json" in files
    data = json.loads((out / "phq9.json").read_text())
    assert data["resourceType"] == "Questionnaire"
    line = one_line_error(invoke("fhir", "questionnaires", "--out", out))
    assert "--force" in line
    assert invoke("fhir", "questionnaires", "--out", out, "--force").exit_code == 0


# -------------------------------------------------------------------- database URLs


def test_the_url_is_shown_without_its_password(cli: Cli) -> None:
    res = cli.run("import", "scores", scores_file(cli))
    assert f"into {cli.url}" in res.stdout  # no password to hide in a SQLite URL


@pytest.mark.postgresql
def test_a_password_on_the_command_line_is_masked_and_warned_about(
    postgres_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("TWOSTEP_"):
            monkeypatch.delenv(name)
    name = postgres_server.create_database()
    secret = "s3cret-Pa55"
    try:
        url = postgres_server.url(name).replace("@", f":{secret}@", 1)  # trust auth ignores it
        res = invoke("db", "upgrade", "--url", url)
        assert res.exit_code == 0, res.stderr
        engine = make_engine(url, keyring=KeyRing.from_settings(Settings()))
        try:
            w = seed(SqlUnitOfWorkFactory(engine), engine)
        finally:
            engine.dispose()
        path = tmp_path / "s.csv"
        path.write_text(f"{HEADER}\n{w.id('client_a1')},2024-03-04,phq9,5,,,,,,,,,\n")
        res = invoke("import", "scores", path, "--as", w.email("ther_a"), "--url", url)
        assert res.exit_code == 0, res.stderr
        assert "warning" in res.stderr
        assert "TWOSTEP_DATABASE_URL" in res.stderr
        assert "***" in res.stdout
        assert secret not in res.stdout + res.stderr
        # from the environment: no warning, still masked
        monkeypatch.setenv("TWOSTEP_DATABASE_URL", url)
        res = invoke("import", "scores", path, "--as", w.email("ther_a"))
        assert res.exit_code == 0, res.stderr
        assert "warning" not in res.stderr
        assert secret not in res.stdout + res.stderr
        bad = url.replace("/" + name, ":notaport/" + name)
        res = invoke("import", "scores", path, "--as", w.email("ther_a"), "--url", bad)
        assert res.exit_code == 2
        assert secret not in res.stdout + res.stderr
    finally:
        postgres_server.drop_database(name)


def test_an_invalid_port_is_a_configuration_error() -> None:
    from twostep.errors import ConfigurationError
    from twostep.storage.engine import normalise_url

    with pytest.raises(ConfigurationError):
        normalise_url("postgresql://user:pw@db.example:port/twostep")
