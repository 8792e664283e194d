"""A realistic demo clinic: two therapists, forty clients, six months of every stream.

`build_demo_clinic` returns plain records (`twostep.domain.records`): the
clinic with its crisis-resource text, accounts, assignments, episodes, weekly
appointments (attended, missed, cancelled, with session-focus tags),
questionnaire answers at each attended session (PHQ-9 and GAD-7 with item
answers from the synthetic generator, the alliance SRS and the weekly
engagement check), SMART goals with steps and monthly reviews, journal
entries with mood, setback reflections after setbacks, stressors and life
events, self-care, coping-skill practice, thought records, a support network
with contacts, topics for the next session and sharing choices.

Everything is synthetic and deterministic for a seed. Questionnaire answers
are returned as *submissions* (answers + completion time) rather than scored
records, so that the loader can replay them through the check-in service in
time order — the demo's scores, signals and alerts are then produced by the
same code as real ones. This module loops over forty clients in Python: it
builds demo data, it is not an analytics path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from twostep.domain.records import (
    Appointment,
    AppointmentStatus,
    Assignment,
    Clinic,
    Episode,
    Goal,
    GoalRater,
    GoalReview,
    GoalStep,
    JournalEntry,
    Role,
    SelfCareActivity,
    SelfCareEntry,
    SessionTopic,
    SetbackReflection,
    SharingPreference,
    SkillPractice,
    Stressor,
    StressorCategory,
    SupportContact,
    Supporter,
    ThoughtRecord,
    User,
    new_id,
)
from twostep.synthetic import SyntheticParams, SyntheticScores, generate_episodes

UTC = dt.UTC

CRISIS_TEXT = (
    "If you are in danger now or might act on thoughts of ending your life, call 999 or go to "
    "your nearest A&E. You can talk to Samaritans any time, free, on 116 123. For urgent mental "
    "health help call NHS 111 and choose option 2. In the US call or text 988."
)
DELAY_NOTICE = (
    "Your therapist reads check-ins during working hours, so your answers may not be seen "
    "straight away. If you need help now, use the numbers above."
)

FOCUS_TAGS = (
    "low mood",
    "worry",
    "sleep",
    "relationships",
    "work stress",
    "self-criticism",
    "avoidance",
    "panic",
    "grief",
    "activity scheduling",
)
EMOTIONS = (
    "sad",
    "anxious",
    "calm",
    "tired",
    "hopeful",
    "irritable",
    "lonely",
    "content",
    "ashamed",
)
JOURNAL_SNIPPETS = (
    "Hard morning, but I got outside for a walk after lunch.",
    "Talked to my sister on the phone. It helped more than I expected.",
    "Couldn't sleep again. Kept going over the meeting in my head.",
    "Did the breathing exercise before work. Felt a bit steadier.",
    "Cancelled plans with friends. Regretted it in the evening.",
    "A better day. Cooked a proper meal for the first time in weeks.",
    "Felt flat most of the day. Wrote down three small things that went okay.",
    "Argument at home. I noticed the old thought that it's all my fault.",
)
STRESSOR_NOTES = {
    StressorCategory.WORK: "Restructuring at work, worried about my job.",
    StressorCategory.FAMILY: "My dad has been in hospital.",
    StressorCategory.HEALTH: "Waiting for test results.",
    StressorCategory.RELATIONSHIPS: "Break-up with my partner.",
    StressorCategory.FINANCIAL: "Rent went up and money is tight.",
    StressorCategory.TRAUMA: "Anniversary of the accident.",
    StressorCategory.OTHER: "Moving flat.",
}
GOAL_TEMPLATES = (
    (
        "Get back into a regular walking routine",
        "Number of 20-minute walks per week",
        {
            -2: "No walks",
            -1: "1 walk a week",
            0: "3 walks a week",
            1: "4 walks a week",
            2: "5 or more walks a week",
        },
        (
            "Put walking shoes by the door",
            "Plan walk days on Sunday",
            "Ask a friend to join once a week",
        ),
    ),
    (
        "Reconnect with friends",
        "Social contacts I start each week",
        {-2: "None", -1: "1 every two weeks", 0: "1 a week", 1: "2 a week", 2: "3 or more a week"},
        ("Message one friend", "Say yes to one invitation", "Join the Thursday quiz night"),
    ),
    (
        "Sleep at regular times",
        "Nights a week in bed by 11 pm",
        {-2: "0-1 nights", -1: "2-3 nights", 0: "4-5 nights", 1: "6 nights", 2: "Every night"},
        (
            "No screens after 10:30 pm",
            "Same wake-up time every day",
            "Keep a sleep diary for 2 weeks",
        ),
    ),
    (
        "Manage worry at work",
        "Days a week I use the worry-time technique",
        {-2: "Never", -1: "1 day", 0: "3 days", 1: "4 days", 2: "Every work day"},
        (
            "Set a 15-minute worry time",
            "Write worries down instead of checking",
            "Tell my manager about workload",
        ),
    ),
)
THOUGHTS = (
    ("Colleague didn't reply to my message", "They think I'm useless", "anxious"),
    ("Stayed in bed until noon", "I'm lazy and will never get better", "ashamed"),
    ("Friend cancelled our coffee", "Nobody really wants to see me", "sad"),
)
SUPPORTERS = (
    ("Sam", "sister", ("emotional", "practical")),
    ("Alex", "friend", ("company",)),
    ("Jo", "partner", ("emotional",)),
    ("Walking group", "community group", ("company", "activity")),
    ("Dr Patel", "GP", ("advice",)),
)
SKILLS = (
    "paced_breathing",
    "thought_record",
    "grounding",
    "mindfulness",
    "journaling",
    "behavioural_activation",
)


@dataclass(frozen=True)
class Submission:
    """Answers given at one check-in, to be scored and stored by the check-in service."""

    client_id: str
    instrument_id: str
    answers: Mapping[str, int | float | None]
    completed_at: dt.datetime
    episode_id: str


@dataclass
class DemoClinic:
    """All records of the demo clinic, and the logins to print."""

    clinic: Clinic
    users: list[User] = field(default_factory=list)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (role, email, name)
    assignments: list[Assignment] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    appointments: list[Appointment] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    goal_steps: list[GoalStep] = field(default_factory=list)
    goal_reviews: list[GoalReview] = field(default_factory=list)
    journal: list[JournalEntry] = field(default_factory=list)
    reflections: list[SetbackReflection] = field(default_factory=list)
    stressors: list[Stressor] = field(default_factory=list)
    self_care: list[SelfCareEntry] = field(default_factory=list)
    skill_practice: list[SkillPractice] = field(default_factory=list)
    thought_records: list[ThoughtRecord] = field(default_factory=list)
    supporters: list[Supporter] = field(default_factory=list)
    support_contacts: list[SupportContact] = field(default_factory=list)
    topics: list[SessionTopic] = field(default_factory=list)
    sharing: list[SharingPreference] = field(default_factory=list)


def build_demo_clinic(
    *, today: dt.date | None = None, n_clients: int = 40, seed: int = 20261125
) -> DemoClinic:
    """Generate the demo clinic ending on ``today`` (default: the current date)."""
    today = today or dt.datetime.now(UTC).date()
    rng = np.random.default_rng(seed)
    start = today - dt.timedelta(days=182)
    created = _at(start - dt.timedelta(days=30), 9)
    clinic = Clinic(
        id=new_id(),
        name="Riverside Talking Therapies (demo)",
        crisis_text=CRISIS_TEXT,
        delay_notice=DELAY_NOTICE,
        instruments=("phq9", "gad7", "srs", "engagement"),
        checkin_every_days=7,
        created_at=created,
    )
    demo = DemoClinic(clinic=clinic)

    def user(role: Role, email: str, name: str, *, extra: tuple[Role, ...] = ()) -> User:
        u = User(new_id(), clinic.id, email, name, frozenset((role, *extra)), True, created)
        demo.users.append(u)
        demo.logins.append((role.value, email, name))
        return u

    user(Role.ADMIN, "admin@demo.twostep.example", "Morgan Admin")
    user(Role.RESEARCHER, "research@demo.twostep.example", "Riley Research")
    therapists = [
        user(Role.THERAPIST, "dana@demo.twostep.example", "Dana Okafor"),
        user(Role.THERAPIST, "lee@demo.twostep.example", "Lee Fischer"),
    ]
    scores = generate_episodes(
        SyntheticParams(
            n_clients=n_clients,
            seed=seed,
            paired_instrument="gad7",
            items=True,
            sessions_min=6,
            sessions_max=24,
            sessions_mean=16,
            start_date=start.isoformat(),
            enrolment_days=90,
            missing_rate=0.08,
        )
    )
    for c in range(n_clients):
        number = c + 1
        client = User(
            new_id(),
            clinic.id,
            f"client{number:02d}@demo.twostep.example",
            f"Client {number:02d}",
            frozenset({Role.CLIENT}),
            True,
            created,
        )
        demo.users.append(client)
        if number <= 3:
            demo.logins.append(("client", client.email, client.display_name))
        therapist = therapists[c % 2]
        _client_streams(demo, rng, scores, c, client, therapist, today)
    return demo


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _client_streams(
    demo: DemoClinic,
    rng: np.random.Generator,
    scores: SyntheticScores,
    c: int,
    client: User,
    therapist: User,
    today: dt.date,
) -> None:
    assert scores.items is not None
    assert scores.paired_items is not None
    rows = range(int(scores.offsets[c]), int(scores.offsets[c + 1]))
    dates = [dt.date.fromisoformat(str(scores.date[r])) for r in rows]
    first = dates[0]
    clinic_id = demo.clinic.id
    ended = bool(scores.truth.dropped_out[c]) or dates[-1] < today - dt.timedelta(days=21)
    episode = Episode(
        new_id(),
        clinic_id,
        client.id,
        first,
        dates[-1] if ended else None,
        ("dropped out" if scores.truth.dropped_out[c] else "completed treatment")
        if ended
        else None,
    )
    demo.episodes.append(episode)
    demo.assignments.append(
        Assignment(
            new_id(), clinic_id, therapist.id, client.id, _at(first - dt.timedelta(days=7), 10)
        )
    )
    archetype = str(scores.truth.archetype[c])
    stuck_tag = FOCUS_TAGS[int(rng.integers(len(FOCUS_TAGS)))]
    phq_ids = [f"item_{i}" for i in range(1, 11)]
    gad_ids = [f"item_{i}" for i in range(1, 8)]
    srs_level = float(rng.uniform(34.0, 39.0))
    severity: list[float] = []
    for k, r in enumerate(rows):
        day = dates[k]
        if day > today:
            break
        when = _at(day, 9 + int(rng.integers(0, 8)), int(rng.integers(0, 4)) * 15)
        missed = bool(np.isnan(scores.score[r]))
        if missed:
            status = AppointmentStatus.CANCELLED if rng.random() < 0.4 else AppointmentStatus.MISSED
        else:
            status = AppointmentStatus.ATTENDED
        plateau = bool(scores.truth.plateau[r])
        tags = (
            (stuck_tag,)
            if plateau or rng.random() < 0.3
            else (FOCUS_TAGS[int(rng.integers(len(FOCUS_TAGS)))],)
        )
        demo.appointments.append(
            Appointment(
                new_id(), clinic_id, episode.id, client.id, therapist.id, when, status, tags, k == 0
            )
        )
        if missed:
            continue
        # questionnaires filled in shortly before the session
        done = when - dt.timedelta(minutes=int(rng.integers(10, 120)))
        phq = {iid: _v(scores.items[r, j]) for j, iid in enumerate(phq_ids)}
        gad = {iid: _v(scores.paired_items[r, j]) for j, iid in enumerate(gad_ids)}
        demo.submissions.append(Submission(client.id, "phq9", phq, done, episode.id))
        demo.submissions.append(
            Submission(client.id, "gad7", gad, done + dt.timedelta(minutes=3), episode.id)
        )
        sev = float(scores.score[r])
        severity.append(sev)
        # engagement check: higher when stuck, lower when moving
        base = 1.9 if plateau or archetype == "non_responder" else 0.8
        engagement = {
            f"item_{i}": int(np.clip(round(base + rng.normal(0, 0.7)), 0, 3)) for i in range(1, 6)
        }
        demo.submissions.append(
            Submission(
                client.id, "engagement", engagement, done + dt.timedelta(minutes=5), episode.id
            )
        )
        # alliance after the session (SRS, 0-10 per line), with the occasional rupture
        if k >= 2 and rng.random() < 0.06:
            srs_level -= float(rng.uniform(4, 7))
        srs_level = float(np.clip(srs_level + rng.normal(0.6, 0.8), 20, 40))
        lines = np.clip(srs_level / 4 + rng.normal(0, 0.4, 4), 0, 10).round(1)
        srs = {f"item_{i + 1}": float(lines[i]) for i in range(4)}
        demo.submissions.append(
            Submission(client.id, "srs", srs, when + dt.timedelta(minutes=55), episode.id)
        )
        # between this session and the next: journal, self-care, skills, contacts
        nxt = dates[k + 1] if k + 1 < len(dates) else min(day + dt.timedelta(days=7), today)
        _week(demo, rng, client, day, min(nxt, today), sev)
        if bool(scores.truth.setback[r]) and rng.random() < 0.6:
            demo.reflections.append(
                SetbackReflection(
                    new_id(),
                    client.id,
                    when + dt.timedelta(hours=6),
                    "A rough week: I slipped back into staying in and not answering messages.",
                    "I noticed I was telling myself nothing had changed at all.",
                    "Texting my sister and going for one short walk.",
                    "A bad week doesn't wipe out what I have learned so far.",
                )
            )
    _goals(demo, rng, client, therapist, first, today, severity)
    _life(demo, rng, client, first, today)


def _v(x: float) -> int | float | None:
    if np.isnan(x):
        return None
    return int(x) if float(x).is_integer() else float(x)


def _week(
    demo: DemoClinic,
    rng: np.random.Generator,
    client: User,
    day: dt.date,
    until: dt.date,
    sev: float,
) -> None:
    span = max(1, (until - day).days)
    for _ in range(int(rng.poisson(2.0))):
        d = day + dt.timedelta(days=int(rng.integers(0, span)))
        mood = int(np.clip(round(8.5 - sev / 3.5 + rng.normal(0, 1.2)), 0, 10))
        emotions = tuple(
            sorted(set(rng.choice(EMOTIONS, size=int(rng.integers(1, 3)), replace=False)))
        )
        text = JOURNAL_SNIPPETS[int(rng.integers(len(JOURNAL_SNIPPETS)))]
        demo.journal.append(JournalEntry(new_id(), client.id, _at(d, 21), mood, emotions, text))
    for _ in range(int(rng.poisson(2.5))):
        d = day + dt.timedelta(days=int(rng.integers(0, span)))
        activity = list(SelfCareActivity)[int(rng.integers(len(SelfCareActivity)))]
        restorative = int(np.clip(round(6.5 - sev / 6 + rng.normal(0, 1.5)), 0, 10))
        demo.self_care.append(
            SelfCareEntry(new_id(), client.id, d, activity, int(rng.integers(10, 90)), restorative)
        )
    for _ in range(int(rng.poisson(1.8))):
        d = day + dt.timedelta(days=int(rng.integers(0, span)))
        skill = SKILLS[int(rng.integers(len(SKILLS)))]
        helpful = int(np.clip(round(6 + rng.normal(0, 2)), 0, 10))
        demo.skill_practice.append(
            SkillPractice(new_id(), client.id, skill, _at(d, 19, 30), helpful)
        )
        if skill == "thought_record" and rng.random() < 0.7:
            situation, thought, emotion = THOUGHTS[int(rng.integers(len(THOUGHTS)))]
            before = int(rng.integers(60, 95))
            demo.thought_records.append(
                ThoughtRecord(
                    new_id(),
                    client.id,
                    _at(d, 20),
                    situation,
                    thought,
                    emotion,
                    before,
                    "It felt true in the moment.",
                    "They have replied quickly before; people are busy.",
                    "There are other explanations; I can check instead of guessing.",
                    max(0, before - int(rng.integers(15, 45))),
                )
            )


def _goals(
    demo: DemoClinic,
    rng: np.random.Generator,
    client: User,
    therapist: User,
    first: dt.date,
    today: dt.date,
    severity: list[float],
) -> None:
    n_goals = int(rng.integers(1, 3))
    picks = rng.choice(len(GOAL_TEMPLATES), size=n_goals, replace=False)
    improvement = (severity[0] - severity[-1]) / max(severity[0], 1.0) if severity else 0.0
    for g in picks.tolist():
        title, indicator, levels, steps = GOAL_TEMPLATES[g]
        created = _at(first + dt.timedelta(days=7), 11)
        goal = Goal(
            new_id(),
            demo.clinic.id,
            client.id,
            title,
            indicator,
            levels,
            -1,
            2,
            "agreed in the formulation session",
            first + dt.timedelta(days=98),
            int(rng.integers(1, 4)),
            int(rng.integers(1, 4)),
            GoalRater.JOINT,
            28,
            None,
            created,
        )
        demo.goals.append(goal)
        for i, text in enumerate(steps):
            due = first + dt.timedelta(days=14 * (i + 1))
            done = due < today and rng.random() < 0.7
            demo.goal_steps.append(
                GoalStep(
                    new_id(), goal.id, client.id, text, due, done, _at(due, 18) if done else None
                )
            )
        review_day = first + dt.timedelta(days=35)
        n = 0
        while review_day < today - dt.timedelta(days=5):
            n += 1
            level = int(np.clip(round(-1 + n * improvement * 1.2 + rng.normal(0, 0.6)), -2, 2))
            demo.goal_reviews.append(
                GoalReview(
                    new_id(),
                    goal.id,
                    client.id,
                    _at(review_day, 15),
                    level,
                    "Reviewed together in session.",
                    therapist.id,
                )
            )
            review_day += dt.timedelta(days=28)


def _life(
    demo: DemoClinic, rng: np.random.Generator, client: User, first: dt.date, today: dt.date
) -> None:
    span = max(1, (today - first).days)
    for _ in range(int(rng.integers(0, 4))):
        cat = list(StressorCategory)[int(rng.integers(len(StressorCategory)))]
        began = first + dt.timedelta(days=int(rng.integers(0, span)))
        end = began + dt.timedelta(days=int(rng.integers(7, 60)))
        demo.stressors.append(
            Stressor(
                new_id(),
                client.id,
                cat,
                int(rng.integers(1, 6)),
                began,
                end if end < today else None,
                STRESSOR_NOTES[cat],
                _at(began, 20),
            )
        )
    chosen = rng.choice(len(SUPPORTERS), size=int(rng.integers(1, 4)), replace=False)
    for s in chosen.tolist():
        name, relation, kinds = SUPPORTERS[s]
        supporter = Supporter(
            new_id(),
            client.id,
            name,
            relation,
            kinds,
            relation == "community group",
            _at(first, 12),
        )
        demo.supporters.append(supporter)
        day = first + dt.timedelta(days=int(rng.integers(1, 10)))
        while day < today:
            demo.support_contacts.append(
                SupportContact(
                    new_id(),
                    client.id,
                    supporter.id,
                    day,
                    "phone" if rng.random() < 0.4 else "in_person",
                    int(np.clip(round(7 + rng.normal(0, 2)), 0, 10)),
                )
            )
            day += dt.timedelta(days=int(rng.integers(5, 16)))
    if rng.random() < 0.6:
        demo.topics.append(
            SessionTopic(
                new_id(),
                client.id,
                _at(today - dt.timedelta(days=int(rng.integers(1, 6))), 20),
                "I'd like to talk about how to keep going when I have a bad week.",
            )
        )
    if rng.random() < 0.25:
        from twostep.domain.records import EntryKind

        demo.sharing.append(
            SharingPreference(client.id, EntryKind.JOURNAL_TEXT, True, _at(first, 12))
        )
