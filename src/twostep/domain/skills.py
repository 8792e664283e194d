"""The coping-skill library: short instructions written by the twostep developers.

Six skills clients can practise between sessions (issue 4): paced breathing,
thought record, grounding (5-4-3-2-1), mindfulness, journaling and
behavioural activation. Each has an id (stored in
`twostep.domain.records.SkillPractice.skill_id`), a name, a one-line purpose
and three to six short steps. Paced breathing also carries the timing the web
timer uses.

The text is for clients who may be struggling: plain, kind and short, in the
second person, at Flesch–Kincaid grade 8 or below (checked by a test). It is
our own wording (Apache-2.0, like the rest of twostep), general self-help and
not a treatment protocol; a therapist may suggest which skill to try.
"""

from __future__ import annotations

from dataclasses import dataclass

from twostep.errors import NotFoundError

__all__ = ["SKILLS", "SKILL_IDS", "BreathingTiming", "Skill", "get_skill"]


@dataclass(frozen=True)
class BreathingTiming:
    """One breathing cycle for the guided timer: in, hold, out, pause (seconds)."""

    inhale_seconds: float = 4.0
    hold_seconds: float = 0.0
    exhale_seconds: float = 6.0
    pause_seconds: float = 0.0
    default_minutes: int = 3

    @property
    def cycle_seconds(self) -> float:
        return self.inhale_seconds + self.hold_seconds + self.exhale_seconds + self.pause_seconds

    @property
    def breaths_per_minute(self) -> float:
        return 60.0 / self.cycle_seconds


@dataclass(frozen=True)
class Skill:
    """One coping skill: what it is for and how to do it."""

    id: str
    name: str
    purpose: str
    steps: tuple[str, ...]
    timing: BreathingTiming | None = None

    @property
    def client_texts(self) -> tuple[str, ...]:
        """Every text a client reads (for readability checks)."""
        return (self.name, self.purpose, *self.steps)


SKILLS: tuple[Skill, ...] = (
    Skill(
        id="paced_breathing",
        name="Paced breathing",
        purpose="Slow breathing can calm your body when you feel tense or upset.",
        steps=(
            "Sit or lie down in a way that feels okay for you.",
            "Breathe in gently through your nose while you count to four.",
            "Breathe out slowly through your mouth while you count to six.",
            "Keep going for a few minutes. Follow the timer if it helps.",
            "If you feel dizzy, stop and breathe in your usual way.",
        ),
        timing=BreathingTiming(inhale_seconds=4.0, exhale_seconds=6.0, default_minutes=3),
    ),
    Skill(
        id="thought_record",
        name="Thought record",
        purpose="Writing a thought down helps you look at it and find a fairer way to see things.",
        steps=(
            "Write down what happened, in a few words.",
            "Write the thought that went through your mind.",
            "Name the feeling and rate how strong it was, from 0 to 100.",
            "List what supports the thought and what does not.",
            "Write a kinder, more balanced thought.",
            "Rate the feeling again and notice any change.",
        ),
    ),
    Skill(
        id="grounding",
        name="Grounding (5-4-3-2-1)",
        purpose="Using your senses can bring you back to the here and now when you feel overwhelmed.",
        steps=(
            "Look around and name five things you can see.",
            "Notice four things you can feel, like your feet on the floor.",
            "Listen for three things you can hear.",
            "Find two things you can smell, or two smells you like.",
            "Notice one thing you can taste, or take a sip of water.",
        ),
    ),
    Skill(
        id="mindfulness",
        name="Mindfulness (body and breath)",
        purpose="A few quiet minutes of noticing your breath and body can ease a busy mind.",
        steps=(
            "Sit comfortably and close your eyes or look down.",
            "Notice your breath going in and out. You do not need to change it.",
            "Move your attention slowly from your feet up to your head.",
            "When your mind wanders, gently bring it back to your breath.",
            "After a few minutes, open your eyes and notice how you feel.",
        ),
    ),
    Skill(
        id="journaling",
        name="Journaling",
        purpose="Writing about your day can help you sort out your feelings and spot patterns.",
        steps=(
            "Pick a quiet moment and give yourself five or ten minutes.",
            "Write what happened today and how you felt about it.",
            "Do not worry about spelling. This is just for you.",
            "End with one thing that went okay, however small.",
        ),
    ),
    Skill(
        id="behavioural_activation",
        name="Behavioural activation",
        purpose="Doing small things that matter to you can lift your mood, even before you feel like it.",
        steps=(
            "Choose one small activity you used to enjoy or that matters to you.",
            "Plan when you will do it, and make it easy to start.",
            "Do it, even if you do not feel like it at first.",
            "Afterwards, rate how much you enjoyed it and how much it helped.",
            "Plan the next small step.",
        ),
    ),
)

SKILL_IDS: tuple[str, ...] = tuple(s.id for s in SKILLS)
_BY_ID = {s.id: s for s in SKILLS}


def get_skill(skill_id: str) -> Skill:
    """The skill with this id (`NotFoundError` for an unknown id)."""
    try:
        return _BY_ID[skill_id]
    except KeyError:
        raise NotFoundError(f"no coping skill {skill_id!r}") from None
