"""Bad-input catalogue §4.2, CSV import (#31–#44): one named test per case, through the CLI.

The surface is ``twostep import scores FILE --as EMAIL --url URL`` (the clinic's
bulk upload of historical scores), run by Typer's runner on a database made by
the shipped migrations. A refusal is exit 2 with one line per problem on
standard error — ``FILE, row N[, column C]: message [code]`` — and no
traceback; "nothing stored" means every table keeps its row count except the
audit trail, which may only gain a ``denied`` event (`nothing_stored`).
docs/bad-input.md maps each case to its test and explains every deviation.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from twostep.cli import main
from twostep.storage import tables as t

from .conftest import KEYS_ENV
from .import_env import ImportEnv, clear_twostep_settings, import_env

ITEMS = ",".join(f"item_{i}" for i in range(1, 10))
HEADER = f"client_id,date,instrument,score,{ITEMS}"


class Env(ImportEnv):
    def write(self, name: str, data: str | bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def rows(self, *lines: str) -> str:
        return "\n".join([HEADER, *lines]) + "\n"

    def row(self, day: str, items: str = "1,1,1,1,1,1,1,1,0", client: str | None = None) -> str:
        return f"{client or self.home.client_id},{day},phq9,,{items}"

    def scores(self, client: str) -> dict[str, float | None]:
        a = t.administrations.c
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(a.completed_at, a.total).where(a.client_id == client)
            ).all()
        return {str(r.completed_at)[:10]: r.total for r in found}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with import_env(tmp_path_factory.mktemp("bad-csv")) as e:
        yield Env(**vars(e))


@pytest.fixture(autouse=True)
def no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_twostep_settings(monkeypatch)


def run(env: Env, path: Path, *extra: str, **settings: str) -> Result:
    vars_ = {"TWOSTEP_ENCRYPTION_KEYS": KEYS_ENV, "TWOSTEP_ENVIRONMENT": "test", **settings}
    args = ["import", "scores", str(path), "--as", env.therapist, "--url", env.url, *extra]
    return CliRunner().invoke(main.app, args, env=vars_)


def refused(res: Result, code: str, *where: str) -> list[str]:
    """Exit 2, no traceback, a problem line with ``[code]`` naming each of ``where``."""
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr
    lines = [x for x in res.stderr.splitlines() if f"[{code}]" in x]
    assert lines, res.stderr
    for w in where:
        assert any(w in x for x in lines), (w, res.stderr)
    return lines


@contextmanager
def nothing_stored(env: Env) -> Iterator[None]:
    before = env.counts()
    last = env.last_audit_id()
    yield
    after = env.counts()
    events = env.audit_since(last)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert after["audit_log"] - before["audit_log"] == len(events)
    assert all(e.outcome == "denied" for e in events), events


def imported(res: Result, inserted: int) -> None:
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert f"inserted {inserted:,}," in res.stdout, res.stdout


# ---------------------------------------------------------------------------- cases


def test_case_31_utf8_bom_is_stripped(env: Env) -> None:
    path = env.write("bom.csv", b"\xef\xbb\xbf" + env.rows(env.row("2001-01-31")).encode())
    imported(run(env, path), 1)
    assert env.scores(env.home.client_id)["2001-01-31"] == 8  # client_id matched, not a new column


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (
            HEADER.encode()
            + b"\n{c},2001-02-01,phq9,,1,1,1,1,1,1,1,1,0\n{c},2001-02-02,phq9,,1,1,1,1,1,1,1,1,0,\xe9\n",
            "row 3",
        ),
        (
            ("\ufeff" + HEADER + "\n{c},2001-02-03,phq9,,1,1,1,1,1,1,1,1,0\n").encode("utf-16"),
            "row 1",
        ),
        (("caf\u00e9," + HEADER + "\n").encode("cp1252"), "row 1"),
    ],
    ids=["latin-1-byte", "utf-16", "windows-1252-header"],
)
def test_case_32_not_utf8(env: Env, data: bytes, where: str) -> None:
    path = env.write("enc.csv", data.replace(b"{c}", env.home.client_id.encode()))
    with nothing_stored(env):
        res = run(env, path)
    lines = refused(res, "invalid_encoding", where)
    assert "byte" in lines[0]
    assert "\ufffd" not in res.stderr  # no mojibake echoed either


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        (
            HEADER.replace(",", ";") + "\n{c};2001-03-01;phq9;12;;;;;;;;;\n",
            "unsupported_dialect",
            "';'",
        ),
        (HEADER.replace(",", "\t") + "\n", "unsupported_dialect", "tab"),
        ("client_id,date,instrument,score\n{c},2001-03-02,phq9,12,5\n", "ragged_row", "row 2"),
    ],
    ids=["semicolon", "tab", "decimal-comma"],
)
def test_case_33_european_dialect(env: Env, text: str, code: str, fragment: str) -> None:
    path = env.write("dialect.csv", text.replace("{c}", env.home.client_id))
    with nothing_stored(env):
        res = run(env, path)
    refused(res, code, fragment)


@pytest.mark.parametrize(
    ("header", "line", "missing"),
    [
        (HEADER.replace(",item_9", ""), "{c},2001-04-01,phq9,,1,1,1,1,1,1,1,1", "item_9"),
        (HEADER.replace(",item_3", ""), "{c},2001-04-02,phq9,,1,1,1,1,1,1,1,0", "item_3"),
        (HEADER.replace("client_id,", ""), "2001-04-03,phq9,,1,1,1,1,1,1,1,1,0", "client_id"),
    ],
    ids=["risk-item", "other-item", "client_id"],
)
def test_case_34_missing_required_column(env: Env, header: str, line: str, missing: str) -> None:
    path = env.write("missing.csv", f"{header}\n{line.replace('{c}', env.home.client_id)}\n")
    with nothing_stored(env):
        res = run(env, path)
    refused(res, "missing_column", "row 1", missing)


def test_case_35_unknown_extra_column(env: Env) -> None:
    path = env.write("extra.csv", f"{HEADER},notes\n{env.row('2001-05-01')},hello\n")
    with nothing_stored(env):
        res = run(env, path)
    refused(res, "unknown_column", "row 1, column notes")


@pytest.mark.parametrize(
    ("lines", "code", "where"),
    [
        (["{ok}", "{ok2},7"], "ragged_row", "row 3"),
        (["{ok}", "{ok2}"[:-2]], "ragged_row", "row 3"),
        (['"{ok}', "{ok2}"], "unbalanced_quote", "row"),
    ],
    ids=["extra-field", "short-row", "unbalanced-quote"],
)
def test_case_36_ragged_rows_and_quotes(env: Env, lines: list[str], code: str, where: str) -> None:
    filled = [
        x.replace("{ok}", env.row("2001-06-01")).replace("{ok2}", env.row("2001-06-02"))
        for x in lines
    ]
    path = env.write("ragged.csv", env.rows(*filled))
    with nothing_stored(env):
        res = run(env, path)
    refused(res, code, where)


def test_case_36_quoted_newline_is_one_field(env: Env) -> None:
    c = env.home.client_id
    text = f'client_id,date,instrument,score,site\n{c},2001-06-03,phq9,11,"North\nwing"\n'
    imported(run(env, env.write("quoted.csv", text)), 1)
    assert env.scores(c)["2001-06-03"] == 11


def test_case_37_one_bad_row_in_ten_thousand_rejects_all(env: Env) -> None:
    import datetime as dt

    start = dt.date(1960, 1, 1)
    lines = [env.row((start + dt.timedelta(days=i)).isoformat()) for i in range(10_000)]
    lines[5000] = env.row((start + dt.timedelta(days=5000)).isoformat(), "1,1,1,1,4,1,1,1,0")
    with nothing_stored(env):
        res = run(env, env.write("big.csv", env.rows(*lines)))
    refused(res, "not_an_allowed_answer", "row 5002, column item_5")
    # many bad rows: every one is checked, the report is capped
    for i in range(0, 10_000, 50):
        lines[i] = env.row((start + dt.timedelta(days=i)).isoformat(), "9,1,1,1,1,1,1,1,0")
    with nothing_stored(env):
        res = run(env, env.write("big2.csv", env.rows(*lines)))
    shown = refused(res, "not_an_allowed_answer")
    assert len(shown) == 50, res.stderr[-300:]
    assert "more" in res.stderr.splitlines()[-1], res.stderr[-300:]


def test_case_38_duplicate_rows_and_files(env: Env) -> None:
    twice = env.write("twice.csv", env.rows(env.row("2001-08-01"), env.row("2001-08-01")))
    with nothing_stored(env):
        res = run(env, twice)
    refused(res, "duplicate", "rows 2 and 3")
    once = env.write("once.csv", env.rows(env.row("2001-08-02"), env.row("2001-08-03")))
    imported(run(env, once), 2)
    with nothing_stored(env):
        again = run(env, once)
    assert again.exit_code == 0, again.stderr
    assert "already imported" in again.stdout, again.stdout
    assert "nothing added" in again.stdout
    # the same rows in another file: recognised by their natural key, 0 inserted
    copy = env.write("copy.csv", env.rows(env.row("2001-08-02"), env.row("2001-08-03")) + "\n")
    before = env.counts()["administrations"]
    res = run(env, copy)
    imported(res, 0)
    assert "skipped 2" in res.stdout
    assert env.counts()["administrations"] == before


@pytest.mark.parametrize("day", ["03/04/2025", "45748", "2025-3-4", "4 March 2025", "2025-02-30"])
def test_case_39_ambiguous_or_invalid_dates(env: Env, day: str) -> None:
    with nothing_stored(env):
        res = run(env, env.write("dates.csv", env.rows(env.row(day))))
    refused(res, "invalid_date", "row 2, column date")


def test_case_40_blank_na_and_whitespace(env: Env) -> None:
    c = env.home.client_id
    with nothing_stored(env):
        res = run(env, env.write("na.csv", env.rows(env.row("2001-09-01", "1,1,1,1,1,1,1,1,N/A"))))
    refused(res, "not_a_number", "row 2, column item_9")
    # whitespace around a number is trimmed; a blank item is missing (prorated: 8 answers x 9/8)
    path = env.write(
        "ws.csv",
        env.rows(
            env.row("2001-09-02", " 2 ,1,1,1,1,1,1,1,0"), env.row("2001-09-03", ",1,1,1,1,1,1,1,0")
        ),
    )
    imported(run(env, path), 2)
    got = env.scores(c)
    assert got["2001-09-02"] == 9
    assert got["2001-09-03"] == 8  # 7 answered ones, prorated: round(7 / 8 * 9)
    # a blank risk item is never imputed: the row cannot be scored and is refused, not dropped
    with nothing_stored(env):
        res = run(env, env.write("risk.csv", env.rows(env.row("2001-09-04", "1,1,1,1,1,1,1,1,"))))
    refused(res, "incomplete", "row 2")


def test_case_41_formula_cells_are_text_and_neutralised_on_export(env: Env) -> None:
    """The long format has no notes column (#35 refuses one); a formula in a text column it
    reads (``site``) is taken as text, never evaluated, and no CSV export starts a cell with
    ``= + - @`` — string cells that would are prefixed with ``'``."""
    import csv

    from twostep.interop.long_format import neutralise_formulas

    formula = '=HYPERLINK("https://evil.example","click")'
    c = env.home.client_id
    quoted = formula.replace('"', '""')
    text = f'client_id,date,instrument,score,site\n{c},2001-10-01,phq9,6,"{quoted}"\n'
    imported(run(env, env.write("formula.csv", text)), 1)
    assert env.scores(c)["2001-10-01"] == 6
    out = env.folder / "export.csv"
    res = CliRunner().invoke(
        main.app,
        ["export", "scores", "--out", str(out), "--as", env.therapist, "--url", env.url],
        env={"TWOSTEP_ENCRYPTION_KEYS": KEYS_ENV, "TWOSTEP_ENVIRONMENT": "test"},
    )
    assert res.exit_code == 0, res.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert cells
    assert not [x for x in cells if x[:1] in ("=", "+", "@") or x.startswith("-=")]
    risky = [formula, "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
    assert neutralise_formulas(pa.array(risky)).to_pylist() == ["'" + x for x in risky]


def test_case_42_client_outside_the_caseload(env: Env) -> None:
    for ref in (env.away.client_id, "nobody@nowhere.example", env.away.client_email):
        with nothing_stored(env):
            res = run(env, env.write("foreign.csv", env.rows(env.row("2001-11-01", client=ref))))
        refused(res, "forbidden_subject", "row 2, column client_id")
    with env.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t.administrations)
                .where(t.administrations.c.clinic_id == env.away.clinic_id)
            ).scalar_one()
            == 0
        )


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty_file"), (b"\n\n", "empty_file"), (HEADER.encode() + b"\n", "empty_import")],
    ids=["zero-bytes", "blank-lines", "header-only"],
)
def test_case_43_empty_file_or_header_only(env: Env, data: bytes, code: str) -> None:
    with nothing_stored(env):
        res = run(env, env.write("empty.csv", data))
    refused(res, code)
    assert "inserted" not in res.stdout


def test_case_44_size_cap_and_expanding_files(env: Env) -> None:
    cap = {"TWOSTEP_MAX_IMPORT_BYTES": "4096"}
    lines = [env.row(f"1999-{1 + i // 28:02d}-{1 + i % 28:02d}") for i in range(100)]
    big = env.write("big.csv", env.rows(*lines))
    assert big.stat().st_size > 4096
    with nothing_stored(env):
        res = run(env, big, **cap)
    refused(res, "too-large", "4,096")
    # a Parquet file small on disk whose pages expand past the cap
    n = 50_000
    table = pa.table(
        {
            "client_id": pa.array([env.home.client_id] * n),
            "date": pa.array(["1998-01-01"] * n),
            "instrument": pa.array(["phq9"] * n),
            "score": pa.array([5.0] * n),
        }
    )
    bomb = env.folder / "bomb.parquet"
    pq.write_table(table, bomb, compression="zstd", use_dictionary=False)
    assert bomb.stat().st_size < 4096
    with nothing_stored(env):
        res = run(env, bomb, **cap)
    refused(res, "too-large", "expands")
    # a compressed CSV is not unpacked at all
    packed = env.write("scores.csv.gz", gzip.compress(env.rows(env.row("1998-02-01")).encode()))
    with nothing_stored(env):
        res = run(env, packed)
    refused(res, "invalid_encoding")
    # under the cap the same file imports (the cap is the only reason for the refusals)
    small = env.write("small.csv", env.rows(env.row("1998-03-01")))
    imported(run(env, small, **cap), 1)
