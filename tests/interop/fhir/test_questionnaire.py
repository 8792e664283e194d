"""Questionnaires for the catalogue: valid R4, LOINC-coded where codes exist, licence-aware."""

from __future__ import annotations

import json
from typing import Any

import pytest

from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.interop.fhir import questionnaire, questionnaires
from twostep.interop.fhir.naming import LOINC, MAX_VALUE, MIN_VALUE, ORDINAL_VALUE

IDS = default_catalogue().ids
SCORING_ONLY = ("ors", "srs", "wai_sr", "core10", "swemwbs")
INSTRUMENTS_SYSTEM = "https://twostep.example/fhir/CodeSystem/instruments"


def test_twelve_questionnaires_validate(catalogue: Catalogue, validate: Any) -> None:
    found = questionnaires(catalogue)
    assert len(found) == 12
    for q in found:
        validate(q)
    assert len({q["url"] for q in found}) == 12


@pytest.mark.parametrize("instrument_id", IDS)
def test_shape(instrument_id: str, catalogue: Catalogue, validate: Any) -> None:
    ins = catalogue.get(instrument_id)
    q = questionnaire(ins)
    validate(q)
    assert q["status"] == "active"
    assert q["version"] == ins.version
    assert q["url"] == f"https://twostep.example/fhir/Questionnaire/{ins.id.replace('_', '-')}"
    assert q["name"][0].isupper()
    assert q["name"].isalnum()
    assert q["title"] == ins.name
    assert ins.licence.notice in q["copyright"]
    assert [i["linkId"] for i in q["item"]] == list(ins.item_ids)
    for fhir_item, item in zip(q["item"], ins.items, strict=True):
        if item.loinc:
            assert fhir_item["code"] == [{"system": LOINC, "code": item.loinc}]
        else:
            assert "code" not in fhir_item
        if item.scale.kind == "choice":
            assert fhir_item["type"] == "choice"
            options = fhir_item["answerOption"]
            assert [o["extension"][0]["url"] for o in options] == [ORDINAL_VALUE] * len(options)
            assert [o["extension"][0]["valueDecimal"] for o in options] == list(item.scale.values)
            for o, opt in zip(options, item.scale.options, strict=True):
                if opt.loinc:
                    assert o["valueCoding"]["system"] == LOINC
                    assert o["valueCoding"]["code"] == opt.loinc
                else:
                    assert o["valueCoding"]["code"] == str(opt.value)
                    assert "/CodeSystem/answers/" in o["valueCoding"]["system"]
        else:
            assert fhir_item["type"] == "decimal"
            ext = {e["url"]: e for e in fhir_item["extension"]}
            assert ext[MIN_VALUE]["valueDecimal"] == item.scale.minimum
            assert ext[MAX_VALUE]["valueDecimal"] == item.scale.maximum


@pytest.mark.parametrize(
    ("instrument_id", "panel"),
    [("phq9", "44249-1"), ("gad7", "69737-5"), ("phq2", "55757-9"), ("pcl5", "101697-1")],
)
def test_loinc_panel_code(instrument_id: str, panel: str, catalogue: Catalogue) -> None:
    q = questionnaire(catalogue.get(instrument_id))
    assert q["code"] == [{"system": LOINC, "code": panel}]


@pytest.mark.parametrize(
    "instrument_id", ["core10", "k10", "wai_sr", "ors", "srs", "swemwbs", "gad2", "engagement"]
)
def test_twostep_code_without_loinc(instrument_id: str, catalogue: Catalogue) -> None:
    q = questionnaire(catalogue.get(instrument_id))
    assert q["code"][0]["system"] == INSTRUMENTS_SYSTEM
    assert q["code"][0]["code"] == instrument_id


def test_phq9_loinc_item_and_answer_codes(catalogue: Catalogue) -> None:
    q = questionnaire(catalogue.get("phq9"))
    codes = [i["code"][0]["code"] for i in q["item"]]
    assert codes == [
        "44250-9",
        "44255-8",
        "44259-0",
        "44254-1",
        "44251-7",
        "44258-2",
        "44252-5",
        "44253-3",
        "44260-8",
        "69722-7",
    ]
    answers = [o["valueCoding"]["code"] for o in q["item"][0]["answerOption"]]
    assert answers == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    difficulty = [o["valueCoding"]["code"] for o in q["item"][9]["answerOption"]]
    assert difficulty == ["LA6572-7", "LA6573-5", "LA6575-0", "LA6574-3"]


@pytest.mark.parametrize("instrument_id", SCORING_ONLY)
def test_no_item_text_for_scoring_only(instrument_id: str, catalogue: Catalogue) -> None:
    ins = catalogue.get(instrument_id)
    assert not ins.shows_item_text
    q = questionnaire(ins)
    assert [i["text"] for i in q["item"]] == [i.label for i in ins.items]
    text = json.dumps(q)
    for item in ins.items:
        if item.text:
            assert item.text not in text
    assert "not licensed to distribute" in q["copyright"]


def test_item_text_where_the_licence_allows(catalogue: Catalogue) -> None:
    ins = catalogue.get("phq9")
    q = questionnaire(ins)
    assert q["item"][8]["text"] == ins.item("item_9").text
    assert "not licensed" not in q["copyright"]


def test_ors_line_has_one_decimal(catalogue: Catalogue) -> None:
    q = questionnaire(catalogue.get("ors"))
    ext = {e["url"]: e for e in q["item"][0]["extension"]}
    assert ext["http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"]["valueInteger"] == 1


def test_base_is_configurable(catalogue: Catalogue, validate: Any) -> None:
    q = questionnaire(catalogue.get("core10"), base="https://clinic.example.org/fhir")
    validate(q)
    assert q["url"] == "https://clinic.example.org/fhir/Questionnaire/core10"
    assert q["code"][0]["system"] == "https://clinic.example.org/fhir/CodeSystem/instruments"
    with pytest.raises(ValueError, match="trailing"):
        questionnaire(catalogue.get("core10"), base="https://clinic.example.org/fhir/")
