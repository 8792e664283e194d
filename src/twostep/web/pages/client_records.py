"""Pages: what a client keeps between sessions (``/me/...``; the client role only).

Goals (list with review status and the GAS trend, the SMART goal builder, a
goal's steps and reviews), the journal and setback reflections, the
coping-skill library with practice logging, the guided paced-breathing timer
and thought records, self-care, stressors, the support network, and "My data
& privacy" (sharing choices, downloads of all my data, who looked at my
record).

Routes are thin: read the form, call a service of `twostep.services.journal`
/ `twostep.services.goals` / `records_io` / `audit`, render. A form the
services refuse (`ValidationError`) is shown again with what was entered and
a kind message next to each field (422); nothing is saved. Form handlers are
``async`` only to read the form; the service calls run in the thread pool.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from twostep.domain.records import EntryKind, SelfCareActivity, StressorCategory
from twostep.domain.skills import SKILLS, get_skill
from twostep.errors import NotFoundError, StaleVersionError, ValidationError
from twostep.interop.fhir import client_bundle, dumps
from twostep.services import goals as goals_service
from twostep.services import journal as journal_service
from twostep.services.access import Actor, not_found
from twostep.services.audit import access_log
from twostep.services.goals import GoalInput, GoalView, StepInput
from twostep.services.records_io import EXPORT_COLUMNS, client_records, export_scores
from twostep.web.deps import actor_of
from twostep.web.etag import form_version
from twostep.web.pages import router
from twostep.web.policy import C, allow
from twostep.web.render import render
from twostep.web.state import state_of

# ------------------------------------------------------------------ wording

#: GAS levels in plain words (methods.md §7).
LEVEL_WORDS: dict[int, str] = {
    2: "Much more than expected",
    1: "Somewhat more than expected",
    0: "What I'm aiming for",
    -1: "Somewhat less than expected",
    -2: "Much less than expected",
}
LEVEL_FIELDS: dict[int, str] = {
    2: "level_p2",
    1: "level_p1",
    0: "level_0",
    -1: "level_m1",
    -2: "level_m2",
}
RATING_0_3: dict[int, str] = {0: "Not at all", 1: "A little", 2: "Quite", 3: "Very"}
REVIEW_CHOICES: dict[int, str] = {
    7: "Every week",
    14: "Every two weeks",
    28: "Every four weeks",
    42: "Every six weeks",
    56: "Every eight weeks",
}
ACTIVITY_WORDS: dict[str, str] = {
    SelfCareActivity.EXERCISE: "Exercise or movement",
    SelfCareActivity.SLEEP: "Rest or sleep",
    SelfCareActivity.NUTRITION: "Eating well",
    SelfCareActivity.HOBBY: "A hobby",
    SelfCareActivity.NATURE: "Time in nature",
    SelfCareActivity.MINDFULNESS: "Mindfulness or relaxation",
    SelfCareActivity.YOGA: "Yoga or stretching",
    SelfCareActivity.SOCIAL: "Time with others",
    SelfCareActivity.OTHER: "Something else",
}
CATEGORY_WORDS: dict[str, str] = {
    StressorCategory.TRAUMA: "Something frightening or traumatic",
    StressorCategory.HEALTH: "Health",
    StressorCategory.FAMILY: "Family",
    StressorCategory.RELATIONSHIPS: "Relationships",
    StressorCategory.WORK: "Work or study",
    StressorCategory.FINANCIAL: "Money",
    StressorCategory.OTHER: "Something else",
}
SEVERITY_WORDS: dict[int, str] = {
    1: "A little stressful",
    2: "Somewhat stressful",
    3: "Quite stressful",
    4: "Very stressful",
    5: "Extremely stressful",
}
SUPPORT_KIND_WORDS: dict[str, str] = {
    "emotional": "Listening and comfort",
    "practical": "Practical help",
    "company": "Company",
    "advice": "Advice",
    "information": "Information",
    "other": "Something else",
}
MODE_WORDS: dict[str, str] = {
    "in_person": "In person",
    "phone": "Phone call",
    "message": "Messages",
    "online": "Video or online",
    "group": "A group meeting",
}
#: Each kind of entry in plain words: what it is and what sharing it means.
SHARING_WORDS: dict[str, tuple[str, str]] = {
    EntryKind.JOURNAL_TEXT: (
        "What you write in your journal",
        "The words of your journal entries. Private unless you choose to share them.",
    ),
    EntryKind.MOOD: (
        "Your mood ratings and emotions",
        "The 0 to 10 mood numbers and the feelings you pick in your journal, without your words.",
    ),
    EntryKind.SETBACK_REFLECTIONS: (
        "Setback reflections",
        "What you wrote about a hard time: what happened, what you noticed, helped and learned.",
    ),
    EntryKind.STRESSORS: ("Stressors and life events", "What has been stressful, and how much."),
    EntryKind.SELF_CARE: ("Self-care", "What you did to look after yourself, and how it felt."),
    EntryKind.SKILL_PRACTICE: (
        "Coping skill practice",
        "Which skills you practised and how much they helped.",
    ),
    EntryKind.THOUGHT_RECORDS: (
        "Thought records",
        "The situations, thoughts and feelings you wrote down.",
    ),
    EntryKind.SUPPORT_NETWORK: (
        "Your support network",
        "The people and groups who support you, and your contacts with them.",
    ),
    EntryKind.GOALS: (
        "Goals",
        "Your goals, steps and reviews. Your therapist needs these to review goals with you.",
    ),
    EntryKind.SESSION_TOPICS: (
        "Topics for your next session",
        "Things you want to talk about next time.",
    ),
}
OBJECT_WORDS: dict[str, str] = {
    "timeline": "your timeline",
    "journal_entry": "journal entries",
    "reflection": "setback reflections",
    "stressor": "stressors",
    "self_care": "self-care",
    "skill_practice": "skill practice",
    "thought_record": "thought records",
    "supporter": "support network",
    "support_contact": "support contacts",
    "goal": "goals",
    "goal_step": "goal steps",
    "goal_review": "goal reviews",
    "goal_attainment": "goal progress",
    "administration": "questionnaire answers",
    "client_records": "all your records (download)",
    "audit_log": "this list",
    "sharing": "sharing choices",
    "session_topic": "session topics",
    "alert": "alerts",
}
ACTION_WORDS: dict[str, str] = {
    "read": "Looked at",
    "create": "Added",
    "update": "Changed",
    "export": "Downloaded",
    "import": "Imported",
    "delete": "Removed",
}


#: Short names of form fields, for the error summary at the top of a form.
FIELD_LABELS: dict[str, str] = {
    "specific_description": "What you want to achieve",
    "measurable_indicator": "How you will know",
    "levels": "What each outcome looks like",
    "level_p2": "Outcome +2",
    "level_p1": "Outcome +1",
    "level_0": "Outcome 0 (what you are aiming for)",
    "level_m1": "Outcome −1",
    "level_m2": "Outcome −2",
    "baseline_level": "Where you are now",
    "achievable_rating": "How achievable it feels",
    "relevant_to": "Why it matters",
    "target_date": "By when",
    "importance": "How important",
    "difficulty": "How hard",
    "review_every_days": "How often to review",
    "step_text": "The step",
    "step_due": "Do it by",
    "steps": "Small steps",
    "mood": "Mood",
    "emotions": "Feelings",
    "text": "What's on your mind",
    "entry": "Your entry",
    "reflection": "Your reflection",
    "what_happened": "What happened",
    "what_i_noticed": "What you noticed",
    "what_helped": "What helped",
    "what_i_learned": "What you learned",
    "skill_id": "Skill",
    "helpfulness": "How much it helped",
    "note": "Note",
    "situation": "The situation",
    "automatic_thought": "The thought",
    "emotion": "The feeling",
    "intensity": "How strong it was",
    "evidence_for": "What supports the thought",
    "evidence_against": "What does not support it",
    "balanced_thought": "Balanced thought",
    "rerated_intensity": "How strong it is now",
    "activity": "What you did",
    "done_on": "When",
    "minutes": "Minutes",
    "restorative": "How restored you felt",
    "category": "What it is about",
    "severity": "How stressful",
    "started_on": "When it started",
    "ended_on": "When it ended",
    "description": "A few words",
    "name": "Name",
    "relation": "Who they are to you",
    "support_kinds": "How they help",
    "is_group": "Group",
    "supporter_id": "Who",
    "contacted_on": "When",
    "mode": "How",
    "helpful": "How helpful",
}
for _i in range(3):
    FIELD_LABELS[f"step_text_{_i}"] = f"Step {_i + 1}"
    FIELD_LABELS[f"step_due_{_i}"] = f"Step {_i + 1}: do it by"


# ------------------------------------------------------------------ form helpers


Errors = dict[str, str]


@dataclass
class Form:
    """A submitted form: the entered values (to show again) and the problems found."""

    data: FormData
    errors: Errors

    def text(self, name: str) -> str:
        value = self.data.get(name)
        return value if isinstance(value, str) else ""

    def texts(self, name: str) -> list[str]:
        return [v for v in self.data.getlist(name) if isinstance(v, str)]

    def integer(self, name: str, low: int, high: int) -> int | None:
        raw = self.text(name).strip()
        if not raw:
            return None
        if not re.fullmatch(r"[+-]?\d{1,6}", raw):
            self.errors[name] = f"Please enter a whole number from {low} to {high}."
            return None
        return int(raw)

    def day(self, name: str) -> date | None:
        raw = self.text(name).strip()
        if not raw:
            return None
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                raise ValueError
            return date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = "Please enter a date, for example 2024-06-30."
            return None

    def values(self) -> dict[str, str]:
        """First value per field, for showing the form again."""
        return {k: v for k, v in self.data.items() if isinstance(v, str) and k != "csrf_token"}


async def read_form(request: Request) -> Form:
    return Form(await request.form(), {})


def kind_message(code: str, message: str) -> str:
    """A service's problem message, phrased for a person (still naming the rule)."""
    if code == "required":
        return "Please fill this in."
    if code == "in_future":
        return "This date can't be in the future."
    if code == "before_start":
        return "The end can't be before the start."
    text = message.strip().rstrip(".")
    return (text[:1].upper() + text[1:] + ".") if text else "Please check this."


def errors_of(exc: ValidationError, field_of: Callable[[str], str] | None = None) -> Errors:
    """The problems of ``exc`` by form field (``emotions[0]`` → ``emotions``)."""
    out: Errors = {}
    for p in exc.problems:
        name = field_of(p.where) if field_of else re.sub(r"\[\d+\]$", "", p.where)
        out.setdefault(name, kind_message(p.code, p.message))
    return out


def _me(request: Request) -> tuple[Actor, str]:
    actor = actor_of(request)
    return actor, actor.user_id


def _today(request: Request) -> date:
    return state_of(request).clock().date()


def _page(
    request: Request,
    template: str,
    ctx: Mapping[str, object],
    *,
    form: Mapping[str, str] | None = None,
    errors: Errors | None = None,
) -> HTMLResponse:
    full = dict(ctx)
    full.setdefault("form", dict(form or {}))
    full.setdefault("errors", dict(errors or {}))
    full.setdefault("field_labels", FIELD_LABELS)
    return render(request, template, full, status_code=422 if errors else 200)


def _stale_page(request: Request, template: str, ctx: Mapping[str, object]) -> HTMLResponse:
    """The page again, as stored now, after a form based on an older version (409)."""
    full = {"form": {}, "errors": {}, "field_labels": FIELD_LABELS, **ctx}
    full["changed_elsewhere_notice"] = True
    return render(request, template, full, status_code=409)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------------ goals


def _goal_field(where: str) -> str:
    m = re.fullmatch(r"levels\[(-?\d)\]", where)
    if m:
        return LEVEL_FIELDS.get(int(m.group(1)), "levels")
    m = re.fullmatch(r"steps\[(\d+)\]\.(text|due_on)", where)
    if m:
        return f"step_{'due' if m.group(2) == 'due_on' else 'text'}_{m.group(1)}"
    m = re.fullmatch(r"step\.(text|due_on)", where)
    if m:
        return "step_due" if m.group(1) == "due_on" else "step_text"
    return where


def _goals_context(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    uow = state_of(request).uow_factory
    views = goals_service.list_goals(uow, actor, me)
    trend = goals_service.gas_trend(uow, actor, me)
    return {
        "open_goals": [v for v in views if v.goal.closed_at is None],
        "closed_goals": [v for v in views if v.goal.closed_at is not None],
        "gas": trend,
        "level_words": LEVEL_WORDS,
    }


@router.get(
    "/me/goals",
    name=allow("page.me.goals", C, what="the client's goals, review status and GAS trend"),
    response_class=HTMLResponse,
)
def goals_page(request: Request) -> Response:
    return _page(request, "client/goals.html", _goals_context(request))


def _builder_ctx() -> dict[str, object]:
    return {
        "level_words": LEVEL_WORDS,
        "level_fields": LEVEL_FIELDS,
        "rating_words": RATING_0_3,
        "review_choices": REVIEW_CHOICES,
        "step_rows": range(3),
    }


@router.get(
    "/me/goals/new",
    name=allow("page.me.goals.new", C, what="the SMART goal builder form", clinical=False),
    response_class=HTMLResponse,
)
def goal_builder(request: Request) -> Response:
    defaults = {"baseline_level": "-1", "review_every_days": "28"}
    return _page(request, "client/goals_form.html", _builder_ctx(), form=defaults)


def _goal_from_form(f: Form) -> GoalInput:
    levels = {lv: f.text(name) for lv, name in LEVEL_FIELDS.items()}
    steps = []
    for i in range(3):
        text, due = f.text(f"step_text_{i}").strip(), f.day(f"step_due_{i}")
        if text or due is not None:
            steps.append(StepInput(text, due))
    importance = f.integer("importance", 0, 3)
    difficulty = f.integer("difficulty", 0, 3)
    baseline = f.integer("baseline_level", -2, -1)
    review = f.integer("review_every_days", 1, 365)
    return GoalInput(
        specific_description=f.text("specific_description"),
        measurable_indicator=f.text("measurable_indicator"),
        levels=levels,
        importance=importance,  # type: ignore[arg-type]  # None: the service asks for it
        difficulty=difficulty,  # type: ignore[arg-type]
        baseline_level=baseline,  # type: ignore[arg-type]
        achievable_rating=f.integer("achievable_rating", 0, 3),
        relevant_to=f.text("relevant_to"),
        target_date=f.day("target_date"),
        rater="client",
        review_every_days=review,  # type: ignore[arg-type]
        steps=tuple(steps),
    )


def _create_goal(request: Request, f: Form) -> Response:
    goal = _goal_from_form(f)
    if not f.errors:
        actor, me = _me(request)
        try:
            view = goals_service.create_goal(state_of(request).uow_factory, actor, me, goal)
        except ValidationError as exc:
            f.errors.update(errors_of(exc, _goal_field))
        else:
            return _see_other(f"/me/goals/{view.goal.id}?saved=1")
    return _page(
        request, "client/goals_form.html", _builder_ctx(), form=f.values(), errors=f.errors
    )


@router.post(
    "/me/goals",
    name=allow("page.me.goals.create", C, what="create a SMART goal from the builder form"),
    response_class=HTMLResponse,
)
async def goal_create(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_create_goal, request, f)


def _find_goal(request: Request, goal_id: str) -> GoalView:
    actor, me = _me(request)
    for v in goals_service.list_goals(state_of(request).uow_factory, actor, me):
        if v.goal.id == goal_id:
            return v
    raise not_found("goal")


def _goal_detail(
    request: Request,
    goal_id: str,
    *,
    form: Mapping[str, str] | None = None,
    errors: Errors | None = None,
    changed_elsewhere: bool = False,
) -> Response:
    view = _find_goal(request, goal_id)
    actor, me = _me(request)
    trend = goals_service.gas_trend(state_of(request).uow_factory, actor, me)
    t_by_day = {p.on: p.t_score for p in trend.points}
    reviews = [
        (r, t_by_day.get(r.reviewed_at.date()))
        for r in sorted(view.reviews, key=lambda r: r.reviewed_at)
    ]
    ctx = {
        "view": view,
        "goal": view.goal,
        "steps": sorted(view.steps, key=lambda s: (s.done, s.due_on or date.max, s.text)),
        "reviews": reviews,
        "level_words": LEVEL_WORDS,
        "rating_words": RATING_0_3,
        "saved": request.query_params.get("saved") == "1",
        "today": _today(request),
        "changed_elsewhere_notice": changed_elsewhere,
    }
    if changed_elsewhere:
        return _stale_page(request, "client/goals_detail.html", ctx)
    return _page(request, "client/goals_detail.html", ctx, form=form, errors=errors)


@router.get(
    "/me/goals/{goal_id}",
    name=allow("page.me.goals.detail", C, what="one goal with its steps and reviews"),
    response_class=HTMLResponse,
)
def goal_detail(goal_id: str, request: Request) -> Response:
    return _goal_detail(request, goal_id)


def _add_step(request: Request, goal_id: str, f: Form) -> Response:
    step = StepInput(f.text("step_text"), f.day("step_due"))
    if not f.errors:
        try:
            goals_service.add_step(state_of(request).uow_factory, actor_of(request), goal_id, step)
        except ValidationError as exc:
            f.errors.update(errors_of(exc, _goal_field))
        else:
            return _see_other(f"/me/goals/{goal_id}#steps")
    return _goal_detail(request, goal_id, form=f.values(), errors=f.errors)


@router.post(
    "/me/goals/{goal_id}/steps",
    name=allow("page.me.goals.steps.add", C, what="add a small step to a goal"),
    response_class=HTMLResponse,
)
async def goal_add_step(goal_id: str, request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_step, request, goal_id, f)


def _tick_step(request: Request, goal_id: str, step_id: str, f: Form) -> Response:
    view = _find_goal(request, goal_id)
    if step_id not in {s.id for s in view.steps}:
        raise not_found("goal step")
    done = f.text("done") != "0"
    try:
        goals_service.set_step_done(
            state_of(request).uow_factory,
            actor_of(request),
            step_id,
            done,
            expected_version=form_version(f.text("version")),
        )
    except StaleVersionError:
        return _goal_detail(request, goal_id, changed_elsewhere=True)
    return _see_other(f"/me/goals/{goal_id}#step-{step_id}")


@router.post(
    "/me/goals/{goal_id}/steps/{step_id}/done",
    name=allow("page.me.goals.steps.done", C, what="tick a goal step done (or not)"),
    response_class=HTMLResponse,
)
async def goal_tick_step(goal_id: str, step_id: str, request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_tick_step, request, goal_id, step_id, f)


# ---------------------------------------------------------------------- journal


def _journal_ctx(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    uow = state_of(request).uow_factory
    entries = journal_service.list_journal(uow, actor, me)
    sharing = journal_service.get_sharing(uow, actor, me)
    return {
        "entries": list(reversed(entries)),
        "text_shared": sharing[EntryKind.JOURNAL_TEXT],
        "mood_shared": sharing[EntryKind.MOOD],
        "saved": request.query_params.get("saved") == "1",
    }


@router.get(
    "/me/journal",
    name=allow("page.me.journal", C, what="the client's journal: write and read entries"),
    response_class=HTMLResponse,
)
def journal_page(request: Request) -> Response:
    return _page(request, "client/journal.html", _journal_ctx(request))


def _split_emotions(raw: str) -> list[str]:
    return [w.strip() for w in re.split(r"[,;\n]", raw) if w.strip()]


def _add_journal(request: Request, f: Form) -> Response:
    mood = f.integer("mood", 0, 10)
    if not f.errors:
        actor, me = _me(request)
        try:
            journal_service.add_journal_entry(
                state_of(request).uow_factory,
                actor,
                me,
                mood=mood,
                emotions=_split_emotions(f.text("emotions")),
                text=f.text("text"),
            )
        except ValidationError as exc:
            f.errors.update(errors_of(exc))
        else:
            return _see_other("/me/journal?saved=1")
    return _page(
        request, "client/journal.html", _journal_ctx(request), form=f.values(), errors=f.errors
    )


@router.post(
    "/me/journal",
    name=allow("page.me.journal.create", C, what="write a journal entry"),
    response_class=HTMLResponse,
)
async def journal_create(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_journal, request, f)


def _reflection_ctx(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    uow = state_of(request).uow_factory
    rows = journal_service.list_reflections(uow, actor, me)
    sharing = journal_service.get_sharing(uow, actor, me)
    return {"reflections": list(reversed(rows)), "shared": sharing[EntryKind.SETBACK_REFLECTIONS]}


@router.get(
    "/me/journal/reflection",
    name=allow("page.me.reflection", C, what="write and read setback reflections"),
    response_class=HTMLResponse,
)
def reflection_page(request: Request) -> Response:
    return _page(request, "client/reflection.html", _reflection_ctx(request))


def _add_reflection(request: Request, f: Form) -> Response:
    actor, me = _me(request)
    try:
        journal_service.add_reflection(
            state_of(request).uow_factory,
            actor,
            me,
            what_happened=f.text("what_happened"),
            what_i_noticed=f.text("what_i_noticed"),
            what_helped=f.text("what_helped"),
            what_i_learned=f.text("what_i_learned"),
        )
    except ValidationError as exc:
        f.errors.update(errors_of(exc))
        return _page(
            request,
            "client/reflection.html",
            _reflection_ctx(request),
            form=f.values(),
            errors=f.errors,
        )
    return render(request, "client/reflection_saved.html", {})


@router.post(
    "/me/journal/reflection",
    name=allow("page.me.reflection.create", C, what="write a setback reflection"),
    response_class=HTMLResponse,
)
async def reflection_create(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_reflection, request, f)


# ----------------------------------------------------------------------- skills


def _skills_ctx(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    rows = journal_service.list_skill_practice(state_of(request).uow_factory, actor, me)
    names = {s.id: s.name for s in SKILLS}
    return {
        "skills": SKILLS,
        "skill_names": names,
        "practice": list(reversed(rows)),
        "saved": request.query_params.get("saved") == "1",
    }


@router.get(
    "/me/skills",
    name=allow("page.me.skills", C, what="the coping-skill library and practice log"),
    response_class=HTMLResponse,
)
def skills_page(request: Request) -> Response:
    chosen = request.query_params.get("skill", "")
    form = {"skill_id": chosen} if chosen in {s.id for s in SKILLS} else {}
    return _page(request, "client/skills.html", _skills_ctx(request), form=form)


def _add_practice(request: Request, f: Form) -> Response:
    helped = f.integer("helpfulness", 0, 10)
    if not f.text("skill_id"):
        f.errors["skill_id"] = "Please choose the skill you practised."
    if not f.errors:
        actor, me = _me(request)
        try:
            journal_service.add_skill_practice(
                state_of(request).uow_factory,
                actor,
                me,
                skill_id=f.text("skill_id"),
                helpfulness=helped,
                note=f.text("note"),
            )
        except ValidationError as exc:
            f.errors.update(errors_of(exc))
        else:
            return _see_other("/me/skills?saved=1#practice")
    return _page(
        request, "client/skills.html", _skills_ctx(request), form=f.values(), errors=f.errors
    )


@router.post(
    "/me/skills/practice",
    name=allow("page.me.skills.practice", C, what="log a practice of a coping skill"),
    response_class=HTMLResponse,
)
async def skills_practice(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_practice, request, f)


@router.get(
    "/me/skills/breathing",
    name=allow(
        "page.me.skills.breathing", C, what="the guided paced-breathing timer", clinical=False
    ),
    response_class=HTMLResponse,
)
def breathing_page(request: Request) -> Response:
    skill = get_skill("paced_breathing")
    return render(request, "client/skills_breathing.html", {"skill": skill, "timing": skill.timing})


def _thoughts_ctx(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    uow = state_of(request).uow_factory
    rows = journal_service.list_thought_records(uow, actor, me)
    sharing = journal_service.get_sharing(uow, actor, me)
    return {
        "records": list(reversed(rows)),
        "skill": get_skill("thought_record"),
        "shared": sharing[EntryKind.THOUGHT_RECORDS],
        "saved": request.query_params.get("saved") == "1",
    }


@router.get(
    "/me/skills/thought-records",
    name=allow("page.me.thought_records", C, what="write and read thought records"),
    response_class=HTMLResponse,
)
def thoughts_page(request: Request) -> Response:
    return _page(request, "client/skills_thought_records.html", _thoughts_ctx(request))


def _add_thought(request: Request, f: Form) -> Response:
    intensity = f.integer("intensity", 0, 100)
    rerated = f.integer("rerated_intensity", 0, 100)
    if not f.errors:
        actor, me = _me(request)
        try:
            journal_service.add_thought_record(
                state_of(request).uow_factory,
                actor,
                me,
                intensity=intensity,  # type: ignore[arg-type]  # None: the service asks for it
                rerated_intensity=rerated,
                situation=f.text("situation"),
                automatic_thought=f.text("automatic_thought"),
                emotion=f.text("emotion"),
                evidence_for=f.text("evidence_for"),
                evidence_against=f.text("evidence_against"),
                balanced_thought=f.text("balanced_thought"),
            )
        except ValidationError as exc:
            f.errors.update(errors_of(exc))
        else:
            return _see_other("/me/skills/thought-records?saved=1")
    return _page(
        request,
        "client/skills_thought_records.html",
        _thoughts_ctx(request),
        form=f.values(),
        errors=f.errors,
    )


@router.post(
    "/me/skills/thought-records",
    name=allow("page.me.thought_records.create", C, what="write a thought record"),
    response_class=HTMLResponse,
)
async def thoughts_create(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_thought, request, f)


# -------------------------------------------------------------------- self-care


def _self_care_ctx(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    rows = journal_service.list_self_care(state_of(request).uow_factory, actor, me)
    return {
        "entries": sorted(rows, key=lambda s: s.done_on, reverse=True),
        "activity_words": ACTIVITY_WORDS,
        "saved": request.query_params.get("saved") == "1",
    }


@router.get(
    "/me/self-care",
    name=allow("page.me.self_care", C, what="the client's self-care log"),
    response_class=HTMLResponse,
)
def self_care_page(request: Request) -> Response:
    return _page(
        request,
        "client/selfcare.html",
        _self_care_ctx(request),
        form={"done_on": _today(request).isoformat()},
    )


def _add_self_care(request: Request, f: Form) -> Response:
    minutes = f.integer("minutes", 0, 1440)
    rest = f.integer("restorative", 0, 10)
    day = f.day("done_on")
    if day is None and "done_on" not in f.errors:
        f.errors["done_on"] = "Please enter the day."
    if not f.errors:
        actor, me = _me(request)
        try:
            assert day is not None
            journal_service.add_self_care(
                state_of(request).uow_factory,
                actor,
                me,
                done_on=day,
                activity=f.text("activity"),
                minutes=minutes,
                restorative=rest,
                note=f.text("note"),
            )
        except ValidationError as exc:
            f.errors.update(errors_of(exc))
        else:
            return _see_other("/me/self-care?saved=1")
    return _page(
        request, "client/selfcare.html", _self_care_ctx(request), form=f.values(), errors=f.errors
    )


@router.post(
    "/me/self-care",
    name=allow("page.me.self_care.create", C, what="log a self-care activity"),
    response_class=HTMLResponse,
)
async def self_care_create(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_self_care, request, f)


# -------------------------------------------------------------------- stressors


def _stressors_ctx(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    rows = journal_service.list_stressors(state_of(request).uow_factory, actor, me)
    ordered = sorted(rows, key=lambda s: s.started_on, reverse=True)
    return {
        "current": [s for s in ordered if s.ended_on is None],
        "past": [s for s in ordered if s.ended_on is not None],
        "category_words": CATEGORY_WORDS,
        "severity_words": SEVERITY_WORDS,
        "today": _today(request).isoformat(),
        "saved": request.query_params.get("saved") == "1",
    }


@router.get(
    "/me/stressors",
    name=allow("page.me.stressors", C, what="the client's stressors and life events"),
    response_class=HTMLResponse,
)
def stressors_page(request: Request) -> Response:
    return _page(
        request,
        "client/stressors.html",
        _stressors_ctx(request),
        form={"started_on": _today(request).isoformat()},
    )


def _add_stressor(request: Request, f: Form) -> Response:
    severity = f.integer("severity", 1, 5)
    start = f.day("started_on")
    end = f.day("ended_on")
    if start is None and "started_on" not in f.errors:
        f.errors["started_on"] = "Please enter when it started (roughly is fine)."
    if severity is None and "severity" not in f.errors:
        f.errors["severity"] = "Please choose how stressful it is."
    if not f.errors:
        actor, me = _me(request)
        assert start is not None
        assert severity is not None
        try:
            journal_service.add_stressor(
                state_of(request).uow_factory,
                actor,
                me,
                category=f.text("category"),
                severity=severity,
                started_on=start,
                ended_on=end,
                description=f.text("description"),
            )
        except ValidationError as exc:
            f.errors.update(errors_of(exc))
        else:
            return _see_other("/me/stressors?saved=1")
    return _page(
        request, "client/stressors.html", _stressors_ctx(request), form=f.values(), errors=f.errors
    )


@router.post(
    "/me/stressors",
    name=allow("page.me.stressors.create", C, what="record a stressor or life event"),
    response_class=HTMLResponse,
)
async def stressors_create(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_stressor, request, f)


def _end_stressor(request: Request, stressor_id: str, f: Form) -> Response:
    end = f.day("ended_on")
    if end is None and not f.errors:
        f.errors["ended_on"] = "Please enter the day it ended."
    if not f.errors:
        assert end is not None
        try:
            journal_service.end_stressor(
                state_of(request).uow_factory,
                actor_of(request),
                stressor_id,
                end,
                expected_version=form_version(f.text("version")),
            )
        except StaleVersionError:
            return _stale_page(request, "client/stressors.html", _stressors_ctx(request))
        except ValidationError as exc:
            f.errors.update(errors_of(exc))
        else:
            return _see_other("/me/stressors")
    ctx = _stressors_ctx(request)
    message = f.errors.get("ended_on", "Please check the date.")
    ctx["end_errors"] = {stressor_id: message}
    errors = {f"end-{stressor_id}": message}
    return _page(request, "client/stressors.html", ctx, form={}, errors=errors)


@router.post(
    "/me/stressors/{stressor_id}/end",
    name=allow("page.me.stressors.end", C, what="mark a stressor as over"),
    response_class=HTMLResponse,
)
async def stressors_end(stressor_id: str, request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_end_stressor, request, stressor_id, f)


# -------------------------------------------------------------- support network


def _support_ctx(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    uow = state_of(request).uow_factory
    people = journal_service.list_supporters(uow, actor, me)
    contacts = journal_service.list_support_contacts(uow, actor, me)
    names = {p.id: p.name for p in people}
    last: dict[str, date] = {}
    for c in contacts:
        if c.supporter_id not in last or c.contacted_on > last[c.supporter_id]:
            last[c.supporter_id] = c.contacted_on
    return {
        "people": people,
        "names": names,
        "last_contact": last,
        "contacts": sorted(contacts, key=lambda c: c.contacted_on, reverse=True)[:30],
        "kind_words": SUPPORT_KIND_WORDS,
        "mode_words": MODE_WORDS,
        "saved": request.query_params.get("saved", ""),
    }


@router.get(
    "/me/support",
    name=allow("page.me.support", C, what="the client's support network and contacts"),
    response_class=HTMLResponse,
)
def support_page(request: Request) -> Response:
    return _page(
        request,
        "client/support.html",
        _support_ctx(request),
        form={"contacted_on": _today(request).isoformat()},
    )


def _add_supporter(request: Request, f: Form) -> Response:
    actor, me = _me(request)
    try:
        journal_service.add_supporter(
            state_of(request).uow_factory,
            actor,
            me,
            name=f.text("name"),
            relation=f.text("relation"),
            support_kinds=f.texts("support_kinds"),
            is_group=f.text("is_group") == "yes",
        )
    except ValidationError as exc:
        f.errors.update(errors_of(exc))
        ctx = _support_ctx(request)
        ctx["checked_kinds"] = f.texts("support_kinds")
        return _page(request, "client/support.html", ctx, form=f.values(), errors=f.errors)
    return _see_other("/me/support?saved=person")


@router.post(
    "/me/support",
    name=allow("page.me.support.create", C, what="add a person or group to the support network"),
    response_class=HTMLResponse,
)
async def support_create(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_supporter, request, f)


def _add_contact(request: Request, f: Form) -> Response:
    day = f.day("contacted_on")
    helpful = f.integer("helpful", 0, 10)
    if day is None and "contacted_on" not in f.errors:
        f.errors["contacted_on"] = "Please enter the day."
    if not f.text("supporter_id"):
        f.errors["supporter_id"] = "Please choose who you were in touch with."
    if not f.errors:
        actor, me = _me(request)
        assert day is not None
        try:
            journal_service.add_support_contact(
                state_of(request).uow_factory,
                actor,
                me,
                supporter_id=f.text("supporter_id"),
                contacted_on=day,
                mode=f.text("mode") or "in_person",
                helpful=helpful,
            )
        except ValidationError as exc:
            f.errors.update(errors_of(exc))
        except NotFoundError:
            f.errors["supporter_id"] = "Please choose someone from your list."
        else:
            return _see_other("/me/support?saved=contact")
    return _page(
        request, "client/support.html", _support_ctx(request), form=f.values(), errors=f.errors
    )


@router.post(
    "/me/support/contacts",
    name=allow("page.me.support.contact", C, what="log a contact with a supporter"),
    response_class=HTMLResponse,
)
async def support_contact(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_add_contact, request, f)


# ---------------------------------------------------------------------- privacy


def _privacy_ctx(request: Request) -> dict[str, object]:
    actor, me = _me(request)
    state = journal_service.get_sharing_state(state_of(request).uow_factory, actor, me)
    sharing = state.sharing
    kinds = [(k.value, SHARING_WORDS[k][0], SHARING_WORDS[k][1], sharing[k]) for k in EntryKind]
    return {
        "kinds": kinds,
        "saved": request.query_params.get("saved") == "1",
        "sharing_version": state.version,
        "changed_elsewhere_notice": False,
    }


@router.get(
    "/me/privacy",
    name=allow("page.me.privacy", C, what="sharing choices, data download, access list link"),
    response_class=HTMLResponse,
)
def privacy_page(request: Request) -> Response:
    return _page(request, "client/privacy.html", _privacy_ctx(request))


def _save_sharing(request: Request, f: Form) -> Response:
    actor, me = _me(request)
    uow = state_of(request).uow_factory
    current = journal_service.get_sharing(uow, actor, me)
    changes: dict[str, bool] = {}
    for kind in EntryKind:
        choice = f.text(f"share_{kind.value}")
        if choice not in ("yes", "no"):
            continue
        wanted = choice == "yes"
        if current[kind] != wanted:
            changes[kind.value] = wanted
    version = form_version(f.text("version"))
    if changes:
        try:
            journal_service.set_sharing_choices(uow, actor, me, changes, expected_version=version)
        except StaleVersionError:
            return _stale_page(request, "client/privacy.html", _privacy_ctx(request))
    return _see_other("/me/privacy?saved=1")


@router.post(
    "/me/privacy",
    name=allow("page.me.privacy.save", C, what="change sharing choices"),
    response_class=HTMLResponse,
)
async def privacy_save(request: Request) -> Response:
    f = await read_form(request)
    return await run_in_threadpool(_save_sharing, request, f)


#: Most accesses listed on the page (newest first; the API returns them all).
ACCESS_LOG_ROWS = 500


@router.get(
    "/me/privacy/access-log",
    name=allow("page.me.access_log", C, what="who looked at or changed the client's record"),
    response_class=HTMLResponse,
)
def access_log_page(request: Request) -> Response:
    actor, me = _me(request)
    rows = access_log(state_of(request).uow_factory, actor, me)
    return render(
        request,
        "client/access_log.html",
        {
            "rows": rows[:ACCESS_LOG_ROWS],
            "total": len(rows),
            "object_words": OBJECT_WORDS,
            "action_words": ACTION_WORDS,
        },
    )


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%d")


@router.get(
    "/me/download/fhir",
    name=allow("page.me.download.fhir", C, what="download all my data as a FHIR R4 Bundle"),
)
def download_fhir(request: Request) -> Response:
    actor, me = _me(request)
    state = state_of(request)
    records = client_records(state.uow_factory, actor, me)
    now = state.clock()
    bundle = client_bundle(records, catalogue=state.catalogue, timestamp=now)
    body = dumps(bundle, indent=2).encode("utf-8")
    name = f"twostep-my-data-{_stamp(now)}.json"
    return Response(
        body,
        media_type="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


_RISKY = re.compile(r"^[=+\-@\t\r]")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".10g")
    text = value.isoformat() if isinstance(value, date) else str(value)
    return "'" + text if _RISKY.match(text) else text  # no spreadsheet formulas (ASVS 1.2.10)


@router.get(
    "/me/download/csv",
    name=allow("page.me.download.csv", C, what="download my questionnaire scores as CSV"),
)
def download_csv(request: Request) -> Response:
    actor, me = _me(request)
    state = state_of(request)
    columns = export_scores(state.uow_factory, actor, client_id=me)
    names = [c for c in EXPORT_COLUMNS if c in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for i in range(len(columns[names[0]]) if names else 0):
        writer.writerow([_cell(columns[c][i]) for c in names])
    name = f"twostep-my-scores-{_stamp(state.clock())}.csv"
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
