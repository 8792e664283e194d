"""API v1: service outcomes (aggregates only; therapists, admins, researchers).

``GET /api/v1/service/outcomes?period=2024-Q2&group=therapist`` returns the
clinic's NHS Talking Therapies rates and course-pattern rates with 95 %
Wilson intervals (`services.outcomes`). No client identity, score or date of
one person is ever returned; small cells come back with ``hidden`` set and no
numbers. A therapist gets the clinic total and their own row; a researcher
every therapist's row under a pseudonym; an admin the therapists' names.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from fastapi import Query, Request
from pydantic import Field

from twostep.services.outcomes import (
    Cell,
    OutcomeRow,
    ServiceOutcomes,
    service_outcomes,
)
from twostep.web.api import router
from twostep.web.api.schemas import PROBLEM_RESPONSES, OutModel
from twostep.web.deps import actor_of
from twostep.web.policy import A, R, T, allow
from twostep.web.state import state_of


class CellOut(OutModel):
    rate: str
    numerator: int | None
    denominator: int | None
    proportion: float | None
    lower: float | None
    upper: float | None
    hidden: Literal["small", "complementary"] | None


class RowOut(OutModel):
    label: str
    kind: Literal["total", "therapist", "period"]
    is_own: bool
    cells: list[CellOut]


class DefinitionOut(OutModel):
    rate: str
    title: str
    plain: str
    definition: str


class NormsOut(OutModel):
    instrument: str
    fitted_at: str
    n_episodes: int
    n_scores: int
    training_window: str | None
    coverage_share: float
    coverage_target: float
    coverage_tolerance: float
    coverage_passed: bool


class OutcomesOut(OutModel):
    period: str | None
    group: Literal["therapist", "period", "none"]
    view: Literal["admin", "researcher", "therapist"]
    total: RowOut
    rows: list[RowOut]
    periods: list[str]
    n_episodes: int | None = Field(description="null: fewer than the threshold (researchers)")
    n_ongoing: int | None
    n_finished_not_computable: int | None
    n_attendance_from_pairs: int | None
    suppression_threshold: int
    rounded_to: int = Field(
        description="shown counts are multiples of this: 5 for researchers, 1 (exact) for staff"
    )
    confidence: str
    definitions: list[DefinitionOut]
    norms: list[NormsOut]


def _cell(c: Cell) -> CellOut:
    return CellOut(
        rate=c.key,
        numerator=c.numerator,
        denominator=c.denominator,
        proportion=c.proportion,
        lower=c.lower,
        upper=c.upper,
        hidden=c.hidden,
    )


def _row(r: OutcomeRow) -> RowOut:
    return RowOut(
        label=r.label,
        kind=r.kind,
        is_own=r.is_own,
        cells=[_cell(c) for c in r.cells],
    )


def outcomes_out(o: ServiceOutcomes) -> OutcomesOut:
    return OutcomesOut(
        period=o.period,
        group=o.grouping.value,
        view=o.view,
        total=_row(o.total),
        rows=[_row(r) for r in o.rows],
        periods=list(o.periods),
        n_episodes=o.n_episodes,
        n_ongoing=o.n_ongoing,
        n_finished_not_computable=o.n_finished_not_computable,
        n_attendance_from_pairs=o.n_attendance_from_pairs,
        suppression_threshold=o.threshold,
        rounded_to=o.rounded_to,
        confidence="95 % Wilson score interval",
        definitions=[
            DefinitionOut(rate=d.key, title=d.title, plain=d.plain, definition=d.definition)
            for d in o.definitions
        ],
        norms=[NormsOut(**dataclasses.asdict(n)) for n in o.norms],
    )


@router.get(
    "/service/outcomes",
    name=allow(
        "api.service.outcomes",
        T,
        A,
        R,
        what="service outcome rates (aggregates of clinical data; no client identity)",
        clinical=True,
    ),
    response_model=OutcomesOut,
    responses=PROBLEM_RESPONSES,
)
def get_outcomes(
    request: Request,
    period: str = Query(
        "all", max_length=7, description="a quarter such as 2024-Q2, or all", pattern=r"^[\w-]+$"
    ),
    group: Literal["therapist", "period", "none"] = Query("therapist"),
) -> OutcomesOut:
    """Recovery, reliable improvement/deterioration/recovery, sudden gains, setbacks, plateaus."""
    state = state_of(request)
    result = service_outcomes(
        state.uow_factory,
        actor_of(request),
        period=period,
        grouping=group,
        norms=state.norms,
    )
    return outcomes_out(result)
