"""The callback book: opening, closing, deadlines on the clock and on office hours."""

from __future__ import annotations

from datetime import date, time

import holidays
import pytest

from callwatch.calls.model import Call
from callwatch.charter.callbacks import CallbackBook, normalize_number, same_number
from callwatch.charter.errors import CallbackError
from callwatch.charter.hours import BusinessHours
from callwatch.charter.rules import callback
from callwatch.config import load_site
from callwatch.profile_files import load_profile
from callwatch.timefmt import iso, parse_iso

S = 1_000_000
MIN = 60 * S
PROFILES = {name: load_profile(name) for name in ("naju", "wanju", "dangjin", "yangju", "mokpo")}


def book(charter: str = "naju", **kw) -> CallbackBook:
    return CallbackBook(lambda dept: PROFILES[charter], staff={"2001", "2002"}, **kw)


def missed(at: str, caller: str | None = "0613398731", **kw) -> Call:
    start = parse_iso(at)
    return Call(
        id=kw.pop("id", f"in-{start}"),
        direction=kw.pop("direction", "inbound"),
        caller=caller,
        dialled="2001",
        started_at=start,
        department=kw.pop("department", "민원"),
        first_ring_at=start + S,
        ended_at=start + 10 * S,
        missed=True,
        **kw,
    )


def back(start: int, number: str = "0613398731", answered: bool = True, **kw) -> Call:
    return Call(
        id=kw.pop("id", f"out-{start}"),
        direction="outbound",
        caller=kw.pop("caller", "2002"),
        dialled=number,
        started_at=start,
        department=kw.pop("department", "민원"),
        answered_at=start + 5 * S if answered else None,
        ended_at=start + 60 * S,
        **kw,
    )


def test_missed_call_opens_a_callback_due_an_hour_after_it_ended() -> None:
    b = book()
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    assert cb.opened_at == parse_iso("2026-11-23T01:00:10Z")
    assert iso(cb.due_at) == "2026-11-23T02:00:10.000000Z"
    assert (cb.status, cb.charter, cb.number, cb.department) == (
        "open",
        "naju",
        "0613398731",
        "민원",
    )
    assert b.open_callbacks() == [cb]


def test_call_back_in_time_is_kept_late_is_late() -> None:
    b = book()
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    (kept,) = b.feed_call(back(cb.opened_at + 40 * MIN))
    assert (kept.status, kept.by, kept.delay_seconds) == ("kept", "2002", 2400.0)
    assert kept.called_back_at == cb.opened_at + 40 * MIN
    assert b.open_callbacks() == []
    b2 = book()
    (cb,) = b2.feed_call(missed("2026-11-23T01:00:00Z"))
    (late,) = b2.feed_call(back(cb.opened_at + 2 * 60 * MIN))
    assert late.status == "late" and late.delay_seconds == 7200.0


def test_call_back_exactly_at_the_deadline_is_kept() -> None:
    b = book()
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    assert b.feed_call(back(cb.due_at))[0].status == "kept"


def test_tick_marks_missed_and_a_later_call_back_is_late() -> None:
    b = book()
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    assert b.tick(cb.due_at) == []
    (gone,) = b.tick(cb.due_at + 1)
    assert gone.status == "missed" and gone.called_back_at is None
    assert b.tick(cb.due_at + 10 * S) == []
    assert b.open_callbacks() == []
    (late,) = b.feed_call(back(cb.due_at + 30 * MIN))
    assert late.status == "late"


@pytest.mark.parametrize(
    ("charter", "counts"), [("naju", False), ("mokpo", False), ("dangjin", True)]
)
def test_unanswered_attempt_counts_only_where_the_charter_says(charter: str, counts: bool) -> None:
    b = book(charter)
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    (after,) = b.feed_call(back(cb.opened_at + 10 * MIN, answered=False))
    assert after.attempts == 1
    assert (after.status != "open") is counts


@pytest.mark.parametrize(
    "caller", [None, "anonymous", "Anonymous", "2001", "", "12", "unknown-caller"]
)
def test_uncallable_numbers_open_nothing(caller: str | None) -> None:
    assert book().feed_call(missed("2026-11-23T01:00:00Z", caller=caller)) == []


def test_incomplete_or_answered_or_internal_calls_open_nothing() -> None:
    b = book()
    assert b.feed_call(missed("2026-11-23T01:00:00Z", complete=False)) == []
    assert b.feed_call(missed("2026-11-23T01:00:00Z", direction="internal")) == []
    answered = missed("2026-11-23T01:00:00Z")
    answered.missed = False
    assert b.feed_call(answered) == []
    assert b.open_callbacks() == []


def test_only_the_same_department_and_number_close_it() -> None:
    b = book()
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    assert b.feed_call(back(cb.opened_at + MIN, department="세무")) == []
    assert b.feed_call(back(cb.opened_at + MIN, number="0613390001")) == []
    assert b.feed_call(back(cb.opened_at - 5 * S)) == []  # began before the miss ended
    assert b.open_callbacks() == [cb]
    (done,) = b.feed_call(back(cb.opened_at + 2 * MIN, number="9-061-339-8731"))
    assert done.status == "kept"


def test_one_call_back_closes_every_open_miss_of_that_caller() -> None:
    b = book()
    b.feed_call(missed("2026-11-23T01:00:00Z"))
    b.feed_call(missed("2026-11-23T01:05:00Z"))
    closed = b.feed_call(back(parse_iso("2026-11-23T01:20:00Z")))
    assert [c.status for c in closed] == ["kept", "kept"]
    assert [c.delay_seconds for c in closed] == [1190.0, 890.0]


def test_number_matching() -> None:
    assert normalize_number("+82 10-1234-5678") == "01012345678"
    assert normalize_number("anonymous") is None
    assert same_number("0613398731", "90613398731")
    assert same_number("0613398731", "3398731")
    assert not same_number("0613398731", "8731")
    assert not same_number("0613398731", "0613398732")


def test_dangjin_has_no_deadline_until_a_time_is_promised() -> None:
    b = book("dangjin")
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    assert cb.due_at is None
    assert b.tick(cb.opened_at + 100 * 60 * MIN) == []
    assert callback(cb, PROFILES["dangjin"]) == []
    due = parse_iso("2026-11-23T05:00:00Z")
    (asked,) = b.record_request("061-339-8731", cb.opened_at + MIN, due)
    assert asked.due_at == due and asked.requested
    (gone,) = b.tick(due + 1)
    assert gone.status == "missed"
    (v,) = callback(gone, PROFILES["dangjin"])
    assert not v.ok and v.measured is None


def test_requested_time_replaces_the_fixed_deadline_and_reopens() -> None:
    b = book("mokpo")
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    b.tick(cb.due_at + 1)
    later = cb.due_at + 60 * MIN
    (asked,) = b.record_request("0613398731", cb.opened_at, later)
    assert asked.status == "open" and asked.due_at == later
    assert b.feed_call(back(later - MIN))[0].status == "kept"


def test_requested_time_where_the_charter_makes_no_such_promise() -> None:
    b = book("wanju")
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    with pytest.raises(CallbackError, match="wanju"):
        b.record_request("0613398731", cb.opened_at, cb.opened_at + 60 * MIN)
    with pytest.raises(CallbackError, match="no open callback"):
        book().record_request("0613398731", cb.opened_at, cb.opened_at + MIN)
    b2 = book()
    (cb2,) = b2.feed_call(missed("2026-11-23T01:00:00Z"))
    with pytest.raises(CallbackError, match="before the missed call"):
        b2.record_request("0613398731", cb2.opened_at, cb2.opened_at - S)
    assert b2.get(cb2.call) == cb2


def test_yangju_tracks_but_never_judges() -> None:
    b = book("yangju")
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    assert cb.due_at is None
    (done,) = b.feed_call(back(cb.opened_at + 5 * 60 * MIN))
    assert callback(done, PROFILES["yangju"]) == []


def test_open_callback_has_no_verdict_yet() -> None:
    b = book()
    (cb,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    assert callback(cb, PROFILES["naju"]) == []


def test_prune_forgets_closed_callbacks_only() -> None:
    b = book()
    (cb1,) = b.feed_call(missed("2026-11-23T01:00:00Z"))
    (cb2,) = b.feed_call(missed("2026-11-23T01:00:00Z", caller="01012345678", id="x"))
    b.feed_call(back(cb1.opened_at + MIN))
    assert b.prune(cb2.opened_at + 1) == 1
    assert b.get(cb1.call) is None and b.get(cb2.call) == cb2


def test_korean_holidays_library_knows_chuseok_2026() -> None:
    kr = holidays.country_holidays("KR", years=2026)
    assert {date(2026, 9, 24), date(2026, 9, 25), date(2026, 9, 26)} <= set(kr)
    assert date(2026, 9, 28) not in kr  # Saturday's Chuseok day gets no substitute


def test_business_hours_deadline_skips_chuseok_and_the_weekend() -> None:
    hours = BusinessHours("Asia/Seoul", holidays=holidays.country_holidays("KR"))
    b = book(business_hours=hours)
    # Wednesday 2026-09-23 17:30 KST (08:30 UTC), the day before the Chuseok holidays.
    call = missed("2026-09-23T08:29:50Z")
    (cb,) = b.feed_call(call)
    # 30 min on Wednesday; Thu-Sat Chuseok, Sunday: the other 30 min run Monday 09:00-09:30.
    assert iso(cb.due_at) == "2026-09-28T00:30:00.000000Z"


def test_business_hours_across_a_plain_weekend_and_before_opening() -> None:
    hours = BusinessHours("Asia/Seoul", time(9, 0), time(18, 0))
    friday_evening = parse_iso("2026-11-27T08:00:00Z")  # Friday 17:00 KST
    assert iso(hours.add(friday_evening, 3600 * 3)) == "2026-11-30T02:00:00.000000Z"  # Mon 11:00
    night = parse_iso("2026-11-23T14:00:00Z")  # Monday 23:00 KST
    assert iso(hours.add(night, 1800)) == "2026-11-24T00:30:00.000000Z"  # Tue 09:30 KST
    inside = parse_iso("2026-11-24T01:00:00Z")  # Tue 10:00 KST
    assert hours.add(inside, 3600) == inside + 3600 * S


def test_wall_clock_deadline_ignores_holidays() -> None:
    b = book()
    (cb,) = b.feed_call(missed("2026-09-23T08:29:50Z"))
    assert iso(cb.due_at) == "2026-09-23T09:30:00.000000Z"


def test_business_profile_without_site_hours_uses_korean_defaults(tmp_path) -> None:
    text = (
        'id = "biz"\nsource_file = "-"\n[name]\nko = "가"\nen = "A"\n'
        '[callback]\ndeadline_min = 60\ndeadline_clock = "business"\nkeeps = "attempt"\n'
        'keeps_why = "w"\nsource = "s"\n'
    )
    (tmp_path / "biz.toml").write_text(text, encoding="utf-8")
    site_file = tmp_path / "site.toml"
    site_file.write_text(
        '[site]\nname = "s"\ncharter = "biz"\nprofiles = ["biz.toml"]\n'
        '[[departments]]\nname = "민원"\nextensions = ["2001-2009"]\n',
        encoding="utf-8",
    )
    b = load_site(site_file).callback_book()
    (cb,) = b.feed_call(missed("2026-09-23T08:29:50Z"))
    assert iso(cb.due_at) == "2026-09-28T00:30:00.000000Z"


def test_restore_loads_callbacks_kept_elsewhere_and_keeps_newer_copies():
    from dataclasses import replace

    from callwatch.charter.callbacks import Callback, CallbackBook
    from callwatch.profile_files import load_profile

    naju = load_profile("naju")
    book = CallbackBook(lambda _dept: naju)
    stored = Callback(
        call="missed-1",
        number="0613398731",
        department="민원",
        charter="naju",
        opened_at=1_000_000,
        due_at=3_601_000_000,
    )
    assert book.restore([stored]) == 1
    assert book.get("missed-1") == stored
    assert [cb.call for cb in book.open_callbacks()] == ["missed-1"]
    assert book.restore([replace(stored, status="missed")]) == 0
    assert book.get("missed-1").status == "open"
    # a restored callback is closed by a later tick like any other
    assert [cb.status for cb in book.tick(3_602_000_000)] == ["missed"]
