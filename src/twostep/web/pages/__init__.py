"""Server-rendered pages (Jinja2 + htmx). One module per area; every route is in the policy table."""

from fastapi import APIRouter, Depends

from twostep.web.deps import plausible_ids
from twostep.web.policy import authorize

router = APIRouter(
    dependencies=[Depends(authorize), Depends(plausible_ids)], include_in_schema=False
)  # HTML, not the API

# the area modules register their routes on `router` when imported
from twostep.web.pages import (  # noqa: E402
    account,  # noqa: F401
    admin,  # noqa: F401
    client_checkin,  # noqa: F401
    client_progress,  # noqa: F401
    client_records,  # noqa: F401
    home,  # noqa: F401
    mfa,  # noqa: F401
    service,  # noqa: F401
    therapist,  # noqa: F401
)
