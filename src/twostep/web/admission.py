"""Admission control: a bounded number of requests in flight per server process.

Without a bound, a server that is offered more work than its CPU can do
queues every request behind all earlier ones (uvicorn accepts them, the
thread pool runs them in turn): latency grows without limit and, in the end,
*every* client times out. With a bound, the requests past it are answered at
once with ``503`` (problem type ``overloaded``) and ``Retry-After``: "try
again shortly" (a write retried with its ``Idempotency-Key`` is stored once);
the requests admitted keep their normal latency. Nothing has been read or stored
for a refused request.

Two settings (`twostep.config.Settings`):

* ``max_in_flight`` (``TWOSTEP_MAX_IN_FLIGHT``, default 64; 0 = no bound):
  requests in flight at once in one process, counted from the moment the
  request reaches the app to its last byte. Static files are not counted.
* ``worker_threads`` (``TWOSTEP_WORKER_THREADS``, default 2): the thread pool
  that runs the app's synchronous routes (anyio's own default is 40). A
  route is CPU-bound Python, so threads beyond the cores a process can use
  only contend for Python's GIL: each request then takes longer, and all of
  those in flight finish late together instead of one after another.
  Measured with ``benchmarks/load_mixed.py`` (2 processes on 2 cores, SQLite,
  8 writes/s + 32 reads/s): p95 of reads 111 ms with 2 threads, 198 ms with
  4, 613 ms with 8 (and 5 s with 40, measured before the cross-process
  writer lock); at 10 + 40/s, 154 ms with 2 and 376 ms with 4.
  Requests past the pool wait on the event loop, which costs nothing, up to
  ``max_in_flight``.

The middleware is pure ASGI and the outermost layer, so a refusal costs no
session look-up, no database access and no audit row.
"""

from __future__ import annotations

import json

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twostep.web.problems import PROBLEM_JSON, PROBLEMS

__all__ = ["AdmissionControl"]

#: Paths outside the bound (cheap: files from the package).
EXEMPT_PREFIXES = ("/static/",)
RETRY_AFTER_S = 1


class AdmissionControl:
    """ASGI middleware: at most ``max_in_flight`` requests at once (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, worker_threads: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.worker_threads = worker_threads
        self.in_flight = 0
        self.refused = 0
        self._threads_set = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._threads_set:  # needs the running event loop, hence here and not in __init__
            anyio.to_thread.current_default_thread_limiter().total_tokens = self.worker_threads
            self._threads_set = True
        path = str(scope.get("path", ""))
        if self.max_in_flight <= 0 or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.refused += 1
            await _overloaded(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _overloaded(send: Send) -> None:
    p = PROBLEMS["overloaded"]
    body = json.dumps(
        {
            "type": p.type,
            "title": p.title,
            "status": p.status,
            "detail": "Nothing was read or saved. Send the request again after Retry-After "
            "seconds.",
        }
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": p.status,
        "headers": [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_S).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
            (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
