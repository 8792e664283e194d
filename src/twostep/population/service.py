"""``service.json`` / ``service.html``: the service's outcome rates from merged bucket counts.

Two families of rates, each for the whole service and, when the data have the
column, per therapist, per site and per period (calendar quarter of the
episode's last administration):

* **NHS Talking Therapies** (methods.md §2.3), when PHQ-9 and GAD-7 were
  recorded at the same sessions: recovery, reliable recovery, reliable
  improvement and reliable deterioration, over referrals that finished
  treatment (at least ``min_pairs`` paired sessions, standing in for attended
  treatment appointments — a score file does not record attendance), computed
  by `twostep.analytics.talking_therapies.rates_from_counts`;
* **per instrument** (Jacobson & Truax, methods.md §1): reliable improvement
  and reliable deterioration over clients with a first and a last score, and
  recovery over those of them who were a case at the start.

Every rate has its 95 % Wilson interval. Cells whose numerator or
denominator is below 10 are suppressed in both files (count and rate
withheld), as NHS statistical disclosure control asks for published tables;
and per therapist, site or period, when the service total is shown and
exactly one group is withheld, the shown group with the smallest denominator
is withheld too ("complementary"), so that no withheld count is the total
minus the shown groups (the same counts for ``n_finished`` / ``n_paired``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np

from twostep.analytics.intervals import is_suppressed, wilson_interval
from twostep.analytics.talking_therapies import (
    OUTCOME_COUNT_FIELDS,
    OutcomeCounts,
    rates_from_counts,
)
from twostep.population.work import CHANGE_FIELDS, DIMENSIONS, TALKING_THERAPIES, Partials

SUPPRESS_BELOW = 10
TT_RATES = ("recovery", "reliable_recovery", "reliable_improvement", "reliable_deterioration")


def _cell(k: int, n: int, suppressed: bool, p: float, lo: float, hi: float) -> dict[str, Any]:
    if suppressed:
        return {"k": None, "n": n if n >= SUPPRESS_BELOW else None, "suppressed": True}
    if n == 0:
        return {"k": 0, "n": 0, "rate": None, "lower": None, "upper": None, "suppressed": False}
    return {"k": k, "n": n, "rate": p, "lower": lo, "upper": hi, "suppressed": False}


def _complementary(
    by: dict[str, list[dict[str, Any]]], rates: tuple[str, ...], count_key: str
) -> None:
    """Per dimension (not the service itself): with the service total shown, never exactly
    one withheld group — the shown group with the smallest denominator is withheld too."""
    service = by.get("service")
    if not service:
        return
    total = service[0]
    for dim, rows in by.items():
        if dim == "service" or len(rows) < 2:
            continue
        for rate in rates:
            if total[rate].get("suppressed"):
                continue
            hidden = [r for r in rows if r[rate].get("suppressed")]
            shown = [r for r in rows if not r[rate].get("suppressed")]
            if len(hidden) == 1 and shown:
                victim = min(shown, key=lambda r: int(r[rate]["n"]))
                victim[rate] = {"k": None, "n": None, "suppressed": True, "complementary": True}
        if total.get(count_key) is not None:
            missing = [r for r in rows if r.get(count_key) is None]
            present = [r for r in rows if r.get(count_key) is not None]
            if len(missing) == 1 and present:
                min(present, key=lambda r: int(r[count_key]))[count_key] = None


def _groups(partials: Partials, table: str, dimension: str) -> list[str]:
    return sorted(k for t, d, k in partials.counts if t == table and d == dimension)


def talking_therapies_rates(partials: Partials) -> dict[str, list[dict[str, Any]]]:
    """Rates per dimension and group (empty when there were no PHQ-9/GAD-7 pairs)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for dim in DIMENSIONS:
        keys = _groups(partials, TALKING_THERAPIES, dim)
        if not keys:
            continue
        m = np.stack([partials.counts[(TALKING_THERAPIES, dim, k)] for k in keys])
        counts = OutcomeCounts(*(m[:, i] for i in range(len(OUTCOME_COUNT_FIELDS))))
        rates = rates_from_counts(counts, suppression_threshold=SUPPRESS_BELOW)
        rows: list[dict[str, Any]] = []
        for g, key in enumerate(keys):
            finished = int(counts.n_finished[g])
            row: dict[str, Any] = {
                "group": key,
                "n_finished": finished if finished >= SUPPRESS_BELOW else None,
            }
            for name in TT_RATES:
                r = getattr(rates, name)
                row[name] = _cell(
                    int(r.numerator[g]),
                    int(r.denominator[g]),
                    bool(r.suppressed[g]),
                    float(r.proportion[g]),
                    float(r.lower[g]),
                    float(r.upper[g]),
                )
            rows.append(row)
        out[dim] = rows
    _complementary(out, TT_RATES, "n_finished")
    return out


def instrument_rates(partials: Partials, instrument: str) -> dict[str, list[dict[str, Any]]]:
    """Reliable improvement, deterioration and recovery per dimension and group."""
    out: dict[str, list[dict[str, Any]]] = {}
    idx = {f: i for i, f in enumerate(CHANGE_FIELDS)}
    for dim in DIMENSIONS:
        keys = _groups(partials, instrument, dim)
        if not keys:
            continue
        m = np.stack([partials.counts[(instrument, dim, k)] for k in keys])
        rows: list[dict[str, Any]] = []
        for name, num, den in (
            ("reliable_improvement", "improved", "n_paired"),
            ("reliable_deterioration", "deteriorated", "n_paired"),
            ("recovery", "recovered", "n_case_at_start"),
        ):
            k, n = m[:, idx[num]], m[:, idx[den]]
            ci = wilson_interval(k, n)
            small = is_suppressed(k, threshold=SUPPRESS_BELOW) | is_suppressed(
                n, threshold=SUPPRESS_BELOW
            )
            for g, key in enumerate(keys):
                if len(rows) <= g:
                    paired = int(m[g, idx["n_paired"]])
                    rows.append(
                        {"group": key, "n_paired": paired if paired >= SUPPRESS_BELOW else None}
                    )
                rows[g][name] = _cell(
                    int(k[g]),
                    int(n[g]),
                    bool(small[g]),
                    float(ci.proportion[g]),
                    float(ci.lower[g]),
                    float(ci.upper[g]),
                )
        out[dim] = rows
    _complementary(out, ("reliable_improvement", "reliable_deterioration", "recovery"), "n_paired")
    return out


def service_report(partials: Partials, *, source: str, min_pairs: int) -> dict[str, Any]:
    """The content of ``service.json`` (deterministic: no clock, sorted groups)."""
    instruments = sorted(partials.clients)
    return {
        "source": source,
        "n_rows": partials.n_rows,
        "clients": {k: partials.clients[k] for k in instruments},
        "intervals": "95 % Wilson",
        "suppression": f"counts and rates of cells with a numerator or denominator below "
        f"{SUPPRESS_BELOW} are withheld (null), and a second group where one withheld group "
        "could otherwise be worked out from the service total",
        "talking_therapies": {
            "definition": "NHS Talking Therapies (methods.md §2.3): PHQ-9 with GAD-7 at the "
            "same session; caseness PHQ-9 >= 10, GAD-7 >= 8; reliable change PHQ-9 6, GAD-7 4; "
            f"finished treatment = at least {min_pairs} paired sessions",
            "by": talking_therapies_rates(partials),
        },
        "instruments": {iid: instrument_rates(partials, iid) for iid in instruments},
    }


def _fmt(cell: Mapping[str, Any]) -> tuple[str, str, str]:
    if cell.get("complementary"):
        return "withheld so that a small group cannot be worked out", "withheld", "—"
    if cell.get("suppressed"):
        n = cell.get("n")
        return "<10", "suppressed", "—" if n is None else f"n = {n:,}"
    if not cell.get("n"):
        return "0", "—", "—"
    return (
        f"{cell['k']:,} / {cell['n']:,}",
        f"{100 * cell['rate']:.1f} %",
        f"{100 * cell['lower']:.1f}–{100 * cell['upper']:.1f} %",
    )


def _table(title: str, rows: list[dict[str, Any]], rates: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(r.replace('_', ' '))}</th><th>95 % CI</th>" for r in rates)
    body = []
    for row in rows:
        cells = []
        for r in rates:
            counts, rate, ci = _fmt(row[r])
            cells.append(f"<td title='{html.escape(counts)}'>{html.escape(rate)}</td>")
            cells.append(f"<td>{html.escape(ci)}</td>")
        body.append(
            f"<tr><th scope='row'>{html.escape(str(row['group']))}</th>{''.join(cells)}</tr>"
        )
    return (
        f"<h3>{html.escape(title)}</h3><table><thead><tr><th>group</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def service_html(report: Mapping[str, Any]) -> str:
    """A self-contained HTML page of ``report`` (no scripts, no external resources)."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>twostep — service outcomes</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}",
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}",
        "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}",
        "th[scope=row]{text-align:left}</style></head><body>",
        "<h1>Service outcomes</h1>",
        f"<p>{html.escape(str(report['source']))}: {report['n_rows']:,} rows; clients per "
        "instrument: "
        + ", ".join(f"{html.escape(k)} {v:,}" for k, v in report["clients"].items())
        + f". Intervals: {html.escape(report['intervals'])}; {html.escape(report['suppression'])}.</p>",
    ]
    tt = report["talking_therapies"]
    if tt["by"]:
        parts.append("<h2>NHS Talking Therapies</h2>")
        parts.append(f"<p>{html.escape(tt['definition'])}</p>")
        for dim, rows in tt["by"].items():
            parts.append(_table(f"by {dim}", rows, TT_RATES))
    for iid, by in report["instruments"].items():
        parts.append(f"<h2>{html.escape(iid)}: reliable change (Jacobson &amp; Truax)</h2>")
        for dim, rows in by.items():
            parts.append(
                _table(
                    f"by {dim}",
                    rows,
                    ("reliable_improvement", "reliable_deterioration", "recovery"),
                )
            )
    parts.append("</body></html>\n")
    return "".join(parts)
