"""Regenerate the Asterisk fixtures: a real Asterisk 22 between a sipp carrier and sipp phones.

Run as root from the repository root (Asterisk installed at /opt/asterisk, see this folder's
README; ``ASTERISK_PREFIX`` points elsewhere)::

    .venv/bin/python sip_fixtures/asterisk/regenerate.py [NAME...]

For each flow this copies ``conf/`` to a scratch directory (filling its
``@ETC@``/``@RUN@``/``@PREFIX@`` markers), starts a fresh Asterisk in the foreground (no
dialog of one flow can leak into the next) and waits until its SIP port and manager answer.
Then tcpdump records plain SIP (``udp port 5160`` within ``127.0.13.0/24``: other loopback
traffic on that port is not the office's) to ``NAME.pcap`` and Asterisk's HEPv3 copies (``udp
dst port 9160`` to Asterisk's address, read and discarded by a socket here) to
``NAME.hep.pcap``; a manager connection records the AMI stream to ``NAME.ami.txt``; the
phones (sipp UAS, one per loopback address) start, then the carrier's sipp call. When every
sipp has exited, the captures stop and Asterisk is stopped (SIGTERM, then SIGKILL), whatever
happened.

``NAME.expected-calls.json`` is written by hand from what the phones were told to do (the
comments on each flow below), never from a parser, and is never touched here. Stdlib only.
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
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONF = HERE / "conf"
SCENARIOS = HERE / "scenarios"
SHARED_SCENARIOS = HERE.parent / "scenarios"
PREFIX = Path(os.environ.get("ASTERISK_PREFIX", "/opt/asterisk"))

PBX_IP = "127.0.13.1"
NET = "127.0.13.0/24"  # every party of the office; other loopback traffic is not recorded
SIP_PORT = 5160  # every party uses this port on its own address
HEP_PORT = 9160
AMI_PORT = 5138
AMI_USER, AMI_SECRET = "callwatch", "fixture-only"  # manager.conf, loopback only
PBX = f"{PBX_IP}:{SIP_PORT}"
CARRIER_IP = "127.0.13.2"
PHONES = {
    "2001": "127.0.13.11",
    "2002": "127.0.13.12",
    "2003": "127.0.13.13",
    "reception": "127.0.13.20",
    "telephone1": "127.0.13.21",
}
EXT = "01012345678"  # the external caller
PROMPTS = {  # the sound files the office plays (silence: the build has none), seconds
    "pbx-transfer": 0.2,  # features.conf's transfer prompt
    "civil-welcome": 1.0,  # 0613390011, before the queue
    "civil-menu": 2.0,  # 0613390012, the IVR menu
    "civil-vm-greeting": 1.5,  # 0613390006, the greeting before the message is recorded
    "beep": 0.2,  # Record()'s beep before it records
}
PROCESS_TIMEOUT_S = 60.0


class FixtureError(RuntimeError):
    """A fixture could not be generated (a tool failed, a process hung, a port is busy)."""


# --------------------------------------------------------------------------- description


@dataclass(frozen=True)
class Sipp:
    """One sipp process: the carrier (``uas=False``, calls Asterisk) or a phone (``uas=True``).

    ``scenario`` is looked up in ``scenarios/`` here, then in ``../scenarios/``. ``pause_ms`` is
    sipp's ``-d``; ``pauses`` fills ``@NAME@`` markers (ms). Phones start first; the carrier
    starts ``delay_s`` after the flow's phones are bound.
    """

    role: str
    scenario: str
    ip: str
    keys: Mapping[str, str]
    uas: bool = True
    pause_ms: int = 0
    pauses: Mapping[str, int] = field(default_factory=dict)
    call_id: str | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Flow:
    """A named fixture: phones and the carrier's call, recorded together.

    ``hep_uuid_type`` is ``hep.conf``'s ``uuid_type`` for this flow (``call-id``, the office's
    own setting, or ``channel``: the HEP correlation id then carries the channel name).
    ``conf_edits`` are ``(file, text, replacement)`` changes to ``conf/`` for this flow only.
    """

    name: str
    agents: tuple[Sipp, ...]
    hep_uuid_type: str = "call-id"
    conf_edits: tuple[tuple[str, str, str], ...] = ()


def _phone(user: str, scenario: str, *, ring_ms: int = 0, **pauses: int) -> Sipp:
    keys = {"callee": user, "ttag": f"{user}-tag", "pbx": PBX}
    keys.update({k.lower(): str(v) for k, v in pauses.items() if k.islower()})
    return Sipp(
        f"phone-{user}",
        scenario,
        PHONES[user],
        keys,
        pause_ms=ring_ms,
        pauses={k: v for k, v in pauses.items() if k.isupper()},
    )


def _carrier(
    name: str,
    did: str,
    scenario: str = "uac_bye.xml",
    *,
    talk_ms: int = 0,
    caller: str = EXT,
    **pauses: int,
) -> Sipp:
    keys = {"caller": caller, "callee": did, "ftag": f"{name}-from"}
    return Sipp(
        "carrier",
        scenario,
        CARRIER_IP,
        keys,
        uas=False,
        pause_ms=talk_ms,
        pauses=pauses,
        call_id=f"{name}@carrier.test",
        delay_s=0.2,
    )


def _flows() -> list[Flow]:
    answer, cancelled = "uas_answer.xml", "uas_ring_cancel.xml"
    return [
        # 0613390001 -> 2001: rings 3.0 s, answered; the caller hangs up 3.0 s later.
        Flow("direct_answer", (
            _phone("2001", answer, ring_ms=3000),
            _carrier("direct", "0613390001", talk_ms=3000),
        )),
        # 0613390000 -> ring group 2001, 2002, 2003; 2002 answers after 2.5 s, the others get
        # CANCEL; the caller hangs up 3.0 s after the answer.
        # These phones send 180 without a 100 first, within a millisecond of the INVITE: in
        # Asterisk's HEP a 180 is then often stamped before the INVITE it answers.
        Flow("ring_group", (
            _phone("2001", "phone_ring_cancel.xml"),
            _phone("2002", "phone_ring_answer.xml", ring_ms=2500),
            _phone("2003", "phone_ring_cancel.xml"),
            _carrier("group", "0613390000", talk_ms=3000),
        )),
        # 0613390001 -> 2001 rings; the caller gives up after 8.0 s (CANCEL).
        Flow("no_answer", (
            _phone("2001", cancelled),
            _carrier("noanswer", "0613390001", "uac_cancel.xml", talk_ms=8000),
        )),
        # 0613390001 -> 2001 answers 486 Busy Here at once.
        Flow("busy", (
            _phone("2001", "uas_busy.xml"),
            _carrier("busy", "0613390001", "uac_reject.xml"),
        )),
        # 2001 answers after 2.0 s, talks 2.0 s, REFERs the caller to 2002; 2002 rings 2.5 s
        # and answers; 2001 leaves with BYE after the NOTIFY 200; the caller hangs up 10.0 s
        # after its own answer.
        Flow("blind_refer", (
            _phone("2001", "phone_refer_blind.xml", RING_MS=2000, TALK_MS=2000,
                   target="2002"),
            _phone("2002", answer, ring_ms=2500),
            _carrier("blindrefer", "0613390001", talk_ms=10000),
        )),
        # 2001 answers after 2.0 s, holds the caller 1.5 s later, calls 2002 (answers after
        # 1.5 s), 1.5 s into the consultation REFERs the caller with Replaces; the caller hangs
        # up 10.0 s after its own answer.
        Flow("attended_refer", (
            _phone("2001", "phone_refer_attended.xml", RING_MS=2000, TALK_MS=1500,
                   CONSULT_MS=1500, target="2002"),
            _phone("2002", answer, ring_ms=1500),
            _carrier("attrefer", "0613390001", talk_ms=10000),
        )),
        # 0613390002 (Dial with t) -> 2001 answers after 2.0 s, talks 2.0 s, then keys #1 2002
        # as SIP INFO DTMF (blind transfer feature code); 2002 rings 2.5 s and answers; the
        # caller hangs up 10.0 s after its own answer.
        Flow("feature_blind", (
            _phone("2001", "phone_dtmf_blindxfer.xml", RING_MS=2000, TALK_MS=2000),
            _phone("2002", answer, ring_ms=2500),
            _carrier("featblind", "0613390002", talk_ms=10000),
        )),
        # 0613390002 (Dial with t) -> 2001 answers after 2.0 s, talks 2.0 s, then keys *2 2002
        # as SIP INFO DTMF (attended transfer feature code); Asterisk keeps the caller and dials
        # 2002, which rings 2.0 s and answers; 2001 hangs up 3.0 s after its last digit, which
        # completes the transfer; the caller hangs up 14.0 s after its own answer.
        Flow("feature_attended", (
            _phone("2001", "phone_dtmf_atxfer.xml", RING_MS=2000, TALK_MS=2000,
                   CONSULT_MS=3000),
            _phone("2002", answer, ring_ms=2000),
            _carrier("featatt", "0613390002", talk_ms=14000),
        )),
        # A withheld number (From anonymous) -> 2001: rings 2.0 s, answered, 3.0 s talk.
        Flow("anonymous_caller", (
            _phone("2001", answer, ring_ms=2000),
            _carrier("anon", "0613390001", talk_ms=3000, caller="anonymous"),
        )),
        # 0613390005: Asterisk answers at once (Answer, Playtones); the caller hangs up after
        # 4.0 s. No phone rings.
        Flow("pbx_answered", (
            _carrier("ivr", "0613390005", talk_ms=4000),
        )),
        # 0613390003: Ringing() sends 180 to the carrier at once; 2 s later 2001 is dialled,
        # rings 3.0 s and answers; the caller hangs up 3.0 s after the answer.
        Flow("early_ringing", (
            _phone("2001", answer, ring_ms=3000),
            _carrier("early", "0613390003", talk_ms=3000),
        )),
        # 0613390009 -> the phone named "reception": rings 2.0 s, answered, 3.0 s talk.
        Flow("named_phone", (
            _phone("reception", answer, ring_ms=2000),
            _carrier("named", "0613390009", talk_ms=3000),
        )),
        # 0613390010: Queue "civil" (ringall, members 2001 and 2002, option r: the carrier gets
        # 180 from Asterisk at once). Both members ring; 2001 answers after 3.0 s, 2002 gets
        # CANCEL; the caller hangs up 3.0 s after the answer.
        Flow("queue_answer", (
            _phone("2001", answer, ring_ms=3000),
            _phone("2002", cancelled),
            _carrier("queue", "0613390010", talk_ms=3000),
        )),
        # 0613390011: Asterisk answers (Answer() then waits 0.5 s for media, which sipp never
        # sends), plays a 1.0 s welcome (PROMPTS), queues the caller on music on hold; 2001 and
        # 2002 ring from 1.5 s and nobody answers; the caller gives up 8.0 s after Asterisk's
        # answer (BYE) and both members get CANCEL.
        Flow("queue_abandon", (
            _phone("2001", cancelled),
            _phone("2002", cancelled),
            _carrier("queueab", "0613390011", talk_ms=8000),
        )),
        # 0613390012: an IVR. Asterisk answers and, 0.5 s later, plays a 2.0 s menu; the caller
        # presses 1 (SIP INFO) 2.5 s after the answer and reaches 2002, which rings 2.0 s and
        # answers; the caller hangs up 6.0 s after pressing 1 (3.5 s after 2002's answer, give
        # or take the time Asterisk takes to dial).
        Flow("ivr_digit", (
            _phone("2002", answer, ring_ms=2000),
            _carrier("ivrdigit", "0613390012", "carrier_ivr_digit.xml", talk_ms=6000,
                     MENU_MS=2500, DIGIT=1),
        )),
        # 0613390006: 2001 rings and nobody answers; Dial gives up after 8 s (CANCEL to 2001)
        # and the dialplan's voicemail answers the caller (Answer(), a 1.5 s greeting, a beep,
        # Record(): the build has no app_voicemail, see README); the caller leaves a message
        # and hangs up 6.0 s after Asterisk's answer.
        Flow("voicemail", (
            _phone("2001", cancelled),
            _carrier("voicemail", "0613390006", talk_ms=6000),
        )),
        # blind_refer with refer_blind_progress = no on the phones: Asterisk answers the REFER
        # with 202 and one NOTIFY (sipfrag 200) at once; 2001 leaves with BYE after it; 2002
        # rings 2.5 s and answers; the caller hangs up 10.0 s after its own answer.
        Flow("blind_refer_noprogress", (
            _phone("2001", "phone_refer_blind_noprogress.xml", RING_MS=2000, TALK_MS=2000,
                   target="2002"),
            _phone("2002", answer, ring_ms=2500),
            _carrier("blindnoprog", "0613390001", talk_ms=10000),
        ), conf_edits=(("pjsip.conf", "allow_transfer = yes\n",
                        "allow_transfer = yes\nrefer_blind_progress = no\n"),)),
        # A withheld number -> 0613390007: 2001's INVITE carries X-CID (the carrier leg's
        # Call-ID) and no linkedid header; 2001 rings 2.0 s, answers; 3.0 s talk.
        Flow("xcid_header", (
            _phone("2001", answer, ring_ms=2000),
            _carrier("xcid", "0613390007", talk_ms=3000, caller="anonymous"),
        )),
        # anonymous_caller again with hep.conf's uuid_type = channel: the HEP correlation id
        # of a dialog names its Asterisk channel (PJSIP/carrier-..., PJSIP/2001-...).
        Flow("anonymous_channel", (
            _phone("2001", answer, ring_ms=2000),
            _carrier("anonchan", "0613390001", talk_ms=3000, caller="anonymous"),
        ), hep_uuid_type="channel"),
    ]  # fmt: skip


FLOWS: dict[str, Flow] = {flow.name: flow for flow in _flows()}


# --------------------------------------------------------------------------- running


def _scenario_text(agent: Sipp) -> str:
    for folder in (SCENARIOS, SHARED_SCENARIOS):
        path = folder / agent.scenario
        if path.is_file():
            text = path.read_text(encoding="iso-8859-1")
            break
    else:
        raise FixtureError(f"no scenario {agent.scenario}")
    for name, value in agent.pauses.items():
        text = text.replace(f"@{name}@", str(value))
    left = sorted(set(re.findall(r"@([A-Z0-9_]+)@", text)))
    if left:
        raise FixtureError(f"{agent.scenario}: no value for {', '.join(left)} ({agent.role})")
    return text


def _sipp_argv(agent: Sipp, logdir: Path) -> list[str]:
    scenario = logdir / f"{agent.role}-{agent.scenario}"
    scenario.write_text(_scenario_text(agent), encoding="iso-8859-1")
    argv = [
        "sipp",
        *([] if agent.uas else [PBX]),
        "-sf", str(scenario),
        "-i", agent.ip,
        "-p", str(SIP_PORT),
        "-mi", agent.ip,
        "-mp", "32000",
        "-m", "1",
        "-d", str(agent.pause_ms),
        "-nostdin",
        "-timeout", f"{int(PROCESS_TIMEOUT_S) - 5}s",
        "-timeout_error",
        "-trace_err", "-error_file", str(logdir / f"{agent.role}.err"),
        "-trace_msg", "-message_file", str(logdir / f"{agent.role}.msg"),
    ]  # fmt: skip
    if agent.call_id:
        argv += ["-cid_str", agent.call_id]
    for key, value in agent.keys.items():
        argv += ["-key", key, value]
    return argv


def _udp_taken(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((ip, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _wait_until(check, what: str, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            raise FixtureError(f"{what}: the process exited early ({proc.returncode})")
        if time.monotonic() > deadline:
            raise FixtureError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _spawn(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, cwd=log.parent)


@contextlib.contextmanager
def asterisk(
    scratch: Path,
    hep_uuid_type: str = "call-id",
    conf_edits: Sequence[tuple[str, str, str]] = (),
) -> Iterator[None]:
    """Asterisk running in the foreground on ``conf/`` (copied into ``scratch``), with
    ``hep.conf``'s ``uuid_type`` set to ``hep_uuid_type`` and ``conf_edits`` made."""
    binary = PREFIX / "sbin" / "asterisk"
    if not binary.is_file():
        raise FixtureError(f"no Asterisk at {binary} (see sip_fixtures/asterisk/README.md)")
    for ip, port in [(PBX_IP, SIP_PORT), (PBX_IP, HEP_PORT)]:
        if _udp_taken(ip, port):
            raise FixtureError(f"{ip}:{port} is already in use")
    etc, run = scratch / "etc", scratch / "run"
    etc.mkdir(parents=True)
    for sub in ("db", "lib", "keys", "spool", "run", "log", "data/sounds/en"):
        (run / sub).mkdir(parents=True)
    (run / "data" / "documentation").symlink_to(PREFIX / "var/lib/asterisk/documentation")
    (run / "data" / "moh").mkdir()
    for prompt, seconds in PROMPTS.items():
        _silence(run / f"data/sounds/en/{prompt}.wav", seconds)
    _silence(run / "data/moh/silence.wav", 2.0)  # music on hold (musiconhold.conf)
    for conf in CONF.glob("*.conf"):
        text = conf.read_text()
        text = text.replace("@ETC@", str(etc)).replace("@RUN@", str(run))
        if conf.name == "hep.conf":
            text, n = re.subn(r"(?m)^uuid_type = .*$", f"uuid_type = {hep_uuid_type}", text)
            if n != 1:
                raise FixtureError("hep.conf: no uuid_type line to set")
        for name, before, after in conf_edits:
            if name == conf.name:
                if before not in text:
                    raise FixtureError(f"{name}: no {before!r} to change")
                text = text.replace(before, after)
        (etc / conf.name).write_text(text.replace("@PREFIX@", str(PREFIX)))
    proc = _spawn([str(binary), "-C", str(etc / "asterisk.conf"), "-f", "-n"],
                  scratch / "asterisk.log")  # fmt: skip
    try:
        _wait_until(lambda: _udp_taken(PBX_IP, SIP_PORT), "Asterisk SIP port", proc, 30.0)
        _wait_until(lambda: _tcp_open(PBX_IP, AMI_PORT), "Asterisk manager", proc, 30.0)
        yield
    finally:
        _stop(proc, grace=10.0)


def _silence(path: Path, seconds: float = 0.2) -> None:
    """A prompt of silence (8 kHz, 16-bit mono WAV)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


def _tcp_open(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((ip, port)) == 0


@contextlib.contextmanager
def hep_sink(ip: str = PBX_IP, port: int = HEP_PORT) -> Iterator[None]:
    """A socket on the HEP address that reads and discards (tcpdump keeps the datagrams)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.settimeout(0.2)
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                sock.recv(65535)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


@contextlib.contextmanager
def ami_recorder(out: Path) -> Iterator[None]:
    """Log in to the manager (read-only user, events on) and write everything it sends."""
    sock = socket.create_connection((PBX_IP, AMI_PORT), timeout=5)
    login = (
        f"Action: Login\r\nActionID: callwatch-fixture\r\nUsername: {AMI_USER}\r\n"
        f"Secret: {AMI_SECRET}\r\nEvents: on\r\n\r\n"
    )
    sock.sendall(login.encode())
    sock.settimeout(0.2)
    chunks: list[bytes] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            chunks.append(data)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        if b"Authentication accepted" not in b"".join(chunks):
            raise FixtureError(f"AMI login refused: {b''.join(chunks)[:300]!r}")
        yield
    finally:
        time.sleep(0.5)
        with contextlib.suppress(OSError):
            sock.sendall(b"Action: Logoff\r\nActionID: callwatch-fixture-bye\r\n\r\n")
        time.sleep(0.2)
        stop.set()
        thread.join(timeout=2)
        sock.close()
        out.write_bytes(b"".join(chunks))


@contextlib.contextmanager
def tcpdump(bpf: str, out: Path) -> Iterator[None]:
    """tcpdump on loopback (snaplen 0, packet-buffered), started and listening."""
    argv = ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-s", "0", "-n", "-w", str(out), bpf]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
        _stop(proc, signal.SIGINT, grace=10.0)


def record(flow: Flow, logroot: Path, outdir: Path = HERE) -> list[Path]:
    """Record ``flow`` into ``NAME.pcap``, ``NAME.hep.pcap`` and ``NAME.ami.txt`` in ``outdir``."""
    logdir = logroot / "sipp"
    logdir.mkdir(parents=True)
    sip_out, hep_out = logdir / "sip.pcap", logdir / "hep.pcap"
    ami_out = logdir / "ami.txt"
    started: list[tuple[Sipp, subprocess.Popen[bytes]]] = []
    with (
        tcpdump(f"udp port {SIP_PORT} and net {NET}", sip_out),
        tcpdump(f"udp dst port {HEP_PORT} and dst host {PBX_IP}", hep_out),
        ami_recorder(ami_out),
    ):
        try:
            for agent in (a for a in flow.agents if a.uas):
                proc = _spawn(_sipp_argv(agent, logdir), logdir / f"{agent.role}.out")
                started.append((agent, proc))
                _wait_until(lambda a=agent: _udp_taken(a.ip, SIP_PORT), agent.role, proc, 5.0)
            t0 = time.monotonic()
            for agent in sorted((a for a in flow.agents if not a.uas), key=lambda a: a.delay_s):
                time.sleep(max(0.0, t0 + agent.delay_s - time.monotonic()))
                proc = _spawn(_sipp_argv(agent, logdir), logdir / f"{agent.role}.out")
                started.append((agent, proc))
            deadline = time.monotonic() + PROCESS_TIMEOUT_S
            for agent, proc in started:
                try:
                    rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired as exc:
                    raise FixtureError(f"sipp {agent.role} hung; logs in {logdir}") from exc
                if rc != 0:
                    raise FixtureError(
                        f"sipp {agent.role} ({agent.scenario}) exited {rc}; logs in {logdir}"
                    )
        finally:
            for _, proc in started:
                _stop(proc)
        time.sleep(0.5)  # Asterisk's last HEP copies and AMI events (Hangup) of the flow
    targets = [outdir / f"{flow.name}{suffix}" for suffix in (".pcap", ".hep.pcap", ".ami.txt")]
    for src, dst in zip((sip_out, hep_out, ami_out), targets, strict=True):
        shutil.copyfile(src, dst)
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: regenerate the named flows (all when none are named)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("names", nargs="*", help="flows to regenerate (default: all)")
    parser.add_argument("--keep-logs", action="store_true", help="keep sipp/Asterisk logs")
    parser.add_argument("--list", action="store_true", help="list the flow names")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: here)")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(FLOWS))
        return 0
    unknown = [n for n in args.names if n not in FLOWS]
    if unknown:
        parser.error(f"unknown flow(s): {', '.join(unknown)}")
    missing = [tool for tool in ("sipp", "tcpdump") if not shutil.which(tool)]
    if missing:
        parser.error(f"missing tools: {', '.join(missing)}")
    logroot = Path(tempfile.mkdtemp(prefix="callwatch-asterisk-"))
    failed = 0
    for name in args.names or list(FLOWS):
        started = time.monotonic()
        try:
            flow = FLOWS[name]
            office = asterisk(logroot / name / "asterisk", flow.hep_uuid_type, flow.conf_edits)
            with office, hep_sink():
                paths = record(flow, logroot / name, args.out)
        except (FixtureError, OSError) as exc:
            failed += 1
            print(f"FAIL {name}: {exc}", file=sys.stderr)
            continue
        sizes = ", ".join(f"{p.name} {p.stat().st_size}" for p in paths)
        print(f"ok   {name}: {sizes} bytes in {time.monotonic() - started:.1f} s")
    if args.keep_logs or failed:
        print(f"logs: {logroot}", file=sys.stderr)
    else:
        shutil.rmtree(logroot, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
