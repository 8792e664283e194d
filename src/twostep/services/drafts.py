"""Check-in drafts: answers saved as the client goes, server-side, with risk handled at once.

A client may answer one question at a time and come back later; the answers
are kept in a draft (encrypted at rest, never in the browser's storage). The
moment a risk item (PHQ-9 item 9, CORE-10 item 6) is answered above 0 the
client is shown the clinic's crisis resources and — once per draft — the
therapist gets a risk alert (methods.md §9: "raises a risk alert at once"),
even if the questionnaire is never submitted. Submitting the check-in
deletes the draft (`checkin.record_checkin`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Alert, AlertKind, CheckinDraft, Role, new_id
from twostep.errors import (
    AccessDeniedError,
    Problem,
    ResponseValidationError,
    StaleVersionError,
    ValidationError,
)
from twostep.instruments.model import Instrument
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import validate_matrix
from twostep.services.access import Actor, client_access
from twostep.services.audit import AuditNote, audited


@dataclass(frozen=True)
class DraftState:
    """What the client sees after saving an answer."""

    draft: CheckinDraft
    answered: int
    total_items: int
    show_crisis_resources: bool
    crisis_text: str | None
    delay_notice: str


def save_draft(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    instrument_id: str,
    answers: Mapping[str, object],
    *,
    now: datetime,
    expected_version: int | None = None,
) -> DraftState:
    """Merge ``answers`` into the client's draft of ``instrument_id`` (clients only, their own).

    ``expected_version``: the draft version the client saw (0: no draft yet; the HTTP
    ``If-Match`` / ``If-None-Match: *``). The write is conditional on it, so a draft
    saved elsewhere meanwhile refuses this save (`StaleVersionError`); None merges
    into whatever is stored (the pages, which send one answer at a time).
    """
    if Role.CLIENT not in actor.roles:
        raise AccessDeniedError("only the client fills in their own check-in")
    instrument = get_instrument(instrument_id)
    values = _checked(instrument, answers)

    def op(uow: UnitOfWork, note: AuditNote) -> DraftState:
        note.granted(client_access(uow, actor, actor.user_id))
        old = uow.drafts.get(actor.user_id, instrument.id)
        if expected_version is not None and expected_version != (old.version if old else 0):
            raise StaleVersionError("the draft was saved elsewhere meanwhile")
        merged = dict(old.answers) if old is not None else {}
        merged.update(values)
        draft = CheckinDraft(
            actor.user_id, instrument.id, merged, now, old.risk_alerted if old else False
        )
        risk_level = _risk_level(instrument, merged)
        if risk_level > 0 and not draft.risk_alerted:
            uow.alerts.add(
                Alert(
                    id=new_id(),
                    clinic_id=actor.clinic_id,
                    client_id=actor.user_id,
                    kind=AlertKind.RISK,
                    rule=f"risk item > {instrument.risk.above if instrument.risk else 0} in an unsubmitted check-in",
                    parameters={"instrument": instrument.id, "draft": True},
                    created_at=now,
                    level=risk_level,
                )
            )
            draft = replace(draft, risk_alerted=True)
        draft = uow.drafts.save(draft, based_on=expected_version)
        clinic = uow.clinics.get(actor.clinic_id)
        return DraftState(
            draft=draft,
            answered=sum(1 for v in merged.values() if v is not None),
            total_items=len(instrument.items),
            show_crisis_resources=risk_level > 0,
            crisis_text=clinic.crisis_text if clinic and risk_level > 0 else None,
            delay_notice=clinic.delay_notice if clinic else "",
        )

    return audited(uow_factory, actor, "update", "checkin_draft", op, client_id=actor.user_id)


def get_draft(
    uow_factory: UnitOfWorkFactory, actor: Actor, instrument_id: str
) -> CheckinDraft | None:
    """The client's own draft of ``instrument_id`` (None when there is none)."""
    if Role.CLIENT not in actor.roles:
        raise AccessDeniedError("only the client sees their own draft")
    instrument = get_instrument(instrument_id)

    def op(uow: UnitOfWork, note: AuditNote) -> CheckinDraft | None:
        note.granted(client_access(uow, actor, actor.user_id))
        return uow.drafts.get(actor.user_id, instrument.id)

    return audited(uow_factory, actor, "read", "checkin_draft", op, client_id=actor.user_id)


def discard_draft(uow_factory: UnitOfWorkFactory, actor: Actor, instrument_id: str) -> None:
    """Throw the client's draft away (a risk alert it raised stays: the answer was given)."""
    if Role.CLIENT not in actor.roles:
        raise AccessDeniedError("only the client discards their own draft")
    instrument = get_instrument(instrument_id)

    def op(uow: UnitOfWork, note: AuditNote) -> None:
        note.granted(client_access(uow, actor, actor.user_id))
        uow.drafts.delete(actor.user_id, instrument.id)

    audited(uow_factory, actor, "delete", "checkin_draft", op, client_id=actor.user_id)


def risk_in_answers(instrument: Instrument, answers: Mapping[str, object]) -> bool:
    """Whether any risk item is answered above its threshold (for crisis text even on refusal)."""
    rule = instrument.risk
    if rule is None:
        return False
    for item in rule.items:
        v = answers.get(item)
        if isinstance(v, int | float) and not isinstance(v, bool) and v > rule.above:
            return True
    return False


def _checked(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, float | None]:
    """Validate the given answers item by item (a draft may be incomplete)."""
    problems: list[Problem] = []
    out: dict[str, float | None] = {}
    row = np.full((1, len(instrument.items)), np.nan)
    index = {iid: j for j, iid in enumerate(instrument.item_ids)}
    for key, value in answers.items():
        if key not in index:
            problems.append(
                Problem(key, "unknown_item", f"{instrument.short_name} has no item {key!r}")
            )
            continue
        if value is None:
            out[key] = None
            continue
        item = instrument.items[index[key]]
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem(key, "wrong_type", "expected a number"))
            continue
        if item.scale.kind == "choice" and not isinstance(value, int):
            problems.append(Problem(key, "wrong_type", "expected a whole number"))
            continue
        row[0, index[key]] = float(value)
        out[key] = float(value)
    if problems:
        raise ValidationError(problems, context=f"{instrument.short_name} answers")
    try:
        validate_matrix(instrument, row, row_labels=["answers"])
    except ResponseValidationError as exc:
        raise ValidationError(
            [Problem(p.where.removeprefix("answers, "), p.code, p.message) for p in exc.problems],
            context=f"{instrument.short_name} answers",
        ) from None
    return out


def _risk_level(instrument: Instrument, answers: Mapping[str, float | None]) -> int:
    rule = instrument.risk
    if rule is None:
        return 0
    level = 0
    for item in rule.items:
        v = answers.get(item)
        if v is None or v <= rule.above:
            continue
        for tier in rule.tiers:
            if v >= tier.min_value:
                level = max(level, tier.level)
    return level
