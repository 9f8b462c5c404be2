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
from collections.abc import Mapping, Sequence
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


_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>|<metadata>.*?</metadata>", re.S)
_PROPERTY = re.compile(r"\s*([a-z-]+)\s*:\s*([^;]+?)\s*(?:;|$)")


def _presentation(match: re.Match[str]) -> str:
    return "".join(f' {name}="{value}"' for name, value in _PROPERTY.findall(match.group(1)))


def _svg(fig: Figure) -> str:
    """The figure as SVG text with SVG presentation attributes (``fill="#fff"``) instead of
    ``style`` attributes and a ``<style>`` element, which the pages' Content-Security-Policy
    (``style-src 'self'``) does not apply: without this every shape would be drawn black.
    The generator's ``<metadata>`` is left out."""
    buf = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None})
    text = buf.getvalue()
    text = _STYLE_ELEMENT.sub("", text[text.index("<svg") :])  # its rule, as attributes:
    text = text.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)
    return _STYLE_ATTR.sub(_presentation, text)


def trend_svg(
    weeks: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    labels: Mapping[str, str],
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
