"""Masking of phone numbers: a caller's number is personal data.

Whatever leaves the process for a wide audience (bus payloads of events and breaches, logs)
shows a caller as ``010-****-5678``: the area or mobile prefix and the last four digits, the
middle hidden. Staff extensions and the office's own numbers are not personal and may be shown
as they are; :func:`mask_party` makes that choice with the site directory.

Rules of :func:`mask_number`:

- Separators (``-``, ``.``, spaces, parentheses) are ignored and ``+82`` becomes ``0``.
- Four digits or fewer (extensions, 112, 1350) are not personal: returned unchanged.
- Text that is not a number (``anonymous``, ``s``, empty) is returned unchanged.
- Otherwise the result is ``PREFIX-****-LAST4`` where PREFIX is the Korean area, mobile or
  service prefix (``02``, ``031``..``064``, ``010``..``019``, ``050x``, ``070``, ``080``) and
  the stars stand for each hidden digit; a number without a known prefix keeps only its last
  four digits (``****-5678``, ``*******-5678``). The digit count stays visible, no digit of
  the middle does.
- A value that is not one number (``P01012345678``, ``"홍길동 010.1234.5678"``) has every number
  found in it by :func:`mask_numbers_in` masked.

What counts as a number inside text (:func:`mask_numbers_in`; SIP text, URIs, display names,
Call-IDs, any field a trainer or an export shows):

1. Standing alone (not glued to a letter, digit, ``.``, ``+`` or ``-`` before it, nor to a
   letter or digit after it, nor followed by ``-`` or ``.`` and a further digit):
   a run of 7 to 15 digits, optionally led by ``+``, with single ``-`` between digits
   (``01012345678``, ``+82-10-1234-5678``); or a number grouped the way phone numbers are
   written, with ``-``, ``.`` or spaces and an optional area code in parentheses and
   ``+country`` before it (``010 1234 5678``, ``010.1234.5678``, ``(02) 123-4567``). An IPv4
   address, a date, a time or a dotted id (``1795432603.12``) does not fit these shapes; a
   long digit run that is not a number (an SDP session id) is masked all the same.
2. Glued to letters (``P01012345678``, ``홍길동01012345678``, ``tel-01012345678``): only a
   Korean number shape (``0`` or ``+82``/``82``, a mobile, area or service prefix, then 7-8
   digits, optionally split ``-``/``.``/space as 3-4 and 4 digits).
3. Inside a ``branch=`` or ``tag=`` parameter value: only rule 2's Korean shape, so a Via
   branch or a tag that merely contains digits is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from callwatch.calls.directory import normalize_number

_SHOWN_TAIL = 4

_SEP = r"[-. ]"
_GROUPED = rf"(?:\+\d{{1,3}}{_SEP}?)?(?:\(\d{{1,4}}\){_SEP}?|\d{{1,4}}{_SEP})\d{{3,4}}{_SEP}\d{{4}}"
_RUN = r"\+?\d(?:-?\d){6,14}"
_KOREAN = rf"(?:\+?82-?|0)(?:1[016789]|2|[3-6][1-5]|50\d|70|80){_SEP}?\d{{3,4}}{_SEP}?\d{{4}}"
_ALONE = rf"(?<![\w.+\-])(?<!\d[-.])(?:{_GROUPED}|{_RUN})(?!\w|[-.]\d)"
_GLUED = rf"(?<!\d)(?<!\d[-.]){_KOREAN}(?!\d|[-.]\d)"
NUMBER_IN_TEXT = re.compile(rf"{_ALONE}|{_GLUED}")
"""A phone number inside text (the rules in this module's description)."""
_KOREAN_ONLY = re.compile(_GLUED)
_IDENTIFIER_PARAM = re.compile(r"(?i)(?<![\w-])(?:branch|tag)=([^;,>&\s\"]*)")


def mask_numbers_in(text: str, mask: Callable[[str], str] | None = None) -> str:
    """``text`` with every phone number in it replaced by ``mask(number)`` (default: masked
    by :func:`mask_number`); see this module's description for what counts as a number."""
    fn = mask or _mask_digits
    if not any(c.isdigit() for c in text):
        return text
    out: list[str] = []
    pos = 0
    for param in _IDENTIFIER_PARAM.finditer(text):
        start, end = param.span(1)
        out.append(NUMBER_IN_TEXT.sub(lambda m: fn(m.group(0)), text[pos:start]))
        out.append(_KOREAN_ONLY.sub(lambda m: fn(m.group(0)), text[start:end]))
        pos = end
    out.append(NUMBER_IN_TEXT.sub(lambda m: fn(m.group(0)), text[pos:]))
    return "".join(out)


def mask_number(number: str) -> str:
    """``01012345678`` → ``010-****-5678``; short values unchanged; a value that is not one
    number has the numbers inside it masked (:func:`mask_numbers_in`)."""
    text = normalize_number(number) or ""
    if not text.isdigit() or not text.isascii():
        return mask_numbers_in(number)
    return _mask_digits(number)


def _mask_digits(number: str) -> str:
    """One number (separators allowed) masked; never searches inside it."""
    text = "".join(c for c in (normalize_number(number) or "") if c.isdigit() and c.isascii())
    if len(text) <= _SHOWN_TAIL:
        return number
    tail = text[-_SHOWN_TAIL:]
    head = text[:-_SHOWN_TAIL]
    prefix = _prefix(head)
    hidden = len(head) - len(prefix)
    if hidden <= 0:  # e.g. 02-5678: nothing between prefix and tail; hide the prefix instead
        return "*" * len(head) + "-" + tail
    middle = "*" * hidden
    return f"{prefix}-{middle}-{tail}" if prefix else f"{middle}-{tail}"


def mask_party(user: str | None, is_ours: Callable[[str | None], bool]) -> str | None:
    """``user`` masked unless ``is_ours(user)`` says it is the office's own extension/number."""
    if user is None or is_ours(user):
        return user
    return mask_number(user)


def _prefix(head: str) -> str:
    """The Korean dialling prefix at the start of ``head`` (without the last four digits)."""
    if not head.startswith("0"):
        return ""
    if head.startswith("02"):
        return "02"
    if head.startswith(("050", "030")) and len(head) >= 4:
        return head[:4]
    return head[:3]
