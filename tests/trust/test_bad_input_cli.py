"""Bad-input catalogue §4.4, the command line (#56–#62): one named test per case.

Commands run through Typer's runner (in process, the settings from the
environment as in production) and, where a signal to the real process matters (#60),
as a real Python process running the ``twostep`` command. A
refusal is a non-zero exit with a one-line message on standard error, never
a traceback, and leaves every table as it was (the audit trail may gain a
``denied`` event). docs/bad-input.md maps each case to its test.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from twostep.cli import main
from twostep.storage import tables as t
from twostep.storage import upgrade
from twostep.storage.tables import metadata

from .conftest import KEYS_ENV, Clinic, engine_for, make_clinic

HEADER = "client_id,date,instrument,score"
ENV = {"TWOSTEP_ENCRYPTION_KEYS": KEYS_ENV, "TWOSTEP_ENVIRONMENT": "test"}
SRC = str(Path(__file__).resolve().parents[2] / "src")


@dataclass
class Env:
    url: str
    engine: sa.Engine
    home: Clinic
    away: Clinic
    folder: Path

    def email(self, who: str, clinic: str = "h") -> str:
        c = self.home if clinic == "h" else self.away
        return f"{who}{clinic}@{c.clinic_id[:8]}.example.org"

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                tbl.name: int(
                    conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one()
                )
                for tbl in metadata.sorted_tables
            }

    def audit_outcomes(self, after: int) -> list[tuple[str, str]]:
        a = t.audit_log.c
        with self.engine.connect() as conn:
            return [
                (r.action, r.outcome)
                for r in conn.execute(sa.select(a.action, a.outcome).where(a.id > after))
            ]

    def last_audit_id(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(t.audit_log.c.id), 0))
                ).scalar_one()
            )

    def scores_file(self, name: str, *days: str) -> Path:
        path = self.folder / name
        lines = [HEADER, *(f"{self.home.client_id},{d},phq9,7" for d in days)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("bad-cli")
    url = f"sqlite:///{folder / 'records.db'}"
    upgrade(url)
    engine = engine_for(url)
    try:
        yield Env(url, engine, make_clinic(engine, "h"), make_clinic(engine, "w"), folder)
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def no_stray_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith("TWOSTEP_"):
            monkeypatch.delenv(name)


def cli(*args: object) -> Result:
    return CliRunner().invoke(main.app, [str(a) for a in args], env=ENV)


def one_line(res: Result, code: int = 2) -> str:
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


# ---------------------------------------------------------------------------- cases


def test_case_56_missing_or_unreadable_input(env: Env) -> None:
    before = env.counts()
    who = env.email("therapist")
    for command in ("scores", "fhir"):
        for target, reason in (("missing.csv", "no such file"), (".", "it is a folder")):
            line = one_line(
                cli("import", command, env.folder / target, "--as", who, "--url", env.url)
            )
            assert "cannot read" in line, line
            assert reason in line, line
    assert env.counts() == before


@pytest.mark.parametrize(
    "args",
    [
        ["import", "scores", "x.csv", "--bogus"],
        ["demo-data", "--clients", "abc"],
        ["demo-data", "--clients", "0"],
        ["demo-data", "--missing", "1.5"],
        ["demo", "--port", "70000"],
        ["export", "scores", "--since", "2025-13-01"],
    ],
    ids=[
        "unknown-flag",
        "not-a-number",
        "below-minimum",
        "above-maximum",
        "port-range",
        "no-such-option",
    ],
)
def test_case_57_invalid_option_value_or_unknown_flag(env: Env, args: list[str]) -> None:
    before = env.counts()
    res = cli(*args)
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Usage:" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert env.counts() == before


def test_case_58_password_in_the_url_is_warned_about_and_never_shown(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-Pa55word"
    url = f"postgresql://bob:{secret}@127.0.0.1:1/twostep"  # nothing listens on port 1
    path = env.scores_file("pw.csv", "2002-01-01")
    with caplog.at_level("DEBUG"):
        res = cli("import", "scores", path, "--as", env.email("therapist"), "--url", url)
    assert res.exit_code == 2, res.stdout
    assert "Traceback" not in res.stderr
    assert "warning" in res.stderr
    assert "TWOSTEP_DATABASE_URL" in res.stderr
    assert secret not in res.stdout + res.stderr + caplog.text
    res = cli("db", "current", "--url", url)
    assert secret not in res.stdout + res.stderr


def test_case_59_migrate_refuses_a_newer_schema(env: Env, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
        res = cli("db", "upgrade", "--url", url)
        assert res.exit_code != 0, res.stdout
        assert "Traceback" not in res.stdout + res.stderr
        assert "ffffffffffff" in res.stderr
        with engine.connect() as conn:  # never downgraded or touched
            assert conn.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).scalar_one() == ("ffffffffffff")
        # the record commands refuse it too
        path = env.scores_file("newer.csv", "2002-02-01")
        res = cli("import", "scores", path, "--as", env.email("therapist"), "--url", url)
        assert "newer twostep" in one_line(res)
    finally:
        engine.dispose()


def test_case_60_sigint_mid_import_rolls_back_and_exits_130(env: Env) -> None:
    """A real SIGINT, sent to the real process after the rows are written and before the
    commit: the transaction is rolled back, exit 130, and a rerun imports exactly once."""
    path = env.scores_file("sigint.csv", "2003-01-01", "2003-01-02", "2003-01-03")
    who = env.email("therapist")
    before = env.counts()
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from twostep.storage import care_repositories

        def record(self, batch):  # the rows are written; the commit comes next
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)  # the signal arrives here as KeyboardInterrupt
            raise SystemExit("SIGINT was not delivered")

        care_repositories.SqlImportLog.record = record
        from twostep.cli.main import app
        sys.argv = ["twostep", *sys.argv[1:]]
        app()
        """
    )
    vars_ = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    vars_.update(ENV, PYTHONPATH=SRC)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "import",
            "scores",
            str(path),
            "--as",
            who,
            "--url",
            env.url,
        ],
        capture_output=True,
        text=True,
        env=vars_,
        timeout=120,
    )
    assert done.returncode == 130, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert env.counts() == before  # rolled back: not a row, not an audit event
    res = cli("import", "scores", path, "--as", who, "--url", env.url)
    assert res.exit_code == 0, res.stderr
    assert "inserted 3," in res.stdout, res.stdout
    res = cli("import", "scores", path, "--as", who, "--url", env.url)
    assert "already imported" in res.stdout
    assert env.counts()["administrations"] == before["administrations"] + 3


def test_case_61_export_never_overwrites_or_lands_in_a_shared_folder(env: Env) -> None:
    who = env.email("therapist")
    client = env.home.client_id
    existing = env.folder / "existing.json"
    existing.write_text("keep me")
    line = one_line(
        cli("export", "fhir", "--client", client, "--out", existing, "--as", who, "--url", env.url)
    )
    assert "exists" in line
    assert "--force" in line
    assert existing.read_text() == "keep me"
    shared = env.folder / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    line = one_line(
        cli(
            "export",
            "fhir",
            "--client",
            client,
            "--out",
            shared / "b.json",
            "--as",
            who,
            "--url",
            env.url,
        )
    )
    assert "writable by every user" in line
    assert list(shared.iterdir()) == []
    private = env.folder / "private" / "bundle.json"
    res = cli("export", "fhir", "--client", client, "--out", private, "--as", who, "--url", env.url)
    assert res.exit_code == 0, res.stderr
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    res = cli(
        "export",
        "fhir",
        "--client",
        client,
        "--out",
        existing,
        "--as",
        who,
        "--url",
        env.url,
        "--force",
    )
    assert res.exit_code == 0, res.stderr
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert existing.read_text() != "keep me"


@pytest.mark.parametrize(
    ("who", "clinic"),
    [("therapist", "w"), ("admin", "h"), ("client", "h")],
    ids=["other-clinic-therapist", "admin", "another-client"],
)
def test_case_62_export_for_a_client_without_rights(env: Env, who: str, clinic: str) -> None:
    target = env.home.other_id if who == "client" else env.home.client_id
    out = env.folder / f"denied-{who}.json"
    before = env.counts()
    last = env.last_audit_id()
    res = cli(
        "export",
        "fhir",
        "--client",
        target,
        "--out",
        out,
        "--as",
        env.email(who, clinic),
        "--url",
        env.url,
    )
    line = one_line(res)
    assert target not in line
    assert not out.exists()
    after = env.counts()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert env.audit_outcomes(last) == [("export", "denied")]
