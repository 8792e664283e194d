"""Alliance follow-up: rupture → repair conversation logged → did it recover? (methods.md §6.4)

For each alliance measure the client has filled in (SRS, WAI-SR), the
kernel's rupture episodes of the current treatment episode, each with the
date of the rupture, the baseline and the lowest score, whether it was
repaired (and when), whether the repair window is still open, and the
rupture alerts raised for it — whose ``action_taken`` is where the repair
conversation is logged (`twostep.services.alerts.resolve`).

One kernel call per alliance measure. Therapist only: the page pairs the
client's ratings with the alerts, which clients do not see.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from twostep.analytics.explain import AllianceFacts, explain_alliance
from twostep.analytics.scale import Scale
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Alert, AlertKind
from twostep.services.access import Actor, client_access
from twostep.services.audit import AuditNote, audited
from twostep.services.histories import analyze_courses, current_course
from twostep.services.setback_context import ALLIANCE_INSTRUMENTS
from twostep.services.texts import ExplanationText, texts_for

__all__ = ["AllianceFollowUp", "RuptureEpisode", "alliance_follow_up", "alliance_state"]


@dataclass(frozen=True)
class RuptureEpisode:
    started_at: datetime
    baseline: float | None
    trough_score: float
    repaired: bool
    repaired_at: datetime | None
    awaiting_repair: bool
    escalated: bool
    alerts: tuple[Alert, ...] = ()

    @property
    def repair_logged(self) -> bool:
        """Whether a therapist logged what was done (an alert resolved with its action)."""
        return any(a.action_taken for a in self.alerts)


@dataclass(frozen=True)
class AllianceFollowUp:
    instrument_id: str
    instrument_name: str
    latest_score: float | None
    latest_at: datetime | None
    episodes: tuple[RuptureEpisode, ...]
    explanations: tuple[ExplanationText, ...]

    @property
    def open_rupture(self) -> bool:
        return any(e.awaiting_repair for e in self.episodes)

    @property
    def unrepaired(self) -> bool:
        return any(e.escalated for e in self.episodes)


def _f(x: float) -> float | None:
    v = float(x)
    return None if math.isnan(v) else v


def alliance_state(
    uow: UnitOfWork,
    client_id: str,
    *,
    staff: bool,
    scales: Mapping[str, Scale] | None = None,
) -> list[AllianceFollowUp]:
    """The alliance measures of the client's current episode (no access check: callers do it)."""
    alerts = [a for a in uow.alerts.for_client(client_id) if a.kind is AlertKind.ALLIANCE_RUPTURE]
    out = []
    for iid in ALLIANCE_INSTRUMENTS:
        course = current_course(client_id, uow.administrations.history(client_id, iid))
        if not course.administrations:
            continue
        result = analyze_courses(iid, [course], scales=scales)
        adm = course.administrations
        scored = [a for a in adm if a.total is not None]
        latest = scored[-1] if scored else None
        episodes: list[RuptureEpisode] = []
        texts: tuple[ExplanationText, ...] = ()
        analysis = result.analysis
        if analysis is not None and analysis.ruptures is not None and analysis.alliance:
            rup = analysis.ruptures
            for k in range(len(rup)):
                start = int(rup["start_session"][k]) - 1
                repair = int(rup["repair_session"][k]) - 1
                repaired = bool(rup["repaired"][k])
                provisional = bool(rup["provisional"][k])
                end = repair if repair >= 0 else len(adm) - 1
                span = {a.id for a in adm[start : end + 1]}
                episodes.append(
                    RuptureEpisode(
                        started_at=adm[start].completed_at,
                        baseline=_f(rup["baseline"][k]),
                        trough_score=float(rup["trough_score"][k]),
                        repaired=repaired,
                        repaired_at=adm[repair].completed_at if repair >= 0 else None,
                        awaiting_repair=not repaired and provisional,
                        escalated=not repaired and not provisional,
                        alerts=tuple(a for a in alerts if a.administration_id in span),
                    )
                )
            if latest is not None:
                row = result.row(0, adm.index(latest))
                facts = AllianceFacts.from_signals(analysis.alliance, analysis.batch.raw, row)
                texts = texts_for([explain_alliance(facts)], staff=staff)
        out.append(
            AllianceFollowUp(
                instrument_id=iid,
                instrument_name=result.instrument.short_name,
                latest_score=latest.total if latest else None,
                latest_at=latest.completed_at if latest else None,
                episodes=tuple(episodes),
                explanations=texts,
            )
        )
    return out


def alliance_follow_up(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    scales: Mapping[str, Scale] | None = None,
) -> tuple[AllianceFollowUp, ...]:
    """Rupture and repair on each alliance measure, with the alerts and logged actions."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[AllianceFollowUp, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_therapist("follow up the alliance")
        return tuple(alliance_state(uow, client_id, staff=True, scales=scales))

    return audited(uow_factory, actor, "read", "alliance", op, client_id=client_id)
