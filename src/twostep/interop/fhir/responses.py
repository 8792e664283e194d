"""Import FHIR R4 ``QuestionnaireResponse``s (single or in a Bundle) as `Administration`s.

What is accepted (reliability-security.md §4.3, the FHIR bad-input catalogue;
methods.md §13 for the item and answer mapping, detailed in
`twostep.interop.fhir.mapping`):

* a ``QuestionnaireResponse``, or a ``Bundle`` of type ``collection``,
  ``transaction`` or ``batch`` with at most ``max_entries`` (1,000) entries
  whose resources are QuestionnaireResponses — plus Questionnaires, which
  are read as definitions of the forms (never stored). Any other resource
  is ``wrong-resource-type`` (#51) unless ``skip_other_resources`` (used to
  read a client's own export Bundle back);
* ``status`` ``completed``, or ``amended`` (then `ImportedResponse.amended`
  is set and the caller stores a new version of the record with the same
  natural key); ``in-progress``, ``stopped`` and ``entered-in-error`` are
  rejected as ``not-completed`` (#48 — nothing is scored or stored);
* ``questionnaire`` naming a form twostep can map (#45
  ``unknown-questionnaire`` otherwise; nothing is fetched);
* ``subject`` a ``Patient/<id>`` reference, relative or under the
  configured base (#49 ``missing-subject``). Absolute URLs elsewhere,
  ``urn:`` and ``#contained`` references and logical (identifier-only)
  references are never dereferenced: ``unresolved-reference`` (#54). The
  patient id is returned as ``client_id``; the caller maps it and checks
  that the importing user may write for that client (#49's 404);
* ``authored`` a full dateTime with ``Z`` or an offset (#50
  ``timezone-required``); the offset is kept;
* items and answers as `twostep.interop.fhir.mapping` describes (#46
  ``unknown-item``, #47 ``invalid-answer``); values are then validated and
  scored by `twostep.instruments.scoring.score_submission`, so ranges,
  prorating and risk rules are the catalogue's. A sender's own total (e.g.
  LHC-Forms' ``/44261-6``) must equal twostep's total when no item is
  missing (``total-mismatch``): a disagreement means a mapping is wrong;
* JSON only (#53); duplicate properties, NaN and the like are refused.

All-or-nothing: any problem anywhere raises `FhirImportError` listing every
problem (with its FHIRPath location and stable code) and nothing is returned.

Idempotency (#55): each response gets a natural key — ``system|value`` of its
``identifier``, else ``sha256:`` of its canonical JSON without ``id``,
``meta`` and ``text`` — and the administration id is derived from the clinic
and that key (UUID5), except that twostep's own identifier
(``{base}/identifier/administration``) gives back the original id. A re-import
therefore yields the same record, and the storage's unique constraint (not a
search-then-insert) keeps one copy. Two entries with the same key in one
Bundle are ``duplicate-identifier``.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from twostep.domain.records import Administration
from twostep.errors import Problem, ResponseValidationError
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.instruments.scoring import score_submission
from twostep.interop.fhir.datetimes import DateTimeError, parse_datetime
from twostep.interop.fhir.jsonio import JSONInputError, canonical_text, loads
from twostep.interop.fhir.mapping import (
    AnswerError,
    Form,
    TotalItem,
    decode_answer,
    resolve_form,
    resolve_item,
)
from twostep.interop.fhir.naming import DEFAULT_BASE, FHIR_ID, Naming
from twostep.interop.fhir.outcome import FhirImportError

MAX_BUNDLE_ENTRIES = 1000
#: Items (at any depth) read from one response before giving up on it.
MAX_ITEMS = 1000
#: Problems listed before the rest are summarised.
MAX_LISTED = 100
BUNDLE_TYPES = frozenset({"collection", "transaction", "batch"})
NOT_COMPLETED = frozenset({"in-progress", "stopped", "entered-in-error"})
_NAMESPACE = uuid.UUID("6f1c2a56-2f4e-5b8e-9a57-1f0c7e3d9b21")
_PATIENT = re.compile(r"^Patient/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")
_TYPED = re.compile(r"^[A-Z][A-Za-z]+/")


@dataclass(frozen=True)
class ImportedResponse:
    """One imported response: the record to store and how to recognise it again.

    ``natural_key`` identifies the response across re-imports (see the module
    docstring); ``amended`` says the sender corrected an earlier response with
    the same key, so the caller stores a new version of it.
    ``location`` is where in the input it was (``Bundle.entry[3].resource``).
    """

    administration: Administration
    natural_key: str
    identifier_system: str | None
    identifier_value: str | None
    amended: bool
    location: str
    reported_total: float | None = None


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


class _Reader:
    def __init__(
        self,
        catalogue: Catalogue,
        naming: Naming,
        supplied: Mapping[str, Mapping[str, object]],
        clinic_id: str,
        received_at: datetime,
    ) -> None:
        self.catalogue = catalogue
        self.naming = naming
        self.supplied = dict(supplied)
        self.clinic_id = clinic_id
        self.received_at = received_at
        self.problems: list[Problem] = []

    def problem(self, where: str, code: str, message: str) -> None:
        self.problems.append(Problem(where, code, message))

    # -- the resource -------------------------------------------------------------------
    def response(self, res: Mapping[str, object], path: str) -> ImportedResponse | None:
        start = len(self.problems)
        local = self._contained(res, path)
        status = res.get("status")
        if isinstance(status, str) and status in NOT_COMPLETED:  # a dict is unhashable
            self.problem(
                f"{path}.status",
                "not-completed",
                f"status {status} is not a completed response; nothing is scored",
            )
        elif status not in ("completed", "amended"):
            self.problem(
                f"{path}.status", "invalid-structure", "status must be completed or amended"
            )
        form = self._form(res, path, local)
        client_id = self._subject(res, path)
        completed_at = self._authored(res, path)
        ident = self._identifier(res, path)
        answers: dict[str, int | float | None] = {}
        where: dict[str, str] = {}
        reported: tuple[float, str] | None = None
        if form is not None:
            reported = self._items(form, res, path, answers, where)
        if len(self.problems) > start or form is None:
            return None
        assert client_id is not None
        assert completed_at is not None
        ins = form.instrument
        try:
            score = score_submission(ins, answers)
        except ResponseValidationError as exc:
            for p in exc.problems:
                self.problem(where.get(p.where, f"{path}.item"), "invalid-answer", p.message)
            return None
        total_value: float | None = None
        if reported is not None:
            total_value, total_where = reported
            if (
                score.total is not None
                and score.n_missing == 0
                and abs(score.total - total_value) > 1e-6
            ):
                self.problem(
                    total_where,
                    "total-mismatch",
                    f"the sender's total {total_value:g} differs from the {ins.short_name} "
                    f"total {score.total:g} of the answers; an answer mapping is wrong",
                )
                return None
        system, value = ident
        if value is not None:
            key = f"{system or ''}|{value}"
        else:
            stripped = {k: v for k, v in res.items() if k not in ("id", "meta", "text")}
            key = "sha256:" + hashlib.sha256(canonical_text(stripped).encode()).hexdigest()
        if system == self.naming.administration_system and value and FHIR_ID.match(value):
            adm_id = value
        else:
            adm_id = str(uuid.uuid5(_NAMESPACE, f"{self.clinic_id}|{key}"))
        adm = Administration(
            id=adm_id,
            clinic_id=self.clinic_id,
            client_id=client_id,
            episode_id=None,
            instrument_id=ins.id,
            answers=answers,
            total=score.total,
            subscales=dict(score.subscales),
            band=score.band,
            case=score.case,
            risk=score.risk,
            risk_level=score.risk_level,
            risk_not_assessed=score.risk_not_assessed,
            prorated=score.prorated,
            completed_at=completed_at,
            received_at=self.received_at,
            source="fhir",
        )
        return ImportedResponse(
            administration=adm,
            natural_key=key,
            identifier_system=system,
            identifier_value=value,
            amended=status == "amended",
            location=path,
            reported_total=total_value,
        )

    def _contained(self, res: Mapping[str, object], path: str) -> dict[str, Mapping[str, object]]:
        found: dict[str, Mapping[str, object]] = {}
        contained = res.get("contained")
        if contained is None:
            return found
        if not isinstance(contained, list):
            self.problem(f"{path}.contained", "invalid-structure", "contained must be an array")
            return found
        for j, c in enumerate(contained):
            if (
                isinstance(c, Mapping)
                and c.get("resourceType") == "Questionnaire"
                and isinstance(c.get("id"), str)
            ):
                found["#" + str(c["id"])] = c
            else:
                self.problem(
                    f"{path}.contained[{j}]",
                    "unsupported-contained",
                    "only a contained Questionnaire (the form itself) is read",
                )
        return found

    def _form(
        self, res: Mapping[str, object], path: str, local: Mapping[str, Mapping[str, object]]
    ) -> Form | None:
        canonical = res.get("questionnaire")
        if not isinstance(canonical, str) or not canonical.strip():
            self.problem(
                f"{path}.questionnaire",
                "unknown-questionnaire",
                "the response does not say which questionnaire it answers",
            )
            return None
        form = resolve_form(canonical, self.catalogue, self.naming, {**self.supplied, **local})
        if form is None:
            self.problem(
                f"{path}.questionnaire",
                "unknown-questionnaire",
                f"questionnaire {_short(canonical)!r} is not one twostep can map to its "
                "catalogue (canonicals are never fetched)",
            )
        return form

    def _subject(self, res: Mapping[str, object], path: str) -> str | None:
        where = f"{path}.subject"
        subject = res.get("subject")
        if subject is None:
            self.problem(where, "missing-subject", "the response has no subject (a Patient)")
            return None
        if not isinstance(subject, Mapping):
            self.problem(where, "invalid-structure", "subject must be a Reference")
            return None
        ref = subject.get("reference")
        if not isinstance(ref, str):
            if "identifier" in subject:
                self.problem(
                    where,
                    "unresolved-reference",
                    "a logical (identifier-only) subject is not resolved; use Patient/<id>",
                )
            else:
                self.problem(where, "missing-subject", "the subject has no Patient reference")
            return None
        base = self.naming.base + "/"
        rel = ref[len(base) :] if ref.startswith(base) else ref
        m = _PATIENT.match(rel)
        if m is not None:
            return m["id"]
        if _TYPED.match(rel):
            self.problem(where, "missing-subject", "the subject is not a Patient")
        else:
            self.problem(
                where,
                "unresolved-reference",
                "the subject is an external, contained or urn: reference; such references "
                "are never dereferenced — use Patient/<id>",
            )
        return None

    def _authored(self, res: Mapping[str, object], path: str) -> datetime | None:
        authored = res.get("authored")
        if authored is None:
            self.problem(
                f"{path}.authored",
                "missing-authored",
                "authored (when it was completed) is required",
            )
            return None
        if not isinstance(authored, str):
            self.problem(f"{path}.authored", "invalid-datetime", "authored must be a dateTime")
            return None
        try:
            return parse_datetime(authored)
        except DateTimeError as exc:
            self.problem(f"{path}.authored", exc.code, str(exc))
            return None

    def _identifier(self, res: Mapping[str, object], path: str) -> tuple[str | None, str | None]:
        ident = res.get("identifier")
        where = f"{path}.identifier"
        if isinstance(ident, list) and len(ident) == 1:  # R5 senders use an array
            ident, where = ident[0], f"{where}[0]"
        if ident is None:
            return None, None
        if not isinstance(ident, Mapping):
            self.problem(where, "invalid-identifier", "identifier must be one Identifier")
            return None, None
        system, value = ident.get("system"), ident.get("value")
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{where}.value", "invalid-identifier", "identifier has no value")
            return None, None
        if system is not None and not isinstance(system, str):
            self.problem(f"{where}.system", "invalid-identifier", "system must be a uri")
            return None, None
        return system, value

    # -- items and answers ---------------------------------------------------------------
    def _items(
        self,
        form: Form,
        res: Mapping[str, object],
        path: str,
        answers: dict[str, int | float | None],
        where: dict[str, str],
    ) -> tuple[float, str] | None:
        items = res.get("item")
        if _count_items(items, MAX_ITEMS) > MAX_ITEMS:
            self.problem(
                f"{path}.item", "too-many-items", f"more than {MAX_ITEMS} items in one response"
            )
            return None
        reported: list[tuple[float, str]] = []
        self._walk(form, items, path, answers, where, reported)
        return reported[0] if reported else None

    def _walk(
        self,
        form: Form,
        items: object,
        path: str,
        answers: dict[str, int | float | None],
        where: dict[str, str],
        reported: list[tuple[float, str]],
    ) -> None:
        if items is None:
            return
        if not isinstance(items, list):
            self.problem(f"{path}.item", "invalid-structure", "item must be an array")
            return
        for i, it in enumerate(items):
            p = f"{path}.item[{i}]"
            if not isinstance(it, Mapping) or not isinstance(it.get("linkId"), str):
                self.problem(p, "invalid-structure", "an item needs a linkId")
                continue
            link_id = str(it["linkId"])
            children = it.get("item")
            declared = form.declared.get(link_id)
            if children:
                if declared is not None and declared.type == "group":
                    self._walk(form, children, p, answers, where, reported)
                else:
                    self.problem(
                        f"{p}.item[0]",
                        "unknown-item",
                        f"nested items under {_short(link_id)!r}, which defines none",
                    )
            target = resolve_item(form, link_id)
            raw = it.get("answer")
            if target is None:
                if declared is not None and declared.type in ("group", "display"):
                    if raw:
                        self.problem(p, "invalid-answer", "a group or display item has no answer")
                    continue
                self.problem(
                    p,
                    "unknown-item",
                    f"linkId {_short(link_id)!r} is not an item of {form.instrument.short_name}",
                )
                continue
            if raw is None or raw == []:
                if not isinstance(target, TotalItem):
                    self._record(target.id, None, p, answers, where)
                continue
            if not isinstance(raw, list) or not all(isinstance(a, Mapping) for a in raw):
                self.problem(f"{p}.answer", "invalid-structure", "answer must be an array")
                continue
            if len(raw) > 1:
                self.problem(
                    f"{p}.answer[1]", "invalid-answer", "two answers on a non-repeating item"
                )
                continue
            answer: Mapping[str, object] = raw[0]
            a_path = f"{p}.answer[0]"
            if answer.get("item"):
                self.problem(
                    f"{a_path}.item[0]", "unknown-item", "items nested in an answer are not defined"
                )
                continue
            if isinstance(target, TotalItem):
                total = _number_of(answer)
                if total is None:
                    self.problem(a_path, "invalid-answer", "the total score is not a number")
                else:
                    reported.append((total, a_path))
                continue
            try:
                value = decode_answer(form, target, link_id, answer)
            except AnswerError as exc:
                self.problem(a_path, "invalid-answer", f"{target.id}: {exc}")
                continue
            self._record(target.id, value, a_path, answers, where)

    def _record(
        self,
        item_id: str,
        value: int | float | None,
        location: str,
        answers: dict[str, int | float | None],
        where: dict[str, str],
    ) -> None:
        if item_id in answers:
            self.problem(
                location.removesuffix(".answer[0]"),
                "duplicate-item",
                f"{item_id} is answered twice (first at {where[item_id]})",
            )
            return
        answers[item_id] = value
        where[item_id] = location


def _count_items(items: object, limit: int) -> int:
    """How many items (at any depth, answers' items included) ``items`` holds, up to ``limit + 1``."""
    if not isinstance(items, list):
        return 0
    n = 0
    for it in items:
        n += 1
        if n > limit:
            return n
        if isinstance(it, Mapping):
            n += _count_items(it.get("item"), limit - n)
            answers = it.get("answer")
            if isinstance(answers, list):
                for a in answers:
                    if isinstance(a, Mapping):
                        n += _count_items(a.get("item"), limit - n)
    return n


def _number_of(answer: Mapping[str, object]) -> float | None:
    quantity = answer.get("valueQuantity")
    candidates = [answer.get("valueInteger"), answer.get("valueDecimal")]
    if isinstance(quantity, Mapping):
        candidates.append(quantity.get("value"))
    for v in candidates:
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def _supplied(questionnaires: Sequence[Mapping[str, object]]) -> dict[str, Mapping[str, object]]:
    out: dict[str, Mapping[str, object]] = {}
    for q in questionnaires:
        url = q.get("url")
        if q.get("resourceType") != "Questionnaire" or not isinstance(url, str):
            raise ValueError("questionnaires must be Questionnaire resources with a url")
        out[url.split("|", 1)[0]] = q
    return out


def import_responses(
    data: str | bytes | Mapping[str, object],
    *,
    clinic_id: str,
    received_at: datetime | None = None,
    catalogue: Catalogue | None = None,
    base: str = DEFAULT_BASE,
    questionnaires: Sequence[Mapping[str, object]] = (),
    skip_other_resources: bool = False,
    max_entries: int = MAX_BUNDLE_ENTRIES,
) -> tuple[ImportedResponse, ...]:
    """Read a QuestionnaireResponse or a Bundle of them into scored `Administration`s.

    ``data`` is FHIR JSON text/bytes or the parsed object. ``questionnaires``
    are extra form definitions the caller trusts (matched by ``url``).
    ``received_at`` defaults to now (UTC). Raises `FhirImportError` with every
    problem found; returns nothing unless everything is valid.
    """
    if received_at is not None and received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    received = received_at or datetime.now(UTC)
    cat = catalogue if catalogue is not None else default_catalogue()
    naming = Naming(base)
    if isinstance(data, str | bytes):
        try:
            parsed = loads(data)
        except JSONInputError as exc:
            raise FhirImportError([exc.problem], context="FHIR import") from None
    else:
        parsed = data
    reader = _Reader(cat, naming, _supplied(questionnaires), clinic_id, received)
    results: list[ImportedResponse] = []
    if not isinstance(parsed, Mapping):
        reader.problem("(document)", "invalid-structure", "the body must be a JSON object")
    elif parsed.get("resourceType") == "QuestionnaireResponse":
        got = reader.response(parsed, "QuestionnaireResponse")
        if got is not None:
            results.append(got)
    elif parsed.get("resourceType") == "Bundle":
        results = _bundle(reader, parsed, skip_other_resources, max_entries)
    else:
        rt = parsed.get("resourceType")
        name = rt if isinstance(rt, str) and FHIR_ID.match(rt) else "(document)"
        reader.problem(
            name,
            "wrong-resource-type",
            f"expected a QuestionnaireResponse or a Bundle, got {_short(str(rt))}",
        )
    if reader.problems:
        raise FhirImportError(_capped(reader.problems), context="FHIR import")
    return tuple(results)


def _bundle(
    reader: _Reader, bundle: Mapping[str, object], skip_other: bool, max_entries: int
) -> list[ImportedResponse]:
    kind = bundle.get("type")
    if not isinstance(kind, str) or kind not in BUNDLE_TYPES:  # a dict is unhashable
        reader.problem(
            "Bundle.type",
            "invalid-bundle-type",
            "a Bundle must be of type collection, transaction or batch",
        )
        return []
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        reader.problem("Bundle.entry", "invalid-structure", "entry must be an array")
        return []
    if len(entries) > max_entries:
        reader.problem(
            "Bundle.entry",
            "too-many-entries",
            f"{len(entries)} entries; at most {max_entries} per Bundle",
        )
        return []
    for e in entries:  # definitions first, so entry order does not matter
        res = e.get("resource") if isinstance(e, Mapping) else None
        if isinstance(res, Mapping) and res.get("resourceType") == "Questionnaire":
            url = res.get("url")
            if isinstance(url, str):
                reader.supplied.setdefault(url.split("|", 1)[0], res)
    results: list[ImportedResponse] = []
    seen: dict[str, str] = {}
    for i, e in enumerate(entries):
        path = f"Bundle.entry[{i}]"
        res = e.get("resource") if isinstance(e, Mapping) else None
        if not isinstance(res, Mapping):
            reader.problem(f"{path}.resource", "invalid-structure", "the entry has no resource")
            continue
        rt = res.get("resourceType")
        if rt == "Questionnaire" or (skip_other and rt != "QuestionnaireResponse"):
            continue
        if rt != "QuestionnaireResponse":
            reader.problem(
                f"{path}.resource",
                "wrong-resource-type",
                f"expected a QuestionnaireResponse, got {_short(str(rt))}",
            )
            continue
        request = e.get("request") if isinstance(e, Mapping) else None
        if isinstance(request, Mapping) and request.get("method") not in ("POST", "PUT"):
            reader.problem(
                f"{path}.request.method", "invalid-structure", "only POST or PUT can import"
            )
            continue
        got = reader.response(res, f"{path}.resource")
        if got is None:
            continue
        if got.natural_key in seen:
            reader.problem(
                f"{path}.resource.identifier",
                "duplicate-identifier",
                f"the same response (identifier) is also at {seen[got.natural_key]}",
            )
            continue
        seen[got.natural_key] = got.location
        results.append(got)
    return results


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_LISTED:
        return problems
    rest = len(problems) - MAX_LISTED
    return [*problems[:MAX_LISTED], Problem("(more)", "truncated", f"{rest} further problems")]
