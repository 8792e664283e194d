"""``Idempotency-Key`` on write routes: a retried write is stored once and answered the same.

A client that does not know whether its write arrived (a cut connection, a
crash, an offline queue) sends it again with the same ``Idempotency-Key``
(reliability-security.md RL-04/05/06, catalogue #26/#27; IETF
draft-ietf-httpapi-idempotency-key-header):

* the first request runs; its answer (status and JSON body) is stored in
  ``idempotency_keys`` **in the same transaction as the write** — the
  service's commit is held until the answer is known, then the answer row and
  the write commit together. A crash either loses both (the retry runs the
  write) or keeps both (the retry gets the stored answer): never a stored
  write without its answer, never an answer without its write;
* a retry with the same key and the same request (method, path, parameters
  and body, compared by a SHA-256 of their canonical JSON) gets the stored
  answer — same status, same body, header ``Idempotent-Replayed: true`` —
  and nothing is written again (no second audit event either: nothing is
  accessed that the caller did not just receive);
* the same key with a different request → 422 ``idempotency-key-reused``;
* twins in flight at once: on SQLite the second waits for the write lock, on
  PostgreSQL its answer row collides with the first's primary key; either
  way it is rolled back whole and answered with the first's stored answer
  (or 409 ``idempotency-key-in-use`` if that is not there yet);
* keys are scoped to the signed-in user (another user's key never finds
  their answer) and must be UUIDs (else 400 ``invalid-idempotency-key``);
* refused requests (4xx from the services) are not stored: a retry is
  checked again. The key is optional; without it a route behaves as before;
* stored answers are kept for `KEEP` (7 days), then deleted by the user's
  next keyed write (they hold the answer's clinical content, encrypted at
  rest; an account's rows go with the account: ``ON DELETE CASCADE``).
  ``IdempotencyRepository.purge(before)`` without a user clears everyone's
  expired answers, for a maintenance job.

Usage — under the route decorator, on a route that takes ``request: Request``::

    @router.post("/me/journal", status_code=201, ...)
    @idempotent
    def create(request: Request, body: JournalIn) -> JournalOut: ...

The route keeps using ``state_of(request).uow_factory``: for a request with a
key, `state_of` returns the request's copy of the state whose factory holds
the commit (`HeldFactory`). A route that writes in two transactions gets the
answer stored with the last one only (the earlier ones commit as they go).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, TypeAdapter

from twostep.domain.ports import IdempotentResponse, UnitOfWork, UnitOfWorkFactory
from twostep.errors import ConflictError
from twostep.web.deps import actor_of
from twostep.web.problems import ProblemError
from twostep.web.state import WebState, reader

__all__ = ["HEADER", "HeldFactory", "idempotent", "request_hash"]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PARAM = "idempotency_key"
#: How long a stored answer is kept (an offline client syncing days later still finds it)
KEEP = timedelta(days=7)

F = TypeVar("F", bound=Callable[..., Any])


class _HeldUnit:
    """A unit of work whose ``commit`` is held by its `HeldFactory` (everything else passes)."""

    def __init__(self, owner: HeldFactory, inner: UnitOfWork) -> None:
        self._owner = owner
        self._inner = inner
        self._held = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> _HeldUnit:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._held:
            self._inner.__exit__(*exc)

    def commit(self) -> None:
        self._held = True
        self._owner.hold(self._inner)

    def rollback(self) -> None:
        self._held = False
        self._owner.unhold(self._inner)
        self._inner.rollback()


class HeldFactory:
    """A unit-of-work factory that holds the last commit of a request until `release`."""

    def __init__(self, factory: UnitOfWorkFactory) -> None:
        self._factory = factory
        self._held: UnitOfWork | None = None

    def __call__(self) -> UnitOfWork:
        self.release()  # an earlier transaction of this request commits now
        return cast(UnitOfWork, _HeldUnit(self, self._factory()))

    def reading(self) -> UnitOfWorkFactory:
        """Reads inside a keyed write request go through the held factory too (one order)."""
        return self

    def hold(self, uow: UnitOfWork) -> None:
        if self._held is not None and self._held is not uow:
            self.release()
        self._held = uow

    def unhold(self, uow: UnitOfWork) -> None:
        if self._held is uow:
            self._held = None

    @property
    def holding(self) -> bool:
        return self._held is not None

    def release(self, answer: IdempotentResponse | None = None) -> None:
        """Commit the held transaction (with ``answer`` stored in it, when given) and close it.

        The user's stored answers older than `KEEP` are deleted in the same transaction.
        """
        uow, self._held = self._held, None
        if uow is None:
            return
        try:
            if answer is not None:
                # the user's own expired answers only: two users' requests never lock the
                # same rows (a global purge in every write could deadlock on PostgreSQL)
                uow.idempotency.purge(answer.created_at - KEEP, answer.user_id)
                uow.idempotency.add(answer)
            uow.commit()
        finally:
            uow.__exit__(None, None, None)


def _canonical(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return jsonable_encoder(value)


def request_hash(method: str, path: str, params: dict[str, object]) -> str:
    """SHA-256 of the method, path and the route's parsed parameters as canonical JSON."""
    text = json.dumps(
        {"method": method, "path": path, "params": {k: _canonical(v) for k, v in params.items()}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_adapters: dict[int, TypeAdapter[Any]] = {}


def _content(request: Request, result: object) -> tuple[int, object]:
    """The route's status and its result as the JSON FastAPI would send (its response model)."""
    route = request.scope.get("route")
    status = int(getattr(route, "status_code", None) or 200)
    model = getattr(route, "response_model", None)
    if model is None:
        return status, jsonable_encoder(result)
    adapter = _adapters.get(id(route))
    if adapter is None:
        adapter = _adapters[id(route)] = TypeAdapter(model)
    return status, adapter.dump_python(adapter.validate_python(result), mode="json")


def _replay(stored: IdempotentResponse) -> Response:
    body = stored.body
    if body.get("empty"):
        return Response(status_code=stored.status_code, headers={REPLAYED: "true"})
    return JSONResponse(
        body.get("json"), status_code=stored.status_code, headers={REPLAYED: "true"}
    )


def _stored_answer(state: WebState, user_id: str, key: str, digest: str) -> Response | None:
    with reader(state)() as uow:
        stored = uow.idempotency.get(user_id, key)
    if stored is None or stored.created_at < datetime.now(UTC) - KEEP:
        return None  # an expired key is a new request (its row goes with the next write)
    if stored.request_hash != digest:
        raise ProblemError(
            "idempotency-key-reused",
            "this Idempotency-Key was used for a different request",
            errors=[{"pointer": f"/headers/{HEADER}", "code": "idempotency_key_reused"}],
        )
    return _replay(stored)


def idempotent(func: F) -> F:
    """Make a write route honour ``Idempotency-Key`` (see the module docstring)."""
    signature = inspect.signature(func, eval_str=True)
    if "request" not in signature.parameters:
        raise TypeError(f"{func.__name__}: an idempotent route takes `request: Request`")
    extra = inspect.Parameter(
        _PARAM,
        inspect.Parameter.KEYWORD_ONLY,
        default=Header(
            None,
            alias=HEADER,
            description="A UUID the client chooses per write. Sent again with the same request "
            "(a retry), it returns the first answer without writing again; with a different "
            "request it is refused (422).",
            json_schema_extra={"format": "uuid"},
        ),
        annotation=str | None,
    )

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = kwargs.pop(_PARAM, None)
        if key is None:
            return func(*args, **kwargs)
        if not isinstance(key, str) or not _UUID.match(key):
            raise ProblemError(
                "invalid-idempotency-key",
                "Idempotency-Key must be a UUID",
                errors=[{"pointer": f"/headers/{HEADER}", "code": "invalid_idempotency_key"}],
            )
        request: Request = kwargs["request"]
        key = key.lower()
        user_id = actor_of(request).user_id
        params = {k: v for k, v in kwargs.items() if k != "request"}
        digest = request_hash(request.method, request.url.path, params)
        state: WebState = request.app.state.twostep
        found = _stored_answer(state, user_id, key, digest)
        if found is not None:
            return found
        held = HeldFactory(state.uow_factory)
        request.state.twostep = dataclasses.replace(state, uow_factory=held)
        try:
            result = func(*args, **kwargs)
        except BaseException:
            held.release()  # what the service committed (an audit event of a refusal) stays
            raise
        if isinstance(result, Response):
            status = result.status_code
            raw = bytes(result.body) if result.body else b""
            try:
                stored_body: dict[str, object] = (
                    {"json": json.loads(raw)} if raw else {"empty": True}
                )
            except ValueError:  # not JSON: not replayable
                held.release()
                return result
            response: Response = result
        else:
            status, content = _content(request, result)
            stored_body = {"json": content}
            response = JSONResponse(content, status_code=status)
        if status >= 400 or not held.holding:
            held.release()
            return response
        answer = IdempotentResponse(user_id, key, digest, status, stored_body, datetime.now(UTC))
        try:
            held.release(answer)
        except ConflictError:
            # a twin with the same key committed first: this write was rolled back whole
            found = _stored_answer(state, user_id, key, digest)
            if found is None:
                raise ProblemError(
                    "idempotency-key-in-use", "a request with this key is in progress"
                ) from None
            return found
        return response

    params = [*signature.parameters.values(), extra]
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return cast(F, wrapper)
