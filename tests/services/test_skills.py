"""The coping-skill library: complete, short, and readable (Flesch–Kincaid grade <= 8)."""

from __future__ import annotations

import pytest
import textstat

from twostep.domain.skills import SKILL_IDS, SKILLS, get_skill
from twostep.errors import NotFoundError


def test_the_six_skills_of_issue_4() -> None:
    assert SKILL_IDS == (
        "paced_breathing",
        "thought_record",
        "grounding",
        "mindfulness",
        "journaling",
        "behavioural_activation",
    )


@pytest.mark.parametrize("skill", SKILLS, ids=SKILL_IDS)
def test_each_skill_is_short_and_plain(skill: object) -> None:
    from twostep.domain.skills import Skill

    assert isinstance(skill, Skill)
    assert skill.name
    assert skill.purpose.endswith(".")
    assert len(skill.purpose) <= 120
    assert 3 <= len(skill.steps) <= 6
    for text in (skill.purpose, *skill.steps):
        assert len(text) <= 120
        assert textstat.flesch_kincaid_grade(text) <= 8, text
    assert textstat.flesch_kincaid_grade(" ".join(skill.client_texts)) <= 8


def test_paced_breathing_has_the_timer_timing() -> None:
    timing = get_skill("paced_breathing").timing
    assert timing is not None
    assert (timing.inhale_seconds, timing.exhale_seconds) == (4.0, 6.0)
    assert timing.cycle_seconds == 10.0
    assert timing.breaths_per_minute == 6.0
    assert all(s.timing is None for s in SKILLS if s.id != "paced_breathing")


def test_unknown_skill() -> None:
    with pytest.raises(NotFoundError):
        get_skill("juggling")
