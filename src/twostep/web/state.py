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
    clock: Callable[[], dt.datetime] = utcnow


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.twostep
    return state
