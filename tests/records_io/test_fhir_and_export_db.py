"""FHIR import, the client's FHIR Bundle and score exports on SQLite and PostgreSQL.

Imports go through `import_responses` (the FHIR reader) and
`store_imported_administrations` (the service), exactly as ``twostep import
fhir`` does; exports through `client_records` + `client_bundle` and
`export_scores`. Rejections leave the clinical tables unchanged and add only
the audit event of the refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from records_world import NOW, DbWorld

from twostep.domain.records import Administration, AlertKind, new_id
from twostep.errors import AccessDeniedError, ConflictError, NotFoundError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import score_submission
from twostep.interop.fhir import (
    FhirImportError,
    client_bundle,
    dumps,
    import_responses,
    questionnaire_response,
)
from twostep.services import goals, journal
from twostep.services.goals import GoalInput, StepInput
from twostep.services.records_io import (
    StoredImport,
    client_records,
    export_scores,
    pseudonym,
    store_imported_administrations,
)

DAY = timedelta(days=1)
EST = timezone(timedelta(hours=-5))
KEY = b"research-key-" + b"x" * 32
CANARY = "CANARY-records-io-journal"
Validate = Callable[[Mapping[str, Any]], None]


def phq9(total: int, item9: int = 0) -> dict[str, int | None]:
    rest, items = total - item9, []
    for _ in range(8):
        v = min(3, max(0, rest))
        items.append(v)
        rest -= v
    return {**{f"item_{i + 1}": v for i, v in enumerate(items)}, "item_9": item9}


def qr(
    client_id: str,
    answers: Mapping[str, int | None],
    authored: datetime,
    *,
    ident: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    """A QuestionnaireResponse as another system sends it (twostep's own PHQ-9 form)."""
    score = score_submission(get_instrument("phq9"), answers)
    adm = Administration(
        id=new_id(), clinic_id="sender", client_id=client_id, episode_id=None,
        instrument_id="phq9", answers=dict(answers), total=score.total,
        subscales=dict(score.subscales), band=score.band, case=score.case, risk=score.risk,
        risk_level=score.risk_level, risk_not_assessed=score.risk_not_assessed,
        prorated=score.prorated, completed_at=authored, received_at=authored,
    )  # fmt: skip
    res = dict(questionnaire_response(adm))
    res.pop("id")
    res["status"] = status
    if ident is None:
        res.pop("identifier")
    else:
        res["identifier"] = {"system": "urn:example:sender", "value": ident}
    return res


def bundle(*resources: Mapping[str, Any]) -> str:
    return dumps({"resourceType": "Bundle", "type": "collection",
                  "entry": [{"resource": dict(r)} for r in resources]})  # fmt: skip


def import_fhir(w: DbWorld, who: str, text: str, now: datetime = NOW) -> StoredImport:
    found = import_responses(text, clinic_id=w.clinic_id, received_at=now)
    return store_imported_administrations(w.factory, w.actor(who), found, now=now)


def clinical(w: DbWorld) -> dict[str, int]:
    counts = w.counts()
    counts.pop("audit_log")
    return counts


def history(w: DbWorld, name: str) -> list[Administration]:
    with w.factory() as uow:
        return uow.administrations.history(w.id(name), "phq9")


# ------------------------------------------------------------------------ FHIR import


def test_a_bundle_is_stored_and_read_back(world: DbWorld) -> None:
    w = world
    a1, a2 = w.id("client_a1"), w.id("client_a2")
    when = datetime(2024, 2, 10, 14, 3, tzinfo=EST)
    text = bundle(
        qr(a1, phq9(12), when, ident="r1"),
        qr(a2, phq9(4), when + DAY, ident="r2"),
        qr(a1, phq9(9), when + 7 * DAY),  # no identifier: keyed by its content
    )
    result = import_fhir(w, "ther_a", text)
    assert (len(result.stored), result.skipped, result.clients) == (3, 0, 2)
    got = history(w, "client_a1")
    assert [(a.total, a.completed_at) for a in got] == [(12, when), (9, when + 7 * DAY)]
    assert all(a.source == "fhir" and a.clinic_id == w.clinic_id for a in got)
    assert got[0].episode_id == w.episodes["client_a1"].id
    assert got[0].answers == {k: float(v) for k, v in phq9(12).items() if v is not None}
    # the same Bundle again: nothing new
    before = clinical(w)
    again = import_fhir(w, "ther_a", text)
    assert (len(again.stored), again.skipped) == (0, 3)
    assert clinical(w) == before


def test_a_bundle_is_all_or_nothing(world: DbWorld) -> None:
    w = world
    before = w.counts()
    good = qr(w.id("client_a1"), phq9(5), NOW - 3 * DAY, ident="ok")
    foreign = qr(w.id("client_b1"), phq9(6), NOW - 3 * DAY, ident="not-mine")
    with pytest.raises(NotFoundError, match=r"Bundle\.entry\[1\]\.resource\.subject"):
        import_fhir(w, "ther_a", bundle(good, foreign))
    other_clinic = qr(w.id("client_x"), phq9(6), NOW - 3 * DAY, ident="x")
    with pytest.raises(NotFoundError):
        import_fhir(w, "admin", bundle(good, other_clinic))
    broken = qr(w.id("client_a1"), phq9(6), NOW - 3 * DAY, ident="bad")
    broken["item"][0]["answer"] = [{"valueInteger": 7}]
    with pytest.raises(FhirImportError) as err:
        import_fhir(w, "ther_a", bundle(good, broken))
    assert err.value.problems[0].where.startswith("Bundle.entry[1].resource.item[0]")
    after = w.counts()
    assert after["audit_log"] == before["audit_log"] + 2  # the two refusals, nothing else
    after.pop("audit_log")
    before.pop("audit_log")
    assert after == before


def test_a_changed_response_is_a_conflict_and_an_amendment_a_new_version(
    world: DbWorld,
) -> None:
    w = world
    a1 = w.id("client_a1")
    when = NOW - 30 * DAY
    import_fhir(w, "ther_a", bundle(qr(a1, phq9(12), when, ident="r1")))
    (first,) = history(w, "client_a1")
    before = clinical(w)
    with pytest.raises(ConflictError, match=r"Bundle\.entry\[0\]\.resource"):
        import_fhir(w, "ther_a", bundle(qr(a1, phq9(15), when, ident="r1")))
    assert clinical(w) == before
    amended = qr(a1, phq9(15), when, ident="r1", status="amended")
    result = import_fhir(w, "ther_a", bundle(amended))
    assert (len(result.stored), result.amended) == (1, 1)
    (current,) = history(w, "client_a1")
    assert (current.version, current.supersedes_id, current.total) == (2, first.id, 15)
    with w.factory() as uow:
        assert {a.id for a in uow.administrations.for_client(a1)} == {first.id, current.id}
    # the amendment again: skipped
    assert import_fhir(w, "ther_a", bundle(amended)).skipped == 1
    assert export_scores(w.factory, w.actor("ther_a"), client_id=a1)["score"] == [15]


def test_risk_alerts_for_recent_answers_not_for_history(world: DbWorld) -> None:
    w = world
    a1, a2 = w.id("client_a1"), w.id("client_a2")
    text = bundle(
        qr(a1, phq9(14, item9=2), NOW - 2 * DAY, ident="recent"),
        qr(a2, phq9(14, item9=3), NOW - 90 * DAY, ident="old"),
    )
    result = import_fhir(w, "ther_a", text)
    assert [(a.kind, a.client_id, a.level) for a in result.alerts] == [(AlertKind.RISK, a1, 2)]
    (recent,) = history(w, "client_a1")
    with w.factory() as uow:
        stored = uow.alerts.for_client(a1)
        assert uow.alerts.for_client(a2) == []
    assert [(a.kind, a.administration_id) for a in stored] == [(AlertKind.RISK, recent.id)]


# ----------------------------------------------------------------------- exports


def seed_scores(w: DbWorld) -> None:
    start = datetime(2024, 4, 3, 9, 15, tzinfo=UTC)  # a Wednesday
    for name, totals, who in (
        ("client_a1", [15, 12, 10], "ther_a"),
        ("client_a2", [8], "ther_a"),
        ("client_b1", [20, 14], "ther_b"),
        ("client_x", [5], "ther_x"),
    ):
        found = [
            qr(w.id(name), phq9(t), start + k * 7 * DAY, ident=f"{name}-{k}")
            for k, t in enumerate(totals)
        ]
        clinic = w.users[who].clinic_id
        imported = import_responses(bundle(*found), clinic_id=clinic, received_at=NOW)
        store_imported_administrations(w.factory, w.actor(who), imported, now=NOW)


def test_exports_follow_the_role_rules(world: DbWorld) -> None:
    w = world
    seed_scores(w)
    mine = export_scores(w.factory, w.actor("ther_a"))
    assert sorted(set(mine["client_id"])) == sorted([w.id("client_a1"), w.id("client_a2")])
    rows = list(zip(*mine.values(), strict=True))
    a1_rows = [r for r in rows if r[0] == w.id("client_a1")]
    assert [(r[1], r[2], r[3], r[5]) for r in a1_rows] == [
        (1, date(2024, 4, 3), "2024-04-03T09:15:00Z", 15),
        (2, date(2024, 4, 10), "2024-04-10T09:15:00Z", 12),
        (3, date(2024, 4, 17), "2024-04-17T09:15:00Z", 10),
    ]
    assert set(mine["therapist_id"]) == {w.id("ther_a")}
    own = export_scores(w.factory, w.actor("client_b1"))
    assert (own["score"], own["session"]) == ([20, 14], [1, 2])
    with pytest.raises(NotFoundError):
        export_scores(w.factory, w.actor("ther_a"), client_id=w.id("client_b1"))
    with pytest.raises(AccessDeniedError):
        export_scores(w.factory, w.actor("admin"))
    for key in (None, KEY):  # researchers: aggregates only, never rows (AZ-09)
        with pytest.raises(AccessDeniedError):
            export_scores(w.factory, w.actor("researcher"), pseudonymise_key=key)
    shared = export_scores(w.factory, w.actor("ther_a"), pseudonymise_key=KEY)
    assert "completed_at" not in shared
    assert len(shared["score"]) == len(mine["score"])  # the same rows, de-identified
    everything = {str(v) for col in shared.values() for v in col}
    assert not everything & {u.id for u in w.users.values()}
    assert set(shared["client_id"]) == {pseudonym(KEY, w.id(n)) for n in ("client_a1", "client_a2")}
    assert {d.weekday() for d in shared["date"] if isinstance(d, date)} == {0}
    assert date(2024, 4, 1) in shared["date"]  # the Monday of 2024-04-03
    with w.factory() as uow:
        trail = [e for e in uow.audit.for_client(w.id("client_a1")) if e.action == "export"]
    assert [(e.actor_id, e.object_type, e.outcome) for e in trail] == [
        (w.id("ther_a"), "administration", "ok")
    ]


def seed_between_sessions(w: DbWorld) -> None:
    f, cid, me = w.factory, w.id("client_a1"), w.actor("client_a1")
    journal.add_journal_entry(f, me, cid, mood=3, emotions=["tired"], text=CANARY, now=NOW)
    journal.add_reflection(f, me, cid, what_happened="a setback", what_helped="a walk", now=NOW)
    journal.add_stressor(
        f, me, cid, category="work", severity=2, started_on=date(2024, 5, 2), now=NOW
    )
    journal.add_self_care(
        f, me, cid, done_on=date(2024, 6, 1), activity="nature", minutes=40, restorative=7, now=NOW
    )
    journal.add_session_topic(f, me, cid, "my sleep", now=NOW)
    levels = {-2: "none", -1: "one", 0: "two", 1: "three", 2: "four"}
    goal = goals.create_goal(
        f,
        me,
        cid,
        GoalInput("Walk", "walks a week", levels, 2, 1, steps=(StepInput("shoes"),)),
        now=NOW - 10 * DAY,
    )
    goals.record_review(f, w.actor("ther_a"), goal.goal.id, 0, notes="ok", reviewed_at=NOW, now=NOW)  # fmt: skip


def entries(b: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return [e["resource"] for e in b["entry"]]


def test_the_client_bundle_validates_and_round_trips(world: DbWorld, r4_validate: Validate) -> None:
    w = world
    seed_scores(w)
    seed_between_sessions(w)
    cid = w.id("client_a1")
    # an amended version too, so that the Bundle holds both versions
    fix = qr(cid, phq9(11), datetime(2024, 4, 17, 9, 15, tzinfo=UTC), ident="client_a1-2",
             status="amended")  # fmt: skip
    import_fhir(w, "ther_a", bundle(fix))
    own = client_bundle(client_records(w.factory, w.actor("client_a1"), cid), timestamp=NOW)
    r4_validate(own)
    kinds = sorted({r["resourceType"] for r in entries(own)})
    assert kinds == [
        "Goal",
        "Observation",
        "Patient",
        "Questionnaire",
        "QuestionnaireResponse",
        "Task",
    ]
    responses = [r for r in entries(own) if r["resourceType"] == "QuestionnaireResponse"]
    assert sorted(r["status"] for r in responses) == [
        "amended",
        "completed",
        "completed",
        "completed",
    ]
    assert CANARY in dumps(own)
    assert all(r["subject"]["reference"] == f"Patient/{cid}" for r in responses)
    # the therapist's Bundle leaves out what the client keeps private
    theirs = client_bundle(client_records(w.factory, w.actor("ther_a"), cid), timestamp=NOW)
    r4_validate(theirs)
    assert CANARY not in dumps(theirs)
    assert "a setback" not in dumps(theirs)
    # importing the export back adds nothing (ids and versions are recognised)
    before = clinical(w)
    back = import_responses(
        dumps(own), clinic_id=w.clinic_id, received_at=NOW, skip_other_resources=True
    )
    result = store_imported_administrations(w.factory, w.actor("ther_a"), back, now=NOW)
    assert (len(result.stored), result.skipped) == (0, 4)
    assert clinical(w) == before


@pytest.mark.parametrize("who", ["admin", "researcher", "ther_b", "client_a2", "ther_x"])
def test_the_client_bundle_is_refused_to_others(world: DbWorld, who: str) -> None:
    w = world
    seed_scores(w)
    with pytest.raises((AccessDeniedError, NotFoundError)):
        client_records(w.factory, w.actor(who), w.id("client_a1"))
    with w.factory() as uow:
        trail = uow.audit.for_client(w.id("client_a1"))
    assert trail[-1].outcome == "denied"
    assert trail[-1].actor_id == w.id(who)
