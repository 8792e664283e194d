"""Bad-input catalogue §4.3, FHIR import (#45–#55): one named test per case, through the CLI.

twostep imports FHIR R4 QuestionnaireResponses with ``twostep import fhir FILE
--as EMAIL --url URL`` (it has no FHIR HTTP endpoint). A refusal is exit 2
with one line per problem on standard error — ``FILE, <FHIRPath>: message
[code]``, the codes of the OperationOutcome the importer also builds
(`twostep.interop.fhir.operation_outcome`) — and nothing is stored: every
table keeps its row count except the audit trail, which may only gain a
``denied`` event. The parser-level cases are also covered one by one in
tests/interop/fhir/test_bad_input.py; here each goes through the command on a
real database. docs/bad-input.md maps each case to its test.
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from twostep.cli import main
from twostep.domain.records import Administration, new_id
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import score_submission
from twostep.interop.fhir import operation_outcome, questionnaire_response
from twostep.storage import tables as t

from .conftest import KEYS_ENV
from .import_env import ImportEnv, clear_twostep_settings, import_env

LOINC = "http://loinc.org"
NOW = datetime.now(UTC).replace(microsecond=0)


Env = ImportEnv


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with import_env(tmp_path_factory.mktemp("bad-fhir")) as e:
        yield e


@pytest.fixture(autouse=True)
def no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_twostep_settings(monkeypatch)


_serial = iter(range(1, 1_000_000))


def response(client_id: str, *, days_ago: int = 40, ident: str | None = None) -> dict[str, Any]:
    """A valid PHQ-9 QuestionnaireResponse as twostep writes it (``item_1`` … ``item_9``)."""
    answers: dict[str, int | None] = {f"item_{i}": 1 for i in range(1, 10)}
    answers["item_9"] = 0
    score = score_submission(get_instrument("phq9"), answers)
    adm = Administration(
        id=new_id(), clinic_id="x", client_id=client_id, episode_id=None,
        instrument_id="phq9", answers=answers, total=score.total, subscales={},
        band=score.band, case=score.case, risk=score.risk, risk_level=score.risk_level,
        risk_not_assessed=score.risk_not_assessed, prorated=False,
        completed_at=NOW - timedelta(days=days_ago, minutes=next(_serial)), received_at=NOW,
    )  # fmt: skip
    res = dict(questionnaire_response(adm))
    res["identifier"] = {"system": "urn:example:emr", "value": ident or f"qr-{new_id()}"}
    return res


def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def run(env: Env, data: Any, name: str = "in.json") -> tuple[Result, Path]:
    path = env.folder / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    args = ["import", "fhir", str(path), "--as", env.therapist, "--url", env.url]
    vars_ = {"TWOSTEP_ENCRYPTION_KEYS": KEYS_ENV, "TWOSTEP_ENVIRONMENT": "test"}
    return CliRunner().invoke(main.app, args, env=vars_), path


def refused(res: Result, path: Path, code: str, where: str | None = None) -> str:
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr
    lines = [x for x in res.stderr.splitlines() if f"[{code}]" in x]
    assert lines, res.stderr
    if where is not None:
        assert any(f"{path}, {where}:" in x for x in lines), (where, res.stderr)
    return lines[0]


@contextmanager
def nothing_stored(env: Env) -> Iterator[None]:
    before = env.counts()
    last = env.last_audit_id()
    yield
    after = env.counts()
    outcomes = env.outcomes_since(last)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert after["audit_log"] - before["audit_log"] == len(outcomes)
    assert set(outcomes) <= {"denied"}, outcomes


def stored(res: Result, n: int) -> None:
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert f"stored {n:,} " in res.stdout, res.stdout


# ---------------------------------------------------------------------------- cases


@pytest.mark.parametrize(
    "canonical",
    [
        "https://elsewhere.example/Questionnaire/phq9",
        "https://twostep.example/fhir/Questionnaire/no-such-form",
        "http://loinc.org/q/12345-6",
        "#missing",
    ],
    ids=["foreign", "unknown-ours", "unknown-loinc", "contained-nowhere"],
)
def test_case_45_unknown_questionnaire(
    env: Env, canonical: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("network used"))
    qr = response(env.home.client_id)
    qr["questionnaire"] = canonical
    with nothing_stored(env):
        res, path = run(env, qr)
    refused(res, path, "unknown-questionnaire", "QuestionnaireResponse.questionnaire")
    # the same problem as a FHIR OperationOutcome (what a FHIR endpoint would answer)
    from twostep.errors import Problem

    outcome = operation_outcome(
        [Problem("QuestionnaireResponse.questionnaire", "unknown-questionnaire", "x")]
    )
    assert outcome["resourceType"] == "OperationOutcome"
    assert "unknown-questionnaire" in json.dumps(outcome)


@pytest.mark.parametrize("how", ["unknown-link-id", "nested-item", "item-in-answer"])
def test_case_46_unknown_or_nested_items(env: Env, how: str) -> None:
    qr = response(env.home.client_id)
    if how == "unknown-link-id":
        qr["item"][3]["linkId"] = "item_42"
        where = "QuestionnaireResponse.item[3]"
    elif how == "nested-item":
        qr["item"][2]["item"] = [copy.deepcopy(qr["item"][1])]
        where = "QuestionnaireResponse.item[2].item[0]"
    else:
        qr["item"][2]["answer"][0]["item"] = [copy.deepcopy(qr["item"][1])]
        where = "QuestionnaireResponse.item[2].answer[0].item[0]"
    with nothing_stored(env):
        res, path = run(env, qr)
    refused(res, path, "unknown-item", where)


@pytest.mark.parametrize(
    ("answers", "index"),
    [
        ([{"valueCoding": {"system": LOINC, "code": "LA6572-7"}}], 0),  # item 10's answer set
        ([{"valueInteger": 2}], 0),  # valueInteger on a coded item
        ([{"valueCoding": {"system": LOINC, "code": "LA6568-5"}}] * 2, 1),  # two answers
    ],
    ids=["coding-not-in-answer-set", "integer-on-coded-item", "two-answers"],
)
def test_case_47_invalid_answers(env: Env, answers: list[dict[str, Any]], index: int) -> None:
    qr = response(env.home.client_id)
    qr["item"][3]["answer"] = answers
    with nothing_stored(env):
        res, path = run(env, qr)
    refused(res, path, "invalid-answer", f"QuestionnaireResponse.item[3].answer[{index}]")


@pytest.mark.parametrize("status", ["in-progress", "entered-in-error", "stopped"])
def test_case_48_status_not_completed(env: Env, status: str) -> None:
    qr = response(env.home.client_id)
    qr["status"] = status
    with nothing_stored(env):
        res, path = run(env, qr)
    refused(res, path, "not-completed", "QuestionnaireResponse.status")


def test_case_48_amended_is_a_new_version(env: Env) -> None:
    qr = response(env.home.client_id, ident="amend-me")
    res, _ = run(env, qr, "first.json")
    stored(res, 1)
    changed = copy.deepcopy(qr)
    changed["status"] = "amended"
    changed["item"][0]["answer"] = [{"valueCoding": {"system": LOINC, "code": "LA6571-9"}}]
    before = env.counts()["administrations"]
    res, _ = run(env, changed, "amended.json")
    assert res.exit_code == 0, res.stderr
    assert "amendments 1" in res.stdout
    assert env.counts()["administrations"] == before + 1  # the old version stays
    a = t.administrations.c
    with env.engine.connect() as conn:
        versions = conn.execute(
            sa.select(a.version, a.supersedes_id)
            .where(a.client_id == env.home.client_id)
            .order_by(a.version.desc())
        ).first()
    assert versions is not None
    assert versions.version == 2
    assert versions.supersedes_id


@pytest.mark.parametrize("subject", ["missing", "group", "other-clinic", "unknown-patient"])
def test_case_49_subject_missing_or_outside_the_caseload(env: Env, subject: str) -> None:
    qr = response(env.home.client_id)
    if subject == "missing":
        del qr["subject"]
    elif subject == "group":
        qr["subject"] = {"reference": "Group/g1"}
    elif subject == "other-clinic":
        qr["subject"] = {"reference": f"Patient/{env.away.client_id}"}
    else:
        qr["subject"] = {"reference": f"Patient/{new_id()}"}
    with nothing_stored(env):
        res, path = run(env, qr)
    assert res.exit_code == 2, res.stdout
    assert "Traceback" not in res.stderr
    if subject in ("missing", "group"):
        refused(res, path, "missing-subject", "QuestionnaireResponse.subject")
    else:  # authorization applies to imports: the same answer as for no such client
        # the same line for another clinic's client and for no such client (no oracle)
        assert res.stderr.strip() == (
            "error: QuestionnaireResponse.subject: not a client you can import for (unknown, "
            "in another clinic, or not on your caseload) [forbidden_subject]"
        ), res.stderr


@pytest.mark.parametrize("authored", ["2024-02-10T14:03:00", "2024-02-10T14:03"])
def test_case_50_authored_without_timezone(env: Env, authored: str) -> None:
    qr = response(env.home.client_id)
    qr["authored"] = authored
    with nothing_stored(env):
        res, path = run(env, qr)
    refused(res, path, "timezone-required", "QuestionnaireResponse.authored")


@pytest.mark.parametrize("how", ["observation", "patient-in-bundle"])
def test_case_51_wrong_resource_type(env: Env, how: str) -> None:
    if how == "observation":
        data: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
        }
        where = "Observation"
    else:
        data = bundle(response(env.home.client_id), {"resourceType": "Patient", "id": "p"})
        where = "Bundle.entry[1].resource"
    with nothing_stored(env):
        res, path = run(env, data)
    refused(res, path, "wrong-resource-type", where)


def test_case_52_too_many_entries_and_transaction_all_or_nothing(env: Env) -> None:
    big = bundle(*([response(env.home.client_id, ident="same")] * 1001), kind="batch")
    with nothing_stored(env):
        res, path = run(env, big, "big.json")
    refused(res, path, "too-many-entries", "Bundle.entry")
    good = [response(env.home.client_id, days_ago=60 + i) for i in range(5)]
    good[3]["authored"] = "2024-02-10T14:03:00"  # one bad entry
    tx = bundle(*good, kind="transaction")
    for e in tx["entry"]:
        e["request"] = {"method": "POST", "url": "QuestionnaireResponse"}
    with nothing_stored(env):
        res, path = run(env, tx, "tx.json")
    refused(res, path, "timezone-required", "Bundle.entry[3].resource.authored")


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        b'<QuestionnaireResponse xmlns="http://hl7.org/fhir"><status value="completed"/></QuestionnaireResponse>',
    ],
    ids=["external-entity", "plain-xml"],
)
def test_case_53_xml_is_never_parsed(env: Env, body: bytes) -> None:
    with nothing_stored(env):
        res, path = run(env, body, "in.xml")
    refused(res, path, "unsupported-format")
    assert "root:" not in res.stdout + res.stderr  # no entity was expanded


@pytest.mark.parametrize("how", ["absolute-subject", "urn-subject", "contained-patient"])
def test_case_54_external_references_are_never_followed(
    env: Env, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("network used"))
    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: pytest.fail("network used"))
    qr = response(env.home.client_id)
    if how == "absolute-subject":
        qr["subject"] = {"reference": f"https://evil.example/fhir/Patient/{env.home.client_id}"}
        code, where = "unresolved-reference", "QuestionnaireResponse.subject"
    elif how == "urn-subject":
        qr["subject"] = {"reference": "urn:uuid:4f1d0c36-1f0e-4b61-9d57-0c7c8f6e4b1a"}
        code, where = "unresolved-reference", "QuestionnaireResponse.subject"
    else:
        qr["contained"] = [{"resourceType": "Patient", "id": "p"}]
        code, where = "unsupported-contained", "QuestionnaireResponse.contained[0]"
    with nothing_stored(env):
        res, path = run(env, qr)
    refused(res, path, code, where)


def test_case_55_same_identifier_twice_is_stored_once(env: Env) -> None:
    qr = response(env.home.client_id, ident="once-only")
    res, _ = run(env, qr, "a.json")
    stored(res, 1)
    before = env.counts()
    res, _ = run(env, qr, "b.json")
    stored(res, 0)
    assert "skipped 1" in res.stdout
    after = env.counts()  # only the access itself is on the audit trail
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    with nothing_stored(env):
        res, path = run(env, bundle(qr, copy.deepcopy(qr), kind="batch"), "dup.json")
    refused(res, path, "duplicate-identifier", "Bundle.entry[1].resource.identifier")
    # the database itself keeps one row per natural key (not search-then-insert)
    a = t.administrations.c
    with env.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(t.administrations).where(
                    a.client_id == env.home.client_id, a.source == "fhir", a.version == 1
                )
            )
            .mappings()
            .first()
        )
    assert row is not None
    twin = {**row, "id": new_id()}
    with (
        pytest.raises(sa.exc.IntegrityError, match=r"UNIQUE.*completed_at"),
        env.engine.begin() as conn,
    ):
        conn.execute(sa.insert(t.administrations).values(**twin))
