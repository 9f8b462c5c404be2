"""The dialog tracker's transition table, message by message.

Real traffic (sip_fixtures/ and the public captures) is checked in test_sip_fixtures.py; these
tests pin down single rules of RFC 3261 with the smallest message sequences that show them.
"""

from __future__ import annotations

import pytest

from callwatch.sip.dialogs import TRANSITIONS, DialogTracker, Signal, State, Timeouts
from callwatch.sip.message import parse_message

S = 1_000_000
CALL = "abc123@10.0.0.1"


def sip(
    first: str,
    *,
    cseq: str = "1 INVITE",
    from_tag: str = "caller1",
    to_tag: str | None = None,
    vias: int = 1,
    call_id: str = CALL,
    from_user: str = "0613398731",
    to_user: str = "2001",
    extra: str = "",
    body: str = "",
    contact: str | None = None,
    content_type: str = "application/sdp",
):
    """Build one SIP message as a phone or proxy would put it on the wire."""
    via = "".join(
        f"Via: SIP/2.0/UDP 10.0.0.{i + 1}:5060;branch=z9hG4bK-{i}-{cseq.split()[0]}\r\n"
        for i in reversed(range(vias))
    )
    to = f"<sip:{to_user}@pbx>" + (f";tag={to_tag}" if to_tag else "")
    head = (
        f"{first}\r\n{via}"
        f"From: <sip:{from_user}@trunk>;tag={from_tag}\r\n"
        f"To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n"
    )
    if contact:
        head += f"Contact: <sip:{contact}@10.0.0.9:5062>\r\n"
    if body:
        head += f"Content-Type: {content_type}\r\n"
    head += extra
    raw = f"{head}Content-Length: {len(body.encode())}\r\n\r\n{body}"
    return parse_message(raw.encode())


def sdp(direction: str) -> str:
    return (
        "v=0\r\no=- 1 2 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
        f"m=audio 4000 RTP/AVP 0\r\na={direction}\r\n"
    )


INVITE = "INVITE sip:2001@pbx SIP/2.0"


def kinds(events):
    return [e.kind for e in events]


def run(tracker: DialogTracker, steps):
    out = []
    for at, msg in steps:
        out.extend(tracker.feed(at, msg))
    return out


def test_table_only_names_known_states_and_events():
    allowed = {None, "alerting", "answered", "held", "resumed", "referred", "transfer_progress"}
    allowed.add("ended")
    for (state, signal), (nxt, kind) in TRANSITIONS.items():
        assert isinstance(state, State) and isinstance(signal, Signal) and isinstance(nxt, State)
        assert kind in allowed
        if kind == "ended":
            assert nxt is State.TERMINATED


def test_answered_call_caller_hangs_up():
    t = DialogTracker()
    events = run(
        t,
        [
            (0, sip(INVITE)),
            (S // 10, sip("SIP/2.0 100 Trying")),
            (S // 5, sip("SIP/2.0 180 Ringing", to_tag="p1", contact="2001")),
            (2 * S, sip("SIP/2.0 200 OK", to_tag="p1", contact="2001")),
            (2 * S + 1000, sip("ACK sip:2001@10.0.0.9 SIP/2.0", cseq="1 ACK", to_tag="p1")),
            (9 * S, sip("BYE sip:2001@10.0.0.9 SIP/2.0", cseq="2 BYE", to_tag="p1")),
            (9 * S + 2000, sip("SIP/2.0 200 OK", cseq="2 BYE", to_tag="p1")),
        ],
    )
    assert kinds(events) == ["offered", "alerting", "answered", "ended"]
    offered, alerting, answered, ended = events
    assert offered.from_user == "0613398731" and offered.dialled == "2001"
    assert alerting.at == S // 5 and alerting.by == "2001"
    assert answered.at == 2 * S and answered.by == "2001"
    assert ended.by == "caller" and ended.reason == "bye" and ended.answered


def test_callee_bye_is_by_callee():
    t = DialogTracker()
    events = run(
        t,
        [
            (0, sip(INVITE)),
            (S, sip("SIP/2.0 200 OK", to_tag="p1")),
            # The callee's BYE: its own tag is in From, the caller's in To.
            (
                5 * S,
                sip(
                    "BYE sip:0613398731@10.0.0.1 SIP/2.0",
                    cseq="7 BYE",
                    from_tag="p1",
                    to_tag="caller1",
                    from_user="2001",
                    to_user="0613398731",
                ),
            ),
        ],
    )
    assert events[-1].kind == "ended" and events[-1].by == "callee"


def test_retransmissions_and_proxy_copies_count_once():
    t = DialogTracker()
    events = run(
        t,
        [
            (0, sip(INVITE)),
            (10, sip(INVITE, vias=2)),  # the proxy's outgoing copy
            (500_000, sip(INVITE)),  # UDP retransmission
            (S, sip("SIP/2.0 180 Ringing", to_tag="p1", vias=2)),
            (S + 10, sip("SIP/2.0 180 Ringing", to_tag="p1")),
            (3 * S, sip("SIP/2.0 200 OK", to_tag="p1", vias=2)),
            (3 * S + 10, sip("SIP/2.0 200 OK", to_tag="p1")),
            (3 * S + 500_000, sip("SIP/2.0 200 OK", to_tag="p1")),
        ],
    )
    assert kinds(events) == ["offered", "alerting", "answered"]
    assert events[1].at == S and events[2].at == 3 * S
    assert t.stats.duplicates == 5


def test_forked_responses_give_one_alerting_and_one_answer():
    t = DialogTracker()
    events = run(
        t,
        [
            (0, sip(INVITE)),
            (S, sip("SIP/2.0 180 Ringing", to_tag="a", contact="2001")),
            (S + 5, sip("SIP/2.0 180 Ringing", to_tag="b", contact="2002")),
            (3 * S, sip("SIP/2.0 200 OK", to_tag="b", contact="2002")),
            # the proxy cancels the losing fork: inner hop, not the caller
            (3 * S + 10, sip("CANCEL sip:2001@10.0.0.9 SIP/2.0", cseq="1 CANCEL", vias=2)),
            (3 * S + 20, sip("SIP/2.0 487 Request Terminated", to_tag="a", vias=2)),
        ],
    )
    assert kinds(events) == ["offered", "alerting", "answered"]
    assert events[2].by == "2002"


def test_fork_failure_on_inner_hop_does_not_end_the_call():
    t = DialogTracker()
    events = run(
        t,
        [
            (0, sip(INVITE)),
            (1, sip(INVITE, vias=2)),
            (S, sip("SIP/2.0 180 Ringing", to_tag="a", vias=2)),
            (2 * S, sip("SIP/2.0 486 Busy Here", to_tag="b", vias=2)),  # one fork busy
            (5 * S, sip("SIP/2.0 200 OK", to_tag="a", vias=2)),
        ],
    )
    assert kinds(events) == ["offered", "alerting", "answered"]
    assert t.stats.inner_hop == 1


def test_cancel_ends_the_leg_at_the_cancel():
    t = DialogTracker()
    events = run(
        t,
        [
            (0, sip(INVITE)),
            (S, sip("SIP/2.0 180 Ringing", to_tag="p1")),
            (4 * S, sip("CANCEL sip:2001@pbx SIP/2.0", cseq="1 CANCEL")),
            (4 * S + 9, sip("SIP/2.0 200 OK", cseq="1 CANCEL", to_tag="p1")),
            (4 * S + 10, sip("SIP/2.0 487 Request Terminated", to_tag="p1")),
        ],
    )
    assert kinds(events) == ["offered", "alerting", "ended"]
    assert events[-1].at == 4 * S and events[-1].reason == "cancel"
    assert events[-1].by == "caller" and not events[-1].answered


@pytest.mark.parametrize("code", [486, 480, 408, 603, 302])
def test_final_failure_ends_with_its_code(code):
    t = DialogTracker()
    events = run(t, [(0, sip(INVITE)), (S, sip(f"SIP/2.0 {code} No", to_tag="p1"))])
    assert kinds(events) == ["offered", "ended"]
    assert events[-1].reason == str(code) and events[-1].by == "callee"


def test_challenge_and_retry_are_one_attempt():
    t = DialogTracker()
    events = run(
        t,
        [
            (0, sip(INVITE)),
            (100, sip("SIP/2.0 407 Proxy Authentication Required", to_tag="px")),
            (200, sip("ACK sip:2001@pbx SIP/2.0", cseq="1 ACK", to_tag="px")),
            (S, sip(INVITE, cseq="2 INVITE", extra="Proxy-Authorization: Digest x\r\n")),
            (2 * S, sip("SIP/2.0 180 Ringing", cseq="2 INVITE", to_tag="p1")),
            (4 * S, sip("SIP/2.0 200 OK", cseq="2 INVITE", to_tag="p1")),
        ],
    )
    assert kinds(events) == ["offered", "alerting", "answered"]
    assert events[0].at == 0


def test_challenge_without_retry_ends_at_flush_with_the_challenge_code():
    t = DialogTracker()
    run(t, [(0, sip(INVITE)), (100, sip("SIP/2.0 401 Unauthorized", to_tag="px"))])
    ended = t.flush()
    assert kinds(ended) == ["ended"] and ended[0].reason == "401" and ended[0].at == 100


def test_hold_and_resume_by_side():
    t = DialogTracker()
    reinvite = "INVITE sip:0613398731@10.0.0.1 SIP/2.0"
    callee = {"from_tag": "p1", "to_tag": "caller1", "from_user": "2001", "to_user": "x"}
    events = run(
        t,
        [
            (0, sip(INVITE, body=sdp("sendrecv"))),
            (S, sip("SIP/2.0 200 OK", to_tag="p1", body=sdp("sendrecv"))),
            (5 * S, sip(reinvite, cseq="10 INVITE", body=sdp("sendonly"), **callee)),
            (5 * S + 1, sip(reinvite, cseq="10 INVITE", body=sdp("sendonly"), **callee)),
            (9 * S, sip(reinvite, cseq="11 INVITE", body=sdp("sendrecv"), **callee)),
        ],
    )
    assert kinds(events) == ["offered", "answered", "held", "resumed"]
    assert events[2].by == "callee" and events[3].by == "callee"


def test_refer_and_notify_sipfrag():
    t = DialogTracker()
    callee = {"from_tag": "p1", "to_tag": "caller1", "from_user": "2001", "to_user": "x"}
    refer_to = (
        "Refer-To: <sip:2002@pbx?Replaces=consult%40pbx%3Bto-tag%3Dt2%3Bfrom-tag%3Df2>\r\n"
        "Referred-By: <sip:2001@pbx>\r\n"
    )
    notify_extra = "Event: refer\r\nSubscription-State: active\r\n"
    frag = "SIP/2.0 200 OK\r\n"
    notify = sip(
        "NOTIFY sip:2001@10.0.0.9 SIP/2.0",
        cseq="3 NOTIFY",
        to_tag="p1",
        extra=notify_extra,
        content_type="message/sipfrag;version=2.0",
        body=frag,
    )
    events = run(
        t,
        [
            (0, sip(INVITE)),
            (S, sip("SIP/2.0 200 OK", to_tag="p1")),
            (5 * S, sip("REFER sip:x@10.0.0.1 SIP/2.0", cseq="11 REFER", extra=refer_to, **callee)),
            (6 * S, notify),
        ],
    )
    assert kinds(events) == ["offered", "answered", "referred", "transfer_progress"]
    referred = events[2]
    assert referred.by == "callee" and referred.refer_to == "2002"
    assert referred.referred_by == "2001"
    assert referred.replaces == "consult@pbx" and referred.replaces_tags == ("t2", "f2")
    assert events[3].status == 200


def test_timeouts_fire_from_tick_on_capture_time():
    t = DialogTracker(Timeouts(ringing=60 * S))
    run(t, [(0, sip(INVITE)), (S, sip("SIP/2.0 180 Ringing", to_tag="p1"))])
    assert t.tick(30 * S) == []
    ended = t.tick(62 * S)
    assert kinds(ended) == ["ended"] and ended[0].reason == "timeout" and ended[0].by is None
    assert ended[0].at == 61 * S
    assert t.open_legs() == 0


def test_messages_outside_dialogs_are_counted_not_events():
    t = DialogTracker()
    reg = sip("REGISTER sip:pbx SIP/2.0", cseq="1 REGISTER", from_user="2001", to_user="2001")
    bye = sip("BYE sip:x SIP/2.0", cseq="2 BYE", call_id="unknown", to_tag="zz")
    assert run(t, [(0, reg), (1, bye)]) == []
    assert t.stats.not_dialog == 1 and t.stats.orphans == 1


def test_ended_legs_are_forgotten_after_the_linger_time():
    t = DialogTracker(Timeouts(linger=10 * S))
    run(t, [(0, sip(INVITE)), (S, sip("SIP/2.0 486 Busy", to_tag="p1"))])
    assert t.tick(5 * S) == []
    assert run(t, [(6 * S, sip(INVITE))]) == []  # late retransmission: still recognised
    t.tick(30 * S)
    assert kinds(run(t, [(31 * S, sip(INVITE))])) == ["offered"]  # long after: a new attempt
