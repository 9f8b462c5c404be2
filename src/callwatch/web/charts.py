"""Charts of the pages, drawn by matplotlib as SVG text to inline in a page.

Text is drawn as paths (matplotlib's default for SVG), so Hangul shows without any font on the
viewer's side; the Hangul font is NanumGothic from the installed ``koreanize-matplotlib``
package, registered once with :func:`matplotlib.font_manager.addfont`. Figures are built with
the object API (no pyplot state), so pages can draw from several threads.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import re
from collections.abc import Sequence
from pathlib import Path

from matplotlib import font_manager
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from callwatch.charter import registry

_PALETTE = ("#1f6feb", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#0a7b83", "#6e7781")
"""Line colours, given to the rules in the registry's order."""


def rule_color(rule: str) -> str | None:
    """The colour of ``rule``'s line: its place in the registry picks it from the palette."""
    names = registry.names()
    return _PALETTE[names.index(rule) % len(_PALETTE)] if rule in names else None


@functools.cache
def font_family() -> list[str]:
    """The font list for chart text: NanumGothic when the package ships it, then fallbacks."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is not None and spec.origin is not None:
        for file in sorted((Path(spec.origin).parent / "fonts").glob("NanumGothic*.ttf")):
            font_manager.fontManager.addfont(str(file))
        return ["NanumGothic", "DejaVu Sans"]
    return ["DejaVu Sans"]


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None})
    text = buf.getvalue()
    return presentation_attributes(text[text.index("<svg") :])


_STYLE_ATTR = re.compile(r'style="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"\s*<defs>\s*<style[^>]*>.*?</style>\s*</defs>", re.S)


def presentation_attributes(svg: str) -> str:
    """``svg`` with each ``style="a: b; c: d"`` written as attributes ``a="b" c="d"`` and its
    ``<style>`` element dropped (its line joins set on the root): the pages' CSP
    (``style-src 'self'``) ignores inline styles, which left every fill black, while SVG
    presentation attributes are not styles."""

    def attributes(match: re.Match[str]) -> str:
        pairs = (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
        return " ".join(f'{name.strip()}="{value.strip()}"' for name, value in pairs)

    svg = _STYLE_ELEMENT.sub("", svg, count=1)
    svg = svg.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)
    return _STYLE_ATTR.sub(attributes, svg)


def trend_svg(
    weeks: Sequence[str], series: dict[str, Sequence[float | None]], labels: dict[str, str]
) -> str:
    """Pass rate (0..1) per week, one line per rule (a gap where a week had no verdict)."""
    fig = Figure(figsize=(6.4, 2.4), dpi=100)
    ax = fig.add_subplot()
    family = font_family()
    xs = list(range(len(weeks)))
    for rule, values in series.items():
        ys = [float("nan") if v is None else v * 100 for v in values]
        ax.plot(
            xs,
            ys,
            marker="o",
            markersize=3,
            linewidth=1.6,
            label=labels.get(rule, rule),
            color=rule_color(rule),
        )
    ax.set_ylim(0, 102)
    ax.set_xticks(xs, [w.split("-")[-1] for w in weeks], fontsize=7, fontfamily=family)
    ax.tick_params(axis="y", labelsize=7)
    ax.yaxis.set_major_formatter("{x:.0f}%")
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(
        loc="lower left", fontsize=7, ncols=4, frameon=False, prop={"family": family, "size": 7}
    )
    fig.tight_layout(pad=0.4)
    return _svg(fig)


def hours_svg(
    hours: Sequence[int], answered: Sequence[int], missed: Sequence[int], labels: tuple[str, str]
) -> str:
    """Calls by hour of day: answered and missed stacked."""
    fig = Figure(figsize=(6.4, 2.2), dpi=100)
    ax = fig.add_subplot()
    family = font_family()
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.bar(hours, answered, color="#1f6feb", label=labels[0])
    ax.bar(hours, missed, bottom=answered, color="#cf222e", label=labels[1])
    ax.set_xticks(list(hours), [str(h) for h in hours], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7, frameon=False, prop={"family": family, "size": 7})
    fig.tight_layout(pad=0.4)
    return _svg(fig)
