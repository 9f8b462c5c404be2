"""Bytes from the PBX to :class:`Packet` objects: HEPv2/v3, pcap and pcapng, a UDP listener."""

from callwatch.capture.hep import (
    HepAuthError,
    HepMessage,
    HepTooLarge,
    decode_hep,
    decode_hep_packet,
    encode_hep3,
    hep_to_packet,
)
from callwatch.capture.packet import CaptureError, HepError, Packet, PcapError
from callwatch.capture.pcap import read_capture
from callwatch.capture.stats import CaptureStats

__all__ = [
    "CaptureError",
    "CaptureStats",
    "HepAuthError",
    "HepError",
    "HepMessage",
    "HepTooLarge",
    "Packet",
    "PcapError",
    "decode_hep",
    "decode_hep_packet",
    "encode_hep3",
    "hep_to_packet",
    "read_capture",
]
