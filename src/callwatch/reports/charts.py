"""Report charts as inline SVG, drawn by matplotlib with the NanumGothic font.

Text is drawn as glyph outlines (``svg.fonttype = "path"``), so a chart shows Hangul wherever
it is opened, without the font installed. The font files ship in the ``koreanize-matplotlib``
package; they are found without importing it (importing it changes matplotlib's global
settings). Figures are made with the object API (no pyplot state), and the SVG carries no
date and salted-but-fixed ids, so the same data give the same bytes.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from callwatch.i18n import t
from callwatch.reports.data import HourCount, RingBin, RuleResult

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FONT_FAMILY = "NanumGothic"
PASS = "#2e7d32"
FAIL = "#c62828"
NEUTRAL = "#1565c0"
MUTED = "#9e9e9e"

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)


@functools.cache
def font_files() -> dict[str, Path]:
    """The NanumGothic files by weight (``regular``, ``bold``...); empty when not installed."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    names = {
        "regular": "NanumGothic.ttf",
        "bold": "NanumGothicBold.ttf",
        "light": "NanumGothicLight.ttf",
        "extrabold": "NanumGothicExtraBold.ttf",
    }
    return {k: folder / v for k, v in names.items() if (folder / v).is_file()}


@functools.cache
def _register_fonts() -> str:
    for path in font_files().values():
        font_manager.fontManager.addfont(str(path))
    return FONT_FAMILY if font_files() else "DejaVu Sans"


def ring_chart(bins: Sequence[RingBin], lang: str = "ko", before_ring: int | None = 3) -> str:
    """Bars of answered calls by the ring sounding at the answer (1, 2, 3, 4+); rings from
    ``before_ring`` on (the charter's limit) in red."""
    labels = [
        t("report.ring_bin_more" if b.or_more else "report.ring_bin", lang, rings=b.rings)
        for b in bins
    ]
    counts = [b.count for b in bins]
    colors = [PASS if before_ring is None or b.rings < before_ring else FAIL for b in bins]
    with _style():
        fig, ax = _figure(4.2, 2.2)
        bars = ax.bar(labels, counts, color=colors, width=0.6)
        ax.bar_label(bars, fontsize=7)
        ax.set_ylim(0, max([*counts, 1]) * 1.2)
        ax.set_ylabel(t("unit.calls", lang))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        return _svg(fig)


def hour_chart(hours: Sequence[HourCount], lang: str = "ko") -> str:
    """Stacked bars of answered and missed calls by hour of day (site clock)."""
    x = [h.hour for h in hours]
    answered = [h.answered for h in hours]
    missed = [h.missed for h in hours]
    with _style():
        fig, ax = _figure(6.4, 2.2)
        ax.bar(x, answered, color=NEUTRAL, width=0.8, label=t("report.answered", lang))
        ax.bar(x, missed, bottom=answered, color=FAIL, width=0.8, label=t("report.missed", lang))
        ax.set_xticks(range(0, 24, 2))
        ax.set_xlim(-0.6, 23.6)
        ax.set_xlabel(t("report.hour", lang))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper left", frameon=False, fontsize=7)
        return _svg(fig)


def rules_chart(rules: Sequence[RuleResult], lang: str = "ko") -> str:
    """Horizontal bars of each charter rule's pass rate, this week above last week."""
    made = [r for r in rules if r.in_charter]
    y = list(range(len(made)))
    with _style():
        fig, ax = _figure(4.6, 0.9 + 0.4 * max(len(made), 1))
        now = ax.barh(
            [i - 0.2 for i in y], [(r.rate or 0.0) * 100 for r in made], height=0.35, color=NEUTRAL
        )
        before = ax.barh(
            [i + 0.2 for i in y],
            [(r.previous_rate or 0.0) * 100 for r in made],
            height=0.35,
            color=MUTED,
        )
        ax.set_yticks(y, [t(f"rule.{r.rule}", lang) for r in made])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel(t("report.pass_rate", lang) + " (%)")
        ax.legend(
            [now, before],
            [t("report.this_week", lang), t("report.previous_week", lang)],
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncol=2,
            frameon=False,
            fontsize=7,
        )
        return _svg(fig)


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """Fonts and SVG settings for everything drawn inside (figures read them when drawn)."""
    params: dict[RcKeyType, Any] = {
        "svg.fonttype": "path",
        "svg.hashsalt": "callwatch",
        "font.family": _register_fonts(),
        "font.size": 8,
        "axes.unicode_minus": False,
        "axes.labelsize": 8,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
    }
    with matplotlib.rc_context(params):
        yield


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=96, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, transparent=True)
    return _PROLOGUE.sub("", buf.getvalue(), count=1)
