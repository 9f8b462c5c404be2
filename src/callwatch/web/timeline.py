"""A call's time line for the trainer's replay, and its drawing to scale as SVG.

:func:`build_timeline` turns a stored call (its document, legs and leg events) and its charter
profile into plain data: one lane per leg with ring bursts at the charter's cadence, talk and
hold spans, marks (offered, first ring, answer, hold, transfer start, target ringing, connect,
who hung up) and the limits the charter sets (the answer limit from the first ring, the
transfer limit from each transfer's start), flagged where the call breached them. Times are
seconds from the call's start. :func:`timeline_svg` draws it; the replay script only moves a
cursor over the drawing, reading the same data embedded as JSON (:meth:`Timeline.to_json`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from callwatch.charter.profile import Profile
from callwatch.timefmt import MICROS, parse_iso
from callwatch.web.queries import EventRow, LegRow
from callwatch.web.strings import page_keys, tr

WIDTH = 1000
LABEL_WIDTH = 190
PLOT_LEFT = 200
PLOT_RIGHT = 980
_LABEL_ROWS = 3
_ROW_H = 17
_AXIS_Y = _LABEL_ROWS * _ROW_H + 14
_LANE_TOP = _AXIS_Y + 26
_LANE_H = 34
_NICE_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


@dataclass(frozen=True, slots=True)
class Lane:
    """One leg: who called whom and in which role."""

    label: str
    role: str


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of one lane: ``ring`` (a burst of ringing), ``talk`` or ``hold``."""

    lane: int
    kind: str
    start: float
    end: float
    ring: int = 0


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment of the call, drawn as a vertical line with a label."""

    kind: str
    at: float
    label: str
    breach: bool = False


@dataclass(frozen=True, slots=True)
class Limit:
    """A charter limit: ``seconds`` after ``origin`` (so at ``at``), breached or kept."""

    rule: str
    origin: float
    seconds: float
    at: float
    breached: bool
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """Everything the replay draws; times in seconds from ``start_us``."""

    start_us: int
    duration: float
    lanes: list[Lane]
    spans: list[Span]
    marks: list[Mark]
    limits: list[Limit]
    cadence: tuple[float, float]
    rings: list[tuple[float, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The data the replay script reads (JSON types), with the drawing's geometry."""
        data = asdict(self)
        data["geometry"] = {"left": PLOT_LEFT, "right": PLOT_RIGHT, "width": WIDTH}
        return data


def build_timeline(
    doc: dict[str, Any],
    legs: Sequence[LegRow],
    events: Sequence[EventRow],
    profile: Profile,
    *,
    lang: str = "ko",
    show: Callable[[str | None], str | None] = lambda n: n,
) -> Timeline:
    """The time line of the stored call ``doc`` (``callwatch ingest`` JSON) with its legs and
    events; ``show`` renders a party (masking it for a trainer)."""
    t0 = parse_iso(doc["started_at"])

    def sec(us: int | None) -> float | None:
        return None if us is None else round((us - t0) / MICROS, 3)

    def doc_sec(key: str) -> float | None:
        value = doc.get(key)
        return None if value is None else sec(parse_iso(value))

    cadence = profile.cadence
    lanes: list[Lane] = []
    spans: list[Span] = []
    marks: list[Mark] = [Mark("offered", 0.0, tr("mark.offered", lang))]
    rings: list[tuple[float, int]] = []
    lane_of: dict[str, int] = {}
    call_end = doc_sec("ended_at") or 0.0
    for leg in legs:
        lane_of[leg.leg] = len(lanes)
        lanes.append(Lane(f"{show(leg.from_user) or '?'} → {show(leg.to_user) or '?'}", leg.role))
        index = lane_of[leg.leg]
        alert, answer, end = sec(leg.alerting), sec(leg.answered), sec(leg.ended)
        stop = end if end is not None else call_end
        if alert is not None:
            ring_end = answer if answer is not None else stop
            n, at = 1, alert
            while at < ring_end and n <= 400:
                spans.append(Span(index, "ring", at, min(at + cadence.on_s, ring_end), n))
                if leg.role != "trunk":
                    rings.append((at, n))
                n += 1
                at = round(alert + (n - 1) * cadence.period_s, 3)
        if answer is not None:
            spans.append(Span(index, "talk", answer, max(answer, stop)))
    held: dict[str, float] = {}
    for event in events:
        event_at = sec(event.at)
        if event_at is None or event.leg not in lane_of:
            continue
        if event.kind == "held":
            held[event.leg] = event_at
            marks.append(Mark("held", event_at, tr("mark.held", lang)))
        elif event.kind == "resumed" and event.leg in held:
            spans.append(Span(lane_of[event.leg], "hold", held.pop(event.leg), event_at))
            marks.append(Mark("resumed", event_at, tr("mark.resumed", lang)))
    for leg_key, hold_start in held.items():
        spans.append(Span(lane_of[leg_key], "hold", hold_start, max(hold_start, call_end)))
    verdicts = {v["rule"]: v for v in doc.get("verdicts", [])}
    first_ring = doc_sec("first_ring_at")
    if first_ring is not None:
        marks.append(Mark("first_ring", first_ring, tr("mark.first_ring", lang)))
    answered = doc_sec("answered_at")
    if answered is not None:
        who = show(doc.get("answered_by")) or ""
        breach = verdicts.get("answer", {}).get("ok") is False
        marks.append(Mark("answered", answered, tr("mark.answered", lang, who=who), breach))
    limits: list[Limit] = []
    limit_s = profile.answer_limit_s
    if limit_s is not None and first_ring is not None and "answer" in verdicts:
        limits.append(
            Limit(
                "answer",
                first_ring,
                limit_s,
                round(first_ring + limit_s, 3),
                verdicts["answer"]["ok"] is False,
                tr("limit.answer", lang, seconds=_num(limit_s), rings=profile.answer_before_ring),
            )
        )
    transfer_limit = profile.transfer_limit_s
    for transfer in doc.get("transfers", []):
        start = sec(parse_iso(transfer["started_at"]))
        assert start is not None
        marks.append(Mark("transfer", start, tr("mark.transfer", lang)))
        target = _target_alerting(legs, transfer.get("to"), t0 + int(start * MICROS))
        if target is not None:
            marks.append(
                Mark("target_ringing", sec(target) or 0.0, tr("mark.target_ringing", lang))
            )
        connected = transfer.get("connected_at")
        late = False
        if transfer_limit is not None and "transfer" in verdicts:
            seconds = transfer.get("seconds")
            late = verdicts["transfer"]["ok"] is False and (
                seconds is None or seconds > transfer_limit
            )
            limits.append(
                Limit(
                    "transfer",
                    start,
                    transfer_limit,
                    round(start + transfer_limit, 3),
                    late,
                    tr("limit.transfer", lang, seconds=_num(transfer_limit)),
                )
            )
        if connected is not None:
            at = sec(parse_iso(connected)) or 0.0
            marks.append(Mark("connected", at, tr("mark.connected", lang), late))
    ended = doc_sec("ended_at")
    if ended is not None:
        if doc.get("missed"):
            marks.append(Mark("ended", ended, tr("mark.missed", lang), True))
        else:
            hangup_by = doc.get("hangup_by")
            who_text = tr(f"hangup_by.{hangup_by}", lang) if hangup_by else "?"
            breach = verdicts.get("hangup", {}).get("ok") is False
            marks.append(Mark("ended", ended, tr("mark.ended", lang, who=who_text), breach))
    latest = max(
        [m.at for m in marks] + [s.end for s in spans] + [lim.at for lim in limits] + [0.0]
    )
    duration = round(max(latest * 1.04 + 0.5, 2.0), 3)
    marks.sort(key=lambda m: m.at)
    return Timeline(t0, duration, lanes, spans, marks, limits, (cadence.on_s, cadence.off_s), rings)


def timeline_svg(timeline: Timeline, lang: str = "ko") -> str:
    """The time line drawn to scale (SVG text, every label escaped)."""
    tl = timeline
    lanes_h = max(1, len(tl.lanes)) * _LANE_H
    bottom = _LANE_TOP + lanes_h
    height = bottom + 30 + 18 * max(1, len(tl.limits))

    def x(t: float) -> float:
        return round(PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * t / tl.duration, 2)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cw-timeline" viewBox="0 0 {WIDTH} '
        f'{height}" width="{WIDTH}" height="{height}" role="img" '
        f'data-duration="{tl.duration}">'
    ]
    step = _tick_step(tl.duration)

    def tick(seconds: float) -> str:
        return escape(tr("readout.seconds", lang, value=_num(seconds)))

    n = 0
    while n * step <= tl.duration + 1e-9:
        tx = x(n * step)
        out.append(
            f'<line class="tick" x1="{tx}" y1="{_AXIS_Y}" x2="{tx}" y2="{bottom}"/>'
            f'<text class="tick-label" x="{tx}" y="{_AXIS_Y - 4}">{tick(n * step)}</text>'
        )
        n += 1
    out.append(
        f'<line class="axis" x1="{PLOT_LEFT}" y1="{_AXIS_Y}" x2="{PLOT_RIGHT}" y2="{_AXIS_Y}"/>'
    )
    for i, lane in enumerate(tl.lanes):
        y = _LANE_TOP + i * _LANE_H
        out.append(
            f'<text class="lane-label" x="8" y="{y + 21}">{escape(lane.label)}</text>'
            f'<text class="lane-role" x="{LABEL_WIDTH - 4}" y="{y + 21}" '
            f'data-role="{escape(lane.role)}">{escape(_role(lane.role, lang))}</text>'
            f'<line class="lane" x1="{PLOT_LEFT}" y1="{y + 17}" x2="{PLOT_RIGHT}" y2="{y + 17}"/>'
        )
    for span in tl.spans:
        y = _LANE_TOP + span.lane * _LANE_H
        w = max(1.0, x(span.end) - x(span.start))
        extra = f' data-ring="{span.ring}"' if span.kind == "ring" else ""
        out.append(
            f'<rect class="span {span.kind}" x="{x(span.start)}" y="{y + 7}" width="{round(w, 2)}" '
            f'height="20" data-start="{span.start}" data-end="{span.end}"{extra}/>'
        )
    rows: list[float] = [-1e9] * _LABEL_ROWS
    for mark in tl.marks:
        mx = x(mark.at)
        width = 7.5 * len(mark.label) + 8
        row = next((r for r in range(_LABEL_ROWS) if rows[r] < mx), _LABEL_ROWS - 1)
        rows[row] = mx + width
        cls = "mark breach" if mark.breach else "mark"
        out.append(
            f'<g class="{cls}" data-kind="{mark.kind}" data-at="{mark.at}">'
            f'<line x1="{mx}" y1="{row * _ROW_H + 16}" x2="{mx}" y2="{bottom}"/>'
            f'<text x="{mx + 3}" y="{row * _ROW_H + 13}">{escape(mark.label)}</text></g>'
        )
    for i, limit in enumerate(tl.limits):
        lx = x(limit.at)
        ox = x(limit.origin)
        y = bottom + 18 + 18 * i
        cls = "limit breached" if limit.breached else "limit"
        out.append(
            f'<g class="{cls}" data-rule="{limit.rule}" data-at="{limit.at}">'
            f'<line class="limit-line" x1="{lx}" y1="{_AXIS_Y}" x2="{lx}" y2="{y}"/>'
            f'<line class="limit-span" x1="{ox}" y1="{y - 4}" x2="{lx}" y2="{y - 4}"/>'
            f'<text x="{lx + 4}" y="{y}">{escape(limit.label)}</text></g>'
        )
    out.append(
        f'<line id="cw-cursor" class="cursor" x1="{PLOT_LEFT}" y1="{_AXIS_Y - 2}" '
        f'x2="{PLOT_LEFT}" y2="{height - 2}"/>'
    )
    out.append("</svg>")
    return "".join(out)


def _target_alerting(legs: Sequence[LegRow], target: str | None, after: int) -> int | None:
    for leg in legs:
        if (
            target is not None
            and leg.to_user == target
            and leg.alerting is not None
            and leg.offered >= after - MICROS
        ):
            return leg.alerting
    return None


def _role(role: str, lang: str) -> str:
    """A leg's role in ``lang`` (a role the catalogue does not know is shown as it is)."""
    return tr(f"lane.{role}", lang) if f"lane.{role}" in page_keys() else role


def _tick_step(duration: float) -> float:
    for step in _NICE_STEPS:
        if duration / step <= 16:
            return step
    return _NICE_STEPS[-1]


def _num(value: float) -> str:
    return f"{value:g}"
