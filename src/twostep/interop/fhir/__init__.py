"""FHIR R4 interoperability: Questionnaires out, QuestionnaireResponses in, scores and records out.

Resources are plain JSON data (``dict``s; `dumps` gives the text, media type
``application/fhir+json``); the runtime does not depend on ``fhir.resources``,
which the tests use to validate every exported resource against the R4 models.

Modules: `naming` (URLs and code systems under a configurable base),
`questionnaire` (catalogue -> Questionnaire), `mapping` (foreign forms ->
catalogue items and answers), `responses` (QuestionnaireResponse/Bundle ->
`Administration`), `export` (QuestionnaireResponse, score Observation,
client Bundle), `goals` (Goal with GAS), `between_sessions` (journal, stressors,
self-care, ... as Observations), `outcome` (import errors as OperationOutcome),
`jsonio` and `datetimes` (strict JSON and dateTime handling).
"""

from __future__ import annotations

from twostep.interop.fhir.export import (
    ClientRecords,
    client_bundle,
    questionnaire_response,
    score_observation,
)
from twostep.interop.fhir.goals import goal_resource, goal_review_observation, goal_step_task
from twostep.interop.fhir.jsonio import JSONObject, JSONValue, dumps, loads
from twostep.interop.fhir.naming import DEFAULT_BASE, FHIR_JSON, Naming
from twostep.interop.fhir.outcome import FhirImportError, http_status, operation_outcome
from twostep.interop.fhir.questionnaire import questionnaire, questionnaires
from twostep.interop.fhir.responses import MAX_BUNDLE_ENTRIES, ImportedResponse, import_responses

__all__ = [
    "DEFAULT_BASE",
    "FHIR_JSON",
    "MAX_BUNDLE_ENTRIES",
    "ClientRecords",
    "FhirImportError",
    "ImportedResponse",
    "JSONObject",
    "JSONValue",
    "Naming",
    "client_bundle",
    "dumps",
    "goal_resource",
    "goal_review_observation",
    "goal_step_task",
    "http_status",
    "import_responses",
    "loads",
    "operation_outcome",
    "questionnaire",
    "questionnaire_response",
    "questionnaires",
    "score_observation",
]
