"""Charts of one client's scores, drawn with matplotlib (Agg) as SVG text.

The chart shows what methods.md §11 and §12 want a therapist to see at a
glance: the scores over administrations; the clinical cut-off; the
*normal-fluctuation band* above the best score so far (scores inside it are
within everyday ups and downs of the client's best, i.e. less than one
reliable change worse); the expected band of clients who started at the same
level when norms exist; and markers for sudden gains and losses, setback
onsets, reliable deterioration and logged stressors (life events). Missed administrations are gaps in the
line, marked on the axis. Markers differ in shape as well as colour, so the
chart does not rely on colour alone.

Drawing costs about 0.1 s of CPU, far more than computing what is drawn, and
a progress page asks for the same chart again and again until the next
check-in. `client_chart_svg` therefore keeps the last `CACHE_SIZE` rendered
charts keyed by a SHA-256 of *everything drawn* (every field of the series
and the size): a cached chart is exactly the one that would be drawn, it
holds nothing the caller did not just compute (and authorise) itself, and a
new score makes a new key.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

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

    Every ``id`` in the SVG (and every reference to one) gets ``id_prefix``, so
    that many charts can share one HTML page without duplicate ids; the
    metadata block is dropped (it only names matplotlib).
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


#: rendered charts kept (about 30 KB each)
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


def _render(series: ClientSeries, width: float, height: float, id_prefix: str) -> str:
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    try:
        _draw(ax, series)
        buf = io.StringIO()
        with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "twostep"}):
            fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{id_prefix}-{m.group(1)}"', svg)
    return re.sub(
        r'(href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{id_prefix}-{m.group(2)}", svg
    )


def _draw(ax: Axes, s: ClientSeries) -> None:
    x = s.session.astype(float)
    y = s.score
    if (
        s.expected_low is not None
        and s.expected_high is not None
        and np.isfinite(s.expected_low).any()
    ):
        ax.fill_between(
            x,
            s.expected_low,
            s.expected_high,
            color=COLORS["expected"],
            alpha=0.18,
            lw=0,
            label="expected range (norms)",
        )
    if s.expected_median is not None and np.isfinite(s.expected_median).any():
        ax.plot(
            x, s.expected_median, color=COLORS["expected"], lw=1, ls=":", label="expected median"
        )
    if s.best_before is not None and np.isfinite(s.best_before).any():
        # band of normal fluctuation: from the best so far to one RC worse
        worse = s.best_before - s.rc if s.higher_is_better else s.best_before + s.rc
        ax.fill_between(
            x,
            s.best_before,
            worse,
            step="mid",
            color=COLORS["band"],
            alpha=0.25,
            lw=0,
            label="everyday ups and downs of best so far",
        )
    if s.cutoff is not None:
        ax.axhline(
            s.cutoff,
            color=COLORS["cutoff"],
            lw=1,
            ls="--",
            label=f"clinical cut-off ({s.cutoff:g})",
        )
    ax.plot(x, y, color=COLORS["line"], lw=1.8, marker="o", ms=4, label=s.measure)
    missed = np.isnan(y)
    if missed.any():
        ax.plot(
            x[missed],
            np.full(int(missed.sum()), s.minimum),
            ls="none",
            marker="|",
            ms=8,
            color="#555555",
            label="missed",
        )
    _markers(
        ax, x, y, s.gains, "v" if not s.higher_is_better else "^", COLORS["gain"], "sudden gain"
    )
    _markers(
        ax, x, y, s.losses, "^" if not s.higher_is_better else "v", COLORS["loss"], "sudden loss"
    )
    _markers(ax, x, y, s.setbacks, "D", COLORS["setback"], "setback")
    _markers(ax, x, y, s.deteriorated, "X", COLORS["deteriorated"], "reliable deterioration")
    _stressors(ax, s)
    pad = (s.maximum - s.minimum) * 0.04
    ax.set_ylim(s.minimum - pad, s.maximum + pad)
    ax.set_xlabel(s.x_label)
    ax.set_ylabel(f"{s.measure} ({'higher = better' if s.higher_is_better else 'higher = worse'})")
    ax.set_title(s.title, fontsize=10, loc="left")
    ax.grid(alpha=0.25)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if x.size:
        ax.set_xlim(x.min() - 0.5, x.max() + 0.5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _markers(
    ax: Axes, x: FloatArray, y: FloatArray, idx: IntArray, marker: str, color: str, label: str
) -> None:
    if idx.size == 0:
        return
    ax.plot(
        x[idx],
        y[idx],
        ls="none",
        marker=marker,
        ms=9,
        mfc=color,
        mec="black",
        mew=0.6,
        label=label,
        zorder=5,
    )


def _stressors(ax: Axes, s: ClientSeries) -> None:
    """A dotted line and a star at the top of the chart where a logged stressor began."""
    xs = s.stressors[np.isfinite(s.stressors)] if s.stressors.size else s.stressors
    if xs.size == 0:
        return
    for pos in xs:
        ax.axvline(float(pos), color=COLORS["stressor"], lw=0.8, ls=":", zorder=1)
    ax.plot(
        xs,
        np.full(xs.size, s.maximum),
        ls="none",
        marker="*",
        ms=11,
        mfc="#ffffff",
        mec=COLORS["stressor"],
        mew=1.0,
        label="stressor logged",
        zorder=6,
    )
