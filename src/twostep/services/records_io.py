"""Records in and out: imported questionnaire responses, a client's whole record, score exports.

Three use cases over the ports (no SQL, no files; the CLI and the web layer
read and write the files):

`store_imported_administrations`
    Stores administrations read from a FHIR ``QuestionnaireResponse`` or
    Bundle (`twostep.interop.fhir.import_responses`), all or nothing:

    * **who** — a therapist imports for clients assigned to them now, a
      clinic admin for any active client of their clinic; anyone else gets
      `AccessDeniedError`. A client the importer may not write for (unknown,
      in another clinic, not on the caseload) makes the whole import fail with
      `NotFoundError` naming the location (``forbidden_subject``), the same
      message whether the client exists or not (reliability-security.md #42,
      #49). Nothing is ever created in another clinic.
    * **what is new** — a response whose id is stored already (twostep's own
      identifier, or the id derived from the sender's identifier) is skipped
      when that record, or the current version of its chain of corrections,
      has the same completion time, total and answers; one whose client,
      instrument and completion time match a stored administration (of any
      version) is skipped when the total (and, where both have them, the
      answers) are the same. So re-importing a Bundle, or a client's own
      export with its amended versions, adds nothing. Anything else that
      matches a stored record is a `ConflictError` naming the location — unless the
      response is an amendment (FHIR status ``amended``): then it is stored as
      a new version superseding the current one (the old version stays, as for
      a correction at check-in). An amendment of a record never stored is
      stored as a first version. Responses completed more than 5 minutes
      after ``now`` are refused (``implausible-timestamp``, #24).
    * **alerts** — like a check-in (`twostep.services.checkin`), a stored
      response whose risk item was answered above 0 raises a risk alert, and
      one whose risk item was left blank a "risk not assessed" alert — but
      only when it was completed within ``alert_window_days`` (default 7)
      before ``now``. Older history raises none: a risk answer from months ago
      was (or should have been) followed up when it was given, and a burst of
      stale risk alerts would bury the current ones. The kernel's signal
      alerts (deterioration, not on track, ...) are not raised by imports;
      they appear wherever the history is analysed.
    * **audit** — one ``import`` event per client in the input, committed with
      the records; a refused import records one ``denied``/``error`` event.

`client_records`
    Everything one client holds, for the FHIR Bundle (`client_bundle`) and
    the client's own data export (GDPR Art. 15/20): the client gets all of
    it; their therapist gets the clinical record (every version of every
    administration) and the between-session entries the client shares
    (`twostep.services.access`: journal text and mood separately, goals with
    their steps and reviews, ...). Clinic admins and researchers are refused.
    One ``export`` audit event.

`export_scores`
    The long format of design.md ("Scores in") as columns — ``client_id``,
    ``session`` (1-based order of the current administrations of each client
    and instrument), ``date`` (UTC calendar day), ``completed_at`` (UTC, ISO
    8601), ``instrument``, ``score`` (None when too many items were missing)
    and ``therapist_id`` (the therapist assigned when it was completed, else
    None). Who gets what:

    * a therapist: the clients assigned to them now, or one of them;
    * a client: themself;
    * a researcher: `AccessDeniedError`, pseudonymised or not. Researchers
      get de-identified aggregates only, never rows (reliability-security.md
      AZ-09: "403 on row-level"): the service outcomes with small cells
      suppressed and counts rounded to 5;
    * a clinic admin: `AccessDeniedError` (no clinical content, AZ-07).

    A therapist or client may ask for a pseudonymised export of what they may
    see (to share it, e.g. for supervision): client and therapist ids replaced
    by keyed hashes (HMAC-SHA256 with the clinic's pseudonymisation key, first
    16 hex digits), dates coarsened to the Monday of their ISO week,
    ``completed_at`` left out. Audit: one ``export`` event per client
    exported; a pseudonymised export is one event of object type
    ``pseudonymised_export``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from twostep.domain.ports import AuditEvent, UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import (
    Administration,
    Alert,
    Assignment,
    EntryKind,
    Episode,
    Role,
    User,
    new_id,
)
from twostep.errors import (
    AccessDeniedError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    Problem,
    ValidationError,
)
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.interop.fhir.export import ClientRecords
from twostep.interop.fhir.responses import ImportedResponse
from twostep.services.access import (
    Actor,
    caseload,
    client_access,
    not_found,
    verified_roles,
)
from twostep.services.audit import READ_ACTIONS, AuditNote, audited
from twostep.services.checkin import _risk_alerts
from twostep.services.validation import CLOCK_SKEW

__all__ = [
    "EXPORT_COLUMNS",
    "MIN_KEY_BYTES",
    "PSEUDONYM_HEX_DIGITS",
    "ScoreColumns",
    "StoredImport",
    "client_records",
    "export_scores",
    "pseudonym",
    "store_imported_administrations",
]

T = TypeVar("T")

#: The columns of a score export, in order (``completed_at`` is left out when pseudonymised).
EXPORT_COLUMNS = (
    "client_id",
    "session",
    "date",
    "completed_at",
    "instrument",
    "score",
    "therapist_id",
)
#: Hex digits kept of a pseudonym (64 bits: no collision in any clinic's lifetime).
PSEUDONYM_HEX_DIGITS = 16
#: Shortest pseudonymisation key accepted (bytes).
MIN_KEY_BYTES = 32
#: Most locations named in one error message.
_MAX_NAMED = 10
#: Longest client id recorded in the audit of a refused call (the column's width).
_MAX_AUDIT_ID = 36

#: Column name -> values, one per row (`EXPORT_COLUMNS`).
ScoreColumns = dict[str, list[str | int | float | date | None]]


# ------------------------------------------------------------------------ auditing


@dataclass(frozen=True)
class _Audit:
    object_type: str
    client_id: str | None
    object_id: str | None = None


def _event(actor: Actor, action: str, audit: _Audit, outcome: str) -> AuditEvent:
    return AuditEvent(
        actor_id=actor.user_id,
        actor_role=actor.role_label,
        action=action,
        object_type=audit.object_type,
        object_id=audit.object_id,
        client_id=audit.client_id,
        outcome=outcome,
        request_id=actor.request_id,
        at=datetime.now(UTC),
    )


def _audited_many(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    action: str,
    refused: _Audit,
    op: Callable[[UnitOfWork], tuple[T, list[_Audit]]],
) -> T:
    """Run ``op`` in one transaction and record the events it returns (fails closed).

    Like `twostep.services.audit.audited`, but a successful call may record one
    event per client. A refused call records ``refused`` alone (outcome
    ``denied`` for access errors, ``error`` for rejected input) and re-raises.
    """
    with uow_factory() as uow:
        try:
            result, events = op(uow)
        except (NotFoundError, AccessDeniedError):
            _record_alone(uow, _event(actor, action, refused, "denied"))
            raise
        except (ValidationError, ConflictError):
            _record_alone(uow, _event(actor, action, refused, "error"))
            raise
        written = [_event(actor, action, a, "ok") for a in events]
        if action not in READ_ACTIONS:
            touched = [e.client_id for e in written if e.client_id is not None]
            uow.activity.touch(touched, datetime.now(UTC))
        for event in written:
            uow.audit.record(event)
        uow.commit()
        return result


def _record_alone(uow: UnitOfWork, event: AuditEvent) -> None:
    uow.rollback()
    uow.audit.record(event)
    uow.commit()


def _audit_id(client_id: str | None) -> str | None:
    """A requested client id as it may be recorded (ids longer than the column are dropped)."""
    return client_id if client_id is not None and len(client_id) <= _MAX_AUDIT_ID else None


# ----------------------------------------------------------------------- importing


@dataclass(frozen=True)
class StoredImport:
    """What `store_imported_administrations` did.

    ``stored`` are the records written (new administrations and new versions),
    ``amended`` how many of them supersede a stored version, ``skipped`` the
    responses already stored, ``clients`` the distinct clients in the input and
    ``alerts`` the risk alerts raised.
    """

    stored: tuple[Administration, ...]
    skipped: int
    amended: int
    clients: int
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class _Incoming:
    administration: Administration
    amended: bool
    location: str  # where the response came from, for messages
    subject: str  # where its client is named
    authored: str  # where its completion time is given


def _incoming(items: Sequence[Administration | ImportedResponse]) -> list[_Incoming]:
    out = []
    for i, item in enumerate(items):
        if isinstance(item, ImportedResponse):
            loc = item.location
            out.append(
                _Incoming(
                    item.administration, item.amended, loc, f"{loc}.subject", f"{loc}.authored"
                )
            )
        else:
            loc = f"administrations[{i}]"
            out.append(_Incoming(item, False, loc, f"{loc}.client_id", f"{loc}.completed_at"))
    return out


def _named(locations: Sequence[str]) -> str:
    shown = ", ".join(locations[:_MAX_NAMED])
    more = len(locations) - _MAX_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def _authorise(
    uow: UnitOfWork, actor: Actor, roles: frozenset[Role], items: Sequence[_Incoming]
) -> dict[str, User]:
    """The clients of ``items``, each checked; NotFoundError naming every refused location."""
    allowed: set[str] | None = None
    if Role.ADMIN not in roles:
        allowed = {
            a.client_id
            for a in uow.assignments.active_for_therapist(actor.user_id)
            if a.clinic_id == actor.clinic_id
        }
    clients: dict[str, User] = {}
    refused: dict[str, bool] = {}
    for cid in dict.fromkeys(it.administration.client_id for it in items):
        user = uow.users.get(cid)
        ok = (
            user is not None
            and user.is_active
            and Role.CLIENT in user.roles
            and user.clinic_id == actor.clinic_id
            and (allowed is None or cid in allowed)
        )
        if ok:
            assert user is not None
            clients[cid] = user
        else:
            refused[cid] = True
    if refused:
        where = [it.subject for it in items if it.administration.client_id in refused]
        raise NotFoundError(
            f"{_named(where)}: not a client you can import for (unknown, in another clinic, "
            "or not on your caseload) [forbidden_subject]"
        )
    return clients


def _check_times(items: Sequence[_Incoming], now: datetime) -> None:
    problems = [
        Problem(
            it.authored,
            "implausible-timestamp",
            "completed in the future (more than 5 minutes after now)",
        )
        for it in items
        if it.administration.completed_at > now + CLOCK_SKEW
    ]
    if problems:
        raise ValidationError(problems, context="import")


def _answers(adm: Administration) -> dict[str, float]:
    return {k: float(v) for k, v in adm.answers.items() if v is not None}


def _same_total(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) < 1e-9


def _same(stored: Administration, new: Administration) -> bool:
    """The same response: same total, and the same answers where both have item answers."""
    if not _same_total(stored.total, new.total):
        return False
    old_answers, new_answers = _answers(stored), _answers(new)
    return not (old_answers and new_answers) or old_answers == new_answers


class _Chains:
    """The stored administrations of the clients being imported, kept up to date as we add."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._by_client: dict[str, list[Administration]] = {}
        self._episodes: dict[str, list[Episode]] = {}

    def of(self, client_id: str) -> list[Administration]:
        if client_id not in self._by_client:
            self._by_client[client_id] = list(self.uow.administrations.for_client(client_id))
        return self._by_client[client_id]

    def add(self, record: Administration) -> None:
        self.uow.administrations.add(record)
        self.of(record.client_id).append(record)

    def current_of(self, record: Administration) -> Administration:
        """The newest version of ``record``'s chain of corrections."""
        successor = {a.supersedes_id: a for a in self.of(record.client_id) if a.supersedes_id}
        while record.id in successor:
            record = successor[record.id]
        return record

    def all_at_same_time(self, new: Administration) -> list[Administration]:
        """Every version (current or superseded) of the same client, instrument and time."""
        return [
            a
            for a in self.of(new.client_id)
            if a.instrument_id == new.instrument_id and a.completed_at == new.completed_at
        ]

    def at_same_time(self, new: Administration) -> Administration | None:
        """A current administration of the same client, instrument and completion time."""
        rows = self.of(new.client_id)
        superseded = {a.supersedes_id for a in rows if a.supersedes_id}
        for a in rows:
            if (
                a.instrument_id == new.instrument_id
                and a.completed_at == new.completed_at
                and a.id not in superseded
            ):
                return a
        return None

    def episode_at(self, client_id: str, when: datetime) -> str | None:
        """The client's episode that was open on the day ``when`` (the latest started)."""
        if client_id not in self._episodes:
            self._episodes[client_id] = list(self.uow.episodes.for_client(client_id))
        day = when.astimezone(UTC).date()
        open_then = [
            e
            for e in self._episodes[client_id]
            if e.started_on <= day and (e.ended_on is None or day <= e.ended_on)
        ]
        return max(open_then, key=lambda e: e.started_on).id if open_then else None


def store_imported_administrations(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    imported: Sequence[Administration | ImportedResponse],
    *,
    now: datetime,
    alert_window_days: int = 7,
    catalogue: Catalogue | None = None,
) -> StoredImport:
    """Store imported responses for ``actor``'s clinic, all or nothing (see the module docstring).

    ``imported`` are the `ImportedResponse`s of `import_responses` (which say
    whether each is an amendment and where it was in the input) or bare
    `Administration`s (never amendments). Raises `AccessDeniedError`,
    `NotFoundError` (``forbidden_subject``), `ConflictError` (a different
    response already stored under the same identifier or natural key) or
    `ValidationError` (``implausible-timestamp``); nothing is stored then.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if alert_window_days < 0:
        raise ValueError("alert_window_days must be 0 or more")
    cat = catalogue if catalogue is not None else default_catalogue()
    items = _incoming(imported)
    # originals before amendments, so that an amendment in the same Bundle finds its original
    ordered = sorted(items, key=lambda it: it.amended)
    since = now - timedelta(days=alert_window_days)

    def op(uow: UnitOfWork) -> tuple[StoredImport, list[_Audit]]:
        roles = verified_roles(uow, actor)
        if not roles & {Role.THERAPIST, Role.ADMIN}:
            raise AccessDeniedError("only therapists and clinic admins can import responses")
        clients = _authorise(uow, actor, roles, items)
        _check_times(items, now)
        chains = _Chains(uow)
        stored: list[Administration] = []
        conflicts: list[str] = []
        skipped = amended = 0
        for it in ordered:
            client = clients[it.administration.client_id]
            new = replace(
                it.administration,
                clinic_id=client.clinic_id,
                submitted_by=actor.user_id,
                received_at=now,
                version=1,
                supersedes_id=None,
            )
            existing = uow.administrations.get(new.id)
            if existing is not None:
                if (existing.client_id, existing.instrument_id) != (
                    new.client_id,
                    new.instrument_id,
                ):
                    conflicts.append(it.location)
                    continue
                previous: Administration | None = chains.current_of(existing)
                assert previous is not None
                if any(
                    _same(old, new) and old.completed_at == new.completed_at
                    for old in (existing, previous)
                ):
                    skipped += 1  # stored already, as the current or an earlier version
                    continue
                new = replace(new, id=new_id())  # the stored id belongs to the first version
            else:
                if any(_same(old, new) for old in chains.all_at_same_time(new)):
                    skipped += 1
                    continue
                previous = chains.at_same_time(new)
            if previous is not None:
                if not it.amended:
                    conflicts.append(it.location)
                    continue
                new = replace(
                    new,
                    episode_id=previous.episode_id,
                    version=previous.version + 1,
                    supersedes_id=previous.id,
                )
                amended += 1
            else:
                new = replace(new, episode_id=chains.episode_at(new.client_id, new.completed_at))
            chains.add(new)
            stored.append(new)
        if conflicts:
            raise ConflictError(
                f"{_named(conflicts)}: a different response with the same identifier, or for "
                "the same client, questionnaire and time, is stored already; send a correction "
                "as an amendment (status amended) [conflict]"
            )
        alerts: list[Alert] = []
        for adm in stored:
            if adm.completed_at >= since:
                for alert in _risk_alerts(cat.get(adm.instrument_id), adm, now):
                    alerts.append(uow.alerts.add(alert))
        result = StoredImport(tuple(stored), skipped, amended, len(clients), tuple(alerts))
        return result, [_Audit("administration", cid) for cid in clients]

    return _audited_many(uow_factory, actor, "import", _Audit("administration", None), op)


# ---------------------------------------------------------------------- one client


def client_records(uow_factory: UnitOfWorkFactory, actor: Actor, client_id: str) -> ClientRecords:
    """Everything of ``client_id`` that ``actor`` may see (see the module docstring)."""

    def op(uow: UnitOfWork, note: AuditNote) -> ClientRecords:
        access = note.granted(client_access(uow, actor, client_id))
        journal = []
        for entry in uow.journal.for_client(client_id):
            seen = access.journal_entry(entry)
            if seen is not None:
                journal.append(seen)
        goals = access.sees(EntryKind.GOALS)
        network = access.sees(EntryKind.SUPPORT_NETWORK)
        return ClientRecords(
            client_id=client_id,
            administrations=tuple(uow.administrations.for_client(client_id)),
            goals=tuple(uow.goals.for_client(client_id)) if goals else (),
            goal_reviews=tuple(uow.goal_reviews.for_client(client_id)) if goals else (),
            goal_steps=tuple(uow.goal_steps.for_client(client_id)) if goals else (),
            journal=tuple(journal),
            reflections=tuple(uow.reflections.for_client(client_id))
            if access.sees(EntryKind.SETBACK_REFLECTIONS)
            else (),
            stressors=tuple(uow.stressors.for_client(client_id))
            if access.sees(EntryKind.STRESSORS)
            else (),
            self_care=tuple(uow.self_care.for_client(client_id))
            if access.sees(EntryKind.SELF_CARE)
            else (),
            skills=tuple(uow.skill_practice.for_client(client_id))
            if access.sees(EntryKind.SKILL_PRACTICE)
            else (),
            thought_records=tuple(uow.thought_records.for_client(client_id))
            if access.sees(EntryKind.THOUGHT_RECORDS)
            else (),
            supporters=tuple(uow.supporters.for_client(client_id)) if network else (),
            support_contacts=tuple(uow.support_contacts.for_client(client_id)) if network else (),
            topics=tuple(uow.topics.for_client(client_id))
            if access.sees(EntryKind.SESSION_TOPICS)
            else (),
        )

    return audited(uow_factory, actor, "export", "client_records", op, client_id=client_id)


# ------------------------------------------------------------------------- scores


def pseudonym(key: bytes, identifier: str) -> str:
    """The keyed pseudonym of ``identifier``: HMAC-SHA256(key, id), first 16 hex digits."""
    digest = hmac.new(key, identifier.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_DIGITS]


def _iso_week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _utc_iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _therapist_at(assignments: Sequence[Assignment], when: datetime) -> str | None:
    """The therapist assigned at ``when`` (the latest started), else None."""
    active = [
        a for a in assignments if a.started_at <= when and (a.ended_at is None or when < a.ended_at)
    ]
    return max(active, key=lambda a: a.started_at).therapist_id if active else None


def _export_scope(uow: UnitOfWork, actor: Actor, client_id: str | None) -> list[str]:
    """The clients ``actor`` may export (the role rules of the module docstring)."""
    roles = verified_roles(uow, actor)
    if Role.THERAPIST in roles:
        if client_id is not None:
            return [client_access(uow, actor, client_id).client_id]
        return [u.id for u in caseload(uow, actor)]
    if Role.CLIENT in roles:
        if client_id is not None and client_id != actor.user_id:
            raise not_found("client")
        return [client_access(uow, actor, actor.user_id).client_id]
    if Role.RESEARCHER in roles:
        raise AccessDeniedError(
            "researchers get de-identified aggregates only, never rows (AZ-09): "
            "see the service outcomes"
        )
    raise AccessDeniedError("clinic admins get no clinical content; scores cannot be exported")


def export_scores(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    *,
    client_id: str | None = None,
    pseudonymise_key: bytes | None = None,
) -> ScoreColumns:
    """The scores ``actor`` may export, as long-format columns (see the module docstring).

    ``pseudonymise_key`` (at least 32 bytes) makes the export pseudonymised;
    researchers must give one. Raises `AccessDeniedError` (role),
    `NotFoundError` (a client out of reach) or `ConfigurationError` (key too short).
    """
    key = pseudonymise_key
    if key is not None and len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"the pseudonymisation key must have at least {MIN_KEY_BYTES} bytes"
        )

    def op(uow: UnitOfWork) -> tuple[ScoreColumns, list[_Audit]]:
        clients = _export_scope(uow, actor, client_id)
        rows: list[tuple[str, str, int, Administration, str | None]] = []
        assignments: dict[str, list[Assignment]] = {}
        session: dict[tuple[str, str], int] = {}
        # current versions only, by client and then completion time: sessions count in order
        for adm in uow.administrations.for_clients(clients):
            cid = adm.client_id
            if cid not in assignments:
                assignments[cid] = uow.assignments.for_client(cid)
            n = session[(cid, adm.instrument_id)] = session.get((cid, adm.instrument_id), 0) + 1
            therapist = _therapist_at(assignments[cid], adm.completed_at)
            shown = pseudonym(key, cid) if key is not None else cid
            rows.append((shown, adm.instrument_id, n, adm, therapist))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        columns: ScoreColumns = {
            c: [] for c in EXPORT_COLUMNS if key is None or c != "completed_at"
        }
        for shown, instrument, n, adm, therapist in rows:
            day = adm.completed_at.astimezone(UTC).date()
            columns["client_id"].append(shown)
            columns["session"].append(n)
            columns["date"].append(_iso_week_monday(day) if key is not None else day)
            if key is None:
                columns["completed_at"].append(_utc_iso(adm.completed_at))
            columns["instrument"].append(instrument)
            total = adm.total
            columns["score"].append(None if total is None or math.isnan(total) else total)
            if therapist is not None and key is not None:
                therapist = pseudonym(key, therapist)
            columns["therapist_id"].append(therapist)
        if key is not None:
            events = [_Audit("pseudonymised_export", _audit_id(client_id))]
        else:
            events = [_Audit("administration", cid) for cid in clients]
        return columns, events

    refused = _Audit("pseudonymised_export" if key else "administration", _audit_id(client_id))
    return _audited_many(uow_factory, actor, "export", refused, op)
