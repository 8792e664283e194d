"""The self-contained HTML report of ``twostep analyze``.

One page, no scripts and nothing fetched: a service summary per measure
(counts per category with percentages), the clients who need attention with
the reasons, per-client charts (SVG from `charts`), and — when the data hold
PHQ-9 and GAD-7 at the same sessions — NHS Talking Therapies outcome rates.
The numbers all come from the kernel's tables; this module only arranges them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata

import jinja2
import numpy as np
import numpy.typing as npt

from twostep.analytics.contexts import explain_client
from twostep.analytics.etr import ETR_BAND_LABELS
from twostep.analytics.pipeline import CLINICAL_LABELS, RELIABLE_CHANGE_LABELS, Analysis
from twostep.analytics.trajectory import EARLY_RESPONSE_LABELS, STATUS_LABELS, Event, Status
from twostep.instruments.registry import Catalogue
from twostep.reports.charts import ClientSeries, client_chart_svg
from twostep.reports.talking_therapies import TalkingTherapiesSummary

#: Why a client is listed under "needs attention", most urgent first.
ATTENTION_REASONS = (
    ("deteriorated_confirmed", "reliable deterioration, confirmed at the next score"),
    ("deteriorated", "reliable deterioration at the latest score"),
    ("red_confirmed", "not on track twice in a row"),
    ("red", "not on track at the latest score"),
    ("plateau_stuck", "stuck plateau (no reliable improvement, still in clinical range)"),
    ("setback_sustained", "in a setback that has not recovered within two sessions"),
    ("in_setback", "in a setback"),
    ("plateau_partial", "partial-response plateau"),
    ("sudden_loss", "sudden loss at the latest score"),
    (
        "possible_sudden_loss",
        "possible sudden loss at the latest score (criterion 3 needs the next sessions)",
    ),
)


@dataclass(frozen=True)
class ReportOptions:
    """What goes into the report."""

    max_charts: int = 60


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}" if n else "—"


def _num(x: float) -> str:
    return "—" if np.isnan(x) else f"{x:g}"


def _anchor(text: str) -> str:
    """A readable id for headings (instrument ids are plain lowercase words)."""
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", text).strip("-").lower() or "x"


def _client_anchor(instrument_id: str, client_id: str) -> str:
    """A unique, safe id per client chart: distinct ids ("AB", "ab", "a b") get distinct anchors."""
    digest = hashlib.sha256(client_id.encode("utf-8")).hexdigest()[:16]
    return f"c-{_anchor(instrument_id)}-{digest}"


def attention_reasons(analysis: Analysis) -> tuple[npt.NDArray[np.int64], list[list[str]]]:
    """Clients needing attention, ranked, with their reasons (vectorised over clients).

    The rank is the most urgent reason of `ATTENTION_REASONS`, then the size of
    the latest rise from intake.
    """
    tr = analysis.trajectory
    bands = analysis.bands
    last = tr.last_row
    has = last >= 0
    lr = np.maximum(last, 0)
    status = np.where(has, tr.status[lr], 0)
    band = np.where(has, bands.band[lr], 0)
    confirmation = np.where(has, tr.confirmation[lr], 0)
    event = np.where(has, tr.event[lr], 0)
    in_setback = has & tr.in_setback[lr]
    # the onset row of an ongoing setback tells whether it is sustained
    onset_sustained = _ongoing_setback_sustained(analysis)
    red_label = ETR_BAND_LABELS.index("red")
    red_confirmed_label = ETR_BAND_LABELS.index("red_confirmed")
    flags = {
        "deteriorated_confirmed": (status == Status.DETERIORATED) & (confirmation == 1),
        "deteriorated": (status == Status.DETERIORATED) & (confirmation != 1),
        "red_confirmed": band == red_confirmed_label,
        "red": band == red_label,
        "plateau_stuck": status == Status.PLATEAU_STUCK,
        "setback_sustained": in_setback & onset_sustained,
        "in_setback": in_setback & ~onset_sustained,
        "plateau_partial": status == Status.PLATEAU_PARTIAL,
        "sudden_loss": event == Event.SUDDEN_LOSS,
        "possible_sudden_loss": event == Event.POSSIBLE_SUDDEN_LOSS,
    }
    rank = np.full(analysis.batch.n_clients, len(ATTENTION_REASONS), dtype=np.int64)
    for i, (key, _) in enumerate(reversed(ATTENTION_REASONS)):
        rank[flags[key]] = len(ATTENTION_REASONS) - 1 - i
    y = analysis.scale.severity(analysis.batch.raw)
    rise = np.where(has, y[lr] - y[np.maximum(tr.intake_row, 0)], 0.0)
    chosen = np.flatnonzero(rank < len(ATTENTION_REASONS))
    order = chosen[np.lexsort((-rise[chosen], rank[chosen]))]
    texts = dict(ATTENTION_REASONS)
    reasons = [[texts[k] for k, _ in ATTENTION_REASONS if flags[k][c]] for c in order.tolist()]
    return order.astype(np.int64), reasons


def _ongoing_setback_sustained(analysis: Analysis) -> npt.NDArray[np.bool_]:
    tr = analysis.trajectory
    onset_rows = np.flatnonzero(tr.setback_onset)
    out = np.zeros(analysis.batch.n_clients, dtype=bool)
    if onset_rows.size == 0:
        return out
    clients = analysis.batch.client_index[onset_rows]
    # the last onset of each client
    last_of_client = np.ones(onset_rows.size, dtype=bool)
    last_of_client[:-1] = clients[1:] != clients[:-1]
    rows = onset_rows[last_of_client]
    out[clients[last_of_client]] = tr.event[rows] == Event.SETBACK_SUSTAINED
    return out


def _count_table(
    title: str,
    label: str,
    codes: npt.NDArray[np.generic],
    labels: Sequence[str],
    n: int,
    note: str = "",
) -> dict[str, object]:
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(labels))
    rows = [
        {
            "label": labels[i].replace("_", " ") or "(none)",
            "count": int(c),
            "percent": _pct(int(c), n),
        }
        for i, c in enumerate(counts)
        if c > 0
    ]
    return {"title": title, "label": label, "rows": rows, "note": note}


def _summary(analysis: Analysis) -> list[dict[str, object]]:
    c = analysis.clients
    tr = analysis.trajectory
    has = tr.intake_row >= 0
    n = int(has.sum())
    scored = np.flatnonzero(has)
    out = [
        _count_table(
            "Reliable change (first to last score)",
            "change",
            c["reliable_change"][scored],
            RELIABLE_CHANGE_LABELS,
            n,
            f"{analysis.scale.rc_label}. Not computable = a single score.",
        ),
        _count_table(
            "Clinical significance (Jacobson & Truax 1991)",
            "category",
            c["clinical_category"][scored],
            CLINICAL_LABELS,
            n,
            "Recovered = a case at intake, below the cut-off at the last score, with reliable improvement.",
        ),
        _count_table(
            "Status at the latest score (twostep rule)",
            "status",
            c["status"][scored],
            STATUS_LABELS,
            n,
        ),
        _count_table(
            "Expected-response band at the latest score",
            "band",
            c["etr_band"][scored],
            ETR_BAND_LABELS,
            n,
            "Against fitted norms (methods.md §4.2)"
            if analysis.norms is not None
            else "No norms given: rule-based fallback (twostep rule, methods.md §4.3).",
        ),
        _count_table(
            "Early response (4th–6th administration)",
            "response",
            c["early_response"][scored],
            EARLY_RESPONSE_LABELS,
            n,
        ),
    ]
    gains = np.asarray(c["n_sudden_gains"][scored], dtype=np.int64)
    losses = np.asarray(c["n_sudden_losses"][scored], dtype=np.int64)
    setbacks = np.asarray(c["n_setbacks"][scored], dtype=np.int64)
    onsets = np.flatnonzero(tr.setback_onset)
    transient = int(np.sum(tr.event[onsets] == Event.SETBACK_TRANSIENT))
    sustained = int(np.sum(tr.event[onsets] == Event.SETBACK_SUSTAINED))
    sg = analysis.sudden_gains
    out.append(
        {
            "title": "Sudden gains, losses and setbacks",
            "label": "clients with at least one",
            "rows": [
                {
                    "label": "sudden gain",
                    "count": int((gains > 0).sum()),
                    "percent": _pct(int((gains > 0).sum()), n),
                },
                {
                    "label": "sudden loss",
                    "count": int((losses > 0).sum()),
                    "percent": _pct(int((losses > 0).sum()), n),
                },
                {
                    "label": "setback",
                    "count": int((setbacks > 0).sum()),
                    "percent": _pct(int((setbacks > 0).sum()), n),
                },
            ],
            "note": (
                f"{len(sg)} sudden gains ({int(np.sum(sg['reversal']))} reversed), "
                f"{len(analysis.sudden_losses)} sudden losses; {onsets.size} setback episodes: "
                f"{transient} transient, {sustained} sustained, "
                f"{onsets.size - transient - sustained} not yet resolved."
            ),
        }
    )
    return out


def _parameters(analysis: Analysis) -> list[tuple[str, str]]:
    s = analysis.scale
    sg = analysis.params.sudden_gains
    rows = [
        ("Reliable change", f"{s.rc_label}; {'|Δ| > RC' if s.rc.strict else '|Δ| ≥ RC'}"),
        (
            "Clinical cut-off",
            f"{s.cutoff_comparison.value} {s.cutoff:g} ({s.cutoff_source})"
            if s.cutoff is not None
            else "none",
        ),
        (
            "Sudden gains and losses",
            f"Tang & DeRubeis (1999): criterion 1 ≥ {sg.crit1 if sg.crit1 is not None else s.rc.threshold:g} points, "
            f"criterion 2 ≥ {sg.crit2:.0%} of the pregain score, criterion 3 "
            + (
                (
                    "on, critical values adjusted for missing neighbours (Lutz et al. 2013)"
                    if sg.crit3_adjust
                    else f"on, t = {sg.crit3_critical_value:g}"
                )
                if sg.crit3
                else "off"
            ),
        ),
        (
            "Setbacks, plateaus, status",
            "twostep rules (methods.md §5, §11): setback = worse than the best score so far by at least one RC, "
            f"regained at best + RC/2; plateau over the last {analysis.params.trajectory.plateau_window} scores.",
        ),
    ]
    norms = analysis.norms
    if norms is not None:
        rows.append(("Expected-response norms", norms.describe()))
    else:
        rows.append(("Expected-response norms", "none (rule-based fallback, methods.md §4.3)"))
    return rows


def _chart(analysis: Analysis, client: int, text: str) -> dict[str, object]:
    b = analysis.batch
    tr = analysis.trajectory
    bands = analysis.bands
    s = analysis.scale
    start, end = int(b.offsets[client]), int(b.offsets[client + 1])
    rows = np.arange(start, end)
    keep = rows[b.observed[rows]] if b.observed[rows].any() else rows
    best = tr.best_before[keep]
    gains = analysis.sudden_gains
    losses = analysis.sudden_losses

    def marks(table_rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.flatnonzero(np.isin(keep, table_rows)).astype(np.int64)

    g_rows = _event_rows(analysis, gains, client)
    l_rows = _event_rows(analysis, losses, client)
    onsets = keep[tr.setback_onset[keep]]
    # mark where each run of reliable deterioration starts, not every deteriorated score
    is_det = tr.status[keep] == Status.DETERIORATED
    scored = ~np.isnan(b.raw[keep])
    prev_det = np.zeros_like(is_det)
    running = False
    for i in range(is_det.shape[0]):  # one client's handful of sessions
        prev_det[i] = running
        if scored[i]:
            running = bool(is_det[i])
    det = keep[is_det & ~prev_det]
    has_norms = analysis.norms is not None
    key = str(b.client_keys[client])
    series = ClientSeries(
        title=f"{key} — {s.name}",
        measure=s.name,
        session=b.session[keep],
        score=b.raw[keep],
        higher_is_better=s.higher_is_better,
        minimum=s.minimum,
        maximum=s.maximum,
        rc=s.rc.threshold,
        cutoff=s.cutoff,
        best_before=s.native(best),
        expected_low=s.native(bands.expected_low[keep]) if has_norms else None,
        expected_high=s.native(bands.expected_high[keep]) if has_norms else None,
        expected_median=s.native(bands.expected_median[keep]) if has_norms else None,
        gains=marks(g_rows),
        losses=marks(l_rows),
        setbacks=marks(onsets),
        deteriorated=marks(det),
    )
    last = int(tr.last_row[client])
    tags = []
    if last >= 0:
        tags.append(STATUS_LABELS[tr.status[last]].replace("_", " "))
        band = ETR_BAND_LABELS[bands.band[last]]
        if band != "none":
            tags.append(f"band: {band.replace('_', ' ')}")
        if tr.in_setback[last]:
            tags.append("in setback")
    return {
        "client_id": key,
        "anchor": _client_anchor(s.instrument_id, key),
        "svg": client_chart_svg(series, id_prefix=_client_anchor(s.instrument_id, key)),
        "text": text,
        "tags": tags,
        "alt": f"Chart of {s.name} scores for client {key} over {len(keep)} sessions",
    }


def _event_rows(analysis: Analysis, table: object, client: int) -> npt.NDArray[np.int64]:
    from twostep.analytics.tables import Table

    assert isinstance(table, Table)
    mine = table["client_id"] == client
    sessions = table["post_session"][mine]
    b = analysis.batch
    start, end = int(b.offsets[client]), int(b.offsets[client + 1])
    rows = np.arange(start, end)
    return rows[np.isin(b.session[rows], sessions)].astype(np.int64)


def render_report(
    analyses: Sequence[Analysis],
    *,
    source: str,
    catalogue: Catalogue,
    options: ReportOptions | None = None,
    talking_therapies: TalkingTherapiesSummary | None = None,
    generated: dt.datetime | None = None,
) -> str:
    """The whole report as one HTML string."""
    opts = options or ReportOptions()
    measures = []
    notices: list[str] = []
    per_measure = max(1, opts.max_charts // max(1, len(analyses))) if opts.max_charts else 0
    for a in analyses:
        s = a.scale
        order, reasons = attention_reasons(a)
        tr = a.trajectory
        attention = []
        for client, why in zip(order[:100].tolist(), reasons[:100], strict=False):
            key = str(a.batch.client_keys[client])
            attention.append(
                {
                    "client_id": key,
                    "anchor": _client_anchor(s.instrument_id, key),
                    "reasons": "; ".join(why),
                    "baseline": _num(float(a.clients["baseline"][client])),
                    "final": _num(float(a.clients["final"][client])),
                }
            )
        chart_clients = list(order[:per_measure].tolist())
        if len(chart_clients) < per_measure:
            rest = np.flatnonzero(
                (tr.n_scores >= 2) & ~np.isin(np.arange(a.batch.n_clients), order)
            )
            chart_clients += rest[: per_measure - len(chart_clients)].tolist()
        charts = []
        for client in chart_clients:
            expl = explain_client(a, client)
            charts.append(_chart(a, client, expl.therapist if expl else ""))
        n_clients = int((tr.intake_row >= 0).sum())
        measures.append(
            {
                "name": s.name,
                "anchor": _anchor(s.instrument_id),
                "n_clients": n_clients,
                "n_scores": int(tr.n_scores.sum()),
                "n_missed": int(np.sum(np.isnan(a.batch.raw) & a.batch.observed)),
                "parameters": _parameters(a),
                "summary": _summary(a),
                "attention": attention,
                "attention_more": max(0, len(order) - len(attention)),
                "charts": charts,
                "chart_note": (
                    f"{len(charts)} of {n_clients} clients are charted: those who need attention first, "
                    "then others. Every client is in sessions.csv and clients.csv."
                ),
            }
        )
        if s.instrument_id in catalogue:
            notices.append(catalogue.get(s.instrument_id).licence.notice)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("twostep.reports", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("report.html.j2")
    when = generated or dt.datetime.now(dt.UTC)
    return template.render(
        version=_version(),
        source_name=source,
        generated=when.strftime("%Y-%m-%d %H:%M UTC"),
        measures=measures,
        talking_therapies=talking_therapies.as_template() if talking_therapies else None,
        notices=sorted(set(notices)),
    )


def _version() -> str:
    try:
        return metadata.version("twostep")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "dev"
