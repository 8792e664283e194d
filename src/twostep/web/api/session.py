"""Sign-in for API clients and the signed-in user's own account."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import Field

from twostep.web.api import router
from twostep.web.api.schemas import PROBLEM_RESPONSES, OutModel, StrictModel
from twostep.web.policy import A, C, R, T, allow, public, signed_in
from twostep.web.sessions import sign_in, sign_out


class LoginIn(StrictModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    #: the current TOTP code (or a recovery code) of a user with a second factor
    code: str | None = Field(default=None, max_length=64)


class Me(OutModel):
    id: str
    clinic_id: str
    display_name: str
    email: str
    roles: list[str]
    csrf_token: str | None = None


@router.post(
    "/session",
    name=public("api.session.create", "sign in (JSON): opens a session, sets its cookie"),
    response_model=Me,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
def create_session(body: LoginIn, request: Request, response: Response) -> Me:
    """Sign in; the response carries the CSRF token for later changes (header X-CSRF-Token).

    With a second factor on, send ``code`` too (otherwise 401 ``/problems/mfa-required``).
    """
    signed = sign_in(request, response, body.email, body.password, body.code)
    u = signed.user
    return Me(
        id=u.id,
        clinic_id=u.clinic_id,
        display_name=u.display_name,
        email=u.email,
        roles=sorted(r.value for r in u.roles),
        csrf_token=signed.csrf_token,
    )


@router.delete(
    "/session",
    name=allow("api.session.delete", C, T, A, R, what="sign out", clinical=False),
    status_code=204,
    responses=PROBLEM_RESPONSES,
)
def delete_session(request: Request, response: Response) -> Response:
    sign_out(request, response)
    response.status_code = 204
    return response


@router.get(
    "/me",
    name=allow("api.me", C, T, A, R, what="the signed-in user's own account", clinical=False),
    response_model=Me,
    responses=PROBLEM_RESPONSES,
)
def me(request: Request) -> Me:
    u = signed_in(request).user
    return Me(
        id=u.id,
        clinic_id=u.clinic_id,
        display_name=u.display_name,
        email=u.email,
        roles=sorted(r.value for r in u.roles),
    )
