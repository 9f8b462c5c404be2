"""``callwatch ingest --format table``: the calls of a capture for a person to read.

The last column holds each call's verdicts (``answer FAIL 7.0s``), in the order ``judge``
gives them (the rule registry's); its heading names the registered rules.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from callwatch.charter import registry
from callwatch.timefmt import parse_iso

_COLUMNS = (
    ("start", 19),
    ("dir", 8),
    ("caller", 13),
    ("dialled", 11),
    ("department", 10),
    ("ring s", 7),
    ("by", 6),
    ("hangup", 7),
)


def header() -> str:
    """The heading line: the call columns, then the verdicts column naming the rules."""
    verdicts = f"verdicts ({', '.join(registry.names())})"
    return "  ".join(name.ljust(width) for name, width in (*_COLUMNS, (verdicts, 0))).rstrip()


def _pad(text: str, width: int) -> str:
    """Left-justify to ``width`` terminal columns (Hangul takes two columns a character)."""
    cols = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - cols)


def _local(text: str | None, zone: ZoneInfo) -> str:
    if text is None:
        return "-"
    dt = datetime.fromtimestamp(parse_iso(text) / 1_000_000, UTC).astimezone(zone)
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def _verdicts(row: dict[str, Any]) -> str:
    marks = []
    for v in row["verdicts"]:
        mark = "ok" if v["ok"] else "FAIL"
        measured = "" if v["measured"] is None else f" {v['measured']:.1f}s"
        marks.append(f"{v['rule']} {mark}{measured}")
    if row.get("callback"):
        marks.append(f"callback {row['callback']['status']}")
    if not row.get("complete", True):
        reason = row.get("incomplete_reason")
        marks.append(f"(incomplete: {reason})" if reason else "(incomplete)")
    if row.get("pbx_answered") and not row.get("answered_by"):
        marks.append("(answered by the PBX, not staff)")
    return ", ".join(marks) or "-"


def write_table(rows: list[dict[str, Any]], timezone: str, out: TextIO) -> None:
    """Write one line per call, times in the site's time zone."""
    zone = ZoneInfo(timezone)
    out.write(f"# times in {timezone}\n")
    out.write(header() + "\n")
    for row in rows:
        ring = "-" if row["ring_seconds"] is None else f"{row['ring_seconds']:.1f}"
        cells = (
            _local(row["started_at"], zone),
            row["direction"],
            row["caller"] or "-",
            row["dialled"] or "-",
            row["department"] or "-",
            ring,
            row["answered_by"] or "-",
            row["hangup_by"] or "-",
            _verdicts(row),
        )
        widths = (*(w for _, w in _COLUMNS), 0)
        line = "  ".join(_pad(str(c), w) for c, w in zip(cells, widths, strict=True))
        out.write(line.rstrip() + "\n")
    out.write(f"# {len(rows)} calls\n")
