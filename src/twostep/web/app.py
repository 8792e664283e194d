"""`create_app(settings)`: the FastAPI application, with every collaborator passed in."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from twostep.analytics.norms_model import NormsModel
from twostep.config import Settings, require_production_ready
from twostep.domain.ports import UnitOfWorkFactory
from twostep.instruments.registry import Catalogue
from twostep.security.passwords import Hasher
from twostep.web.admission import AdmissionControl
from twostep.web.middleware import SecurityMiddleware
from twostep.web.problems import install_handlers
from twostep.web.state import WebState

log = logging.getLogger("twostep.web")

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    *,
    uow_factory: UnitOfWorkFactory | None = None,
    catalogue: Catalogue | None = None,
    hasher: Hasher | None = None,
    norms: Mapping[str, NormsModel] | None = None,
) -> FastAPI:
    """The web app for ``settings``.

    ``uow_factory`` defaults to the SQL storage of ``settings.database_url``;
    tests pass the in-memory fakes. In production the app refuses to start
    without real encryption keys (`require_production_ready`).
    """
    require_production_ready(settings)
    read_factory: UnitOfWorkFactory | None = None
    if uow_factory is None:
        from twostep.storage.engine import engine_from_settings
        from twostep.storage.unit_of_work import SqlUnitOfWorkFactory

        engine = engine_from_settings(settings)
        uow_factory = SqlUnitOfWorkFactory(engine)
        read_factory = SqlUnitOfWorkFactory(engine, read_only=True)
    if catalogue is None:
        catalogue = Catalogue.load(extra_dirs=settings.instrument_paths)
    if norms is None:
        norms = _load_norms(settings.norms_paths)
    templates = Jinja2Templates(directory=str(_package_dir("templates")))
    templates.env.globals["app_name"] = "twostep"
    app = FastAPI(
        title="twostep",
        version=_version(),
        description=(
            "Measurement-based psychotherapy care that understands nonlinear progress. "
            "JSON API v1: every route needs a signed-in session (cookie) and, for changes, "
            "the session's CSRF token in the X-CSRF-Token header. Errors are RFC 9457 "
            "problem details."
        ),
        docs_url=None,  # the interactive docs page needs a CDN script; /openapi.json is served
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.twostep = WebState(
        settings=settings,
        uow_factory=uow_factory,
        catalogue=catalogue,
        hasher=hasher or Hasher(),
        templates=templates,
        norms=dict(norms),
        read_factory=read_factory,
    )
    app.add_middleware(SecurityMiddleware)
    app.add_middleware(  # the outermost layer: a refusal costs nothing else
        AdmissionControl,
        max_in_flight=settings.max_in_flight,
        worker_threads=settings.worker_threads,
    )
    install_handlers(app)
    app.mount("/static", StaticFiles(directory=str(_package_dir("static"))), name="static")
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from twostep.web.api import router as api_router
    from twostep.web.pages import router as pages_router

    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(pages_router)


def _package_dir(name: str) -> Path:
    return Path(str(resources.files("twostep.web") / name))


def _load_norms(paths: list[Path]) -> dict[str, NormsModel]:
    from twostep.interop.norms_file import read_norms

    out: dict[str, NormsModel] = {}
    for path in paths:
        model = read_norms(path)
        out[model.instrument_id] = model
    return out


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("twostep")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "dev"
