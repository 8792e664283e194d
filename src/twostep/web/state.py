"""What every request handler needs, built once in `create_app` and kept on ``app.state``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.templating import Jinja2Templates

from twostep.analytics.norms_model import NormsModel
from twostep.config import Settings
from twostep.domain.ports import UnitOfWorkFactory
from twostep.instruments.registry import Catalogue
from twostep.security.passwords import Hasher
from twostep.services.triage import TriageCache


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WebState:
    """The app's collaborators (no globals: tests build their own)."""

    settings: Settings
    uow_factory: UnitOfWorkFactory
    catalogue: Catalogue
    hasher: Hasher
    templates: Jinja2Templates
    norms: Mapping[str, NormsModel] = field(default_factory=dict)
    #: transactions that only read (no write lock on SQLite); defaults to ``uow_factory``
    read_factory: UnitOfWorkFactory | None = None
    clock: Callable[[], dt.datetime] = utcnow
    #: caseload analyses reused while no client's record changed (services.triage)
    triage_cache: TriageCache = field(default_factory=TriageCache)


def reader(state: WebState) -> UnitOfWorkFactory:
    """The factory of read-only transactions (the main one when there is none)."""
    return state.read_factory or state.uow_factory


def state_of(request: Request) -> WebState:
    # a request may carry its own copy (twostep.web.idempotency holds its commits)
    state: WebState = getattr(request.state, "twostep", None) or request.app.state.twostep
    return state
