"""Names twostep gives things in FHIR: canonical URLs, code systems, identifiers, ids.

Every URL twostep mints hangs off one configurable base (``DEFAULT_BASE``,
``https://twostep.example/fhir``); a deployment passes its own public FHIR
base (e.g. from a ``TWOSTEP_FHIR_BASE`` setting) to every export and import
function. The names are:

* ``{base}/Questionnaire/{fhir_id}`` — one Questionnaire per catalogue
  instrument (``fhir_id`` is the instrument id with ``_`` turned into ``-``,
  because FHIR ids allow only ``[A-Za-z0-9-.]``);
* ``{base}/CodeSystem/instruments`` — codes for instruments without LOINC
  codes (methods.md §13): ``<instrument id>`` for the instrument,
  ``<instrument id>.total`` for its total score and
  ``<instrument id>.<subscale id>`` for a subscale;
* ``{base}/CodeSystem/answers/{fhir_id}/{scale id}`` — answer codes for
  choice scales without LOINC answer codes; the code is the ordinal value;
* ``{base}/CodeSystem/client-records`` — codes for the between-session
  records (journal mood, self-care, stressors, ...);
* ``{base}/CodeSystem/problems`` — the stable problem codes of the importer
  (used in ``OperationOutcome.issue.details``);
* ``{base}/identifier/administration`` — identifier system whose value is the
  twostep administration id (makes re-import idempotent);
* ``{base}/StructureDefinition/{name}`` — twostep extensions.

HL7 and terminology URLs are those of FHIR R4 (4.0.1) and its extension
registry (``ordinalValue``, ``minValue``, ``maxValue``, ``maxDecimalPlaces``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_BASE = "https://twostep.example/fhir"

#: The media type of FHIR JSON (FHIR R4 http.html#mime-type).
FHIR_JSON = "application/fhir+json"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
GOAL_PRIORITY = "http://terminology.hl7.org/CodeSystem/goal-priority"

#: ``ordinalValue`` (R4 extension registry; R5 ``itemWeight``); MII PROMs and
#: NLM LHC-Forms put it on ``answerOption``.
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
#: The older name of the same extension (FHIR R3/R4 core).
ORDINAL_VALUE_LEGACY = "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value"
#: R5's ``itemWeight`` as an extension, seen in back-ported forms.
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
ORDINAL_EXTENSIONS = (ORDINAL_VALUE, ORDINAL_VALUE_LEGACY, ITEM_WEIGHT)

MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MAX_DECIMAL_PLACES = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"

#: FHIR ``id`` datatype (R4 datatypes.html#id).
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
#: A LOINC code (``12345-6``; the check digit follows the dash).
LOINC_CODE = re.compile(r"^[0-9]{1,7}-[0-9]$")

# Goal Attainment Scaling (methods.md §7, from the HL7 Person-Centered Outcomes guide).
GAS_SCALE = "107332-9"  # Goal attainment scale
GAS_PRACTITIONER_FOLLOW_UP = "107333-7"
GAS_PATIENT_FOLLOW_UP = "107334-5"
GAS_ANSWER_LIST = "LL6900-6"
#: GAS level -> (LOINC answer code, display) from answer list LL6900-6.
GAS_LEVELS: dict[int, tuple[str, str]] = {
    2: ("LA34479-8", "Much better than expected"),
    1: ("LA34480-6", "Better than expected"),
    0: ("LA34481-4", "Expected outcome"),
    -1: ("LA34483-0", "Less than expected"),
    -2: ("LA34484-8", "Much less than expected"),
}


def fhir_id(value: str) -> str:
    """``value`` as a FHIR id: ``_`` becomes ``-``; ValueError if still not a valid id."""
    candidate = value.replace("_", "-")
    if not FHIR_ID.match(candidate):
        raise ValueError(f"{value!r} cannot be used as a FHIR id ([A-Za-z0-9-.], 1-64 chars)")
    return candidate


def require_id(value: str, what: str) -> str:
    """``value`` unchanged if it is a valid FHIR id, else ValueError naming ``what``."""
    if not FHIR_ID.match(value):
        raise ValueError(f"{what} {value!r} is not a valid FHIR id ([A-Za-z0-9-.], 1-64 chars)")
    return value


@dataclass(frozen=True)
class Naming:
    """The URLs twostep mints under one FHIR ``base`` (see the module docstring)."""

    base: str = DEFAULT_BASE

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", self.base) or self.base.endswith("/"):
            raise ValueError(
                f"FHIR base must be an http(s) URL without a trailing '/': {self.base!r}"
            )

    def questionnaire_url(self, instrument_id: str) -> str:
        return f"{self.base}/Questionnaire/{fhir_id(instrument_id)}"

    @property
    def questionnaire_prefix(self) -> str:
        return f"{self.base}/Questionnaire/"

    @property
    def instruments_system(self) -> str:
        return f"{self.base}/CodeSystem/instruments"

    def answers_system(self, instrument_id: str, scale_id: str) -> str:
        return f"{self.base}/CodeSystem/answers/{fhir_id(instrument_id)}/{scale_id}"

    @property
    def records_system(self) -> str:
        return f"{self.base}/CodeSystem/client-records"

    @property
    def problems_system(self) -> str:
        return f"{self.base}/CodeSystem/problems"

    @property
    def administration_system(self) -> str:
        return f"{self.base}/identifier/administration"

    def extension(self, name: str) -> str:
        return f"{self.base}/StructureDefinition/{name}"
