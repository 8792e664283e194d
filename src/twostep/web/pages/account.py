"""Pages: the signed-in user changes their own password (`twostep.web.account`)."""

from __future__ import annotations

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse

from twostep.errors import ValidationError
from twostep.web.account import change_own_password, clear_cookie
from twostep.web.pages import router
from twostep.web.policy import A, C, R, T, allow
from twostep.web.problems import ProblemError
from twostep.web.render import render


@router.get(
    "/account/password",
    name=allow(
        "page.account.password", C, T, A, R, what="the change-password form", clinical=False
    ),
    response_class=HTMLResponse,
)
def password_form(request: Request) -> Response:
    return render(request, "account_password.html", {"errors": {}})


@router.post(
    "/account/password",
    name=allow(
        "page.account.password.submit",
        C,
        T,
        A,
        R,
        what="change one's own password (ends every session)",
        clinical=False,
    ),
    response_class=HTMLResponse,
)
def password_submit(
    request: Request,
    current_password: str = Form("", max_length=1024),
    new_password: str = Form("", max_length=1024),
) -> Response:
    try:
        change_own_password(request, Response(), current_password, new_password)
    except ValidationError as exc:
        errors = {p.where: p.message for p in exc.problems}
        return render(request, "account_password.html", {"errors": errors}, status_code=422)
    except ProblemError as exc:
        page = render(
            request,
            "account_password.html",
            {"errors": {"current_password": exc.detail or ""}},
            status_code=429 if exc.kind == "too-many-requests" else 400,
        )
        for k, v in exc.headers.items():
            page.headers[k] = v
        return page
    page = render(request, "account_password.html", {"done": True, "errors": {}})  # signed out
    clear_cookie(page)
    return page
