"""The signed-in user's own password (`twostep.web.account`)."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import Field

from twostep.web.account import change_own_password
from twostep.web.api import router
from twostep.web.api.schemas import PROBLEM_RESPONSES, StrictModel
from twostep.web.policy import A, C, R, T, allow


class PasswordChange(StrictModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


@router.put(
    "/me/password",
    name=allow(
        "api.me.password",
        C,
        T,
        A,
        R,
        what="change one's own password (ends every session, this one too)",
        clinical=False,
    ),
    status_code=204,
    responses=PROBLEM_RESPONSES,
)
def put_password(body: PasswordChange, request: Request, response: Response) -> Response:
    """Change your password; every session ends (sign in again with the new one)."""
    change_own_password(request, response, body.current_password, body.new_password)
    response.status_code = 204
    return response
