"""Pages: the service-outcomes dashboard (``/service``; therapists, admins, researchers).

Aggregates only (`services.outcomes`): NHS Talking Therapies rates with 95 %
Wilson intervals and course-pattern rates, by therapist or by quarter, each
explained in plain words with its definition; small cells are shown as
"fewer than 10" and complementary cells as hidden, never as a number. The
status of the fitted expected-response norms is listed. A therapist sees the
clinic totals and their own row; a researcher pseudonymised rows; an admin
the therapists' names. The filter form is a GET (no state changes).
"""

from __future__ import annotations

from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse

from twostep.errors import ValidationError
from twostep.services.outcomes import (
    RATE_DEFINITIONS,
    THRESHOLD,
    Cell,
    Grouping,
    ServiceOutcomes,
    service_outcomes,
)
from twostep.web.deps import actor_of
from twostep.web.pages import router
from twostep.web.policy import A, R, T, allow
from twostep.web.render import render
from twostep.web.state import state_of

GROUP_LABELS = {"therapist": "By therapist", "period": "By quarter", "none": "Clinic total only"}


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def cell_text(c: Cell, threshold: int = THRESHOLD) -> dict[str, str]:
    """What one cell shows: the rate, its interval and counts, or why it is hidden."""
    if c.hidden == "small":
        return {"rate": f"fewer than {threshold}", "ci": "", "counts": "", "hidden": "small"}
    if c.hidden == "complementary":
        return {
            "rate": "hidden",
            "ci": "",
            "counts": "so that a small group cannot be worked out from the total",
            "hidden": "complementary",
        }
    return {
        "rate": percent(c.proportion),
        "ci": f"95 % CI {percent(c.lower)} to {percent(c.upper)}",
        "counts": f"{c.numerator} of {c.denominator}",
        "hidden": "",
    }


def _context(result: ServiceOutcomes) -> dict[str, object]:
    rows = [result.total, *result.rows]
    return {
        "result": result,
        "definitions": RATE_DEFINITIONS,
        "table": [
            {
                "label": r.label,
                "kind": r.kind,
                "is_own": r.is_own,
                "cells": [cell_text(c, result.threshold) for c in r.cells],
            }
            for r in rows
        ],
        "threshold": result.threshold,
        "group_labels": GROUP_LABELS,
        "groups": [g.value for g in Grouping],
        "period_value": result.period or "all",
    }


@router.get(
    "/service",
    name=allow(
        "page.service",
        T,
        A,
        R,
        what="service-outcomes dashboard (aggregates of clinical data; no client identity)",
        clinical=True,
    ),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def service_page(
    request: Request,
    period: str = Query("all", max_length=16),
    group: str = Query("therapist", max_length=16),
) -> Response:
    state = state_of(request)
    actor = actor_of(request)
    try:
        result = service_outcomes(
            state.uow_factory, actor, period=period, grouping=group, norms=state.norms
        )
    except ValidationError as exc:
        result = service_outcomes(state.uow_factory, actor, norms=state.norms)
        ctx = _context(result)
        ctx["errors"] = [p.message for p in exc.problems]
        return render(request, "service/outcomes.html", ctx, status_code=422)
    return render(request, "service/outcomes.html", _context(result))
