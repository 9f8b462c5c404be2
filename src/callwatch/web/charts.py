"""Charts of the pages, drawn by matplotlib as SVG text to inline in a page.

Text is drawn as paths (matplotlib's default for SVG), so Hangul shows without any font on the
viewer's side; the Hangul font is NanumGothic from the installed ``koreanize-matplotlib``
package, registered once with :func:`matplotlib.font_manager.addfont`. Figures are built with
the object API (no pyplot state), so pages can draw from several threads.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from callwatch.charter import registry
from callwatch.i18n import percent
from callwatch.web.strings import tr

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


def _svg(fig: Figure, variant: str, tips: Mapping[str, str] | None = None) -> str:
    """The figure as SVG text with SVG presentation attributes (``fill="#fff"``) instead of
    ``style`` attributes and a ``<style>`` element, which the pages' Content-Security-Policy
    (``style-src 'self'``) does not apply: without this every shape would be drawn black.
    The generator's ``<metadata>`` is left out. The root gets ``class="{variant}"`` and a width
    and height in CSS pixels (one user unit, a point of the figure, is one pixel at that size);
    each group drawn with a gid in ``tips`` gets that text as its ``<title>`` (a tooltip) and
    ``class="tip"``; the target line's group gets ``class="target"``."""
    buf = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None})
    text = buf.getvalue()
    text = _STYLE_ELEMENT.sub("", text[text.index("<svg") :])  # its rule, as attributes:
    text = re.sub(
        r'<svg ([^>]*?)width="([0-9.]+)pt" height="([0-9.]+)pt"',
        rf'<svg class="{variant}" stroke-linejoin="round" stroke-linecap="butt" '
        r'\1width="\2" height="\3"',
        text,
        count=1,
    )
    text = text.replace('<g id="cw-target">', '<g class="target">', 1)
    for gid, tip in (tips or {}).items():
        text = text.replace(
            f'<g id="{gid}">', f'<g class="tip"><title>{html.escape(tip)}</title>', 1
        )
    return _STYLE_ATTR.sub(_presentation, text)


WIDE = 600
"""Natural width of a chart's wide drawing, in CSS pixels (the pages never draw it wider)."""
NARROW = 320
"""Natural width of the narrow drawing a phone gets, in CSS pixels."""
FONT = 13.5
"""Size of every text of a chart at its natural width, in CSS pixels. The pages show the wide
drawing only where it gets at least ``WIDE * 12 / FONT`` (533) pixels, so chart text stays
between 12 px and the tables' 14 px (``static/app.css``, ``.chart``)."""
TARGET = 1.0
"""The pass-rate target line: no charter states a pass-rate target, and each promises every
call (answer before the third ring, ...), so the line is at 100%."""


def _figure(width: int, height: int) -> Figure:
    """A figure of ``width`` × ``height`` points, which :func:`_svg` makes CSS pixels."""
    return Figure(figsize=(width / 72, height / 72), dpi=72, layout="constrained")


def _plain(ax: Axes) -> None:
    ax.tick_params(labelsize=FONT, labelfontfamily=font_family())
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def trend_svg(
    weeks: Sequence[str],
    series: Mapping[str, Sequence[tuple[int, int] | None]],
    labels: Mapping[str, str],
    lang: str = "ko",
) -> str:
    """Pass rate per week, one line per rule (a gap where a week had no verdict), from each
    week's ``(passed, judged)``; a dashed target line at :data:`TARGET`; each point's
    ``<title>`` gives its week, rule, rate and counts. Two drawings, ``wide`` and ``narrow``,
    of which the page's CSS shows the one that fits."""
    return "".join(
        _trend(weeks, series, labels, lang, width, height, variant)
        for width, height, variant in ((WIDE, 250, "wide"), (NARROW, 260, "narrow"))
    )


def _trend(
    weeks: Sequence[str],
    series: Mapping[str, Sequence[tuple[int, int] | None]],
    labels: Mapping[str, str],
    lang: str,
    width: int,
    height: int,
    variant: str,
) -> str:
    fig = _figure(width, height)
    ax = fig.add_subplot()
    xs = list(range(len(weeks)))
    points: dict[int, list[tuple[float, str]]] = {x: [] for x in xs}
    for rule, values in series.items():
        color = rule_color(rule)
        name = labels.get(rule, rule)
        ys = [float("nan") if v is None or not v[1] else v[0] / v[1] * 100 for v in values]
        ax.plot(xs, ys, marker="o", markersize=5, linewidth=1.8, label=name, color=color)
        for x, value in zip(xs, values, strict=True):
            if value is None or not value[1]:
                continue
            tip = tr(
                "chart.point",
                lang,
                week=weeks[x],
                rule=name,
                rate=percent(value[0] / value[1]),
                passed=value[0],
                judged=value[1],
            )
            points[x].append((value[0] / value[1] * 100, tip))
    tips: dict[str, str] = {}
    for x, here in points.items():
        for cluster in _clusters(sorted(here)):
            gid = f"cw-tip-{len(tips)}"
            ys = [y for y, _ in cluster]
            ax.plot([x] * len(ys), ys, "o", markersize=8, alpha=0, gid=gid, zorder=3)
            tips[gid] = "\n".join(tip for _, tip in cluster)
    ax.axhline(
        TARGET * 100,
        color="#59636e",
        linestyle=(0, (5, 3)),
        linewidth=1.4,
        label=tr("chart.target", lang, rate=f"{TARGET:.0%}"),
        gid="cw-target",
        zorder=1.5,
    )
    ax.set_ylim(0, 105)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.yaxis.set_major_formatter("{x:.0f}%")
    every = 1 if variant == "wide" else 2
    short = [
        w.split("-")[-1] if i % every == (len(weeks) - 1) % every else ""
        for i, w in enumerate(weeks)
    ]
    ax.set_xticks(xs, short)
    ax.grid(axis="y", alpha=0.3)
    _plain(ax)
    fig.legend(
        loc="outside upper center",
        ncols=5 if variant == "wide" else 2,
        frameon=False,
        prop={"family": font_family(), "size": FONT},
        handlelength=1.6,
        columnspacing=1.0,
    )
    return _svg(fig, variant, tips)


def _clusters(points: list[tuple[float, str]]) -> list[list[tuple[float, str]]]:
    """Points of one week (sorted by rate) grouped where each lies within 4 percentage points of
    the previous one: their markers overlap, so they share one tooltip."""
    out: list[list[tuple[float, str]]] = []
    for point in points:
        if out and point[0] - out[-1][-1][0] <= 4:
            out[-1].append(point)
        else:
            out.append([point])
    return out


def hours_svg(
    hours: Sequence[int],
    answered: Sequence[int],
    missed: Sequence[int],
    labels: tuple[str, str],
    lang: str = "ko",
) -> str:
    """Calls by hour of day, answered and missed stacked; each hour's ``<title>`` gives its
    counts. Two drawings, ``wide`` and ``narrow`` (every other hour labelled)."""
    return "".join(
        _hours(hours, answered, missed, labels, lang, width, height, variant)
        for width, height, variant in ((WIDE, 240, "wide"), (NARROW, 240, "narrow"))
    )


def _hours(
    hours: Sequence[int],
    answered: Sequence[int],
    missed: Sequence[int],
    labels: tuple[str, str],
    lang: str,
    width: int,
    height: int,
    variant: str,
) -> str:
    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    low = ax.bar(hours, answered, color="#1f6feb", label=labels[0])
    high = ax.bar(hours, missed, bottom=answered, color="#cf222e", label=labels[1])
    tips: dict[str, str] = {}
    for i, hour in enumerate(hours):
        tip = tr("chart.hour", lang, hour=hour, answered=answered[i], missed=missed[i])
        for bars, part in ((low, "a"), (high, "m")):
            gid = f"cw-tip-{i}{part}"
            bars.patches[i].set_gid(gid)
            tips[gid] = tip
    every = 1 if variant == "wide" else 2
    ax.set_xticks(list(hours), [str(h) if h % every == 0 else "" for h in hours])
    _plain(ax)
    fig.legend(
        loc="outside upper center",
        ncols=2,
        frameon=False,
        prop={"family": font_family(), "size": FONT},
    )
    return _svg(fig, variant, tips)
