"""Real fixture captures with some of their bytes replaced: the same SIP dialogues carrying a
hostile caller, Call-ID or display name (for the privacy and CSV tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from callwatch.capture import read_capture
from callwatch.capture.pcapwrite import write_pcap

FIXTURES = Path(__file__).resolve().parents[1] / "sip_fixtures"


def rewrite(name: str, changes: Mapping[bytes, bytes], target: Path) -> Path:
    """``sip_fixtures/NAME.pcap`` with every ``old`` byte string of its SIP payloads replaced by
    its ``new`` one (Content-Length is unchanged: only headers are changed), written to
    ``target``."""
    packets = []
    for packet in read_capture(FIXTURES / f"{name}.pcap"):
        payload = packet.payload
        for old, new in changes.items():
            payload = payload.replace(old, new)
        packets.append(replace(packet, payload=payload))
    write_pcap(target, packets)
    return target
