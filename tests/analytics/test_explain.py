"""Explanations (methods.md §12): coverage of every label, readability, tone and traceability."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterator

import numpy as np
import pytest
import textstat
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.analytics.alliance import (
    ALLIANCE_LABELS,
    AllianceCode,
    AllianceParams,
    AllianceReason,
    alliance_ruptures,
)
from twostep.analytics.explain import (
    ETR_BAND_LABELS,
    GROUNDHOG_SIGNS,
    NORMALISING_PHRASES,
    SETBACK_STAT_MIN_N,
    SUPPORT_AREAS,
    AdministrationContext,
    AllianceFacts,
    Explanation,
    GasFacts,
    GroundhogParams,
    Level,
    RiskFacts,
    SetbackStatistic,
    SupportInputs,
    explain_administration,
    explain_alliance,
    explain_client_summary,
    explain_context,
    explain_early_response,
    explain_etr_band,
    explain_event,
    explain_gas,
    explain_plateau,
    explain_risk,
    explain_setback,
    explain_status,
    groundhog_day,
    longest_focus_run,
    support_suggestions,
)
from twostep.analytics.intervals import wilson_interval
from twostep.analytics.trajectory import (
    EARLY_RESPONSE_LABELS,
    EVENT_LABELS,
    PLATEAU_LABELS,
    STATUS_LABELS,
    Confirmation,
    EarlyResponse,
    Event,
    Plateau,
    Status,
)
from twostep.errors import AnalysisError
from twostep.instruments.model import Comparison

MAX_GRADE = 8.0
CONTACTS = ("Samaritans: call 116 123", "NHS 111, option 2", "In an emergency, call 999.")


def phq(**kw: object) -> AdministrationContext:
    """A PHQ-9 administration: 17 now, 22 at intake, best 10, RC 6 (NHS TT), cut-off 10."""
    base: dict[str, object] = {
        "instrument": "PHQ-9",
        "higher_is_better": False,
        "score": 17.0,
        "intake_score": 22.0,
        "previous_score": 11.0,
        "best_before": 10.0,
        "rc": 6.0,
        "rc_source": "NHS Talking Therapies",
        "cutoff": 10.0,
        "cutoff_source": "NHS Talking Therapies caseness",
        "session": 7,
    }
    base.update(kw)
    return AdministrationContext(**base)  # type: ignore[arg-type]


def ors(**kw: object) -> AdministrationContext:
    """An ORS administration (higher = better): 19 now, 26 at intake... set per test."""
    base: dict[str, object] = {
        "instrument": "ORS",
        "higher_is_better": True,
        "score": 28.0,
        "intake_score": 18.0,
        "previous_score": 22.0,
        "best_before": 22.0,
        "rc": 5.0,
        "rc_source": "Miller et al. 2003",
        "cutoff": 25.0,
        "session": 5,
    }
    base.update(kw)
    return AdministrationContext(**base)  # type: ignore[arg-type]


def grade(text: str) -> float:
    return float(textstat.flesch_kincaid_grade(text))


def client_texts(explanations: tuple[Explanation, ...] | list[Explanation]) -> Iterator[str]:
    for e in explanations:
        yield e.client
        if e.client_details:
            yield e.client_details


def normalising(text: str) -> list[str]:
    low = text.lower()
    return [p for p in NORMALISING_PHRASES if p in low]


# ------------------------------------------------------ every label has both texts


def _check(e: Explanation, label: str) -> None:
    assert e.label == label
    assert e.client.strip()
    assert e.client_details.strip()
    assert e.therapist.strip()
    assert e.rule.strip()
    assert e.source.strip()
    if e.twostep_rule:
        assert "twostep rule" in e.therapist


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("confirmation", list(Confirmation))
def test_every_status_has_both_texts(status: Status, confirmation: Confirmation) -> None:
    e = explain_status(phq(status=status, confirmation=confirmation))
    _check(e, STATUS_LABELS[status] or "none")
    assert e.topic == "status"


@pytest.mark.parametrize("event", list(Event))
def test_every_event_has_both_texts(event: Event) -> None:
    e = explain_event(phq(event=event, score=None if event is Event.MISSED else 17.0))
    _check(e, EVENT_LABELS[event] or "none")


@pytest.mark.parametrize("band", ETR_BAND_LABELS)
def test_every_etr_band_has_both_texts(band: str) -> None:
    _check(explain_etr_band(phq(etr_band=band)), band)


@pytest.mark.parametrize("plateau", list(Plateau))
def test_every_plateau_has_both_texts(plateau: Plateau) -> None:
    _check(explain_plateau(phq(plateau=plateau)), PLATEAU_LABELS[plateau] or "none")


@pytest.mark.parametrize("early", list(EarlyResponse))
def test_every_early_response_has_both_texts(early: EarlyResponse) -> None:
    _check(explain_early_response(phq(early_response=early)), EARLY_RESPONSE_LABELS[early])


@pytest.mark.parametrize("code", list(AllianceCode))
@pytest.mark.parametrize("params", [AllianceParams.srs(), AllianceParams.wai_sr(rc=0.6)])
def test_every_alliance_code_has_both_texts(code: AllianceCode, params: AllianceParams) -> None:
    facts = AllianceFacts(code, params, score=33.0, previous_score=38.0, baseline=38.0, reason=7)
    _check(explain_alliance(facts), ALLIANCE_LABELS[code])


def test_the_text_tables_cover_exactly_the_enums() -> None:
    # a new enum member without a text must fail here (and in the tests above)
    assert len(STATUS_LABELS) == len(Status)
    assert len(EVENT_LABELS) == len(Event)
    assert len(PLATEAU_LABELS) == len(Plateau)
    assert len(EARLY_RESPONSE_LABELS) == len(EarlyResponse)
    assert len(ALLIANCE_LABELS) == len(AllianceCode)


@pytest.mark.parametrize(
    ("previous", "label"), [(None, "first"), (40.0, "up"), (62.0, "down"), (45.0, "steady")]
)
def test_gas_labels(previous: float | None, label: str) -> None:
    e = explain_gas(GasFacts(51.0, previous, n_goals=3))
    _check(e, label)
    assert "Kiresuk & Sherman" in e.source
    assert "10" in e.therapist


def test_risk_labels() -> None:
    positive = explain_risk(RiskFacts("PHQ-9", "item_9", 2, "urgent", CONTACTS))
    assert positive is not None
    _check(positive, "positive")
    assert positive.level is Level.URGENT
    missing = explain_risk(RiskFacts("PHQ-9", "item_9", None, crisis_resources=CONTACTS))
    assert missing is not None
    _check(missing, "not_assessed")
    assert explain_risk(RiskFacts("PHQ-9", "item_9", 0)) is None


# ---------------------------------------------------------------------- readability


def contexts() -> Iterator[AdministrationContext]:
    """A grid over labels, directions and context, with deliberately odd combinations."""
    risks = [
        None,
        RiskFacts("PHQ-9", "item_9", 3, "urgent", CONTACTS),
        RiskFacts("CORE-10", "item_6", 1),
        RiskFacts("PHQ-9", "item_9", None, crisis_resources=CONTACTS[:1]),
    ]
    stats = [None, SetbackStatistic(10, 20), SetbackStatistic(31, 45, "PHQ-9, t 5-8")]
    alliance = [
        None,
        AllianceFacts(
            AllianceCode.RUPTURE,
            score=33.0,
            previous_score=39.0,
            baseline=39.0,
            sd_w=1.0,
            threshold=3.0,
            reason=7,
        ),
        AllianceFacts(AllianceCode.UNREPAIRED_ESCALATION, score=34.0),
    ]
    makers = [phq, ors]
    for i, (make, status, event) in enumerate(itertools.product(makers, Status, Event)):
        yield make(
            status=status,
            event=event,
            score=None if event is Event.MISSED else (17.0 if make is phq else 28.0),
            confirmation=Confirmation(i % 4),
            etr_band=ETR_BAND_LABELS[i % len(ETR_BAND_LABELS)],
            plateau=Plateau(i % 4),
            early_response=EarlyResponse(i % 4),
            in_setback=bool(i % 2),
            stressors=(("work", 4), ("family_conflict", 3), ("money", 1)),
            restorative_drop=2.5 if i % 3 else None,
            alliance_rupture=bool(i % 5 == 0),
            missed_sessions=i % 4,
            setback_stat=stats[i % 3],
            risk=risks[i % 4],
            alliance=alliance[i % 3],
            gas=GasFacts(55.0, [None, 40.0, 66.0][i % 3], 3),
            provisional=bool(i % 7 == 0),
        )


def every_explanation(ctx: AdministrationContext) -> list[Explanation]:
    out = list(explain_administration(ctx))
    out += [
        explain_status(ctx),
        explain_event(ctx),
        explain_etr_band(ctx),
        explain_plateau(ctx),
        explain_early_response(ctx),
        explain_client_summary(ctx, n_scores=7, n_setbacks=2, n_sudden_gains=1),
    ]
    out += [e for e in (explain_setback(ctx), explain_context(ctx)) if e is not None]
    if ctx.alliance is not None:
        out.append(explain_alliance(ctx.alliance, alarming=ctx.alarming))
    return out


GRID = list(contexts())


def test_every_client_text_in_the_grid_is_at_grade_8_or_below() -> None:
    worst = 0.0
    n = 0
    for ctx in GRID:
        for text in client_texts(every_explanation(ctx)):
            g = grade(text)
            worst = max(worst, g)
            n += 1
            assert g <= MAX_GRADE, (g, text)
    assert n > 1000
    assert worst > 3  # the measure works on these texts


labels_st = st.one_of(st.sampled_from(list(Status)), st.sampled_from(STATUS_LABELS[1:]))
score_st = st.one_of(
    st.none(), st.integers(0, 40).map(float), st.floats(0, 40).map(lambda x: round(x, 1))
)
stressor_st = st.tuples(
    st.sampled_from(["work", "health", "family_conflict", "money", "housing", "loss"]),
    st.integers(1, 5),
)


@st.composite
def any_context(draw: st.DrawFn) -> AdministrationContext:
    hib = draw(st.booleans())
    rc = draw(st.sampled_from([4.0, 5.0, 6.0, 10.0, 4.76]))
    stat = draw(
        st.one_of(
            st.none(),
            st.integers(0, 200).flatmap(
                lambda n: st.integers(0, n).map(lambda k: SetbackStatistic(k, n))
            ),
        )
    )
    return AdministrationContext(
        instrument=draw(st.sampled_from(["PHQ-9", "GAD-7", "CORE-10", "ORS", "PCL-5"])),
        higher_is_better=hib,
        score=draw(score_st),
        intake_score=draw(score_st),
        previous_score=draw(score_st),
        best_before=draw(score_st),
        rc=draw(st.one_of(st.none(), st.just(rc))),
        rc_source=draw(st.sampled_from(["", "NHS Talking Therapies", "local JT"])),
        rc_strict=draw(st.booleans()),
        cutoff=draw(st.one_of(st.none(), st.sampled_from([8.0, 10.0, 25.0, 31.0]))),
        cutoff_case_when=draw(st.one_of(st.none(), st.sampled_from(list(Comparison)))),
        session=draw(st.one_of(st.none(), st.integers(1, 40))),
        status=draw(labels_st),
        confirmation=draw(st.sampled_from(list(Confirmation))),
        event=draw(st.sampled_from(list(Event))),
        etr_band=draw(st.sampled_from(ETR_BAND_LABELS)),
        plateau=draw(st.sampled_from(list(Plateau))),
        early_response=draw(st.one_of(st.none(), st.sampled_from(list(EarlyResponse)))),
        in_setback=draw(st.booleans()),
        provisional=draw(st.booleans()),
        stressors=tuple(draw(st.lists(stressor_st, max_size=4))),
        restorative_drop=draw(st.one_of(st.none(), st.floats(0, 4))),
        alliance_rupture=draw(st.booleans()),
        missed_sessions=draw(st.integers(0, 6)),
        setback_stat=stat,
        alliance=draw(
            st.one_of(
                st.none(),
                st.sampled_from(list(AllianceCode)).map(
                    lambda c: AllianceFacts(
                        c,
                        score=35.0,
                        previous_score=38.0,
                        baseline=38.5,
                        reason=int(AllianceReason.RELATIVE_DROP),
                    )
                ),
            )
        ),
        gas=draw(
            st.one_of(
                st.none(),
                st.builds(GasFacts, st.floats(20, 80), st.one_of(st.none(), st.floats(20, 80))),
            )
        ),
        risk=draw(
            st.one_of(
                st.none(),
                st.builds(
                    RiskFacts,
                    st.just("PHQ-9"),
                    st.just("item_9"),
                    st.one_of(st.none(), st.integers(0, 3)),
                    st.just("urgent"),
                    st.sampled_from([(), CONTACTS, CONTACTS[:1]]),
                ),
            )
        ),
    )


@settings(max_examples=300, deadline=None)
@given(any_context())
def test_generated_client_texts_are_at_grade_8_or_below(ctx: AdministrationContext) -> None:
    for text in client_texts(every_explanation(ctx)):
        assert grade(text) <= MAX_GRADE, text


@settings(max_examples=300, deadline=None)
@given(any_context())
def test_alarming_administrations_never_get_normalising_client_texts(
    ctx: AdministrationContext,
) -> None:
    if not ctx.alarming:
        return
    for text in client_texts(every_explanation(ctx)):
        assert normalising(text) == [], text


@pytest.mark.parametrize("ctx", GRID, ids=lambda c: f"{c.instrument}-{c.status}-{c.event}")
def test_deterioration_texts_never_normalise(ctx: AdministrationContext) -> None:
    for variant in (
        ctx,
        dataclasses.replace(ctx, status=Status.DETERIORATED, risk=None),
    ):
        if not variant.alarming:
            continue
        for text in client_texts(every_explanation(variant)):
            assert normalising(text) == [], text


def test_the_normalising_check_has_teeth() -> None:
    calm = explain_event(phq(event=Event.FLUCTUATION, score=12.0, previous_score=11.0))
    assert normalising(calm.client)
    transient = explain_event(phq(event=Event.SETBACK_TRANSIENT))
    assert normalising(transient.client)
    worse = phq(event=Event.FLUCTUATION, status=Status.DETERIORATED, score=29.0)
    assert worse.alarming
    assert normalising(explain_event(worse).client) == []


# -------------------------------------------------------------------- traceability


def test_therapist_texts_name_the_rc_and_its_source() -> None:
    score_topics = {"status", "event", "setback", "etr_band", "plateau", "early_response"}
    checked = 0
    for ctx in GRID:
        if ctx.missed:
            continue
        for e in every_explanation(ctx):
            if e.topic in score_topics:
                assert f"RC {ctx.rc:g}, {ctx.rc_source}" in e.therapist, e.therapist
                checked += 1
    assert checked > 500


def test_the_methods_md_setback_example() -> None:
    e = explain_event(phq(event=Event.SETBACK))
    assert "PHQ-9 17" in e.therapist
    assert "+7 from best 10" in e.therapist
    assert "RC 6, NHS Talking Therapies" in e.therapist
    assert "setback, not deterioration" in e.therapist
    assert "still 5 below intake" in e.therapist
    assert e.twostep_rule
    assert "twostep rule" in e.therapist


def test_published_rules_are_not_called_twostep_rules() -> None:
    e = explain_event(phq(event=Event.SUDDEN_GAIN, score=9.0, previous_score=18.0))
    assert not e.twostep_rule
    assert "Tang & DeRubeis" in e.source
    assert "twostep rule" not in e.therapist


def test_alliance_explanation_is_traceable_from_the_kernel() -> None:
    scores = [40.0, 40.0, 40.0, 36.0, 39.5]
    sig = alliance_ruptures([0, 5], scores)
    rupture = AllianceFacts.from_signals(sig, scores, 3)
    assert rupture.code_value is AllianceCode.RUPTURE
    assert (rupture.baseline, rupture.sd_w, rupture.threshold) == (40.0, 1.0, 3.0)
    assert rupture.previous_score == 40.0
    e = explain_alliance(rupture)
    assert "drop 4 from baseline 40" in e.therapist
    assert "D_min 3" in e.therapist
    assert "SD_w 1" in e.therapist
    assert "twostep rule (methods.md §6.4)" in e.therapist
    assert "Stiles" in e.source
    assert "Strauss" in e.source
    assert "Eubanks" in e.source
    repair = explain_alliance(AllianceFacts.from_signals(sig, scores, 4))
    assert repair.label == "repair"
    assert "baseline - 1" in repair.therapist
    # the previous score is searched within the row's client only
    two = [38.0, 39.0, 40.0, 40.0, 40.0, 36.0]
    sig2 = alliance_ruptures([0, 2, 6], two)
    assert AllianceFacts.from_signals(sig2, two, 2).previous_score is None
    assert AllianceFacts.from_signals(sig2, two, 5).previous_score == 40.0
    with pytest.raises(AnalysisError):
        AllianceFacts.from_signals(sig2, two, 6)
    first = AllianceFacts.from_signals(sig, scores, 0)
    assert first.previous_score is None
    assert first.baseline is None


def test_alliance_client_details_use_the_native_direction() -> None:
    e = explain_alliance(AllianceFacts("rupture", score=33.0, previous_score=39.0, baseline=39.0))
    assert "higher rating means the session felt better" in e.client_details
    assert "below 36" in e.client_details
    wai = explain_alliance(AllianceFacts("marker", AllianceParams.wai_sr(), score=3.5))
    assert "WAI-SR" in wai.client_details
    assert "36" not in wai.client_details


# ------------------------------------------------------------------- risk wording

RISK_RATING_WORDS = (
    "risk",
    "level",
    "high",
    "low",
    "moderate",
    "severe",
    "tier",
    "urgent",
    "score",
)


@pytest.mark.parametrize("response", [None, 1, 2, 3])
@pytest.mark.parametrize("contacts", [(), CONTACTS])
def test_risk_texts_never_show_a_risk_rating(
    response: int | None, contacts: tuple[str, ...]
) -> None:
    e = explain_risk(RiskFacts("PHQ-9", "item_9", response, "urgent: notify duty", contacts))
    assert e is not None
    for text in (e.client, e.client_details):
        words = set(re.findall(r"[a-z]+", text.lower()))
        assert words.isdisjoint(RISK_RATING_WORDS), text
        for contact in contacts:
            text = text.replace(contact.rstrip("."), "")
        assert not re.search(r"\d", text), text  # no answer value, no number at all
        assert grade(text) <= MAX_GRADE
    for bad in ("risk level", "high risk", "low risk", "moderate risk", "risk score"):
        assert bad not in e.therapist.lower()
    if contacts:
        assert all(c.rstrip(".") in e.client for c in contacts)
    else:
        assert "emergency" in e.client


def test_risk_comes_first_and_silences_normalising_text() -> None:
    ctx = phq(
        event=Event.FLUCTUATION,
        status=Status.UNCHANGED,
        score=12.0,
        previous_score=11.0,
        risk=RiskFacts("PHQ-9", "item_9", 1, "same-day review", CONTACTS),
    )
    out = explain_administration(ctx)
    assert out[0].topic == "risk"
    assert out[0].level is Level.URGENT
    for text in client_texts(out):
        assert normalising(text) == []
    summary = explain_client_summary(ctx, n_scores=3, n_setbacks=1)
    assert summary.level is Level.URGENT
    assert summary.therapist.startswith("RISK ITEM")
    assert "thoughts of hurting yourself" in summary.client


def test_delay_notice_is_configurable() -> None:
    e = explain_risk(RiskFacts("PHQ-9", "item_9", 2, delay_notice="We read answers each day."))
    assert e is not None
    assert "We read answers each day." in e.client
    e = explain_risk(RiskFacts("PHQ-9", "item_9", 2, delay_notice=None))
    assert e is not None
    assert "may not see" not in e.client


# ------------------------------------------------------------------ setback context


@pytest.mark.parametrize("n", [0, 1, 29])
def test_setback_statistic_hidden_below_30(n: int) -> None:
    ctx = phq(event=Event.SETBACK, setback_stat=SetbackStatistic(n // 2, n))
    e = explain_event(ctx)
    assert "Setbacks are common in therapy" in e.client
    assert "in every 100" not in e.client
    assert f"n = {n} < {SETBACK_STAT_MIN_N}" in e.therapist
    assert "%" not in e.client_details


@pytest.mark.parametrize(("k", "n"), [(20, 30), (31, 45), (0, 50), (300, 300)])
def test_setback_statistic_shown_from_30(k: int, n: int) -> None:
    ctx = phq(event=Event.SETBACK_SUSTAINED, setback_stat=SetbackStatistic(k, n, "PHQ-9 t 5-8"))
    e = explain_event(ctx)
    w = wilson_interval(k, n)
    share, lo, hi = (round(100 * float(x)) for x in (w.proportion, w.lower, w.upper))
    assert f"{share} in every 100" in e.client
    assert "Setbacks are common" not in e.client
    assert f"between {lo}% and {hi}%" in e.client_details
    assert f"based on {n} people" in e.client_details
    assert f"{share}% (95% Wilson CI {lo}%-{hi}%; n = {n}" in e.therapist
    assert "PHQ-9 t 5-8" in e.therapist
    # the ongoing rows of the same episode carry the statistic too
    ongoing = explain_setback(
        phq(event=Event.FLUCTUATION, in_setback=True, setback_stat=SetbackStatistic(k, n))
    )
    assert ongoing is not None
    assert f"{share} in every 100" in ongoing.client


def test_setback_statistic_validation() -> None:
    with pytest.raises(AnalysisError):
        SetbackStatistic(5, 4)
    with pytest.raises(AnalysisError):
        SetbackStatistic(-1, 4)


def test_context_is_what_else_was_going_on_never_a_cause() -> None:
    ctx = phq(
        event=Event.SETBACK,
        stressors=(("work", 4), ("family_conflict", 3), ("weather", 2)),
        restorative_drop=2.0,
        alliance_rupture=True,
        missed_sessions=2,
    )
    e = explain_context(ctx)
    assert e is not None
    assert "what else was going on" in e.client.lower()
    assert "family conflict and work" in e.client
    assert "weather" not in e.client
    assert "weather" not in e.therapist
    assert "work (severity 4)" in e.therapist
    assert "family_conflict (severity 3)" in e.therapist
    assert "restorative" in e.therapist
    assert "alliance rupture" in e.therapist
    assert "missed sessions: 2" in e.therapist
    assert "not cause" in e.therapist
    for text in (e.client, e.client_details, e.therapist):
        low = text.lower()
        for causal in ("because", "caused", "due to", "led to", "the reason", "triggered"):
            assert causal not in low
    # in the composed output it follows the status
    topics = [x.topic for x in explain_administration(ctx)]
    assert topics.index("context") < topics.index("event")


def test_context_needs_a_trigger_and_something_to_say() -> None:
    quiet = phq(event=Event.FLUCTUATION, stressors=(("work", 5),))
    assert explain_context(quiet) is None
    nothing = phq(event=Event.SETBACK, stressors=(("work", 2),), restorative_drop=1.9)
    assert explain_context(nothing) is None
    for trigger in (
        {"status": Status.DETERIORATED},
        {"event": Event.SUDDEN_LOSS},
        {"event": Event.POSSIBLE_SUDDEN_LOSS},
        {"event": Event.STEP_WORSE, "in_setback": True},
    ):
        assert explain_context(phq(missed_sessions=1, **trigger)) is not None


# ------------------------------------------------------------- direction of wording


def test_higher_is_better_wording() -> None:
    better = ors(status=Status.IMPROVED, event=Event.STEP_BETTER)
    e = explain_event(better)
    assert "your score went up from 22 to 28" in e.client_details
    assert "higher score means you are doing better" in e.client_details
    assert "below 25" in e.client_details
    assert "+6 from previous 22" in e.therapist
    phq_better = explain_event(phq(event=Event.STEP_BETTER, score=5.0, previous_score=11.0))
    assert "your score went down from 11 to 5" in phq_better.client_details
    assert "lower score means you are doing better" in phq_better.client_details
    assert "of 10 or more" in phq_better.client_details


def test_higher_is_better_setback_for_the_therapist() -> None:
    # ORS intake 18, best 30, now 23: -7 from best, still 5 above intake
    e = explain_event(ors(event=Event.SETBACK, score=23.0, best_before=30.0, previous_score=29.0))
    assert "-7 from best 30" in e.therapist
    assert "still 5 above intake" in e.therapist
    assert "still better off than when you started" in e.client
    assert "went down from 29 to 23" in e.client_details


def test_setback_worse_than_intake_but_within_rc() -> None:
    e = explain_event(phq(event=Event.SETBACK, score=25.0))
    assert "3 above intake, less than RC" in e.therapist
    assert "within everyday ups and downs of where you started" in e.client
    same = explain_event(phq(event=Event.SETBACK, score=22.0))
    assert "level with intake" in same.therapist


def test_strict_rc_is_worded_as_more_than() -> None:
    e = explain_status(phq(status=Status.IMPROVED, rc=4.76, rc_strict=True, rc_source="local JT"))
    assert "more than 4.76 points" in e.client_details
    assert "> RC" in e.rule


# --------------------------------------------------------------------- composition


def test_missed_administration() -> None:
    out = explain_administration(phq(score=None, status=Status.NONE, missed_sessions=3))
    assert [(e.topic, e.label) for e in out] == [("event", "missed")]
    assert "missed 3 sessions" in out[0].client
    nan = phq(score=float("nan"))
    assert nan.missed
    assert nan.event_code is Event.MISSED


def test_baseline_is_explained_once() -> None:
    out = explain_administration(phq(status="baseline", event="baseline", previous_score=None))
    assert [(e.topic, e.label) for e in out] == [("status", "baseline")]


def test_plateau_is_not_repeated_when_the_status_says_it() -> None:
    out = explain_administration(phq(status="plateau_stuck", plateau="stuck", event="fluctuation"))
    assert [e.topic for e in out].count("plateau") == 0
    out = explain_administration(phq(status="recovered", plateau="maintenance", score=6.0))
    assert ("plateau", "maintenance") in [(e.topic, e.label) for e in out]


def test_ongoing_setback_is_not_softened_after_deterioration() -> None:
    assert explain_setback(phq(in_setback=True, status=Status.DETERIORATED)) is None
    assert explain_setback(phq(in_setback=True, event=Event.SETBACK)) is None
    assert explain_setback(phq(in_setback=False)) is None


def test_labels_can_be_given_as_codes_labels_or_names() -> None:
    a = phq(status=2, event="setback_transient", plateau="none", early_response="responder")
    assert a.status_code is Status.DETERIORATED
    assert a.event_code is Event.SETBACK_TRANSIENT
    assert a.plateau_code is Plateau.NONE
    assert a.early_code is EarlyResponse.RESPONDER
    assert phq(confirmation="pending").confirmation_code is Confirmation.PENDING
    assert phq(status="", early_response="early_non_responder").early_code is (
        EarlyResponse.NON_RESPONDER
    )
    for bad in (
        {"status": "worse"},
        {"event": 99},
        {"etr_band": "purple"},
        {"status": 1.5},
        {"confirmation": 9},
    ):
        with pytest.raises((AnalysisError, ValueError)):
            phq(**bad)


def test_client_summary() -> None:
    ctx = ors(status=Status.RECOVERED, event=Event.STEP_BETTER, score=31.0)
    s = explain_client_summary(ctx, n_scores=6, n_setbacks=1, n_sudden_gains=1)
    assert s.topic == "summary"
    assert s.label == "recovered"
    assert "6 times" in s.client
    assert "a setback" in s.client
    assert "common" in s.client
    assert "sudden gains 1" in s.therapist
    assert "RC 5, Miller et al. 2003" in s.therapist
    bad = explain_client_summary(
        phq(status=Status.DETERIORATED, score=29.0), n_scores=1, n_setbacks=2
    )
    assert "once" in bad.client
    assert "2 setbacks" in bad.client
    assert normalising(bad.client) == []


def test_levels_order_by_attention() -> None:
    assert Level.URGENT > Level.CONCERN > Level.WATCH > Level.REASSURE
    assert explain_status(phq(status=Status.DETERIORATED)).level is Level.CONCERN
    assert explain_event(phq(event=Event.SETBACK_TRANSIENT)).level is Level.REASSURE


# ------------------------------------------------------------------ support, groundhog


def test_support_suggestions_flag_from_plain_numbers() -> None:
    out = support_suggestions(
        SupportInputs(
            alliance_score=33.0,
            unrepaired_rupture=True,
            engagement_mean=1.2,
            practice_recent=2,
            practice_before=6,
            support_contacts_recent=4,
            support_contacts_before=5,
            stressors=(("money", 4), ("noise", 1)),
            days_since_goal_review=20,
            gas_t_latest=38.0,
            gas_t_previous=50.0,
        )
    )
    by = {s.area: s for s in out}
    assert set(by) == set(SUPPORT_AREAS)
    assert by["alliance"].flagged
    assert "SRS 33 (< 36)" in by["alliance"].finding
    assert "supervision" in by["alliance"].prompt
    assert by["motivation"].flagged  # practice 2 vs 6: down by 67 %
    assert not by["social_support"].flagged  # 4 vs 5: down 20 %
    assert by["life_events"].flagged
    assert "noise" not in by["life_events"].finding
    assert by["goals"].flagged  # GAS T down 12
    flags = [s.flagged for s in out]
    assert flags == sorted(flags, reverse=True)
    assert all("twostep rule" in s.source for s in out)


def test_support_suggestions_without_data() -> None:
    out = support_suggestions(SupportInputs())
    assert not any(s.flagged for s in out)
    assert [s.area for s in out] == list(SUPPORT_AREAS)
    assert "no alliance rating recorded" in out[0].finding


def test_groundhog_day_needs_a_plateau_and_two_signs() -> None:
    g = groundhog_day(
        [Status.PLATEAU_STUCK, Status.IMPROVED, Status.PLATEAU_PARTIAL, Status.PLATEAU_STUCK],
        engagement_mean=[1.5, 2.0, 1.0, np.nan],
        practice_recent=[5, 0, 1, 3],
        practice_before=[10, 8, 4, 0],
        missed_in_window=[0, 3, 1, 5],
        same_focus_run=[2, 4, 3, 0],
        goal_review_overdue=[False, True, False, False],
    )
    assert g.raised.tolist() == [True, False, True, False]
    assert g.signs_held(0) == ("engagement_low", "practice_down")
    assert g.signs_held(1) == GROUNDHOG_SIGNS  # all signs but no plateau
    assert g.signs_held(2) == ("practice_down", "same_focus")
    assert g.signs_held(3) == ("missed_sessions",)
    assert g.n_signs.tolist() == [2, 5, 2, 1]


def test_groundhog_day_takes_labels_scalars_and_missing_inputs() -> None:
    g = groundhog_day(["plateau_partial", "unchanged"], missed_in_window=2, goal_review_overdue=1)
    assert g.raised.tolist() == [True, False]
    assert groundhog_day(["plateau_stuck"]).raised.tolist() == [False]
    strict = groundhog_day(
        ["plateau_stuck"],
        missed_in_window=2,
        goal_review_overdue=True,
        params=GroundhogParams(min_signs=3),
    )
    assert strict.raised.tolist() == [False]
    with pytest.raises(AnalysisError):
        groundhog_day([1, 3], engagement_mean=[1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("tags", "run"),
    [
        ([], 0),
        ([None, None], 0),
        (["a"], 1),
        (["a", "a", "b", "a"], 2),
        (["a", "b", "b", "b", None, "b"], 3),
        (["", "", ""], 0),
    ],
)
def test_longest_focus_run(tags: list[str | None], run: int) -> None:
    assert longest_focus_run(tags) == run
