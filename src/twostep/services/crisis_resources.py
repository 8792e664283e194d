"""The clinic's crisis resources and delay notice, for the pages that must always show them.

A client's home page and every check-in screen show the clinic's "If you need
help now" text, and the notice that answers may not be seen straight away
(methods.md §9 points 3 and 6). Both are set by the clinic's admin; the
notice falls back to twostep's default wording when the clinic left it empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from twostep.analytics.explain import DEFAULT_DELAY_NOTICE
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.services.access import Actor, verified_roles
from twostep.services.audit import AuditNote, audited

__all__ = ["CrisisResources", "crisis_resources"]


@dataclass(frozen=True)
class CrisisResources:
    """The clinic's crisis text (one contact a line) and its delay notice."""

    clinic_name: str
    text: str
    delay_notice: str

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.text.splitlines() if line.strip())


def crisis_resources(uow_factory: UnitOfWorkFactory, actor: Actor) -> CrisisResources:
    """The crisis resources of the actor's own clinic (any active user of the clinic)."""

    def op(uow: UnitOfWork, note: AuditNote) -> CrisisResources:
        verified_roles(uow, actor)
        clinic = uow.clinics.get(actor.clinic_id)
        note.object_id = actor.clinic_id
        if clinic is None:
            return CrisisResources("", "", DEFAULT_DELAY_NOTICE)
        return CrisisResources(
            clinic.name,
            clinic.crisis_text.strip(),
            clinic.delay_notice.strip() or DEFAULT_DELAY_NOTICE,
        )

    return audited(uow_factory, actor, "read", "crisis_resources", op)
