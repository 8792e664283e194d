"""Small request helpers shared by the route modules."""

from __future__ import annotations

import dataclasses
import re

from fastapi import Request

from twostep.errors import Problem, ValidationError
from twostep.services.access import Actor
from twostep.web.policy import signed_in
from twostep.web.problems import request_id


def actor_of(request: Request) -> Actor:
    """The signed-in caller as the services' `Actor`, carrying the request id for the audit."""
    actor = signed_in(request).actor
    return dataclasses.replace(actor, request_id=request_id(request) or None)


#: A record id in a path: twostep's ids are UUID strings (36 characters, the column width).
_RECORD_ID = re.compile(r"^[0-9A-Za-z_-]{1,36}$")


def plausible_ids(request: Request) -> None:
    """Dependency: a path id that cannot be a record id (too long, spaces, quotes, SQL) is
    refused as invalid (422, reliability-security.md #19) before any query — the same answer
    on every database (PostgreSQL would otherwise refuse a value wider than the column). An id
    that could exist but does not is the service's 404. Catalogue ids (``instrument_id``) are
    checked by the catalogue."""
    bad = [
        Problem(f"path.{name}", "invalid_id", "not a record id")
        for name, value in request.path_params.items()
        if (name == "id" or name.endswith("_id"))
        and name != "instrument_id"
        and not _RECORD_ID.fullmatch(str(value))
    ]
    if bad:
        raise ValidationError(bad, context="request")
