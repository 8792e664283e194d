"""``ETag`` / ``If-Match`` on records edited in place (reliability-security.md IN-02, RL-08).

Every record the JSON API lets a caller change with PATCH or PUT (goals,
goal steps, stressors, sharing choices, check-in drafts, appointments' focus
tags, accounts, clinic settings) has a row version in the database. Its
``GET`` and the answer to a change carry it as a strong ``ETag`` (``"v3"``),
and a change must send it back:

* no ``If-Match`` → 428 ``precondition-required`` (nothing is written);
* an ``If-Match`` that is not the current version — someone changed the
  record since it was read, or the value is not one of our tags (a weak
  ``W/`` tag never matches, RFC 9110 §13.1.1) → 412 ``precondition-failed``;
* the current one → the write happens as ``UPDATE ... WHERE id = ? AND
  version = ?`` in the database: of many changes sent with the same tag at
  the same moment exactly one is stored, the others get 412.

``If-Match: *`` ("whatever is stored now") is accepted as RFC 9110 allows; it
takes the version read in the write's own transaction. A check-in draft is
created with ``If-None-Match: *`` (412 if one exists already).

The pages do the same with a hidden ``version`` field (`form_version`).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header, Response

from twostep.web.api.schemas import PROBLEM_RESPONSES, Problem
from twostep.web.problems import ProblemError

__all__ = [
    "CHANGED_ELSEWHERE",
    "READ_RESPONSES",
    "VERSIONED_RESPONSES",
    "IfMatch",
    "IfNoneMatch",
    "etag",
    "expected_version",
    "form_version",
    "with_etag",
]

#: What a page says about a stale form: nothing was overwritten; it shows what is stored now.
CHANGED_ELSEWHERE = (
    "This was changed elsewhere (in another window, on another device or by someone else) "
    "while you had the page open. Nothing you sent was saved; the page now shows how it is "
    "saved. Please check it and try again."
)

_TAG = re.compile(r'"v([1-9][0-9]{0,17})"')
_MAX_HEADER = 200

#: The ``If-Match`` request header of a change (documented in the OpenAPI document).
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=_MAX_HEADER,
        description=(
            'Required: the ETag of the record as you read it (e.g. "v3"), or *. '
            "Without it the answer is 428; if the record changed since, 412."
        ),
    ),
]

#: ``If-None-Match: *`` creates a check-in draft that must not exist yet.
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=_MAX_HEADER,
        description="* to create the draft only if there is none yet (else 412).",
    ),
]

_ETAG_HEADER = {
    "ETag": {
        "description": 'The record\'s version as a strong entity tag, e.g. "v3"',
        "schema": {"type": "string"},
    }
}


def _problem(text: str) -> dict[str, object]:
    return {"model": Problem, "content": {"application/problem+json": {}}, "description": text}


#: Responses of a route that changes a versioned record (problems, plus 412 and 428).
VERSIONED_RESPONSES: dict[int | str, dict[str, object]] = {
    **PROBLEM_RESPONSES,
    200: {"description": "The record as stored now", "headers": _ETAG_HEADER},
    412: _problem("If-Match is not the current version: someone changed the record"),
    428: _problem("If-Match is missing: read the record and send its ETag"),
}

#: Responses of a route that reads a versioned record (its ETag header documented).
READ_RESPONSES: dict[int | str, dict[str, object]] = {
    **PROBLEM_RESPONSES,
    200: {"description": "The record", "headers": _ETAG_HEADER},
}


def etag(version: int) -> str:
    """The strong entity tag of a row version."""
    return f'"v{int(version)}"'


def with_etag(response: Response, version: int) -> None:
    """Put the record's ``ETag`` on ``response``."""
    response.headers["ETag"] = etag(version)


def _parse(value: str) -> int:
    tags = [x.strip() for x in value.split(",") if x.strip()]
    if len(tags) != 1:
        # a list could name several versions; one conditional write takes one
        raise ProblemError(
            "precondition-failed", "send exactly one ETag (the one you read) in If-Match"
        )
    found = _TAG.fullmatch(tags[0])
    if found is None:
        raise ProblemError("precondition-failed", "If-Match does not name a current version")
    return int(found.group(1))


def expected_version(
    if_match: str | None, if_none_match: str | None = None, *, may_create: bool = False
) -> int | None:
    """The version a change is based on, from its precondition headers.

    Returns the version number, None for ``If-Match: *`` (the stored one), or 0 for
    ``If-None-Match: *`` when ``may_create`` (the record must not exist yet).
    Raises 428 without a precondition and 412 for one that cannot match.
    """
    if if_match is not None:
        if if_match.strip() == "*":
            return None
        return _parse(if_match)
    if may_create and if_none_match is not None:
        if if_none_match.strip() == "*":
            return 0
        raise ProblemError("precondition-failed", "only If-None-Match: * creates a draft")
    raise ProblemError(
        "precondition-required",
        "send If-Match with the ETag you read"
        + (" (or If-None-Match: * to create)" if may_create else ""),
    )


def form_version(value: object) -> int | None:
    """The hidden ``version`` field of a page form (None when absent or not a number)."""
    if isinstance(value, str) and value.isdigit() and 0 < len(value) <= 18:
        return int(value)
    return None
