"""Exported Observations, QuestionnaireResponses, Goals and the client Bundle are valid R4."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from twostep.domain.records import (
    Goal,
    GoalRater,
    GoalReview,
    GoalStep,
    JournalEntry,
    SelfCareActivity,
    SelfCareEntry,
    SessionTopic,
    SetbackReflection,
    SkillPractice,
    Stressor,
    StressorCategory,
    SupportContact,
    Supporter,
    ThoughtRecord,
)
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.interop.fhir import (
    ClientRecords,
    client_bundle,
    dumps,
    goal_resource,
    goal_review_observation,
    import_responses,
    questionnaire_response,
    score_observation,
)
from twostep.interop.fhir.goals import achievement_status

IDS = default_catalogue().ids
CLIENT = "client-7"
T0 = datetime(2024, 1, 8, 18, 0, tzinfo=timezone(timedelta(hours=1)))
UCUM = "http://unitsofmeasure.org"


@pytest.mark.parametrize("instrument_id", IDS)
def test_score_observation(
    instrument_id: str, catalogue: Catalogue, make_admin: Any, validate: Any
) -> None:
    ins = catalogue.get(instrument_id)
    adm = make_admin(ins)
    obs = score_observation(adm)
    assert obs is not None
    validate(obs)
    assert obs["status"] == "final"
    assert obs["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "survey",
        "display": "Survey",
    }
    coding = obs["code"]["coding"][0]
    if ins.loinc.total:
        assert coding == {"system": "http://loinc.org", "code": ins.loinc.total}
        assert coding["code"] != ins.loinc.panel
    else:
        assert coding["system"] == "https://twostep.example/fhir/CodeSystem/instruments"
        assert coding["code"] == f"{ins.id}.total"
    assert obs["valueQuantity"] == {
        "value": adm.total,
        "unit": "{score}",
        "system": UCUM,
        "code": "{score}",
    }
    assert obs["effectiveDateTime"] == "2024-03-01T09:30:05+01:00"
    assert obs["subject"] == {"reference": "Patient/client-7"}
    assert obs["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{adm.id}"}]
    qr = questionnaire_response(adm)
    validate(qr)
    assert obs["derivedFrom"][0]["reference"] == f"QuestionnaireResponse/{qr['id']}"
    if adm.band:
        assert obs["interpretation"] == [{"text": adm.band}]


def test_total_loinc_codes(catalogue: Catalogue, make_admin: Any) -> None:
    expected = {"phq9": "44261-6", "gad7": "70274-6", "phq2": "55758-7", "pcl5": "101698-9"}
    for iid, code in expected.items():
        obs = score_observation(make_admin(catalogue.get(iid)))
        assert obs is not None
        assert obs["code"]["coding"][0]["code"] == code


def test_subscales_are_components(catalogue: Catalogue, make_admin: Any, validate: Any) -> None:
    ins = catalogue.get("pcl5")
    adm = make_admin(ins)
    obs = score_observation(adm)
    assert obs is not None
    comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in obs["component"]}
    assert comps == {f"pcl5.{k}": v for k, v in adm.subscales.items()}


def test_decimal_totals(catalogue: Catalogue, make_admin: Any) -> None:
    ors = score_observation(make_admin(catalogue.get("ors")))
    assert ors is not None
    assert ors["valueQuantity"]["value"] == pytest.approx(25.6)
    sw = score_observation(make_admin(catalogue.get("swemwbs")))
    assert sw is not None
    assert isinstance(sw["valueQuantity"]["value"], float)


def test_no_observation_without_a_total(catalogue: Catalogue, make_admin: Any) -> None:
    ins = catalogue.get("phq9")
    adm = make_admin(ins, {"item_1": 1})
    assert adm.total is None
    assert score_observation(adm) is None


def test_amended_version(catalogue: Catalogue, make_admin: Any, validate: Any) -> None:
    adm = make_admin(catalogue.get("gad7"), version=2)
    qr, obs = questionnaire_response(adm), score_observation(adm)
    assert obs is not None
    validate(qr)
    validate(obs)
    assert (qr["status"], obs["status"]) == ("amended", "amended")


def test_response_text_only_where_licensed(catalogue: Catalogue, make_admin: Any) -> None:
    phq = questionnaire_response(make_admin(catalogue.get("phq9")))
    assert phq["item"][0]["text"] == catalogue.get("phq9").item("item_1").text
    for iid in ("ors", "srs", "wai_sr", "core10", "swemwbs"):
        qr = questionnaire_response(make_admin(catalogue.get(iid)))
        assert all("text" not in item for item in qr["item"])


def test_export_refuses_bad_records(catalogue: Catalogue, make_admin: Any) -> None:
    ins = catalogue.get("phq9")
    adm = make_admin(ins)
    with pytest.raises(ValueError, match="naive"):
        questionnaire_response(dataclasses.replace(adm, completed_at=datetime(2024, 1, 1)))
    with pytest.raises(ValueError, match="FHIR id"):
        questionnaire_response(dataclasses.replace(adm, client_id="client_7"))
    with pytest.raises(ValueError, match="no item"):
        questionnaire_response(dataclasses.replace(adm, answers={"item_99": 1}))
    with pytest.raises(ValueError, match="not an answer option"):
        questionnaire_response(dataclasses.replace(adm, answers={"item_1": 7}))


# -- goals ------------------------------------------------------------------------------


def goal(**changes: Any) -> Goal:
    base = Goal(
        id="goal-1",
        clinic_id="clinic-1",
        client_id=CLIENT,
        specific_description="Walk to the shop and back three times a week",
        measurable_indicator="walks per week, from my diary",
        levels={
            -2: "No walks",
            -1: "One walk a week",
            0: "Three walks a week",
            1: "Four walks a week",
            2: "Five or more walks a week",
        },
        baseline_level=-1,
        achievable_rating=2,
        relevant_to="low mood and energy",
        target_date=date(2024, 4, 1),
        importance=3,
        difficulty=2,
        rater=GoalRater.CLIENT,
        created_at=T0,
    )
    return dataclasses.replace(base, **changes)


def review(n: int, level: int | None, notes: str = "") -> GoalReview:
    return GoalReview(
        id=f"rev-{n}",
        goal_id="goal-1",
        client_id=CLIENT,
        reviewed_at=T0 + timedelta(days=14 * n),
        attained_level=level,
        notes=notes,
    )


def test_goal_shape(validate: Any) -> None:
    reviews = [review(1, -1, "hard week"), review(2, 1, "went with a friend"), review(3, None)]
    g = goal_resource(goal(), reviews)
    validate(g)
    target = g["target"][0]
    assert target["measure"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "107332-9",
        "display": "Goal attainment scale",
    }
    assert target["detailCodeableConcept"]["coding"][0]["code"] == "LA34481-4"
    assert target["dueDate"] == "2024-04-01"
    assert g["achievementStatus"]["coding"][0]["code"] == "achieved"  # latest rated: +1
    assert g["description"]["text"] == goal().specific_description
    assert [n["text"] for n in g["note"]] == ["hard week", "went with a friend"]
    assert g["outcomeReference"] == [{"reference": f"Observation/rev-{n}"} for n in (1, 2, 3)]
    levels = [e for e in g["extension"] if e["url"].endswith("/goal-attainment-level")]
    codes = [e["extension"][0]["valueCoding"]["code"] for e in levels]
    assert codes == ["LA34479-8", "LA34480-6", "LA34481-4", "LA34483-0", "LA34484-8"]
    assert g["priority"]["coding"][0]["code"] == "high-priority"


@pytest.mark.parametrize(
    ("levels", "status"),
    [
        ([], "in-progress"),
        ([None], "in-progress"),
        ([-1], "no-change"),
        ([-2], "worsening"),
        ([0], "achieved"),
        ([2, -2], "worsening"),
        ([-2, -1], "no-change"),
    ],
)
def test_achievement_status(levels: list[int | None], status: str) -> None:
    reviews = [review(n, lv) for n, lv in enumerate(levels, start=1)]
    assert achievement_status(goal(), reviews) == status
    assert achievement_status(goal(baseline_level=-2), [review(1, -1)]) == "improving"


@pytest.mark.parametrize(
    ("rater", "code"),
    [
        (GoalRater.CLIENT, "107334-5"),
        (GoalRater.CLINICIAN, "107333-7"),
        (GoalRater.JOINT, "107332-9"),
    ],
)
def test_review_observation(rater: GoalRater, code: str, validate: Any) -> None:
    obs = goal_review_observation(review(1, 2, "great"), goal(rater=rater))
    validate(obs)
    assert obs["code"]["coding"][0]["code"] == code
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == "LA34479-8"
    assert obs["focus"] == [{"reference": "Goal/goal-1"}]
    unrated = goal_review_observation(review(2, None), goal())
    validate(unrated)
    assert "dataAbsentReason" in unrated


def test_closed_goal_without_optional_fields(validate: Any) -> None:
    g = goal(
        closed_at=T0 + timedelta(days=90),
        target_date=None,
        achievable_rating=None,
        weight=1.5,
        relevant_to="",
        created_at=None,
        rater=GoalRater.JOINT,
        importance=0,
    )
    res = goal_resource(g)
    validate(res)
    assert res["lifecycleStatus"] == "completed"
    assert "dueDate" not in res["target"][0]


# -- the client's bundle --------------------------------------------------------------------


def records(catalogue: Catalogue, make_admin: Any) -> ClientRecords:
    adms = [
        make_admin(catalogue.get(iid), adm_id=f"adm-{n}", completed_at=T0 + timedelta(days=7 * n))
        for n, iid in enumerate(["phq9", "gad7", "ors", "wai_sr", "pcl5", "phq9"])
    ]
    adms.append(make_admin(catalogue.get("phq9"), {"item_1": 2}, adm_id="adm-unscored"))
    when = T0 + timedelta(days=3)
    return ClientRecords(
        client_id=CLIENT,
        administrations=adms,
        goals=[goal()],
        goal_reviews=[review(1, -1, "slow start"), review(2, 0)],
        goal_steps=[
            GoalStep(
                "step-1", "goal-1", CLIENT, "Find walking shoes", date(2024, 1, 10), True, when
            ),
            GoalStep("step-2", "goal-1", CLIENT, "Ask Sam to join", None, False),
        ],
        journal=[
            JournalEntry("j-1", CLIENT, when, 4, ("sad", "tired"), "A long day at work."),
            JournalEntry("j-2", CLIENT, when + timedelta(days=1), None, (), ""),
        ],
        reflections=[
            SetbackReflection("r-1", CLIENT, when, "Argument", "Tight chest", "Walking", "Pause"),
        ],
        stressors=[
            Stressor(
                "s-1", CLIENT, StressorCategory.WORK, 4, date(2023, 11, 1), None, "new manager"
            ),
            Stressor("s-2", CLIENT, StressorCategory.HEALTH, 2, date(2023, 5, 1), date(2023, 9, 1)),
        ],
        self_care=[
            SelfCareEntry("sc-1", CLIENT, date(2024, 1, 9), SelfCareActivity.NATURE, 45, 8, "park"),
            SelfCareEntry("sc-2", CLIENT, date(2024, 1, 10), SelfCareActivity.SLEEP, None, None),
        ],
        skills=[SkillPractice("sk-1", CLIENT, "paced_breathing", when, 7, "before bed")],
        thought_records=[
            ThoughtRecord(
                "t-1",
                CLIENT,
                when,
                "Meeting",
                "They think I'm useless",
                "shame",
                80,
                "No reply",
                "Thanked me last week",
                "They were busy",
                40,
            )
        ],
        supporters=[
            Supporter("sup-1", CLIENT, "Sam", "friend", ("company", "emotional")),
            Supporter("sup-2", CLIENT, "Walking group", "group", (), True),
        ],
        support_contacts=[SupportContact("c-1", CLIENT, "sup-1", date(2024, 1, 11), "phone", 9)],
        topics=[
            SessionTopic("top-1", CLIENT, when, "Sleep", when + timedelta(days=4)),
            SessionTopic("top-2", CLIENT, when, "Work"),
        ],
    )


def test_client_bundle_validates(catalogue: Catalogue, make_admin: Any, validate: Any) -> None:
    recs = records(catalogue, make_admin)
    bundle = client_bundle(recs, timestamp=datetime(2024, 3, 1, tzinfo=UTC))
    validate(bundle)  # the Bundle and every entry, one by one
    assert bundle["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Patient"
    assert bundle["entry"][0]["resource"] == {"resourceType": "Patient", "id": CLIENT}
    assert kinds.count("QuestionnaireResponse") == 7
    assert kinds.count("Questionnaire") == 5
    assert kinds.count("Goal") == 1
    assert kinds.count("Task") == 2
    assert kinds.count("RelatedPerson") == 2
    # 6 scores + 2 reviews + 2 journal + 1 reflection + 2 stressors + 2 self-care + 1 skill
    # + 1 thought record + 1 contact + 2 topics
    assert kinds.count("Observation") == 20
    for entry in bundle["entry"]:
        res = entry["resource"]
        assert entry["fullUrl"] == f"https://twostep.example/fhir/{res['resourceType']}/{res['id']}"
        for key in ("subject", "patient", "for"):
            if key in res:
                assert res[key] == {"reference": f"Patient/{CLIENT}"}
    text = dumps(bundle)
    assert "A long day at work." in text  # the client's own export holds their private text
    assert json.loads(text) == bundle


def test_client_bundle_derived_from_resolves(catalogue: Catalogue, make_admin: Any) -> None:
    bundle = client_bundle(records(catalogue, make_admin))
    ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for entry in bundle["entry"]:
        res = entry["resource"]
        refs = [*res.get("derivedFrom", []), *res.get("outcomeReference", [])]
        focus = res.get("focus", [])
        refs += focus if isinstance(focus, list) else [focus]  # Task.focus is a single Reference
        for ref in refs:
            assert ref["reference"] in ids


def test_client_bundle_reimports_the_administrations(catalogue: Catalogue, make_admin: Any) -> None:
    recs = records(catalogue, make_admin)
    bundle = client_bundle(recs)
    got = import_responses(
        dumps(bundle),
        clinic_id="clinic-1",
        received_at=recs.administrations[0].received_at,
        skip_other_resources=True,
    )
    original = sorted(recs.administrations, key=lambda a: (a.completed_at, a.id))
    assert [g.administration for g in got] == original
    with pytest.raises(Exception, match="wrong-resource-type"):
        import_responses(bundle, clinic_id="clinic-1")


def test_client_bundle_refuses_another_clients_record(
    catalogue: Catalogue, make_admin: Any
) -> None:
    recs = records(catalogue, make_admin)
    stray = JournalEntry("j-9", "someone-else", T0, 3)
    with pytest.raises(ValueError, match="another client"):
        client_bundle(dataclasses.replace(recs, journal=[*recs.journal, stray]))
    stray_adm = make_admin(catalogue.get("gad7"), client_id="someone-else", adm_id="x")
    with pytest.raises(ValueError, match="another client"):
        client_bundle(dataclasses.replace(recs, administrations=[stray_adm]))


def test_client_bundle_refuses_clashing_ids(catalogue: Catalogue, make_admin: Any) -> None:
    recs = records(catalogue, make_admin)
    clash = JournalEntry("adm-0", CLIENT, T0, 3)  # same Observation id as a score
    with pytest.raises(ValueError, match="share the id"):
        client_bundle(dataclasses.replace(recs, journal=[clash]))


def test_empty_client_bundle(validate: Any) -> None:
    bundle = client_bundle(ClientRecords(client_id=CLIENT))
    validate(bundle)
    assert len(bundle["entry"]) == 1
