"""Shared fixtures: R4 validation with fhir.resources (R4B models) and administration builders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from twostep.domain.records import Administration
from twostep.instruments.model import Instrument
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.instruments.scoring import score_submission

CLINIC = "clinic-1"
RECEIVED = datetime(2024, 3, 1, 8, 45, 12, tzinfo=UTC)
CET = timezone(timedelta(hours=1))

Validate = Callable[[Mapping[str, Any]], None]
MakeAdmin = Callable[..., Administration]


def _check_invariants(resource: Mapping[str, Any]) -> None:
    """FHIR rules the pydantic models do not enforce, checked here by hand."""
    rt = resource["resourceType"]
    if rt == "Observation":
        # obs-6: dataAbsentReason only when there is no value[x]
        values = [k for k in resource if k.startswith("value")]
        assert len(values) <= 1
        if "dataAbsentReason" in resource:
            assert not values
        for comp in resource.get("component", []):
            assert len([k for k in comp if k.startswith("value")]) == 1
    if rt == "Goal":
        for target in resource.get("target", []):  # gol-1
            if any(k.startswith("detail") for k in target):
                assert "measure" in target
    if rt == "Bundle":
        urls = [e["fullUrl"] for e in resource.get("entry", [])]
        assert len(urls) == len(set(urls))  # bdl-7

    def walk(value: Any) -> None:  # ele-1 / no empty strings, arrays or objects
        if isinstance(value, dict):
            assert value, "empty object"
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            assert value, "empty array"
            for v in value:
                walk(v)
        elif isinstance(value, str):
            assert value.strip(), "empty string"

    walk(dict(resource))


@pytest.fixture(scope="session")
def validate() -> Validate:
    """Validate a resource (and the entries of a Bundle) against the fhir.resources R4B models."""

    def run(resource: Mapping[str, Any]) -> None:
        model = get_fhir_model_class(str(resource["resourceType"]))
        model.model_validate(dict(resource))
        _check_invariants(resource)
        for entry in resource.get("entry", []) if resource["resourceType"] == "Bundle" else []:
            run(entry["resource"])

    return run


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return default_catalogue()


def _full_answers(ins: Instrument, pick: int = 1) -> dict[str, int | float | None]:
    """Every item answered: the ``pick``-th option of choice items, 6.4 on lines."""
    out: dict[str, int | float | None] = {}
    for item in ins.items:
        if item.scale.kind == "choice":
            options = item.scale.options
            out[item.id] = options[pick % len(options)].value
        else:
            out[item.id] = 6.4
    return out


@pytest.fixture(scope="session")
def full_answers() -> Callable[..., dict[str, int | float | None]]:
    """Every item answered: the ``pick``-th option of choice items, 6.4 on lines."""
    return _full_answers


@pytest.fixture(scope="session")
def make_admin() -> MakeAdmin:
    """An `Administration` scored by the catalogue, as the importer would build it."""

    def build(
        ins: Instrument,
        answers: Mapping[str, int | float | None] | None = None,
        *,
        adm_id: str | None = None,
        client_id: str = "client-7",
        completed_at: datetime | None = None,
        version: int = 1,
    ) -> Administration:
        values = dict(_full_answers(ins) if answers is None else answers)
        score = score_submission(ins, values)
        return Administration(
            id=adm_id or f"adm-{ins.id.replace('_', '-')}",
            clinic_id=CLINIC,
            client_id=client_id,
            episode_id=None,
            instrument_id=ins.id,
            answers=values,
            total=score.total,
            subscales=dict(score.subscales),
            band=score.band,
            case=score.case,
            risk=score.risk,
            risk_level=score.risk_level,
            risk_not_assessed=score.risk_not_assessed,
            prorated=score.prorated,
            completed_at=completed_at or datetime(2024, 3, 1, 9, 30, 5, tzinfo=CET),
            received_at=RECEIVED,
            version=version,
            source="fhir",
        )

    return build
