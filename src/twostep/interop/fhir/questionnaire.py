"""A FHIR R4 ``Questionnaire`` for each catalogue instrument.

Shape (FHIR R4 questionnaire.html; conventions of methods.md §13 and the
forms published by NLM LHC-Forms and the German MII PROMs module):

* ``url`` ``{base}/Questionnaire/{fhir_id}``, ``version`` = the catalogue
  version, ``status`` active, ``name`` (computable) and ``title``;
* ``code`` = the LOINC panel where one exists (PHQ-9 44249-1, GAD-7 69737-5,
  PHQ-2 55757-9, PCL-5 101697-1), otherwise the twostep instruments code
  system with the instrument id (CORE-10, K10, WAI-SR, ORS, SRS, SWEMWBS,
  GAD-2, the engagement check);
* one item per catalogue item, ``linkId`` = the item id, ``prefix`` = its
  number, ``code`` = its LOINC code when known;
* choice scales: ``type`` choice, one ``answerOption`` per option with a
  ``valueCoding`` (the LOINC answer code where one exists, else the twostep
  answer code system whose code is the ordinal value) and the ordinal value
  in the ``ordinalValue`` extension (R5 ``itemWeight``);
* visual-analogue scales: ``type`` decimal with ``minValue``/``maxValue``
  and ``maxDecimalPlaces`` extensions;
* item wording only where the licence allows it (`Instrument.shows_item_text`;
  methods.md §8 legend). Otherwise the item text is twostep's neutral label
  and ``copyright`` says the wording is not distributed. ``copyright``
  always carries the instrument's licence notice.

Nothing here needs ``fhir.resources``: resources are plain JSON data.
"""

from __future__ import annotations

import math
import re

from twostep.instruments.model import Instrument, Item, ResponseOption, ResponseScale
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.interop.fhir.jsonio import JSONObject, JSONValue
from twostep.interop.fhir.naming import (
    DEFAULT_BASE,
    LOINC,
    MAX_DECIMAL_PLACES,
    MAX_VALUE,
    MIN_VALUE,
    ORDINAL_VALUE,
    Naming,
    fhir_id,
)

WORDING_WITHHELD = (
    " Item wording is not included: twostep is not licensed to distribute it. "
    "Items carry short neutral labels written by twostep; a licensed deployment "
    "supplies the form itself."
)


def computable_name(instrument: Instrument) -> str:
    """A FHIR computable name (``[A-Z][A-Za-z0-9_]*``) from the short name: ``PHQ-9`` -> ``PHQ9``."""
    words = re.split(r"[^A-Za-z0-9]+", instrument.short_name)
    name = "".join(w[:1].upper() + w[1:] for w in words if w)
    if not name or not name[0].isalpha():
        name = "Q" + name
    return name


def instrument_coding(instrument: Instrument, naming: Naming) -> JSONObject:
    """The Coding that names the instrument: its LOINC panel, else the twostep code."""
    if instrument.loinc.panel:
        return {"system": LOINC, "code": instrument.loinc.panel}
    return {
        "system": naming.instruments_system,
        "code": instrument.id,
        "display": instrument.name,
    }


def answer_coding(
    instrument: Instrument, scale: ResponseScale, option: ResponseOption, naming: Naming
) -> JSONObject:
    """The Coding of one answer option: LOINC answer code, else twostep's (code = ordinal)."""
    if option.loinc:
        return {"system": LOINC, "code": option.loinc, "display": option.label}
    return {
        "system": naming.answers_system(instrument.id, scale.id),
        "code": str(option.value),
        "display": option.label,
    }


def _decimal_places(resolution: float) -> int:
    if resolution <= 0 or resolution >= 1:
        return 0
    return max(0, math.ceil(-math.log10(resolution) - 1e-9))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _item(instrument: Instrument, item: Item, naming: Naming) -> JSONObject:
    out: JSONObject = {"linkId": item.id, "prefix": str(item.number)}
    if item.loinc:
        out["code"] = [{"system": LOINC, "code": item.loinc}]
    text = item.text if instrument.shows_item_text and item.text else item.label
    out["text"] = text or f"Item {item.number}"
    scale = item.scale
    if scale.kind == "choice":
        out["type"] = "choice"
        options: list[JSONValue] = []
        for option in scale.options:
            options.append(
                {
                    "extension": [{"url": ORDINAL_VALUE, "valueDecimal": option.value}],
                    "valueCoding": answer_coding(instrument, scale, option, naming),
                }
            )
        out["answerOption"] = options
    else:
        out["type"] = "decimal"
        out["extension"] = [
            {"url": MIN_VALUE, "valueDecimal": _number(scale.minimum)},
            {"url": MAX_VALUE, "valueDecimal": _number(scale.maximum)},
            {"url": MAX_DECIMAL_PLACES, "valueInteger": _decimal_places(scale.resolution)},
        ]
    return out


def questionnaire(instrument: Instrument, *, base: str = DEFAULT_BASE) -> JSONObject:
    """The FHIR R4 Questionnaire of ``instrument`` (see the module docstring for the shape)."""
    naming = Naming(base)
    copyright_text = instrument.licence.notice.strip()
    if not instrument.shows_item_text:
        copyright_text += WORDING_WITHHELD
    out: JSONObject = {
        "resourceType": "Questionnaire",
        "id": fhir_id(instrument.id),
        "url": naming.questionnaire_url(instrument.id),
        "version": instrument.version,
        "name": computable_name(instrument),
        "title": instrument.name,
        "status": "active",
        "experimental": False,
        "subjectType": ["Patient"],
        "publisher": "twostep",
        "description": instrument.description,
        "copyright": copyright_text,
        "code": [instrument_coding(instrument, naming)],
        "item": [_item(instrument, item, naming) for item in instrument.items],
    }
    return out


def questionnaires(
    catalogue: Catalogue | None = None, *, base: str = DEFAULT_BASE
) -> list[JSONObject]:
    """A Questionnaire for every instrument of ``catalogue`` (default: the built-in one)."""
    cat = catalogue if catalogue is not None else default_catalogue()
    return [questionnaire(ins, base=base) for ins in cat]
