"""The signed-in user's second factor (TOTP) through the API (`twostep.web.mfa`)."""

from __future__ import annotations

import datetime as dt

from fastapi import Request, Response
from pydantic import Field

from twostep.web import mfa
from twostep.web.account import clear_cookie
from twostep.web.api import router
from twostep.web.api.schemas import PROBLEM_RESPONSES, OutModel, StrictModel
from twostep.web.policy import A, C, R, T, allow


class MfaStatusOut(OutModel):
    enabled: bool
    pending: bool
    confirmed_at: dt.datetime | None
    recovery_codes_left: int
    required: bool


class NewSecretOut(OutModel):
    secret: str
    otpauth_uri: str


class CodeIn(StrictModel):
    code: str = Field(min_length=1, max_length=64)


class RecoveryCodesOut(OutModel):
    recovery_codes: list[str]


class DisableIn(StrictModel):
    password: str = Field(min_length=1, max_length=1024)
    code: str = Field(min_length=1, max_length=64)


@router.get(
    "/me/mfa",
    name=allow("api.me.mfa", C, T, A, R, what="one's own second factor: on or off", clinical=False),
    response_model=MfaStatusOut,
    responses=PROBLEM_RESPONSES,
)
def get_mfa(request: Request) -> MfaStatusOut:
    s = mfa.status(request)
    return MfaStatusOut(
        enabled=s.enabled,
        pending=s.pending,
        confirmed_at=s.confirmed_at,
        recovery_codes_left=s.recovery_codes_left,
        required=s.required,
    )


@router.post(
    "/me/mfa/secret",
    name=allow(
        "api.me.mfa.start",
        C,
        T,
        A,
        R,
        what="start setting up a second factor: a new TOTP secret",
        clinical=False,
    ),
    response_model=NewSecretOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
def post_secret(request: Request) -> NewSecretOut:
    """A new secret (base32, for manual entry) and its otpauth:// URI; confirm it with a code."""
    new = mfa.start(request)
    return NewSecretOut(secret=new.secret, otpauth_uri=new.otpauth_uri)


@router.post(
    "/me/mfa/confirm",
    name=allow(
        "api.me.mfa.confirm",
        C,
        T,
        A,
        R,
        what="turn the second factor on with a current code (ends every session)",
        clinical=False,
    ),
    response_model=RecoveryCodesOut,
    responses=PROBLEM_RESPONSES,
)
def post_confirm(body: CodeIn, request: Request, response: Response) -> RecoveryCodesOut:
    """Turn the factor on; the answer holds 10 single-use recovery codes (shown only now).
    Every session ends: sign in again with a code."""
    codes = mfa.confirm(request, body.code)
    clear_cookie(response)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post(
    "/me/mfa/disable",
    name=allow(
        "api.me.mfa.disable",
        C,
        T,
        A,
        R,
        what="switch the second factor off with password and code (ends every session)",
        clinical=False,
    ),
    status_code=204,
    responses=PROBLEM_RESPONSES,
)
def post_disable(body: DisableIn, request: Request, response: Response) -> Response:
    """Switch the factor off (password and a current or recovery code); every session ends."""
    mfa.disable(request, body.password, body.code)
    clear_cookie(response)
    response.status_code = 204
    return response
