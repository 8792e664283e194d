"""Fixtures of the import/export tests: the ``engine`` fixture's database, seeded (`records_world`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from records_world import DbWorld, seed

from twostep.storage import SqlUnitOfWorkFactory


@pytest.fixture
def factory(engine: sa.Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


@pytest.fixture
def world(factory: SqlUnitOfWorkFactory, engine: sa.Engine) -> DbWorld:
    return seed(factory, engine)


@pytest.fixture
def r4_validate() -> Callable[[Mapping[str, Any]], None]:
    """Validate a resource (and a Bundle's entries) with the fhir.resources R4B models."""
    from fhir.resources.R4B import get_fhir_model_class

    def run(resource: Mapping[str, Any]) -> None:
        model = get_fhir_model_class(str(resource["resourceType"]))
        model.model_validate(dict(resource))
        if resource["resourceType"] == "Bundle":
            urls = [e["fullUrl"] for e in resource.get("entry", [])]
            assert len(urls) == len(set(urls))  # bdl-7
            for entry in resource.get("entry", []):
                run(entry["resource"])

    return run
