"""SMART goals with Goal Attainment Scaling as FHIR R4 ``Goal``, ``Observation`` and ``Task``.

The shape follows the HL7 Person-Centered Outcomes (PCO) guide's GAS pattern
(methods.md §7): the ``Goal`` carries the five level descriptors, its
``target.measure`` is LOINC 107332-9 "Goal attainment scale" with the
expected level (0, LA34481-4) as ``detailCodeableConcept``, and each review
is an ``Observation`` whose ``focus`` is the Goal and whose value is the
attained level as an answer of LOINC list LL6900-6 (LA34479-8 +2 … LA34484-8
−2). A review's code follows who rates the goal: 107334-5 patient follow-up
(client), 107333-7 practitioner follow-up (clinician), 107332-9 for joint
ratings.

``achievementStatus`` (terminology.hl7.org goal-achievement) comes from the
latest review that has a level: at or above the expected level (≥ 0)
``achieved``; above the baseline ``improving``; at the baseline
``no-change``; below it ``worsening``; no rated review ``in-progress``.

SMART fields without a FHIR element travel as twostep extensions
(``{base}/StructureDefinition/goal-*``): level descriptors
(``goal-attainment-level``: ``level`` Coding + ``text`` string, as PCO's
``gas-scaling``), baseline level, measurable indicator, relevance, importance,
difficulty, weight, achievability, rater and review interval. Goal steps are
``Task``s whose ``focus`` is the Goal.
"""

from __future__ import annotations

from collections.abc import Sequence

from twostep.domain.records import Goal, GoalRater, GoalReview, GoalStep
from twostep.interop.fhir.datetimes import format_date, format_datetime
from twostep.interop.fhir.jsonio import JSONObject, JSONValue
from twostep.interop.fhir.naming import (
    DATA_ABSENT_REASON,
    DEFAULT_BASE,
    GAS_LEVELS,
    GAS_PATIENT_FOLLOW_UP,
    GAS_PRACTITIONER_FOLLOW_UP,
    GAS_SCALE,
    GOAL_ACHIEVEMENT,
    GOAL_PRIORITY,
    LOINC,
    OBSERVATION_CATEGORY,
    Naming,
    require_id,
)

_REVIEW_CODES = {
    GoalRater.CLIENT: (GAS_PATIENT_FOLLOW_UP, "Patient follow-up goal attainment scaling score"),
    GoalRater.CLINICIAN: (
        GAS_PRACTITIONER_FOLLOW_UP,
        "Practitioner follow-up goal attainment scaling score",
    ),
    GoalRater.JOINT: (GAS_SCALE, "Goal attainment scale"),
}
_ACHIEVEMENT_DISPLAY = {
    "achieved": "Achieved",
    "improving": "Improving",
    "no-change": "No Change",
    "worsening": "Worsening",
    "in-progress": "In Progress",
}


def level_coding(level: int) -> JSONObject:
    """The LOINC answer (list LL6900-6) for GAS level ``level`` (−2..+2)."""
    if level not in GAS_LEVELS:
        raise ValueError(f"GAS level must be -2..+2, got {level}")
    code, display = GAS_LEVELS[level]
    return {"system": LOINC, "code": code, "display": display}


def achievement_status(goal: Goal, reviews: Sequence[GoalReview]) -> str:
    """goal-achievement code from the latest rated review (rules in the module docstring)."""
    rated = [r for r in reviews if r.goal_id == goal.id and r.attained_level is not None]
    if not rated:
        return "in-progress"
    latest = max(rated, key=lambda r: r.reviewed_at)
    level = latest.attained_level
    assert level is not None
    if level >= 0:
        return "achieved"
    if level > goal.baseline_level:
        return "improving"
    if level == goal.baseline_level:
        return "no-change"
    return "worsening"


def _priority(importance: int) -> JSONObject:
    code = (
        "high-priority"
        if importance >= 3
        else "medium-priority"
        if importance == 2
        else "low-priority"
    )
    display = {"high-priority": "High Priority", "medium-priority": "Medium Priority"}.get(
        code, "Low Priority"
    )
    return {"coding": [{"system": GOAL_PRIORITY, "code": code, "display": display}]}


def _extensions(goal: Goal, naming: Naming) -> list[JSONValue]:
    ext: list[JSONValue] = []
    for level in sorted(goal.levels, reverse=True):
        text = goal.levels[level]
        if text.strip():
            ext.append(
                {
                    "url": naming.extension("goal-attainment-level"),
                    "extension": [
                        {"url": "level", "valueCoding": level_coding(level)},
                        {"url": "text", "valueString": text},
                    ],
                }
            )
    ext.append(
        {
            "url": naming.extension("goal-baseline-level"),
            "valueCoding": level_coding(goal.baseline_level),
        }
    )
    for name, text in (
        ("goal-measurable-indicator", goal.measurable_indicator),
        ("goal-relevant-to", goal.relevant_to),
    ):
        if text.strip():
            ext.append({"url": naming.extension(name), "valueString": text})
    ext.append({"url": naming.extension("goal-importance"), "valueInteger": goal.importance})
    ext.append({"url": naming.extension("goal-difficulty"), "valueInteger": goal.difficulty})
    if goal.achievable_rating is not None:
        ext.append(
            {
                "url": naming.extension("goal-achievable-rating"),
                "valueInteger": goal.achievable_rating,
            }
        )
    if goal.weight is not None:
        ext.append({"url": naming.extension("goal-weight"), "valueDecimal": goal.weight})
    ext.append({"url": naming.extension("goal-rater"), "valueCode": goal.rater.value})
    ext.append(
        {
            "url": naming.extension("goal-review-every-days"),
            "valueInteger": goal.review_every_days,
        }
    )
    return ext


def goal_resource(
    goal: Goal, reviews: Sequence[GoalReview] = (), *, base: str = DEFAULT_BASE
) -> JSONObject:
    """The FHIR R4 Goal for ``goal``; ``reviews`` give achievementStatus, notes and outcomes."""
    naming = Naming(base)
    mine = sorted((r for r in reviews if r.goal_id == goal.id), key=lambda r: r.reviewed_at)
    status = achievement_status(goal, mine)
    target: JSONObject = {
        "measure": {
            "coding": [{"system": LOINC, "code": GAS_SCALE, "display": "Goal attainment scale"}]
        },
        "detailCodeableConcept": {"coding": [level_coding(0)]},
    }
    if goal.target_date is not None:
        target["dueDate"] = format_date(goal.target_date)
    out: JSONObject = {
        "resourceType": "Goal",
        "id": require_id(goal.id, "goal id"),
        "extension": _extensions(goal, naming),
        "lifecycleStatus": "completed" if goal.closed_at is not None else "active",
        "achievementStatus": {
            "coding": [
                {
                    "system": GOAL_ACHIEVEMENT,
                    "code": status,
                    "display": _ACHIEVEMENT_DISPLAY[status],
                }
            ]
        },
        "priority": _priority(goal.importance),
        "description": {"text": goal.specific_description},
        "subject": {"reference": f"Patient/{require_id(goal.client_id, 'client id')}"},
        "target": [target],
    }
    if goal.created_at is not None:
        out["startDate"] = format_date(goal.created_at.date())
    if goal.closed_at is not None:
        out["statusDate"] = format_date(goal.closed_at.date())
    if goal.rater is GoalRater.CLIENT:
        out["expressedBy"] = {"reference": f"Patient/{goal.client_id}"}
    notes: list[JSONValue] = [
        {"time": format_datetime(r.reviewed_at), "text": r.notes} for r in mine if r.notes.strip()
    ]
    if notes:
        out["note"] = notes
    if mine:
        out["outcomeReference"] = [{"reference": f"Observation/{r.id}"} for r in mine]
    return out


def goal_review_observation(
    review: GoalReview, goal: Goal, *, base: str = DEFAULT_BASE
) -> JSONObject:
    """One goal review as a GAS follow-up Observation (``focus`` = the Goal)."""
    Naming(base)
    if review.goal_id != goal.id or review.client_id != goal.client_id:
        raise ValueError("the review belongs to another goal or client")
    code, display = _REVIEW_CODES[goal.rater]
    out: JSONObject = {
        "resourceType": "Observation",
        "id": require_id(review.id, "review id"),
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{require_id(goal.client_id, 'client id')}"},
        "focus": [{"reference": f"Goal/{goal.id}"}],
        "effectiveDateTime": format_datetime(review.reviewed_at),
    }
    if review.attained_level is not None:
        out["valueCodeableConcept"] = {
            "coding": [level_coding(review.attained_level)],
            "text": f"{review.attained_level:+d}",
        }
    else:
        out["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT_REASON, "code": "unknown", "display": "Unknown"}],
            "text": "not rated at this review",
        }
    if review.notes.strip():
        out["note"] = [{"text": review.notes}]
    return out


def goal_step_task(step: GoalStep, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A goal step as a Task (``focus`` = the Goal; ``restriction.period.end`` = due date)."""
    Naming(base)
    out: JSONObject = {
        "resourceType": "Task",
        "id": require_id(step.id, "step id"),
        "status": "completed" if step.done else "requested",
        "intent": "plan",
        "focus": {"reference": f"Goal/{step.goal_id}"},
        "for": {"reference": f"Patient/{require_id(step.client_id, 'client id')}"},
    }
    if step.text.strip():
        out["description"] = step.text
    if step.due_on is not None:
        out["restriction"] = {"period": {"end": format_date(step.due_on)}}
    if step.done_at is not None:
        out["executionPeriod"] = {"end": format_datetime(step.done_at)}
    return out
