"""Regenerate the SIP capture fixtures with real SIP software (sipp, Kamailio) and tcpdump.

Run as root from the repository root::

    .venv/bin/python sip_fixtures/regenerate.py [NAME...]

For each fixture this starts tcpdump (snaplen 0, packet-buffered) with a filter for the
fixture's ports, waits until it listens, starts the answering sipp instances (and Kamailio
when the fixture needs a proxy), then the calling sipp instances at their scheduled offsets,
waits for every process, stops tcpdump and writes ``sip_fixtures/NAME.pcap``. Fixtures made of
several captures (a call, then a callback 40 minutes later) are shifted with ``editcap -t``
and joined with ``mergecap``.

The expected-event files (``NAME.expected.json``) are written by hand from the scenario
timings and are never touched here. Stdlib only.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
KAMAILIO_CFG = HERE / "kamailio" / "proxy.cfg"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
HEP_PORT = 9060
LOCAL = "127.0.0.1"
PROCESS_TIMEOUT_S = 60.0


class FixtureError(RuntimeError):
    """A fixture could not be generated (a tool failed, a process hung, a port is busy)."""


# --------------------------------------------------------------------------- description


@dataclass(frozen=True)
class Sipp:
    """One sipp process playing one party of the fixture.

    ``uas`` instances start first and wait for calls; the others start ``delay_s`` seconds
    after the first caller started. ``pause_ms`` is sipp's ``-d`` (length of plain
    ``<pause/>``); ``pauses`` fills the scenario's ``@NAME@`` markers (other named pauses, in
    ms). ``call_id`` fixes the Call-ID of the call a caller places. ``headers`` are extra
    header lines put into the scenario's first INVITE (before its ``User-Agent``), for the
    B2BUA stand-ins that mark their legs the way a PBX does (``X-CID``, a linkedid header).
    """

    role: str
    scenario: str
    port: int
    keys: Mapping[str, str]
    remote: str | None = None
    uas: bool = False
    pause_ms: int = 0
    call_id: str | None = None
    delay_s: float = 0.0
    ip: str = LOCAL
    transport: str = "u1"
    netns: str | None = None
    pauses: Mapping[str, int] = field(default_factory=dict)
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kamailio:
    """A Kamailio stateful proxy. ``route`` is the config text that picks the target(s)."""

    port: int
    route: str
    trace: bool = False
    topoh: bool = False
    delay_us: int = 0


@dataclass(frozen=True)
class Capture:
    """One tcpdump run with the processes it records.

    ``at_s`` places this capture's first packet that many seconds after the fixture's first
    packet (used to build captures spanning 40 minutes or 2 hours without waiting for them).
    """

    agents: tuple[Sipp, ...]
    proxy: Kamailio | None = None
    interface: str = "lo"
    bpf: str | None = None
    at_s: float | None = None


@dataclass(frozen=True)
class Fixture:
    """A named fixture: one or more captures merged into ``NAME.pcap``."""

    name: str
    captures: tuple[Capture, ...]
    netns: tuple[str, str, str, str] | None = None  # (namespace, host veth, host ip, ns ip)
    notes: str = ""

    def ports(self) -> list[int]:
        """Every port used by the fixture (for checking uniqueness)."""
        out: list[int] = []
        for cap in self.captures:
            out += [a.port for a in cap.agents]
            if cap.proxy:
                out.append(cap.proxy.port)
        return out


def _keys(caller: str, callee: str, ftag: str, ttag: str = "", **more: str) -> dict[str, str]:
    keys = {"caller": caller, "callee": callee, "ftag": ftag, "ttag": ttag or f"t{callee}"}
    keys.update(more)
    return keys


def _pbx(n: int) -> int:
    """The PBX (Kamailio) port of fixture number ``n``."""
    return 5060 + n


def _phone(n: int, k: int) -> int:
    """The port of the ``k``-th phone of fixture ``n``."""
    return 16000 + 10 * n + k


def _ext(n: int, k: int = 1) -> int:
    """The port of the ``k``-th external party of fixture ``n``."""
    return 17000 + 10 * n + k


EXT = "01012345678"  # an external mobile caller
EXT2 = "0613398731"  # an external landline caller


def _direct_call(
    n: int,
    name: str,
    *,
    uac: str,
    uas: str,
    ring_ms: int = 0,
    talk_ms: int = 0,
    caller: str = EXT,
    callee: str = "2001",
    ip: str = LOCAL,
    transport: str = "u1",
    pauses: Mapping[str, int] | None = None,
    delay_s: float = 0.0,
    k: int = 1,
) -> tuple[Sipp, Sipp]:
    """A caller sipp talking straight to a phone sipp; Call-ID ``NAME@callwatch.test``."""
    host = f"[{ip}]" if ":" in ip else ip
    keys = _keys(caller, callee, ftag=f"{name}-from", ttag=f"{name}-to")
    phone = Sipp(
        f"callee{callee}",
        uas,
        _phone(n, k),
        keys,
        uas=True,
        pause_ms=ring_ms,
        ip=ip,
        transport=transport,
        pauses=pauses or {},
    )
    dialer = Sipp(
        f"caller{caller}",
        uac,
        _ext(n, k),
        keys,
        remote=f"{host}:{phone.port}",
        pause_ms=talk_ms,
        call_id=f"{name}@callwatch.test",
        ip=ip,
        transport=transport,
        delay_s=delay_s,
    )
    return phone, dialer


def _one(name: str, *agents: Sipp, proxy: Kamailio | None = None) -> Fixture:
    return Fixture(name, (Capture(tuple(agents), proxy),))


def _fixtures() -> list[Fixture]:
    bye, wait_bye = "uac_bye.xml", "uac_wait_bye.xml"
    answer = "uas_answer.xml"
    return [
        _one("answered_1st_ring", *_direct_call(1, "answered1", uac=bye, uas=answer,
                                                ring_ms=1500, talk_ms=2000)),
        _one("answered_3rd_ring", *_direct_call(2, "answered3", uac=bye, uas=answer,
                                                ring_ms=7000, talk_ms=2000)),
        _one("agent_hangs_up_first", *_direct_call(3, "agentbye", uac=wait_bye,
                                                   uas="uas_answer_bye.xml", ring_ms=1500,
                                                   pauses={"TALK_MS": 2000})),
        _one("caller_cancels", *_direct_call(4, "cancel", uac="uac_cancel.xml",
                                             uas="uas_ring_cancel.xml", talk_ms=4000)),
        _one("busy", *_direct_call(5, "busy", uac="uac_reject.xml", uas="uas_busy.xml")),
        _one("ring_timeout", *_direct_call(6, "noanswer", uac="uac_reject.xml",
                                           uas="uas_noanswer.xml", ring_ms=12000)),
        _ring_group_fork(7),
        _blind_transfer(8, "blind_transfer", "blind", answer_after_refer_ms=2100),
        _attended_transfer(9),
        _b2bua(10, "b2bua_pair", xcid="cw-b2bua-0001"),
        _b2bua(11, "b2bua_pair_noheader", xcid=None),
        _one("tcp_call", *_direct_call(12, "tcp", uac=bye, uas=answer, ring_ms=1500,
                                       talk_ms=2000, transport="t1")),
        _one("ipv6_call", *_direct_call(13, "ipv6", uac=bye, uas=answer, ring_ms=1500,
                                        talk_ms=2000, ip="::1")),
        _fragmented_invite(14),
        _hep_kamailio(15),
        _missed_then_callback(16, "missed_then_callback_40min", gap_s=40 * 60),
        _missed_then_callback(17, "missed_then_callback_2h", gap_s=2 * 3600),
        _ivr_then_staff(18),
        _blind_transfer(19, "transfer_slow", "slowxfer", answer_after_refer_ms=13000,
                        talk_ms=2000),
        _one("internal_call", *_direct_call(20, "internal", uac=bye, uas=answer, ring_ms=1500,
                                            talk_ms=3000, caller="2001", callee="3001")),
        _one("outbound_call", *_direct_call(21, "outbound", uac=bye, uas=answer, ring_ms=4000,
                                            talk_ms=3000, caller="2001", callee=EXT)),
        *_sip_alone_fixtures(),
    ]  # fmt: skip


def _ring_group_fork(n: int) -> Fixture:
    """Caller -> Kamailio (2000) -> parallel fork to 2001, 2002, 2003; 2002 answers."""
    phones = []
    for k, user in enumerate(("2001", "2002", "2003"), start=1):
        scenario = "uas_answer.xml" if user == "2002" else "uas_ring_cancel.xml"
        keys = _keys(EXT, user, ftag="fork-from", ttag=f"fork-{user}")
        phones.append(Sipp(f"phone{user}", scenario, _phone(n, k), keys, uas=True, pause_ms=2000))
    route = (
        f'$ru = "sip:2001@{LOCAL}:{_phone(n, 1)}"; '
        f'append_branch("sip:2002@{LOCAL}:{_phone(n, 2)}"); '
        f'append_branch("sip:2003@{LOCAL}:{_phone(n, 3)}");'
    )
    caller = Sipp(
        "caller",
        "uac_bye.xml",
        _ext(n),
        _keys(EXT, "2000", ftag="fork-from"),
        remote=f"{LOCAL}:{_pbx(n)}",
        pause_ms=3000,
        call_id="fork@callwatch.test",
    )
    return _one("ring_group_fork", *phones, caller, proxy=Kamailio(_pbx(n), route))


def _blind_transfer(
    n: int, fixture: str, name: str, *, answer_after_refer_ms: int, talk_ms: int = 3000
) -> Fixture:
    """External caller <-> 2001; 2001 REFERs the caller to 2002; the caller calls 2002.

    2001 answers 1.5 s after its 180 and sends REFER 2 s later (3.5 s). The caller's new
    INVITE leaves 0.1 s after the REFER; 2002 answers ``answer_after_refer_ms`` after the
    REFER; the caller's NOTIFY 200 follows 0.3 s after that answer, then 2001's BYE.
    """
    refer_at_ms, new_call_after_ms = 3500, 100
    target = _phone(n, 2)
    keys = _keys(EXT, "2001", ftag=f"{name}-from", ttag=f"{name}-to",
                 refer_to=f"sip:2002@{LOCAL}:{target}")  # fmt: skip
    transferor = Sipp(
        "transferor2001",
        "uas_transferor_blind.xml",
        _phone(n, 1),
        keys,
        uas=True,
        pauses={"RING_MS": 1500, "TALK_MS": 2000},
    )
    transferee = Sipp(
        "transferee",
        "uac_transferee_blind.xml",
        _ext(n, 1),
        keys,
        remote=f"{LOCAL}:{transferor.port}",
        call_id=f"{name}@callwatch.test",
        pauses={"NOTIFY_200_MS": answer_after_refer_ms + 300},
    )
    new_keys = _keys(EXT, "2002", ftag=f"{name}-new-from", ttag=f"{name}-new-to",
                     referred_by=f"2001@{LOCAL}:{transferor.port}")  # fmt: skip
    target_phone = Sipp(
        "target2002",
        "uas_answer.xml",
        target,
        new_keys,
        uas=True,
        pause_ms=answer_after_refer_ms - new_call_after_ms,
    )
    new_call = Sipp(
        "transferee-new",
        "uac_bye_referred.xml",
        _ext(n, 2),
        new_keys,
        remote=f"{LOCAL}:{target}",
        call_id=f"{name}-new@callwatch.test",
        pause_ms=talk_ms,
        delay_s=(refer_at_ms + new_call_after_ms) / 1000,
    )
    return _one(fixture, transferor, target_phone, transferee, new_call)


def _attended_transfer(n: int) -> Fixture:
    """Caller <-> 2001, hold, consultation 2001 -> 2002, REFER with Replaces, caller -> 2002.

    Timeline (s): 0 INVITE, 1.5 answer, 3.0 hold re-INVITE from 2001, 3.5 consultation
    INVITE 2001 -> 2002, 5.0 consultation answered, 6.0 REFER + NOTIFY 100, 6.2 caller's
    INVITE with Replaces answered at once, 6.4 2002 BYEs the consultation, 6.5 NOTIFY 200
    then 2001 BYEs the caller, 9.2 caller BYEs 2002.
    """
    consult_id, consult_ftag, consult_ttag = "attended-consult@callwatch.test", "ac-from", "ac-to"
    replaces = f"{consult_id};to-tag={consult_ttag};from-tag={consult_ftag}"
    escaped = replaces.replace("@", "%40").replace(";", "%3B").replace("=", "%3D")
    target_c, target_d = _phone(n, 3), _phone(n, 4)
    keys = _keys(EXT, "2001", ftag="attended-from", ttag="attended-to",
                 refer_to=f"sip:2002@{LOCAL}:{target_d}?Replaces={escaped}")  # fmt: skip
    transferor = Sipp(
        "transferor2001",
        "uas_transferor_attended.xml",
        _phone(n, 1),
        keys,
        uas=True,
        pauses={"RING_MS": 1500, "TALK_MS": 1500, "CONSULT_MS": 3000},
    )
    transferee = Sipp(
        "transferee",
        "uac_transferee_attended.xml",
        _ext(n, 1),
        keys,
        remote=f"{LOCAL}:{transferor.port}",
        call_id="attended@callwatch.test",
        pauses={"NOTIFY_200_MS": 500},
    )
    c_keys = _keys("2001", "2002", ftag=consult_ftag, ttag=consult_ttag)
    consult_phone = Sipp(
        "consult2002",
        "uas_answer_bye.xml",
        target_c,
        c_keys,
        uas=True,
        pause_ms=1500,
        pauses={"TALK_MS": 1400},
    )
    consult = Sipp(
        "consult2001",
        "uac_wait_bye.xml",
        _phone(n, 2),
        c_keys,
        remote=f"{LOCAL}:{target_c}",
        call_id=consult_id,
        delay_s=3.5,
    )
    d_keys = _keys(EXT, "2002", ftag="attended-new-from", ttag="attended-new-to",
                   replaces=replaces, referred_by=f"2001@{LOCAL}:{transferor.port}")  # fmt: skip
    replacing_phone = Sipp("replaced2002", "uas_answer_now.xml", target_d, d_keys, uas=True)
    replacing = Sipp(
        "transferee-new",
        "uac_bye_replaces.xml",
        _ext(n, 2),
        d_keys,
        remote=f"{LOCAL}:{target_d}",
        call_id="attended-new@callwatch.test",
        pause_ms=3000,
        delay_s=6.2,
    )
    return _one(
        "attended_transfer",
        transferor,
        consult_phone,
        replacing_phone,
        transferee,
        consult,
        replacing,
    )


def _b2bua(n: int, fixture: str, *, xcid: str | None) -> Fixture:
    """Trunk leg and phone leg with different Call-IDs: Kamailio with topoh masking Call-IDs.

    The trunk caller 0613398731 dials 2001 at the PBX (Kamailio); Kamailio waits 50 ms and
    relays the INVITE to phone 2001 under a masked Call-ID. Responses and the caller's BYE are
    relayed back and forth. With ``xcid`` the caller's INVITE carries ``X-CID`` (relayed, so
    both legs carry it).
    """
    name = fixture.replace("_", "-")
    phone_port = _phone(n, 1)
    keys = _keys(EXT2, "2001", ftag=f"{name}-from", ttag=f"{name}-to", xcid=xcid or "")
    phone = Sipp("phone2001", "uas_answer.xml", phone_port, keys, uas=True, pause_ms=2000)
    trunk = Sipp(
        "trunk",
        "uac_bye_xcid.xml" if xcid else "uac_bye.xml",
        _ext(n),
        keys,
        remote=f"{LOCAL}:{_pbx(n)}",
        call_id=f"{name}@callwatch.test",
        pause_ms=3000,
    )
    route = f'$ru = "sip:2001@{LOCAL}:{phone_port}";'
    proxy = Kamailio(_pbx(n), route, topoh=True, delay_us=50_000)
    return _one(fixture, phone, trunk, proxy=proxy)


FRAG_NETNS = ("cwfrag", "cwfrag0", "10.231.14.1", "10.231.14.2")


def _fragmented_invite(n: int) -> Fixture:
    """A 2.5 kB INVITE over UDP across a veth pair with a 1500-byte MTU (IP fragments).

    The phone runs in the network namespace ``cwfrag`` at 10.231.14.2; the caller on the host
    side at 10.231.14.1; tcpdump listens on the host end of the veth pair.
    """
    ns, host_if, host_ip, ns_ip = FRAG_NETNS
    keys = _keys(EXT, "2001", ftag="fragmented-from", ttag="fragmented-to")
    phone = Sipp("phone2001", "uas_answer.xml", _phone(n, 1), keys, uas=True, pause_ms=1500,
                 ip=ns_ip, netns=ns)  # fmt: skip
    caller = Sipp(
        "caller",
        "uac_bye_big.xml",
        _ext(n),
        keys,
        remote=f"{ns_ip}:{phone.port}",
        call_id="fragmented@callwatch.test",
        pause_ms=2000,
        ip=host_ip,
    )
    return Fixture(
        "fragmented_invite", (Capture((phone, caller), interface=host_if),), netns=FRAG_NETNS
    )


def _hep_kamailio(n: int) -> Fixture:
    """Two calls through Kamailio with siptrace mirroring every message as HEPv3 to :9060.

    Call 1 (fixture 1's shape): 01012345678 -> 2001, answered 1.5 s after the 180, caller
    BYE 2 s later. Call 2 (fixture 3's shape) starts 5 s after call 1: 0613398731 -> 2002,
    answered after 1.5 s, 2002 sends BYE 2 s later. Only the HEP datagrams are captured.
    """
    p1, p2 = _phone(n, 1), _phone(n, 2)
    k1 = _keys(EXT, "2001", ftag="hep1-from", ttag="hep1-to")
    k2 = _keys(EXT2, "2002", ftag="hep2-from", ttag="hep2-to")
    remote = f"{LOCAL}:{_pbx(n)}"
    agents = (
        Sipp("phone2001", "uas_answer.xml", p1, k1, uas=True, pause_ms=1500),
        Sipp("phone2002", "uas_answer_bye.xml", p2, k2, uas=True, pause_ms=1500,
             pauses={"TALK_MS": 2000}),
        Sipp("caller1", "uac_bye.xml", _ext(n, 1), k1, remote=remote, pause_ms=2000,
             call_id="hep1@callwatch.test"),
        Sipp("caller2", "uac_wait_bye.xml", _ext(n, 2), k2, remote=remote,
             call_id="hep2@callwatch.test", delay_s=5.0),
    )  # fmt: skip
    route = (
        f'if ($rU == "2002") {{ $ru = "sip:2002@{LOCAL}:{p2}"; }} '
        f'else {{ $ru = "sip:2001@{LOCAL}:{p1}"; }}'
    )
    proxy = Kamailio(_pbx(n), route, trace=True)
    return Fixture("hep_kamailio", (Capture(agents, proxy, bpf=f"udp dst port {HEP_PORT}"),))


def _missed_then_callback(n: int, fixture: str, *, gap_s: int) -> Fixture:
    """0613398731 calls 2001 and CANCELs after 8 s; 2001 calls back ``gap_s`` after the CANCEL.

    The callback (2001 -> 0613398731, answered 3 s after the 180, 2001 hangs up after 4 s) is
    recorded right after the missed call and shifted with editcap so that its INVITE lies
    exactly ``8 + gap_s`` seconds after the missed call's INVITE.
    """
    tag = fixture.rsplit("_", 1)[-1]
    missed = _direct_call(n, f"missed-{tag}", uac="uac_cancel.xml", uas="uas_ring_cancel.xml",
                          talk_ms=8000, caller=EXT2, callee="2001")  # fmt: skip
    callback = _direct_call(n, f"callback-{tag}", uac="uac_bye.xml", uas="uas_answer.xml",
                            ring_ms=3000, talk_ms=4000, caller="2001", callee=EXT2,
                            k=2)  # fmt: skip
    return Fixture(fixture, (Capture(missed), Capture(callback, at_s=8.0 + gap_s)))


def _ivr_then_staff(n: int) -> Fixture:
    """The PBX answers the trunk leg at once (IVR); 5 s later it rings 2001 with the same X-CID.

    Trunk leg: 0613398731 -> 0613390000 (the public number), 200 at once; the caller hangs up
    10 s after the answer. Staff leg (PBX -> 2001, Call-ID ivr-staff@...): INVITE at 5 s, 180,
    200 2 s later; the PBX relays the hang-up with a BYE at 10.1 s.
    """
    xcid = "cw-ivr-0001"
    k_trunk = _keys(EXT2, "0613390000", ftag="ivr-from", ttag="ivr-to", xcid=xcid)
    k_staff = _keys(EXT2, "2001", ftag="ivr-staff-from", ttag="ivr-staff-to", xcid=xcid)
    ivr = Sipp("pbx-ivr", "uas_answer_now.xml", _pbx(n), k_trunk, uas=True)
    phone = Sipp("phone2001", "uas_answer.xml", _phone(n, 1), k_staff, uas=True, pause_ms=2000)
    trunk = Sipp("trunk", "uac_bye_xcid.xml", _ext(n), k_trunk, remote=f"{LOCAL}:{ivr.port}",
                 call_id="ivr@callwatch.test", pause_ms=10_000)  # fmt: skip
    staff = Sipp("pbx-staff", "uac_bye_xcid.xml", _phone(n, 9), k_staff,
                 remote=f"{LOCAL}:{phone.port}", call_id="ivr-staff@callwatch.test",
                 pause_ms=3100, delay_s=5.0)  # fmt: skip
    return _one("ivr_then_staff", ivr, phone, trunk, staff)


# ------------------------------------------------------ what SIP alone must get right

LINKEDID = "X-Asterisk-Linkedid: 1718000000.42"  # the value a pre-dial handler would set


def _sip_alone_fixtures() -> list[Fixture]:
    """Fixtures 22-29: named phones, X-CID, early ringing, PBX answers, proxied rejects,
    a blind transfer whose target leg carries the linkedid header, withheld callers through an
    SBC that changes the Call-ID."""
    return [
        _named_extensions(22),
        _xcid_anonymous(23),
        _early_ringing(24),
        _pbx_answered(25),
        _proxied_reject(26, "proxied_reject", trace=False),
        _proxied_reject(27, "proxied_reject_hep", trace=True),
        _blind_transfer_linkedid(28),
        _sbc_unavailable(29),
    ]


def _named_extensions(n: int) -> Fixture:
    """Phones named ``reception`` and ``test18`` behind a B2BUA stand-in (Kamailio topoh, a
    fresh Call-ID on the phone side, no correlation header).

    Call 1: 0613398731 dials the public number 0613390000; the PBX rings ``reception``, which
    answers 2 s after its 180; the caller hangs up 3 s later. Call 2 (5 s after call 1):
    ``telephone1`` dials ``test18``, answered 1.5 s after the 180; ``telephone1`` hangs up 2 s
    later.
    """
    p1, p2 = _phone(n, 1), _phone(n, 2)
    remote = f"{LOCAL}:{_pbx(n)}"
    agents = (
        Sipp("reception", "uas_answer.xml", p1,
             _keys(EXT2, "reception", ftag="named1-from", ttag="named1-to"),
             uas=True, pause_ms=2000),
        Sipp("test18", "uas_answer.xml", p2,
             _keys("telephone1", "test18", ftag="named2-from", ttag="named2-to"),
             uas=True, pause_ms=1500),
        Sipp("trunk", "uac_bye.xml", _ext(n, 1),
             _keys(EXT2, "0613390000", ftag="named1-from"), remote=remote,
             call_id="named1@callwatch.test", pause_ms=3000),
        Sipp("telephone1", "uac_bye.xml", _phone(n, 3),
             _keys("telephone1", "test18", ftag="named2-from"), remote=remote,
             call_id="named2@callwatch.test", pause_ms=2000, delay_s=5.0),
    )  # fmt: skip
    route = (
        f'if ($rU == "test18") {{ $ru = "sip:test18@{LOCAL}:{p2}"; }} '
        f'else {{ $ru = "sip:reception@{LOCAL}:{p1}"; }}'
    )
    proxy = Kamailio(_pbx(n), route, topoh=True, delay_us=50_000)
    return _one("named_extensions", *agents, proxy=proxy)


def _xcid_anonymous(n: int) -> Fixture:
    """A withheld caller (``anonymous``) dials 0613390000; the PBX (two sipp) rings 2001 with
    ``X-CID: <the trunk leg's Call-ID>`` (the sngrep/Homer convention).

    Trunk leg: INVITE at 0, 180 at once, 200 at 2.1 s, the caller's BYE 3 s later. Phone leg:
    INVITE at 0.05 s, 180 at once, 200 2 s later, the PBX's BYE 3.1 s after that.
    """
    trunk_id = "xcid@callwatch.test"
    k_trunk = _keys("anonymous", "0613390000", ftag="xcid-from", ttag="xcid-to")
    k_phone = _keys("anonymous", "2001", ftag="xcid-phone-from", ttag="xcid-phone-to")
    agents = (
        Sipp("pbx-in", "uas_answer.xml", _pbx(n), k_trunk, uas=True, pause_ms=2100),
        Sipp("phone2001", "uas_answer.xml", _phone(n, 1), k_phone, uas=True, pause_ms=2000),
        Sipp("trunk", "uac_bye.xml", _ext(n), k_trunk, remote=f"{LOCAL}:{_pbx(n)}",
             call_id=trunk_id, pause_ms=3000),
        Sipp("pbx-out", "uac_bye.xml", _phone(n, 9), k_phone,
             remote=f"{LOCAL}:{_phone(n, 1)}", call_id="xcid-phone@callwatch.test",
             pause_ms=3100, delay_s=0.05, headers=(f"X-CID: {trunk_id}",)),
    )  # fmt: skip
    return _one("xcid_anonymous", *agents)


def _early_ringing(n: int) -> Fixture:
    """The PBX sends 180 on the trunk leg at once (``Ringing()``, FreePBX) and rings 2001 only
    2.5 s later; 2001 answers 4 s after its own 180.

    Trunk leg 01012345678 -> 2001 (the DID is the extension): 180 at 0, 200 at 6.6 s, the
    caller's BYE 3 s later. Phone leg (no header): INVITE at 2.5 s, 180 at once, 200 at 6.5 s,
    the PBX's BYE at 9.7 s.
    """
    k_trunk = _keys(EXT, "2001", ftag="early-from", ttag="early-to")
    k_phone = _keys(EXT, "2001", ftag="early-phone-from", ttag="early-phone-to")
    agents = (
        Sipp("pbx-in", "uas_answer.xml", _pbx(n), k_trunk, uas=True, pause_ms=6600),
        Sipp("phone2001", "uas_answer.xml", _phone(n, 1), k_phone, uas=True, pause_ms=4000),
        Sipp("trunk", "uac_bye.xml", _ext(n), k_trunk, remote=f"{LOCAL}:{_pbx(n)}",
             call_id="early@callwatch.test", pause_ms=3000),
        Sipp("pbx-out", "uac_bye.xml", _phone(n, 9), k_phone,
             remote=f"{LOCAL}:{_phone(n, 1)}", call_id="early-phone@callwatch.test",
             pause_ms=3200, delay_s=2.5),
    )  # fmt: skip
    return _one("early_ringing", *agents)


def _pbx_answered(n: int) -> Fixture:
    """Voicemail: 2001 rings 4 s unanswered, the PBX cancels it and answers the trunk itself.

    Trunk leg 0613398731 -> 2001 (the DID is the extension): 180 at 0, the PBX's 200 at 4.6 s,
    the caller leaves a 5 s message and hangs up. Phone leg: INVITE at 0.5 s, 180 at once,
    CANCEL 4 s later (4.5 s), 487.
    """
    k_trunk = _keys(EXT2, "2001", ftag="vm-from", ttag="vm-to")
    k_phone = _keys(EXT2, "2001", ftag="vm-phone-from", ttag="vm-phone-to")
    agents = (
        Sipp("pbx-in", "uas_answer.xml", _pbx(n), k_trunk, uas=True, pause_ms=4600),
        Sipp("phone2001", "uas_ring_cancel.xml", _phone(n, 1), k_phone, uas=True),
        Sipp("trunk", "uac_bye.xml", _ext(n), k_trunk, remote=f"{LOCAL}:{_pbx(n)}",
             call_id="voicemail@callwatch.test", pause_ms=5000),
        Sipp("pbx-out", "uac_cancel.xml", _phone(n, 9), k_phone,
             remote=f"{LOCAL}:{_phone(n, 1)}", call_id="voicemail-phone@callwatch.test",
             pause_ms=4000, delay_s=0.5),
    )  # fmt: skip
    return _one("pbx_answered", *agents)


def _proxied_reject(n: int, fixture: str, *, trace: bool) -> Fixture:
    """Two rejected calls through a stateful Kamailio, captured on both hops (the loopback
    sees caller -> proxy and proxy -> phone; with ``trace`` only Kamailio's HEP copies).

    Call 1: 01012345678 -> 2001, the phone answers 486 at once. Call 2 (3 s later):
    0613398731 -> 2002, which rings 7 s and answers 480.
    """
    p1, p2 = _phone(n, 1), _phone(n, 2)
    tag = fixture.replace("_", "-")
    k1 = _keys(EXT, "2001", ftag=f"{tag}1-from", ttag=f"{tag}1-to")
    k2 = _keys(EXT2, "2002", ftag=f"{tag}2-from", ttag=f"{tag}2-to")
    remote = f"{LOCAL}:{_pbx(n)}"
    agents = (
        Sipp("phone2001", "uas_busy.xml", p1, k1, uas=True),
        Sipp("phone2002", "uas_noanswer.xml", p2, k2, uas=True, pause_ms=7000),
        Sipp("caller1", "uac_reject.xml", _ext(n, 1), k1, remote=remote,
             call_id=f"{tag}1@callwatch.test"),
        Sipp("caller2", "uac_reject.xml", _ext(n, 2), k2, remote=remote,
             call_id=f"{tag}2@callwatch.test", delay_s=3.0),
    )  # fmt: skip
    route = (
        f'if ($rU == "2002") {{ $ru = "sip:2002@{LOCAL}:{p2}"; }} '
        f'else {{ $ru = "sip:2001@{LOCAL}:{p1}"; }}'
    )
    proxy = Kamailio(_pbx(n), route, trace=trace)
    bpf = f"udp dst port {HEP_PORT}" if trace else None
    return Fixture(fixture, (Capture(agents, proxy, bpf=bpf),))


def _blind_transfer_linkedid(n: int) -> Fixture:
    """Asterisk's blind transfer with ``refer_blind_progress=no``, both PBX legs marked with
    the linkedid header (four sipp play the PBX's sides).

    Trunk leg 01012345678 -> 0613390000: 180 at once, 200 at 1.55 s, the caller's BYE at
    10.55 s. Phone leg to 2001 (linkedid header): INVITE at 0.05 s, 200 1.5 s after the 180,
    2001's REFER to 2002 2 s later (3.55 s); the PBX answers 202, NOTIFY 100, and NOTIFY 200
    10 ms later (no progress); 2001 hangs up. Target leg to 2002 (linkedid header and
    Referred-By): INVITE 0.1 s after the REFER, 200 4.0 s after the REFER, the PBX's BYE at
    about 10.9 s.
    """
    p1, p2 = _phone(n, 1), _phone(n, 2)
    k_trunk = _keys(EXT, "0613390000", ftag="lidxfer-from", ttag="lidxfer-to")
    k_phone = _keys(EXT, "2001", ftag="lidxfer-phone-from", ttag="lidxfer-phone-to",
                    refer_to=f"sip:2002@{LOCAL}:{p2}")  # fmt: skip
    k_target = _keys(EXT, "2002", ftag="lidxfer-target-from", ttag="lidxfer-target-to",
                     referred_by=f"2001@{LOCAL}:{p1}")  # fmt: skip
    agents = (
        Sipp("pbx-in", "uas_answer.xml", _pbx(n), k_trunk, uas=True, pause_ms=1550),
        Sipp("transferor2001", "uas_transferor_blind.xml", p1, k_phone, uas=True,
             pauses={"RING_MS": 1500, "TALK_MS": 2000}),
        Sipp("target2002", "uas_answer.xml", p2, k_target, uas=True, pause_ms=3900),
        Sipp("trunk", "uac_bye.xml", _ext(n), k_trunk, remote=f"{LOCAL}:{_pbx(n)}",
             call_id="lidxfer@callwatch.test", pause_ms=9000),
        Sipp("pbx-out", "uac_transferee_blind.xml", _phone(n, 8), k_phone,
             remote=f"{LOCAL}:{p1}", call_id="lidxfer-phone@callwatch.test", delay_s=0.05,
             pauses={"NOTIFY_200_MS": 10}, headers=(LINKEDID,)),
        Sipp("pbx-target", "uac_bye_referred.xml", _phone(n, 9), k_target,
             remote=f"{LOCAL}:{p2}", call_id="lidxfer-target@callwatch.test", pause_ms=3300,
             delay_s=3.65, headers=(LINKEDID,)),
    )  # fmt: skip
    return _one("blind_transfer_linkedid", *agents)


def _sbc_unavailable(n: int) -> Fixture:
    """Two withheld callers (``unavailable``) through an SBC that changes the Call-ID between
    the carrier and the office (Kamailio with topoh, 50 ms), captured on both sides; no header
    ties the two legs of a call.

    Call 1: ``unavailable`` dials 0613390000; the SBC rings 2001, which answers 2 s after its
    180; the caller hangs up 3 s later. Call 2 (10 s after call 1): ``unavailable`` dials 3000;
    the SBC rings 3001, which rings 7 s unanswered and gives up (480). (topoh leaves the
    Call-ID of a CANCELled INVITE's 487 masked towards the caller, so no CANCEL here.)
    """
    p1, p2 = _phone(n, 1), _phone(n, 2)
    remote = f"{LOCAL}:{_pbx(n)}"
    k1 = _keys("unavailable", "0613390000", ftag="sbc1-from", ttag="sbc1-to")
    k2 = _keys("unavailable", "3000", ftag="sbc2-from", ttag="sbc2-to")
    agents = (
        Sipp("phone2001", "uas_answer.xml", p1, {**k1, "callee": "2001"}, uas=True,
             pause_ms=2000),
        Sipp("phone3001", "uas_noanswer.xml", p2, {**k2, "callee": "3001"}, uas=True,
             pause_ms=7000),
        Sipp("carrier1", "uac_bye.xml", _ext(n, 1), k1, remote=remote,
             call_id="sbc1@carrier.test", pause_ms=3000),
        Sipp("carrier2", "uac_reject.xml", _ext(n, 2), k2, remote=remote,
             call_id="sbc2@carrier.test", delay_s=10.0),
    )  # fmt: skip
    route = (
        f'if ($rU == "3000") {{ $ru = "sip:3001@{LOCAL}:{p2}"; }} '
        f'else {{ $ru = "sip:2001@{LOCAL}:{p1}"; }}'
    )
    proxy = Kamailio(_pbx(n), route, topoh=True, delay_us=50_000)
    return _one("sbc_unavailable", *agents, proxy=proxy)


FIXTURES: dict[str, Fixture] = {fx.name: fx for fx in _fixtures()}


# --------------------------------------------------------------------------- running


def _media_port(port: int) -> int:
    # sipp binds an audio and a video echo socket (-mp and -mp + 2): keep 4 ports per agent.
    return 40000 + (port % 5000) * 4


def _render_scenario(agent: Sipp, logdir: Path) -> Path:
    """Write the agent's scenario with its ``@NAME@`` pause markers filled in."""
    text = (SCENARIOS / agent.scenario).read_text(encoding="iso-8859-1")
    for name, value in agent.pauses.items():
        text = text.replace(f"@{name}@", str(value))
    if agent.headers:
        anchor = "User-Agent: sipp callwatch-fixture\n"
        if anchor not in text:
            raise FixtureError(
                f"{agent.scenario}: no {anchor.strip()!r} line to put headers before"
            )
        text = text.replace(anchor, "".join(f"{h}\n" for h in agent.headers) + anchor, 1)
    left = sorted(set(re.findall(r"@([A-Z0-9_]+)@", text)))
    if left:
        raise FixtureError(f"{agent.scenario}: no value for {', '.join(left)} ({agent.role})")
    out = logdir / f"{agent.role}-{agent.port}-{agent.scenario}"
    out.write_text(text, encoding="iso-8859-1")
    return out


def _sipp_argv(agent: Sipp, logdir: Path) -> list[str]:
    argv = [
        "sipp",
        *([agent.remote] if agent.remote else []),
        "-sf", str(_render_scenario(agent, logdir)),
        "-i", agent.ip,
        "-p", str(agent.port),
        "-mp", str(_media_port(agent.port)),
        "-t", agent.transport,
        "-m", "1",
        "-d", str(agent.pause_ms),
        "-nostdin",
        "-timeout", f"{int(PROCESS_TIMEOUT_S) - 5}s",
        "-timeout_error",
        "-trace_err", "-error_file", str(logdir / f"{agent.role}-{agent.port}.err"),
        "-trace_msg", "-message_file", str(logdir / f"{agent.role}-{agent.port}.msg"),
    ]  # fmt: skip
    if agent.call_id:
        argv += ["-cid_str", agent.call_id]
    for key, value in agent.keys.items():
        if value:
            argv += ["-key", key, value]
    if agent.netns:
        argv = ["ip", "netns", "exec", agent.netns, *argv]
    return argv


def _port_taken(ip: str, port: int, transport: str) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_STREAM if transport.startswith("t") else socket.SOCK_DGRAM
    with socket.socket(family, kind) as probe:
        try:
            probe.bind((ip, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _wait_bound(ip: str, port: int, transport: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 5.0
    while not _port_taken(ip, port, transport):
        if proc.poll() is not None:
            raise FixtureError(f"process for port {port} exited early ({proc.returncode})")
        if time.monotonic() > deadline:
            raise FixtureError(f"nothing listens on {ip}:{port} after 5 s")
        time.sleep(0.05)


def _kamailio_cfg(proxy: Kamailio, rundir: Path) -> Path:
    text = KAMAILIO_CFG.read_text()
    optional = []
    if proxy.trace:
        optional.append('loadmodule "siptrace.so"')
        optional += [
            f'modparam("siptrace", "duplicate_uri", "sip:{LOCAL}:{HEP_PORT}")',
            'modparam("siptrace", "hep_mode_on", 1)',
            'modparam("siptrace", "hep_version", 3)',
            'modparam("siptrace", "hep_capture_id", 2001)',
            'modparam("siptrace", "trace_to_database", 0)',
            'modparam("siptrace", "trace_on", 1)',
            'modparam("siptrace", "trace_mode", 1)',
        ]
    if proxy.topoh:
        optional.append('loadmodule "topoh.so"')
        optional += [
            'modparam("topoh", "mask_key", "callwatch-fixture")',
            'modparam("topoh", "mask_callid", 1)',
        ]
    delay = f"usleep({proxy.delay_us});" if proxy.delay_us else ""
    text = (
        text.replace("@@LISTEN@@", f"udp:{LOCAL}:{proxy.port}")
        .replace("@@MPATH@@", KAMAILIO_MODULES)
        .replace("@@OPTIONAL_MODULES@@", "\n".join(optional))
        .replace("@@TARGET@@", proxy.route)
        .replace("@@DELAY@@", delay)
    )
    cfg = rundir / "kamailio.cfg"
    cfg.write_text(text)
    return cfg


@contextlib.contextmanager
def _tcpdump(interface: str, bpf: str, out: Path) -> Iterator[None]:
    argv = ["tcpdump", "-i", interface, "-U", "--immediate-mode", "-s", "0", "-n"]
    proc = subprocess.Popen(
        [*argv, "-w", str(out), bpf],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 10.0
        while b"listening on" not in seen:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise FixtureError(f"tcpdump did not start: {seen.decode(errors='replace')}")
            if sel.select(timeout=0.2):
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
    try:
        yield
    finally:
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _bpf(capture: Capture, extra_fragments: bool) -> str:
    if capture.bpf:
        return capture.bpf
    ports = sorted(
        {a.port for a in capture.agents} | ({capture.proxy.port} if capture.proxy else set())
    )
    expr = " or ".join(f"port {p}" for p in ports)
    if extra_fragments:
        expr = f"({expr}) or (ip[6:2] & 0x1fff != 0)"
    return expr


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_capture(capture: Capture, out: Path, logdir: Path, fragments: bool) -> None:
    """Record one capture to ``out``: tcpdump first, then the answering side, then callers."""
    started: list[tuple[Sipp, subprocess.Popen[bytes]]] = []
    kamailio: subprocess.Popen[bytes] | None = None
    with _tcpdump(capture.interface, _bpf(capture, fragments), out):
        try:
            for agent in (a for a in capture.agents if a.uas):
                proc = _spawn(_sipp_argv(agent, logdir), logdir / f"{agent.role}-{agent.port}.out")
                started.append((agent, proc))
                if agent.netns:
                    time.sleep(0.5)
                else:
                    _wait_bound(agent.ip, agent.port, agent.transport, proc)
            if capture.proxy:
                kamailio = _start_kamailio(capture.proxy, logdir)
            callers = sorted((a for a in capture.agents if not a.uas), key=lambda a: a.delay_s)
            t0 = time.monotonic()
            for agent in callers:
                time.sleep(max(0.0, t0 + agent.delay_s - time.monotonic()))
                proc = _spawn(_sipp_argv(agent, logdir), logdir / f"{agent.role}-{agent.port}.out")
                started.append((agent, proc))
            deadline = time.monotonic() + PROCESS_TIMEOUT_S
            for agent, proc in started:
                try:
                    rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired as exc:
                    raise FixtureError(f"sipp {agent.role}:{agent.port} hung") from exc
                if rc != 0:
                    raise FixtureError(
                        f"sipp {agent.role}:{agent.port} ({agent.scenario}) exited {rc}; "
                        f"logs in {logdir}"
                    )
        finally:
            for _, proc in started:
                _stop(proc)
            if kamailio is not None:
                _stop(kamailio)


def _spawn(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, cwd=log.parent)


def _start_kamailio(proxy: Kamailio, logdir: Path) -> subprocess.Popen[bytes]:
    rundir = logdir / f"kamailio-{proxy.port}"
    rundir.mkdir()
    cfg = _kamailio_cfg(proxy, rundir)
    check = subprocess.run(
        ["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise FixtureError(f"kamailio config check failed:\n{check.stderr[-2000:]}")
    proc = _spawn(
        ["kamailio", "-f", str(cfg), "-P", str(rundir / "kamailio.pid"), "-Y", str(rundir),
         "-DD", "-E"],
        rundir / "kamailio.log",
    )  # fmt: skip
    _wait_bound(LOCAL, proxy.port, "u1", proc)
    return proc


def _first_packet_time(pcap: Path) -> float:
    """Capture time of the first record of a classic pcap file (seconds)."""
    data = pcap.read_bytes()[:40]
    if len(data) < 40:
        raise FixtureError(f"{pcap} holds no packets")
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        order, scale = "<", 1e-6
    elif magic == b"\xa1\xb2\xc3\xd4":
        order, scale = ">", 1e-6
    elif magic == b"\x4d\x3c\xb2\xa1":
        order, scale = "<", 1e-9
    else:
        raise FixtureError(f"{pcap} is not a classic pcap file")
    sec, frac = struct.unpack(order + "II", data[24:32])
    return sec + frac * scale


@contextlib.contextmanager
def _netns(spec: tuple[str, str, str, str]) -> Iterator[None]:
    """A network namespace joined to the host by a veth pair with the default 1500 MTU."""
    ns, host_if, host_ip, ns_ip = spec
    peer = host_if + "p"
    steps = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", host_if, "mtu", "1500", "type", "veth", "peer", "name", peer],
        ["ip", "link", "set", peer, "netns", ns],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", peer],
        ["ip", "netns", "exec", ns, "ip", "link", "set", peer, "mtu", "1500", "up"],
        ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["ip", "link", "del", host_if], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def generate(fixture: Fixture, logroot: Path) -> Path:
    """Record ``fixture`` and write ``sip_fixtures/NAME.pcap``; returns its path."""
    logdir = logroot / fixture.name
    logdir.mkdir(parents=True)
    parts: list[Path] = []
    ctx = _netns(fixture.netns) if fixture.netns else contextlib.nullcontext()
    with ctx:
        for i, capture in enumerate(fixture.captures):
            part = logdir / f"part{i}.pcap"
            _run_capture(capture, part, logdir, fragments=fixture.netns is not None)
            parts.append(part)
    target = HERE / f"{fixture.name}.pcap"
    if len(parts) == 1:
        shutil.copyfile(parts[0], target)
        return target
    origin = _first_packet_time(parts[0])
    shifted: list[Path] = []
    for part, capture in zip(parts, fixture.captures, strict=True):
        if capture.at_s is None:
            shifted.append(part)
            continue
        delta = origin + capture.at_s - _first_packet_time(part)
        moved = part.with_suffix(".shifted.pcap")
        subprocess.run(["editcap", "-t", f"{delta:.6f}", str(part), str(moved)], check=True)
        shifted.append(moved)
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(target), *map(str, shifted)], check=True)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: regenerate the named fixtures (all when none are named)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("names", nargs="*", help="fixtures to regenerate (default: all)")
    parser.add_argument("--keep-logs", action="store_true", help="keep sipp/kamailio logs")
    parser.add_argument("--list", action="store_true", help="list the fixture names")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(FIXTURES))
        return 0
    unknown = [n for n in args.names if n not in FIXTURES]
    if unknown:
        parser.error(f"unknown fixture(s): {', '.join(unknown)}")
    missing = [
        tool for tool in ("sipp", "tcpdump", "editcap", "mergecap") if not shutil.which(tool)
    ]
    if missing:
        parser.error(f"missing tools: {', '.join(missing)}")
    logroot = Path(tempfile.mkdtemp(prefix="callwatch-fixtures-"))
    failed = 0
    for name in args.names or list(FIXTURES):
        started = time.monotonic()
        try:
            path = generate(FIXTURES[name], logroot)
        except (FixtureError, subprocess.CalledProcessError, OSError) as exc:
            failed += 1
            print(f"FAIL {name}: {exc}", file=sys.stderr)
            continue
        took = time.monotonic() - started
        print(f"ok   {name}: {path.stat().st_size} bytes in {took:.1f} s")
    if args.keep_logs or failed:
        print(f"logs: {logroot}", file=sys.stderr)
    else:
        shutil.rmtree(logroot, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
