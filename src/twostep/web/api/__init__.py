"""The JSON API, version 1 (``/api/v1``). Strict JSON, problem details, one policy table."""

from fastapi import APIRouter, Depends

from twostep.web.policy import authorize

router = APIRouter(dependencies=[Depends(authorize)])

# the area modules register their routes on `router` when imported
from twostep.web.api import session  # noqa: E402,F401
