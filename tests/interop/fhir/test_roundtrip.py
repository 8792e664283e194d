"""import(export(x)) == x for administrations of every catalogue instrument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twostep.domain.records import Administration
from twostep.instruments.model import Instrument
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.interop.fhir import dumps, import_responses, questionnaire_response

IDS = default_catalogue().ids


def round_trip(adm: Administration, validate: Any, **kwargs: Any) -> Administration:
    qr = questionnaire_response(adm, **kwargs)
    validate(qr)
    (got,) = import_responses(
        dumps(qr), clinic_id=adm.clinic_id, received_at=adm.received_at, **kwargs
    )
    base = kwargs.get("base", "https://twostep.example/fhir")
    assert got.natural_key == f"{base}/identifier/administration|{adm.id}"
    return got.administration


def assert_same(back: Administration, adm: Administration) -> None:
    assert back == adm
    assert back.answers == adm.answers
    assert list(back.answers) == [k for k in back.answers if k in adm.answers]
    assert back.completed_at.utcoffset() == adm.completed_at.utcoffset()
    for key, value in adm.answers.items():
        assert type(back.answers[key]) is type(value) or value is None


@pytest.mark.parametrize("instrument_id", IDS)
def test_complete(instrument_id: str, catalogue: Catalogue, make_admin: Any, validate: Any) -> None:
    adm = make_admin(catalogue.get(instrument_id))
    assert adm.total is not None
    assert_same(round_trip(adm, validate), adm)


@pytest.mark.parametrize("instrument_id", IDS)
@pytest.mark.parametrize("pick", [0, -1])
def test_extreme_answers(
    instrument_id: str, pick: int, catalogue: Catalogue, make_admin: Any, validate: Any
) -> None:
    ins = catalogue.get(instrument_id)
    answers: dict[str, int | float | None] = {}
    for item in ins.items:
        if item.scale.kind == "choice":
            answers[item.id] = item.scale.options[pick].value
        else:
            answers[item.id] = item.scale.minimum if pick == 0 else item.scale.maximum
    adm = make_admin(ins, answers)
    assert_same(round_trip(adm, validate), adm)


def _scored_missing(ins: Instrument) -> str:
    """A scored item that may be missing without making the total unscorable."""
    for item in ins.scored_items:
        if item.id not in ins.missing.never_impute:
            return item.id
    raise AssertionError


@pytest.mark.parametrize("instrument_id", IDS)
def test_prorated_and_missing(
    instrument_id: str, catalogue: Catalogue, make_admin: Any, full_answers: Any, validate: Any
) -> None:
    ins = catalogue.get(instrument_id)
    answers = full_answers(ins, pick=2)
    missing = _scored_missing(ins)
    answers[missing] = None  # explicitly unanswered
    adm = make_admin(ins, answers)
    if ins.missing.max_missing >= 1:
        assert adm.prorated
        assert adm.total is not None
    else:
        assert adm.total is None
    assert_same(round_trip(adm, validate), adm)
    del answers[missing]  # absent altogether
    adm = make_admin(ins, answers)
    back = round_trip(adm, validate)
    assert missing not in back.answers
    assert_same(back, adm)


@pytest.mark.parametrize("instrument_id", IDS)
def test_unscorable(
    instrument_id: str, catalogue: Catalogue, make_admin: Any, full_answers: Any, validate: Any
) -> None:
    ins = catalogue.get(instrument_id)
    answers = full_answers(ins)
    for item in ins.scored_items[: ins.missing.max_missing + 1]:
        answers[item.id] = None
    adm = make_admin(ins, answers)
    assert adm.total is None
    assert_same(round_trip(adm, validate), adm)


def test_nothing_answered(catalogue: Catalogue, make_admin: Any, validate: Any) -> None:
    adm = make_admin(catalogue.get("phq9"), {})
    qr = questionnaire_response(adm)
    assert "item" not in qr
    assert_same(round_trip(adm, validate), adm)


@pytest.mark.parametrize(
    "completed_at",
    [
        datetime(2024, 3, 31, 1, 59, 59, tzinfo=UTC),
        datetime(2024, 7, 1, 23, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2023, 12, 31, 22, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-3))),
        datetime(2024, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),
    ],
)
def test_completed_at_keeps_its_offset(
    completed_at: datetime, catalogue: Catalogue, make_admin: Any, validate: Any
) -> None:
    adm = make_admin(catalogue.get("gad7"), completed_at=completed_at)
    back = round_trip(adm, validate)
    assert back.completed_at == completed_at
    assert back.completed_at.utcoffset() == completed_at.utcoffset()
    assert back.completed_at.isoformat() == completed_at.isoformat()


def test_risk_survives(catalogue: Catalogue, make_admin: Any, validate: Any) -> None:
    ins = catalogue.get("phq9")
    answers = {i.id: 0 for i in ins.items}
    answers["item_9"] = 2
    adm = make_admin(ins, answers)
    back = round_trip(adm, validate)
    assert (back.risk, back.risk_level) == (True, 2)
    core = catalogue.get("core10")
    answers = {i.id: 0 for i in core.items}
    answers["item_6"] = 1
    back = round_trip(make_admin(core, answers), validate)
    assert back.risk is True


def test_other_base(catalogue: Catalogue, make_admin: Any, validate: Any) -> None:
    adm = make_admin(catalogue.get("wai_sr"))
    assert_same(round_trip(adm, validate, base="https://clinic.example/r4"), adm)


def _answers(draw: st.DrawFn, ins: Instrument) -> dict[str, int | float | None]:
    out: dict[str, int | float | None] = {}
    for item in ins.items:
        kind = draw(st.sampled_from(["answer", "answer", "answer", "none", "absent"]))
        if kind == "absent":
            continue
        if kind == "none":
            out[item.id] = None
        elif item.scale.kind == "choice":
            out[item.id] = draw(st.sampled_from(item.scale.values))
        else:
            tenths = draw(st.integers(int(item.scale.minimum * 10), int(item.scale.maximum * 10)))
            out[item.id] = tenths / 10
    return out


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_administration_round_trips(
    data: st.DataObject, catalogue: Catalogue, make_admin: Any, validate: Any
) -> None:
    ins = data.draw(st.sampled_from(list(catalogue)))
    answers = data.draw(st.composite(lambda draw: _answers(draw, ins))())
    offset = data.draw(st.integers(-12 * 60, 14 * 60))
    when = datetime(2024, 5, 17, 18, 42, 7, tzinfo=timezone(timedelta(minutes=offset)))
    adm = make_admin(ins, answers, completed_at=when)
    assert_same(round_trip(adm, validate), adm)
