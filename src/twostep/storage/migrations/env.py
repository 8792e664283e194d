"""Alembic environment of twostep's records database (shipped inside the package).

`twostep.storage.migrate` runs it with a connection in
``config.attributes["connection"]``, already inside a transaction, so a
migration is all-or-nothing on PostgreSQL and on SQLite alike. For developers,
``sqlalchemy.url`` in the config works too (e.g. to autogenerate a revision).
Application column types are rendered as the plain SQL types they store, so
that migrations never import application code that may change later.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from twostep.storage.encryption import EncryptedJSON, EncryptedText
from twostep.storage.schema import UTCDateTime
from twostep.storage.tables import metadata


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    if kind == "type":
        if isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
        if isinstance(obj, EncryptedText | EncryptedJSON):
            return "sa.LargeBinary()"
    return False


def run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    from twostep.storage.engine import make_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url for the migrations")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            run(conn)
    finally:
        engine.dispose()


main()
