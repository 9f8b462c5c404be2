"""Bytes from the PBX to :class:`Packet` objects: HEPv2/v3, pcap and pcapng, a UDP listener."""

from callwatch.capture.packet import CaptureError, Packet

__all__ = ["CaptureError", "Packet"]
