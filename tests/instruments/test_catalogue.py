"""The built-in catalogue: every definition loads, obeys its licence and marks its evidence.

Schema errors are tested with small broken TOML documents passed to
`parse_file`, whose messages must name the file and the field.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import pytest

from twostep.errors import CatalogueError
from twostep.instruments.model import (
    Comparison,
    Direction,
    Evidence,
    Instrument,
    LicenceStatus,
    Purpose,
    ReliableChangeKind,
)
from twostep.instruments.registry import Catalogue, parse_file

SHIPPED = {
    "phq9",
    "phq2",
    "gad7",
    "gad2",
    "core10",
    "pcl5",
    "ors",
    "srs",
    "wai_sr",
    "swemwbs",
    "k10",
    "engagement",
}
TEXT_ALLOWED = {"phq9", "phq2", "gad7", "gad2", "pcl5", "k10", "engagement"}
NO_TEXT = SHIPPED - TEXT_ALLOWED

LICENCE_DIR = Path(str(resources.files("twostep.instruments") / "licences"))
DEFINITION_DIR = Path(str(resources.files("twostep.instruments") / "definitions"))


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(entry_points=False)


def _all() -> list[Instrument]:
    return list(Catalogue.load(entry_points=False))


# --- the catalogue as a whole -------------------------------------------------------------


def test_catalogue_loads_every_shipped_instrument(catalogue: Catalogue) -> None:
    assert set(catalogue.ids) == SHIPPED
    assert len(catalogue) == len(SHIPPED)


def test_definition_files_are_named_after_their_id() -> None:
    stems = {p.stem for p in DEFINITION_DIR.glob("*.toml")}
    assert stems == SHIPPED


@pytest.mark.parametrize("ins", _all(), ids=lambda i: i.id)
def test_item_ids_follow_the_data_contract(ins: Instrument) -> None:
    # design.md: CSV item columns are item_1 ... item_n
    assert ins.item_ids == tuple(f"item_{n}" for n in range(1, len(ins.items) + 1))


@pytest.mark.parametrize("ins", _all(), ids=lambda i: i.id)
def test_licence_notice_file_exists(ins: Instrument) -> None:
    assert ins.licence.file is not None
    path = LICENCE_DIR / ins.licence.file
    assert path.is_file()
    text = path.read_text(encoding="utf-8")
    assert "placeholder" not in text.lower()
    assert "Apache" in text  # every notice says how it relates to the code licence


def test_licence_readme_explains_the_separation() -> None:
    text = (LICENCE_DIR / "README.md").read_text(encoding="utf-8")
    assert "Apache License 2.0" in text
    assert "separate" in text


# --- licences and item text ---------------------------------------------------------------


@pytest.mark.parametrize("ins", _all(), ids=lambda i: i.id)
def test_text_is_present_exactly_when_the_licence_allows_it(ins: Instrument) -> None:
    if ins.id in TEXT_ALLOWED:
        assert ins.licence.ship_item_text
        assert ins.timeframe
        assert all(item.text for item in ins.items)
    else:
        assert not ins.licence.ship_item_text
        assert ins.timeframe is None
        assert all(item.text is None for item in ins.items)
    assert all(item.label for item in ins.items)  # neutral labels are always there


@pytest.mark.parametrize(
    ("instrument_id", "status"),
    [
        ("phq9", LicenceStatus.SHIP),
        ("phq2", LicenceStatus.SHIP),
        ("gad7", LicenceStatus.SHIP),
        ("gad2", LicenceStatus.SHIP),
        ("pcl5", LicenceStatus.SHIP),
        ("k10", LicenceStatus.SHIP),
        ("core10", LicenceStatus.SHIP_VERBATIM),
        ("ors", LicenceStatus.NO_SHIP),
        ("srs", LicenceStatus.NO_SHIP),
        ("wai_sr", LicenceStatus.NO_SHIP),
        ("swemwbs", LicenceStatus.NO_SHIP),
        ("engagement", LicenceStatus.OWN),
    ],
)
def test_licence_status(catalogue: Catalogue, instrument_id: str, status: LicenceStatus) -> None:
    assert catalogue.get(instrument_id).licence.status is status


def test_core10_is_scoring_only_until_the_wording_is_confirmed(catalogue: Catalogue) -> None:
    core = catalogue.get("core10")
    assert not core.shows_item_text
    assert "CC BY-ND 4.0" in core.licence.notice
    assert "confirmed" in core.licence.notice


# --- evidence markers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "expected"),
    [
        ("gad7", {"norms.community"}),
        ("core10", {"bands"}),
        ("pcl5", {"reliable_change", "cutoffs.nhs_tt_caseness"}),
        ("ors", {"cutoffs.clinical_adolescent", "norms.clinical"}),
        ("srs", {"reliable_change", "reliability", "cutoffs.alliance_concern"}),
        (
            "wai_sr",
            {"licence", "reliability", "subscales.task", "subscales.goal", "subscales.bond"},
        ),
        ("swemwbs", {"licence", "reliability", "conversion"}),
        ("k10", {"licence", "reliability"}),
        ("phq2", set()),
        ("gad2", set()),
        ("engagement", set()),
    ],
)
def test_uncertain_values_are_marked(
    catalogue: Catalogue, instrument_id: str, expected: set[str]
) -> None:
    assert set(catalogue.get(instrument_id).uncertain_values()) == expected


def test_every_uncertain_value_carries_a_note() -> None:
    for ins in _all():
        cits = [
            ins.reliable_change.citation,
            ins.missing.citation,
            ins.bands_citation,
            ins.licence.citation,
            ins.reliability.citation if ins.reliability else None,
            ins.risk.citation if ins.risk else None,
            ins.scoring.conversion_citation,
            *(c.citation for c in ins.cutoffs),
            *(n.citation for n in ins.norms),
            *(s.citation for s in ins.subscales),
        ]
        for cit in cits:
            if cit is not None and cit.evidence is Evidence.UNCERTAIN:
                assert cit.note, f"{ins.id}: uncertain value without a note ({cit.source})"


def test_core10_reverse_keying_is_flagged_uncertain(catalogue: Catalogue) -> None:
    core = catalogue.get("core10")
    assert [i.id for i in core.items if i.reverse] == ["item_2", "item_3"]
    note = next(n for n in core.notes if "Reverse keying" in n)
    assert "UNCERTAIN" in note
    assert "items 3 and 4" in note


@pytest.mark.parametrize(
    "instrument_id", ["gad7", "phq2", "gad2", "pcl5", "wai_sr", "swemwbs", "k10", "engagement"]
)
def test_missing_rules_are_twostep_proposals(catalogue: Catalogue, instrument_id: str) -> None:
    cit = catalogue.get(instrument_id).missing.citation
    assert cit.evidence is Evidence.PROPOSED
    assert "twostep" in cit.source


def test_twostep_rules_are_marked_proposed(catalogue: Catalogue) -> None:
    core = catalogue.get("core10")
    assert core.risk is not None
    assert core.risk.citation.evidence is Evidence.PROPOSED
    k10 = catalogue.get("k10")
    assert k10.clinical_cutoff is not None
    assert k10.clinical_cutoff.citation.evidence is Evidence.PROPOSED


# --- key published values (literals from methods.md) --------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "kind", "threshold"),
    [
        ("phq9", ReliableChangeKind.FIXED, 6.0),
        ("gad7", ReliableChangeKind.FIXED, 4.0),
        ("core10", ReliableChangeKind.FIXED, 6.0),
        ("pcl5", ReliableChangeKind.FIXED, 10.0),
        ("ors", ReliableChangeKind.FIXED, 5.0),
        ("srs", ReliableChangeKind.LOCAL, None),
        ("wai_sr", ReliableChangeKind.LOCAL, None),
        ("swemwbs", ReliableChangeKind.LOCAL, None),
        ("k10", ReliableChangeKind.LOCAL, None),
        ("phq2", ReliableChangeKind.NOT_APPLICABLE, None),
        ("gad2", ReliableChangeKind.NOT_APPLICABLE, None),
        ("engagement", ReliableChangeKind.NOT_APPLICABLE, None),
    ],
)
def test_reliable_change(
    catalogue: Catalogue, instrument_id: str, kind: ReliableChangeKind, threshold: float | None
) -> None:
    rc = catalogue.get(instrument_id).reliable_change
    assert rc.kind is kind
    assert rc.threshold == threshold


@pytest.mark.parametrize(
    ("instrument_id", "cutoff_id", "value", "comparison", "default"),
    [
        ("gad7", "nhs_tt_caseness", 8.0, Comparison.GE, True),
        ("gad7", "screening", 10.0, Comparison.GE, False),
        ("phq2", "screening", 3.0, Comparison.GE, True),
        ("gad2", "screening", 3.0, Comparison.GE, True),
        ("core10", "clinical", 11.0, Comparison.GE, True),
        ("pcl5", "nhs_tt_caseness", 32.0, Comparison.GE, True),
        ("pcl5", "provisional_ptsd", 33.0, Comparison.GE, False),
        ("ors", "clinical_adult", 25.0, Comparison.LT, True),
        ("ors", "clinical_adolescent", 28.0, Comparison.LT, False),
        ("srs", "alliance_concern", 36.0, Comparison.LT, True),
        ("k10", "moderate_or_higher", 16.0, Comparison.GE, True),
    ],
)
def test_cutoffs(
    catalogue: Catalogue,
    instrument_id: str,
    cutoff_id: str,
    value: float,
    comparison: Comparison,
    default: bool,
) -> None:
    cut = next(c for c in catalogue.get(instrument_id).cutoffs if c.id == cutoff_id)
    assert (cut.value, cut.comparison, cut.default) == (value, comparison, default)


@pytest.mark.parametrize("instrument_id", ["wai_sr", "swemwbs", "engagement"])
def test_instruments_without_a_cutoff(catalogue: Catalogue, instrument_id: str) -> None:
    assert catalogue.get(instrument_id).cutoffs == ()


def test_screening_instruments_are_not_tracked(catalogue: Catalogue) -> None:
    for iid in ("phq2", "gad2"):
        ins = catalogue.get(iid)
        assert ins.purpose is Purpose.SCREENING
        assert not ins.tracks_outcome
        assert "screening only" in ins.reliable_change.citation.source


def test_direction_and_purpose(catalogue: Catalogue) -> None:
    better = {i.id for i in catalogue if i.direction is Direction.HIGHER_IS_BETTER}
    assert better == {"ors", "srs", "wai_sr", "swemwbs"}
    assert {i.id for i in catalogue if i.purpose is Purpose.ALLIANCE} == {"srs", "wai_sr"}
    assert {i.id for i in catalogue if i.purpose is Purpose.PROCESS} == {"engagement"}


def test_engagement_check_is_twostep_own_unvalidated_check(catalogue: Catalogue) -> None:
    eng = catalogue.get("engagement")
    assert eng.validated is False
    assert eng.licence.name == "Apache-2.0"
    assert eng.shows_item_text
    assert "not a validated instrument" in eng.description
    assert eng.scoring.method == "mean"
    assert len(eng.items) == 5
    assert [o.value for o in eng.items[0].scale.options] == [0, 1, 2, 3]


def test_gad7_answer_labels_and_codes(catalogue: Catalogue) -> None:
    gad7 = catalogue.get("gad7")
    options = gad7.item("item_2").scale.options
    assert options[0].label == "Not at all"  # Zorowitz et al. 2021
    assert [o.loinc for o in options] == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    assert options[2].alt_loinc == ("LA18938-3",)
    assert [i.loinc for i in gad7.items] == [
        "69725-0",
        "68509-9",
        "69733-4",
        "69734-2",
        "69735-9",
        "69689-8",
        "69736-7",
    ]
    assert (gad7.loinc.panel, gad7.loinc.total) == ("69737-5", "70274-6")


@pytest.mark.parametrize(("short", "full"), [("phq2", "phq9"), ("gad2", "gad7")])
def test_two_item_screeners_reuse_the_first_two_items(
    catalogue: Catalogue, short: str, full: str
) -> None:
    s, f = catalogue.get(short), catalogue.get(full)
    assert [(i.text, i.loinc) for i in s.items] == [(i.text, i.loinc) for i in f.items[:2]]
    assert s.items[0].scale.options == f.items[0].scale.options


def test_gad2_has_no_panel_or_total_code(catalogue: Catalogue) -> None:
    gad2 = catalogue.get("gad2")
    assert (gad2.loinc.panel, gad2.loinc.total) == (None, None)
    assert any("LOINC" in n for n in gad2.notes)
    phq2 = catalogue.get("phq2")
    assert (phq2.loinc.panel, phq2.loinc.total) == ("55757-9", "55758-7")


def test_pcl5_clusters_and_codes(catalogue: Catalogue) -> None:
    pcl5 = catalogue.get("pcl5")
    clusters = {s.id: [int(i.split("_")[1]) for i in s.items] for s in pcl5.subscales}
    assert clusters == {
        "cluster_b": [1, 2, 3, 4, 5],
        "cluster_c": [6, 7],
        "cluster_d": [8, 9, 10, 11, 12, 13, 14],
        "cluster_e": [15, 16, 17, 18, 19, 20],
    }
    assert (pcl5.loinc.panel, pcl5.loinc.total) == ("101697-1", "101698-9")
    assert all(i.loinc is None for i in pcl5.items)
    assert pcl5.items[0].text == (
        "Repeated, disturbing, and unwanted memories of the stressful experience?"
    )


def test_wai_sr_subscales(catalogue: Catalogue) -> None:
    wai = catalogue.get("wai_sr")
    subs = {s.id: s.items for s in wai.subscales}
    assert subs == {
        "task": ("item_1", "item_2", "item_10", "item_12"),
        "goal": ("item_4", "item_6", "item_8", "item_11"),
        "bond": ("item_3", "item_5", "item_7", "item_9"),
    }
    assert not any(i.reverse for i in wai.items)


@pytest.mark.parametrize("instrument_id", ["ors", "srs", "engagement", "gad2", "k10", "pcl5"])
def test_only_phq9_and_core10_have_risk_items(catalogue: Catalogue, instrument_id: str) -> None:
    assert catalogue.get(instrument_id).risk is None


# --- total range consistency --------------------------------------------------------------


@pytest.mark.parametrize("ins", _all(), ids=lambda i: i.id)
def test_total_range_matches_items(ins: Instrument) -> None:
    scored = ins.scored_items
    lo = sum(i.scale.minimum for i in scored)
    hi = sum(i.scale.maximum for i in scored)
    sc = ins.scoring
    if sc.conversion:
        assert sc.conversion_from == lo
        assert len(sc.conversion) == hi - lo + 1
        assert (sc.conversion[0], sc.conversion[-1]) == (sc.total_min, sc.total_max)
        assert list(sc.conversion) == sorted(sc.conversion)
    elif sc.method == "sum":
        assert (lo, hi) == (sc.total_min, sc.total_max)
    else:
        assert (min(i.scale.minimum for i in scored), max(i.scale.maximum for i in scored)) == (
            sc.total_min,
            sc.total_max,
        )


@pytest.mark.parametrize("ins", [i for i in _all() if i.bands], ids=lambda i: i.id)
def test_bands_partition_the_integer_range(ins: Instrument) -> None:
    lo, hi = int(ins.scoring.total_min), int(ins.scoring.total_max)
    for total in range(lo, hi + 1):
        hits = [b for b in ins.bands if b.contains(total)]
        assert len(hits) == 1, f"{ins.id}: total {total} is in {len(hits)} bands"


@pytest.mark.parametrize("ins", _all(), ids=lambda i: i.id)
def test_norms_and_reliabilities_are_plausible(ins: Instrument) -> None:
    for n in ins.norms:
        assert ins.scoring.total_min <= n.mean <= ins.scoring.total_max
        assert n.sd > 0
    if ins.reliability is not None:
        for r in (ins.reliability.alpha, ins.reliability.test_retest):
            assert r is None or (0 < r < 1 and not math.isnan(r))


# --- schema errors ------------------------------------------------------------------------

MINIMAL = """
schema_version = 1
id = "broken"
name = "Broken test instrument"
short_name = "BRK"
version = "1"
description = "A two-item instrument used to test schema errors."
direction = "higher_is_worse"
purpose = "outcome"
validated = false
references = ["none"]

[licence]
status = "OWN"
name = "Apache-2.0"
notice = "test"
ship_item_text = false

[[response_scales]]
id = "freq"
kind = "choice"
options = [{ value = 0, label = "no" }, { value = 1, label = "some" }, { value = 2, label = "yes" }]

[[items]]
id = "item_1"
scale = "freq"
label = "one"

[[items]]
id = "item_2"
scale = "freq"
label = "two"

[scoring]
method = "sum"
total_min = 0
total_max = 4

[missing]
max_missing = 0
source = "test"
evidence = "proposed"

[reliable_change]
kind = "local"
source = "test"
"""


def _error(name: str, text: str) -> str:
    with pytest.raises(CatalogueError) as info:
        parse_file(name, text)
    return str(info.value)


def test_minimal_definition_is_valid() -> None:
    ins = parse_file("broken.toml", MINIMAL)
    assert ins.id == "broken"
    assert ins.source_file == "broken.toml"


def test_unknown_response_scale_names_file_and_field() -> None:
    text = MINIMAL.replace('scale = "freq"\nlabel = "one"', 'scale = "frq"\nlabel = "one"')
    msg = _error("broken.toml", text)
    assert "broken.toml: items[0].scale: unknown response scale 'frq' (known: freq)" in msg


def test_unknown_top_level_field_is_rejected() -> None:
    msg = _error("broken.toml", MINIMAL.replace('version = "1"', 'version = "1"\ncolour = "red"'))
    assert "broken.toml: colour: field is not part of the instrument schema" in msg


def test_unknown_nested_field_is_rejected() -> None:
    text = MINIMAL.replace('label = "two"', 'label = "two"\nrevrese = true')
    msg = _error("broken.toml", text)
    assert "broken.toml: items[1].revrese: field is not part of the instrument schema" in msg


def test_unknown_field_in_a_citation_block_is_rejected() -> None:
    text = MINIMAL.replace('evidence = "proposed"', 'evidence = "proposed"\nevidance = "x"')
    msg = _error("broken.toml", text)
    assert "broken.toml: missing.evidance: field is not part of the instrument schema" in msg


def test_bad_evidence_value_is_rejected() -> None:
    msg = _error("broken.toml", MINIMAL.replace('evidence = "proposed"', 'evidence = "probable"'))
    assert (
        "broken.toml: missing.evidence: 'probable' is not one of: verified, uncertain, proposed"
        in msg
    )


def test_missing_required_field_is_named() -> None:
    msg = _error("broken.toml", MINIMAL.replace('short_name = "BRK"\n', ""))
    assert "broken.toml: short_name: required field is missing" in msg


def test_id_must_match_the_file_name() -> None:
    msg = _error("elsewhere.toml", MINIMAL)
    assert "elsewhere.toml: id 'broken' must match the file name 'elsewhere'" in msg


def test_id_check_uses_the_file_stem_of_a_path() -> None:
    assert parse_file("/some/dir/broken.toml", MINIMAL).id == "broken"


def test_total_range_must_match_the_items() -> None:
    msg = _error("broken.toml", MINIMAL.replace("total_max = 4", "total_max = 5"))
    assert "broken.toml: scoring.total_max: items sum to 0..4 but the total range says 0..5" in msg


def test_item_text_needs_a_licence_that_allows_it() -> None:
    text = MINIMAL.replace('label = "one"', 'label = "one"\ntext = "Some wording"')
    msg = _error("broken.toml", text)
    assert (
        "broken.toml: items: item text is present but the licence does not allow shipping it" in msg
    )


def test_instruction_text_needs_a_licence_that_allows_it() -> None:
    text = MINIMAL.replace('purpose = "outcome"', 'purpose = "outcome"\ntimeframe = "Last week"')
    msg = _error("broken.toml", text)
    assert (
        "broken.toml: timeframe: the instruction text is present but the licence forbids text"
        in msg
    )


def test_shipped_text_must_cover_every_item() -> None:
    text = MINIMAL.replace("ship_item_text = false", "ship_item_text = true").replace(
        'label = "one"', 'label = "one"\ntext = "Some wording"'
    )
    msg = _error("broken.toml", text)
    assert "broken.toml: items: the licence allows item text, so every item needs its text" in msg


def test_band_outside_the_total_range_is_rejected() -> None:
    text = MINIMAL + '\n[[bands]]\nmin = 0\nmax = 9\nlabel = "all"\n'
    msg = _error("broken.toml", text)
    assert "broken.toml: bands: band 'all' lies outside the total range" in msg


def test_conversion_table_must_cover_the_raw_range() -> None:
    text = MINIMAL.replace(
        "total_max = 4",
        "total_max = 4\nconversion_from = 0\nconversion = [0, 1, 4]\n"
        'source = "t"\nevidence = "uncertain"',
    )
    msg = _error("broken.toml", text)
    assert "broken.toml: scoring.conversion: the table must cover raw totals 0..4" in msg


def test_never_impute_must_name_an_item() -> None:
    text = MINIMAL.replace("max_missing = 0", 'max_missing = 0\nnever_impute = ["item_9"]')
    msg = _error("broken.toml", text)
    assert "broken.toml: missing.never_impute: unknown item 'item_9'" in msg


def test_fixed_reliable_change_needs_a_threshold() -> None:
    msg = _error("broken.toml", MINIMAL.replace('kind = "local"', 'kind = "fixed"'))
    assert (
        "broken.toml: reliable_change.threshold: a fixed reliable-change rule needs a threshold"
        in msg
    )


def test_invalid_toml_names_the_file() -> None:
    msg = _error("broken.toml", MINIMAL + "\n[scoring\n")
    assert msg.startswith("broken.toml: not valid TOML")


def test_all_problems_are_reported_at_once() -> None:
    text = MINIMAL.replace('version = "1"', 'version = "1"\ncolour = "red"').replace(
        'evidence = "proposed"', 'evidence = "probable"'
    )
    msg = _error("broken.toml", text)
    assert "colour" in msg
    assert "missing.evidence" in msg


def test_a_pack_cannot_redefine_a_builtin_instrument(tmp_path: Path) -> None:
    text = (DEFINITION_DIR / "gad7.toml").read_text(encoding="utf-8")
    (tmp_path / "gad7.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match="already defined"):
        Catalogue.load([tmp_path], entry_points=False)
