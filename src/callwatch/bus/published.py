"""What the publisher has taken for good: the ids of breach messages published or spooled.

Why: after a crash the service replays its packet journal (:mod:`callwatch.journal`) and the
core gives back every output of the records after the journal's checkpoint, some of which
the publisher had already published (or spooled, to be sent by the next run). The publisher
drops a replayed breach whose id is recorded here and publishes the others. An id is recorded
once the broker acknowledged the breach (or it was spooled), never before, so nothing is lost;
a breach acknowledged in the instant before the process died can go out once more, with the
same id (QoS 1 consumers drop repeated ids).

A file of JSON lines ``[position, id]``: the journal position of the record the breach came
from, and its id (:mod:`callwatch.bus.payloads`: deterministic, the same breach always has
the same id). One ``os.write`` per breach, no fsync: it survives the process being killed, as
the journal does. Entries at or before the journal's checkpoint are never asked about again
(the replay does not hand their outputs out), so :meth:`PublishedLog.forget_through` drops
them and the file is rewritten once most of it is forgotten: it holds about as many breaches
as the sinks had not yet taken when the process died. A torn last line is skipped.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

_COMPACT_AT = 1024


class PublishedLog:
    """Breach ids taken for good, by journal position, kept in ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.errors = 0
        self._ids: dict[str, int] = {}
        self._lines = 0
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        for line in text.splitlines():
            try:
                position, ident = json.loads(line)
                self._ids[str(ident)] = int(position)
            except (ValueError, TypeError):
                continue  # a line cut short by the kill
            self._lines += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if text and not text.endswith("\n"):
            os.write(self._fd, b"\n")  # end the torn line: the next entry starts clean

    def __contains__(self, ident: object) -> bool:
        return ident in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, position: int, ident: str) -> None:
        """Record that the breach ``ident`` from journal record ``position`` is taken."""
        if ident in self._ids:
            return
        self._ids[ident] = position
        line = json.dumps([position, ident], ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            os.write(self._fd, line.encode())
        except OSError as exc:
            if not self.errors:
                log.error("cannot record a published breach in %s: %s", self.path, exc)
            self.errors += 1
            return
        self._lines += 1

    def forget_through(self, position: int) -> None:
        """Forget the breaches of records up to ``position``; rewrite the file once most of
        its lines are forgotten."""
        stale = [ident for ident, at in self._ids.items() if at <= position]
        for ident in stale:
            del self._ids[ident]
        if self._lines < _COMPACT_AT or self._lines < 2 * len(self._ids):
            return
        tmp = self.path.with_suffix(".tmp")
        text = "".join(
            json.dumps([at, ident], ensure_ascii=False, separators=(",", ":")) + "\n"
            for ident, at in self._ids.items()
        )
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            log.error("cannot rewrite %s: %s", self.path, exc)
            return
        os.close(self._fd)
        self._fd = fd
        self._lines = len(self._ids)

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
