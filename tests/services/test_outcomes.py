"""Service outcomes: NHS Talking Therapies rates by therapist and period, with small cells hidden."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from service_world import NOW, World
from statsmodels.stats.proportion import proportion_confint

from twostep.domain.records import (
    Administration,
    Appointment,
    AppointmentStatus,
    Assignment,
    Episode,
    Role,
    User,
    new_id,
)
from twostep.errors import AccessDeniedError, ValidationError
from twostep.services.outcomes import (
    Grouping,
    parse_period,
    quarter_of,
    service_outcomes,
)

START = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)

#: (PHQ-9 first, last, GAD-7 first, last, how many such episodes)
CASE = [
    (18, 6, 14, 5, 10),  # recovered, reliable improvement, reliable recovery
    (15, 12, 10, 9, 2),  # a case at both ends, no reliable change
    (12, 20, 9, 15, 1),  # reliable deterioration
    (5, 4, 4, 3, 1),  # not a case at the start
]


def _adm(
    client: User, episode: Episode, instrument: str, total: float, at: datetime
) -> Administration:
    return Administration(
        id=new_id(),
        clinic_id=client.clinic_id,
        client_id=client.id,
        episode_id=episode.id,
        instrument_id=instrument,
        answers={},
        total=total,
        subscales={},
        band=None,
        case=None,
        risk=False,
        risk_level=0,
        risk_not_assessed=False,
        prorated=False,
        completed_at=at,
        received_at=at,
        source="import",
    )


def add_episode(
    w: World,
    therapist: str,
    phq: list[float],
    gad: list[float],
    *,
    ended: date | None = date(2024, 5, 31),
    start: datetime = START,
    attended: int | None = None,
) -> Episode:
    """A new client of ``therapist`` with one episode: paired weekly scores (PHQ-9 and GAD-7)."""
    t = w.users[therapist]
    with w.factory() as uow:
        client = uow.users.add(
            User(
                new_id(), t.clinic_id, f"{new_id()}@x.example", "Someone", frozenset({Role.CLIENT})
            )
        )
        uow.assignments.add(
            Assignment(new_id(), t.clinic_id, t.id, client.id, start - timedelta(days=7))
        )
        ep = uow.episodes.add(Episode(new_id(), t.clinic_id, client.id, start.date(), ended))
        for k, score in enumerate(phq):
            uow.administrations.add(_adm(client, ep, "phq9", score, start + timedelta(weeks=k)))
        for k, score in enumerate(gad):
            uow.administrations.add(
                _adm(client, ep, "gad7", score, start + timedelta(weeks=k, minutes=5))
            )
        for k in range(attended or 0):
            uow.appointments.add(
                Appointment(
                    new_id(),
                    t.clinic_id,
                    ep.id,
                    client.id,
                    t.id,
                    start + timedelta(weeks=k),
                    AppointmentStatus.ATTENDED,
                )
            )
        uow.commit()
    return ep


def hand_case(w: World, therapist: str = "ther_a") -> None:
    for p1, p2, g1, g2, n in CASE:
        for _ in range(n):
            add_episode(w, therapist, [p1, p2], [g1, g2])


def test_hand_computed_rates_and_wilson_intervals(world: World) -> None:
    hand_case(world)
    out = service_outcomes(world.factory, world.actor("admin"), grouping="none")
    assert out.n_episodes == 14
    assert out.rows == ()
    total = out.total
    # recovery: 10 of (14 - 1 not a case at the start) = 10/13
    expected = {
        "recovery": (10, 13),
        "reliable_recovery": (10, 13),
        "reliable_improvement": (10, 14),
    }
    for key, (k, n) in expected.items():
        cell = total.cell(key)
        assert (cell.numerator, cell.denominator) == (k, n), key
        lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert cell.proportion == pytest.approx(k / n)
        assert cell.lower == pytest.approx(lo, abs=1e-4)
        assert cell.upper == pytest.approx(hi, abs=1e-4)
    # 10/13 by hand: centre (10 + 1.9208) / 16.8416, half 1.96/16.8416*sqrt(30/13 + 0.9604)
    assert total.cell("recovery").lower == pytest.approx(0.4973, abs=1e-3)
    assert total.cell("recovery").upper == pytest.approx(0.9181, abs=1e-3)
    # one deterioration: fewer than 10, hidden with no numbers
    det = total.cell("reliable_deterioration")
    assert det.hidden == "small"
    assert det.numerator is None
    assert det.proportion is None
    # two scores per course: no pattern can be assessed (denominator 0 → hidden)
    assert total.cell("sudden_gain").hidden == "small"


def test_episodes_without_two_attended_appointments_are_not_finished(world: World) -> None:
    hand_case(world)
    add_episode(world, "ther_a", [20, 5], [15, 3], attended=1)  # recorded: only one attended
    out = service_outcomes(world.factory, world.actor("admin"), grouping="none")
    assert out.total.cell("reliable_improvement").denominator == 14
    assert out.n_attendance_from_pairs == 14  # the world's own episodes have no scores: no period
    add_episode(world, "ther_a", [20, 5], [15, 3], attended=2)
    out = service_outcomes(world.factory, world.actor("admin"), grouping="none")
    assert out.total.cell("reliable_improvement").denominator == 15
    assert out.total.cell("reliable_improvement").numerator == 11


def test_complementary_suppression_and_who_sees_which_rows(world: World) -> None:
    hand_case(world, "ther_a")
    for _ in range(3):
        add_episode(world, "ther_b", [18, 6], [14, 5])
    admin = service_outcomes(world.factory, world.actor("admin"), grouping="therapist")
    labels = {r.label for r in admin.rows}
    assert labels == {"Ther A", "Ther B"}
    b = next(r for r in admin.rows if r.label == "Ther B")
    a = next(r for r in admin.rows if r.label == "Ther A")
    assert b.cell("reliable_improvement").hidden == "small"  # 3 episodes
    # total (13/17) is shown, so A's row would give B's away: hidden as complementary
    assert admin.total.cell("reliable_improvement").numerator == 13
    assert a.cell("reliable_improvement").hidden == "complementary"

    research = service_outcomes(world.factory, world.actor("researcher"), grouping="therapist")
    assert {r.label for r in research.rows} == {"Therapist 1", "Therapist 2"}
    assert all("Ther " not in r.label for r in research.rows)

    ther = service_outcomes(world.factory, world.actor("ther_a"), grouping="therapist")
    assert [r.label for r in ther.rows] == ["You"]
    assert ther.rows[0].is_own
    assert ther.view == "therapist"


def test_own_row_shown_when_big_enough(world: World) -> None:
    hand_case(world, "ther_a")
    hand_case(world, "ther_b")
    out = service_outcomes(world.factory, world.actor("ther_b"), grouping="therapist")
    (own,) = out.rows
    assert own.cell("reliable_improvement").numerator == 10
    assert out.total.cell("reliable_improvement").numerator == 20


def test_periods_by_quarter_of_the_end_or_the_last_pair(world: World) -> None:
    hand_case(world)
    for _ in range(2):  # ongoing, last pair in July 2024
        add_episode(
            world, "ther_a", [18, 6], [14, 5], ended=None, start=datetime(2024, 7, 1, tzinfo=UTC)
        )
    out = service_outcomes(world.factory, world.actor("admin"), grouping="period")  # exact counts
    assert out.periods == ("2024-Q2", "2024-Q3")
    assert [r.label for r in out.rows] == ["2024-Q2", "2024-Q3"]
    assert out.n_ongoing == 2  # the world's own open episodes have no scores: no period
    q2 = service_outcomes(world.factory, world.actor("admin"), period="2024-Q2", grouping="none")
    assert q2.n_episodes == 14
    assert q2.total.cell("reliable_improvement").numerator == 10
    q3 = service_outcomes(world.factory, world.actor("admin"), period="2024-Q3")
    assert q3.n_episodes == 2
    # researchers: counts rounded to 5, below 10 hidden (test_small_cells.py has the rules)
    research = service_outcomes(world.factory, world.actor("researcher"), period="2024-Q3")
    assert research.n_episodes is None
    assert service_outcomes(world.factory, world.actor("researcher")).n_episodes == 15  # 16


def test_patterns_from_the_kernel(world: World) -> None:
    # 10 courses of 8 weekly scores with a sudden gain between weeks 3 and 4
    for _ in range(10):
        add_episode(world, "ther_a", [20, 19, 20, 8, 7, 6, 7, 6], [15, 14, 15, 6, 5, 5, 5, 5])
    out = service_outcomes(world.factory, world.actor("admin"), grouping="none")
    cell = out.total.cell("sudden_gain")
    assert (cell.numerator, cell.denominator) == (10, 10)
    # no plateau, no setback in these courses: zero is a small cell too (hidden)
    assert out.total.cell("plateau").hidden == "small"
    assert out.total.cell("setback").hidden == "small"


def test_roles_period_and_audit(world: World) -> None:
    with pytest.raises(AccessDeniedError):
        service_outcomes(world.factory, world.actor("client_a1"))
    with pytest.raises(ValidationError):
        service_outcomes(world.factory, world.actor("admin"), period="2024-5")
    with pytest.raises(ValidationError):
        service_outcomes(world.factory, world.actor("admin"), grouping="client")
    assert world.store.audit_events[-1].outcome == "error"
    before = len(world.store.audit_events)
    service_outcomes(world.factory, world.actor("researcher"))
    events = world.store.audit_events[before:]
    assert [(e.action, e.object_type, e.client_id, e.outcome) for e in events] == [
        ("read", "service_outcomes", None, "ok")
    ]


def test_other_clinics_are_never_counted(world: World) -> None:
    hand_case(world, "ther_x")
    out = service_outcomes(world.factory, world.actor("admin"), grouping="none")
    assert out.n_episodes == 0
    other = service_outcomes(world.factory, world.actor("ther_x"), grouping="none")
    assert other.n_episodes == 14


def test_quarters() -> None:
    assert quarter_of(date(2024, 1, 1)) == "2024-Q1"
    assert quarter_of(date(2024, 12, 31)) == "2024-Q4"
    assert parse_period("all") is None
    assert parse_period("2024-Q3") == "2024-Q3"
    for bad in ("2024-Q5", "2024Q1", "abcd-Q1", "2024-Q1 "):
        with pytest.raises(ValidationError):
            parse_period(bad)
    assert Grouping("period") is Grouping.PERIOD
    assert NOW.year == 2024


def test_pseudonyms_are_stable_across_periods(world: World) -> None:
    from twostep.services.outcomes import _pseudo_key

    # the therapist ranked second by pseudonym works in Q3 only: alone there, still "Therapist 2"
    first, second = sorted(
        ("ther_a", "ther_b"), key=lambda n: _pseudo_key(world.clinic.id, world.id(n))
    )
    hand_case(world, first)  # 2024-Q2
    for _ in range(12):
        add_episode(world, second, [18, 6], [14, 5], ended=date(2024, 8, 1))
    everything = service_outcomes(world.factory, world.actor("researcher"))
    by_label = {r.label: r.cell("reliable_improvement").denominator for r in everything.rows}
    assert by_label == {"Therapist 1": 15, "Therapist 2": 10}  # 14 and 12, rounded to 5
    q3 = service_outcomes(world.factory, world.actor("researcher"), period="2024-Q3")
    assert [r.label for r in q3.rows] == ["Therapist 2"]
