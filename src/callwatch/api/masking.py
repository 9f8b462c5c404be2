"""Masking of caller numbers in whatever the API hands a trainer.

:class:`Masker` walks a JSON-ready value (dicts, lists, strings) and masks every number that is
not the office's own (a staff extension or a department number stays as it is):

- a string that is a number (``01012345678``, ``+82 10-1234-5678``) becomes
  ``010-****-5678`` (:func:`callwatch.privacy.mask_number`);
- inside any other string (SIP text, URIs, details), every run of 7 or more digits (a leading
  ``+`` and ``-`` between digits allowed, not glued to letters, dots or other digits) is
  masked the same way (a date, ``2026-11-23``, is not a number): the user parts of ``From``,
  ``To``, ``Contact``, ``P-Asserted-Identity`` and the Request-URI, display names, ``tel:``
  URIs. Long digit runs that are not numbers (an SDP session id, a tag) get masked too:
  harmless for a replay.

Identifiers (``id``, ``call``, ``call_id``, ``leg``, ``sip_call_id``, ``legs``,
``correlation``) are kept as the PBX made them, so a masked document still links to its call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from callwatch.privacy import mask_number

_DIGITS = re.compile(r"(?<![\w.])\+?\d(?:-?\d){6,}(?![\w.]|-\d)")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^\+?[\d\-. ()]+$")
IDENTIFIERS = frozenset({"id", "call", "call_id", "leg", "sip_call_id", "legs", "correlation"})


class Masker:
    """Masks numbers that ``is_ours`` does not claim for the office."""

    def __init__(self, is_ours: Callable[[str | None], bool]) -> None:
        self._is_ours = is_ours

    def number(self, value: str | None) -> str | None:
        """One party: masked unless it is the office's own (or not a number)."""
        if value is None or _DATE.match(value) or self._is_ours(value):
            return value
        return mask_number(value)

    def text(self, value: str) -> str:
        """A free text with every foreign number in it masked."""
        if _NUMBER.match(value):
            return self.number(value) or value
        return _DIGITS.sub(lambda m: self.number(m.group(0)) or m.group(0), value)

    def value(self, value: Any, key: str | None = None) -> Any:
        """A JSON-ready value with every foreign number masked (a new value; the given one is
        left as it is)."""
        if isinstance(value, str):
            return value if key in IDENTIFIERS else self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v, k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v, key) for v in value]
        return value
