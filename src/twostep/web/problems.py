"""Errors as RFC 9457 problem details (JSON API) or a calm error page (HTML).

One registry of problem types: every error twostep raises maps to a stable
``type``, a ``title`` and a status. Bodies never carry internals (no stack
trace, SQL, paths or clinical text): ``detail`` says what kind of rule was
broken, ``errors`` lists JSON pointers / fields with rule codes, and 5xx
bodies carry only the request id (OWASP ASVS 16.5.1; reliability-security.md §5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from twostep.errors import (
    AccessDeniedError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    StaleVersionError,
    StorageError,
    TwostepError,
    UnknownInstrumentError,
    ValidationError,
)

log = logging.getLogger("twostep.web")

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    type: str
    title: str
    status: int


PROBLEMS: dict[str, ProblemType] = {
    p.type.rsplit("/", 1)[-1]: p
    for p in (
        ProblemType("/problems/validation", "The request breaks a rule", 422),
        ProblemType("/problems/malformed-json", "The body is not valid JSON", 400),
        ProblemType("/problems/not-found", "Not found", 404),
        ProblemType("/problems/forbidden", "Not allowed for your role", 403),
        ProblemType("/problems/unauthenticated", "Sign in first", 401),
        ProblemType(
            "/problems/mfa-required", "Enter the code from your authenticator app too", 401
        ),
        ProblemType(
            "/problems/mfa-enrolment-required",
            "Set up your second factor (authenticator app) first",
            403,
        ),
        ProblemType("/problems/csrf", "The request did not come from this site", 403),
        ProblemType("/problems/conflict", "The request conflicts with stored data", 409),
        ProblemType(
            "/problems/precondition-failed",
            "Changed meanwhile: read the current version and try again",
            412,
        ),
        ProblemType("/problems/precondition-required", "Send If-Match with the ETag you read", 428),
        ProblemType("/problems/too-many-requests", "Too many attempts; wait a little", 429),
        ProblemType("/problems/payload-too-large", "The request is too large", 413),
        ProblemType("/problems/unsupported-media-type", "Send JSON (application/json)", 415),
        ProblemType("/problems/method-not-allowed", "Method not allowed", 405),
        ProblemType(
            "/problems/storage-unavailable", "Storage is unavailable; nothing was saved", 503
        ),
        ProblemType("/problems/overloaded", "The server is busy; try again in a moment", 503),
        ProblemType("/problems/server-error", "Something went wrong on our side", 500),
        ProblemType("/problems/bad-request", "Bad request", 400),
        ProblemType("/problems/invalid-idempotency-key", "Idempotency-Key must be a UUID", 400),
        ProblemType(
            "/problems/idempotency-key-reused", "Idempotency-Key used for another request", 422
        ),
        ProblemType(
            "/problems/idempotency-key-in-use",
            "A request with this Idempotency-Key is running",
            409,
        ),
    )
}


class ProblemError(Exception):
    """Raise to answer with a given problem type (and optional detail / errors / headers)."""

    def __init__(
        self,
        kind: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, object]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the API (and htmx fragments asking for JSON) get problem+json."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "GET"


def problem_response(
    request: Request,
    kind: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, object]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    p = PROBLEMS[kind]
    rid = request_id(request)
    if wants_html(request):
        from twostep.web.state import state_of

        templates = state_of(request).templates
        return templates.TemplateResponse(
            request,
            "error.html",
            {"problem": p, "detail": detail, "errors": errors or [], "request_id": rid},
            status_code=p.status,
            headers=headers,
        )
    body: dict[str, object] = {
        "type": p.type,
        "title": p.title,
        "status": p.status,
        "instance": f"/requests/{rid}" if rid else None,
        "request_id": rid,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=p.status, media_type=PROBLEM_JSON, headers=headers)


def _pointer(where: str) -> str:
    """A JSON pointer for a problem location such as ``answers.item_9`` or ``item_9``."""
    parts = [x for x in where.replace(", ", ".").replace("[", ".").replace("]", "").split(".") if x]
    return "/" + "/".join(parts)


def install_handlers(app: FastAPI) -> None:
    """Map every error to a problem (JSON) or the error page (HTML)."""

    @app.exception_handler(ProblemError)
    async def _api_problem(request: Request, exc: ProblemError) -> Response:
        if exc.kind == "unauthenticated" and request.method == "GET" and wants_html(request):
            # a signed-out (or timed-out) page view goes to the sign-in form
            return RedirectResponse("/login", status_code=303)
        if exc.kind == "mfa-enrolment-required" and request.method == "GET" and wants_html(request):
            # staff without a second factor, where one is required: to the enrolment page
            return RedirectResponse("/account/mfa", status_code=303)
        return problem_response(
            request, exc.kind, exc.detail, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> Response:
        errors: list[dict[str, object]] = [
            {"pointer": _pointer(p.where), "code": p.code, "message": p.message}
            for p in exc.problems[:100]
        ]
        n = len(exc.problems)
        return problem_response(
            request, "validation", f"{n} rule{'s' if n != 1 else ''} broken", errors=errors
        )

    @app.exception_handler(UnknownInstrumentError)
    async def _unknown(request: Request, exc: UnknownInstrumentError) -> Response:
        return problem_response(
            request,
            "validation",
            "unknown instrument",
            errors=[
                {
                    "pointer": "/instrument",
                    "code": "unknown_instrument",
                    "message": "not in the catalogue",
                }
            ],
        )

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        # one body for "does not exist" and "not yours": no existence oracle
        return problem_response(request, "not-found")

    @app.exception_handler(AccessDeniedError)
    async def _denied(request: Request, exc: AccessDeniedError) -> Response:
        return problem_response(request, "forbidden")

    @app.exception_handler(StaleVersionError)
    async def _stale(request: Request, exc: StaleVersionError) -> Response:
        return problem_response(request, "precondition-failed")

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> Response:
        return problem_response(request, "conflict", str(exc) if _safe(str(exc)) else None)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> Response:
        log.error("storage unavailable (request %s): %s", request_id(request), type(exc).__name__)
        return problem_response(request, "storage-unavailable", headers={"Retry-After": "5"})

    @app.exception_handler(ConfigurationError)
    async def _config(request: Request, exc: ConfigurationError) -> Response:
        return problem_response(request, "validation", str(exc) if _safe(str(exc)) else None)

    @app.exception_handler(TwostepError)
    async def _other(request: Request, exc: TwostepError) -> Response:
        log.error(
            "unhandled twostep error (request %s): %s", request_id(request), type(exc).__name__
        )
        return problem_response(request, "server-error")

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        errors: list[dict[str, object]] = []
        for e in exc.errors()[:100]:
            loc = [str(x) for x in e.get("loc", ()) if x not in ("body",)]
            errors.append(
                {
                    "pointer": "/" + "/".join(loc),
                    "code": str(e.get("type", "invalid")),
                    "message": str(e.get("msg", "")),
                }
            )
        return problem_response(
            request, "validation", "the request does not match the schema", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {
            400: "bad-request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
            409: "conflict",
            413: "payload-too-large",
            415: "unsupported-media-type",
            422: "validation",
            429: "too-many-requests",
        }.get(exc.status_code, "server-error")
        return problem_response(request, kind, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # the type only: the message may hold clinical data
        log.error("unexpected error (request %s): %s", request_id(request), type(exc).__name__)
        return problem_response(request, "server-error")


def _safe(text: str) -> bool:
    """Conflict messages come from twostep's own code and name rules, never values."""
    return len(text) < 300


def html_error(request: Request, status: int, message: str) -> HTMLResponse:
    from twostep.web.state import state_of

    return state_of(request).templates.TemplateResponse(
        request,
        "error.html",
        {"problem": None, "detail": message, "errors": [], "request_id": request_id(request)},
        status_code=status,
    )
