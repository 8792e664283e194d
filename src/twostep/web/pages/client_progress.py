"""Pages for the client: "My progress", "How I'm growing" and "For my next session".

**My progress** (``/me/progress``) shows, per measure, the chart served as an
SVG image (``/me/progress/{instrument_id}/chart.svg``, with the SVG CSP set by
the middleware) — the normal-fluctuation band around the best score so far,
the clinical cut-off, the expected band when norms exist, and markers of
different shapes for sudden gains and drops, setbacks, reliable deterioration
and logged stressors — plus the same data as a table, and the plain-language
explanation of the latest change (`services.progress.my_progress`).

**How I'm growing** (``/me/growing``) shows the other signs of growth week
by week as words and native ``<meter>`` bars with their values in text
(`services.progress.growth`).

**For my next session** (``/me/next-session``) lists and adds the topics the
client wants to raise (`services.journal`). All routes are for clients only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from twostep.errors import ValidationError
from twostep.services.journal import add_session_topic, list_session_topics
from twostep.services.progress import MeasureProgress, WeekGrowth, growth, my_progress
from twostep.web.charts import (
    chart_alt,
    explanation_class,
    measure_chart_svg,
    point_rows,
    topic_words,
)
from twostep.web.deps import actor_of
from twostep.web.pages import router
from twostep.web.policy import C, allow
from twostep.web.problems import ProblemError
from twostep.web.render import render
from twostep.web.state import state_of

__all__ = ["GrowthBar", "GrowthRow", "growth_rows"]


def _measures(request: Request, only: str | None = None) -> tuple[MeasureProgress, ...]:
    st = state_of(request)
    actor = actor_of(request)
    return my_progress(st.uow_factory, actor, actor.user_id, norms=st.norms, only=only)


@router.get(
    "/me/progress",
    name=allow("page.me.progress", C, what="the client's progress charts and explanations"),
    response_class=HTMLResponse,
)
def progress_page(request: Request) -> Response:
    measures = _measures(request)
    return render(
        request,
        "client/progress.html",
        {
            "measures": [
                {
                    "m": m,
                    "rows": point_rows(m),
                    "alt": chart_alt(m),
                    "has_expected": any(p.expected_low is not None for p in m.points),
                    "deteriorated": bool(m.points) and m.points[-1].status == "deteriorated",
                    "in_setback": bool(m.points)
                    and (m.points[-1].in_setback or m.points[-1].event.startswith("setback")),
                }
                for m in measures
            ],
            "explanation_class": explanation_class,
            "topic_words": topic_words,
        },
    )


@router.get(
    "/me/progress/{instrument_id}/chart.svg",
    name=allow("page.me.progress.chart", C, what="the client's chart of one measure (SVG)"),
    response_class=Response,
)
def progress_chart(request: Request, instrument_id: str) -> Response:
    for m in _measures(request, only=instrument_id):  # that measure alone (one kernel call)
        if m.instrument_id == instrument_id:
            return Response(measure_chart_svg(m), media_type="image/svg+xml")
    raise ProblemError("not-found")


# ----------------------------------------------------------------- growing


@dataclass(frozen=True)
class GrowthBar:
    week_start: date
    value: float
    shown: str


@dataclass(frozen=True)
class GrowthRow:
    """One sign of growth over the weeks (a small bar chart with its values in words)."""

    key: str
    title: str
    unit: str
    maximum: float
    bars: tuple[GrowthBar, ...]
    total_text: str


_SIGNS: tuple[tuple[str, str, str, bool], ...] = (
    # field, title, unit, is a count (else a 0-10 mean rating)
    ("skill_practice", "Coping skills practised", "times", True),
    ("mean_helpfulness", "How much the skills helped (out of 10)", "out of 10", False),
    ("self_care", "Restorative self-care", "times", True),
    ("mean_restorative", "How restful your self-care felt (out of 10)", "out of 10", False),
    ("support_contacts", "Contacts with people who support you", "times", True),
    ("reflections", "Setback reflections written", "entries", True),
    ("journal_entries", "Journal entries", "entries", True),
    ("steps_done", "Goal steps done", "steps", True),
)


def growth_rows(weeks: tuple[WeekGrowth, ...]) -> tuple[GrowthRow, ...]:
    """The growth signs the viewer may see, one row each (kinds not shared are left out).

    A count with nothing logged in the whole window gets no bars (``bars`` empty), only
    its words; a rating nobody gave is left out.
    """
    out = []
    for key, title, unit, is_count in _SIGNS:
        values = [getattr(w, key) for w in weeks]
        if all(v is None for v in values) and is_count:
            continue
        if is_count:
            total = sum(int(v or 0) for v in values)
            total_text = f"{total} {unit} in {len(weeks)} weeks"
            bars = tuple(
                GrowthBar(w.week_start, float(v or 0), f"{int(v or 0)}")
                for w, v in zip(weeks, values, strict=True)
            )
            maximum = max([1.0, *[b.value for b in bars]])
            out.append(GrowthRow(key, title, unit, maximum, bars if total else (), total_text))
            continue
        rated = [float(v) for v in values if v is not None]
        if not rated:
            continue
        bars = tuple(
            GrowthBar(w.week_start, float(v or 0), "–" if v is None else f"{v:g}")
            for w, v in zip(weeks, values, strict=True)
        )
        total_text = f"{sum(rated) / len(rated):.1f} {unit} on average"
        out.append(GrowthRow(key, title, unit, 10.0, bars, total_text))
    return tuple(out)


@router.get(
    "/me/growing",
    name=allow("page.me.growing", C, what="the client's signs of growth week by week"),
    response_class=HTMLResponse,
)
def growing_page(request: Request) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    g = growth(st.uow_factory, actor, actor.user_id, now=st.clock())
    gas_max = max([80.0, *[p.t_score for p in g.gas if p.t_score is not None]])
    return render(
        request,
        "client/growing.html",
        {"g": g, "rows": growth_rows(g.weeks), "gas_max": gas_max},
    )


# ------------------------------------------------------------ next session


def _topics_page(
    request: Request, *, text: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    topics = list_session_topics(st.uow_factory, actor, actor.user_id)
    return render(
        request,
        "client/next_session.html",
        {
            "open_topics": [t for t in reversed(topics) if t.addressed_at is None],
            "done_topics": [t for t in reversed(topics) if t.addressed_at is not None],
            "text": text,
            "error": error,
            "saved": request.query_params.get("saved") == "1",
        },
        status_code=status_code,
    )


@router.get(
    "/me/next-session",
    name=allow("page.me.next_session", C, what="the topics the client wants to raise next session"),
    response_class=HTMLResponse,
)
def next_session_page(request: Request) -> Response:
    return _topics_page(request)


@router.post(
    "/me/next-session",
    name=allow("page.me.next_session.add", C, what="add a topic for the next session (form)"),
    response_class=HTMLResponse,
)
def next_session_add(request: Request, text: str = Form("", max_length=4000)) -> Response:
    st = state_of(request)
    actor = actor_of(request)
    try:
        add_session_topic(st.uow_factory, actor, actor.user_id, text, now=st.clock())
    except ValidationError as exc:
        message = exc.problems[0].message if exc.problems else "please check the text"
        return _topics_page(request, text=text, error=message, status_code=422)
    return RedirectResponse("/me/next-session?saved=1", status_code=303)
