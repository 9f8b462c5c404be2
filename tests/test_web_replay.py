"""The replay's data, in-process over the demo store: a callback breach's time line (the missed
call, the deadline, each attempt, the delay, a compressed second stretch of axis), a missed
callback without attempts, the label rows of the drawing, and the SIP ladder's times, hosts
and masking (numbers only; Via branches and tags kept)."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from callwatch.charter.callbacks import Callback
from callwatch.reports.weeks import local_datetime
from callwatch.store import RawMessage
from callwatch.timefmt import parse_iso
from callwatch.web.ladder import build_ladder, header_svg, step_svg
from callwatch.web.queries import call_events, call_legs, callback_attempts
from callwatch.web.timeline import (
    CALLBACK_PLAY_S,
    build_timeline,
    stack_labels,
    text_width,
    timeline_svg,
)
from callwatch.web.views import masker
from test_web_support import DemoWorld, make_world, site


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("replay"))


def _callback(world: DemoWorld, status: str, prefix: str) -> Callback:
    return next(cb for cb in world.store.callbacks(status=status) if cb.call.startswith(prefix))


def _timeline(world: DemoWorld, call_id: str, lang: str = "ko"):
    store = world.store
    doc = store.call(call_id)
    assert doc is not None
    cb = doc["callback"]
    attempts = callback_attempts(
        store,
        site().name,
        cb["number"],
        doc["department"],
        world_us(cb["opened_at"]),
        world_us(cb["called_back_at"]) if cb["called_back_at"] else None,
    )
    profile = site().profile_for(doc["department"])
    return (
        doc,
        attempts,
        build_timeline(
            doc,
            call_legs(store, call_id),
            call_events(store, call_id),
            profile,
            lang=lang,
            attempts=attempts,
        ),
    )


def world_us(text: str) -> int:
    return parse_iso(text)


def test_a_late_callback_replays_deadline_attempt_and_delay(world: DemoWorld) -> None:
    cb = _callback(world, "late", "missed-2h@")
    _, attempts, tl = _timeline(world, cb.call)
    assert len(attempts) == 1 and attempts[0].call_id.startswith("callback-2h@")
    assert attempts[0].started == cb.called_back_at and attempts[0].caller == cb.by
    sec = lambda us: round((us - tl.start_us) / 1e6, 3)  # noqa: E731
    # the missed call is still there, as before
    assert [m.kind for m in tl.marks][:3] == ["offered", "first_ring", "ended"]
    # the deadline: from the end of the missed call, breached
    (deadline,) = [lim for lim in tl.limits if lim.rule == "callback"]
    assert deadline.origin == pytest.approx(sec(cb.opened_at), abs=0.002)
    assert deadline.at == pytest.approx(sec(cb.due_at), abs=0.002)
    assert deadline.breached and deadline.label == "회신 기한 1시간"
    # the attempt, late, on its own lane
    (attempt,) = [m for m in tl.marks if m.kind == "callback_attempt"]
    assert attempt.at == pytest.approx(sec(cb.called_back_at), abs=0.002)
    assert attempt.breach and attempt.label == "회신 시도 1: 2001 (받음)"
    assert tl.lanes[-1].role == "callback"
    assert {s.kind for s in tl.spans if s.lane == len(tl.lanes) - 1} == {"ring", "talk"}
    # the delay
    (delay,) = tl.intervals
    assert delay.start == deadline.origin and delay.end == attempt.at
    assert delay.breach and delay.label == "회신까지 2시간"
    # two stretches of axis: the call to scale, the callback's two hours in a few seconds
    call, later = tl.segments
    assert call.play == call.end and call.end < 20
    assert later.start == call.end and later.end > attempt.at and later.play == CALLBACK_PLAY_S
    assert later.left > call.right
    xs = [tl.x(t) for t in (0, call.end / 2, call.end, deadline.at, attempt.at, later.end)]
    assert xs == sorted(xs) and xs[-1] == later.right
    svg = timeline_svg(tl, "ko")
    assert 'class="axis-break"' in svg and "회신 기한 1시간" in svg
    en = _timeline(world, cb.call, "en")[2]
    assert [lim.label for lim in en.limits if lim.rule == "callback"] == ["Callback deadline 1 h"]
    assert en.intervals[0].label == "Called back after 2\u00a0h"


def test_a_missed_callback_shows_no_callback_by_the_deadline(world: DemoWorld) -> None:
    cb = _callback(world, "missed", "noanswer@")
    _, attempts, tl = _timeline(world, cb.call)
    assert attempts == [] and tl.intervals == []
    (none,) = [m for m in tl.marks if m.kind == "no_callback"]
    (deadline,) = [lim for lim in tl.limits if lim.rule == "callback"]
    assert none.at == deadline.at and none.breach and deadline.breached
    assert none.label == "기한까지 회신 없음"


def test_a_call_without_callback_keeps_one_axis_to_scale(world: DemoWorld) -> None:
    store = world.store
    call_id = next(c["call"] for c in store.calls() if c["call"].startswith("answered3@"))
    doc = store.call(call_id)
    tl = build_timeline(
        doc,
        call_legs(store, call_id),
        call_events(store, call_id),
        site().profile_for(doc["department"]),
    )
    assert tl.segments == [] and tl.play_total == tl.duration
    assert tl.to_json()["segments"][0]["play"] == tl.duration


def test_stacked_labels_never_overlap_and_lines_cross_none() -> None:
    rng = random.Random(12)
    for _ in range(200):
        items = []
        for _ in range(rng.randint(1, 9)):
            x = rng.uniform(200, 980)
            reach = rng.choice([None, rng.uniform(200, x)])
            items.append((x, text_width("가" * rng.randint(1, 12), 11), reach))
        placed = stack_labels(items, 0, 998)
        for i, a in enumerate(placed):
            assert a.end_anchor or (a.left >= 0 and a.right <= 998)
            for b in placed[i + 1 :]:
                if a.row == b.row:
                    assert a.busy_right <= b.busy_left or b.busy_right <= a.busy_left
    # the reported collision: offered, first ring and the answer within two seconds
    words = ["전화 걸려옴", "첫 벨", "응답 2002"]
    xs = [200.0, 200.04, 239.0]
    placed = stack_labels(
        [(x, text_width(w, 11), None) for x, w in zip(xs, words, strict=True)], 0, 998
    )
    rows = {}
    for p in placed:
        rows.setdefault(p.row, []).append((p.left, p.right))
    for spans in rows.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    # no line crosses a label nearer the axis
    for p in placed:
        for q in placed:
            if q.row < p.row:
                assert not q.left <= p.x <= q.right


def test_text_width_counts_hangul_wider_than_latin() -> None:
    assert text_width("응답", 11) > text_width("ab", 11) * 1.5
    assert text_width("전화 걸려옴", 11) >= 5 * 11


def test_ladder_times_hosts_and_masking_numbers_only(world: DemoWorld) -> None:
    store = world.store
    cb = _callback(world, "late", "missed-2h@")
    doc = store.call(cb.call)
    messages = store.messages(doc["legs"])
    start = world_us(doc["started_at"])
    zone = site().timezone

    def clock(us: int) -> str:
        return local_datetime(us, zone).strftime("%H:%M:%S.%f")[:-3]

    plain = build_ladder(messages, start, clock=clock)
    hidden = build_ladder(messages, start, hide=masker(site()).text, clock=clock)
    first = plain.steps[0]
    assert first.offset == 0.0 and first.clock == clock(messages[0].at)
    assert [s.offset for s in plain.steps] == sorted(s.offset for s in plain.steps)
    assert first.route.endswith("(UDP)") and " → " in first.route
    head = header_svg(plain, "en", zone)
    assert f"Time ({zone})" in head and "Host (address:port)" in head
    assert all(col.address in head for col in plain.columns)
    assert re.search(r":\d+$", plain.columns[0].address)
    row = step_svg(plain, plain.steps[3], "ko")
    assert f">{plain.steps[3].clock}<" in row and f">+{plain.steps[3].offset:.3f}초<" in row
    # masking: the caller's number hidden everywhere, branches and tags as they were
    number = doc["caller"]
    assert any(number in s.text for s in plain.steps)
    assert not any(number in s.text or number in s.label for s in hidden.steps)
    assert number not in " ".join(c.party for c in hidden.columns)
    for a, b in zip(plain.steps, hidden.steps, strict=True):
        assert re.findall(r"branch=[^;\s]+", a.text) == re.findall(r"branch=[^;\s]+", b.text)
        assert re.findall(r"tag=[^;\s>]+", a.text) == re.findall(r"tag=[^;\s>]+", b.text)


def test_ladder_keeps_a_digit_branch_and_masks_a_number_in_a_tag() -> None:
    text = (
        "INVITE sip:01012345678@10.0.0.2 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1234567890-1\r\n"
        "From: <sip:01012345678@10.0.0.1>;tag=01012345678\r\n"
        "Call-ID: c1\r\n\r\n"
    )
    msg = RawMessage(1_000_000, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "udp", "c1", text)
    ladder = build_ladder([msg], 0, hide=masker(site()).text)
    (step,) = ladder.steps
    assert "branch=z9hG4bK-1234567890-1" in step.text
    assert "01012345678" not in step.text and "tag=010-****-5678" in step.text
    assert step.label == "INVITE 010-****-5678"
    assert [c.address for c in ladder.columns] == ["10.0.0.1:5060", "10.0.0.2:5060"]
