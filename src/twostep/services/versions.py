"""Optimistic concurrency for records edited in place (reliability-security.md IN-02, RL-08).

Every record the web app edits in place carries a row version (``version``,
bumped by each write; the HTTP ``ETag``). An edit names the version it was
based on (``If-Match`` in the API, a hidden field in the pages); the
repositories write with ``UPDATE ... WHERE id = ? AND version = ?``, so of
two edits based on the same version exactly one is stored and the other gets
`StaleVersionError` — in the database, not by looking first and writing
later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, TypeVar

from twostep.errors import StaleVersionError

__all__ = ["based_on", "combined_version"]

R = TypeVar("R")


def based_on(record: R, expected_version: int | None) -> R:
    """``record`` as the base of an edit made on ``expected_version`` (None: the stored one).

    A version other than the stored one is refused at once; an equal one is carried
    into the conditional write, which refuses it if someone else writes first.
    """
    if expected_version is None:
        return record
    current: Any = record
    if current.version != expected_version:
        raise StaleVersionError("the record was changed by someone else meanwhile")
    return replace(current, version=expected_version)  # type: ignore[no-any-return]


def combined_version(versions: Iterable[int]) -> int:
    """One version for a set of rows that only grow (e.g. a client's sharing choices).

    Each write adds a row at version 1 or bumps one row by 1, so the sum grows with
    every write and never repeats: a strong validator for the whole set. An empty set
    (nothing chosen yet) is version 1, like every record that was never changed.
    """
    return 1 + sum(versions)
