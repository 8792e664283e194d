"""Small request helpers shared by the route modules."""

from __future__ import annotations

import dataclasses

from fastapi import Request

from twostep.services.access import Actor
from twostep.web.policy import signed_in
from twostep.web.problems import request_id


def actor_of(request: Request) -> Actor:
    """The signed-in caller as the services' `Actor`, carrying the request id for the audit."""
    actor = signed_in(request).actor
    return dataclasses.replace(actor, request_id=request_id(request) or None)
