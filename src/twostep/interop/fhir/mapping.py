"""How a foreign QuestionnaireResponse is matched to the catalogue.

methods.md §13: other systems name items differently, so items are matched by
LOINC code or by the Questionnaire's item codes, and answers by LOINC answer
code or ordinal value — never by linkId text alone. The rules, in order:

Questionnaire (the response's ``questionnaire`` canonical, ``|version`` ignored)
    1. twostep's own: ``{base}/Questionnaire/{id}`` or ``Questionnaire/{id}``;
    2. a LOINC panel: ``http://loinc.org/q/44249-1``, ``http://loinc.org/44249-1``
       or ``Questionnaire/44249-1`` (NLM LHC-Forms);
    3. a published form twostep knows (`KNOWN_CANONICALS`: the MII PROMs
       PHQ-9 and GAD-7);
    4. a Questionnaire supplied with the data (a Bundle entry, a ``contained``
       resource referenced as ``#id``, or passed by the caller) whose
       ``code`` is a LOINC panel or a twostep instrument code. Such a
       definition also lends its item codes, item types and answer ordinals.
    Nothing is ever fetched: an unknown canonical is ``unknown-questionnaire``.

Item (each answered ``linkId``)
    1. the supplied Questionnaire's item ``code`` (LOINC) for that linkId;
    2. for twostep's own Questionnaires, the catalogue item id (``item_3``);
    3. a LOINC-looking linkId or last path segment (``/44250-9``, ``44250-9``);
    4. a published alias (`ITEM_ALIASES`: MII ``PHQ.1``, ``PHQ-9.1``,
       ``phq-phq9-q01``, ``phq-phq2a``, ``gad7-q01``, ``phq-phq5a`` ...).
    The instrument's total-score code (e.g. LHC-Forms' ``/44261-6``) is
    recognised as the sender's total: it is not an item and is only checked.

Answer (one per item)
    * ``valueCoding``: a LOINC answer code of the item's scale (including the
      catalogue's ``alt_loinc`` codes, e.g. GAD-7 item 2 LA18938-3 -> 2), a
      twostep answer code, or any coding that carries an ordinal extension
      (``ordinalValue``, ``iso21090-CO-value``, ``itemWeight``) or whose
      supplied answerOption does; a LOINC/twostep code outside the scale is
      ``invalid-answer`` even with an ordinal;
    * ``valueInteger``, ``valueDecimal`` (whole numbers only on choice items)
      and a numeric ``valueString`` — unless the item is declared as a coded
      ``choice`` item (twostep's own Questionnaires, or a supplied one), where
      a bare number is ``invalid-answer`` (bad-input catalogue #47).
    The value's range is checked by `twostep.instruments.scoring`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from twostep.instruments.model import Instrument, Item
from twostep.instruments.registry import Catalogue
from twostep.interop.fhir.naming import (
    FHIR_ID,
    LOINC,
    LOINC_CODE,
    ORDINAL_EXTENSIONS,
    Naming,
    fhir_id,
)

MII = "https://www.medizininformatik-initiative.de/fhir/ext/modul-pro/Questionnaire/"

#: Published Questionnaire canonicals -> catalogue instrument (never fetched).
#: Source: the MII PROMs module (medizininformatik-initiative/kerndatensatzmodul-proms,
#: input/fsh/aliases.fsh and its examples, which use the relative form).
KNOWN_CANONICALS: Mapping[str, str] = {
    MII + "mii-qst-pro-phq-9": "phq9",
    "Questionnaire/mii-qst-pro-phq-9": "phq9",
    MII + "mii-qst-pro-gad-7": "gad7",
    "Questionnaire/mii-qst-pro-gad-7": "gad7",
}


def _numbered(prefixes: Sequence[str], n: int, start: int = 1) -> dict[str, str]:
    return {f"{p}{k}": f"item_{k}" for p in prefixes for k in range(start, n + 1)}


def _lettered(prefix: str, n: int) -> dict[str, str]:
    return {f"{prefix}{'abcdefghi'[k - 1]}": f"item_{k}" for k in range(1, n + 1)}


def _padded(prefix: str, n: int) -> dict[str, str]:
    return {f"{prefix}{k:02d}": f"item_{k}" for k in range(1, n + 1)}


#: Item linkIds used by published forms -> catalogue item id. Sources: MII PROMs
#: examples (``PHQ.1``), its Questionnaire (``PHQ-9.1``) and its ConceptMaps
#: mii-cm-pro-phq-9-linkid-migration (``phq-phq9-q01`` -> ``phq-phq2a``,
#: ``phq-phq9-q10`` -> ``phq-phq9-difficulty``) and mii-cm-pro-gad-7-linkids
#: (``gad7-q01`` -> ``phq-phq5a``).
ITEM_ALIASES: Mapping[str, Mapping[str, str]] = {
    "phq9": {
        **_numbered(("PHQ.", "PHQ-9."), 10),
        **_padded("phq-phq9-q", 10),
        **_lettered("phq-phq2", 9),
        "phq-phq9-difficulty": "item_10",
    },
    "phq2": {**_numbered(("PHQ.", "PHQ-2."), 2), **_lettered("phq-phq2", 2)},
    "gad7": {
        **_numbered(("GAD.", "GAD-7."), 7),
        **_padded("gad7-q", 7),
        **_lettered("phq-phq5", 7),
    },
    "gad2": {**_numbered(("GAD.", "GAD-2."), 2), **_lettered("phq-phq5", 2)},
}

#: linkIds of a sender's total score (besides the instrument's total LOINC).
TOTAL_ALIASES: Mapping[str, frozenset[str]] = {
    "phq9": frozenset({"phq-phq9-score-total", "PHQ-9.score", "PHQ.score"}),
    "gad7": frozenset({"gad7-score-total", "phq-gad7-score-total", "GAD-7.score"}),
}

_LOINC_URL = re.compile(r"^https?://loinc\.org/(?:q/)?(?P<code>[0-9]{1,7}-[0-9])$")


class TotalItem:
    """Marker: the linkId is the sender's total score, not an item."""


TOTAL = TotalItem()


@dataclass(frozen=True)
class DeclaredItem:
    """An item as a supplied (non-twostep) Questionnaire declares it."""

    link_id: str
    type: str | None
    codes: tuple[tuple[str | None, str], ...] = ()
    #: (system, code) -> ordinal value, from answerOption ordinal extensions
    ordinals: Mapping[tuple[str | None, str], float] = field(default_factory=dict)


@dataclass(frozen=True)
class Form:
    """The instrument a response answers, and what its Questionnaire declares."""

    instrument: Instrument
    ours: bool
    declared: Mapping[str, DeclaredItem] = field(default_factory=dict)

    def declared_type(self, item: Item, link_id: str) -> str | None:
        """The item type the sender's form declares, or None when unknown."""
        if self.ours:
            return "choice" if item.scale.kind == "choice" else "decimal"
        d = self.declared.get(link_id)
        return d.type if d else None


def ordinal_of(element: Mapping[str, object]) -> float | None:
    """The ordinal value in ``element``'s extensions (first recognised one), if any."""
    exts = element.get("extension")
    if not isinstance(exts, list):
        return None
    for ext in exts:
        if isinstance(ext, Mapping) and ext.get("url") in ORDINAL_EXTENSIONS:
            for key in ("valueDecimal", "valueInteger"):
                v = ext.get(key)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    return float(v)
    return None


def _coding_key(coding: object) -> tuple[str | None, str] | None:
    if not isinstance(coding, Mapping):
        return None
    code = coding.get("code")
    system = coding.get("system")
    if not isinstance(code, str):
        return None
    return (system if isinstance(system, str) else None, code)


def _declared_items(items: object, out: dict[str, DeclaredItem]) -> None:
    if not isinstance(items, list):
        return
    for it in items:
        if not isinstance(it, Mapping) or not isinstance(it.get("linkId"), str):
            continue
        codes = tuple(k for k in map(_coding_key, _as_list(it.get("code"))) if k is not None)
        ordinals: dict[tuple[str | None, str], float] = {}
        for opt in _as_list(it.get("answerOption")):
            if isinstance(opt, Mapping):
                key = _coding_key(opt.get("valueCoding"))
                coding = opt.get("valueCoding")
                value = ordinal_of(opt)
                if value is None and isinstance(coding, Mapping):
                    value = ordinal_of(coding)
                if key is not None and value is not None:
                    ordinals[key] = value
        kind = it.get("type")
        link_id = str(it["linkId"])
        out[link_id] = DeclaredItem(
            link_id, kind if isinstance(kind, str) else None, codes, ordinals
        )
        _declared_items(it.get("item"), out)


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _instrument_for_code(
    codes: Sequence[tuple[str | None, str]], catalogue: Catalogue, naming: Naming
) -> Instrument | None:
    for system, code in codes:
        for ins in catalogue:
            if system == LOINC and ins.loinc.panel == code:
                return ins
            if system == naming.instruments_system and ins.id == code:
                return ins
    return None


def _by_fhir_id(key: str, catalogue: Catalogue) -> Instrument | None:
    for ins in catalogue:
        if key in (ins.id, fhir_id(ins.id)):
            return ins
    return None


def _by_panel(code: str, catalogue: Catalogue) -> Instrument | None:
    for ins in catalogue:
        if ins.loinc.panel == code:
            return ins
    return None


def resolve_form(
    canonical: str,
    catalogue: Catalogue,
    naming: Naming,
    supplied: Mapping[str, Mapping[str, object]],
) -> Form | None:
    """The `Form` ``canonical`` names (rules in the module docstring), or None."""
    url = canonical.split("|", 1)[0].strip()
    for prefix in (naming.questionnaire_prefix, "Questionnaire/"):
        if url.startswith(prefix):
            key = url[len(prefix) :]
            ins = _by_fhir_id(key, catalogue) if FHIR_ID.match(key.replace("_", "-")) else None
            if ins is not None:
                return Form(ins, ours=True)
            if prefix == "Questionnaire/" and LOINC_CODE.match(key):
                ins = _by_panel(key, catalogue)
                if ins is not None:
                    return Form(ins, ours=False)
    m = _LOINC_URL.match(url)
    if m:
        ins = _by_panel(m["code"], catalogue)
        if ins is not None:
            return Form(ins, ours=False)
    if url in KNOWN_CANONICALS and KNOWN_CANONICALS[url] in catalogue:
        return Form(catalogue.get(KNOWN_CANONICALS[url]), ours=False)
    definition = supplied.get(url)
    if definition is None:
        return None
    codes = [k for k in map(_coding_key, _as_list(definition.get("code"))) if k is not None]
    ins = _instrument_for_code(codes, catalogue, naming)
    if ins is None:
        return None
    declared: dict[str, DeclaredItem] = {}
    _declared_items(definition.get("item"), declared)
    return Form(ins, ours=False, declared=declared)


def resolve_item(form: Form, link_id: str) -> Item | TotalItem | None:
    """The catalogue item (or `TOTAL`) that ``link_id`` names in ``form``, or None."""
    ins = form.instrument
    by_loinc = {i.loinc: i for i in ins.items if i.loinc}
    declared = form.declared.get(link_id)
    if declared is not None:
        for system, code in declared.codes:
            if system == LOINC and code in by_loinc:
                return by_loinc[code]
            if system == LOINC and code == ins.loinc.total:
                return TOTAL
    if form.ours and link_id in ins.item_ids:
        return ins.item(link_id)
    segment = link_id.rstrip("/").rsplit("/", 1)[-1]
    if LOINC_CODE.match(segment):
        if segment in by_loinc:
            return by_loinc[segment]
        if segment == ins.loinc.total:
            return TOTAL
        return None
    alias = ITEM_ALIASES.get(ins.id, {}).get(link_id)
    if alias is not None and alias in ins.item_ids:
        return ins.item(alias)
    if link_id in TOTAL_ALIASES.get(ins.id, frozenset()):
        return TOTAL
    return None


class AnswerError(ValueError):
    """An answer that cannot be read as a value of its item (message names the rule)."""


_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_VALUE_KEYS = (
    "valueBoolean",
    "valueDecimal",
    "valueInteger",
    "valueDate",
    "valueDateTime",
    "valueTime",
    "valueString",
    "valueUri",
    "valueAttachment",
    "valueCoding",
    "valueQuantity",
    "valueReference",
)


def _for_item(item: Item, value: float) -> int | float:
    if not math.isfinite(value):
        raise AnswerError("the number is not finite")
    if item.scale.kind == "choice":
        if not float(value).is_integer():
            raise AnswerError("a choice item needs a whole-number answer")
        return int(value)
    return float(value)


def _from_coding(
    form: Form, item: Item, link_id: str, answer: Mapping[str, object], coding: object
) -> int | float:
    key = _coding_key(coding)
    if key is None or not isinstance(coding, Mapping):
        raise AnswerError("valueCoding needs a code")
    system, code = key
    scale = item.scale
    known: int | None = None
    ours = system is not None and system.endswith(
        f"/CodeSystem/answers/{fhir_id(form.instrument.id)}/{scale.id}"
    )
    for option in scale.options:
        loinc_match = system in (LOINC, None) and (code == option.loinc or code in option.alt_loinc)
        if loinc_match or (ours and code == str(option.value)):
            known = option.value
    ordinal = ordinal_of(coding)
    if ordinal is None:
        ordinal = ordinal_of(answer)
    if ordinal is None:
        declared = form.declared.get(link_id)
        if declared is not None:
            ordinal = declared.ordinals.get(key)
    if known is not None:
        if ordinal is not None and ordinal != known:
            raise AnswerError(f"code {code} means {known} but its ordinal value says {ordinal:g}")
        return known
    if system == LOINC or ours or (system is None and code.startswith("LA")):
        raise AnswerError(f"code {code[:20]} is not an answer of this item")
    if scale.kind != "choice":
        raise AnswerError("a coded answer on a numeric item")
    if ordinal is None:
        raise AnswerError("the code is not known and carries no ordinal value")
    return _for_item(item, ordinal)


def decode_answer(
    form: Form, item: Item, link_id: str, answer: Mapping[str, object]
) -> int | float:
    """The catalogue value of one ``answer`` of ``item``; `AnswerError` says why not."""
    keys = [k for k in answer if k.startswith("value")]
    if not keys:
        raise AnswerError("the answer has no value")
    if len(keys) > 1:
        raise AnswerError("the answer has more than one value[x]")
    key = keys[0]
    value = answer[key]
    declared = form.declared_type(item, link_id)
    if key == "valueCoding":
        return _from_coding(form, item, link_id, answer, value)
    if key not in ("valueInteger", "valueDecimal", "valueString"):
        kind = key.removeprefix("value") if key in _VALUE_KEYS else "unknown"
        raise AnswerError(f"a {kind} answer cannot be scored")
    if declared in ("choice", "open-choice"):
        raise AnswerError(f"the item is coded (type {declared}); {key} is not one of its answers")
    if key == "valueString":
        if not isinstance(value, str) or not _NUMBER.match(value.strip()):
            raise AnswerError("valueString is not a number")
        return _for_item(item, float(value.strip()))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnswerError(f"{key} is not a number")
    if key == "valueInteger" and not isinstance(value, int):
        raise AnswerError("valueInteger is not a whole number")
    return _for_item(item, value)
