"""Masking of caller numbers in whatever the API and the pages hand a trainer (and in exports).

:class:`Masker` walks a JSON-ready value (dicts, lists, strings) and masks every number that is
not the office's own (a staff extension or a department number stays as it is):

- a string that is a number (``01012345678``, ``+82 10-1234-5678``, ``010 1234 5678``) becomes
  ``010-****-5678`` (:func:`callwatch.privacy.mask_number`);
- inside any other string (SIP text, URIs, display names, details), every number that
  :func:`callwatch.privacy.mask_numbers_in` finds is masked the same way (the rule is written
  there: runs of 7-15 digits standing alone, numbers grouped like phone numbers, Korean
  numbers glued to letters such as ``P01012345678`` or ``홍길동01012345678``; Via branches and
  tags are left alone unless they hold a Korean number). A date, ``2026-11-23``, is kept.

Identifiers (``id``, ``call``, ``call_id``, ``leg``, ``sip_call_id``, ``legs``,
``correlation``) without a number in them are kept as the PBX made them, so a masked document
still links to its call. One that holds a number (``01012345678-1@pbx``) becomes a reference
(:meth:`Masker.identifier`, ``ref-...``): the identifier sealed with this process's key, which
the API and the pages open again (:meth:`Masker.resolve`) to serve that call; it reveals
nothing without the key and stops working when the service restarts. An export, which links
nowhere, masks the number inside the identifier instead (:meth:`Masker.text`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any

from callwatch.privacy import mask_number, mask_numbers_in

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^\+?[\d\-. ()]+$")
IDENTIFIERS = frozenset({"id", "call", "call_id", "leg", "sip_call_id", "legs", "correlation"})
REF_PREFIX = "ref-"
_PROCESS_KEY = secrets.token_bytes(32)
_NONCE = 16


class Masker:
    """Masks numbers that ``is_ours`` does not claim for the office; seals identifiers that
    hold one with ``key`` (default: a key made when this process started)."""

    def __init__(self, is_ours: Callable[[str | None], bool], key: bytes | None = None) -> None:
        self._is_ours = is_ours
        self._key = key or _PROCESS_KEY

    def number(self, value: str | None) -> str | None:
        """One party: masked unless it is the office's own (or holds no number)."""
        if value is None or _DATE.match(value) or self._is_ours(value):
            return value
        return mask_number(value)

    def text(self, value: str) -> str:
        """A free text with every foreign number in it masked."""
        if _NUMBER.match(value):
            return self.number(value) or value
        return mask_numbers_in(value, lambda n: self.number(n) or n)

    def identifier(self, value: str) -> str:
        """``value`` when it holds no foreign number, else a reference to it (``ref-...``)."""
        if self.text(value) == value:
            return value
        data = value.encode("utf-8")
        nonce = hmac.new(self._key, b"nonce" + data, hashlib.sha256).digest()[:_NONCE]
        sealed = bytes(a ^ b for a, b in zip(data, self._stream(nonce, len(data)), strict=True))
        return REF_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def resolve(self, value: str) -> str | None:
        """The identifier a reference from :meth:`identifier` stands for; ``value`` itself when
        it is not a reference; None for a reference this process did not make."""
        if not value.startswith(REF_PREFIX):
            return value
        text = value[len(REF_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            return None
        nonce, sealed = raw[:_NONCE], raw[_NONCE:]
        if len(nonce) != _NONCE:
            return None
        data = bytes(a ^ b for a, b in zip(sealed, self._stream(nonce, len(sealed)), strict=True))
        check = hmac.new(self._key, b"nonce" + data, hashlib.sha256).digest()[:_NONCE]
        if not hmac.compare_digest(check, nonce):
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def value(self, value: Any, key: str | None = None) -> Any:
        """A JSON-ready value with every foreign number masked and identifiers that hold one
        sealed (a new value; the given one is left as it is)."""
        if isinstance(value, str):
            return self.identifier(value) if key in IDENTIFIERS else self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v, k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v, key) for v in value]
        return value

    def _stream(self, nonce: bytes, size: int) -> bytes:
        blocks = (
            hmac.new(self._key, b"stream" + nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
            for i in range((size + 31) // 32)
        )
        return b"".join(blocks)[:size]
