"""The client's progress chart and its words: `MeasureProgress` → SVG, table rows, JSON labels.

The statistics come from `services.progress.my_progress` (the kernel's labels,
the normal-fluctuation band around the best score so far, the cut-off, the
expected band when norms exist, the logged stressors); this module only turns
them into a picture (`reports.charts.client_chart_svg`) and into plain words
for the text alternative of the chart. A setback is named as a setback inside
progress; reliable deterioration is always named, never softened away.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import numpy as np

from twostep.analytics.explain import Level
from twostep.reports.charts import ClientSeries, client_chart_svg
from twostep.services.progress import MeasureProgress, ProgressPoint, StressorMarker
from twostep.services.texts import ExplanationText

__all__ = [
    "EVENT_WORDS",
    "STATUS_WORDS",
    "PointRow",
    "chart_alt",
    "explanation_class",
    "level_class",
    "measure_chart_svg",
    "point_rows",
    "series_of",
    "topic_words",
]

#: What the latest step was, in plain words (methods.md §11 `event`).
EVENT_WORDS: dict[str, str] = {
    "baseline": "Your first check-in",
    "fluctuation": "Everyday ups and downs",
    "step_better": "A clear step forward",
    "step_worse": "A clear step back",
    "sudden_gain": "A sudden gain",
    "possible_sudden_gain": "A big step forward (we will see if it holds)",
    "sudden_loss": "A sudden drop",
    "possible_sudden_loss": "A big step back (we will see if it lasts)",
    "setback": "A setback: one step back inside your progress",
    "setback_transient": "A setback: one step back, and the ground was regained",
    "setback_sustained": "A setback that lasted a while",
    "missed": "Missed check-in",
    "": "",
}
#: Where the client stands compared with the start (methods.md §11 `status`).
STATUS_WORDS: dict[str, str] = {
    "baseline": "Starting point",
    "deteriorated": "Worse than at the start, by more than everyday ups and downs",
    "plateau_stuck": "About the same for a while",
    "plateau_partial": "Better than at the start, and steady for a while",
    "recovered": "Better than at the start, and out of the range where people often need help",
    "improved": "Better than at the start, by more than everyday ups and downs",
    "unchanged": "Within everyday ups and downs of the start",
    "": "",
}
_GAINS = ("sudden_gain", "possible_sudden_gain")
_LOSSES = ("sudden_loss", "possible_sudden_loss")
_SETBACKS = ("setback", "setback_transient", "setback_sustained")


#: The tag shown before an explanation, by its topic (words, not the kernel's codes).
TOPIC_WORDS: dict[str, str] = {
    "status": "Since you started",
    "event": "Since last time",
    "etr_band": "Compared with others",
    "setback": "Setback",
    "ongoing": "Setback",
    "plateau": "Steady for a while",
    "early_response": "Early change",
    "alliance": "Working together",
    "risk": "Your safety",
    "not_assessed": "Your safety",
    "context": "What else was going on",
    "what_else": "What else was going on",
    "positive": "Good news",
    "summary": "Overall",
    "gas": "Your goals",
}


def topic_words(topic: str) -> str:
    return TOPIC_WORDS.get(topic, topic.replace("_", " ").capitalize())


def level_class(level: Level | int) -> str:
    """The CSS tag class of an explanation level (shape and word too, never colour alone)."""
    value = int(level)
    if value >= Level.CONCERN:
        return "concern"
    if value >= Level.WATCH:
        return "watch"
    return "good" if value == Level.POSITIVE else "info"


def explanation_class(e: ExplanationText) -> str:
    """The tag class of one explanation for a client: calm for risk answers (methods.md §9:
    no alarming presentation; the crisis box next to it carries the help)."""
    if e.topic in ("risk", "not_assessed"):
        return "info"
    return level_class(e.level)


@dataclass(frozen=True)
class PointRow:
    """One check-in as a row of the chart's text alternative."""

    number: int
    day: date
    score: float | None
    what: str
    where: str
    marks: tuple[str, ...]


def _fmt(x: float | None) -> str:
    return "no score" if x is None else f"{x:g}"


def point_rows(m: MeasureProgress) -> tuple[PointRow, ...]:
    rows = []
    for p in m.points:
        marks: list[str] = []
        if p.event in _GAINS:
            marks.append("sudden gain")
        if p.event in _LOSSES:
            marks.append("sudden drop")
        if p.event in _SETBACKS:
            marks.append("setback")
        if p.status == "deteriorated":
            marks.append("reliable deterioration")
        if p.in_setback and p.event not in _SETBACKS:
            marks.append("inside a setback")
        if p.provisional:
            marks.append("may still change")
        rows.append(
            PointRow(
                number=p.t,
                day=p.completed_at.date(),
                score=p.score,
                what=EVENT_WORDS.get(p.event, p.event.replace("_", " ")),
                where=STATUS_WORDS.get(p.status, p.status.replace("_", " ")),
                marks=tuple(marks),
            )
        )
    return tuple(rows)


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _indices(
    points: tuple[ProgressPoint, ...], keep: Callable[[ProgressPoint], bool]
) -> np.ndarray:
    return np.array([k for k, p in enumerate(points) if keep(p)], dtype=np.int64)


def _instant(d: date) -> datetime:
    return datetime.combine(d, time(12, 0), tzinfo=UTC)


def stressor_positions(
    points: tuple[ProgressPoint, ...], stressors: tuple[StressorMarker, ...]
) -> np.ndarray:
    """Where each stressor began on the check-in axis (interpolated between two check-ins).

    Stressors before the first check-in or after the last one are left out of the chart
    (they are still listed in words).
    """
    if not points:
        return np.zeros(0)
    times = [p.completed_at.timestamp() for p in points]
    xs = [float(p.t) for p in points]
    out = []
    for s in stressors:
        at = _instant(s.started_on).timestamp()
        if at < times[0] - 86_400 or at > times[-1] + 86_400:
            continue
        k = bisect.bisect_left(times, at)
        if k <= 0:
            out.append(xs[0])
        elif k >= len(times):
            out.append(xs[-1])
        else:
            t0, t1 = times[k - 1], times[k]
            frac = 0.0 if t1 == t0 else (at - t0) / (t1 - t0)
            out.append(xs[k - 1] + frac * (xs[k] - xs[k - 1]))
    return np.array(out, dtype=np.float64)


def series_of(m: MeasureProgress) -> ClientSeries:
    """The chart series of one measure (native direction)."""
    pts = m.points
    best_before = [None, *[p.best_so_far for p in pts[:-1]]] if pts else []
    return ClientSeries(
        title=f"Your {m.name} check-ins",
        measure=m.name,
        session=np.array([p.t for p in pts], dtype=np.int64),
        score=_floats([p.score for p in pts]),
        higher_is_better=m.higher_is_better,
        minimum=m.minimum,
        maximum=m.maximum,
        rc=float(m.rc) if m.rc is not None else 0.0,
        cutoff=m.cutoff,
        best_before=_floats(best_before) if m.rc is not None else None,
        expected_low=_floats([p.expected_low for p in pts]),
        expected_high=_floats([p.expected_high for p in pts]),
        expected_median=_floats([p.expected_median for p in pts]),
        gains=_indices(pts, lambda p: p.event in _GAINS),
        losses=_indices(pts, lambda p: p.event in _LOSSES),
        setbacks=_indices(pts, lambda p: p.event in _SETBACKS),
        deteriorated=_indices(pts, lambda p: p.status == "deteriorated"),
        stressors=stressor_positions(pts, m.stressors),
        x_label="check-in",
    )


def measure_chart_svg(m: MeasureProgress) -> str:
    """The SVG document of one measure's chart."""
    return client_chart_svg(series_of(m), id_prefix=f"m-{m.instrument_id}")


def chart_alt(m: MeasureProgress) -> str:
    """A one-sentence alt text; the full data is in the table next to the chart."""
    scored = [p for p in m.points if p.score is not None]
    if not scored:
        return f"Chart of your {m.name} check-ins: no scores yet."
    first, last = scored[0], scored[-1]
    better = "higher" if m.higher_is_better else "lower"
    cut = f" The line for the clinical cut-off is at {m.cutoff:g}." if m.cutoff is not None else ""
    return (
        f"Chart of your {m.name} scores over {len(m.points)} check-ins, from {_fmt(first.score)} "
        f"at the first to {_fmt(last.score)} at the latest; {better} is better.{cut} "
        "The same information is in the table below."
    )
