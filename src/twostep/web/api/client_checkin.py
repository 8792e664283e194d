"""API v1 for clients: their check-ins due, drafts and submissions (``/api/v1/me/checkins``).

Clients only (a therapist enters scores through the therapist area). Bodies
are strict: an answer is a JSON number or null — ``"3"`` or ``true`` is
refused with 422 naming the field. A risk item answered above 0 — in a
submission or in a draft — returns ``show_crisis_resources: true`` with the
clinic's crisis text and delay notice, and the therapist is alerted at once.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request, Response
from pydantic import Field, StrictFloat, StrictInt

from twostep.errors import Problem, ResponseValidationError
from twostep.services.checkin import checkins_due, record_checkin
from twostep.services.crisis_resources import crisis_resources
from twostep.services.drafts import discard_draft, get_draft, save_draft
from twostep.services.texts import ExplanationText
from twostep.web.api import router
from twostep.web.api.schemas import PROBLEM_RESPONSES, OutModel, StrictModel
from twostep.web.deps import actor_of
from twostep.web.etag import (
    READ_RESPONSES,
    VERSIONED_RESPONSES,
    IfMatch,
    IfNoneMatch,
    etag,
    expected_version,
    with_etag,
)
from twostep.web.idempotency import idempotent
from twostep.web.policy import C, allow
from twostep.web.problems import ProblemError
from twostep.web.state import state_of

Answer = StrictInt | StrictFloat | None
InstrumentId = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")


class DueOut(OutModel):
    instrument_id: str
    name: str
    last_completed_at: datetime | None
    due_at: datetime
    due_now: bool


class DraftIn(StrictModel):
    """Answers to merge into the draft (an unanswered item may be left out or null)."""

    answers: dict[str, Answer] = Field(max_length=200)


class DraftOut(OutModel):
    instrument_id: str
    answers: dict[str, float | None]
    updated_at: datetime
    answered: int | None = None
    total_items: int | None = None
    show_crisis_resources: bool = False
    crisis_text: str | None = None
    delay_notice: str | None = None
    etag: str = Field(description='The ETag to send in If-Match to change it, e.g. "v3"')


class CheckinIn(StrictModel):
    instrument_id: str = InstrumentId
    answers: dict[str, Answer] = Field(max_length=200)


class ExplanationOut(OutModel):
    topic: str
    label: str
    level: int
    text: str
    details: str


class CheckinOut(OutModel):
    administration_id: str
    instrument_id: str
    completed_at: datetime
    score: float | None
    band: str | None
    in_clinical_range: bool | None
    prorated: bool
    risk: bool
    risk_not_assessed: bool
    show_crisis_resources: bool
    crisis_text: str | None
    delay_notice: str
    explanation: str | None
    explanations: list[ExplanationOut]
    analysis_failed: bool


def answers_pointed(exc: ResponseValidationError) -> ResponseValidationError:
    """The same problems located under ``answers`` (the item ids are keys of that object)."""
    return ResponseValidationError(
        [Problem(f"answers.{p.where}", p.code, p.message) for p in exc.problems],
        context=exc.context,
    )


def explanation_out(e: ExplanationText) -> ExplanationOut:
    return ExplanationOut(
        topic=e.topic, label=e.label, level=int(e.level), text=e.client, details=e.client_details
    )


@router.get(
    "/me/checkins/due",
    name=allow("api.me.checkins.due", C, what="the client's questionnaires and when each is due"),
    response_model=list[DueOut],
    responses=PROBLEM_RESPONSES,
)
def due(request: Request) -> list[DueOut]:
    st = state_of(request)
    actor = actor_of(request)
    return [
        DueOut(
            instrument_id=d.instrument_id,
            name=d.name,
            last_completed_at=d.last_completed_at,
            due_at=d.due_at,
            due_now=d.due_now,
        )
        for d in checkins_due(st.uow_factory, actor, actor.user_id, now=st.clock())
    ]


@router.get(
    "/me/checkins/{instrument_id}/draft",
    name=allow("api.me.checkins.draft.get", C, what="the client's own draft of a questionnaire"),
    response_model=DraftOut,
    responses=READ_RESPONSES,
)
def draft_get(request: Request, response: Response, instrument_id: str) -> DraftOut:
    st = state_of(request)
    draft = get_draft(st.uow_factory, actor_of(request), instrument_id)
    if draft is None:
        raise ProblemError("not-found", "no draft of this questionnaire")
    with_etag(response, draft.version)
    return DraftOut(
        instrument_id=draft.instrument_id,
        answers=dict(draft.answers),
        updated_at=draft.updated_at,
        etag=etag(draft.version),
    )


@router.put(
    "/me/checkins/{instrument_id}/draft",
    name=allow(
        "api.me.checkins.draft.put",
        C,
        what="save answers to the client's draft (a risk answer alerts the therapist at once)",
    ),
    response_model=DraftOut,
    responses=VERSIONED_RESPONSES,
)
def draft_put(
    request: Request,
    response: Response,
    instrument_id: str,
    body: DraftIn,
    if_match: IfMatch = None,
    if_none_match: IfNoneMatch = None,
) -> DraftOut:
    """Merge answers into the draft: ``If-Match`` its ETag, or ``If-None-Match: *`` to start one."""
    version = expected_version(if_match, if_none_match, may_create=True)
    st = state_of(request)
    if version is None and get_draft(st.uow_factory, actor_of(request), instrument_id) is None:
        # If-Match: * names "the stored draft": there is none (RFC 9110 §13.1.1)
        raise ProblemError("precondition-failed", "there is no draft yet: use If-None-Match: *")
    state = save_draft(
        st.uow_factory,
        actor_of(request),
        instrument_id,
        body.answers,
        now=st.clock(),
        expected_version=version,
    )
    with_etag(response, state.draft.version)
    return DraftOut(
        instrument_id=state.draft.instrument_id,
        answers=dict(state.draft.answers),
        updated_at=state.draft.updated_at,
        answered=state.answered,
        total_items=state.total_items,
        show_crisis_resources=state.show_crisis_resources,
        crisis_text=state.crisis_text,
        delay_notice=crisis_resources(st.uow_factory, actor_of(request)).delay_notice,
        etag=etag(state.draft.version),
    )


@router.delete(
    "/me/checkins/{instrument_id}/draft",
    name=allow("api.me.checkins.draft.delete", C, what="discard the client's draft"),
    status_code=204,
    responses=PROBLEM_RESPONSES,
)
def draft_delete(request: Request, instrument_id: str) -> Response:
    st = state_of(request)
    discard_draft(st.uow_factory, actor_of(request), instrument_id)
    return Response(status_code=204)


@router.post(
    "/me/checkins",
    name=allow(
        "api.me.checkins.create",
        C,
        what="submit a questionnaire: scored, stored, analysed; risk answers alert at once",
    ),
    response_model=CheckinOut,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def create(request: Request, body: CheckinIn) -> CheckinOut:
    st = state_of(request)
    actor = actor_of(request)
    now = st.clock()
    try:
        result = record_checkin(
            st.uow_factory,
            actor,
            actor.user_id,
            body.instrument_id,
            body.answers,
            now,
            norms=st.norms,
            now=now,
        )
    except ResponseValidationError as exc:  # name the answer by its JSON pointer (/answers/…)
        raise answers_pointed(exc) from None
    adm = result.administration
    texts = [explanation_out(e) for e in result.explanations]
    main = next((t.text for t in texts if t.topic != "risk"), texts[0].text if texts else None)
    return CheckinOut(
        administration_id=adm.id,
        instrument_id=adm.instrument_id,
        completed_at=adm.completed_at,
        score=adm.total,
        band=adm.band,
        in_clinical_range=adm.case,
        prorated=adm.prorated,
        risk=adm.risk,
        risk_not_assessed=result.risk_not_assessed,
        show_crisis_resources=result.show_crisis_resources,
        crisis_text=result.crisis_text,
        delay_notice=result.delay_notice,
        explanation=main,
        explanations=texts,
        analysis_failed=result.analysis_failed,
    )
