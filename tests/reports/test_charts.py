"""Client charts: hand-written SVG text, no prolog, no scripts, ids prefixed, geometry right."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twostep.reports.charts import ClientSeries, _render, client_chart_svg

NS = "{http://www.w3.org/2000/svg}"


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


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if el.get("class") == cls]


def one(root: ET.Element, cls: str) -> ET.Element:
    found = groups(root, cls)
    assert len(found) == 1, (cls, len(found))
    return found[0]


def points(el: ET.Element) -> list[tuple[float, float]]:
    pairs = (p.split(",") for p in (el.get("points") or "").split())
    return [(float(a), float(b)) for a, b in pairs]


def legend(root: ET.Element) -> list[str]:
    return [t.text or "" for t in one(root, "legend").iter(f"{NS}text")]


def axis(root: ET.Element, cls: str) -> dict[float, float]:
    """Tick value → position along the axis, read from the drawn ticks."""
    out: dict[float, float] = {}
    for tick in groups(one(root, cls), "tick"):
        m = re.fullmatch(r"translate\(([-\d.]+),([-\d.]+)\)", tick.get("transform") or "")
        assert m, tick.get("transform")
        label = tick.find(f"{NS}text")
        assert label is not None
        assert label.text
        out[float(label.text)] = float(m.group(1) if cls == "xaxis" else m.group(2))
    return out


def test_svg_text_without_prolog_or_script() -> None:
    svg = client_chart_svg(series())
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg[:400]
    assert "<?xml" not in svg
    assert "<!DOCTYPE" not in svg
    assert "<!--" not in svg
    assert "<script" not in svg.lower()
    assert "<image" not in svg  # vector only, nothing embedded or fetched
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external refs
    assert "xlink" not in svg


@pytest.mark.parametrize("prefix", ["c", "m-phq9", "phq9-C001"])
def test_every_id_carries_the_prefix_and_every_reference_resolves(prefix: str) -> None:
    svg = client_chart_svg(
        series(
            expected_low=np.array([np.nan, 15, 13, 12, 11, 10.0]),
            expected_high=np.array([np.nan, 21, 20, 19, 18, 17.0]),
            gains=np.array([3]),
            stressors=np.array([2.5]),
        ),
        id_prefix=prefix,
    )
    root = parse(svg)
    ids = [el.get("id") for el in root.iter() if el.get("id") is not None]
    assert ids
    assert len(ids) == len(set(ids))
    assert all(i is not None and i.startswith(f"{prefix}-") for i in ids), ids
    refs = re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg)
    refs_flat = [a or b for a, b in refs]
    assert refs_flat, "the plot is clipped through a prefixed clipPath"
    labelled = (root.get("aria-labelledby") or "").split()
    assert labelled
    for ref in [*refs_flat, *labelled]:
        assert ref in ids, ref
    assert root.get("role") == "img"
    title = root.find(f"{NS}title")
    assert title is not None
    assert title.get("id") == labelled[0]
    assert title.text == "C001 — PHQ-9"
    # two charts on one page share no id
    other = parse(client_chart_svg(series(), id_prefix=f"{prefix}x"))
    assert not set(ids) & {el.get("id") for el in other.iter()}


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
            stressors=np.array([2.5, np.nan, np.inf]),
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
        "stressor logged",
    ):
        assert f">{label}<" in svg, label
    root = parse(svg)
    assert legend(root) == [
        "expected range (norms)",
        "expected median",
        "everyday ups and downs of best so far",
        "clinical cut-off (10)",
        "PHQ-9",
        "missed",
        "sudden gain",
        "sudden loss",
        "setback",
        "reliable deterioration",
        "stressor logged",
    ]
    # shapes differ, not only colours: triangle, triangle, diamond, 12-point X, 10-point star
    sizes = {cls: len(points(one(root, cls)[0])) for cls in ("gain", "loss", "setback")}
    assert sizes == {"gain": 3, "loss": 3, "setback": 4}
    assert len(points(one(root, "deteriorated")[0])) == 12
    stars = one(root, "stressor").findall(f"{NS}polygon")
    assert len(stars) == 1
    assert len(points(stars[0])) == 10
    assert one(root, "stressor").get("fill") == "#ffffff"  # hollow
    assert len(groups(root, "stressor-line")) == 1


def test_points_land_where_the_axis_says() -> None:
    root = parse(client_chart_svg(series()))
    ys = axis(root, "yaxis")
    xs = axis(root, "xaxis")
    assert sorted(ys) == [0, 5, 10, 15, 20, 25]  # nice steps over 0..27
    assert sorted(xs) == [1, 2, 3, 4, 5, 6]  # one integer tick per session
    lines = one(root, "score").findall(f"{NS}polyline")
    # session 4 scored 11: one fifth of the way from the 10 tick to the 15 tick
    x4, y4 = points(lines[1])[0]
    assert x4 == pytest.approx(xs[4], abs=0.011)
    assert y4 == pytest.approx(ys[10] + (11 - 10) / 5 * (ys[15] - ys[10]), abs=0.02)
    # the score 9 at session 6 by the 0 and 25 ticks as well
    x6, y6 = points(lines[1])[-1]
    assert x6 == pytest.approx(xs[6], abs=0.011)
    assert y6 == pytest.approx(ys[0] + 9 / 25 * (ys[25] - ys[0]), abs=0.02)
    # the axes run from minimum - 4 % to maximum + 4 % and from session 0.5 to 6.5
    frame = one(root, "frame")
    top = float(frame.get("y") or 0)
    bottom = top + float(frame.get("height") or 0)
    left = float(frame.get("x") or 0)
    right = left + float(frame.get("width") or 0)
    per_point = (ys[0] - ys[25]) / 25
    assert bottom - ys[0] == pytest.approx(0.04 * 27 * per_point, abs=0.02)
    assert ys[25] - top == pytest.approx((27 - 25 + 0.04 * 27) * per_point, abs=0.02)
    per_session = xs[2] - xs[1]
    assert xs[1] - left == pytest.approx(0.5 * per_session, abs=0.02)
    assert right - xs[6] == pytest.approx(0.5 * per_session, abs=0.02)
    # every dot is a score: 5 of the 6 sessions were scored
    dots = [
        (float(c.get("cx") or 0), float(c.get("cy") or 0))
        for c in one(root, "score").iter(f"{NS}circle")
    ]
    assert len(dots) == 5
    assert dots[2] == (x4, y4)  # sessions 1, 2, 4, ...


def test_the_line_breaks_at_each_missed_session() -> None:
    root = parse(client_chart_svg(series()))
    lines = one(root, "score").findall(f"{NS}polyline")
    assert [len(points(line)) for line in lines] == [2, 3]  # 20, 18 | gap | 11, 17, 9
    missed = one(root, "missed").get("d") or ""
    ticks = re.findall(r"M([-\d.]+) ([-\d.]+)v([-\d.]+)", missed)
    assert len(ticks) == 1
    xs, ys = axis(root, "xaxis"), axis(root, "yaxis")
    x, y, length = (float(v) for v in ticks[0])
    assert x == pytest.approx(xs[3], abs=0.011)  # session 3 was missed
    assert y + length / 2 == pytest.approx(ys[0], abs=0.02)  # centred on the minimum
    # isolated scores are dots without a line
    alone = parse(client_chart_svg(series(score=np.array([1.0, np.nan, 2, np.nan, 3, np.nan]))))
    assert one(alone, "score").findall(f"{NS}polyline") == []
    assert len(one(alone, "score").findall(f".//{NS}circle")) == 3
    assert len(re.findall("M", one(alone, "missed").get("d") or "")) == 3


def _apex_points_down(triangle: list[tuple[float, float]]) -> bool:
    apex = min(triangle, key=lambda p: abs(p[0] - sum(q[0] for q in triangle) / 3))
    base_y = [p[1] for p in triangle if p is not apex]
    return all(apex[1] > y for y in base_y)  # SVG y grows downwards


@pytest.mark.parametrize("higher_is_better", [False, True])
def test_gain_and_loss_triangles_point_the_way_the_score_moved(higher_is_better: bool) -> None:
    root = parse(
        client_chart_svg(
            series(higher_is_better=higher_is_better, gains=np.array([3]), losses=np.array([4]))
        )
    )
    gain = points(one(root, "gain")[0])
    loss = points(one(root, "loss")[0])
    # lower is better: a gain is a drop (triangle down); higher is better: a rise (up)
    assert _apex_points_down(gain) is (not higher_is_better)
    assert _apex_points_down(loss) is higher_is_better
    # and the marker sits on its score: the triangle's centre is the session-4 dot
    xs = axis(root, "xaxis")
    assert sum(p[0] for p in gain) / 3 == pytest.approx(xs[4], abs=0.02)


def test_normal_band_is_a_step_from_best_to_one_rc_worse() -> None:
    root = parse(client_chart_svg(series()))
    d = one(root, "normal-band").get("d") or ""
    coords = [(float(a), float(b)) for a, b in re.findall(r"[ML]([-\d.]+) ([-\d.]+)", d)]
    ys, xs = axis(root, "yaxis"), axis(root, "xaxis")
    per_point = (ys[0] - ys[25]) / 25

    def y_of(v: float) -> float:
        return ys[0] - v * per_point

    # lower is better: from the best so far (20 before session 2) up to 20 + rc = 26
    assert coords[0] == pytest.approx((xs[1] + (xs[2] - xs[1]) / 2, y_of(20)), abs=0.02)
    assert coords[1] == pytest.approx(((xs[2] + xs[3]) / 2, y_of(20)), abs=0.02)
    assert min(y for _, y in coords) == pytest.approx(y_of(26), abs=0.02)
    assert d.count("M") == 1  # session 1 has no best yet; sessions 2-6 one band
    up = parse(client_chart_svg(series(higher_is_better=True, maximum=40.0)))
    d_up = one(up, "normal-band").get("d") or ""
    ys_up = axis(up, "yaxis")
    up_coords = [float(b) for b in re.findall(r"[ML][-\d.]+ ([-\d.]+)", d_up)]
    per_up = (ys_up[0] - ys_up[40]) / 40
    assert max(up_coords) == pytest.approx(ys_up[0] - 5 * per_up, abs=0.02)  # 11 - 6 = 5


def test_higher_is_better_axis_label_and_no_cutoff() -> None:
    svg = client_chart_svg(
        series(higher_is_better=True, maximum=40.0, cutoff=None, title="C002 — ORS", measure="ORS")
    )
    assert "ORS (higher = better)" in svg
    assert "clinical cut-off" not in svg
    assert "PHQ-9 (higher = worse)" in client_chart_svg(series())


def test_single_score_and_all_missed() -> None:
    one_svg = client_chart_svg(
        series(session=np.array([1]), score=np.array([12.0]), best_before=np.array([np.nan]))
    )
    assert one_svg.startswith("<svg")
    root = parse(one_svg)
    assert len(one(root, "score").findall(f".//{NS}circle")) == 1
    assert "missed" not in legend(root)
    none = client_chart_svg(
        series(session=np.array([1, 2]), score=np.array([np.nan, np.nan]), best_before=None)
    )
    assert ">missed<" in none
    assert legend(parse(none)) == ["clinical cut-off (10)", "PHQ-9", "missed"]


def test_degenerate_ranges_draw_finite_numbers() -> None:
    for s in (
        series(minimum=5.0, maximum=5.0),
        series(session=np.zeros(0, dtype=np.int64), score=np.zeros(0), best_before=None),
        series(gains=np.array([2, 99, -1])),  # a missed session and indices outside the series
        series(minimum=-1e308, maximum=1e308),  # a range wider than a float
        series(minimum=math.nan, maximum=math.inf, cutoff=1e300, stressors=np.array([1e300])),
    ):
        for width, height in ((6.4, 2.8), (0.3, 0.3)):
            svg = _render(s, width, height, "c")
            parse(svg)
            assert "nan" not in svg.lower()
            assert "inf" not in svg.lower()
    assert ">sudden gain<" not in _render(series(gains=np.array([2, 99, -1])), 6.4, 2.8, "c")


def test_many_sessions_thin_the_ticks() -> None:
    n = 60
    s = series(
        session=np.arange(1, n + 1),
        score=np.linspace(20, 5, n).round(),
        best_before=None,
    )
    xs = axis(parse(client_chart_svg(s)), "xaxis")
    assert 2 <= len(xs) <= 10
    ticks = sorted(xs)
    assert all(float(t).is_integer() for t in ticks)
    steps = {b - a for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    assert steps.pop() in {5, 10, 20}


def test_output_is_deterministic_and_rounded() -> None:
    a = _render(series(stressors=np.array([1.333333])), 6.4, 2.8, "c")
    b = _render(series(stressors=np.array([1.333333])), 6.4, 2.8, "c")
    assert a == b
    numbers = re.findall(r"-?\d+\.\d+", re.sub(r"<title[^>]*>.*?</title>", "", a))
    assert numbers
    assert all(len(n.split(".")[1]) <= 2 for n in numbers)


def test_title_text_is_escaped_inside_the_svg() -> None:
    svg = client_chart_svg(series(title="--><script>alert(1)</script><!-- — PHQ-9"))
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    for body in re.findall(r"<!--(.*?)-->", svg, flags=re.S):
        assert "--" not in body  # the title cannot close the comment it is written into
    root = parse(svg)
    assert root.find(f"{NS}title") is not None
    weird = parse(client_chart_svg(series(title='a"b\x00c\x1b&d', measure="M<&>'")))
    title = weird.find(f"{NS}title")
    assert title is not None
    assert title.text == 'a"bc&d'
    assert "M<&>'" in legend(weird)


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


# ----------------------------------------------------------------------------- property

MEASURES = ["PHQ-9", "GAD-7", "ORS", "CORE-10 <&>"]


@st.composite
def random_series(draw: st.DrawFn) -> ClientSeries:
    n = draw(st.integers(1, 60))
    lo = draw(st.sampled_from([0.0, 1.0, -3.0]))
    hi = lo + draw(st.sampled_from([0.0, 1.0, 27.0, 40.0, 100.0]))
    value = st.one_of(st.just(math.nan), st.floats(lo, hi, allow_nan=False))
    score = np.array(draw(st.lists(value, min_size=n, max_size=n)), dtype=np.float64)

    def maybe_array() -> np.ndarray | None:
        if not draw(st.booleans()):
            return None
        return np.array(draw(st.lists(value, min_size=n, max_size=n)), dtype=np.float64)

    def marks() -> np.ndarray:
        idx = draw(st.lists(st.integers(0, n - 1), max_size=min(n, 4), unique=True))
        return np.array(sorted(idx), dtype=np.int64)

    start = draw(st.integers(1, 5))
    return ClientSeries(
        title=draw(st.text(max_size=40)),
        measure=draw(st.sampled_from(MEASURES)),
        session=np.arange(start, start + n, dtype=np.int64),
        score=score,
        higher_is_better=draw(st.booleans()),
        minimum=lo,
        maximum=hi,
        rc=draw(st.floats(0, 10)),
        cutoff=draw(st.one_of(st.none(), st.floats(lo, hi))),
        best_before=maybe_array(),
        expected_low=maybe_array(),
        expected_high=maybe_array(),
        expected_median=maybe_array(),
        gains=marks(),
        losses=marks(),
        setbacks=marks(),
        deteriorated=marks(),
        stressors=np.array(
            draw(
                st.lists(
                    st.one_of(
                        st.floats(start - 1, start + n), st.sampled_from([math.nan, math.inf])
                    ),
                    max_size=3,
                )
            ),
            dtype=np.float64,
        ),
    )


def drawn_labels(s: ClientSeries) -> list[str]:
    """The legend the module docstring promises: exactly what has something drawn."""
    fin = np.isfinite
    out = []
    low, high = s.expected_low, s.expected_high
    if low is not None and high is not None and (fin(low) & fin(high)).any():
        out.append("expected range (norms)")
    if s.expected_median is not None and fin(s.expected_median).any():
        out.append("expected median")
    if s.best_before is not None and fin(s.best_before).any():
        out.append("everyday ups and downs of best so far")
    if s.cutoff is not None:
        out.append(f"clinical cut-off ({s.cutoff:g})")
    out.append(s.measure)
    if np.isnan(s.score).any():
        out.append("missed")
    for idx, label in (
        (s.gains, "sudden gain"),
        (s.losses, "sudden loss"),
        (s.setbacks, "setback"),
        (s.deteriorated, "reliable deterioration"),
    ):
        if fin(s.score[idx]).any():
            out.append(label)
    if fin(s.stressors).any():
        out.append("stressor logged")
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_series())
def test_any_series_gives_valid_svg_with_each_drawn_label_once(s: ClientSeries) -> None:
    svg = _render(s, 6.4, 2.8, "p")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    root = parse(svg)
    assert legend(root) == drawn_labels(s)
    assert "nan" not in re.sub(r"<title[^>]*>.*?</title>|<text[^>]*>[^<]*</text>", "", svg)
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    assert ids == {"p-title", "p-plot"}
