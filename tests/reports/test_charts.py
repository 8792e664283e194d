"""Client charts: SVG text from matplotlib, no prolog, no scripts, figures closed."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from twostep.reports.charts import ClientSeries, client_chart_svg


def series(**kwargs: object) -> ClientSeries:
    base: dict[str, object] = {
        "title": "C001 — PHQ-9",
        "measure": "PHQ-9",
        "session": np.arange(1, 7),
        "score": np.array([20.0, 18.0, np.nan, 11.0, 17.0, 9.0]),
        "higher_is_better": False,
        "minimum": 0.0,
        "maximum": 27.0,
        "rc": 6.0,
        "cutoff": 10.0,
        "best_before": np.array([np.nan, 20.0, 18.0, 18.0, 11.0, 11.0]),
    }
    base.update(kwargs)
    return ClientSeries(**base)  # type: ignore[arg-type]


def test_svg_text_without_prolog_or_script() -> None:
    svg = client_chart_svg(series())
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert "<!DOCTYPE" not in svg
    assert "<script" not in svg.lower()
    assert "<image" not in svg  # vector only, nothing embedded or fetched


def test_figures_are_closed() -> None:
    before = set(plt.get_fignums())
    for _ in range(3):
        client_chart_svg(series())
    assert set(plt.get_fignums()) == before


def test_all_markers_and_bands() -> None:
    svg = client_chart_svg(
        series(
            expected_low=np.array([np.nan, 15, 13, 12, 11, 10.0]),
            expected_high=np.array([np.nan, 21, 20, 19, 18, 17.0]),
            expected_median=np.array([np.nan, 18, 16, 15, 14, 13.0]),
            gains=np.array([3]),
            losses=np.array([4]),
            setbacks=np.array([4]),
            deteriorated=np.array([1]),
        )
    )
    for label in (
        "expected range (norms)",
        "expected median",
        "everyday ups and downs of best so far",
        "clinical cut-off (10)",
        "missed",
        "sudden gain",
        "sudden loss",
        "setback",
        "reliable deterioration",
    ):
        assert f">{label}<" in svg, label


def test_higher_is_better_axis_label_and_no_cutoff() -> None:
    svg = client_chart_svg(
        series(higher_is_better=True, maximum=40.0, cutoff=None, title="C002 — ORS", measure="ORS")
    )
    assert "ORS (higher = better)" in svg
    assert "clinical cut-off" not in svg


def test_single_score_and_all_missed() -> None:
    one = client_chart_svg(
        series(session=np.array([1]), score=np.array([12.0]), best_before=np.array([np.nan]))
    )
    assert one.startswith("<svg")
    none = client_chart_svg(
        series(session=np.array([1, 2]), score=np.array([np.nan, np.nan]), best_before=None)
    )
    assert ">missed<" in none


def test_title_text_is_escaped_inside_the_svg() -> None:
    svg = client_chart_svg(series(title="--><script>alert(1)</script><!-- — PHQ-9"))
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    for body in re.findall(r"<!--(.*?)-->", svg, flags=re.S):
        assert "--" not in body  # the title cannot close the comment it is written into


def test_a_chart_is_drawn_once_per_content(monkeypatch: pytest.MonkeyPatch) -> None:
    import twostep.reports.charts as charts

    drawn: list[str] = []
    real = charts._render

    def counting(s: ClientSeries, width: float, height: float, id_prefix: str) -> str:
        drawn.append(s.title)
        return real(s, width, height, id_prefix)

    monkeypatch.setattr(charts, "_render", counting)
    first = series(title="cache A")
    again = series(title="cache A")  # equal content, other array objects
    assert client_chart_svg(first) == client_chart_svg(again)
    assert drawn == ["cache A"]
    # any change in what is drawn is a new chart: a score, a marker, the size, the ids
    moved = series(title="cache A", score=np.array([20.0, 18.0, np.nan, 11.0, 17.0, 8.0]))
    assert client_chart_svg(moved) != client_chart_svg(first)
    client_chart_svg(series(title="cache A", setbacks=np.array([4])))
    client_chart_svg(first, width=5.0)
    client_chart_svg(first, id_prefix="other")
    assert drawn == ["cache A"] * 5
