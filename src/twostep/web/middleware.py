"""Middleware: request ids, body limits, strict JSON, CSRF on unsafe methods, security headers.

* every response carries an ``X-Request-ID`` (a random id; the client's own
  is not trusted) used in logs and problem details;
* request bodies above ``max_body_bytes`` are refused with 413 before they are
  read in full;
* JSON bodies are parsed strictly: duplicate keys, ``NaN``/``Infinity``,
  nesting deeper than 32 and a non-object top level are refused (400) —
  Python's ``json`` would accept all of them silently (ASVS 1.5.3);
* unsafe methods (POST, PUT, PATCH, DELETE) from a signed-in browser must
  carry the session's CSRF token (see `sessions.check_csrf`), except the
  sign-in form itself;
* security headers on every response: CSP without inline script or style,
  HSTS, nosniff, no referrer to other sites, frame-ancestors none, and ``Cache-Control:
  no-store`` on everything except static files.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twostep.web.problems import ProblemError, problem_response
from twostep.web.sessions import CSRF_FIELD, check_csrf
from twostep.web.state import state_of

log = logging.getLogger("twostep.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
#: Charts are SVG documents (`twostep.reports.charts`) with style attributes and no script.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Unsafe routes that run before a session exists (CSRF does not apply: nothing to ride on).
CSRF_EXEMPT = frozenset({("POST", "/login"), ("POST", "/api/v1/session")})
MAX_JSON_DEPTH = 32


class SecurityMiddleware:
    """Pure ASGI middleware (see the module docstring for what it enforces).

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: no extra task and
    stream per request, and a response passes through untouched except for its
    headers. The CSRF check looks up the session in the database, so it runs in
    the thread pool: on the event loop it would stall every other request while
    it waits for the database.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["request_id"] = secrets.token_hex(8)
        request = Request(scope, receive)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                _headers(scope, MutableHeaders(scope=message))
            await send(message)

        try:
            body = await _check_body(request)
            if request.method in UNSAFE and (request.method, request.url.path) not in CSRF_EXEMPT:
                await _check_csrf(request)
        except ProblemError as exc:
            response = problem_response(request, exc.kind, exc.detail, headers=exc.headers)
            await response(scope, receive, send_with_headers)
            return
        downstream = receive if body is None else _replay(body, receive)
        try:
            await self.app(scope, downstream, send_with_headers)
        except Exception as exc:  # an unexpected error still gets the security headers
            log.error(
                "unexpected error (request %s): %s",
                scope["state"]["request_id"],
                type(exc).__name__,  # never the message: it may hold clinical data
            )
            if started:
                raise  # the status line has gone out: all that is left is to cut the response
            response = problem_response(request, "server-error")
            await response(scope, receive, send_with_headers)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the app, then the client's events."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _check_body(request: Request) -> bytes | None:
    """Refuse an oversized or (on the API) non-JSON or malformed body; the body read, if any."""
    limit = state_of(request).settings.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ProblemError("bad-request", "Content-Length is not a number")
        if int(length) > limit:
            raise ProblemError("payload-too-large", f"the largest accepted body is {limit:,} bytes")
    if request.method not in UNSAFE:
        return None
    body = await _read_body(request, limit)
    if request.url.path.startswith("/api/") and body:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise ProblemError("unsupported-media-type")
        parse_strict_json(body)  # refuse what Python's json would let through
    return body


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk and refused (413) as soon as it passes ``limit`` — a
    streamed body without Content-Length is never held in memory beyond the limit."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError("payload-too-large", f"the largest accepted body is {limit:,} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's cache: the handler (and form parsing) read it from here
    return body


async def _check_csrf(request: Request) -> None:
    submitted = None
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if request.cookies or submitted or request.headers.get("x-csrf-token"):
        await run_in_threadpool(check_csrf, request, submitted)
    # no cookie at all: the route's own authorisation answers 401


def _headers(scope: Scope, h: MutableHeaders) -> None:
    h["X-Request-ID"] = str(scope.get("state", {}).get("request_id", ""))
    is_svg = h.get("content-type", "").startswith("image/svg+xml")
    h["Content-Security-Policy"] = SVG_CSP if is_svg else CSP
    h["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form
    # posts, which check_csrf refuses as cross-site; no referrer still leaves the site
    h["Referrer-Policy"] = "same-origin"
    h["X-Frame-Options"] = "DENY"
    h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if str(scope.get("path", "")).startswith("/static/"):
        h["Cache-Control"] = "public, max-age=3600"
    else:
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key")  # the name is not echoed back
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def parse_strict_json(body: bytes) -> Any:
    """JSON as twostep accepts it (see the module docstring); raises ProblemError otherwise."""
    if body.count(b"[") + body.count(b"{") > 10_000 and _nesting(body) > MAX_JSON_DEPTH:
        raise ProblemError("malformed-json", f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = body.decode("utf-8")
        value = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, UnicodeDecodeError):
            reason = "not UTF-8"
        elif isinstance(exc, RecursionError):
            reason = f"nested deeper than {MAX_JSON_DEPTH} levels"
        else:
            reason = str(exc).split(":")[0]
        raise ProblemError("malformed-json", f"not valid JSON ({reason})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ProblemError("malformed-json", f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _nesting(body: bytes) -> int:
    depth = best = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            best = max(best, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return best
