"""Sign-in, sign-out and the start page (each role's home)."""

from __future__ import annotations

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from twostep.domain.records import Role
from twostep.web.mfa import must_enrol
from twostep.web.pages import router
from twostep.web.policy import A, C, R, T, allow, public
from twostep.web.problems import ProblemError
from twostep.web.render import render
from twostep.web.sessions import load_session, sign_in, sign_out


def home_for(roles: frozenset[Role]) -> str:
    if Role.CLIENT in roles:
        return "/me"
    if Role.THERAPIST in roles:
        return "/caseload"
    if Role.RESEARCHER in roles:
        return "/service"
    return "/admin"


@router.get("/", name=public("page.root", "start: sends each role to its home page"))
def root(request: Request) -> Response:
    signed = load_session(request)
    if signed is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_for(signed.user.roles), status_code=303)


@router.get("/login", name=public("page.login", "sign-in form"), response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    if load_session(request) is not None:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", {})


@router.post("/login", name=public("page.login.submit", "sign in with the form"))
def login_submit(
    request: Request,
    email: str = Form(..., max_length=320),
    password: str = Form(..., max_length=1024),
    code: str = Form("", max_length=64),
) -> Response:
    response = RedirectResponse("/", status_code=303)
    try:
        signed = sign_in(request, response, email, password, code or None)
    except ProblemError as exc:
        status = 429 if exc.kind == "too-many-requests" else 401
        page = render(
            request,
            "login.html",
            {"message": exc.detail, "email": email, "code_needed": exc.kind == "mfa-required"},
            status_code=status,
        )
        for k, v in exc.headers.items():
            page.headers[k] = v
        return page
    # staff who must still set up a second factor go straight to its page (AN-05)
    home = "/account/mfa" if must_enrol(request, signed) else home_for(signed.user.roles)
    response.headers["Location"] = home
    return response


@router.post("/logout", name=allow("page.logout", C, T, A, R, what="sign out", clinical=False))
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    sign_out(request, response)
    return response
