"""Record real probe calls: callwatch's pyVoIP probe phone calling the Asterisk fixture office.

Run as root from the repository root (Asterisk at /opt/asterisk)::

    .venv/bin/python sip_fixtures/probe/record.py [OUTDIR]

A fresh Asterisk (``office.probe_office``) with sipp desk phones; the probe phone registers as
``01099990000`` and calls the public number 0613390001 (``Dial(PJSIP/2001)``) three times:

- ``answered``: 2001 rings 3.0 s and answers; the probe plays its prompt and hangs up 2.0 s
  after the answer (BYE);
- ``busy``: 2001 answers 486 Busy Here at once;
- ``no_answer``: 2001 rings and never answers; the probe gives up after 5.0 s (CANCEL).

Written to OUTDIR (default: here): ``probe_calls.pcap`` (plain SIP on the wire, the office's
addresses only), ``probe_calls.hep.pcap`` (Asterisk's HEPv3 copies) and
``probe_calls.records.json`` (what the probe itself recorded, one record per call, with the
flow's name). The phones' sipp scenarios are those of ``../scenarios/``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import office  # noqa: E402

NUMBER = "0613390001"
FLOWS = (
    # name, phone scenario, phone ring ms, probe answer limit s, probe talk s
    ("answered", "uas_answer.xml", 3000, 10.0, 2.0),
    ("busy", "uas_busy.xml", 0, 10.0, 2.0),
    ("no_answer", "uas_ring_cancel.xml", 0, 5.0, 2.0),
)


@contextlib.contextmanager
def hep_sink() -> Iterator[None]:
    """A socket on the office's HEP address that reads and discards (tcpdump keeps them)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((office.PBX_IP, office.HEP_PORT))
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


def record(outdir: Path, scratch: Path, *, hep: bool = True) -> list[dict[str, object]]:
    """Place the three probe calls; write the captures and the probe's records to ``outdir``.

    ``hep=False`` starts Asterisk with its HEP copies switched off (the feed cut).
    """
    from callwatch.probe.caller import ProbeAccount, ProbePhone
    from callwatch.probe.prompt import load_prompt

    account = ProbeAccount(
        office.PBX_IP, office.SIP_PORT, office.PROBE_USER, office.PROBE_SECRET,
        office.PROBE_IP, office.SIP_PORT,
    )  # fmt: skip
    wire, hep_out = scratch / "sip.pcap", scratch / "hep.pcap"
    net = f"net {office.PBX_IP.rsplit('.', 1)[0]}.0/24"
    records: list[dict[str, object]] = []
    with (
        office.probe_office(scratch / "asterisk", hep=hep),
        hep_sink(),
        office.tcpdump(f"udp port {office.SIP_PORT} and {net}", wire),
        office.tcpdump(f"udp dst port {office.HEP_PORT} and dst host {office.PBX_IP}", hep_out),
    ):
        phone = ProbePhone(account)
        phone.start()
        try:
            for name, scenario, ring_ms, limit_s, talk_s in FLOWS:
                desk = office.phone("2001", scenario, scratch, ring_ms=ring_ms)
                try:
                    rec = phone.call(
                        NUMBER, answer_limit_s=limit_s, talk_s=talk_s, prompt=load_prompt()
                    )
                finally:
                    time.sleep(0.3)
                    office.stop(desk)
                records.append({"flow": name, **rec.to_dict()})
        finally:
            phone.stop()
        time.sleep(0.5)  # the last HEP copies
    outdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wire, outdir / "probe_calls.pcap")
    shutil.copyfile(hep_out, outdir / "probe_calls.hep.pcap")
    text = json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    (outdir / "probe_calls.records.json").write_text(text, encoding="utf-8")
    return records


def main() -> int:
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    scratch = Path(tempfile.mkdtemp(prefix="callwatch-probe-"))
    try:
        for rec in record(outdir, scratch):
            print(json.dumps(rec, ensure_ascii=False))
    except office.FixtureError as exc:
        print(f"FAIL: {exc}; logs in {scratch}", file=sys.stderr)
        return 1
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
