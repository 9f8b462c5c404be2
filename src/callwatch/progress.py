"""A one-line progress bar on stderr for reading large capture files."""

from __future__ import annotations

import sys
from typing import TextIO

_WIDTH = 30
_RECORD_OVERHEAD = 16  # a pcap record header; pcapng blocks are a little larger


class Progress:
    """Shows how much of ``total`` bytes of capture has been read, at most every 1 %.

    Progress is estimated from the captured bytes the reader has counted (frame data plus a
    record header each), so it needs no access to the reader's file position.
    """

    def __init__(self, total: int, out: TextIO | None = None, *, label: str = "reading") -> None:
        self.total = max(total, 1)
        self.out = out if out is not None else sys.stderr
        self.label = label
        self._shown = -1

    def update(self, frames: int, data_bytes: int) -> None:
        """Redraw when the estimate has moved by at least 1 %."""
        done = min(1.0, (data_bytes + frames * _RECORD_OVERHEAD) / self.total)
        percent = int(done * 100)
        if percent == self._shown:
            return
        self._shown = percent
        filled = int(done * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        self.out.write(f"\r{self.label} [{bar}] {percent:3d}%")
        self.out.flush()

    def close(self) -> None:
        """Finish the line (100 %)."""
        if self._shown >= 0:
            self._shown = -1
            self.out.write(f"\r{self.label} [{'#' * _WIDTH}] 100%\n")
            self.out.flush()
