"""Explanations as services hand them out: the client text always, the therapist text to staff.

The kernel's `Explanation` carries both texts plus the rule and its source.
A client gets the plain-language text and its details; the therapist line
(rule, threshold, source — and for a risk item the follow-up tier, which
methods.md §9 says is never shown to the client) only goes to a therapist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twostep.analytics.explain import Explanation, Level

__all__ = ["ExplanationText", "texts_for"]


@dataclass(frozen=True)
class ExplanationText:
    """One explained signal for one reader (``therapist`` is None for clients)."""

    topic: str
    label: str
    level: Level
    client: str
    client_details: str
    therapist: str | None = None
    rule: str | None = None
    source: str | None = None


def texts_for(explanations: Iterable[Explanation], *, staff: bool) -> tuple[ExplanationText, ...]:
    """The explanations as ``staff`` (a therapist) or the client may read them."""
    return tuple(
        ExplanationText(
            topic=e.topic,
            label=e.label,
            level=e.level,
            client=e.client,
            client_details=e.client_details,
            therapist=e.therapist if staff else None,
            rule=e.rule if staff else None,
            source=e.source if staff else None,
        )
        for e in explanations
    )
