"""The therapist's page of one client, read as one use case with one audit event.

The page shows the client's card (name, sharing choices), the timeline of
every stream, the context of the latest setback (methods.md §12) and the
support suggestions of the session prep. Read as four service calls, the same
scores were analysed three times and the view left four audit rows; here the
client's scores are analysed once (one kernel call per instrument), shared by
the timeline, the setback and the suggestions, and the view is one access on
record (``read client_page``, AU-01).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from twostep.analytics.explain import Suggestion
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.scale import Scale
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.services.access import Actor, client_access
from twostep.services.audit import AuditNote, audited
from twostep.services.client_card import ClientCard, card_of
from twostep.services.session_prep import suggestions_for
from twostep.services.setback_context import SetbackContext, SetbackStatProvider, build_context
from twostep.services.timeline import ScoreEntry, Timeline, build_timeline, score_entries
from twostep.services.validation import utcnow

__all__ = ["SETBACK_LABELS", "ClientPage", "client_page", "latest_setback"]

#: Labels of an administration that call for the setback context (methods.md §12).
SETBACK_LABELS = frozenset(
    {
        "deteriorated",
        "sudden_loss",
        "possible_sudden_loss",
        "setback",
        "setback_transient",
        "setback_sustained",
    }
)


@dataclass(frozen=True)
class ClientPage:
    card: ClientCard
    timeline: Timeline
    #: the latest administration with a setback label, and its context
    setback: ScoreEntry | None
    setback_context: SetbackContext | None
    suggestions: tuple[Suggestion, ...]
    suggestions_because: tuple[str, ...]


def latest_setback(scores: list[ScoreEntry]) -> ScoreEntry | None:
    """The most recent administration whose status or event is a setback label."""
    found = None
    for s in sorted(scores, key=lambda s: (s.administration.completed_at, s.administration.id)):
        sig = s.signals
        if sig is not None and (sig.status in SETBACK_LABELS or sig.event in SETBACK_LABELS):
            found = s
    return found


def client_page(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    now: datetime | None = None,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
    provider: SetbackStatProvider | None = None,
) -> ClientPage:
    """Everything the client's page shows, for their therapist (see the module docstring)."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> ClientPage:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_therapist("open a client's page")
        scores = score_entries(uow, access, scales=scales, norms=norms)
        setback = latest_setback(scores)
        context = None
        if setback is not None:
            context = build_context(
                uow, access, setback.administration, provider=provider, scales=scales, norms=norms
            )
        suggestions, because = suggestions_for(uow, access, at, scores, scales=scales)
        return ClientPage(
            card=card_of(access),
            timeline=build_timeline(uow, access, scales=scales, norms=norms, scores=scores),
            setback=setback,
            setback_context=context,
            suggestions=suggestions,
            suggestions_because=because,
        )

    return audited(uow_factory, actor, "read", "client_page", op, client_id=client_id)
