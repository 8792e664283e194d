"""The JSON API, version 1 (``/api/v1``). Strict JSON, problem details, one policy table."""

from fastapi import APIRouter, Depends

from twostep.web.deps import plausible_ids
from twostep.web.policy import authorize

router = APIRouter(dependencies=[Depends(authorize), Depends(plausible_ids)])

# the area modules register their routes on `router` when imported
from twostep.web.api import (  # noqa: E402
    account,  # noqa: F401
    admin,  # noqa: F401
    admin_mfa,  # noqa: F401
    client_checkin,  # noqa: F401
    client_progress,  # noqa: F401
    client_records,  # noqa: F401
    mfa,  # noqa: F401
    service,  # noqa: F401
    session,  # noqa: F401
    therapist,  # noqa: F401
)
