"""``callwatch export --format csv``: the calls' JSON flattened into one CSV row each.

Nested objects become dotted columns (``callback.status``); lists of plain values are joined
with spaces (``legs``); lists of objects (``transfers``, ``verdicts``) are kept whole as JSON
text, and each rule registered at import (:mod:`callwatch.charter.registry`, in its order)
also gets a column ``verdict.<rule>`` holding ``ok`` or ``breach`` (joined
with spaces when a call has several verdicts of one rule). True/false are ``true``/``false``;
a missing value is an empty cell.

Every CSV cell callwatch writes (this export and the reports' tables) goes through
:func:`spreadsheet_cell`, so a caller, Call-ID or extension that starts like a formula
(``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``) opens in a spreadsheet as text, never as a
formula.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from typing import Any, TextIO

from callwatch.charter.registry import RULE_NAMES

CSV_FIELDS = (
    "call",
    "direction",
    "caller",
    "dialled",
    "department",
    "charter",
    "started_at",
    "first_ring_at",
    "answered_at",
    "answered_by",
    "ring_seconds",
    "rings",
    "ended_at",
    "hangup_by",
    "missed",
    "end_reason",
    "complete",
    "correlation",
    "legs",
    "transfers",
    "callback.due_at",
    "callback.called_back_at",
    "callback.by",
    "callback.delay_seconds",
    "callback.status",
    "callback.opened_at",
    "callback.number",
    *(f"verdict.{rule}" for rule in RULE_NAMES),
    "verdicts",
)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def spreadsheet_cell(value: Any) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text, never runs as a formula.

    The OWASP rule: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a leading apostrophe (``'=HYPERLINK(...)``). A plain number (``-3.5``, ``+8210...``) is
    not a formula and stays as it is. None is an empty cell; True/False are ``true``/``false``.
    """
    text = _cell(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def flatten_call(row: dict[str, Any]) -> dict[str, str]:
    """One call of ``callwatch ingest``'s JSON as CSV cells keyed by :data:`CSV_FIELDS`."""
    out: dict[str, str] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                out[f"{key}.{sub}"] = _cell(inner)
        elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            out[key] = " ".join(_cell(v) for v in value)
        elif isinstance(value, list):
            out[key] = json.dumps(value, ensure_ascii=False) if value else ""
        else:
            out[key] = _cell(value)
    outcomes: dict[str, list[str]] = {}
    for verdict in row.get("verdicts") or ():
        outcomes.setdefault(verdict["rule"], []).append("ok" if verdict["ok"] else "breach")
    for rule, seen in outcomes.items():
        out[f"verdict.{rule}"] = " ".join(seen)
    return {name: spreadsheet_cell(out.get(name, "")) for name in CSV_FIELDS}


def export_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write calls (``callwatch ingest``'s JSON) to ``out`` as CSV with a header row, every cell
    through :func:`spreadsheet_cell`; return how many rows were written."""
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(flatten_call(row))
        count += 1
    return count


def export_jsonl(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write calls one JSON object per line, exactly as ``callwatch ingest`` prints them."""
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
