"""The Asterisk fixtures read with Asterisk's manager stream beside the SIP (``--ami``).

Every flow of sip_fixtures/asterisk/ was recorded with its AMI stream (``NAME.ami.txt``, the
raw text a read-only manager user received, ``timestampevents = yes``). Fed to the pipeline
with either capture form, on one time line, it must give the expected calls of
``NAME.expected-calls.json`` for every flow, including the two that SIP alone cannot read
(a withheld number's trunk leg, a feature-code transfer): with the manager they are exact.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import re
from pathlib import Path

import pytest

from callwatch.calls.ami_links import AmiLinks, AttendedTransfer, Tie
from callwatch.calls.assembler import CallAssembler
from callwatch.calls.model import Call
from callwatch.capture import CaptureStats, read_capture
from callwatch.cli import main
from callwatch.config import load_site
from callwatch.pbx.ami import AmiStats, read_ami_file
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.records import call_builtins as call_to_dict
from callwatch.sip.ami import AmiEvent, HepChannel
from callwatch.sip.events import LegEvent
from callwatch.sip.feed import LegEventFeed
from test_asterisk_fixtures import (
    ASTERISK,
    FLOWS,
    FORMS,
    QUEUE_FLOWS,
    QUEUE_POOL_SITE,
    ROOT,
    _spec,
    check_calls,
    check_phone_legs,
    judged_calls,
)


def judged_calls_with_ami(capture: Path, ami: Path, site_file: Path) -> list[dict]:
    """What ``callwatch ingest --config SITE --ami AMI CAPTURE`` prints, as dicts."""
    pipe = CallPipeline(load_site(site_file))
    judged: list[JudgedCall] = []
    inputs = heapq.merge(
        read_capture(capture, CaptureStats()), read_ami_file(ami), key=lambda item: item.ts
    )
    for item in inputs:
        judged += [o for o in pipe.push(item) if isinstance(o, JudgedCall)]
    judged += [o for o in pipe.flush() if isinstance(o, JudgedCall)]
    judged.sort(key=lambda j: (j.call.started_at, j.call.id))
    return [call_to_dict(j.call, j.profile, *pipe.as_now(j)) for j in judged]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("flow", FLOWS)
def test_calls_with_ami_match_what_the_phones_did(flow: str, form: str):
    spec = _spec(flow)
    rows = judged_calls_with_ami(
        ASTERISK / f"{flow}{form}", ASTERISK / f"{flow}.ami.txt", ROOT / spec["site"]
    )
    check_calls(rows, spec)


@pytest.mark.parametrize("flow", ["anonymous_caller", "direct_answer", "ring_group"])
def test_the_trunk_leg_joins_its_phone_legs_by_the_linkedid(flow: str):
    spec = _spec(flow)
    rows = judged_calls_with_ami(
        ASTERISK / f"{flow}.hep.pcap", ASTERISK / f"{flow}.ami.txt", ROOT / spec["site"]
    )
    assert [r["correlation"] for r in rows] == ["ami"]


def test_a_feature_code_transfer_is_timed_from_asterisks_blind_transfer_event():
    """#1 2002 sends no REFER: the transfer runs from BlindTransfer (the last digit, 5.28 s
    into the call) to 2002's answer, 2.5 s later, and 2001's leg, hung up by Asterisk, is not
    the call's end."""
    spec = _spec("feature_blind")
    (row,) = judged_calls_with_ami(
        ASTERISK / "feature_blind.pcap", ASTERISK / "feature_blind.ami.txt", ROOT / spec["site"]
    )
    (transfer,) = row["transfers"]
    blind = next(e for e in read_ami_file(ASTERISK / "feature_blind.ami.txt")
                 if e.name == "BlindTransfer")  # fmt: skip
    assert transfer["started_at"] == call_time(blind.ts)
    assert row["hangup_by"] == "caller"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("flow", QUEUE_FLOWS)
def test_queue_members_are_staff_by_the_managers_word(flow: str, form: str):
    """With the queue's members left out of the site file, Asterisk's AgentCalled and
    AgentConnect still make their legs staff legs: the queue answer is the member's (2001,
    ring time from its 180, not missed), and the abandoned queue call is missed and fails the
    answer rule over the time the members rang, as with the members listed."""
    spec = _spec(flow)
    capture, ami = ASTERISK / f"{flow}{form}", ASTERISK / f"{flow}.ami.txt"
    rows = judged_calls_with_ami(capture, ami, QUEUE_POOL_SITE)
    check_calls(rows, spec)
    assert [r["correlation"] for r in rows] == ["ami"]
    names = [e.name for e in read_ami_file(ami)]
    assert names.count("AgentCalled") == 2
    assert names.count("AgentConnect") == (flow == "queue_answer")
    assert names.count("QueueCallerAbandon") == (flow == "queue_abandon")


def test_a_member_leg_placed_after_agent_called_is_still_the_members():
    """The manager stream read first (its events come before the SIP they describe): the
    member legs are placed after AgentCalled named their dialogs, and still count as staff."""
    spec = _spec("queue_answer")
    site = load_site(QUEUE_POOL_SITE)
    assembler = CallAssembler(site.directory, site.correlation_headers, pbx=site.pbx)
    for ami in read_ami_file(ASTERISK / "queue_answer.ami.txt"):
        if ami.name != "Hangup":  # a channel hung up is forgotten: keep the table whole
            assembler.feed_ami(ami)
    feed = LegEventFeed()
    calls = []
    for packet in read_capture(ASTERISK / "queue_answer.pcap", CaptureStats()):
        for event in feed.push(packet):
            assert isinstance(event, LegEvent)
            calls += assembler.feed(event)
    for event in feed.flush():
        assert isinstance(event, LegEvent)
        calls += assembler.feed(event)
    (call,) = calls + assembler.flush()
    want = spec["calls"][0]
    assert (call.id, call.answered_by, call.missed) == (want["call"], "2001", False)
    assert call.ring_seconds == pytest.approx(want["ring_seconds"], abs=spec["tolerance_s"])


def assembled_calls(capture: Path, ami: Path | None, site_file: Path, pbx=None) -> list[Call]:
    """The calls the assembler makes of ``capture`` (with the manager stream ``ami``)."""
    site = load_site(site_file)
    assembler = CallAssembler(site.directory, site.correlation_headers, pbx=pbx or site.pbx)
    feed = LegEventFeed()
    streams = [read_capture(capture, CaptureStats())]
    if ami is not None:
        streams.append(read_ami_file(ami))
    calls: list[Call] = []
    for item in heapq.merge(*streams, key=lambda item: item.ts):
        out = feed.push(item)
        calls += [c for e in out for c in _assemble(assembler, e)]
    calls += [c for e in feed.flush() for c in _assemble(assembler, e)]
    return calls + assembler.flush()


def _assemble(assembler: CallAssembler, event: object) -> list[Call]:
    if isinstance(event, AmiEvent):
        return assembler.feed_ami(event)
    assert isinstance(event, LegEvent)
    return assembler.feed(event)


ATTENDED_FLOWS = ("attended_refer", "feature_attended")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("flow", ATTENDED_FLOWS)
def test_an_attended_transfer_is_completed_at_asterisks_attended_transfer_event(
    flow: str, form: str
):
    """REFER with Replaces (attended_refer) and *2 (feature_attended): the customer reaches
    2002 when Asterisk says so (AttendedTransfer), and the transfer's leg is the dialog of
    the event's target channel (for *2 a Local channel, followed to the PJSIP channel its
    other half dialled); the times stay those the phones were told (expected calls)."""
    spec = _spec(flow)
    ami = ASTERISK / f"{flow}.ami.txt"
    (event,) = [e for e in read_ami_file(ami) if e.name == "AttendedTransfer"]
    (call,) = assembled_calls(ASTERISK / f"{flow}{form}", ami, ROOT / spec["site"])
    (transfer,) = call.transfers
    assert transfer.completed_at == event.ts
    target_call_id = _sip_call_id_of(ami, _target_channel(ami, event))
    assert target_call_id in {leg.call_id for leg in call.legs if leg.leg in transfer.legs}
    (want,) = spec["calls"][0]["transfers"]
    assert (transfer.kind, transfer.from_ext, transfer.to_ext) == ("attended", "2001", "2002")
    assert transfer.seconds == pytest.approx(want["seconds"], abs=spec["tolerance_s"])
    (alone,) = assembled_calls(ASTERISK / f"{flow}{form}", None, ROOT / spec["site"])
    assert alone.transfers[0].completed_at != event.ts  # SIP alone: the REFER, or 2001's BYE
    # The consultation's legs (2001 → PBX → 2002) share its linkedid: the manager ties them
    # exactly (the office tells it the Call-ID of calls its phones place, [sipcallid]); SIP
    # alone joins the PBX's leg to 2002 by number and timing.
    assert (call.correlation, alone.correlation) == ("ami", "heuristic")


def _target_channel(ami: Path, event: AmiEvent) -> str:
    target = event.get("TransferTargetChannel") or ""
    if not target:  # Asterisk merged the consultation's bridge and named no target: 2002's
        (dialled,) = {  # channel, the one the phones were told would be the target
            e.get("DestChannel") or ""
            for e in read_ami_file(ami)
            if e.name == "DialBegin" and (e.get("DestChannel") or "").startswith("PJSIP/2002-")
        }
        return dialled
    if target.startswith("Local/"):  # *2 dials through the dialplan: Local ;2 dials PJSIP
        half = target[:-1] + "2"
        (dial,) = [
            e for e in read_ami_file(ami) if e.name == "DialBegin" and e.get("Channel") == half
        ]
        return dial.get("DestChannel") or ""
    return target


def _sip_call_id_of(ami: Path, channel: str) -> str | None:
    for e in read_ami_file(ami):
        if e.name == "UserEvent" and e.get("Channel") == channel:
            return e.get("CallID")
    return None


def test_the_attended_transfer_event_alone_makes_a_feature_code_transfer():
    """With the SIP signature of *2 not read (a PBX described without feature codes), SIP
    alone sees 2001 leave a call the customer is still on (no transfer, a hang-up by staff
    first); Asterisk's AttendedTransfer makes it the attended transfer the phones did: 2001
    to 2002, 2.0 s from the INVITE to 2002 to its answer, 2001's leg out of the hang-up."""
    spec = _spec("feature_attended")
    site = ROOT / spec["site"]
    pbx = dataclasses.replace(load_site(site).pbx, transfer_styles=("refer_to_pbx",))
    capture, ami = ASTERISK / "feature_attended.pcap", ASTERISK / "feature_attended.ami.txt"
    (alone,) = assembled_calls(capture, None, site, pbx)
    assert alone.transfers == []
    (call,) = assembled_calls(capture, ami, site, pbx)
    (transfer,) = call.transfers
    (want,) = spec["calls"][0]["transfers"]
    assert (transfer.kind, transfer.from_ext, transfer.to_ext) == ("attended", "2001", "2002")
    assert transfer.style == "feature_code"
    assert transfer.seconds == pytest.approx(want["seconds"], abs=spec["tolerance_s"])
    assert call.hangup_by == "caller" != alone.hangup_by


def call_time(us: int) -> str:
    from callwatch.timefmt import iso

    return iso(us)


@pytest.mark.parametrize("flow", FLOWS)
def test_phone_legs_are_the_same_with_the_manager_stream(flow: str):
    feed = LegEventFeed()
    out: list[object] = []
    inputs = heapq.merge(
        read_capture(ASTERISK / f"{flow}.hep.pcap", CaptureStats()),
        read_ami_file(ASTERISK / f"{flow}.ami.txt"),
        key=lambda item: item.ts,
    )
    for item in inputs:
        out += feed.push(item)
    out += feed.flush()
    events = [e for e in out if isinstance(e, LegEvent)]
    check_phone_legs(events, _spec(flow))
    passed = [e for e in out if isinstance(e, AmiEvent)]
    assert len(passed) == sum(1 for _ in read_ami_file(ASTERISK / f"{flow}.ami.txt"))


def test_a_tie_that_comes_after_its_legs_merges_their_calls():
    """The manager stream held back until every SIP leg is placed (a slow AMI link): the
    anonymous caller's trunk leg and 2001's leg first make two calls, then the ties of both
    dialogs to one linkedid make them one, opened by the trunk leg."""
    spec = _spec("anonymous_caller")
    site = load_site(ROOT / spec["site"])
    feed = LegEventFeed()
    events: list[object] = []
    for packet in read_capture(ASTERISK / "anonymous_caller.hep.pcap", CaptureStats()):
        events += feed.push(packet)
    events += feed.flush()
    # No B2BUA window: SIP alone now joins a lone withheld caller's legs by timing, and this
    # test is about the manager stream joining two calls already placed apart.
    assembler = CallAssembler(
        site.directory, site.correlation_headers, pbx=site.pbx, b2bua_window_s=0.0
    )
    calls = []
    for event in events:
        assert isinstance(event, LegEvent)
        calls += assembler.feed(event)
    assert calls == [] and assembler.open_calls == 2
    for ami in read_ami_file(ASTERISK / "anonymous_caller.ami.txt"):
        calls += assembler.feed_ami(ami)
    assert assembler.open_calls == 1
    (call,) = calls + assembler.flush()
    assert call.id == "anon@carrier.test"
    assert call.answered_by == "2001" and not call.missed
    assert call.correlation == "ami"


def _without_sip_call_id_events(ami: Path, out: Path) -> Path:
    """The manager stream ``ami`` less the dialplan's ``UserEvent: SipCallId`` (an office
    whose dialplan does not tell the manager its Call-IDs)."""
    blocks = ami.read_bytes().split(b"\r\n\r\n")
    kept = [b for b in blocks if b"\r\nUserEvent: SipCallId\r\n" not in b]
    assert len(kept) < len(blocks)
    out.write_bytes(b"\r\n\r\n".join(kept))
    return out


def test_hep_uuid_type_channel_names_only_the_dialog_asterisk_answered():
    """What Asterisk 22's res_hep_pjsip put in the correlation chunk with uuid_type =
    channel: the carrier's dialog carries its channel name from Asterisk's 180 on (its INVITE
    and 100 the Call-ID); the leg Asterisk started to 2001 carries its Call-ID throughout."""
    packets = list(read_capture(ASTERISK / "anonymous_channel.hep.pcap", CaptureStats()))
    by_call_id: dict[str, list[bytes]] = {}
    for p in packets:
        call_id = re.search(rb"\r\nCall-ID: (\S+)", p.payload)
        assert call_id and p.correlation_id
        by_call_id.setdefault(call_id.group(1).decode(), []).append(p.correlation_id)
    trunk = by_call_id.pop("anonchan@carrier.test")
    assert trunk[:2] == [b"anonchan@carrier.test"] * 2
    assert set(trunk[2:]) == {b"PJSIP/carrier-00000000"}
    ((phone_call_id, phone),) = by_call_id.items()
    assert set(phone) == {phone_call_id.encode()}


@pytest.mark.parametrize("b2bua_window_s", [5.0, 0.0])
def test_with_uuid_type_channel_the_withheld_trunk_leg_joins_by_its_channel_name(
    tmp_path: Path, b2bua_window_s: float
):
    """anonymous_channel with a dialplan that never tells the manager a Call-ID: the
    carrier's leg is tied to its linkedid by the channel name HEP gives it, 2001's leg by
    the linkedid header Asterisk put on its INVITE; one call, joined exactly ("ami"), also
    with the heuristic off (b2bua window 0: SIP alone then makes two calls)."""
    spec = _spec("anonymous_channel")
    site_file = ROOT / spec["site"]
    site = load_site(site_file)
    ami = _without_sip_call_id_events(
        ASTERISK / "anonymous_channel.ami.txt", tmp_path / "no-callid.ami.txt"
    )
    capture = ASTERISK / "anonymous_channel.hep.pcap"

    def calls(with_ami: bool) -> list[Call]:
        assembler = CallAssembler(
            site.directory, site.correlation_headers, pbx=site.pbx, b2bua_window_s=b2bua_window_s
        )
        feed = LegEventFeed()
        streams = [read_capture(capture, CaptureStats())]
        if with_ami:
            streams.append(read_ami_file(ami))
        out: list[Call] = []
        for item in heapq.merge(*streams, key=lambda item: item.ts):
            for event in feed.push(item):
                out += (
                    assembler.feed(event)
                    if isinstance(event, LegEvent)
                    else assembler.feed_ami(event)
                )
        for event in feed.flush():
            out += (
                assembler.feed(event) if isinstance(event, LegEvent) else assembler.feed_ami(event)
            )
        return out + assembler.flush()

    (call,) = calls(with_ami=True)
    assert call.id == "anonchan@carrier.test" and call.correlation == "ami"
    assert call.answered_by == "2001" and not call.missed
    alone = calls(with_ami=False)
    assert len(alone) == (1 if b2bua_window_s else 2)
    if b2bua_window_s:
        rows = judged_calls_with_ami(capture, ami, site_file)
        check_calls(rows, spec)
        assert [r["correlation"] for r in rows] == ["ami"]


def test_a_channel_name_hep_gives_before_the_manager_names_the_channel_is_kept():
    """A slow manager link: the HEP channel name of the carrier's dialog arrives before the
    manager's Newchannel. AmiLinks keeps it and ties the dialog when the channel appears."""
    links = AmiLinks()
    seen = HepChannel(0, "anonchan@carrier.test", "PJSIP/carrier-00000000")
    assert links.hep_channel(seen) == []
    facts = []
    for event in read_ami_file(ASTERISK / "anonymous_channel.ami.txt"):
        if event.name == "UserEvent":
            continue  # no SipCallId events: HEP alone names the dialog
        facts += links.feed(event)
    named = [f for f in facts if isinstance(f, Tie) and f.call_id == "anonchan@carrier.test"]
    assert [(t.channel, t.linkedid) for t in named] == [("PJSIP/carrier-00000000", "1796530724.0")]


def test_an_attended_transfer_target_behind_a_local_channel_is_the_channel_it_dialled():
    links = AmiLinks()
    facts = []
    for event in read_ami_file(ASTERISK / "feature_attended.ami.txt"):
        facts += links.feed(event)
    (fact,) = [f for f in facts if isinstance(f, AttendedTransfer)]
    assert fact.target == "PJSIP/2002-00000002"
    assert fact.transferer == fact.second == "PJSIP/2001-00000001"
    assert fact.transferee_call_id == "featatt@carrier.test"
    assert fact.target_call_id is not None and fact.transferer_call_id is not None


def test_the_recorded_streams_are_read_whole():
    """Every event of every recorded stream is read, with its own Timestamp; the responses
    to the recorder's login and logoff are not events."""
    for flow in FLOWS:
        stats = AmiStats()
        path = ASTERISK / f"{flow}.ami.txt"
        events = list(read_ami_file(path, stats))
        text = path.read_bytes()
        assert stats.events == len(events) == text.count(b"\r\nEvent: ")
        assert stats.responses == text.count(b"Response: ") == 2 and not stats.refused
        assert [e.ts for e in events] == sorted(e.ts for e in events)


@pytest.mark.parametrize("flow", ["anonymous_caller", "feature_blind"])
def test_ingest_reads_a_recorded_manager_stream_beside_the_capture(flow: str, capsys):
    spec = _spec(flow)
    argv = ["ingest", "--config", str(ROOT / spec["site"]), str(ASTERISK / f"{flow}.hep.pcap")]
    assert main([*argv, "--ami", str(ASTERISK / f"{flow}.ami.txt")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    check_calls(rows, spec)
    assert main(argv) == 0  # without the manager: what SIP alone can tell
    alone = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert alone != rows


def test_ingest_names_a_missing_manager_file(tmp_path, capsys):
    spec = _spec("direct_answer")
    capture = str(ASTERISK / "direct_answer.pcap")
    argv = ["ingest", "--config", str(ROOT / spec["site"]), capture, "--ami"]
    assert main([*argv, str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt: no such file" in capsys.readouterr().err


def test_a_stream_without_timestamps_is_refused_and_counted_not_guessed(tmp_path, caplog):
    """Without ``timestampevents = yes`` an event has no time of its own: it is refused
    (counted, logged once with what to set), never stamped with the time it was read."""
    text = (ASTERISK / "anonymous_caller.ami.txt").read_bytes()
    bare = tmp_path / "bare.ami.txt"
    bare.write_bytes(re.sub(rb"Timestamp: [0-9.]+\r\n", b"", text))
    stats = AmiStats()
    assert list(read_ami_file(bare, stats)) == []
    assert stats.refused["no Timestamp"] == text.count(b"\r\nEvent: ")
    assert [r.message for r in caplog.records if "timestampevents" in r.message] != []
    spec = _spec("anonymous_caller")
    capture = ASTERISK / "anonymous_caller.pcap"
    rows = judged_calls_with_ami(capture, bare, ROOT / spec["site"])
    assert rows == judged_calls(capture, ROOT / spec["site"])  # what SIP alone gives
