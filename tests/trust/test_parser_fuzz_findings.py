"""Inputs the parser fuzzer (benchmarks/fuzz_parsers.py) found, kept as regressions.

Each must be refused with the documented error (`FhirImportError`, a
`ValidationError`), never an exception of another kind.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from twostep.interop.fhir.outcome import FhirImportError
from twostep.interop.fhir.responses import import_responses

RECEIVED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("document", "where", "code"),
    [
        # atheris, 2026-11-26: a non-string status reached a set lookup (TypeError: unhashable)
        (
            b'{"resourceType":"QuestionnaireResponse","status":{"a":1}}',
            "QuestionnaireResponse.status",
            "invalid-structure",
        ),
        (
            b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":'
            b'{"resourceType":"QuestionnaireResponse","status":["completed"]}}]}',
            "Bundle.entry[0].resource.status",
            "invalid-structure",
        ),
        # the same kind of lookup on Bundle.type
        (b'{"resourceType":"Bundle","type":{"a":1}}', "Bundle.type", "invalid-bundle-type"),
        (b'{"resourceType":"Bundle","type":["batch"]}', "Bundle.type", "invalid-bundle-type"),
    ],
)
def test_non_string_codes_are_refused_as_documented(document: bytes, where: str, code: str) -> None:
    with pytest.raises(FhirImportError) as caught:
        import_responses(document, clinic_id="clinic-1", received_at=RECEIVED)
    assert (where, code) in {(p.where, p.code) for p in caught.value.problems}
