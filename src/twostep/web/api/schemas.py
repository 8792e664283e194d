"""Shared pieces of the API's request and response models.

Request models are strict (`StrictModel`): unknown fields are refused (no
mass assignment), and values are never coerced (``"3"`` or ``true`` is not a
score) — pydantic strict mode, as the API contract promises.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every request body: strict types, no extra fields, no NaN/infinity."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class OutModel(BaseModel):
    """Base of every response body."""

    model_config = ConfigDict(frozen=True)


class Problem(OutModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str
    errors: list[dict[str, object]] | None = None


#: Documented error responses of every route.
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for code, text in (
        (400, "Malformed JSON or request"),
        (401, "Not signed in"),
        (403, "Not allowed for your role, or the CSRF token is missing"),
        (404, "Not found (or not yours: the answer is the same)"),
        (409, "Conflicts with stored data"),
        (413, "Body too large"),
        (415, "Not JSON"),
        (422, "Breaks a validation rule"),
        (429, "Too many attempts"),
        (503, "Storage unavailable: nothing was saved"),
    )
}
