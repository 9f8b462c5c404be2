"""The SIP ladder of a call: one column per network address, one arrow per message.

Columns are the addresses in the order they first appear, each named by the party seen there
(the From user of a request it sent, the Request-URI user of a request it received) above its
host (address and port). Each row is drawn as a small SVG strip (the time gutter, the columns
and the arrow), so a message can open in place to show its text; the gutter gives the
message's time on the site's clock and its offset from the first message.

Each strip and the head come in two layouts (:data:`WIDE` and, for a phone, :data:`NARROW`:
360 units wide, its heads on two staggered rows when the columns stand close), and the page
shows the one its width suits.

For a trainer ``hide`` masks phone numbers in labels, parties and texts; it is
:meth:`callwatch.api.masking.Masker.text`, which leaves Via branches and tags as they are
unless they hold a Korean number (:func:`callwatch.privacy.mask_numbers_in`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from callwatch.store import RawMessage
from callwatch.store.rawsip import address_text
from callwatch.timefmt import MICROS
from callwatch.web.strings import tr
from callwatch.web.timeline import text_width

WIDTH = 1000
_LEFT = 200  # the first column; the time gutter lies left of it
_MARGIN = 70
_ROW_H = 34
_HEAD_H = 40
_PARTY_FONT = 13
_HOST_FONT = 10


@dataclass(frozen=True, slots=True)
class LadderLayout:
    """Where one drawing of the ladder puts its columns: from ``left`` to ``width - margin``;
    ``heads_below``: the column heads go under the gutter's two heads (a narrow drawing)."""

    name: str
    width: float
    left: float
    margin: float
    heads_below: bool


WIDE = LadderLayout("wide", WIDTH, _LEFT, _MARGIN, False)
NARROW = LadderLayout("narrow", 360, 96, 36, True)
_REQUEST = re.compile(r"^([A-Z]+) (?:sips?|tel):([^@;>\s]*)")
_FROM = re.compile(r"^(?:from|f)[ \t]*:.*?(?:sips?|tel):([^@;>\s]*)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Column:
    """One address of the ladder and the party seen there."""

    address: str
    party: str


@dataclass(frozen=True, slots=True)
class Step:
    """One message: seconds from the call's start (``at``) and from the first message
    (``offset``), its time on the site's clock (``clock``), from column ``src`` to ``dst``."""

    at: float
    src: int
    dst: int
    label: str
    text: str
    request: bool
    offset: float = 0.0
    clock: str = ""
    route: str = ""


@dataclass(frozen=True, slots=True)
class Ladder:
    """Columns and messages in capture order."""

    columns: list[Column]
    steps: list[Step]


def build_ladder(
    messages: Sequence[RawMessage],
    start_us: int,
    *,
    hide: Callable[[str], str] = lambda s: s,
    clock: Callable[[int], str] = str,
) -> Ladder:
    """The ladder of ``messages``; ``hide`` masks numbers in labels and texts (trainers),
    ``clock`` writes a capture time (µs) on the site's clock."""
    first_us = messages[0].at if messages else start_us
    order: list[str] = []
    parties: dict[str, str] = {}
    steps: list[Step] = []
    for msg in messages:
        src, dst = address_text(msg.src), address_text(msg.dst)
        for addr in (src, dst):
            if addr not in order:
                order.append(addr)
        first = msg.first_line
        request = _REQUEST.match(first)
        if request is not None:
            sender = _FROM.search(msg.text)
            if sender is not None and sender.group(1):
                parties.setdefault(src, sender.group(1))
            if request.group(2):
                parties.setdefault(dst, request.group(2))
            label = f"{request.group(1)} {request.group(2)}".strip()
        else:
            label = first.removeprefix("SIP/2.0 ").strip()
        steps.append(
            Step(
                round((msg.at - start_us) / MICROS, 3),
                order.index(src),
                order.index(dst),
                hide(label),
                hide(msg.text),
                request is not None,
                round((msg.at - first_us) / MICROS, 3),
                clock(msg.at),
                f"{src} → {dst} ({msg.transport.upper()})",
            )
        )
    columns = [Column(a, hide(parties.get(a, ""))) for a in order]
    return Ladder(columns, steps)


def column_x(ladder: Ladder, index: int, layout: LadderLayout = WIDE) -> float:
    """The x position of column ``index``."""
    n = max(1, len(ladder.columns))
    if n == 1:
        return (layout.left + layout.width) / 2
    span = layout.width - layout.left - layout.margin
    return round(layout.left + span * index / (n - 1), 2)


def header_svg(
    ladder: Ladder, lang: str = "ko", zone: str = "", layout: LadderLayout = WIDE
) -> str:
    """The column heads: party and host (address:port); the gutter names the time zone. In
    a narrow layout the heads go under the gutter's, every other one a row lower when two
    neighbours' texts would touch."""
    lay = layout
    xs = [column_x(ladder, i, lay) for i in range(len(ladder.columns))]
    top = 44 if lay.heads_below else 15
    widths = [
        max(text_width(c.party or "·", _PARTY_FONT), text_width(c.address, _HOST_FONT))
        for c in ladder.columns
    ]
    staggered = lay.heads_below and any(
        b - a < (wa + wb) / 2 + 6
        for a, b, wa, wb in zip(xs, xs[1:], widths, widths[1:], strict=False)
    )
    height = top + (18 + 32 if staggered else 18) + 4 if lay.heads_below else _HEAD_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cw-ladder-head {lay.name}" '
        f'viewBox="0 0 {lay.width} {height}" width="{lay.width}" height="{height}">'
        f'<text class="gutter time-head" x="4" y="{12 if lay.heads_below else 15}">'
        f"{escape(tr('ladder.time', lang, zone=zone))}</text>"
        f'<text class="gutter host-head" x="4" y="{26 if lay.heads_below else 33}">'
        f"{escape(tr('ladder.hosts', lang))}</text>"
    ]
    for i, col in enumerate(ladder.columns):
        cx = xs[i]
        y = top + (32 if staggered and i % 2 else 0)
        anchor = ""  # centred on the column, or kept inside the drawing at its ends
        if lay.heads_below and cx + widths[i] / 2 > lay.width - 2:
            cx, anchor = lay.width - 2, " end"
        elif lay.heads_below and cx - widths[i] / 2 < 2:
            cx, anchor = 2, " start"
        parts.append(
            f'<text class="party{anchor}" x="{cx}" y="{y}">{escape(col.party or "·")}</text>'
            f'<text class="address host{anchor}" x="{cx}" y="{y + 18}">'
            f"{escape(col.address)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def step_svg(ladder: Ladder, step: Step, lang: str = "ko", layout: LadderLayout = WIDE) -> str:
    """One message's strip: its time and offset, the column lines and an arrow from sender to
    receiver."""
    lay = layout
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cw-ladder-row {lay.name}" '
        f'viewBox="0 0 {lay.width} {_ROW_H}" width="{lay.width}" height="{_ROW_H}">'
    ]
    for i in range(len(ladder.columns)):
        cx = column_x(ladder, i, lay)
        parts.append(f'<line class="col" x1="{cx}" y1="0" x2="{cx}" y2="{_ROW_H}"/>')
    x1, x2 = column_x(ladder, step.src, lay), column_x(ladder, step.dst, lay)
    y = _ROW_H - 8
    kind = "req" if step.request else "resp"
    head = -7 if x2 > x1 else 7
    parts.append(
        f'<line class="arrow {kind}" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}"/>'
        f'<polyline class="head {kind}" points="{x2 + head},{y - 4} {x2},{y} {x2 + head},{y + 4}"/>'
        f'<text class="label" x="{round((x1 + x2) / 2, 2)}" y="{y - 5}">{escape(step.label)}</text>'
        f'<text class="clock" x="4" y="13">{escape(step.clock)}</text>'
        f'<text class="at" x="4" y="29">'
        f"{escape(tr('ladder.offset', lang, value=f'{step.offset:.3f}'))}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
