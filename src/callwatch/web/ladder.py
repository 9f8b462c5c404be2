"""The SIP ladder of a call: one column per network address, one arrow per message.

Columns are the addresses in the order they first appear, each named by the party seen there
(the From user of a request it sent, the Request-URI user of a request it received). Each row
is drawn as a small SVG strip (the columns and the arrow), so a message can open in place to
show its text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from callwatch.store import RawMessage
from callwatch.store.rawsip import address_text
from callwatch.timefmt import MICROS

WIDTH = 1000
_MARGIN = 70
_ROW_H = 30
_REQUEST = re.compile(r"^([A-Z]+) (?:sips?|tel):([^@;>\s]*)")
_FROM = re.compile(r"^(?:from|f)[ \t]*:.*?(?:sips?|tel):([^@;>\s]*)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Column:
    """One address of the ladder and the party seen there."""

    address: str
    party: str


@dataclass(frozen=True, slots=True)
class Step:
    """One message: seconds from the call's start, from column ``src`` to ``dst``."""

    at: float
    src: int
    dst: int
    label: str
    text: str
    request: bool


@dataclass(frozen=True, slots=True)
class Ladder:
    """Columns and messages in capture order."""

    columns: list[Column]
    steps: list[Step]


def build_ladder(
    messages: Sequence[RawMessage], start_us: int, *, hide: Callable[[str], str] = lambda s: s
) -> Ladder:
    """The ladder of ``messages``; ``hide`` masks numbers in labels and texts (trainers)."""
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
            label = f"{request.group(1)} {hide(request.group(2))}".strip()
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
            )
        )
    columns = [Column(a, hide(parties.get(a, ""))) for a in order]
    return Ladder(columns, steps)


def column_x(ladder: Ladder, index: int) -> float:
    """The x position of column ``index``."""
    n = max(1, len(ladder.columns))
    if n == 1:
        return WIDTH / 2
    return round(_MARGIN + (WIDTH - 2 * _MARGIN) * index / (n - 1), 2)


def header_svg(ladder: Ladder) -> str:
    """The column heads: party and address."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cw-ladder-head" viewBox="0 0 {WIDTH} 40" '
        f'width="{WIDTH}" height="40">'
    ]
    for i, col in enumerate(ladder.columns):
        cx = column_x(ladder, i)
        parts.append(
            f'<text class="party" x="{cx}" y="15">{escape(col.party or "·")}</text>'
            f'<text class="address" x="{cx}" y="32">{escape(col.address)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def step_svg(ladder: Ladder, step: Step) -> str:
    """One message's strip: the column lines and an arrow from sender to receiver."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cw-ladder-row" viewBox="0 0 {WIDTH} '
        f'{_ROW_H}" width="{WIDTH}" height="{_ROW_H}">'
    ]
    for i in range(len(ladder.columns)):
        cx = column_x(ladder, i)
        parts.append(f'<line class="col" x1="{cx}" y1="0" x2="{cx}" y2="{_ROW_H}"/>')
    x1, x2 = column_x(ladder, step.src), column_x(ladder, step.dst)
    y = _ROW_H - 8
    kind = "req" if step.request else "resp"
    head = -7 if x2 > x1 else 7
    parts.append(
        f'<line class="arrow {kind}" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}"/>'
        f'<polyline class="head {kind}" points="{x2 + head},{y - 4} {x2},{y} {x2 + head},{y + 4}"/>'
        f'<text class="label" x="{round((x1 + x2) / 2, 2)}" y="{y - 5}">{escape(step.label)}</text>'
        f'<text class="at" x="4" y="{y - 5}">{step.at:.3f}s</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
