"""An admin removes a user's lost second factor (`twostep.services.clinic_admin.reset_mfa`)."""

from __future__ import annotations

from fastapi import Path, Request, Response

from twostep.errors import NotFoundError
from twostep.services.clinic_admin import reset_mfa
from twostep.web.api import router
from twostep.web.api.schemas import PROBLEM_RESPONSES
from twostep.web.deps import actor_of
from twostep.web.policy import A, allow
from twostep.web.state import state_of

ID_PATTERN = r"^[0-9a-fA-F-]{1,64}$"


@router.delete(
    "/admin/users/{user_id}/mfa",
    name=allow(
        "api.admin.users.mfa.reset",
        A,
        what="remove an account's second factor, e.g. a lost phone (admin; no clinical "
        "content; ends the user's sessions)",
        clinical=False,
    ),
    status_code=204,
    responses=PROBLEM_RESPONSES,
)
def users_mfa_reset(
    request: Request, user_id: str = Path(max_length=64, pattern=ID_PATTERN)
) -> Response:
    """Remove the user's second factor and end their sessions; 404 when they had none."""
    state = state_of(request)
    if not reset_mfa(state.uow_factory, actor_of(request), user_id, now=state.clock()):
        raise NotFoundError("this account has no second factor")
    return Response(status_code=204)
