"""What a client keeps between sessions, as FHIR R4 resources (for their own data export).

Choice: every dated entry is an ``Observation`` (status final, subject the
client) coded in the twostep code system ``{base}/CodeSystem/client-records``
(`CODES`), with its numbers as the value or as components and its free text
as ``valueString`` components or an Annotation ``note``. Observation is the
resource FHIR itself uses for patient-reported, dated facts ("social
history", "activity", "therapy", "survey" categories), it validates without
invented profiles, and it keeps every entry on one time axis. People in the
support network are ``RelatedPerson``s (group supporters carry the
``supporter-is-group`` extension).

=====================  ====================  ==========================================
record                 category              value / components / note
=====================  ====================  ==========================================
JournalEntry           survey                valueInteger mood 0-10; ``emotion``
                                             components; note = journal text
SetbackReflection      survey                ``what-happened`` … ``what-i-learned``
Stressor               social-history        valueCodeableConcept ``stressor.<category>``;
                                             effectivePeriod; ``severity``; note
SelfCareEntry          activity              valueCodeableConcept ``self-care.<activity>``;
                                             ``duration`` (UCUM min); ``restorative``
SkillPractice          therapy               valueCodeableConcept skill id
                                             (``{base}/CodeSystem/skills``); ``helpfulness``
ThoughtRecord          therapy               components for each field; intensities
SupportContact         social-history        valueInteger helpful; ``mode``; focus =
                                             the RelatedPerson
SessionTopic           survey                valueString; ``addressed-at``
=====================  ====================  ==========================================

Empty strings are left out (FHIR strings may not be empty).
"""

from __future__ import annotations

from collections.abc import Mapping

from twostep.domain.records import (
    JournalEntry,
    SelfCareEntry,
    SessionTopic,
    SetbackReflection,
    SkillPractice,
    Stressor,
    SupportContact,
    Supporter,
    ThoughtRecord,
)
from twostep.interop.fhir.datetimes import format_date, format_datetime
from twostep.interop.fhir.jsonio import JSONObject, JSONValue
from twostep.interop.fhir.naming import (
    DEFAULT_BASE,
    OBSERVATION_CATEGORY,
    UCUM,
    Naming,
    require_id,
)

#: Codes of ``{base}/CodeSystem/client-records`` and their displays.
CODES: Mapping[str, str] = {
    "journal-entry": "Journal entry",
    "emotion": "Emotion",
    "setback-reflection": "Setback reflection",
    "what-happened": "What happened",
    "what-i-noticed": "What I noticed",
    "what-helped": "What helped",
    "what-i-learned": "What I learned",
    "stressor": "Stressor or life event",
    "severity": "Severity (1-5)",
    "self-care": "Self-care activity",
    "duration": "Duration",
    "restorative": "Was it restorative? (0-10)",
    "skill-practice": "Coping-skill practice",
    "helpfulness": "Helpfulness (0-10)",
    "thought-record": "Thought record",
    "situation": "Situation",
    "automatic-thought": "Automatic thought",
    "emotion-intensity": "Emotion intensity (0-100)",
    "evidence-for": "Evidence for",
    "evidence-against": "Evidence against",
    "balanced-thought": "Balanced thought",
    "rerated-intensity": "Re-rated intensity (0-100)",
    "support-contact": "Contact with a supporter",
    "contact-mode": "Mode of contact",
    "helpful": "How helpful (0-10)",
    "session-topic": "Topic for the next session",
    "addressed-at": "Addressed at",
}
_CATEGORY_DISPLAY = {
    "survey": "Survey",
    "social-history": "Social History",
    "activity": "Activity",
    "therapy": "Therapy",
}


def _concept(naming: Naming, code: str, display: str | None = None) -> JSONObject:
    return {
        "coding": [
            {"system": naming.records_system, "code": code, "display": display or CODES[code]}
        ]
    }


def _observation(
    naming: Naming, record_id: str, client_id: str, code: str, category: str
) -> JSONObject:
    return {
        "resourceType": "Observation",
        "id": require_id(record_id, f"{code} id"),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": category,
                        "display": _CATEGORY_DISPLAY[category],
                    }
                ]
            }
        ],
        "code": _concept(naming, code),
        "subject": {"reference": f"Patient/{require_id(client_id, 'client id')}"},
    }


def _text(naming: Naming, code: str, text: str) -> list[JSONValue]:
    return [{"code": _concept(naming, code), "valueString": text}] if text.strip() else []


def _int(naming: Naming, code: str, value: int | None) -> list[JSONValue]:
    return [] if value is None else [{"code": _concept(naming, code), "valueInteger": value}]


def _finish(out: JSONObject, components: list[JSONValue], note: str = "") -> JSONObject:
    if components:
        out["component"] = components
    if note.strip():
        out["note"] = [{"text": note}]
    return out


def journal_observation(entry: JournalEntry, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A journal entry: mood as the value, emotions as components, text as the note."""
    naming = Naming(base)
    out = _observation(naming, entry.id, entry.client_id, "journal-entry", "survey")
    out["effectiveDateTime"] = format_datetime(entry.created_at)
    if entry.mood is not None:
        out["valueInteger"] = entry.mood
    comps: list[JSONValue] = []
    for emotion in entry.emotions:
        comps += _text(naming, "emotion", emotion)
    return _finish(out, comps, entry.text)


def reflection_observation(entry: SetbackReflection, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A setback reflection: its four prompts as string components."""
    naming = Naming(base)
    out = _observation(naming, entry.id, entry.client_id, "setback-reflection", "survey")
    out["effectiveDateTime"] = format_datetime(entry.created_at)
    comps = [
        *_text(naming, "what-happened", entry.what_happened),
        *_text(naming, "what-i-noticed", entry.what_i_noticed),
        *_text(naming, "what-helped", entry.what_helped),
        *_text(naming, "what-i-learned", entry.what_i_learned),
    ]
    return _finish(out, comps)


def stressor_observation(entry: Stressor, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A stressor or life event: category as the value, its period, severity component."""
    naming = Naming(base)
    out = _observation(naming, entry.id, entry.client_id, "stressor", "social-history")
    period: JSONObject = {"start": format_date(entry.started_on)}
    if entry.ended_on is not None:
        period["end"] = format_date(entry.ended_on)
    out["effectivePeriod"] = period
    if entry.created_at is not None:
        out["issued"] = format_datetime(entry.created_at)
    category = entry.category.value
    out["valueCodeableConcept"] = _concept(naming, f"stressor.{category}", f"Stressor: {category}")
    return _finish(out, _int(naming, "severity", entry.severity), entry.description)


def self_care_observation(entry: SelfCareEntry, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A self-care entry: activity as the value, duration and restorative rating components."""
    naming = Naming(base)
    out = _observation(naming, entry.id, entry.client_id, "self-care", "activity")
    out["effectiveDateTime"] = format_date(entry.done_on)
    activity = entry.activity.value
    out["valueCodeableConcept"] = _concept(
        naming, f"self-care.{activity}", f"Self-care: {activity}"
    )
    comps: list[JSONValue] = []
    if entry.minutes is not None:
        comps.append(
            {
                "code": _concept(naming, "duration"),
                "valueQuantity": {
                    "value": entry.minutes,
                    "unit": "min",
                    "system": UCUM,
                    "code": "min",
                },
            }
        )
    comps += _int(naming, "restorative", entry.restorative)
    return _finish(out, comps, entry.note)


def skill_observation(entry: SkillPractice, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A coping-skill practice: the skill as the value, helpfulness component, note."""
    naming = Naming(base)
    out = _observation(naming, entry.id, entry.client_id, "skill-practice", "therapy")
    out["effectiveDateTime"] = format_datetime(entry.practiced_at)
    out["valueCodeableConcept"] = {
        "coding": [{"system": f"{naming.base}/CodeSystem/skills", "code": entry.skill_id}],
        "text": entry.skill_id,
    }
    return _finish(out, _int(naming, "helpfulness", entry.helpfulness), entry.note)


def thought_record_observation(entry: ThoughtRecord, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A thought record: each field a component (texts as strings, intensities as integers)."""
    naming = Naming(base)
    out = _observation(naming, entry.id, entry.client_id, "thought-record", "therapy")
    out["effectiveDateTime"] = format_datetime(entry.created_at)
    comps = [
        *_text(naming, "situation", entry.situation),
        *_text(naming, "automatic-thought", entry.automatic_thought),
        *_text(naming, "emotion", entry.emotion),
        *_int(naming, "emotion-intensity", entry.intensity),
        *_text(naming, "evidence-for", entry.evidence_for),
        *_text(naming, "evidence-against", entry.evidence_against),
        *_text(naming, "balanced-thought", entry.balanced_thought),
        *_int(naming, "rerated-intensity", entry.rerated_intensity),
    ]
    return _finish(out, comps)


def supporter_person(entry: Supporter, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A person or group in the support network as a RelatedPerson."""
    naming = Naming(base)
    ext: list[JSONValue] = [
        {"url": naming.extension("support-kind"), "valueString": kind}
        for kind in entry.support_kinds
        if kind.strip()
    ]
    ext.append({"url": naming.extension("supporter-is-group"), "valueBoolean": entry.is_group})
    out: JSONObject = {
        "resourceType": "RelatedPerson",
        "id": require_id(entry.id, "supporter id"),
        "extension": ext,
        "active": True,
        "patient": {"reference": f"Patient/{require_id(entry.client_id, 'client id')}"},
    }
    if entry.relation.strip():
        out["relationship"] = [{"text": entry.relation}]
    if entry.name.strip():
        out["name"] = [{"text": entry.name}]
    return out


def support_contact_observation(entry: SupportContact, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A contact with a supporter: helpfulness as the value, mode component, focus the supporter."""
    naming = Naming(base)
    out = _observation(naming, entry.id, entry.client_id, "support-contact", "social-history")
    out["effectiveDateTime"] = format_date(entry.contacted_on)
    out["focus"] = [
        {"reference": f"RelatedPerson/{require_id(entry.supporter_id, 'supporter id')}"}
    ]
    if entry.helpful is not None:
        out["valueInteger"] = entry.helpful
    comps: list[JSONValue] = []
    if entry.mode.strip():
        comps.append(
            {
                "code": _concept(naming, "contact-mode"),
                "valueCodeableConcept": _concept(
                    naming, f"contact-mode.{entry.mode}", f"Contact: {entry.mode}"
                ),
            }
        )
    return _finish(out, comps)


def session_topic_observation(entry: SessionTopic, *, base: str = DEFAULT_BASE) -> JSONObject:
    """A topic for the next session: the text as the value, when it was addressed."""
    naming = Naming(base)
    out = _observation(naming, entry.id, entry.client_id, "session-topic", "survey")
    out["effectiveDateTime"] = format_datetime(entry.created_at)
    if entry.text.strip():
        out["valueString"] = entry.text
    comps: list[JSONValue] = []
    if entry.addressed_at is not None:
        comps.append(
            {
                "code": _concept(naming, "addressed-at"),
                "valueDateTime": format_datetime(entry.addressed_at),
            }
        )
    return _finish(out, comps)
