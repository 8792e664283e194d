"""Importing QuestionnaireResponses written by other systems (LHC-Forms, MII PROMs, local forms)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from twostep.interop.fhir import FhirImportError, import_responses

RECEIVED = datetime(2024, 3, 2, 10, 0, tzinfo=UTC)
LOINC = "http://loinc.org"
PHQ9_ITEMS = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
GAD7_ITEMS = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
FREQ = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
MII_PHQ9 = (
    "https://www.medizininformatik-initiative.de/fhir/ext/modul-pro/Questionnaire/mii-qst-pro-phq-9"
)


def coded(code: str, ordinal: float | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": LOINC, "code": code}
    if ordinal is not None:
        coding["extension"] = [
            {"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": ordinal}
        ]
    return {"valueCoding": coding}


def response(questionnaire: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": questionnaire,
        "subject": {"reference": "Patient/pat-1"},
        "authored": "2024-02-10T14:03:00-05:00",
        "item": items,
        **extra,
    }


def lhc_phq9(values: list[int], total: int | None = None) -> dict[str, Any]:
    items = [
        {"linkId": f"/{code}", "text": "…", "answer": [coded(FREQ[v])]}
        for code, v in zip(PHQ9_ITEMS, values, strict=True)
    ]
    if total is not None:
        items.append({"linkId": "/44261-6", "answer": [{"valueDecimal": total}]})
    return response(
        "http://loinc.org/q/44249-1",
        items,
        identifier={"system": "urn:example:lhc", "value": "qr-123"},
    )


def one(data: Any, **kwargs: Any) -> Any:
    found = import_responses(data, clinic_id="clinic-1", received_at=RECEIVED, **kwargs)
    assert len(found) == 1
    return found[0]


def test_lhc_forms_phq9() -> None:
    values = [1, 2, 0, 3, 1, 0, 2, 1, 0]
    got = one(json.dumps(lhc_phq9(values, total=10)))
    adm = got.administration
    assert adm.instrument_id == "phq9"
    assert adm.answers == {f"item_{i + 1}": v for i, v in enumerate(values)}
    assert adm.total == 10
    assert adm.band == "moderate"
    assert adm.risk is False
    assert adm.client_id == "pat-1"
    assert adm.episode_id is None
    assert adm.source == "fhir"
    assert adm.completed_at == datetime(2024, 2, 10, 19, 3, tzinfo=UTC)
    assert adm.completed_at.utcoffset() == timedelta(hours=-5)  # the offset is kept
    assert adm.received_at == RECEIVED
    assert got.natural_key == "urn:example:lhc|qr-123"
    assert got.reported_total == 10
    assert got.amended is False


def test_loinc_linkids_without_slash_and_relative_canonical() -> None:
    data = lhc_phq9([0] * 9)
    for item in data["item"]:
        item["linkId"] = item["linkId"].lstrip("/")
    data["questionnaire"] = "Questionnaire/44249-1"
    assert one(data).administration.total == 0


def test_mii_phq9_with_ordinal_values() -> None:
    values = [3, 3, 2, 1, 0, 0, 1, 2, 0]
    items = [
        {"linkId": f"PHQ.{i + 1}", "answer": [coded(FREQ[v], ordinal=v)]}
        for i, v in enumerate(values)
    ]
    items.append({"linkId": "PHQ.10", "answer": [coded("LA6574-3", ordinal=3)]})
    got = one(response(MII_PHQ9, items, authored="2023-10-01T12:00:00Z"))
    assert got.administration.answers["item_1"] == 3
    assert got.administration.answers["item_10"] == 3  # difficulty: LA6574-3 is 3
    assert got.administration.total == 12
    assert got.natural_key.startswith("sha256:")


def test_mii_relative_canonical_and_new_linkids() -> None:
    items = [{"linkId": f"phq-phq2{'abcdefghi'[i]}", "answer": [coded(FREQ[1])]} for i in range(9)]
    items.append({"linkId": "phq-phq9-difficulty", "answer": [coded("LA6575-0")]})
    got = one(response("Questionnaire/mii-qst-pro-phq-9", items))
    assert got.administration.total == 9
    assert got.administration.answers["item_10"] == 2  # LA6575-0 "very difficult" is 2


def test_ordinal_value_on_a_local_code() -> None:
    items = [
        {
            "linkId": f"PHQ-9.{i + 1}",
            "answer": [
                {
                    "valueCoding": {
                        "system": "urn:example:local",
                        "code": f"ans-{2}",
                        "extension": [
                            {
                                "url": "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
                                "valueDecimal": 2,
                            }
                        ],
                    }
                }
            ],
        }
        for i in range(9)
    ]
    assert one(response(MII_PHQ9, items)).administration.total == 18


@pytest.mark.parametrize(
    "answer",
    [{"valueInteger": 2}, {"valueString": "2"}, {"valueDecimal": 2}, {"valueDecimal": 2.0}],
)
def test_numeric_answer_forms(answer: dict[str, Any]) -> None:
    items = [{"linkId": f"/{c}", "answer": [answer]} for c in PHQ9_ITEMS]
    got = one(response("http://loinc.org/q/44249-1", items))
    assert got.administration.answers == {f"item_{i}": 2 for i in range(1, 10)}
    assert all(type(v) is int for v in got.administration.answers.values())
    assert got.administration.total == 18


def test_gad7_item2_la18938_3_means_2() -> None:
    items = [{"linkId": f"/{c}", "answer": [coded(FREQ[0])]} for c in GAD7_ITEMS]
    items[1]["answer"] = [coded("LA18938-3")]  # LOINC's own form: "More days than not"
    got = one(response("http://loinc.org/q/69737-5", items))
    assert got.administration.answers["item_2"] == 2
    assert got.administration.total == 2


def test_risk_item_answered_1_raises_risk() -> None:
    values = [0] * 8 + [1]
    adm = one(lhc_phq9(values)).administration
    assert adm.risk is True
    assert adm.risk_level == 1
    assert adm.risk_not_assessed is False


def test_missing_risk_item_is_not_assessed_and_not_imputed() -> None:
    data = lhc_phq9([1] * 9)
    data["item"] = data["item"][:8]
    adm = one(data).administration
    assert adm.risk is False
    assert adm.risk_not_assessed is True
    assert adm.total is None  # item 9 is never imputed
    assert "item_9" not in adm.answers


def test_prorated_when_one_item_is_missing() -> None:
    data = lhc_phq9([2] * 9, total=16)
    del data["item"][0]["answer"]  # unanswered item 1
    got = one(data)
    assert got.administration.answers["item_1"] is None
    assert got.administration.prorated is True
    assert got.administration.total == 18  # mean 2 x 9; the sender's 16 is not compared


def test_sender_total_that_agrees_is_accepted() -> None:
    assert one(lhc_phq9([1] * 9, total=9)).administration.total == 9


def test_form_supplied_in_the_bundle_maps_by_item_code_and_ordinal() -> None:
    local_codes = ["n", "s", "m", "e"]
    form = {
        "resourceType": "Questionnaire",
        "url": "https://other.example/Questionnaire/angst",
        "status": "active",
        "code": [{"system": LOINC, "code": "69737-5"}],
        "item": [
            {
                "linkId": "g",
                "type": "group",
                "item": [
                    {
                        "linkId": f"q{i + 1}",
                        "type": "choice",
                        "code": [{"system": LOINC, "code": code}],
                        "answerOption": [
                            {
                                "valueCoding": {"system": "urn:local", "code": c},
                                "extension": [
                                    {
                                        "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                                        "valueDecimal": v,
                                    }
                                ],
                            }
                            for v, c in enumerate(local_codes)
                        ],
                    }
                    for i, code in enumerate(
                        reversed(GAD7_ITEMS)
                    )  # linkIds do not follow item order
                ],
            }
        ],
    }
    answers = [
        {"linkId": f"q{i + 1}", "answer": [{"valueCoding": {"system": "urn:local", "code": "m"}}]}
        for i in range(7)
    ]
    answers[0]["answer"] = [{"valueCoding": {"system": "urn:local", "code": "e"}}]  # q1 = item 7
    qr = response(
        "https://other.example/Questionnaire/angst|2.0", [{"linkId": "g", "item": answers}]
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": qr, "request": {"method": "POST", "url": "QuestionnaireResponse"}},
            {"resource": form, "request": {"method": "PUT", "url": "Questionnaire/angst"}},
        ],
    }
    adm = one(bundle).administration
    assert adm.instrument_id == "gad7"
    assert adm.answers["item_7"] == 3
    assert adm.answers["item_1"] == 2
    assert adm.total == 15


def test_form_contained_in_the_response() -> None:
    form = {
        "resourceType": "Questionnaire",
        "id": "f",
        "status": "active",
        "code": [{"system": "https://twostep.example/fhir/CodeSystem/instruments", "code": "k10"}],
        "item": [{"linkId": f"k{i}", "type": "integer"} for i in range(1, 11)],
    }
    qr = response("#f", [], contained=[form])
    del qr["item"]
    # no item maps (K10 has no LOINC codes): an empty response is unscorable but valid
    adm = one(qr).administration
    assert adm.instrument_id == "k10"
    assert adm.total is None
    assert adm.answers == {}


def test_caller_supplied_questionnaire() -> None:
    form = {
        "resourceType": "Questionnaire",
        "url": "https://partner.example/fhir/Questionnaire/phq",
        "status": "active",
        "code": [{"system": LOINC, "code": "44249-1"}],
        "item": [
            {"linkId": f"x{i}", "type": "integer", "code": [{"system": LOINC, "code": c}]}
            for i, c in enumerate(PHQ9_ITEMS)
        ],
    }
    items = [{"linkId": f"x{i}", "answer": [{"valueInteger": 1}]} for i in range(9)]
    qr = response("https://partner.example/fhir/Questionnaire/phq", items)
    assert one(qr, questionnaires=[form]).administration.total == 9
    with pytest.raises(FhirImportError):
        one(qr)  # without the definition the canonical is unknown


def test_amended_is_flagged_for_a_new_version() -> None:
    data = lhc_phq9([1] * 9)
    data["status"] = "amended"
    got = one(data)
    assert got.amended is True
    assert got.administration.version == 1  # the caller links it to the stored one


def test_reimport_gives_the_same_record() -> None:
    data = json.dumps(lhc_phq9([1] * 9))
    first, second = one(data), one(data)
    assert first.natural_key == second.natural_key
    assert first.administration.id == second.administration.id
    other_clinic = import_responses(data, clinic_id="clinic-2", received_at=RECEIVED)[0]
    assert other_clinic.administration.id != first.administration.id


def test_bundle_of_several_responses_in_order() -> None:
    a, b = lhc_phq9([0] * 9), lhc_phq9([3] * 9)
    b["identifier"] = {"system": "urn:example:lhc", "value": "qr-124"}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": a}, {"resource": b}],
    }
    got = import_responses(bundle, clinic_id="c", received_at=RECEIVED)
    assert [g.administration.total for g in got] == [0, 27]
    assert [g.location for g in got] == ["Bundle.entry[0].resource", "Bundle.entry[1].resource"]
    assert import_responses({"resourceType": "Bundle", "type": "collection"}, clinic_id="c") == ()


def test_bytes_with_bom() -> None:
    data = ("\ufeff" + json.dumps(lhc_phq9([1] * 9))).encode("utf-8")
    assert one(data).administration.total == 9


def test_received_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        import_responses(lhc_phq9([1] * 9), clinic_id="c", received_at=datetime(2024, 1, 1))
