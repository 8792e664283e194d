"""Server-rendered pages (Jinja2 + htmx). One module per area; every route is in the policy table."""

from fastapi import APIRouter, Depends

from twostep.web.policy import authorize

router = APIRouter(dependencies=[Depends(authorize)])

# the area modules register their routes on `router` when imported
from twostep.web.pages import home  # noqa: E402,F401
