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
"""

from __future__ import annotations

from collections.abc import Callable

from callwatch.calls.directory import normalize_number

_SHOWN_TAIL = 4


def mask_number(number: str) -> str:
    """``01012345678`` → ``010-****-5678``; short and non-numeric values unchanged."""
    text = normalize_number(number) or ""
    if not text.isdigit() or not text.isascii() or len(text) <= _SHOWN_TAIL:
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
