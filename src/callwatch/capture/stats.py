"""Counters a capture source keeps: frames in, SIP packets out, what was skipped and why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class CaptureStats:
    """What a reader or listener saw.

    ``frames`` counts frames (or datagrams) read and ``bytes`` their captured bytes; ``packets``
    counts SIP packets handed on. ``skipped`` counts input that is fine but not SIP, by kind
    (``non_ip``, ``non_sip``, ``rtp``, ``rtcp``, ...); ``errors`` counts input that is broken,
    by kind (``truncated_frame``, ``bad_ip_header``, ``bad_hep``, ...).
    """

    frames: int = 0
    packets: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def skip(self, kind: str, n: int = 1) -> None:
        """Count ``n`` items of ``kind`` skipped as not SIP."""
        self.skipped[kind] = self.skipped.get(kind, 0) + n

    def error(self, kind: str, n: int = 1) -> None:
        """Count ``n`` broken items of ``kind``."""
        self.errors[kind] = self.errors.get(kind, 0) + n
