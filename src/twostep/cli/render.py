"""Rich renderings of catalogue entries and results for the terminal."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from twostep.instruments.model import Citation, Evidence, Instrument, ReliableChangeKind
from twostep.instruments.registry import Catalogue


def _mark(citation: Citation | None) -> str:
    if citation is None:
        return ""
    if citation.evidence is Evidence.UNCERTAIN:
        return " [UNCERTAIN]"
    if citation.evidence is Evidence.PROPOSED:
        return " [twostep rule]"  # escaped by the callers
    return ""


def _row(table: Table, *cells: str) -> None:
    """Add a row whose cells are plain text (brackets are not rich markup)."""
    table.add_row(*(escape(c) for c in cells))


def _num(x: float) -> str:
    return f"{x:g}"


def rc_text(ins: Instrument) -> str:
    rc = ins.reliable_change
    if rc.kind is ReliableChangeKind.FIXED and rc.threshold is not None:
        return f"{_num(rc.threshold)} (fixed){_mark(rc.citation)}"
    if rc.kind is ReliableChangeKind.JACOBSON_TRUAX and rc.threshold is not None:
        return f"{_num(rc.threshold)} (Jacobson–Truax){_mark(rc.citation)}"
    if rc.kind is ReliableChangeKind.LOCAL:
        return "local (J&T from own data)"
    return "n/a (screening)"


def cutoff_text(ins: Instrument) -> str:
    c = ins.clinical_cutoff
    if c is None:
        return "—"
    return f"{c.comparison.value} {_num(c.value)}{_mark(c.citation)}"


def catalogue_table(catalogue: Catalogue) -> Table:
    """One row per instrument: the facts a clinician looks for first."""
    table = Table(title="twostep instrument catalogue", show_lines=False)
    for col in ("id", "instrument", "items", "range", "higher =", "case", "RC", "item text"):
        table.add_column(col, no_wrap=col in ("id", "range"))
    for ins in catalogue:
        sc = ins.scoring
        _row(
            table,
            ins.id,
            ins.short_name + ("" if ins.validated else " (not validated)"),
            str(len(ins.scored_items)),
            f"{_num(sc.total_min)}–{_num(sc.total_max)}",
            "better" if ins.higher_is_better else "worse",
            cutoff_text(ins),
            rc_text(ins),
            "yes" if ins.shows_item_text else f"no ({ins.licence.status.value})",
        )
    return table


def instrument_panel(ins: Instrument) -> Group:
    """Everything the catalogue holds about one instrument."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    sc = ins.scoring
    _row(facts, "id", ins.id)
    _row(facts, "version", ins.version)
    _row(facts, "purpose", ins.purpose.value + ("" if ins.validated else " — not validated"))
    _row(facts, "direction", "higher is better" if ins.higher_is_better else "higher is worse")
    how = f"{sc.method} of {len(ins.scored_items)} items"
    if sc.multiplier != 1:
        how += f" × {_num(sc.multiplier)}"
    if sc.conversion:
        how += f", converted by table{_mark(sc.conversion_citation)}"
    _row(facts, "scoring", f"{how}; total {_num(sc.total_min)}–{_num(sc.total_max)}")
    for c in ins.cutoffs:
        default = " (default)" if c.default else ""
        _row(
            facts,
            "cut-off",
            f"{c.comparison.value} {_num(c.value)} — {c.description}{default}{_mark(c.citation)}"
            f"\n  source: {c.citation.source}",
        )
    _row(
        facts, "reliable change", f"{rc_text(ins)}\n  source: {ins.reliable_change.citation.source}"
    )
    if ins.reliability is not None:
        rel = ins.reliability
        figures = []
        if rel.alpha is not None:
            figures.append(f"α {_num(rel.alpha)}")
        if rel.test_retest is not None:
            figures.append(f"test–retest {_num(rel.test_retest)}")
        _row(facts, "reliability", ", ".join(figures) + _mark(rel.citation))
    for n in ins.norms:
        _row(facts, "norm", f"{n.population}: M {_num(n.mean)}, SD {_num(n.sd)}{_mark(n.citation)}")
    m = ins.missing
    rule = f"prorate with ≤ {m.max_missing} missing" if m.max_missing else "complete responses only"
    if m.never_impute:
        rule += f"; never impute {', '.join(m.never_impute)}"
    if m.max_missing_per_subscale is not None:
        rule += f"; ≤ {m.max_missing_per_subscale} missing per subscale"
    _row(facts, "missing items", rule + _mark(m.citation))
    if ins.risk is not None:
        tiers = "; ".join(f"≥{t.min_value}: {t.label}" for t in ins.risk.tiers)
        _row(facts, "risk items", f"{', '.join(ins.risk.items)} > {ins.risk.above} → {tiers}")
    if ins.loinc.panel or ins.loinc.total:
        _row(facts, "LOINC", f"panel {ins.loinc.panel or '—'}, total {ins.loinc.total or '—'}")
    _row(facts, "licence", f"{ins.licence.status.value}: {ins.licence.name}")

    items = Table(title="items", show_lines=False)
    items.add_column("#", justify="right")
    items.add_column("id")
    items.add_column("text" if ins.shows_item_text else "label (item text not licensed)")
    items.add_column("answers")
    for it in ins.items:
        if it.scale.kind == "choice":
            answers = ", ".join(f"{o.value} {o.label}" for o in it.scale.options)
        else:
            answers = f"{_num(it.scale.minimum)}–{_num(it.scale.maximum)} (line)"
        flags = []
        if it.reverse:
            flags.append("reverse")
        if not it.scored:
            flags.append("not scored")
        if ins.risk is not None and it.id in ins.risk.items:
            flags.append("RISK")
        label = it.text if ins.shows_item_text and it.text else it.label
        if flags:
            label = f"{label} [{', '.join(flags)}]"
        _row(items, str(it.number), it.id, label, answers)

    bands = Table(title="severity bands")
    bands.add_column("range")
    bands.add_column("band")
    for b in ins.bands:
        _row(bands, f"{_num(b.minimum)}–{_num(b.maximum)}", b.label)
    parts: list[Panel | Table | Text] = [
        Panel(facts, title=f"{ins.short_name} — {ins.name}", subtitle=ins.description)
    ]
    if ins.timeframe:
        parts.append(Text(ins.timeframe, style="italic"))
    parts.append(items)
    if ins.bands:
        parts.append(bands)
    parts.append(Text("Licence notice: " + ins.licence.notice, style="dim"))
    if ins.notes:
        parts.append(Text("Notes: " + " ".join(ins.notes), style="dim"))
    return Group(*parts)
