"""What a questionnaire is: frozen value objects built from the catalogue files.

Nothing here knows about files, databases or HTTP. `schema.py` turns a parsed
TOML document into these objects; `scoring.py` scores responses with them.

Every number that comes from the literature travels with a `Citation` whose
`evidence` says how far it can be trusted (methods.md's markers):

* ``verified``  — checked against the source named;
* ``uncertain`` — methods.md marks it **[UNCERTAIN]**: a configurable default
  that must be checked before clinical release;
* ``proposed``  — methods.md marks it **[PROPOSED]**: a twostep rule, not a
  published one, and named as such wherever it is explained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class Evidence(StrEnum):
    """How far a value can be trusted (see the module docstring)."""

    VERIFIED = "verified"
    UNCERTAIN = "uncertain"
    PROPOSED = "proposed"


class Direction(StrEnum):
    """Which end of the total is the worse one."""

    HIGHER_IS_WORSE = "higher_is_worse"
    HIGHER_IS_BETTER = "higher_is_better"


class Purpose(StrEnum):
    """What the instrument is for; it decides which analyses apply."""

    OUTCOME = "outcome"  # symptom/wellbeing outcome, tracked session by session
    SCREENING = "screening"  # PHQ-2, GAD-2: never for RCI, sudden gains or plateaus
    ALLIANCE = "alliance"  # SRS, WAI-SR: rupture and repair (methods.md §6)
    PROCESS = "process"  # the twostep engagement check (methods.md §12)


class LicenceStatus(StrEnum):
    """methods.md §8 legend."""

    SHIP = "SHIP"
    SHIP_VERBATIM = "SHIP-VERBATIM"
    NO_SHIP = "NO-SHIP"
    OWN = "OWN"  # written by twostep, under the project's licence


class Comparison(StrEnum):
    """How a total is compared with a cut-off: ``total <op> value`` means "case"."""

    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"

    def holds(self, total: float, value: float) -> bool:
        """Whether ``total <op> value``; False for a NaN total."""
        if math.isnan(total):
            return False
        if self is Comparison.GE:
            return total >= value
        if self is Comparison.GT:
            return total > value
        if self is Comparison.LE:
            return total <= value
        return total < value


class ReliableChangeKind(StrEnum):
    """The two kinds of reliable-change threshold that methods.md §0 keeps apart."""

    FIXED = "fixed"  # a published threshold: reliable iff |delta| >= RC
    JACOBSON_TRUAX = "jacobson_truax"  # computed 1.96*S_diff: reliable iff |delta| > RC_raw
    LOCAL = "local"  # none published: compute from the service's own data (J&T)
    NOT_APPLICABLE = "not_applicable"  # screening instruments


@dataclass(frozen=True)
class Citation:
    """Where a value comes from and how far it can be trusted."""

    source: str
    evidence: Evidence = Evidence.VERIFIED
    note: str = ""


@dataclass(frozen=True)
class ResponseOption:
    """One answer of a choice scale."""

    value: int
    label: str
    loinc: str | None = None
    alt_loinc: tuple[str, ...] = ()  # other answer codes seen in the wild for this value


@dataclass(frozen=True)
class ResponseScale:
    """The answers an item accepts.

    ``choice`` scales accept exactly the option values; ``visual_analogue``
    scales accept any number in ``[minimum, maximum]`` (ORS/SRS lines are
    scored to 0.1 cm).
    """

    id: str
    kind: str  # "choice" | "visual_analogue"
    options: tuple[ResponseOption, ...] = ()
    minimum: float = 0.0
    maximum: float = 0.0
    resolution: float = 1.0
    loinc_answer_list: str | None = None

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(o.value for o in self.options)


@dataclass(frozen=True)
class Item:
    """One questionnaire item.

    ``text`` is None when the licence does not allow twostep to ship the
    wording; ``label`` is then a short neutral description written by us.
    ``scored = False`` marks items outside the total (PHQ-9's difficulty item).
    """

    id: str
    number: int
    scale: ResponseScale
    text: str | None = None
    label: str = ""
    loinc: str | None = None
    reverse: bool = False
    scored: bool = True


@dataclass(frozen=True)
class Subscale:
    """A named group of items scored on its own."""

    id: str
    name: str
    items: tuple[str, ...]
    method: str = "sum"  # "sum" | "mean"
    max_missing: int = 0
    citation: Citation | None = None


@dataclass(frozen=True)
class Band:
    """A severity band over the native total, inclusive at both ends."""

    minimum: float
    maximum: float
    label: str

    def contains(self, total: float) -> bool:
        return self.minimum <= total <= self.maximum


@dataclass(frozen=True)
class Cutoff:
    """A clinical cut-off: ``total <comparison> value`` means "in the clinical range"."""

    id: str
    value: float
    comparison: Comparison
    description: str
    citation: Citation
    default: bool = False

    def is_case(self, total: float) -> bool:
        return self.comparison.holds(total, self.value)


@dataclass(frozen=True)
class ReliableChange:
    """The instrument's reliable-change threshold in native points."""

    kind: ReliableChangeKind
    citation: Citation
    threshold: float | None = None


@dataclass(frozen=True)
class Reliability:
    """Internal consistency and test-retest reliability with their source."""

    citation: Citation
    alpha: float | None = None
    test_retest: float | None = None


@dataclass(frozen=True)
class Norm:
    """Mean and SD of a reference population (``clinical`` or ``community``)."""

    population: str
    mean: float
    sd: float
    citation: Citation
    description: str = ""


@dataclass(frozen=True)
class RiskTier:
    """Responses at or above ``min_value`` on a risk item raise this tier."""

    min_value: int
    level: int  # 1 = same-day review, 2 = urgent
    label: str


@dataclass(frozen=True)
class RiskRule:
    """Items whose answer raises an immediate risk alert (methods.md §9).

    A response ``> above`` on any of ``items`` raises the alert, whatever the
    total; a missing risk item means "risk not assessed", never "no risk".
    """

    items: tuple[str, ...]
    above: int
    tiers: tuple[RiskTier, ...]
    citation: Citation


@dataclass(frozen=True)
class MissingRule:
    """When a total may still be computed with missing items (prorating).

    A total is computed when at most ``max_missing`` scored items are missing,
    no item of ``never_impute`` is missing, and no subscale listed in the
    instrument has more than ``max_missing_per_subscale`` missing (if set).
    Prorated sum = mean of the answered items x number of items, rounded half
    up when ``round_half_up``.
    """

    max_missing: int
    citation: Citation
    never_impute: tuple[str, ...] = ()
    max_missing_per_subscale: int | None = None
    round_half_up: bool = True


@dataclass(frozen=True)
class Scoring:
    """How item values become the total.

    ``method`` is ``sum`` or ``mean`` of the (reverse-keyed) scored items,
    multiplied by ``multiplier``. ``conversion`` maps each possible raw total
    (``conversion_from`` upwards in steps of one) to a converted score, as
    SWEMWBS's Rasch table does; the converted score is then the total.
    """

    method: str
    total_min: float
    total_max: float
    multiplier: float = 1.0
    decimals: int = 0
    conversion_from: int | None = None
    conversion: tuple[float, ...] = ()
    conversion_citation: Citation | None = None


@dataclass(frozen=True)
class Licence:
    """The instrument's licence and whether its item text may be shown."""

    status: LicenceStatus
    name: str
    notice: str
    ship_item_text: bool
    file: str | None = None
    citation: Citation | None = None


@dataclass(frozen=True)
class Loinc:
    """LOINC codes of the panel and the total score, where they exist."""

    panel: str | None = None
    total: str | None = None


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: items, scoring, interpretation, provenance and licence."""

    id: str
    name: str
    short_name: str
    version: str
    description: str
    direction: Direction
    purpose: Purpose
    validated: bool
    items: tuple[Item, ...]
    scoring: Scoring
    licence: Licence
    missing: MissingRule
    reliable_change: ReliableChange
    references: tuple[str, ...]
    timeframe: str | None = None
    subscales: tuple[Subscale, ...] = ()
    bands: tuple[Band, ...] = ()
    bands_citation: Citation | None = None
    cutoffs: tuple[Cutoff, ...] = ()
    reliability: Reliability | None = None
    norms: tuple[Norm, ...] = ()
    risk: RiskRule | None = None
    loinc: Loinc = field(default_factory=Loinc)
    notes: tuple[str, ...] = ()
    source_file: str = ""

    @property
    def scored_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.scored)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    def item(self, item_id: str) -> Item:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    @property
    def higher_is_better(self) -> bool:
        return self.direction is Direction.HIGHER_IS_BETTER

    @property
    def clinical_cutoff(self) -> Cutoff | None:
        """The cut-off used by default for caseness and clinical significance."""
        for c in self.cutoffs:
            if c.default:
                return c
        return None

    @property
    def shows_item_text(self) -> bool:
        return self.licence.ship_item_text

    @property
    def tracks_outcome(self) -> bool:
        """Whether change statistics (RCI, sudden gains, plateaus) apply."""
        return self.purpose is not Purpose.SCREENING

    def band_for(self, total: float) -> Band | None:
        if math.isnan(total):
            return None
        for b in self.bands:
            if b.contains(total):
                return b
        return None

    def uncertain_values(self) -> tuple[str, ...]:
        """Names of the values that methods.md marks [UNCERTAIN] for this instrument."""
        found: list[str] = []
        checks: list[tuple[str, Citation | None]] = [
            ("reliable_change", self.reliable_change.citation),
            ("missing", self.missing.citation),
            ("bands", self.bands_citation),
            ("licence", self.licence.citation),
            ("reliability", self.reliability.citation if self.reliability else None),
            ("risk", self.risk.citation if self.risk else None),
            ("conversion", self.scoring.conversion_citation),
        ]
        checks += [(f"cutoffs.{c.id}", c.citation) for c in self.cutoffs]
        checks += [(f"norms.{n.population}", n.citation) for n in self.norms]
        checks += [(f"subscales.{s.id}", s.citation) for s in self.subscales]
        for name, cit in checks:
            if cit is not None and cit.evidence is Evidence.UNCERTAIN:
                found.append(name)
        return tuple(found)
