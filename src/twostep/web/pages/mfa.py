"""Pages: the signed-in user's second factor (`twostep.web.mfa`) at ``/account/mfa``."""

from __future__ import annotations

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse

from twostep.errors import ValidationError
from twostep.web import mfa
from twostep.web.account import clear_cookie
from twostep.web.pages import router
from twostep.web.policy import A, C, R, T, allow
from twostep.web.problems import ProblemError
from twostep.web.render import render

TEMPLATE = "account_mfa.html"


def _page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        TEMPLATE,
        {"mfa": mfa.status(request), "errors": errors or {}, "message": message},
        status_code=status_code,
    )


def _refused(request: Request, exc: ProblemError) -> HTMLResponse:
    status = {"too-many-requests": 429, "conflict": 409}.get(exc.kind, 400)
    page = _page(request, message=exc.detail, status_code=status)
    for k, v in exc.headers.items():
        page.headers[k] = v
    return page


@router.get(
    "/account/mfa",
    name=allow(
        "page.account.mfa",
        C,
        T,
        A,
        R,
        what="one's own second factor: set up, confirm, switch off",
        clinical=False,
    ),
    response_class=HTMLResponse,
)
def mfa_page(request: Request) -> Response:
    return _page(request)


@router.post(
    "/account/mfa/start",
    name=allow(
        "page.account.mfa.start",
        C,
        T,
        A,
        R,
        what="start setting up a second factor (a new secret)",
        clinical=False,
    ),
    response_class=HTMLResponse,
)
def mfa_start(request: Request) -> Response:
    try:
        mfa.start(request)
    except ProblemError as exc:
        return _refused(request, exc)
    return _page(request)


@router.post(
    "/account/mfa/confirm",
    name=allow(
        "page.account.mfa.confirm",
        C,
        T,
        A,
        R,
        what="turn the second factor on with a code (ends every session)",
        clinical=False,
    ),
    response_class=HTMLResponse,
)
def mfa_confirm(request: Request, code: str = Form("", max_length=64)) -> Response:
    try:
        codes = mfa.confirm(request, code)
    except ValidationError as exc:
        errors = {p.where: p.message for p in exc.problems}
        return _page(request, errors=errors, status_code=422)
    except ProblemError as exc:
        return _refused(request, exc)
    page = render(request, TEMPLATE, {"confirmed": True, "recovery_codes": codes, "errors": {}})
    clear_cookie(page)
    return page


@router.post(
    "/account/mfa/disable",
    name=allow(
        "page.account.mfa.disable",
        C,
        T,
        A,
        R,
        what="switch the second factor off with password and code (ends every session)",
        clinical=False,
    ),
    response_class=HTMLResponse,
)
def mfa_disable(
    request: Request,
    password: str = Form("", max_length=1024),
    code: str = Form("", max_length=64),
) -> Response:
    try:
        mfa.disable(request, password, code)
    except ValidationError as exc:
        errors = {p.where: p.message for p in exc.problems}
        return _page(request, errors=errors, status_code=422)
    except ProblemError as exc:
        return _refused(request, exc)
    page = render(request, TEMPLATE, {"disabled": True, "errors": {}})
    clear_cookie(page)
    return page
