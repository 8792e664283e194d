"""Data-subject requests: a client's complete export (GDPR Art. 15/20) and erasure (Art. 17).

`DATA_MAP` gives every table of the records database a rule: whose data it
holds, whether the export carries it (or why not), how long it is kept and
what erasure does to it. ``docs/data-map.md`` is the same map in prose, and
``tests/trust/test_gdpr.py`` fails when a table exists without a rule, when a
table the map calls exported is missing from an export, or when an erased
table still holds the client's rows (reliability-security.md GD-01..GD-03).

Who may ask (decided here, documented in docs/security.md):

* export — the client themself, or a clinic admin of the client's clinic
  acting on a subject-access request. This is the one place an admin reaches
  clinical content (an exception to AZ-07): the export is written to a file
  of mode 0600 by the CLI and recorded as an ``export`` event of object type
  ``gdpr_export`` on the client's record, which the client sees in their
  access log;
* erasure — a clinic admin of the client's clinic only (the clinic checks the
  request and the Art. 17(3) exceptions first); one ``erase`` event.

Anyone else, a client of another clinic or an unknown id: `NotFoundError`
(the same message), or `AccessDeniedError` for a role that may not ask.

Erasure deletes what the client authored between sessions and the clinic
does not need to keep (journal, reflections, stressors, self-care, skill
practice, thought records, support network and contacts, session topics,
unsubmitted check-in drafts). It keeps the clinical record (questionnaires,
alerts, episodes, appointments, assignments, goals and their reviews), the
account, the client's sharing choices and the audit trail, each for the
reason the map gives. Deleted values were AES-GCM ciphertext: until SQLite
reuses the free pages or PostgreSQL vacuums, only ciphertext remains; backups
keep them until they expire (docs/data-map.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Role, User
from twostep.errors import AccessDeniedError
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.services.access import Actor, not_found, verified_roles
from twostep.services.audit import AuditNote, audited

__all__ = [
    "DATA_MAP",
    "EXPORT_FORMAT",
    "ErasureReport",
    "TableRule",
    "erase_client",
    "export_client",
    "export_json",
]

EXPORT_FORMAT = "twostep-gdpr-export/1"

Erasure = Literal["erased", "kept", "expires", "not personal"]


@dataclass(frozen=True)
class TableRule:
    """What one table holds and what happens to it (one row of docs/data-map.md)."""

    holds: str
    #: the column naming the data subject (client), None when the table has none
    subject_column: str | None
    #: exported on a subject-access request (False: ``excluded`` says why)
    exported: bool
    retention: str
    erasure: Erasure
    reason: str
    excluded: str = ""


_CLINICAL = (
    "the clinical record: kept for the retention period of health records of the clinic's "
    "jurisdiction (e.g. 8 years after the last contact for adults in England; GDPR 17(3)(b)/(c))"
)
_AUTHORED = (
    "written by the client for themself; not needed for the clinical record, so erasable "
    "(Art. 17(1))"
)

DATA_MAP: Mapping[str, TableRule] = {
    # ---------------------------------------------------------------- people and care
    "clinics": TableRule(
        "the clinic's name, crisis text and settings", None, False,
        "while the clinic uses twostep", "not personal", "no personal data",
        excluded="not about the client (no personal data)",
    ),
    "users": TableRule(
        "the account: e-mail, name, active flag, password hash (not exported)", "id", True,
        "as long as the clinical record it identifies", "kept",
        "identifies the retained clinical record; deactivate the account to stop access",
    ),
    "user_roles": TableRule(
        "the account's roles", "user_id", True, "with the account", "kept",
        "part of the account",
    ),
    "assignments": TableRule(
        "which therapist cares for the client, from when to when", "client_id", True,
        "as the clinical record", "kept", _CLINICAL,
    ),
    "episodes": TableRule(
        "episodes of care (start, end, reason)", "client_id", True, "as the clinical record",
        "kept", _CLINICAL,
    ),
    "appointments": TableRule(
        "sessions: time, status, focus", "client_id", True, "as the clinical record", "kept",
        _CLINICAL,
    ),
    "administrations": TableRule(
        "submitted questionnaires (answers, scores, risk) and every correction",
        "client_id", True, "as the clinical record", "kept",
        _CLINICAL + "; submitted questionnaires are immutable (IN-01)",
    ),
    "alerts": TableRule(
        "risk and progress alerts and what the therapist did", "client_id", True,
        "as the clinical record", "kept",
        _CLINICAL + "; risk follow-up must stay demonstrable",
    ),
    "goals": TableRule(
        "therapy goals with attainment levels (goal attainment scaling)", "client_id", True,
        "as the clinical record", "kept",
        _CLINICAL + "; goals are agreed with the therapist and their attainment is an outcome",
    ),
    "goal_steps": TableRule(
        "steps towards a goal", "client_id", True, "as the clinical record", "kept",
        "part of the goal (clinical record)",
    ),
    "goal_reviews": TableRule(
        "reviews of goal attainment", "client_id", True, "as the clinical record", "kept",
        "outcome measurement (clinical record)",
    ),
    # ------------------------------------------------------- what the client writes
    "journal_entries": TableRule(
        "journal: mood, emotions, text", "client_id", True,
        "until the client deletes it or asks for erasure", "erased", _AUTHORED,
    ),
    "setback_reflections": TableRule(
        "setback reflections", "client_id", True, "until erasure", "erased", _AUTHORED,
    ),
    "stressors": TableRule(
        "life stressors", "client_id", True, "until erasure", "erased", _AUTHORED,
    ),
    "self_care_entries": TableRule(
        "self-care log", "client_id", True, "until erasure", "erased", _AUTHORED,
    ),
    "skill_practices": TableRule(
        "coping-skill practice log", "client_id", True, "until erasure", "erased", _AUTHORED,
    ),
    "thought_records": TableRule(
        "CBT thought records", "client_id", True, "until erasure", "erased", _AUTHORED,
    ),
    "supporters": TableRule(
        "the client's support network (names of third parties)", "client_id", True,
        "until erasure", "erased", _AUTHORED + "; it also names third parties",
    ),
    "support_contacts": TableRule(
        "contacts with supporters", "client_id", True, "until erasure", "erased", _AUTHORED,
    ),
    "session_topics": TableRule(
        "topics the client wants to raise next session", "client_id", True, "until erasure",
        "erased", _AUTHORED,
    ),
    "checkin_drafts": TableRule(
        "questionnaires started but not submitted", "client_id", True,
        "until submitted, discarded or erased", "erased",
        "not submitted, so not part of the clinical record",
    ),
    "sharing_preferences": TableRule(
        "what the client shares with their therapist", "client_id", True,
        "with the account", "kept",
        "a record of the client's consent choices; deleting it would fall back to the "
        "defaults, which may share more than the client chose",
    ),
    # ------------------------------------------------------------------------ system
    "audit_log": TableRule(
        "who accessed which record, when, with what outcome (identifiers only)", "client_id",
        True, "6 years (HIPAA §164.316(b)(2) practice), append-only", "kept",
        "accountability (Art. 5(2)) and security of processing (Art. 32); append-only and "
        "hash-chained, so rows cannot be removed without breaking the chain",
    ),
    "client_activity": TableRule(
        "a change counter per client (cache invalidation)", "client_id", True,
        "with the account", "kept", "a number and a time, no content",
    ),
    "import_batches": TableRule(
        "files imported by staff (name, hash, row count)", None, False,
        "as the clinical record", "not personal",
        "about staff imports, not about one client",
        excluded="not about one client (created by staff; no client column)",
    ),
    "idempotency_keys": TableRule(
        "answers to retried writes (Idempotency-Key), the answer encrypted", "user_id", False,
        "the retry window (7 days)", "erased",
        "a cache of answers to the client's own writes: erased with them, so that no copy "
        "of erased content survives in it",
        excluded="a short-lived cache of answers to the user's own writes; their content is "
        "exported from the tables it was written to",
    ),
    "web_sessions": TableRule(
        "sign-in sessions (hashes of the tokens, times)", "user_id", False,
        "until expiry (12 h) plus housekeeping", "kept",
        "security data of the account; holds no content",
        excluded="security tokens (hashed): exporting them helps no one and weakens security",
    ),
    "user_mfa": TableRule(
        "the account's second factor: TOTP secret (encrypted), last step used, hashed "
        "recovery codes", "user_id", False,
        "while the factor is enrolled (deleted when it is switched off)", "kept",
        "security data of the account; holds no content",
        excluded="authentication secrets: exporting them would hand out the second factor",
    ),
    "login_attempts": TableRule(
        "sign-in attempts by keyed hash of address or network", None, False,
        "15 minutes of throttling, then deletable", "not personal",
        "no client column; pseudonymous throttling keys",
        excluded="pseudonymous throttling keys, no client column",
    ),
}  # fmt: skip

#: tables erased by `erase_client`, in the order they are emptied (children first)
ERASED_TABLES: tuple[str, ...] = (
    "journal_entries",
    "setback_reflections",
    "stressors",
    "self_care_entries",
    "skill_practices",
    "thought_records",
    "support_contacts",
    "supporters",
    "session_topics",
    "checkin_drafts",
    "idempotency_keys",
)


# ----------------------------------------------------------------------------- access


def _subject(uow: UnitOfWork, actor: Actor, client_id: str, *, admin_only: bool) -> User:
    """The client, if ``actor`` may make a data-subject request about them."""
    roles = verified_roles(uow, actor)
    is_self = Role.CLIENT in roles and actor.user_id == client_id
    if not is_self and Role.ADMIN not in roles:
        raise AccessDeniedError("only the client or a clinic admin may make this request")
    if admin_only and Role.ADMIN not in roles:
        raise AccessDeniedError("only a clinic admin may erase a client's data")
    client = uow.users.get(client_id)
    if client is None or Role.CLIENT not in client.roles or client.clinic_id != actor.clinic_id:
        raise not_found("client")
    return client


# ----------------------------------------------------------------------------- export


def _plain(value: Any) -> Any:
    """JSON-ready form of records: dataclasses, enums, times, sets, tuples."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _instrument_ids(uow: UnitOfWork, client: User, catalogue: Catalogue) -> list[str]:
    ids = list(catalogue.ids)
    clinic = uow.clinics.get(client.clinic_id)
    if clinic is not None:
        ids += [i for i in clinic.instruments if i not in ids]
    return ids


def _readers(
    uow: UnitOfWork, client: User, catalogue: Catalogue
) -> dict[str, Callable[[], Sequence[Any]]]:
    cid = client.id
    return {
        "users": lambda: [client],
        "user_roles": lambda: [{"user_id": cid, "role": r.value} for r in sorted(client.roles)],
        "assignments": lambda: uow.assignments.for_client(cid),
        "episodes": lambda: uow.episodes.for_client(cid),
        "appointments": lambda: uow.appointments.for_client(cid),
        "administrations": lambda: uow.administrations.for_client(cid),
        "alerts": lambda: uow.alerts.for_client(cid),
        "goals": lambda: uow.goals.for_client(cid),
        "goal_steps": lambda: uow.goal_steps.for_client(cid),
        "goal_reviews": lambda: uow.goal_reviews.for_client(cid),
        "journal_entries": lambda: uow.journal.for_client(cid),
        "setback_reflections": lambda: uow.reflections.for_client(cid),
        "stressors": lambda: uow.stressors.for_client(cid),
        "self_care_entries": lambda: uow.self_care.for_client(cid),
        "skill_practices": lambda: uow.skill_practice.for_client(cid),
        "thought_records": lambda: uow.thought_records.for_client(cid),
        "supporters": lambda: uow.supporters.for_client(cid),
        "support_contacts": lambda: uow.support_contacts.for_client(cid),
        "session_topics": lambda: uow.topics.for_client(cid),
        "sharing_preferences": lambda: uow.sharing.for_client(cid),
        "checkin_drafts": lambda: [
            d
            for i in _instrument_ids(uow, client, catalogue)
            if (d := uow.drafts.get(cid, i)) is not None
        ],
        "audit_log": lambda: uow.audit.for_client(cid),
        "client_activity": lambda: [
            {"client_id": cid, "version": v}
            for k, v in uow.activity.versions([cid]).items()
            if k == cid
        ],
    }


def export_client(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """Everything twostep holds about the client, table by table, as JSON-ready data.

    ``tables`` has one list per table the data map exports (empty lists too),
    ``excluded`` the reason for every other table. The password hash is left
    out of the account (a credential, not information about the person).
    One ``export`` audit event (object type ``gdpr_export``).
    """
    cat = catalogue or default_catalogue()
    at = now or datetime.now(UTC)

    def op(uow: UnitOfWork, note: AuditNote) -> dict[str, object]:
        client = _subject(uow, actor, client_id, admin_only=False)
        note.client_id = client.id
        note.object_id = client.id
        readers = _readers(uow, client, cat)
        tables: dict[str, list[Any]] = {}
        for name, rule in DATA_MAP.items():
            if rule.exported:
                tables[name] = [_plain(r) for r in readers[name]()]
        return {
            "format": EXPORT_FORMAT,
            "client_id": client.id,
            "generated_at": at.astimezone(UTC).isoformat(),
            "generated_by": actor.user_id,
            "tables": tables,
            "excluded": {n: r.excluded for n, r in DATA_MAP.items() if not r.exported},
            "retention": {
                n: {"retention": r.retention, "erasure": r.erasure, "reason": r.reason}
                for n, r in DATA_MAP.items()
            },
        }

    return audited(uow_factory, actor, "export", "gdpr_export", op, client_id=client_id)


def export_json(data: Mapping[str, object]) -> str:
    """The export as UTF-8 JSON text (indented, keys in map order)."""
    return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------- erasure


@dataclass(frozen=True)
class ErasureReport:
    """What `erase_client` deleted (rows per table) and what it kept (table -> reason)."""

    client_id: str
    erased: dict[str, int] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)


def erase_client(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    catalogue: Catalogue | None = None,
) -> ErasureReport:
    """Delete the client's erasable data in one transaction (clinic admins only), audited.

    Every table the data map marks ``erased`` loses the client's rows; the
    report names every table kept, with its reason. One ``erase`` event.
    """
    cat = catalogue or default_catalogue()

    def op(uow: UnitOfWork, note: AuditNote) -> ErasureReport:
        client = _subject(uow, actor, client_id, admin_only=True)
        note.client_id = client.id
        note.object_id = client.id
        cid = client.id
        repos: dict[str, Any] = {
            "journal_entries": uow.journal,
            "setback_reflections": uow.reflections,
            "stressors": uow.stressors,
            "self_care_entries": uow.self_care,
            "skill_practices": uow.skill_practice,
            "thought_records": uow.thought_records,
            "support_contacts": uow.support_contacts,
            "supporters": uow.supporters,
            "session_topics": uow.topics,
        }
        erased: dict[str, int] = {}
        for name in ERASED_TABLES:
            if name == "idempotency_keys":
                erased[name] = uow.idempotency.purge(datetime.max.replace(tzinfo=UTC), cid)
                continue
            if name == "checkin_drafts":
                n = 0
                for i in _instrument_ids(uow, client, cat):
                    if uow.drafts.get(cid, i) is not None:
                        uow.drafts.delete(cid, i)
                        n += 1
                erased[name] = n
                continue
            repo = repos[name]
            rows = repo.for_client(cid)
            for row in rows:
                repo.delete(row.id)
            erased[name] = len(rows)
        kept = {n: r.reason for n, r in DATA_MAP.items() if r.erasure == "kept"}
        return ErasureReport(cid, erased, kept)

    return audited(uow_factory, actor, "erase", "client_authored_data", op, client_id=client_id)
