"""Pages for the client: home (``/me``) and the check-in (``/me/checkin``).

The check-in shows one screen per questionnaire: the item text only where the
instrument's licence lets twostep ship it (`Instrument.shows_item_text`), and
otherwise twostep's own short descriptions with an honest note. Answers are
saved to a server-side draft as the client goes (htmx on change, and the
"Save and finish later" button without JavaScript); the moment a risk item is
answered above 0 the clinic's crisis resources appear in a ``role="alert"``
region, and the therapist is alerted at once (`services.drafts.save_draft`),
with the clinic's notice that the answer may not be seen straight away.
Submitting works without JavaScript (a plain form post) and shows the score,
its band and the plain-language explanation of the change.

Post/Redirect/Get, once only (reliability-security.md RL-04/05/06): a
successful submission answers ``303 See Other`` to the result page
``/me/checkin/{instrument_id}/result/{administration_id}`` (`checkin_result`
re-derives what `record_checkin` returned), so a refresh reads again and never
posts again. The form carries a one-time token (hidden ``submission_id``, a
UUID made when the form page is rendered and kept when the form is shown
again after a refusal or a draft save). The administration is stored at most
once per (user, token): the token is written to ``idempotency_keys`` (the
table of the API's ``Idempotency-Key``) **in the same transaction** as the
administration, its risk alert and its audit event — `record_checkin` runs
on a `HeldFactory` whose held commit is released with the token row. A
crash keeps both or neither; a second post of the same form (a double click,
back and send again) finds the row and is redirected to the first result
without recording; two posts at the same moment collide on the row's primary
key and the second is rolled back whole. We reuse that table rather than add
a column to administrations: no migration, the same 7-day expiry and purge,
rows go with the account, and one mechanism to reason about. A post without
a token (a form from before this change) records once and redirects.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from twostep.domain.ports import IdempotentResponse
from twostep.errors import ConflictError, Problem, UnknownInstrumentError, ValidationError
from twostep.instruments.model import Instrument, LicenceStatus
from twostep.services.checkin import (
    CheckinDue,
    CheckinResult,
    checkin_result,
    checkins_due,
    record_checkin,
)
from twostep.services.crisis_resources import crisis_resources
from twostep.services.drafts import get_draft, risk_in_answers, save_draft
from twostep.services.progress import MeasureProgress, my_progress
from twostep.web.charts import explanation_class, topic_words
from twostep.web.deps import actor_of
from twostep.web.idempotency import KEEP, HeldFactory, request_hash
from twostep.web.pages import router
from twostep.web.policy import C, allow
from twostep.web.problems import ProblemError
from twostep.web.render import render
from twostep.web.state import reader, state_of

__all__ = ["ItemView", "form_answers", "instrument_or_404", "item_views"]


# ------------------------------------------------------------------ view models


@dataclass(frozen=True)
class Choice:
    value: int
    label: str
    checked: bool


@dataclass(frozen=True)
class ItemView:
    """One question as the form shows it."""

    id: str
    number: int
    prompt: str
    is_item_text: bool  # the licensed wording (else twostep's short description)
    kind: str  # "choice" | "number"
    choices: tuple[Choice, ...]
    minimum: float
    maximum: float
    step: float
    value: str
    error: str | None


def _shown(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def item_views(
    instrument: Instrument,
    answers: Mapping[str, object],
    errors: Mapping[str, str] | None = None,
) -> tuple[ItemView, ...]:
    """The questions of ``instrument`` with the given answers filled in."""
    errors = errors or {}
    out = []
    for item in instrument.items:
        raw = answers.get(item.id)
        current = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        text_ok = instrument.shows_item_text and bool(item.text)
        prompt = item.text if text_ok and item.text else (item.label or f"Item {item.number}")
        scale = item.scale
        choices = tuple(
            Choice(o.value, o.label, current is not None and float(o.value) == current)
            for o in scale.options
        )
        out.append(
            ItemView(
                id=item.id,
                number=item.number,
                prompt=prompt,
                is_item_text=text_ok,
                kind="choice" if scale.kind == "choice" else "number",
                choices=choices,
                minimum=scale.minimum,
                maximum=scale.maximum,
                step=scale.resolution,
                value=_shown(current) if not isinstance(raw, str) else raw,
                error=errors.get(item.id),
            )
        )
    return tuple(out)


def scoring_only_note(instrument: Instrument) -> str | None:
    """The honest note for an instrument whose wording twostep may not show."""
    if instrument.shows_item_text and all(i.text for i in instrument.items):
        return None
    visual = any(i.scale.kind != "choice" for i in instrument.items)
    why = (
        "Its wording is protected by copyright, and twostep does not include it"
        if instrument.licence.status is LicenceStatus.NO_SHIP
        else "Its exact wording has not been confirmed yet, so twostep does not show it"
    )
    if visual:
        how = (
            f"Your clinic gives you the {instrument.short_name} form itself. Measure each mark "
            f"you made on the lines and enter it here as a number from "
            f"{instrument.items[0].scale.minimum:g} to {instrument.items[0].scale.maximum:g}."
        )
    else:
        how = (
            f"Your clinic gives you the {instrument.short_name} form itself. Below, each "
            "question is named with a short description written by twostep; choose the "
            "same answer you gave on the form."
        )
    return f"{why}. {how}"


def instrument_or_404(request: Request, instrument_id: str) -> Instrument:
    try:
        return state_of(request).catalogue.get(instrument_id)
    except UnknownInstrumentError:
        raise ProblemError("not-found") from None


def _number(item_kind: str, raw: str) -> float | int | None:
    text = raw.strip()
    if item_kind == "choice":
        if text.lstrip("-").isdigit() and len(text) <= 4:
            return int(text)
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def form_answers(
    instrument: Instrument, form: Mapping[str, str], *, keep_blank: bool
) -> tuple[dict[str, object], list[Problem]]:
    """Answers from a posted form: numbers where the form holds numbers.

    A blank answer becomes None with ``keep_blank`` (a submission) and is left
    out otherwise (a draft keeps what was saved before). Text that is not a
    number is a problem named by the item.
    """
    answers: dict[str, object] = {}
    problems: list[Problem] = []
    for item in instrument.items:
        raw = form.get(item.id)
        if raw is None or not raw.strip():
            if keep_blank:
                answers[item.id] = None
            continue
        kind = "choice" if item.scale.kind == "choice" else "number"
        value = _number(kind, raw)
        if value is None:
            problems.append(Problem(item.id, "wrong_type", "please enter a number"))
            continue
        answers[item.id] = value
    return answers, problems


async def posted_form(request: Request) -> dict[str, str]:
    """The posted form's text fields (the last value of a repeated name)."""
    form = await request.form()
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def keep_risk_answers(
    request: Request, instrument: Instrument, answers: Mapping[str, object]
) -> None:
    """A risk answer in a refused form still reaches the therapist (via the draft's alert)."""
    rule = instrument.risk
    if rule is None or not risk_in_answers(instrument, answers):
        return
    st = state_of(request)
    risky = {i: answers[i] for i in rule.items if i in answers}
    # an impossible value (out of range) is refused: the form shows the error instead
    with contextlib.suppress(ValidationError):
        save_draft(st.uow_factory, actor_of(request), instrument.id, risky, now=st.clock())


def _sent_since_opened(request: Request, instrument_id: str, opened_at: str) -> bool:
    """Whether the questionnaire was submitted after the form (stamped ``opened_at``) opened."""
    try:
        opened = datetime.fromisoformat(opened_at)
    except ValueError:
        return False
    if opened.tzinfo is None:
        return False
    st = state_of(request)
    actor = actor_of(request)
    for d in checkins_due(st.uow_factory, actor, actor.user_id, now=st.clock()):
        if d.instrument_id == instrument_id and d.last_completed_at is not None:
            return d.last_completed_at >= opened
    return False


PostedForm = Annotated[dict[str, str], Depends(posted_form)]


def _errors_by_item(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in exc.problems:
        key = p.where.split(",")[0].strip()
        out.setdefault(key, p.message)
    return out


def _position(due: tuple[CheckinDue, ...], instrument_id: str) -> tuple[int, int] | None:
    now_due = [d.instrument_id for d in due if d.due_now]
    if instrument_id not in now_due:
        return None
    return now_due.index(instrument_id) + 1, len(now_due)


def _next_due(due: tuple[CheckinDue, ...], after: str) -> CheckinDue | None:
    for d in due:
        if d.due_now and d.instrument_id != after:
            return d
    return None


def latest_measure(progress: tuple[MeasureProgress, ...]) -> MeasureProgress | None:
    """The measure with the most recent check-in."""
    with_points = [m for m in progress if m.points]
    if not with_points:
        return None
    return max(with_points, key=lambda m: m.points[-1].completed_at)


#: The hidden field of the check-in form with its one-time token (see the module docstring).
TOKEN_FIELD = "submission_id"


def _token(form: Mapping[str, str]) -> str | None:
    """The form's one-time token, when it is a UUID (anything else counts as no token)."""
    raw = form.get(TOKEN_FIELD, "").strip().lower()
    try:
        return raw if str(uuid.UUID(raw)) == raw else None
    except ValueError:
        return None


def result_path(instrument_id: str, administration_id: str) -> str:
    return f"/me/checkin/{instrument_id}/result/{administration_id}"


def _token_hash(instrument_id: str) -> str:
    """What a token is bound to: a submission of this questionnaire's form."""
    return request_hash("POST", f"/me/checkin/{instrument_id}", {"form": TOKEN_FIELD})


def _sent_with(request: Request, instrument_id: str, token: str) -> str | None:
    """The result page of the submission already stored with ``token`` (None: not sent yet)."""
    st = state_of(request)
    with reader(st)() as uow:
        stored = uow.idempotency.get(actor_of(request).user_id, token)
    if stored is None or stored.created_at < datetime.now(UTC) - KEEP:
        return None  # an expired token is a new submission (its row goes with the next one)
    location = stored.body.get("location")
    if stored.request_hash != _token_hash(instrument_id) or not isinstance(location, str):
        raise ProblemError(
            "idempotency-key-reused",
            "this form was sent for another questionnaire; please open the questionnaire again",
        )
    return location


def _unused(request: Request, instrument_id: str, token: str | None) -> str | None:
    """``token`` when nothing was sent with it yet (the form shown again keeps it), else None."""
    if token is None:
        return None
    try:
        return token if _sent_with(request, instrument_id, token) is None else None
    except ProblemError:
        return None


def _record_once(
    request: Request, instrument: Instrument, answers: Mapping[str, object], token: str | None
) -> str:
    """Record the submission (once per token) and return its result page's path."""
    st = state_of(request)
    actor = actor_of(request)
    now = st.clock()
    if token is None:
        result = record_checkin(
            st.uow_factory, actor, actor.user_id, instrument.id, answers, now,
            norms=st.norms, now=now,
        )  # fmt: skip
        return result_path(instrument.id, result.administration.id)
    held = HeldFactory(st.uow_factory)
    try:
        result = record_checkin(
            held, actor, actor.user_id, instrument.id, answers, now, norms=st.norms, now=now
        )
    except BaseException:
        held.release()  # what the service committed alone (the audit event of a refusal)
        raise
    location = result_path(instrument.id, result.administration.id)
    answer = IdempotentResponse(
        actor.user_id,
        token,
        _token_hash(instrument.id),
        303,
        {"location": location, "administration_id": result.administration.id},
        datetime.now(UTC),
    )
    try:
        held.release(answer)  # the token row commits with the administration, or neither does
    except ConflictError:
        # a twin post with this token committed first: this one was rolled back whole
        first = _sent_with(request, instrument.id, token)
        if first is None:
            raise ProblemError(
                "idempotency-key-in-use", "these answers are being sent; please wait a moment"
            ) from None
        return first
    return location


# ----------------------------------------------------------------------- routes


@router.get(
    "/me",
    name=allow(
        "page.me.home",
        C,
        what="client home: check-ins due, the latest explanation, crisis resources",
    ),
    response_class=HTMLResponse,
)
def home(request: Request) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    now = st.clock()
    due = checkins_due(st.uow_factory, actor, actor.user_id, now=now)
    progress = my_progress(st.uow_factory, actor, actor.user_id, norms=st.norms)
    crisis = crisis_resources(st.uow_factory, actor)
    latest = latest_measure(progress)
    return render(
        request,
        "client/home.html",
        {
            "due_now": [d for d in due if d.due_now],
            "next_on": min((d.due_at for d in due if not d.due_now), default=None),
            "latest": latest,
            "crisis": crisis,
            "explanation_class": explanation_class,
            "topic_words": topic_words,
        },
    )


@router.get(
    "/me/checkin",
    name=allow("page.me.checkin.list", C, what="the client's questionnaires due"),
    response_class=HTMLResponse,
)
def checkin_list(request: Request) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    due = checkins_due(st.uow_factory, actor, actor.user_id, now=st.clock())
    drafts = {d.instrument_id for d in due if get_draft(st.uow_factory, actor, d.instrument_id)}
    crisis = crisis_resources(st.uow_factory, actor)
    return render(
        request,
        "client/checkin_list.html",
        {
            "due_now": [d for d in due if d.due_now],
            "due_later": [d for d in due if not d.due_now],
            "drafts": drafts,
            "crisis": crisis,
        },
    )


def _form_page(
    request: Request,
    instrument: Instrument,
    answers: Mapping[str, object],
    *,
    errors: Mapping[str, str] | None = None,
    saved: bool = False,
    show_crisis: bool = False,
    status_code: int = 200,
    token: str | None = None,
) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    due = checkins_due(st.uow_factory, actor, actor.user_id, now=st.clock())
    crisis = crisis_resources(st.uow_factory, actor)
    return render(
        request,
        "client/checkin_form.html",
        {
            "instrument": instrument,
            "items": item_views(instrument, answers, errors),
            "note": scoring_only_note(instrument),
            "position": _position(due, instrument.id),
            "errors": dict(errors or {}),
            "saved": saved,
            "show_crisis": show_crisis,
            "crisis": crisis,
            "answered": sum(1 for v in answers.values() if v not in (None, "")),
            "opened_at": st.clock().isoformat(),
            "submission_id": token or str(uuid.uuid4()),
            "risk_anchor": instrument.risk.items[-1] if instrument.risk else None,
        },
        status_code=status_code,
    )


@router.get(
    "/me/checkin/{instrument_id}",
    name=allow("page.me.checkin.form", C, what="one questionnaire to fill in (with the draft)"),
    response_class=HTMLResponse,
)
def checkin_form(request: Request, instrument_id: str) -> Response:
    instrument = instrument_or_404(request, instrument_id)
    st = state_of(request)
    draft = get_draft(st.uow_factory, actor_of(request), instrument.id)
    answers = dict(draft.answers) if draft is not None else {}
    return _form_page(
        request, instrument, answers, show_crisis=risk_in_answers(instrument, answers)
    )


@router.post(
    "/me/checkin/{instrument_id}",
    name=allow(
        "page.me.checkin.submit",
        C,
        what="submit a questionnaire, or save it to finish later (form post, no JS needed)",
    ),
    response_class=HTMLResponse,
)
def checkin_submit(request: Request, instrument_id: str, form: PostedForm) -> Response:
    instrument = instrument_or_404(request, instrument_id)
    st = state_of(request)
    actor = actor_of(request)
    saving = form.get("action") == "save"
    token = _token(form)
    if token is not None and not saving:
        sent = _sent_with(request, instrument.id, token)
        if sent is not None:  # this very form was sent already: never record it twice
            return RedirectResponse(sent, status_code=303)
    answers, problems = form_answers(instrument, form, keep_blank=not saving)
    risky = risk_in_answers(instrument, answers)
    try:
        if problems:
            raise ValidationError(problems, context=f"{instrument.short_name} answers")
        if saving:
            state = save_draft(st.uow_factory, actor, instrument.id, answers, now=st.clock())
            return _form_page(
                request,
                instrument,
                state.draft.answers,
                saved=True,
                show_crisis=state.show_crisis_resources,
                token=_unused(request, instrument.id, token),
            )
        location = _record_once(request, instrument, answers, token)
    except ValidationError as exc:
        keep_risk_answers(request, instrument, answers)
        shown = {**{k: v for k, v in form.items() if k in instrument.item_ids}}
        return _form_page(
            request,
            instrument,
            shown,
            errors=_errors_by_item(exc),
            show_crisis=risky,
            status_code=422,
            token=token,
        )
    return RedirectResponse(location, status_code=303)


@router.get(
    "/me/checkin/{instrument_id}/result/{administration_id}",
    name=allow(
        "page.me.checkin.result",
        C,
        what="the result of one submitted questionnaire (score, band, explanations)",
    ),
    response_class=HTMLResponse,
)
def checkin_result_page(request: Request, instrument_id: str, administration_id: str) -> Response:
    instrument = instrument_or_404(request, instrument_id)
    st = state_of(request)
    actor = actor_of(request)
    result = checkin_result(
        st.uow_factory, actor, administration_id, instrument_id=instrument.id, norms=st.norms
    )
    return _result_page(request, instrument, result)


def _result_page(request: Request, instrument: Instrument, result: CheckinResult) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    due = checkins_due(st.uow_factory, actor, actor.user_id, now=st.clock())
    crisis = crisis_resources(st.uow_factory, actor)
    adm = result.administration
    return render(
        request,
        "client/checkin_result.html",
        {
            "instrument": instrument,
            "result": result,
            "adm": adm,
            "score_text": f"{adm.total:g}" if adm.total is not None else "",
            "max_text": f"{instrument.scoring.total_max:g}",
            "next_due": _next_due(due, instrument.id),
            "crisis": crisis,
            "explanation_class": explanation_class,
            "topic_words": topic_words,
        },
    )


@router.post(
    "/me/checkin/{instrument_id}/draft",
    name=allow(
        "page.me.checkin.draft",
        C,
        what="save answers to the draft as the client goes (htmx fragment)",
    ),
    response_class=HTMLResponse,
)
def checkin_draft(request: Request, instrument_id: str, form: PostedForm) -> Response:
    instrument = instrument_or_404(request, instrument_id)
    st = state_of(request)
    actor = actor_of(request)
    answers, problems = form_answers(instrument, form, keep_blank=False)
    crisis = crisis_resources(st.uow_factory, actor)
    ctx: dict[str, object] = {"instrument": instrument, "crisis": crisis}
    if _sent_since_opened(request, instrument.id, form.get("opened_at", "")):
        # a late autosave after the form was submitted must not bring the draft back
        ctx.update(error=False, sent=True, show_crisis=risk_in_answers(instrument, answers))
        return render(request, "client/checkin_draft_status.html", ctx)
    try:
        if problems:
            raise ValidationError(problems, context=f"{instrument.short_name} answers")
        state = save_draft(st.uow_factory, actor, instrument.id, answers, now=st.clock())
    except ValidationError as exc:
        keep_risk_answers(request, instrument, answers)
        ctx.update(
            error=True,
            problems=_errors_by_item(exc),
            show_crisis=risk_in_answers(instrument, answers),
        )
    else:
        ctx.update(
            error=False,
            answered=state.answered,
            total=state.total_items,
            show_crisis=state.show_crisis_resources,
        )
    return render(request, "client/checkin_draft_status.html", ctx)
