"""Charts of one client's scores, written directly as SVG text.

The chart shows what methods.md §11 and §12 want a therapist to see at a
glance: the scores over administrations; the clinical cut-off; the
*normal-fluctuation band* above the best score so far (scores inside it are
within everyday ups and downs of the client's best, i.e. less than one
reliable change worse); the expected band of clients who started at the same
level when norms exist; and markers for sudden gains and losses, setback
onsets, reliable deterioration and logged stressors (life events). Missed administrations are gaps in the
line, marked on the axis. Markers differ in shape as well as colour, so the
chart does not rely on colour alone.

The SVG is written by hand (no plotting library): about 1 ms of CPU for a
chart of 30 sessions with every band and marker (`benchmarks/chart_render.py`;
matplotlib took ~100 ms). Geometry: ``width`` × ``height`` inches become a
block of ``width*100`` × ``height*100`` user units (pixels at the nominal
size) holding the title, the axes and their labels; the legend is added to the
right of that block, as wide as its longest label, so the document is
``width*100 + legend`` wide. ``width``/``height`` attributes and a
``viewBox`` let the page scale it. All coordinates are rounded to 2 decimals;
the output is deterministic (equal input, byte-identical SVG), has no prolog,
comments, script, embedded images or external references, and every ``id``
and reference to one carries ``id_prefix``. The chart is an accessible image:
``role="img"`` and ``aria-labelledby`` naming its ``<title>``.

A progress page asks for the same chart again and again until the next
check-in. `client_chart_svg` therefore keeps the last `CACHE_SIZE` rendered
charts keyed by a SHA-256 of *everything drawn* (every field of the series
and the size): a cached chart is exactly the one that would be drawn, it
holds nothing the caller did not just compute (and authorise) itself, and a
new score makes a new key.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from html import escape

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# A palette that stays distinguishable for common colour-vision deficiencies (Okabe & Ito).
COLORS = {
    "line": "#0072B2",
    "band": "#56B4E9",
    "expected": "#999999",
    "cutoff": "#D55E00",
    "gain": "#009E73",
    "loss": "#CC79A7",
    "setback": "#E69F00",
    "deteriorated": "#D55E00",
    "stressor": "#555555",
}


@dataclass(frozen=True)
class ClientSeries:
    """Everything one chart needs, in the native direction of the measure."""

    title: str
    measure: str
    session: IntArray
    score: FloatArray
    higher_is_better: bool
    minimum: float
    maximum: float
    rc: float
    cutoff: float | None = None
    best_before: FloatArray | None = None  # native best score before each session
    expected_low: FloatArray | None = None
    expected_high: FloatArray | None = None
    expected_median: FloatArray | None = None
    gains: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    losses: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    setbacks: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    deteriorated: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: x positions (in sessions, may fall between two) where a stressor or life event began
    stressors: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    x_label: str = "session"


def client_chart_svg(
    series: ClientSeries, *, width: float = 6.4, height: float = 2.8, id_prefix: str = "c"
) -> str:
    """Render one client's chart and return the SVG markup (no XML prolog).

    ``width`` and ``height`` are inches at 100 units per inch for the axes
    block; the legend adds its width on the right (see the module docstring).
    Every ``id`` in the SVG (and every reference to one) starts with
    ``id_prefix + "-"``, so that many charts can share one HTML page without
    duplicate ids.
    """
    key = _cache_key(series, width, height, id_prefix)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    svg = _render(series, width, height, id_prefix)
    with _LOCK:
        _CACHE[key] = svg
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return svg


#: rendered charts kept (about 10 KB each)
CACHE_SIZE = 512
_CACHE: OrderedDict[bytes, str] = OrderedDict()
_LOCK = threading.Lock()


def _cache_key(series: ClientSeries, width: float, height: float, id_prefix: str) -> bytes:
    """SHA-256 over every field of ``series`` (arrays by dtype, shape and bytes) and the size."""
    h = hashlib.sha256(repr((width, height, id_prefix)).encode())
    for f in fields(series):
        value = getattr(series, f.name)
        h.update(f.name.encode() + b"\0")
        if isinstance(value, np.ndarray):
            h.update(f"{value.dtype.str}{value.shape}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        else:
            h.update(repr(value).encode())
        h.update(b"\0")
    return h.digest()


# ----------------------------------------------------------------------------- geometry

#: font sizes (user units); the legend's is smaller, as before (7 pt against 10 pt)
_TITLE_FONT = 14
_LABEL_FONT = 13
_TICK_FONT = 12
_LEGEND_FONT = 11
#: average advance of one character of a sans-serif face, in ems (for layout only)
_EM = 0.57
_LEGEND_ROW = 16.0
_LEGEND_SYMBOL = 22.0
_LINE_WIDTH = 2.5  # 1.8 pt
_DOT_R = 2.8  # marker "o", 4 pt
_MARK_R = 6.2  # markers of events, 9 pt
_STAR_R = 7.6  # stressor star, 11 pt
_MISSED_HALF = 5.5  # "|" marker, 8 pt

# marker outlines for a unit radius, SVG y pointing down
_TRI_UP = ((0.0, -1.0), (-1.0, 0.8), (1.0, 0.8))
_TRI_DOWN = ((0.0, 1.0), (-1.0, -0.8), (1.0, -0.8))
_DIAMOND = ((0.0, -1.0), (0.75, 0.0), (0.0, 1.0), (-0.75, 0.0))


def _rotated(
    points: Sequence[tuple[float, float]], angle: float
) -> tuple[tuple[float, float], ...]:
    c, s = math.cos(angle), math.sin(angle)
    return tuple((x * c - y * s, x * s + y * c) for x, y in points)


_A = 0.28  # half-width of the arms of the X
_X_MARK = _rotated(
    (
        (_A, -1.0), (_A, -_A), (1.0, -_A), (1.0, _A), (_A, _A), (_A, 1.0),
        (-_A, 1.0), (-_A, _A), (-1.0, _A), (-1.0, -_A), (-_A, -_A), (-_A, -1.0),
    ),
    math.pi / 4,
)  # fmt: skip
_STAR = tuple(
    (
        (1.0 if k % 2 == 0 else 0.4) * math.sin(k * math.pi / 5),
        -(1.0 if k % 2 == 0 else 0.4) * math.cos(k * math.pi / 5),
    )
    for k in range(10)
)

#: characters XML 1.0 does not allow (a title is free text)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _t(text: str) -> str:
    """Text or attribute value, XML-escaped (quotes too) and stripped of non-XML characters."""
    return escape(_NOT_XML.sub("", text), quote=True)


def _f(v: float) -> str:
    """A coordinate rounded to 2 decimals, without trailing zeros."""
    s = f"{v:.2f}"
    if s[-1] == "0":
        s = s.rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _label(v: float) -> str:
    """A tick label: the value as written by a person (``2.5``, ``10``, ``0.05``)."""
    s = f"{round(v, 9):g}"
    return "0" if s == "-0" else s


def _nice_step(span: float, max_ticks: int, mantissas: Sequence[float]) -> float:
    """Smallest step ``m·10^k`` (``m`` in ``mantissas``) giving at most ``max_ticks`` intervals."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / max(1, max_ticks)
    k = math.floor(math.log10(raw))
    for exp in (k, k + 1):
        for m in mantissas:
            step = m * 10.0**exp
            if step >= raw * (1 - 1e-9):
                return step
    return 10.0 ** (k + 2)  # pragma: no cover - unreachable with m up to 10


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or (hi - lo) / step > 100:
        return []  # an absurd range (e.g. ±1e308): no ticks rather than a runaway loop
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def _runs(ok: Sequence[bool]) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of consecutive true values."""
    out: list[tuple[int, int]] = []
    start = -1
    for i, good in enumerate(ok):
        if good and start < 0:
            start = i
        elif not good and start >= 0:
            out.append((start, i))
            start = -1
    if start >= 0:
        out.append((start, len(ok)))
    return out


def _finite(v: float) -> bool:
    return math.isfinite(v)


def _floats(a: npt.ArrayLike | None, n: int) -> list[float] | None:
    if a is None:
        return None
    values = np.asarray(a, dtype=np.float64).ravel().tolist()
    if len(values) < n:
        values = values + [math.nan] * (n - len(values))
    return values[:n]


class _Frame:
    """Data → user-unit mapping of the plot area."""

    def __init__(
        self, x0: float, x1: float, y0: float, y1: float, xlim: tuple[float, float],
        ylim: tuple[float, float],
    ) -> None:  # fmt: skip
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.xlo, self.xhi = xlim
        self.ylo, self.yhi = ylim
        self._kx = (x1 - x0) / (self.xhi - self.xlo)
        self._ky = (y1 - y0) / (self.yhi - self.ylo)

    # coordinates far outside the plot (absurd data) are clamped: finite, short, still clipped
    def x(self, v: float) -> float:
        r = self.x0 + (v - self.xlo) * self._kx
        return r if -_FAR < r < _FAR else math.copysign(_FAR, r)

    def y(self, v: float) -> float:
        r = self.y1 - (v - self.ylo) * self._ky
        return r if -_FAR < r < _FAR else math.copysign(_FAR, r)


_FAR = 1e6


def _limits(
    s: ClientSeries, x: list[float], y: list[float]
) -> tuple[tuple[float, float], tuple[float, float]]:
    lo, hi = float(s.minimum), float(s.maximum)
    if not (_finite(lo) and _finite(hi)):
        seen = [v for v in y if _finite(v)]
        lo = lo if _finite(lo) else (min(seen) if seen else 0.0)
        hi = hi if _finite(hi) else (max(seen) if seen else lo + 1.0)
    if hi < lo:
        lo, hi = hi, lo
    if not _finite((hi - lo) * 1.08):  # a range too wide for floats: scale to the data instead
        seen = [v for v in y if _finite(v)]
        lo, hi = (min(seen), max(seen)) if seen else (0.0, 1.0)
    if hi == lo:  # nothing to scale by: one unit either side (as matplotlib widens a flat axis)
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.04
    xs = [v for v in x if _finite(v)]
    xlim = (min(xs) - 0.5, max(xs) + 0.5) if xs else (0.5, 1.5)
    return xlim, (lo - pad, hi + pad)


# ----------------------------------------------------------------------------- drawing


def _render(series: ClientSeries, width: float, height: float, id_prefix: str) -> str:
    return _Chart(series, width, height, id_prefix).svg()


class _Chart:
    """One chart: layout first, then the layers in drawing order, then the legend."""

    def __init__(self, s: ClientSeries, width: float, height: float, id_prefix: str) -> None:
        self.s = s
        self.p = _t(id_prefix)
        self.x = np.asarray(s.session, dtype=np.float64).ravel().tolist()
        n = len(self.x)
        self.n = n
        self.y = _floats(s.score, n) or []
        self.legend: list[tuple[str, str]] = []  # (symbol markup at the origin, label)
        self.out: list[str] = []

        w = max(2.0, round(float(width) * 100, 2)) if _finite(float(width)) else 640.0
        h = max(1.2, round(float(height) * 100, 2)) if _finite(float(height)) else 280.0
        xlim, ylim = _limits(s, self.x, self.y)
        y_label_w = 2.0 + _LABEL_FONT  # the rotated y label
        top, bottom = 28.0, 42.0
        plot_h = max(20.0, h - top - bottom)
        ystep = _nice_step(ylim[1] - ylim[0], max(2, min(8, int(plot_h // 28))), (1, 2, 2.5, 5, 10))
        self.yticks = _ticks(ylim[0], ylim[1], ystep)
        widest = max((len(_label(v)) for v in self.yticks), default=1)
        left = y_label_w + 8.0 + widest * _EM * _TICK_FONT + 6.0
        plot_w = max(20.0, w - left - 10.0)
        self.frame = _Frame(left, left + plot_w, top, top + plot_h, xlim, ylim)
        max_x = max(2, min(10, int(plot_w // 40)))
        xstep = max(1.0, _nice_step(xlim[1] - xlim[0], max_x, (1, 2, 5, 10)))
        self.xticks = _ticks(xlim[0], xlim[1], xstep)
        self.block_w, self.h = left + plot_w + 10.0, top + plot_h + bottom

    # ------------------------------------------------------------------ document

    def svg(self) -> str:
        self._layers()
        s, f, p = self.s, self.frame, self.p
        labels = [label for _, label in self.legend]
        longest = max((len(label) for label in labels), default=0)
        legend_w = min(self.block_w, _LEGEND_SYMBOL + 14.0 + longest * _EM * _LEGEND_FONT)
        total_w = self.block_w + legend_w
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(total_w)}" height="{_f(self.h)}" '
            f'viewBox="0 0 {_f(total_w)} {_f(self.h)}" role="img" aria-labelledby="{p}-title" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'
            f'<title id="{p}-title">{_t(s.title)}</title>'
            f'<defs><clipPath id="{p}-plot"><rect x="{_f(f.x0)}" y="{_f(f.y0)}" '
            f'width="{_f(f.x1 - f.x0)}" height="{_f(f.y1 - f.y0)}"/></clipPath></defs>'
            f'<rect width="{_f(total_w)}" height="{_f(self.h)}" fill="#ffffff"/>'
        )
        parts = [head, self._axes(), f'<g clip-path="url(#{p}-plot)">', *self.out, "</g>"]
        parts.append(
            f'<rect class="frame" x="{_f(f.x0)}" y="{_f(f.y0)}" width="{_f(f.x1 - f.x0)}" '
            f'height="{_f(f.y1 - f.y0)}" fill="none" stroke="#000000" stroke-width="0.8"/>'
        )
        parts.append(
            f'<text class="title" x="{_f(f.x0)}" y="18" font-size="{_TITLE_FONT}">'
            f"{_t(s.title)}</text>"
        )
        parts.append(self._legend_markup(self.block_w))
        parts.append("</svg>")
        return "".join(parts)

    def _axes(self) -> str:
        s, f = self.s, self.frame
        out = ['<g class="grid" stroke="#000000" stroke-opacity="0.12" stroke-width="0.8">']
        for v in self.xticks:
            out.append(
                f'<line x1="{_f(f.x(v))}" y1="{_f(f.y0)}" x2="{_f(f.x(v))}" y2="{_f(f.y1)}"/>'
            )
        for v in self.yticks:
            out.append(
                f'<line x1="{_f(f.x0)}" y1="{_f(f.y(v))}" x2="{_f(f.x1)}" y2="{_f(f.y(v))}"/>'
            )
        out.append("</g>")
        out.append(f'<g class="xaxis" font-size="{_TICK_FONT}" text-anchor="middle">')
        for v in self.xticks:
            out.append(
                f'<g class="tick" transform="translate({_f(f.x(v))},{_f(f.y1)})">'
                f'<line y2="4" stroke="#000000" stroke-width="0.8"/>'
                f'<text y="17">{_label(v)}</text></g>'
            )
        out.append(
            f'<text class="label" x="{_f((f.x0 + f.x1) / 2)}" y="{_f(f.y1 + 36)}" '
            f'font-size="{_LABEL_FONT}">{_t(s.x_label)}</text></g>'
        )
        out.append(f'<g class="yaxis" font-size="{_TICK_FONT}" text-anchor="end">')
        for v in self.yticks:
            out.append(
                f'<g class="tick" transform="translate({_f(f.x0)},{_f(f.y(v))})">'
                f'<line x2="-4" stroke="#000000" stroke-width="0.8"/>'
                f'<text x="-6" y="4">{_label(v)}</text></g>'
            )
        direction = "higher = better" if s.higher_is_better else "higher = worse"
        cy = (f.y0 + f.y1) / 2
        out.append(
            f'<text class="label" transform="translate(14,{_f(cy)}) rotate(-90)" '
            f'text-anchor="middle" font-size="{_LABEL_FONT}">{_t(s.measure)} ({direction})</text>'
            "</g>"
        )
        return "".join(out)

    # ------------------------------------------------------------------ layers

    def _layers(self) -> None:
        s, f, x, y, n = self.s, self.frame, self.x, self.y, self.n
        out = self.out
        low, high = _floats(s.expected_low, n), _floats(s.expected_high, n)
        if low is not None and high is not None:
            ok = [_finite(x[i]) and _finite(low[i]) and _finite(high[i]) for i in range(n)]
            if any(ok):
                d = []
                for a, b in _runs(ok):
                    pts = [(x[i], low[i]) for i in range(a, b)]
                    pts += [(x[i], high[i]) for i in reversed(range(a, b))]
                    d.append(self._closed(pts))
                fill = COLORS["expected"]
                out.append(
                    f'<path class="expected-band" d="{"".join(d)}" fill="{fill}" '
                    'fill-opacity="0.18"/>'
                )
                self.legend.append((_swatch(fill, 0.18), "expected range (norms)"))
        median = _floats(s.expected_median, n)
        if median is not None and any(_finite(v) for v in median):
            dash = 'stroke-dasharray="1.5 2.5"'
            out.append(
                f'<g class="expected-median" fill="none" stroke="{COLORS["expected"]}" '
                f'stroke-width="1.4" {dash}>{self._lines(median)}</g>'
            )
            self.legend.append((_line_symbol(COLORS["expected"], 1.4, dash), "expected median"))
        best = _floats(s.best_before, n)
        rc = float(s.rc)
        if best is not None and _finite(rc) and any(_finite(v) for v in best):
            self._normal_band(best, rc)
        if s.cutoff is not None and _finite(float(s.cutoff)):
            cy = _f(f.y(float(s.cutoff)))
            dash = 'stroke-dasharray="5 3"'
            out.append(
                f'<line class="cutoff" x1="{_f(f.x0)}" y1="{cy}" x2="{_f(f.x1)}" y2="{cy}" '
                f'stroke="{COLORS["cutoff"]}" stroke-width="1.4" {dash}/>'
            )
            self.legend.append(
                (_line_symbol(COLORS["cutoff"], 1.4, dash), f"clinical cut-off ({s.cutoff:g})")
            )
        stressors = [
            v for v in np.asarray(s.stressors, dtype=np.float64).ravel().tolist() if _finite(v)
        ]
        for v in stressors:
            sx = _f(f.x(v))
            out.append(
                f'<line class="stressor-line" x1="{sx}" y1="{_f(f.y0)}" x2="{sx}" y2="{_f(f.y1)}" '
                f'stroke="{COLORS["stressor"]}" stroke-width="1.1" stroke-dasharray="1.5 2.5"/>'
            )
        self._score_line()
        missed = [i for i in range(n) if not _finite(y[i]) and _finite(x[i])]
        if missed:
            y_min = f.y(float(s.minimum)) if _finite(float(s.minimum)) else f.y1
            ticks = "".join(
                f"M{_f(f.x(x[i]))} {_f(y_min - _MISSED_HALF)}v{_f(2 * _MISSED_HALF)}"
                for i in missed
            )
            out.append(
                f'<path class="missed" d="{ticks}" stroke="#555555" stroke-width="1.4" fill="none"/>'
            )
            self.legend.append((_missed_symbol(), "missed"))
        gain, loss = (_TRI_UP, _TRI_DOWN) if s.higher_is_better else (_TRI_DOWN, _TRI_UP)
        self._markers(s.gains, gain, COLORS["gain"], "gain", "sudden gain")
        self._markers(s.losses, loss, COLORS["loss"], "loss", "sudden loss")
        self._markers(s.setbacks, _DIAMOND, COLORS["setback"], "setback", "setback")
        self._markers(
            s.deteriorated,
            _X_MARK,
            COLORS["deteriorated"],
            "deteriorated",
            "reliable deterioration",
        )
        if stressors:
            top = f.y(float(s.maximum)) if _finite(float(s.maximum)) else f.y0
            stars = "".join(
                f'<polygon points="{_shape(_STAR, f.x(v), top, _STAR_R)}"/>' for v in stressors
            )
            out.append(
                f'<g class="stressor" fill="#ffffff" stroke="{COLORS["stressor"]}" '
                f'stroke-width="1.4">{stars}</g>'
            )
            self.legend.append(
                (
                    f'<polygon points="{_shape(_STAR, _LEGEND_SYMBOL / 2, 0, _STAR_R * 0.8)}" '
                    f'fill="#ffffff" stroke="{COLORS["stressor"]}" stroke-width="1.4"/>',
                    "stressor logged",
                )
            )

    def _normal_band(self, best: list[float], rc: float) -> None:
        """From the best so far to one RC worse; a step centred on each session."""
        s, x, n = self.s, self.x, self.n
        worse = [b - rc if s.higher_is_better else b + rc for b in best]
        edges = []
        for i in range(n):
            left = (x[i - 1] + x[i]) / 2 if i > 0 else x[i] - ((x[1] - x[0]) / 2 if n > 1 else 0.5)
            right = (
                (x[i] + x[i + 1]) / 2
                if i < n - 1
                else x[i] + ((x[i] - x[i - 1]) / 2 if n > 1 else 0.5)
            )
            edges.append((left, right))
        ok = [_finite(x[i]) and _finite(best[i]) and _finite(worse[i]) for i in range(n)]
        d = []
        for a, b in _runs(ok):
            upper: list[tuple[float, float]] = []
            lower: list[tuple[float, float]] = []
            for i in range(a, b):
                left, right = edges[i]
                upper += [(left, best[i]), (right, best[i])]
                lower += [(left, worse[i]), (right, worse[i])]
            d.append(self._closed(upper + lower[::-1]))
        fill = COLORS["band"]
        self.out.append(
            f'<path class="normal-band" d="{"".join(d)}" fill="{fill}" fill-opacity="0.25"/>'
        )
        self.legend.append((_swatch(fill, 0.25), "everyday ups and downs of best so far"))

    def _score_line(self) -> None:
        s, f, x, y = self.s, self.frame, self.x, self.y
        color = COLORS["line"]
        dots = "".join(
            f'<circle cx="{_f(f.x(x[i]))}" cy="{_f(f.y(y[i]))}" r="{_DOT_R}"/>'
            for i in range(self.n)
            if _finite(x[i]) and _finite(y[i])
        )
        self.out.append(
            f'<g class="score" fill="none" stroke="{color}" stroke-width="{_LINE_WIDTH}" '
            f'stroke-linejoin="round">{self._lines(y)}<g fill="{color}" stroke="none">{dots}</g></g>'
        )
        symbol = (
            f'<line x2="{_f(_LEGEND_SYMBOL)}" stroke="{color}" stroke-width="{_LINE_WIDTH}"/>'
            f'<circle cx="{_f(_LEGEND_SYMBOL / 2)}" r="{_DOT_R}" fill="{color}"/>'
        )
        self.legend.append((symbol, s.measure))

    def _markers(
        self,
        idx: npt.ArrayLike,
        shape: Sequence[tuple[float, float]],
        color: str,
        cls: str,
        label: str,
    ) -> None:
        f, x, y, n = self.frame, self.x, self.y, self.n
        where = [int(i) for i in np.asarray(idx).ravel().tolist()]
        drawn = [i for i in where if 0 <= i < n and _finite(x[i]) and _finite(y[i])]
        if not drawn:
            return
        polys = "".join(
            f'<polygon points="{_shape(shape, f.x(x[i]), f.y(y[i]), _MARK_R)}"/>' for i in drawn
        )
        style = f'fill="{color}" stroke="#000000" stroke-width="0.8" stroke-linejoin="miter"'
        self.out.append(f'<g class="{cls}" {style}>{polys}</g>')
        self.legend.append(
            (
                f'<polygon points="{_shape(shape, _LEGEND_SYMBOL / 2, 0, _MARK_R * 0.8)}" {style}/>',
                label,
            )
        )

    def _lines(self, values: list[float]) -> str:
        """One polyline per run of finite values (a gap at each missing one); single points skip."""
        f, x = self.frame, self.x
        ok = [_finite(x[i]) and _finite(values[i]) for i in range(self.n)]
        out = []
        for a, b in _runs(ok):
            if b - a < 2:
                continue
            pts = " ".join(f"{_f(f.x(x[i]))},{_f(f.y(values[i]))}" for i in range(a, b))
            out.append(f'<polyline points="{pts}"/>')
        return "".join(out)

    def _closed(self, pts: list[tuple[float, float]]) -> str:
        f = self.frame
        first, *rest = pts
        d = f"M{_f(f.x(first[0]))} {_f(f.y(first[1]))}"
        return d + "".join(f"L{_f(f.x(a))} {_f(f.y(b))}" for a, b in rest) + "Z"

    def _legend_markup(self, left: float) -> str:
        f = self.frame
        rows = len(self.legend)
        step = min(_LEGEND_ROW, max(8.0, (self.h - f.y0 - 4) / max(1, rows)))
        out = [f'<g class="legend" font-size="{_LEGEND_FONT}">']
        for k, (symbol, label) in enumerate(self.legend):
            cy = f.y0 + step * (k + 0.5)
            out.append(
                f'<g transform="translate({_f(left)},{_f(cy)})">{symbol}'
                f'<text x="{_f(_LEGEND_SYMBOL + 6)}" y="3.5">{_t(label)}</text></g>'
            )
        out.append("</g>")
        return "".join(out)


def _shape(shape: Sequence[tuple[float, float]], cx: float, cy: float, r: float) -> str:
    return " ".join(f"{_f(cx + dx * r)},{_f(cy + dy * r)}" for dx, dy in shape)


def _swatch(fill: str, opacity: float) -> str:
    return (
        f'<rect y="-4.5" width="{_f(_LEGEND_SYMBOL)}" height="9" fill="{fill}" '
        f'fill-opacity="{opacity}"/>'
    )


def _line_symbol(color: str, width: float, dash: str) -> str:
    return f'<line x2="{_f(_LEGEND_SYMBOL)}" stroke="{color}" stroke-width="{width}" {dash}/>'


def _missed_symbol() -> str:
    mid = _f(_LEGEND_SYMBOL / 2)
    return (
        f'<line x1="{mid}" y1="-{_f(_MISSED_HALF)}" x2="{mid}" y2="{_f(_MISSED_HALF)}" '
        'stroke="#555555" stroke-width="1.4"/>'
    )
