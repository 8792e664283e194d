"""`IdempotencyRepository` on ``idempotency_keys`` (the cached answer is encrypted at rest).

The row is written in the transaction of the write it answers for, so a
request is either stored together with its answer or not at all; the primary
key (user, key) makes a concurrent twin fail with `ConflictError`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from twostep.domain.ports import IdempotentResponse
from twostep.storage import tables as t
from twostep.storage.repositories import Executor

__all__ = ["SqlIdempotencyRepository"]


class SqlIdempotencyRepository:
    """`twostep.domain.ports.IdempotencyRepository` on ``idempotency_keys``."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    def get(self, user_id: str, key: str) -> IdempotentResponse | None:
        c = t.idempotency_keys.c
        rows = self._db.read(
            sa.select(t.idempotency_keys).where(c.user_id == user_id, c.key == key)
        )
        if not rows or rows[0]["status_code"] is None:
            return None
        r = rows[0]
        body = r["response"]
        return IdempotentResponse(
            user_id=r["user_id"],
            key=r["key"],
            request_hash=r["request_hash"],
            status_code=int(r["status_code"]),
            body=body if isinstance(body, dict) else {},
            created_at=r["created_at"],
        )

    def add(self, response: IdempotentResponse) -> IdempotentResponse:
        self._db.write(
            sa.insert(t.idempotency_keys).values(
                user_id=response.user_id,
                key=response.key,
                request_hash=response.request_hash,
                status_code=response.status_code,
                response=response.body,
                created_at=response.created_at,
            )
        )
        return response

    def purge(self, before: datetime, user_id: str | None = None) -> int:
        c = t.idempotency_keys.c
        where = [c.created_at < before] + ([c.user_id == user_id] if user_id is not None else [])
        return self._db.write(sa.delete(t.idempotency_keys).where(*where))
