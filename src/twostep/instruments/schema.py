"""The catalogue schema: parse a decoded instrument file into an `Instrument`.

The schema is enforced by hand (the core imports only the standard library and
numpy): every field is read through a `_Reader` that knows its path, so a
broken file gives an error like::

    phq9.toml: items[8].scale: unknown response scale 'frequncy' (known: frequency, difficulty)

Unknown keys are errors too, so a typo cannot silently drop a value. All
problems in a file are collected before raising, so a file can be fixed in one
pass.

File format (TOML; see ``definitions/phq9.toml`` for a complete example):

* top level: ``schema_version = 1``, ``id``, ``name``, ``short_name``,
  ``version``, ``description``, ``timeframe`` (omit when the licence forbids
  text), ``direction`` (``higher_is_worse`` | ``higher_is_better``),
  ``purpose`` (``outcome`` | ``screening`` | ``alliance`` | ``process``),
  ``validated``, ``references``, ``notes``;
* ``[licence]``: ``status``, ``name``, ``notice``, ``ship_item_text``, ``file``;
* ``[loinc]``: ``panel``, ``total``;
* ``[[response_scales]]``: ``id``, ``kind`` (``choice`` with ``options`` of
  ``{value, label, loinc, alt_loinc}``, or ``visual_analogue`` with ``min``,
  ``max``, ``resolution``);
* ``[[items]]``: ``id``, ``scale``, ``text``, ``label``, ``loinc``,
  ``reverse``, ``scored``;
* ``[[subscales]]``: ``id``, ``name``, ``items``, ``method``, ``max_missing``;
* ``[scoring]``: ``method``, ``total_min``, ``total_max``, ``multiplier``,
  ``decimals``, ``conversion_from``, ``conversion``;
* ``[missing]``, ``[[bands]]`` + ``[bands_source]``, ``[[cutoffs]]``,
  ``[reliable_change]``, ``[reliability]``, ``[[norms]]``, ``[risk]``.

Every block that carries a number from the literature has ``source`` and
``evidence`` (``verified`` | ``uncertain`` | ``proposed``) and an optional
``note``.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Mapping
from enum import Enum, EnumMeta
from typing import Any, TypeVar

from twostep.errors import CatalogueError, Problem
from twostep.instruments.model import (
    Band,
    Citation,
    Comparison,
    Cutoff,
    Direction,
    Evidence,
    Instrument,
    Item,
    Licence,
    LicenceStatus,
    Loinc,
    MissingRule,
    Norm,
    Purpose,
    Reliability,
    ReliableChange,
    ReliableChangeKind,
    ResponseOption,
    ResponseScale,
    RiskRule,
    RiskTier,
    Scoring,
    Subscale,
)

SCHEMA_VERSION = 1

T = TypeVar("T")
_MISSING: Any = object()


class _Reader:
    """Reads typed fields from a mapping, recording problems with their path."""

    def __init__(self, data: Mapping[str, Any], path: str, problems: list[Problem]) -> None:
        self.data = data
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, code: str, message: str) -> None:
        self.problems.append(Problem(self._where(key), code, message))

    def _get(self, key: str, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.fail(key, "missing_field", "required field is missing")
            return _MISSING
        return self.data[key]

    def str(
        self,
        key: builtins.str,
        default: builtins.str | None = None,
        *,
        required: builtins.bool = True,
    ) -> builtins.str:
        value = self._get(key, required and default is None)
        if value is _MISSING:
            return default if default is not None else ""
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "type", f"expected a non-empty string, got {value!r}")
            return default or ""
        return value

    def opt_str(self, key: builtins.str) -> builtins.str | None:
        value = self._get(key, False)
        if value is _MISSING:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "type", f"expected a non-empty string, got {value!r}")
            return None
        return value

    def bool(self, key: builtins.str, default: builtins.bool | None = None) -> builtins.bool:
        value = self._get(key, default is None)
        if value is _MISSING:
            return bool(default)
        if not isinstance(value, bool):
            self.fail(key, "type", f"expected true or false, got {value!r}")
            return bool(default)
        return value

    def number(
        self, key: builtins.str, default: float | None = None, *, required: builtins.bool = True
    ) -> float:
        value = self._get(key, required and default is None)
        if value is _MISSING:
            return default if default is not None else math.nan
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.fail(key, "type", f"expected a number, got {value!r}")
            return default if default is not None else math.nan
        return float(value)

    def opt_number(self, key: builtins.str) -> float | None:
        value = self._get(key, False)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.fail(key, "type", f"expected a number, got {value!r}")
            return None
        return float(value)

    def int(self, key: builtins.str, default: builtins.int | None = None) -> builtins.int:
        value = self._get(key, default is None)
        if value is _MISSING:
            return default if default is not None else 0
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "type", f"expected an integer, got {value!r}")
            return default if default is not None else 0
        return value

    def enum(
        self, key: builtins.str, kind: Callable[[builtins.str], T], default: T | None = None
    ) -> T | None:
        value = self._get(key, default is None)
        if value is _MISSING:
            return default
        try:
            return kind(value)
        except (ValueError, TypeError):
            members: list[Enum] = list(kind) if isinstance(kind, EnumMeta) else []
            allowed = ", ".join(str(m.value) for m in members)
            self.fail(key, "not_allowed", f"{value!r} is not one of: {allowed}")
            return default

    def str_list(
        self, key: builtins.str, *, required: builtins.bool = False
    ) -> tuple[builtins.str, ...]:
        value = self._get(key, required)
        if value is _MISSING:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, "type", "expected a list of strings")
            return ()
        return tuple(value)

    def number_list(self, key: builtins.str) -> tuple[float, ...]:
        value = self._get(key, False)
        if value is _MISSING:
            return ()
        ok = isinstance(value, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        )
        if not ok:
            self.fail(key, "type", "expected a list of numbers")
            return ()
        return tuple(float(v) for v in value)

    def table(self, key: builtins.str, *, required: builtins.bool = True) -> _Reader | None:
        value = self._get(key, required)
        if value is _MISSING:
            return None
        if not isinstance(value, Mapping):
            self.fail(key, "type", "expected a table")
            return None
        return _Reader(value, self._where(key), self.problems)

    def tables(self, key: builtins.str, *, required: builtins.bool = False) -> list[_Reader]:
        value = self._get(key, required)
        if value is _MISSING:
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            self.fail(key, "type", "expected an array of tables")
            return []
        return [_Reader(v, f"{self._where(key)}[{i}]", self.problems) for i, v in enumerate(value)]

    def citation(self) -> Citation:
        source = self.str("source")
        evidence = self.enum("evidence", Evidence, Evidence.VERIFIED) or Evidence.VERIFIED
        note = self.str("note", "")
        return Citation(source=source, evidence=evidence, note=note)

    def done(self) -> None:
        """Report keys that the schema does not know (typos must not pass silently)."""
        for key in self.data:
            if key not in self.seen:
                self.fail(key, "unknown_field", "field is not part of the instrument schema")


def parse_instrument(data: Mapping[str, Any], source: str) -> Instrument:
    """Build an `Instrument` from a decoded catalogue file.

    Raises `CatalogueError` naming ``source`` and every bad field.
    """
    problems: list[Problem] = []
    r = _Reader(data, "", problems)
    version = r.int("schema_version")
    if version != SCHEMA_VERSION and "schema_version" in data:
        r.fail(
            "schema_version", "not_allowed", f"this twostep reads schema_version {SCHEMA_VERSION}"
        )

    scales = _parse_scales(r)
    items = _parse_items(r, scales)
    item_ids = [i.id for i in items]
    subscales = _parse_subscales(r, set(item_ids))
    instrument = Instrument(
        id=r.str("id"),
        name=r.str("name"),
        short_name=r.str("short_name"),
        version=r.str("version"),
        description=r.str("description"),
        timeframe=r.opt_str("timeframe"),
        direction=r.enum("direction", Direction) or Direction.HIGHER_IS_WORSE,
        purpose=r.enum("purpose", Purpose) or Purpose.OUTCOME,
        validated=r.bool("validated"),
        references=r.str_list("references", required=True),
        notes=r.str_list("notes"),
        items=tuple(items),
        subscales=tuple(subscales),
        scoring=_parse_scoring(r),
        licence=_parse_licence(r),
        loinc=_parse_loinc(r),
        missing=_parse_missing(r, set(item_ids)),
        bands=_parse_bands(r),
        bands_citation=_opt_citation(r, "bands_source"),
        cutoffs=_parse_cutoffs(r),
        reliable_change=_parse_reliable_change(r),
        reliability=_parse_reliability(r),
        norms=_parse_norms(r),
        risk=_parse_risk(r, set(item_ids)),
        source_file=source,
    )
    r.done()
    if not problems:
        _check_consistency(instrument, problems)
    if problems:
        lines = "; ".join(f"{source}: {p.where}: {p.message}" for p in problems[:20])
        more = f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CatalogueError(f"invalid instrument definition — {lines}{more}")
    return instrument


def _parse_scales(r: _Reader) -> dict[str, ResponseScale]:
    scales: dict[str, ResponseScale] = {}
    for s in r.tables("response_scales", required=True):
        sid = s.str("id")
        kind = s.str("kind")
        if kind == "choice":
            options: list[ResponseOption] = []
            for o in s.tables("options", required=True):
                options.append(
                    ResponseOption(
                        value=o.int("value"),
                        label=o.str("label"),
                        loinc=o.opt_str("loinc"),
                        alt_loinc=o.str_list("alt_loinc"),
                    )
                )
                o.done()
            values = [o.value for o in options]
            if len(set(values)) != len(values):
                s.fail("options", "duplicate", "option values must be unique")
            scale = ResponseScale(
                id=sid,
                kind=kind,
                options=tuple(options),
                minimum=float(min(values, default=0)),
                maximum=float(max(values, default=0)),
                loinc_answer_list=s.opt_str("loinc_answer_list"),
            )
        elif kind == "visual_analogue":
            lo, hi = s.number("min"), s.number("max")
            if not lo < hi:
                s.fail("max", "range", "max must be larger than min")
            scale = ResponseScale(
                id=sid, kind=kind, minimum=lo, maximum=hi, resolution=s.number("resolution", 0.1)
            )
        else:
            s.fail("kind", "not_allowed", f"{kind!r} is not one of: choice, visual_analogue")
            continue
        s.done()
        if sid in scales:
            s.fail("id", "duplicate", f"response scale {sid!r} is defined twice")
        scales[sid] = scale
    return scales


def _parse_items(r: _Reader, scales: Mapping[str, ResponseScale]) -> list[Item]:
    items: list[Item] = []
    seen: set[str] = set()
    for n, it in enumerate(r.tables("items", required=True), start=1):
        iid = it.str("id")
        scale_id = it.str("scale")
        scale = scales.get(scale_id)
        if scale is None:
            known = ", ".join(scales)
            it.fail(
                "scale",
                "unknown_reference",
                f"unknown response scale {scale_id!r} (known: {known})",
            )
            continue
        if iid in seen:
            it.fail("id", "duplicate", f"item {iid!r} is defined twice")
        seen.add(iid)
        items.append(
            Item(
                id=iid,
                number=n,
                scale=scale,
                text=it.opt_str("text"),
                label=it.str("label", ""),
                loinc=it.opt_str("loinc"),
                reverse=it.bool("reverse", False),
                scored=it.bool("scored", True),
            )
        )
        it.done()
    return items


def _parse_subscales(r: _Reader, item_ids: set[str]) -> list[Subscale]:
    out: list[Subscale] = []
    for s in r.tables("subscales"):
        members = s.str_list("items", required=True)
        for m in members:
            if m not in item_ids:
                s.fail("items", "unknown_reference", f"unknown item {m!r}")
        method = s.str("method", "sum")
        if method not in ("sum", "mean"):
            s.fail("method", "not_allowed", f"{method!r} is not one of: sum, mean")
        citation = Citation(**_citation_kwargs(s)) if "source" in s.data else None
        out.append(
            Subscale(
                id=s.str("id"),
                name=s.str("name"),
                items=members,
                method=method,
                max_missing=s.int("max_missing", 0),
                citation=citation,
            )
        )
        s.done()
    return out


def _citation_kwargs(s: _Reader) -> dict[str, Any]:
    c = s.citation()
    return {"source": c.source, "evidence": c.evidence, "note": c.note}


def _parse_scoring(r: _Reader) -> Scoring:
    s = r.table("scoring")
    if s is None:
        return Scoring(method="sum", total_min=0, total_max=0)
    method = s.str("method")
    if method not in ("sum", "mean"):
        s.fail("method", "not_allowed", f"{method!r} is not one of: sum, mean")
    conversion = s.number_list("conversion")
    conversion_from = s.int("conversion_from", -1) if "conversion_from" in s.data else None
    conv_cit = Citation(**_citation_kwargs(s)) if "source" in s.data else None
    if conversion and conversion_from is None:
        s.fail("conversion_from", "missing_field", "a conversion table needs conversion_from")
    scoring = Scoring(
        method=method,
        total_min=s.number("total_min"),
        total_max=s.number("total_max"),
        multiplier=s.number("multiplier", 1.0),
        decimals=s.int("decimals", 0),
        conversion_from=conversion_from,
        conversion=conversion,
        conversion_citation=conv_cit,
    )
    if conversion and conv_cit is None:
        s.fail("source", "missing_field", "a conversion table needs its source")
    s.done()
    return scoring


def _parse_licence(r: _Reader) -> Licence:
    s = r.table("licence")
    if s is None:
        return Licence(LicenceStatus.NO_SHIP, "", "", False)
    citation = Citation(**_citation_kwargs(s)) if "source" in s.data else None
    lic = Licence(
        status=s.enum("status", LicenceStatus) or LicenceStatus.NO_SHIP,
        name=s.str("name"),
        notice=s.str("notice"),
        ship_item_text=s.bool("ship_item_text"),
        file=s.opt_str("file"),
        citation=citation,
    )
    s.done()
    return lic


def _parse_loinc(r: _Reader) -> Loinc:
    s = r.table("loinc", required=False)
    if s is None:
        return Loinc()
    out = Loinc(panel=s.opt_str("panel"), total=s.opt_str("total"))
    s.done()
    return out


def _parse_missing(r: _Reader, item_ids: set[str]) -> MissingRule:
    s = r.table("missing")
    if s is None:
        return MissingRule(0, Citation(""))
    never = s.str_list("never_impute")
    for m in never:
        if m not in item_ids:
            s.fail("never_impute", "unknown_reference", f"unknown item {m!r}")
    per_sub = s.int("max_missing_per_subscale", -1)
    out = MissingRule(
        max_missing=s.int("max_missing"),
        never_impute=never,
        max_missing_per_subscale=None if per_sub < 0 else per_sub,
        round_half_up=s.bool("round_half_up", True),
        citation=s.citation(),
    )
    s.done()
    return out


def _parse_bands(r: _Reader) -> tuple[Band, ...]:
    out: list[Band] = []
    for b in r.tables("bands"):
        out.append(Band(minimum=b.number("min"), maximum=b.number("max"), label=b.str("label")))
        b.done()
    return tuple(out)


def _opt_citation(r: _Reader, key: str) -> Citation | None:
    s = r.table(key, required=False)
    if s is None:
        return None
    c = s.citation()
    s.done()
    return c


def _parse_cutoffs(r: _Reader) -> tuple[Cutoff, ...]:
    out: list[Cutoff] = []
    for c in r.tables("cutoffs"):
        out.append(
            Cutoff(
                id=c.str("id"),
                value=c.number("value"),
                comparison=c.enum("case_when", Comparison) or Comparison.GE,
                description=c.str("description"),
                default=c.bool("default", False),
                citation=c.citation(),
            )
        )
        c.done()
    return tuple(out)


def _parse_reliable_change(r: _Reader) -> ReliableChange:
    s = r.table("reliable_change")
    if s is None:
        return ReliableChange(ReliableChangeKind.NOT_APPLICABLE, Citation(""))
    kind = s.enum("kind", ReliableChangeKind) or ReliableChangeKind.NOT_APPLICABLE
    threshold = s.opt_number("threshold")
    if kind in (ReliableChangeKind.FIXED, ReliableChangeKind.JACOBSON_TRUAX) and threshold is None:
        s.fail(
            "threshold", "missing_field", f"a {kind.value} reliable-change rule needs a threshold"
        )
    out = ReliableChange(kind=kind, threshold=threshold, citation=s.citation())
    s.done()
    return out


def _parse_reliability(r: _Reader) -> Reliability | None:
    s = r.table("reliability", required=False)
    if s is None:
        return None
    out = Reliability(
        alpha=s.opt_number("alpha"), test_retest=s.opt_number("test_retest"), citation=s.citation()
    )
    for key, value in (("alpha", out.alpha), ("test_retest", out.test_retest)):
        if value is not None and not 0 < value < 1:
            s.fail(key, "range", "a reliability must lie strictly between 0 and 1")
    s.done()
    return out


def _parse_norms(r: _Reader) -> tuple[Norm, ...]:
    out: list[Norm] = []
    for n in r.tables("norms"):
        norm = Norm(
            population=n.str("population"),
            mean=n.number("mean"),
            sd=n.number("sd"),
            description=n.str("description", ""),
            citation=n.citation(),
        )
        if not norm.sd > 0:
            n.fail("sd", "range", "a standard deviation must be positive")
        out.append(norm)
        n.done()
    return tuple(out)


def _parse_risk(r: _Reader, item_ids: set[str]) -> RiskRule | None:
    s = r.table("risk", required=False)
    if s is None:
        return None
    items = s.str_list("items", required=True)
    for m in items:
        if m not in item_ids:
            s.fail("items", "unknown_reference", f"unknown item {m!r}")
    tiers: list[RiskTier] = []
    for t in s.tables("tiers", required=True):
        tiers.append(
            RiskTier(min_value=t.int("min_value"), level=t.int("level"), label=t.str("label"))
        )
        t.done()
    out = RiskRule(items=items, above=s.int("above"), tiers=tuple(tiers), citation=s.citation())
    s.done()
    return out


def _check_consistency(ins: Instrument, problems: list[Problem]) -> None:
    """Rules that span several fields."""

    def fail(where: str, code: str, message: str) -> None:
        problems.append(Problem(where, code, message))

    sc = ins.scoring
    if not sc.total_min < sc.total_max:
        fail("scoring.total_max", "range", "total_max must be larger than total_min")
    scored = ins.scored_items
    if not scored:
        fail("items", "missing_field", "at least one item must be scored")
    if sc.conversion and sc.conversion_from is not None:
        lo = sum(i.scale.minimum for i in scored)
        hi = sum(i.scale.maximum for i in scored)
        if sc.conversion_from != lo or len(sc.conversion) != int(hi - lo) + 1:
            fail("scoring.conversion", "range", f"the table must cover raw totals {lo:g}..{hi:g}")
    elif scored:
        if sc.method == "sum":
            lo = sum(i.scale.minimum for i in scored) * sc.multiplier
            hi = sum(i.scale.maximum for i in scored) * sc.multiplier
        else:
            lo = min(i.scale.minimum for i in scored) * sc.multiplier
            hi = max(i.scale.maximum for i in scored) * sc.multiplier
        if (lo, hi) != (sc.total_min, sc.total_max):
            fail(
                "scoring.total_max",
                "range",
                f"items sum to {lo:g}..{hi:g} but the total range says {sc.total_min:g}..{sc.total_max:g}",
            )
    for b in ins.bands:
        if b.minimum > b.maximum or b.minimum < sc.total_min or b.maximum > sc.total_max:
            fail("bands", "range", f"band {b.label!r} lies outside the total range")
    defaults = [c for c in ins.cutoffs if c.default]
    if len(defaults) > 1:
        fail("cutoffs", "duplicate", "at most one cut-off may be the default")
    if ins.items and any(i.text for i in ins.items) and not ins.licence.ship_item_text:
        fail("items", "licence", "item text is present but the licence does not allow shipping it")
    if ins.timeframe and not ins.licence.ship_item_text:
        fail("timeframe", "licence", "the instruction text is present but the licence forbids text")
    if ins.licence.ship_item_text and any(not i.text for i in ins.items):
        fail("items", "missing_field", "the licence allows item text, so every item needs its text")
    if ins.risk is not None:
        for iid in ins.risk.items:
            if iid in [i.id for i in ins.items] and not ins.item(iid).scored:
                fail("risk.items", "not_allowed", f"risk item {iid!r} must be a scored item")
    for s in ins.subscales:
        if s.max_missing >= len(s.items):
            fail(f"subscales.{s.id}.max_missing", "range", "must be smaller than the item count")
    if ins.missing.max_missing >= len(scored):
        fail("missing.max_missing", "range", "must be smaller than the number of scored items")
