"""Import errors and their FHIR ``OperationOutcome``.

reliability-security.md §5: FHIR endpoints answer errors with an
``OperationOutcome`` carrying the same stable codes as the problem+json
responses elsewhere. One issue per `Problem`:

* ``severity`` error; ``code`` the FHIR IssueType that fits (`ISSUE_TYPES`);
* ``details.coding`` = ``{base}/CodeSystem/problems`` + the twostep code
  (``unknown-questionnaire``, ``invalid-answer``, ...), ``details.text`` the
  message;
* ``expression`` = the FHIRPath location
  (``QuestionnaireResponse.item[3].answer[0]``,
  ``Bundle.entry[2].resource.subject``).

Messages never echo free text or identifiers from the input, only positions,
codes and allowed values (reliability-security.md §5).

HTTP status: 413 when a Bundle has too many entries (catalogue #52), 422 for
everything else the importer rejects (catalogue #45–#51, #53, #54).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twostep.errors import InputFileError, Problem, ValidationError
from twostep.interop.fhir.jsonio import JSONObject, JSONValue
from twostep.interop.fhir.naming import DEFAULT_BASE, Naming

#: twostep problem code -> FHIR R4 IssueType (valueset-issue-type).
ISSUE_TYPES: Mapping[str, str] = {
    "invalid-json": "structure",
    "unsupported-format": "structure",
    "invalid-structure": "structure",
    "wrong-resource-type": "not-supported",
    "invalid-bundle-type": "not-supported",
    "too-many-entries": "too-costly",
    "too-many-items": "too-costly",
    "unknown-questionnaire": "not-found",
    "unknown-item": "structure",
    "duplicate-item": "structure",
    "invalid-answer": "value",
    "total-mismatch": "business-rule",
    "not-completed": "business-rule",
    "missing-subject": "required",
    "missing-authored": "required",
    "timezone-required": "value",
    "invalid-datetime": "value",
    "unresolved-reference": "not-found",
    "unsupported-contained": "not-supported",
    "duplicate-identifier": "duplicate",
    "invalid-identifier": "value",
    "truncated": "informational",
}

#: Problem codes answered with 413 Content Too Large instead of 422.
TOO_LARGE = frozenset({"too-many-entries", "too-many-items"})


class FhirImportError(InputFileError):
    """FHIR input that breaks the import rules; nothing of it was imported.

    ``problems`` name the FHIRPath location (``Problem.where``) and a stable
    code (``Problem.code``); `operation_outcome` renders them for the API.
    """

    @property
    def http_status(self) -> int:
        return http_status(self.problems)


def http_status(problems: Sequence[Problem]) -> int:
    """413 if any problem is a size limit, else 422."""
    return 413 if any(p.code in TOO_LARGE for p in problems) else 422


def operation_outcome(
    error: ValidationError | Sequence[Problem], *, base: str = DEFAULT_BASE
) -> JSONObject:
    """The FHIR R4 OperationOutcome for ``error`` (or a list of problems)."""
    naming = Naming(base)
    problems = error.problems if isinstance(error, ValidationError) else tuple(error)
    issues: list[JSONValue] = []
    for p in problems:
        issue: JSONObject = {
            "severity": "information" if p.code == "truncated" else "error",
            "code": ISSUE_TYPES.get(p.code, "invalid"),
            "details": {
                "coding": [{"system": naming.problems_system, "code": p.code}],
                "text": p.message,
            },
            "diagnostics": str(p),
        }
        if p.where and not p.where.startswith("("):
            issue["expression"] = [p.where]
        issues.append(issue)
    if not issues:
        issues.append({"severity": "information", "code": "informational"})
    return {"resourceType": "OperationOutcome", "issue": issues}
