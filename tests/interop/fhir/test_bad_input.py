"""The FHIR bad-input catalogue (reliability-security.md §4.3, #45–#55).

Every rejection asserts the stable code, the FHIRPath location, and that
nothing was returned (the import raises, so no record escapes).
"""

from __future__ import annotations

import copy
import json
import socket
from typing import Any

import pytest

from twostep.errors import InputFileError, Problem
from twostep.interop.fhir import (
    FhirImportError,
    import_responses,
    operation_outcome,
)

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
OURS = "https://twostep.example/fhir/Questionnaire/phq9"


def good(**changes: Any) -> dict[str, Any]:
    """A valid PHQ-9 response on twostep's own Questionnaire."""
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": "urn:example", "value": "r-1"},
        "status": "completed",
        "questionnaire": OURS,
        "subject": {"reference": "Patient/pat-1"},
        "authored": "2024-02-10T14:03:00+01:00",
        "item": [
            {
                "linkId": f"item_{i}",
                "answer": [{"valueCoding": {"system": LOINC, "code": "LA6569-3"}}],
            }
            for i in range(1, 10)
        ],
    }
    qr.update(changes)
    return qr


def rejected(data: Any, **kwargs: Any) -> list[Problem]:
    result: Any = None
    with pytest.raises(FhirImportError) as info:
        result = import_responses(data, clinic_id="clinic-1", **kwargs)
    assert result is None  # nothing returned
    assert isinstance(info.value, InputFileError)
    return list(info.value.problems)


def only(data: Any, **kwargs: Any) -> Problem:
    problems = rejected(data, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_good_response_is_accepted() -> None:
    assert len(import_responses(good(), clinic_id="c")) == 1


# -- #45 unknown questionnaire ---------------------------------------------------------


@pytest.mark.parametrize(
    "canonical",
    [
        "https://elsewhere.example/Questionnaire/phq9",
        "http://loinc.org/q/12345-6",
        "https://twostep.example/fhir/Questionnaire/no-such-form",
        "",
    ],
)
def test_45_unknown_questionnaire(canonical: str) -> None:
    p = only(good(questionnaire=canonical))
    assert (p.code, p.where) == ("unknown-questionnaire", "QuestionnaireResponse.questionnaire")


def test_45_missing_questionnaire() -> None:
    qr = good()
    del qr["questionnaire"]
    p = only(qr)
    assert (p.code, p.where) == ("unknown-questionnaire", "QuestionnaireResponse.questionnaire")


def test_45_canonicals_are_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the importer tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    p = only(good(questionnaire="https://attacker.example/Questionnaire/x"))
    assert p.code == "unknown-questionnaire"


# -- #46 unknown or nested items ---------------------------------------------------------


def test_46_unknown_link_id() -> None:
    qr = good()
    qr["item"][3]["linkId"] = "item_42"
    p = only(qr)
    assert (p.code, p.where) == ("unknown-item", "QuestionnaireResponse.item[3]")


def test_46_linkid_text_alone_is_not_trusted() -> None:
    qr = good(questionnaire="http://loinc.org/q/44249-1")  # foreign form: item_3 means nothing
    p = rejected(qr)
    assert {x.code for x in p} == {"unknown-item"}
    assert p[0].where == "QuestionnaireResponse.item[0]"


def test_46_loinc_code_of_another_instrument() -> None:
    qr = good(questionnaire="http://loinc.org/q/44249-1")
    qr["item"] = [{"linkId": "/69725-0", "answer": [{"valueInteger": 1}]}]  # a GAD-7 item
    p = only(qr)
    assert (p.code, p.where) == ("unknown-item", "QuestionnaireResponse.item[0]")


def test_46_nested_items_where_none_are_defined() -> None:
    qr = good()
    qr["item"][2]["item"] = [{"linkId": "item_3", "answer": [{"valueInteger": 1}]}]
    p = only(qr)
    assert (p.code, p.where) == ("unknown-item", "QuestionnaireResponse.item[2].item[0]")


def test_46_items_nested_in_an_answer() -> None:
    qr = good()
    qr["item"][1]["answer"][0]["item"] = [{"linkId": "x"}]
    p = only(qr)
    assert (p.code, p.where) == ("unknown-item", "QuestionnaireResponse.item[1].answer[0].item[0]")


# -- #47 invalid answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"valueCoding": {"system": LOINC, "code": "LA6572-7"}}, "not an answer"),  # item 10's
        (
            {
                "valueCoding": {
                    "system": LOINC,
                    "code": "LA6570-1",
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                            "valueDecimal": 3,
                        }
                    ],
                }
            },
            "ordinal",
        ),
        ({"valueCoding": {"system": "urn:x", "code": "y"}}, "no ordinal"),
        ({"valueInteger": 2}, "coded"),  # valueInteger on a coded item
        ({"valueString": "2"}, "coded"),
        ({"valueBoolean": True}, "cannot be scored"),
        ({}, "no value"),
        ({"valueInteger": 1, "valueString": "1"}, "more than one"),
    ],
)
def test_47_invalid_answer(answer: dict[str, Any], reason: str) -> None:
    qr = good()
    qr["item"][3]["answer"] = [answer]
    p = only(qr)
    assert (p.code, p.where) == ("invalid-answer", "QuestionnaireResponse.item[3].answer[0]")
    assert reason in p.message


def test_47_two_answers_on_a_non_repeating_item() -> None:
    qr = good()
    qr["item"][0]["answer"].append({"valueCoding": {"system": LOINC, "code": "LA6568-5"}})
    p = only(qr)
    assert (p.code, p.where) == ("invalid-answer", "QuestionnaireResponse.item[0].answer[1]")


@pytest.mark.parametrize(
    "answer",
    [{"valueInteger": 4}, {"valueInteger": -1}, {"valueDecimal": 1.5}, {"valueString": "two"}],
)
def test_47_out_of_range_on_a_foreign_form(answer: dict[str, Any]) -> None:
    items = [{"linkId": f"/{c}", "answer": [{"valueInteger": 0}]} for c in PHQ9_ITEMS]
    items[8]["answer"] = [answer]
    p = only(good(questionnaire="http://loinc.org/q/44249-1", item=items))
    assert (p.code, p.where) == ("invalid-answer", "QuestionnaireResponse.item[8].answer[0]")


def test_47_vas_out_of_range_is_checked_by_the_catalogue() -> None:
    items = [{"linkId": f"item_{i}", "answer": [{"valueDecimal": 5.5}]} for i in range(1, 5)]
    items[2]["answer"] = [{"valueDecimal": 10.5}]
    qr = good(questionnaire="https://twostep.example/fhir/Questionnaire/ors", item=items)
    p = only(qr)
    assert (p.code, p.where) == ("invalid-answer", "QuestionnaireResponse.item[2].answer[0]")
    assert "0-10" in p.message


def test_47_same_item_twice() -> None:
    qr = good()
    qr["item"].append(copy.deepcopy(qr["item"][0]))
    p = only(qr)
    assert (p.code, p.where) == ("duplicate-item", "QuestionnaireResponse.item[9]")


def test_sender_total_that_disagrees() -> None:
    items = [{"linkId": f"/{c}", "answer": [{"valueInteger": 1}]} for c in PHQ9_ITEMS]
    items.append({"linkId": "/44261-6", "answer": [{"valueInteger": 12}]})
    p = only(good(questionnaire="http://loinc.org/q/44249-1", item=items))
    assert (p.code, p.where) == ("total-mismatch", "QuestionnaireResponse.item[9].answer[0]")


# -- #48 status ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["in-progress", "stopped", "entered-in-error"])
def test_48_not_completed(status: str) -> None:
    p = only(good(status=status))
    assert (p.code, p.where) == ("not-completed", "QuestionnaireResponse.status")


def test_48_unknown_status() -> None:
    p = only(good(status="done"))
    assert (p.code, p.where) == ("invalid-structure", "QuestionnaireResponse.status")


# -- #49 subject --------------------------------------------------------------------------


def test_49_missing_subject() -> None:
    qr = good()
    del qr["subject"]
    p = only(qr)
    assert (p.code, p.where) == ("missing-subject", "QuestionnaireResponse.subject")


@pytest.mark.parametrize("ref", ["Group/g1", "Practitioner/x"])
def test_49_subject_not_a_patient(ref: str) -> None:
    p = only(good(subject={"reference": ref}))
    assert (p.code, p.where) == ("missing-subject", "QuestionnaireResponse.subject")


def test_49_patient_under_our_base_is_accepted() -> None:
    qr = good(subject={"reference": "https://twostep.example/fhir/Patient/pat-9/_history/2"})
    assert import_responses(qr, clinic_id="c")[0].administration.client_id == "pat-9"


# -- #50 timezone -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authored", "code"),
    [
        ("2024-02-10T14:03:00", "timezone-required"),
        ("2024-02-10T14:03:00.123", "timezone-required"),
        ("2024-02-10", "timezone-required"),
        ("2024-02", "timezone-required"),
        ("2024-02-30T14:03:00Z", "invalid-datetime"),
        ("yesterday", "invalid-datetime"),
        ("2024-02-10T14:03:00+15:00", "invalid-datetime"),
    ],
)
def test_50_authored_needs_a_timezone(authored: str, code: str) -> None:
    p = only(good(authored=authored))
    assert (p.code, p.where) == (code, "QuestionnaireResponse.authored")


def test_50_missing_authored() -> None:
    qr = good()
    del qr["authored"]
    p = only(qr)
    assert (p.code, p.where) == ("missing-authored", "QuestionnaireResponse.authored")


# -- #51 resource type --------------------------------------------------------------------


def test_51_observation_posted_to_the_response_import() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    p = only(obs)
    assert (p.code, p.where) == ("wrong-resource-type", "Observation")


def test_51_wrong_resource_in_a_bundle() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": good()}, {"resource": {"resourceType": "Patient", "id": "p"}}],
    }
    p = only(bundle)
    assert (p.code, p.where) == ("wrong-resource-type", "Bundle.entry[1].resource")


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "{}"])
def test_51_not_a_resource(body: str) -> None:
    p = only(body)
    assert p.code in ("invalid-structure", "wrong-resource-type")


def test_bundle_type_searchset_or_document_is_refused() -> None:
    p = only({"resourceType": "Bundle", "type": "document", "entry": [{"resource": good()}]})
    assert (p.code, p.where) == ("invalid-bundle-type", "Bundle.type")


# -- #52 size and all-or-nothing --------------------------------------------------------


def test_52_too_many_entries() -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": good()}] * 1001}
    with pytest.raises(FhirImportError) as info:
        import_responses(bundle, clinic_id="c")
    (p,) = info.value.problems
    assert (p.code, p.where) == ("too-many-entries", "Bundle.entry")
    assert info.value.http_status == 413


def test_52_ten_thousand_entries_are_refused_before_reading_them() -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": "x"}] * 10_000}
    p = only(bundle)
    assert p.code == "too-many-entries"


def test_52_one_bad_entry_in_a_transaction_rejects_all() -> None:
    entries = []
    for n in range(5):
        qr = good(identifier={"system": "urn:example", "value": f"r-{n}"})
        entries.append(
            {"resource": qr, "request": {"method": "POST", "url": "QuestionnaireResponse"}}
        )
    entries[3]["resource"]["authored"] = "2024-02-10T14:03:00"
    entries[4]["resource"]["item"][8]["linkId"] = "item_99"
    problems = rejected({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert [(p.code, p.where) for p in problems] == [
        ("timezone-required", "Bundle.entry[3].resource.authored"),
        ("unknown-item", "Bundle.entry[4].resource.item[8]"),
    ]


def test_52_exactly_the_cap_is_accepted() -> None:
    entries = [
        {"resource": good(identifier={"system": "urn:example", "value": f"r-{n}"})}
        for n in range(1000)
    ]
    got = import_responses(
        {"resourceType": "Bundle", "type": "batch", "entry": entries}, clinic_id="c"
    )
    assert len(got) == 1000


# -- #53 XML ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        b'  <QuestionnaireResponse xmlns="http://hl7.org/fhir"/>',
    ],
)
def test_53_xml_is_never_parsed(body: str | bytes) -> None:
    p = only(body)
    assert p.code == "unsupported-format"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            '{"resourceType": "QuestionnaireResponse", "status": "completed", "status": "stopped"}',
            "twice",
        ),
        ('{"resourceType": "QuestionnaireResponse", "x": NaN}', "NaN"),
        ('{"resourceType": "QuestionnaireResponse", "x": 1e999}', "range"),
        ("{not json", "line 1"),
        (b"\xff\xfe{}", "UTF-8"),
        ("[" * 100_000, "deep"),
    ],
)
def test_53_strict_json(body: str | bytes, fragment: str) -> None:
    p = only(body)
    assert p.code == "invalid-json"
    assert fragment in p.message


# -- #54 references are never dereferenced ----------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        {"reference": "https://evil.example/fhir/Patient/1"},
        {"reference": "urn:uuid:4f1d0c36-1f0e-4b61-9d57-0c7c8f6e4b1a"},
        {"reference": "#p"},
        {"identifier": {"system": "urn:mrn", "value": "123"}},
    ],
)
def test_54_subject_references_are_not_followed(
    subject: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("network used"))
    p = only(good(subject=subject))
    assert (p.code, p.where) == ("unresolved-reference", "QuestionnaireResponse.subject")


def test_54_contained_resources_other_than_the_form() -> None:
    qr = good(contained=[{"resourceType": "Patient", "id": "p"}])
    p = only(qr)
    assert (p.code, p.where) == ("unsupported-contained", "QuestionnaireResponse.contained[0]")


def test_54_contained_form_reference_that_points_nowhere() -> None:
    p = only(good(questionnaire="#missing"))
    assert p.code == "unknown-questionnaire"


# -- #55 the same response twice --------------------------------------------------------


def test_55_same_identifier_twice_is_one_record() -> None:
    first = import_responses(json.dumps(good()), clinic_id="c")[0]
    again = import_responses(json.dumps(good()), clinic_id="c")[0]
    assert (first.natural_key, first.administration.id) == (
        again.natural_key,
        again.administration.id,
    )
    assert first.natural_key == "urn:example|r-1"


def test_55_same_identifier_twice_in_one_bundle() -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": good()}] * 2}
    p = only(bundle)
    assert (p.code, p.where) == ("duplicate-identifier", "Bundle.entry[1].resource.identifier")


def test_55_identical_responses_without_identifier_share_a_key() -> None:
    qr = good()
    del qr["identifier"]
    a = import_responses(qr, clinic_id="c")[0]
    b = import_responses(
        {**qr, "id": "other-server-id", "meta": {"versionId": "3"}}, clinic_id="c"
    )[0]
    assert a.natural_key == b.natural_key
    assert a.administration.id == b.administration.id


# -- every problem at once, and the OperationOutcome ------------------------------------


def test_all_problems_are_listed_at_once(validate: Any) -> None:
    qr = good(status="in-progress", authored="2024-02-10T14:03:00")
    del qr["subject"]
    qr["item"][0]["linkId"] = "nope"
    problems = rejected(qr)
    assert {p.code for p in problems} == {
        "not-completed",
        "timezone-required",
        "missing-subject",
        "unknown-item",
    }
    with pytest.raises(FhirImportError) as info:
        import_responses(qr, clinic_id="c")
    outcome = operation_outcome(info.value)
    validate(outcome)
    assert info.value.http_status == 422
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert (
        issue["details"]["coding"][0]["system"]
        == "https://twostep.example/fhir/CodeSystem/problems"
    )
    assert [i["details"]["coding"][0]["code"] for i in outcome["issue"]] == [
        p.code for p in problems
    ]
    assert [i["expression"] for i in outcome["issue"]] == [[p.where] for p in problems]
    assert "pat-1" not in json.dumps(outcome)  # no identifiers echoed


def test_too_many_problems_are_summarised(validate: Any) -> None:
    qr = good(item=[{"linkId": f"x{i}"} for i in range(300)])
    problems = rejected(qr)
    assert len(problems) == 101
    assert problems[-1].code == "truncated"
    validate(operation_outcome(problems))


def test_too_many_items() -> None:
    qr = good(item=[{"linkId": "item_1"}] * 1001)
    problems = rejected(qr)
    assert "too-many-items" in {p.code for p in problems}


def test_non_finite_numbers_in_a_parsed_object() -> None:
    items = [{"linkId": f"item_{i}", "answer": [{"valueDecimal": 5.0}]} for i in range(1, 5)]
    items[1]["answer"] = [{"valueDecimal": float("nan")}]
    qr = good(questionnaire="https://twostep.example/fhir/Questionnaire/srs", item=items)
    p = only(qr)
    assert (p.code, p.where) == ("invalid-answer", "QuestionnaireResponse.item[1].answer[0]")
