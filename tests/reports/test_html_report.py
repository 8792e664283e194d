"""The HTML report: self-contained, accessible structure, escaped ids, attention order."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
import pytest

from twostep.api import AnalysisResult, analyze
from twostep.instruments.registry import default_catalogue
from twostep.reports.html import ReportOptions, attention_reasons, render_report
from twostep.reports.talking_therapies import talking_therapies_summary

CAT = default_catalogue()
WHEN = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
XSS = "<img src=x onerror=alert(1)>"

# reliable deterioration (D, E), stuck plateau + not on track (P), setback (S), recovered (R)
SEQUENCES = {
    "R": [20, 10, 6, 4],
    "S": [20, 10, 17, 17],
    "P": [20, 20, 19, 20, 20, 20],
    "D": [10, 12, 17, 18],
    "E": [8, 9, 16],
}


def table(seqs: dict[str, list[float]], instrument: str | None = None) -> pa.Table:
    cid, ses, sc = [], [], []
    for key, values in seqs.items():
        for i, v in enumerate(values, 1):
            cid.append(key)
            ses.append(i)
            sc.append(None if np.isnan(v) else v)  # a null, not a float NaN
    cols: dict[str, list[object]] = {"client_id": cid, "session": ses, "score": sc}
    if instrument:
        cols["instrument"] = [instrument] * len(cid)
    return pa.table(cols)


def report(result: AnalysisResult, **kwargs: object) -> str:
    return render_report(
        result.analyses,
        source=str(kwargs.pop("source", "scores.csv")),
        catalogue=CAT,
        generated=WHEN,
        talking_therapies=talking_therapies_summary(result.analyses),
        **kwargs,  # type: ignore[arg-type]
    )


class Structure(HTMLParser):
    """Collects the tags the accessibility checks look at."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.th: list[dict[str, str | None]] = []
        self.html_attrs: dict[str, str | None] = {}
        self.tags: list[str] = []
        self.resource_urls: list[str] = []
        self.ids: list[str] = []
        self.in_svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "svg":
            self.in_svg += 1
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "th":
            self.th.append(a)
        if tag == "html":
            self.html_attrs = a
        if "id" in a and a["id"] and not self.in_svg:
            self.ids.append(a["id"])
        for key in ("src", "href", "xlink:href", "action", "data", "poster"):
            if a.get(key):
                self.resource_urls.append(str(a[key]))
        style = a.get("style") or ""
        self.resource_urls += re.findall(r"url\(([^)]*)\)", style)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.in_svg -= 1


def parse(html: str) -> Structure:
    s = Structure()
    s.feed(html)
    s.close()
    return s


@pytest.fixture(scope="module")
def attention_result() -> AnalysisResult:
    return analyze(table(SEQUENCES), instrument="phq9")


# ------------------------------------------------------------------ self-contained


def test_report_is_self_contained(attention_result: AnalysisResult) -> None:
    html = report(attention_result)
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert "<iframe" not in lowered
    s = parse(html)
    for url in s.resource_urls:
        assert url.startswith("#"), url  # only in-page anchors and SVG references
    for url in re.findall(r"url\(([^)]*)\)", html):
        assert url.strip("'\"").startswith("#"), url
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|javascript:|data:)""", lowered)


def test_report_language_headings_and_table_headers(attention_result: AnalysisResult) -> None:
    html = report(attention_result)
    s = parse(html)
    assert s.html_attrs.get("lang") == "en"
    assert "<html lang=" in html
    assert s.headings[0] == 1
    assert s.headings.count(1) == 1
    # never skip a level going down (h1 -> h2 -> h3)
    for prev, cur in zip(s.headings, s.headings[1:], strict=False):
        assert cur <= prev + 1, s.headings
    assert s.th
    assert all(th.get("scope") in ("col", "row") for th in s.th)
    assert len(s.ids) == len(set(s.ids))  # page ids are unique (outside the SVGs)
    assert '<meta charset="utf-8">' in html


def test_section_order(attention_result: AnalysisResult) -> None:
    html = report(attention_result)
    titles = re.findall(r"<h2[^>]*>([^<]*)</h2>", html)
    assert titles == [
        "PHQ-9: service summary",
        "PHQ-9: clients who need attention",
        "PHQ-9: client charts",
    ]


def test_one_svg_per_charted_client(attention_result: AnalysisResult) -> None:
    html = report(attention_result)
    cards = re.findall(r'<article class="card" id="([^"]+)"', html)
    assert len(cards) == 5  # all five clients have at least two scores
    assert html.count("<svg") == len(cards)
    limited = report(attention_result, options=ReportOptions(max_charts=2))
    assert limited.count("<svg") == 2
    assert len(re.findall(r'<article class="card"', limited)) == 2
    none = report(attention_result, options=ReportOptions(max_charts=0))
    assert "<svg" not in none


def test_clients_with_one_score_are_not_charted_unless_flagged() -> None:
    result = analyze(table({"A": [20, 10], "B": [12], "C": [15, 16]}), instrument="phq9")
    html = report(result)
    headings = re.findall(r'<h3 id="c-[^"]+">([^<]*)</h3>', html)
    assert sorted(headings) == ["A", "C"]
    assert html.count("<svg") == 2


def test_charts_are_shared_between_measures() -> None:
    t = pa.concat_tables(
        [
            table({f"c{i}": [20, 15, 10] for i in range(6)}, "phq9"),
            table({f"c{i}": [15, 10, 5] for i in range(6)}, "gad7"),
        ]
    )
    result = analyze(t)
    html = report(result, options=ReportOptions(max_charts=4))
    assert html.count("<svg") == 4  # 2 per measure


# ------------------------------------------------------------------ escaping


def test_client_id_and_source_are_escaped() -> None:
    ids = {
        XSS: [20, 14, 22, 25],
        '"><svg onload=alert(2)>': [20, 10, 8, 5],
        "a&b": [12, 13, 12, 20],
    }
    result = analyze(table(ids), instrument="phq9")
    html = report(result, source="<b>x</b>.csv")
    assert XSS not in html
    assert "<svg onload" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;.csv" in html
    assert "a&amp;b" in html
    s = parse(html)
    assert "img" not in s.tags
    assert "b" not in s.tags
    # anchors are derived, not copied
    for anchor in re.findall(r'<a href="#([^"]*)"', html):
        assert re.fullmatch(r"[a-z0-9_-]+", anchor), anchor


def test_distinct_clients_get_distinct_anchors() -> None:
    result = analyze(table({"AB": [20, 26, 27], "ab": [20, 26, 27]}), instrument="phq9")
    html = report(result)
    anchors = re.findall(r'<article class="card" id="([^"]+)"', html)
    assert len(anchors) == 2
    assert len(set(anchors)) == 2


# ------------------------------------------------------------------ attention


def test_attention_ranking_puts_deterioration_first(attention_result: AnalysisResult) -> None:
    a = attention_result.analyses[0]
    order, reasons = attention_reasons(a)
    keys = [str(a.batch.client_keys[i]) for i in order]
    assert keys == ["D", "E", "P", "S"]  # R recovered: not listed
    assert reasons[0][0] == "reliable deterioration at the latest score"
    assert any("stuck plateau" in r for r in reasons[2])
    assert reasons[3] == ["in a setback"]


def test_attention_table_in_the_report(attention_result: AnalysisResult) -> None:
    html = report(attention_result)
    section = html.split('id="phq9-attention"')[1].split("</table>")[0]
    rows = re.findall(r'<tr><td><a href="#([^"]+)">([^<]+)</a></td><td>([^<]*)</td>', section)
    assert [r[1] for r in rows] == ["D", "E", "P", "S"]
    assert rows[0][2].startswith("reliable deterioration")
    # the charts follow the same order, then the others
    cards = re.findall(r'<h3 id="c-phq9-[^"]+">([^<]*)</h3>', html)
    assert cards == ["D", "E", "P", "S", "R"]
    for anchor, _, _ in rows:
        assert f'id="{anchor}"' in html


def test_no_attention_needed_message() -> None:
    result = analyze(table({"A": [20, 10, 6, 4], "B": [15, 12, 8, 5]}), instrument="phq9")
    html = report(result)
    assert "No client has reliable deterioration" in html


# ------------------------------------------------------------------ content


def test_parameters_and_summary_are_stated(attention_result: AnalysisResult) -> None:
    html = report(attention_result)
    assert "5 clients, 21 scores" in html
    assert "RC 6 (NHS Talking Therapies Manual" in html
    assert "&gt;= 10" in html  # the cut-off
    assert "No norms given: rule-based fallback" in html
    assert "2025-03-01 12:00 UTC" in html
    assert "PHQ-9 © Pfizer" in html  # licence notice in the footer


def test_missed_administrations_are_counted() -> None:
    result = analyze(table({"A": [20, np.nan, 12, 10]}), instrument="phq9")
    html = report(result)
    assert "1 clients, 3 scores (1 missed administrations kept in sequence)" in html


def test_custom_scale_report_has_no_licence_notice() -> None:
    from twostep.analytics.scale import Scale

    bdi = Scale.custom(name="BDI-II", minimum=0, maximum=63, higher_is_better=False, rc=7)
    result = analyze(table({"A": [40, 20, 10]}), scale=bdi)
    html = report(result)
    assert "BDI-II: service summary" in html
    assert "Pfizer" not in html
