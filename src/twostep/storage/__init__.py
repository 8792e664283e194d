"""The storage adapter: twostep's records on SQLite (default) or PostgreSQL.

It implements the ports of `twostep.domain.ports` with SQLAlchemy Core;
nothing outside this package imports SQLAlchemy. The pieces:

* `make_engine` / `engine_from_settings` — engines with SQLite's WAL,
  ``synchronous=FULL``, foreign keys, busy timeout and ``BEGIN IMMEDIATE``;
  PostgreSQL through psycopg 3;
* `SqlUnitOfWork` / `SqlUnitOfWorkFactory` — one transaction over every
  repository; only twostep errors come out;
* `KeyRing`, `rotate_keys` — AES-256-GCM encryption of free text at rest;
* `verify_chain` — check the hash-chained, append-only audit trail;
* `upgrade`, `current` — Alembic migrations shipped in the package.
"""

from __future__ import annotations

from twostep.storage.audit import verify_chain
from twostep.storage.encryption import KeyRing, generate_key, rotate_keys
from twostep.storage.engine import engine_from_settings, make_engine
from twostep.storage.migrate import current, head, upgrade
from twostep.storage.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "KeyRing",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "current",
    "engine_from_settings",
    "generate_key",
    "head",
    "make_engine",
    "rotate_keys",
    "upgrade",
    "verify_chain",
]
