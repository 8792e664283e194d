"""NHS Talking Therapies section: only with PHQ-9 and GAD-7 pairs; cells under 10 suppressed."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa

from twostep.api import AnalysisResult, analyze
from twostep.instruments.registry import default_catalogue
from twostep.reports.html import render_report
from twostep.reports.talking_therapies import talking_therapies_summary

CAT = default_catalogue()
SECTION = "NHS Talking Therapies outcomes"


def paired(
    n_recovered: int, n_unchanged: int, *, gad: bool = True, other: str = "gad7"
) -> AnalysisResult:
    cid, ses, ins, sc = [], [], [], []

    def add(client: str, instrument: str, scores: list[float]) -> None:
        for i, v in enumerate(scores, 1):
            cid.append(client)
            ses.append(i)
            ins.append(instrument)
            sc.append(v)

    for i in range(n_recovered):
        add(f"r{i:03d}", "phq9", [18, 12, 6])
        if gad:
            add(f"r{i:03d}", other, [14, 9, 4])
    for i in range(n_unchanged):
        add(f"u{i:03d}", "phq9", [18, 17, 18])
        if gad:
            add(f"u{i:03d}", other, [14, 15, 14])
    return analyze(pa.table({"client_id": cid, "session": ses, "instrument": ins, "score": sc}))


def html_of(result: AnalysisResult) -> str:
    return render_report(
        result.analyses,
        source="s.csv",
        catalogue=CAT,
        generated=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        talking_therapies=talking_therapies_summary(result.analyses),
    )


def rows_of(html: str) -> dict[str, list[str]]:
    section = html.split('id="talking-therapies"')[-1]
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section.split("<tbody>")[1].split("</tbody>")[0]):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        out[cells[0]] = cells[1:]
    return out


def test_no_section_without_gad7() -> None:
    result = paired(12, 0, gad=False)
    assert talking_therapies_summary(result.analyses) is None
    html = html_of(result)
    assert SECTION not in html
    assert 'href="#talking-therapies"' not in html


def test_no_section_with_phq9_and_another_measure() -> None:
    result = paired(12, 0, other="core10")
    assert talking_therapies_summary(result.analyses) is None
    assert SECTION not in html_of(result)


def test_section_with_phq9_and_gad7_pairs() -> None:
    result = paired(12, 11)
    summary = talking_therapies_summary(result.analyses)
    assert summary is not None
    assert len(summary.pairs) == 23
    html = html_of(result)
    assert f">{SECTION}</h2>" in html
    assert 'href="#talking-therapies"' in html
    rows = rows_of(html)
    assert list(rows) == [
        "recovery",
        "reliable recovery",
        "reliable improvement",
        "reliable deterioration",
    ]
    # recovery 12 of 23: published with a rate and an interval
    assert rows["recovery"][0] == "12"
    assert rows["recovery"][1] == "23"
    assert rows["recovery"][2] == "52.2 %"
    assert re.fullmatch(r"\d+\.\d–\d+\.\d %", rows["recovery"][3])
    assert "23 clients have PHQ-9 and GAD-7 at the same session" in html


def test_cells_under_ten_are_suppressed() -> None:
    html = html_of(paired(7, 5))
    rows = rows_of(html)
    for label in ("recovery", "reliable recovery", "reliable improvement"):
        k, n, rate, ci = rows[label]
        assert k == "&lt;10"
        assert rate == "suppressed"
        assert ci == "—"
        assert n == "12"
    # zero deteriorations are suppressed as well (zeros are not published by default)
    assert rows["reliable deterioration"][0] == "&lt;10"
    assert "7" not in "".join(c for cells in rows.values() for c in cells)
    assert "Cells under 10 are suppressed" in html


def test_small_denominators_are_suppressed_too() -> None:
    rows = rows_of(html_of(paired(4, 2)))
    for label, (k, n, rate, _) in rows.items():
        assert k == "&lt;10", label
        assert rate == "suppressed", label
        assert n in ("&lt;10", "—", "suppressed"), (label, n)


def test_summary_template_values() -> None:
    summary = talking_therapies_summary(paired(15, 10).analyses)
    assert summary is not None
    template = summary.as_template()
    rows = {r["label"]: r for r in template["rows"]}  # type: ignore[union-attr]
    assert rows["recovery"]["k"] == 15
    assert rows["recovery"]["n"] == 25
    assert rows["reliable improvement"]["k"] == 15
    assert rows["reliable deterioration"]["k"] == "<10"
    assert "PHQ-9 ≥ 10" in str(template["note"])
