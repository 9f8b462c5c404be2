"""A call's time line for the trainer's replay, and its drawing to scale as SVG.

:func:`build_timeline` turns a stored call (its document, legs and leg events) and its charter
profile into plain data: one lane per leg with ring bursts at the charter's cadence, talk and
hold spans, marks (offered, first ring, answer, hold, transfer start, target ringing, connect,
who hung up) and the limits the charter sets (the answer limit from the first ring, the
transfer limit from each transfer's start), flagged where the call breached them. Times are
seconds from the call's start.

A missed call that opened a callback gets a second stretch of axis after a break: the callback
lane with each attempt (the later outbound calls to the number), the deadline as a limit from
the end of the missed call, and the delay until the call back. The call's own stretch is drawn
and played to scale; the callback's hours are compressed into a few seconds of play
(:class:`Segment`).

:func:`timeline_svg` draws it: mark labels are stacked in rows above the axis and limit labels
in rows under the lanes, so no label overlaps another and no line crosses a label; the cursor
spans the lanes only, never the limit labels. It draws in one of two layouts (:data:`WIDE`: the
lanes' labels in a column left of the plot; :data:`NARROW`, for a phone: each lane's label
above its bar and the plot the drawing's full width, so it fits a 360 px screen at its own
text size); the page shows the one its width suits. The replay script only moves the cursors,
reading the same data embedded as JSON (:meth:`Timeline.to_json`, the wide layout's x) and
each drawing's plot (``data-plot-left``, ``data-plot-right``).
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from html import escape
from typing import Any

from callwatch.charter import registry
from callwatch.charter.profile import Profile
from callwatch.i18n import duration as worded_duration
from callwatch.i18n import span as worded_span
from callwatch.timefmt import MICROS, parse_iso
from callwatch.web.queries import AttemptRow, EventRow, LegRow
from callwatch.web.strings import page_keys, tr

WIDTH = 1000
LABEL_WIDTH = 190
PLOT_LEFT = 200
PLOT_RIGHT = 980
MARK_FONT = 11
TICK_FONT = 10
LIMIT_FONT = 12
LANE_FONT = 12
ROLE_FONT = 10
_ROW_H = 17  # one label row: the font's ascent and descent fit with a gap
_LANE_H = 38
_BREAK_GAP = 18
_CALL_SHARE = 0.42  # of the plot's width, for the call itself when a callback follows
CALLBACK_PLAY_S = 10.0
_NICE_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
_LONG_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one drawing of the time line puts things (x in its own units, y from a lane's
    top): the plot's ends, a lane's height, its bar's top, its label's and role's place."""

    name: str
    width: float
    plot_left: float
    plot_right: float
    lane_h: float
    bar_top: float
    label_y: float
    role_y: float
    labels_above: bool
    """True: label and role on one line above the bar; False: in a column left of the plot."""


WIDE = Layout("wide", WIDTH, PLOT_LEFT, PLOT_RIGHT, _LANE_H, 9, 15, 31, False)
NARROW = Layout("narrow", 360, 10, 350, 50, 18, 12, 12, True)
"""A phone's drawing: 360 units wide, shown at most at its natural size (its text never
smaller than 90% of it on a 360 px screen)."""


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
class Interval:
    """A measured stretch drawn under the lanes beside the limits (a callback's delay)."""

    kind: str
    start: float
    end: float
    label: str
    breach: bool


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the axis: seconds ``start``..``end`` drawn from x ``left`` to ``right`` and
    played in ``play`` seconds at 1× (to scale for the call, compressed for a callback)."""

    start: float
    end: float
    left: float
    right: float
    play: float


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
    intervals: list[Interval] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def play_total(self) -> float:
        """Seconds of play at 1× from start to end."""
        return round(sum(s.play for s in self.axis()), 3)

    def axis(self) -> list[Segment]:
        """The segments of the axis (one to scale when none were set)."""
        return self.segments or [Segment(0.0, self.duration, PLOT_LEFT, PLOT_RIGHT, self.duration)]

    def x(self, t: float) -> float:
        """The drawing's x of ``t`` seconds."""
        axis = self.axis()
        seg = axis[0]
        for s in axis:
            if t >= s.start:
                seg = s
        t = min(max(t, seg.start), seg.end)
        width = seg.end - seg.start or 1.0
        return round(seg.left + (seg.right - seg.left) * (t - seg.start) / width, 2)

    def to_json(self) -> dict[str, Any]:
        """The data the replay script reads (JSON types), with the drawing's geometry."""
        data = asdict(self)
        data["segments"] = [asdict(s) for s in self.axis()]
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
    attempts: Sequence[AttemptRow] = (),
) -> Timeline:
    """The time line of the stored call ``doc`` (``callwatch ingest`` JSON) with its legs and
    events; ``show`` renders a party (masking it for a trainer). ``attempts``: the outbound
    calls to the number of the callback the call opened (``doc["callback"]``), oldest first."""
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
    call_axis = round(max(latest * 1.04 + 0.5, 2.0), 3)
    segments = [Segment(0.0, call_axis, PLOT_LEFT, PLOT_RIGHT, call_axis)]
    intervals: list[Interval] = []
    callback = doc.get("callback")
    if callback and callback.get("opened_at"):
        part = _CallbackPart(lang, show, sec, verdicts.get("callback"))
        cb_latest = part.build(callback, attempts, len(lanes))
        lanes.extend(part.lanes)
        spans.extend(part.spans)
        marks.extend(part.marks)
        limits.extend(part.limits)
        intervals.extend(part.intervals)
        cb_latest = max(cb_latest, call_axis + 60.0)
        end = round(cb_latest + max(60.0, (cb_latest - call_axis) * 0.12), 3)
        split = round(PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * _CALL_SHARE, 2)
        segments = [
            Segment(0.0, call_axis, PLOT_LEFT, split, call_axis),
            Segment(call_axis, end, split + _BREAK_GAP, PLOT_RIGHT, CALLBACK_PLAY_S),
        ]
    marks.sort(key=lambda m: m.at)
    return Timeline(
        t0,
        segments[-1].end,
        lanes,
        spans,
        marks,
        limits,
        (cadence.on_s, cadence.off_s),
        rings,
        intervals,
        segments if len(segments) > 1 else [],
    )


class _CallbackPart:
    """The callback's lane, attempts, deadline and delay (see :func:`build_timeline`)."""

    def __init__(
        self,
        lang: str,
        show: Callable[[str | None], str | None],
        sec: Callable[[int | None], float | None],
        verdict: dict[str, Any] | None,
    ) -> None:
        self.lang, self.show, self.sec, self.verdict = lang, show, sec, verdict
        self.lanes: list[Lane] = []
        self.spans: list[Span] = []
        self.marks: list[Mark] = []
        self.limits: list[Limit] = []
        self.intervals: list[Interval] = []

    def _at(self, value: str | None) -> float | None:
        return None if value is None else self.sec(parse_iso(value))

    def build(self, callback: dict[str, Any], attempts: Sequence[AttemptRow], lane: int) -> float:
        """Fills the parts in; returns the latest second they reach."""
        lang, show = self.lang, self.show
        opened = self._at(callback["opened_at"]) or 0.0
        due = self._at(callback.get("due_at"))
        back = self._at(callback.get("called_back_at"))
        status = callback.get("status")
        failed = (
            self.verdict.get("ok") is False
            if self.verdict is not None
            else status in ("late", "missed")
        )
        who = callback.get("by") or (attempts[0].caller if attempts else None)
        self.lanes.append(
            Lane(f"{show(who) or '?'} → {show(callback.get('number')) or '?'}", "callback")
        )
        latest = opened
        for n, attempt in enumerate(attempts, 1):
            start = self.sec(attempt.started) or 0.0
            answer = self.sec(attempt.answered)
            stop = self.sec(attempt.ended) or start
            if answer is None:
                self.spans.append(Span(lane, "ring", start, max(start, stop), 1))
            else:
                self.spans.append(Span(lane, "ring", start, answer, 1))
                self.spans.append(Span(lane, "talk", answer, max(answer, stop)))
            outcome = tr("callback.answered" if answer is not None else "callback.unanswered", lang)
            label = tr(
                "mark.callback_attempt", lang, n=n, who=show(attempt.caller) or "?", outcome=outcome
            )
            late = due is not None and start > due
            self.marks.append(Mark("callback_attempt", start, label, late))
            latest = max(latest, stop)
        if due is not None:
            allowed = round(due - opened, 3)
            limit = self.verdict.get("limit") if self.verdict is not None else None
            text = (
                worded_duration(limit, lang)
                if limit
                else worded_span(allowed, lang, registry.MINUTE)
            )
            self.limits.append(
                Limit(
                    "callback", opened, allowed, due, failed, tr("limit.callback", lang, limit=text)
                )
            )
            latest = max(latest, due)
        if back is not None:
            delay = worded_span(back - opened, lang, registry.MINUTE)
            self.intervals.append(
                Interval(
                    "callback_delay",
                    opened,
                    back,
                    tr("interval.callback_delay", lang, delay=delay),
                    failed,
                )
            )
            latest = max(latest, back)
        elif status in ("missed", "open"):
            at = due if due is not None else latest
            key = "mark.no_callback" if status == "missed" else "mark.callback_open"
            self.marks.append(Mark("no_callback", at, tr(key, lang), status == "missed"))
        return latest


@dataclass(frozen=True, slots=True)
class _Placed:
    row: int
    left: float
    right: float
    x: float
    end_anchor: bool
    busy_left: float
    busy_right: float


def text_width(text: str, size: float) -> float:
    """A generous estimate of ``text``'s width at ``size`` px in the pages' fonts (Hangul and
    other wide characters a full em, Latin capitals 0.75 em, the rest 0.62 em)."""
    em = 0.0
    for ch in text:
        if ch == " ":
            em += 0.32
        elif unicodedata.east_asian_width(ch) in ("W", "F", "A"):
            em += 1.0
        elif ch.isupper() or ch in "mw%@":
            em += 0.78
        else:
            em += 0.62
    return round(em * size + 2, 2)


def stack_labels(
    items: Sequence[tuple[float, float, float | None]], lo: float, hi: float
) -> list[_Placed]:
    """Rows for labels hung on vertical lines, given ``(x, width, reach)`` per label (returned
    in the same order; ``reach``: where a line drawn in the label's row towards ``x`` starts,
    or None). Row 0 lies next to the plot and every line runs from its label's row towards the
    plot through the rows below it. A label goes right of its line (left when it would pass
    ``hi``). Taken from the right, each goes into the first row where it overlaps no label, no
    line of a label farther out crosses it and its own line crosses no label nearer the plot;
    labels never overlap (the last condition is dropped for a label that cannot meet it)."""
    placed: dict[int, _Placed] = {}
    order = sorted(range(len(items)), key=lambda i: (-items[i][0], i))
    most = 2 * len(items) + 2
    for index in order:
        x, width, reach = items[index]
        end_anchor = x + 3 + width > hi
        left = max(lo, x - 3 - width) if end_anchor else x + 3
        busy = (
            (min(left, reach), max(left + width, x)) if reach is not None else (left, left + width)
        )
        base = _Placed(0, left, left + width, x, end_anchor, *busy)

        others = list(placed.values())
        row = next((r for r in range(most) if _fits(replace(base, row=r), others, True)), None)
        if row is None:
            row = next(r for r in range(most) if _fits(replace(base, row=r), others, False))
        placed[index] = replace(base, row=row)
    return [placed[i] for i in range(len(items))]


def _fits(me: _Placed, others: Sequence[_Placed], strict: bool) -> bool:
    gap = 4.0
    for p in others:
        if (
            p.row == me.row
            and me.busy_left < p.busy_right + gap
            and p.busy_left < me.busy_right + gap
        ):
            return False
        if p.row > me.row and me.left - gap <= p.x <= me.right + gap:
            return False
        if strict and p.row < me.row and p.left - gap <= me.x <= p.right + gap:
            return False
    return True


def in_layout(timeline: Timeline, layout: Layout) -> Timeline:
    """``timeline`` with its axis drawn across ``layout``'s plot (the wide one's as it is)."""
    if layout == WIDE:
        return timeline
    scale = (layout.plot_right - layout.plot_left) / (PLOT_RIGHT - PLOT_LEFT)

    def moved(x: float) -> float:
        return round(layout.plot_left + (x - PLOT_LEFT) * scale, 2)

    axis = [replace(s, left=moved(s.left), right=moved(s.right)) for s in timeline.axis()]
    return replace(timeline, segments=axis)


def timeline_svg(timeline: Timeline, lang: str = "ko", layout: Layout = WIDE) -> str:
    """The time line drawn to scale in ``layout`` (SVG text, every label escaped)."""
    lay = layout
    tl = in_layout(timeline, lay)
    x = tl.x
    width = lay.width
    mark_rows = stack_labels(
        [(x(m.at), text_width(m.label, MARK_FONT), None) for m in tl.marks], 0, width - 2
    )
    below: list[tuple[float, float, float | None]] = []
    below += [(x(lim.at), text_width(lim.label, LIMIT_FONT), x(lim.origin)) for lim in tl.limits]
    below += [(x(iv.end), text_width(iv.label, LIMIT_FONT), x(iv.start)) for iv in tl.intervals]
    limit_rows = stack_labels(below, 0, width - 2)
    n_mark_rows = 1 + max([p.row for p in mark_rows] + [0])
    n_limit_rows = max([p.row + 1 for p in limit_rows] + [1])
    axis_y = 35 + _ROW_H * (n_mark_rows - 1)
    lane_top = axis_y + 8
    bottom = lane_top + max(1, len(tl.lanes)) * lay.lane_h
    height = bottom + 12 + _ROW_H * n_limit_rows
    cursor_id = "cw-cursor" if lay == WIDE else f"cw-cursor-{lay.name}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cw-timeline {lay.name}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'data-duration="{tl.duration}" data-plot-left="{lay.plot_left}" '
        f'data-plot-right="{lay.plot_right}" data-cursor="{cursor_id}">'
    ]
    ticks = _ticks(tl, lang, lay)
    for tx, _ in ticks:
        out.append(f'<line class="tick" x1="{tx}" y1="{axis_y}" x2="{tx}" y2="{bottom}"/>')
    axis = tl.axis()
    for seg in axis:
        out.append(
            f'<line class="axis" x1="{seg.left}" y1="{axis_y}" x2="{seg.right}" y2="{axis_y}"/>'
        )
    above: list[str] = []  # a narrow layout's lane labels, drawn over the lines (their halo)
    for i, lane in enumerate(tl.lanes):
        y = lane_top + i * lay.lane_h
        mid = y + lay.bar_top + 10
        for seg in axis:
            out.append(
                f'<line class="lane" x1="{seg.left}" y1="{mid}" x2="{seg.right}" y2="{mid}"/>'
            )
        role = _role(lane.role, lang)
        if lay.labels_above:  # the role at the right end of the label's line; drawn last
            role_w = text_width(role, ROLE_FONT)
            label_x = lay.plot_left + 4
            room = width - label_x - role_w - 16
            above.append(
                _fitted("lane-label", label_x, y + lay.label_y, lane.label, LANE_FONT, room=room)
                + _fitted(
                    "lane-role",
                    width - 8 - role_w,
                    y + lay.role_y,
                    role,
                    ROLE_FONT,
                    role=lane.role,
                    room=role_w,
                )
            )
        else:
            out.append(
                _fitted("lane-label", 8, y + lay.label_y, lane.label, LANE_FONT)
                + _fitted("lane-role", 8, y + lay.role_y, role, ROLE_FONT, role=lane.role)
            )
    for left, right in itertools.pairwise(axis):
        bx = round((left.right + right.left) / 2, 2)
        out.append(
            f'<g class="axis-break" data-at="{right.start}">'
            f'<line x1="{bx - 5}" y1="{axis_y + 6}" x2="{bx - 1}" y2="{axis_y - 6}"/>'
            f'<line x1="{bx + 1}" y1="{axis_y + 6}" x2="{bx + 5}" y2="{axis_y - 6}"/></g>'
        )
    for span in tl.spans:
        y = lane_top + span.lane * lay.lane_h
        w = max(3.0 if span.end > span.start else 1.0, x(span.end) - x(span.start))
        extra = f' data-ring="{span.ring}"' if span.kind == "ring" else ""
        top = y + lay.bar_top
        out.append(
            f'<rect class="span {span.kind}" x="{x(span.start)}" y="{top}" width="{round(w, 2)}" '
            f'height="20" data-start="{span.start}" data-end="{span.end}"{extra}/>'
        )
    for mark, place in zip(tl.marks, mark_rows, strict=True):
        baseline = axis_y - 21 - _ROW_H * place.row
        cls = "mark breach" if mark.breach else "mark"
        tx = place.right if place.end_anchor else place.left
        anchor = ' text-anchor="end"' if place.end_anchor else ""
        out.append(
            f'<g class="{cls}" data-kind="{mark.kind}" data-at="{mark.at}">'
            f'<line x1="{place.x}" y1="{baseline + 4}" x2="{place.x}" y2="{bottom}"/>'
            f'<text x="{tx}" y="{baseline}"{anchor}>{escape(mark.label)}</text></g>'
        )
    for tx, label in ticks:
        out.append(f'<text class="tick-label" x="{tx}" y="{axis_y - 4}">{escape(label)}</text>')
    places = iter(limit_rows)
    for limit in tl.limits:
        place = next(places)
        ox = x(limit.origin)
        y = bottom + 20 + _ROW_H * place.row
        cls = "limit breached" if limit.breached else "limit"
        tx = place.right if place.end_anchor else place.left
        anchor = ' text-anchor="end"' if place.end_anchor else ""
        out.append(
            f'<g class="{cls}" data-rule="{limit.rule}" data-at="{limit.at}">'
            f'<line class="limit-line" x1="{place.x}" y1="{axis_y}" x2="{place.x}" y2="{y}"/>'
            f"{_span_line(ox, place, y - 4, 'limit-span')}"
            f'<text x="{tx}" y="{y}"{anchor}>{escape(limit.label)}</text></g>'
        )
    for interval in tl.intervals:
        place = next(places)
        sx = x(interval.start)
        y = bottom + 20 + _ROW_H * place.row
        cls = "interval breach" if interval.breach else "interval"
        tx = place.right if place.end_anchor else place.left
        anchor = ' text-anchor="end"' if place.end_anchor else ""
        out.append(
            f'<g class="{cls}" data-kind="{interval.kind}" data-at="{interval.end}">'
            f'<line x1="{sx}" y1="{y - 8}" x2="{sx}" y2="{y}"/>'
            f'<line x1="{place.x}" y1="{y - 8}" x2="{place.x}" y2="{y}"/>'
            f"{_span_line(sx, place, y - 4)}"
            f'<text x="{tx}" y="{y}"{anchor}>{escape(interval.label)}</text></g>'
        )
    out += above
    out.append(
        f'<line id="{cursor_id}" class="cursor" x1="{lay.plot_left}" y1="{axis_y - 2}" '
        f'x2="{lay.plot_left}" y2="{bottom + 2}"/>'
    )
    out.append("</svg>")
    return "".join(out)


def _span_line(start: float, place: _Placed, y: float, cls: str = "") -> str:
    """The horizontal line of a limit or an interval from ``start`` to its label's line, stopped
    short of the label where the label lies on it (left of its line, ``end_anchor``)."""
    end = place.x
    if place.end_anchor and start < place.left - 3:
        end = round(place.left - 3, 2)
    elif place.end_anchor:
        return ""
    attrs = f' class="{cls}"' if cls else ""
    return f'<line{attrs} x1="{start}" y1="{y}" x2="{end}" y2="{y}"/>'


def legend(timeline: Timeline) -> list[str]:
    """The legend's entries for ``timeline`` (``legend.<kind>`` keys of the catalogue): the
    kinds of bar drawn, then marks, limits, breaches, the axis break and the cursor."""
    kinds = {s.kind for s in timeline.spans}
    out = [k for k in ("ring", "talk", "hold") if k in kinds] + ["mark"]
    if timeline.limits:
        out.append("limit")
    if timeline.intervals:
        out.append("interval")
    if any(m.breach for m in timeline.marks) or any(lim.breached for lim in timeline.limits):
        out.append("breach")
    if len(timeline.axis()) > 1:
        out.append("break")
    out.append("cursor")
    return out


def _fitted(
    cls: str,
    x: float,
    y: float,
    text: str,
    size: float,
    role: str | None = None,
    room: float | None = None,
) -> str:
    """A text at ``x``, squeezed into ``room`` (the label column by default) when it would pass
    it."""
    room = LABEL_WIDTH - x - 2 if room is None else round(room, 2)
    fit = (
        f' textLength="{room}" lengthAdjust="spacingAndGlyphs"'
        if text_width(text, size) > room
        else ""
    )
    data = f' data-role="{escape(role)}"' if role is not None else ""
    return f'<text class="{cls}" x="{x}" y="{y}"{fit}{data}>{escape(text)}</text>'


def _ticks(tl: Timeline, lang: str, layout: Layout = WIDE) -> list[tuple[float, str]]:
    """Tick positions and labels per segment (seconds on the call, minutes and hours on a
    callback), a label dropped where it would touch the one before; at most 16 ticks across
    the wide plot, fewer on a narrower one."""
    out: list[tuple[float, str]] = []
    last_right = -1e9
    plot = layout.plot_right - layout.plot_left
    for index, seg in enumerate(tl.axis()):
        length = seg.end - seg.start
        share = (seg.right - seg.left) / plot
        if index == 0:
            step = _tick_step(length, max(3, int(16 * share * plot / (PLOT_RIGHT - PLOT_LEFT))))
            values = [n * step for n in range(int(length / step + 1e-9) + 1)]
        else:
            step = next((s for s in _LONG_STEPS if length / s <= 5), _LONG_STEPS[-1])
            first = int(seg.start // step) + 1
            values = [n * step for n in range(first, int(seg.end // step) + 1)]
        for value in values:
            tx = tl.x(value)
            if value < seg.start or value > seg.end or not seg.left <= tx <= seg.right:
                continue
            label = (
                tr("readout.seconds", lang, value=_num(value))
                if index == 0
                else worded_span(value, lang, registry.MINUTE)
            )
            half = text_width(label, TICK_FONT) / 2
            if tx - half < last_right + 6:
                continue
            out.append((tx, label))
            last_right = tx + half
    return out


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


def _tick_step(duration: float, most: int = 16) -> float:
    for step in _NICE_STEPS:
        if duration / step <= most:
            return step
    return _NICE_STEPS[-1]


def _num(value: float) -> str:
    return f"{value:g}"
