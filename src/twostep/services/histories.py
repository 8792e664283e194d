"""The analytics kernel run on stored administrations.

A *course* is one client's current administrations of one instrument within
one treatment episode, in the order they were completed: the intake of the
episode is its first administration (methods.md §11). `analyze_courses`
turns any number of courses into one `ScoreBatch` (one segment per course)
and makes exactly **one** `analyze_batch` call for them, so a caseload of
hundreds is analysed in one vectorised pass, never client by client.

Unscorable administrations (too many items missing) stay in the course as
missed administrations (NaN), as the kernel expects.

`scale_for` chooses the `Scale` of an instrument: the catalogue's
reliable-change threshold, a clinic's own (``scales``), or — for the alliance
measures whose threshold must be computed locally — a documented fallback, so
that ruptures are still detected. Instruments without change statistics
(screeners, the engagement check, outcome measures with a local threshold not
yet given) get no kernel run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from twostep.analytics.batch import ScoreBatch
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.pipeline import Analysis, analyze_batch
from twostep.analytics.reliable_change import ReliableChangeThreshold
from twostep.analytics.scale import Scale
from twostep.domain.records import Administration
from twostep.errors import ConfigurationError
from twostep.instruments.model import Instrument, Purpose
from twostep.instruments.registry import get_instrument

__all__ = [
    "ALLIANCE_FALLBACK_RC",
    "Course",
    "CourseAnalysis",
    "Signals",
    "analyze_courses",
    "courses_by_episode",
    "current_course",
    "scale_for",
]

#: Reliable-change fallbacks for alliance measures without a local threshold:
#: the SRS rupture rule's D_min (3 points) and the WAI-SR fallback of 0.5
#: mean-item points x 12 items (methods.md §6.4).
ALLIANCE_FALLBACK_RC: Mapping[str, tuple[float, str]] = {
    "srs": (3.0, "twostep fallback until a local RC exists: SRS D_min 3 points (methods.md §6.4)"),
    "wai_sr": (
        6.0,
        "twostep fallback until a local RC exists: 0.5 mean-item points x 12 (methods.md §6.4)",
    ),
}


def scale_for(instrument: Instrument, scales: Mapping[str, Scale] | None = None) -> Scale | None:
    """The kernel's view of ``instrument``, or None when change statistics do not apply."""
    if scales and instrument.id in scales:
        return scales[instrument.id]
    if not instrument.tracks_outcome:
        return None
    try:
        return Scale.from_instrument(instrument)
    except ConfigurationError:
        pass
    if instrument.purpose is Purpose.ALLIANCE and instrument.id in ALLIANCE_FALLBACK_RC:
        rc, source = ALLIANCE_FALLBACK_RC[instrument.id]
        scale = Scale.from_instrument(instrument, rc=rc)
        return replace(scale, rc=ReliableChangeThreshold.fixed(rc, source=source))
    return None


@dataclass(frozen=True)
class Course:
    """One client's administrations of one instrument in one episode, oldest first."""

    client_id: str
    episode_id: str | None
    administrations: tuple[Administration, ...]


def current_course(client_id: str, history: Sequence[Administration]) -> Course:
    """The course of the episode of the latest administration (the one shown now)."""
    if not history:
        return Course(client_id, None, ())
    latest = max(history, key=lambda a: a.completed_at)
    return course_of(client_id, history, latest.episode_id)


def course_of(client_id: str, history: Sequence[Administration], episode_id: str | None) -> Course:
    """The administrations of one episode (None = those without an episode)."""
    rows = sorted((a for a in history if a.episode_id == episode_id), key=lambda a: a.completed_at)
    return Course(client_id, episode_id, tuple(rows))


def courses_by_episode(client_id: str, history: Sequence[Administration]) -> list[Course]:
    """Every episode's course, in the order the episodes began."""
    episodes: dict[str | None, None] = {}
    for a in sorted(history, key=lambda a: a.completed_at):
        episodes.setdefault(a.episode_id, None)
    return [course_of(client_id, history, e) for e in episodes]


@dataclass(frozen=True)
class Signals:
    """The §11 labels of one administration (and the alliance code for SRS/WAI-SR)."""

    t: int
    status: str
    event: str
    etr_band: str
    plateau: str
    deterioration_confirmed: str
    in_setback: bool
    setback: str
    provisional: bool
    alliance: str = ""
    expected_low: float | None = None
    expected_median: float | None = None
    expected_high: float | None = None


def _opt(v: object) -> float | None:
    if isinstance(v, int | float) and not math.isnan(float(v)):
        return float(v)
    return None


@dataclass(frozen=True)
class CourseAnalysis:
    """The kernel's result for many courses of one instrument (``analysis`` None = no run)."""

    instrument: Instrument
    scale: Scale | None
    courses: tuple[Course, ...]
    analysis: Analysis | None

    def row(self, course: int, position: int) -> int:
        """The batch row of administration ``position`` of course number ``course``."""
        if self.analysis is None:
            raise ConfigurationError("no kernel run for this instrument")
        return int(self.analysis.batch.offsets[course]) + position

    def signals(self, course: int, position: int) -> Signals | None:
        if self.analysis is None:
            return None
        r = self.row(course, position)
        s = self.analysis.sessions.row(r)
        return Signals(
            t=int(str(s["t"])),
            status=str(s["status"]),
            event=str(s["event"]),
            etr_band=str(s["etr_band"]),
            plateau=str(s["plateau"]),
            deterioration_confirmed=str(s["deterioration_confirmed"]),
            in_setback=bool(s["in_setback"]),
            setback=str(s["setback"]),
            provisional=bool(s["provisional"]),
            alliance=str(s.get("alliance_signal", "")),
            expected_low=_opt(s["expected_low"]),
            expected_median=_opt(s["expected_median"]),
            expected_high=_opt(s["expected_high"]),
        )

    def previous_scored(self, course: int, position: int) -> int | None:
        """Position of the scored administration before ``position`` (None if none)."""
        adm = self.courses[course].administrations
        for q in range(position - 1, -1, -1):
            if adm[q].total is not None:
                return q
        return None


def analyze_courses(
    instrument_id: str,
    courses: Sequence[Course],
    *,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
) -> CourseAnalysis:
    """One kernel call for every non-empty course of one instrument.

    Empty courses are dropped (`CourseAnalysis.courses` lists those analysed,
    in the order given). Kernel errors propagate; callers decide what a failed
    analysis means for them.
    """
    instrument = get_instrument(instrument_id)
    kept = tuple(c for c in courses if c.administrations)
    scale = scale_for(instrument, scales)
    if scale is None or not kept:
        return CourseAnalysis(instrument, scale, kept, None)
    lengths = np.array([len(c.administrations) for c in kept], dtype=np.int64)
    client = np.repeat(np.arange(len(kept), dtype=np.int64), lengths)
    session = np.concatenate([np.arange(1, n + 1, dtype=np.int64) for n in lengths])
    rows = [a for c in kept for a in c.administrations]
    score = np.array([np.nan if a.total is None else a.total for a in rows], dtype=np.float64)
    day = np.array([a.completed_at.date().isoformat() for a in rows], dtype="datetime64[D]")
    batch = ScoreBatch.from_arrays(client, score, session=session, date=day, densify=False)
    model = (norms or {}).get(instrument_id)
    analysis = analyze_batch(batch, scale, norms=model)  # small batches run on one thread
    return CourseAnalysis(instrument, scale, kept, analysis)
