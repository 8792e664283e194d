"""Export scored administrations and a client's whole record as FHIR R4 JSON.

Scores (methods.md §13, after US Core's survey Observation):

* the ``QuestionnaireResponse`` itself — ``id`` the administration id,
  ``identifier`` ``{base}/identifier/administration`` + that id (so a
  re-import is idempotent and gives back the same id), ``questionnaire``
  ``{base}/Questionnaire/{id}|{version}``, ``status`` completed (amended for
  version > 1), ``authored`` = completed-at with its offset, one item per
  answered or explicitly unanswered catalogue item (an item key present with
  None is exported as an item without answer, an absent key not at all, so
  the answers mapping round-trips exactly), item text only where the licence
  allows it;
* an ``Observation`` per scored administration: status final, category
  ``survey``, ``code`` the total-score LOINC (never the panel code) or the
  twostep code ``<instrument>.total``, ``valueQuantity`` with UCUM
  ``{score}``, ``effectiveDateTime`` with offset, ``issued`` = received-at,
  ``derivedFrom`` the QuestionnaireResponse, the severity band as
  ``interpretation`` text and subscales (PCL-5 clusters, WAI-SR task/goal/
  bond) as components coded ``<instrument>.<subscale>``. An administration
  without a total (too many items missing) gets no Observation.

`client_bundle` gathers everything a client holds into one ``Bundle`` of type
``collection`` for their own data export (GDPR Art. 20): a minimal Patient
(id only: no name, birth date or other identifying data the client did not
enter themselves), the Questionnaires used, QuestionnaireResponses, score
Observations, Goals with their review Observations and step Tasks, and the
between-session records (`twostep.interop.fhir.between_sessions`). Every
record must belong to the client; anything else is a programming error and
raises ValueError rather than leaking another client's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from twostep.domain.records import (
    Administration,
    Goal,
    GoalReview,
    GoalStep,
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
from twostep.instruments.model import Instrument, Item
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.interop.fhir import between_sessions as bs
from twostep.interop.fhir.datetimes import format_datetime
from twostep.interop.fhir.goals import goal_resource, goal_review_observation, goal_step_task
from twostep.interop.fhir.jsonio import JSONObject, JSONValue
from twostep.interop.fhir.naming import (
    DEFAULT_BASE,
    LOINC,
    OBSERVATION_CATEGORY,
    UCUM,
    Naming,
    require_id,
)
from twostep.interop.fhir.questionnaire import answer_coding, questionnaire


def _catalogue(catalogue: Catalogue | None) -> Catalogue:
    return catalogue if catalogue is not None else default_catalogue()


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _answer(ins: Instrument, item: Item, value: float, naming: Naming) -> JSONObject:
    scale = item.scale
    if scale.kind == "choice":
        for option in scale.options:
            if float(option.value) == float(value):
                return {"valueCoding": answer_coding(ins, scale, option, naming)}
        raise ValueError(f"{ins.short_name} {item.id}: {value!r} is not an answer option")
    return {"valueDecimal": float(value)}


def _patient(client_id: str) -> JSONObject:
    return {"reference": f"Patient/{require_id(client_id, 'client id')}"}


def questionnaire_response(
    administration: Administration,
    *,
    catalogue: Catalogue | None = None,
    base: str = DEFAULT_BASE,
) -> JSONObject:
    """The QuestionnaireResponse of ``administration`` (shape in the module docstring)."""
    adm = administration
    naming = Naming(base)
    ins = _catalogue(catalogue).get(adm.instrument_id)
    unknown = sorted(set(adm.answers) - set(ins.item_ids))
    if unknown:
        raise ValueError(f"{ins.short_name} has no item(s) {', '.join(unknown)}")
    items: list[JSONValue] = []
    for item in ins.items:
        if item.id not in adm.answers:
            continue
        entry: JSONObject = {"linkId": item.id}
        if ins.shows_item_text and item.text:
            entry["text"] = item.text
        value = adm.answers[item.id]
        if value is not None:
            entry["answer"] = [_answer(ins, item, value, naming)]
        items.append(entry)
    out: JSONObject = {
        "resourceType": "QuestionnaireResponse",
        "id": require_id(adm.id, "administration id"),
        "identifier": {"system": naming.administration_system, "value": adm.id},
        "questionnaire": f"{naming.questionnaire_url(ins.id)}|{ins.version}",
        "status": "amended" if adm.version > 1 else "completed",
        "subject": _patient(adm.client_id),
        "authored": format_datetime(adm.completed_at),
    }
    if items:
        out["item"] = items
    return out


def _quantity(value: float) -> JSONObject:
    return {"value": _number(value), "unit": "{score}", "system": UCUM, "code": "{score}"}


def score_observation(
    administration: Administration,
    *,
    catalogue: Catalogue | None = None,
    base: str = DEFAULT_BASE,
) -> JSONObject | None:
    """The total-score Observation of ``administration``; None if it has no total."""
    adm = administration
    if adm.total is None:
        return None
    naming = Naming(base)
    ins = _catalogue(catalogue).get(adm.instrument_id)
    if ins.loinc.total:
        coding: JSONObject = {"system": LOINC, "code": ins.loinc.total}
    else:
        coding = {
            "system": naming.instruments_system,
            "code": f"{ins.id}.total",
            "display": f"{ins.short_name} total score",
        }
    out: JSONObject = {
        "resourceType": "Observation",
        "id": require_id(adm.id, "administration id"),
        "status": "amended" if adm.version > 1 else "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [coding], "text": f"{ins.short_name} total score"},
        "subject": _patient(adm.client_id),
        "effectiveDateTime": format_datetime(adm.completed_at),
        "issued": format_datetime(adm.received_at),
        "valueQuantity": _quantity(adm.total),
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{adm.id}"}],
    }
    if adm.band:
        out["interpretation"] = [{"text": adm.band}]
    components: list[JSONValue] = []
    for sub in ins.subscales:
        value = adm.subscales.get(sub.id)
        if value is None:
            continue
        components.append(
            {
                "code": {
                    "coding": [
                        {
                            "system": naming.instruments_system,
                            "code": f"{ins.id}.{sub.id}",
                            "display": f"{ins.short_name} {sub.name}",
                        }
                    ]
                },
                "valueQuantity": _quantity(value),
            }
        )
    if components:
        out["component"] = components
    return out


@dataclass(frozen=True)
class ClientRecords:
    """Everything one client holds, as the storage layer returns it."""

    client_id: str
    administrations: Sequence[Administration] = ()
    goals: Sequence[Goal] = ()
    goal_reviews: Sequence[GoalReview] = ()
    goal_steps: Sequence[GoalStep] = ()
    journal: Sequence[JournalEntry] = ()
    reflections: Sequence[SetbackReflection] = ()
    stressors: Sequence[Stressor] = ()
    self_care: Sequence[SelfCareEntry] = ()
    skills: Sequence[SkillPractice] = ()
    thought_records: Sequence[ThoughtRecord] = ()
    supporters: Sequence[Supporter] = ()
    support_contacts: Sequence[SupportContact] = ()
    topics: Sequence[SessionTopic] = ()

    def check_owner(self) -> None:
        """ValueError if any record belongs to another client."""
        groups: list[Sequence[object]] = [
            self.administrations,
            self.goals,
            self.goal_reviews,
            self.goal_steps,
            self.journal,
            self.reflections,
            self.stressors,
            self.self_care,
            self.skills,
            self.thought_records,
            self.supporters,
            self.support_contacts,
            self.topics,
        ]
        for group in groups:
            for record in group:
                owner = getattr(record, "client_id", None)
                if owner != self.client_id:
                    raise ValueError(
                        f"a {type(record).__name__} of another client is in the export of "
                        f"client {self.client_id}"
                    )


def client_bundle(
    records: ClientRecords,
    *,
    catalogue: Catalogue | None = None,
    base: str = DEFAULT_BASE,
    timestamp: datetime | None = None,
    include_questionnaires: bool = True,
) -> JSONObject:
    """A ``collection`` Bundle of everything ``records`` holds (see the module docstring)."""
    records.check_owner()
    naming = Naming(base)
    cat = _catalogue(catalogue)
    resources: list[JSONObject] = [
        {"resourceType": "Patient", "id": require_id(records.client_id, "client id")}
    ]
    if include_questionnaires:
        used = sorted({a.instrument_id for a in records.administrations})
        resources += [questionnaire(cat.get(i), base=base) for i in used]
    for adm in sorted(records.administrations, key=lambda a: (a.completed_at, a.id)):
        resources.append(questionnaire_response(adm, catalogue=cat, base=base))
        obs = score_observation(adm, catalogue=cat, base=base)
        if obs is not None:
            resources.append(obs)
    goals = {g.id: g for g in records.goals}
    for review in records.goal_reviews:
        if review.goal_id not in goals:
            raise ValueError("a goal review refers to a goal that is not in the export")
    for goal in records.goals:
        resources.append(goal_resource(goal, records.goal_reviews, base=base))
        for review in sorted(
            (r for r in records.goal_reviews if r.goal_id == goal.id), key=lambda r: r.reviewed_at
        ):
            resources.append(goal_review_observation(review, goal, base=base))
    resources += [goal_step_task(s, base=base) for s in records.goal_steps]
    resources += [bs.journal_observation(e, base=base) for e in records.journal]
    resources += [bs.reflection_observation(e, base=base) for e in records.reflections]
    resources += [bs.stressor_observation(e, base=base) for e in records.stressors]
    resources += [bs.self_care_observation(e, base=base) for e in records.self_care]
    resources += [bs.skill_observation(e, base=base) for e in records.skills]
    resources += [bs.thought_record_observation(e, base=base) for e in records.thought_records]
    resources += [bs.supporter_person(e, base=base) for e in records.supporters]
    resources += [bs.support_contact_observation(e, base=base) for e in records.support_contacts]
    resources += [bs.session_topic_observation(e, base=base) for e in records.topics]
    entries: list[JSONValue] = []
    seen: set[str] = set()
    for res in resources:
        full_url = f"{naming.base}/{res['resourceType']}/{res['id']}"
        if full_url in seen:
            raise ValueError(f"two resources would share the id {res['resourceType']}/{res['id']}")
        seen.add(full_url)
        entries.append({"fullUrl": full_url, "resource": res})
    stamp = timestamp if timestamp is not None else datetime.now(UTC)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": format_datetime(stamp),
        "entry": entries,
    }
