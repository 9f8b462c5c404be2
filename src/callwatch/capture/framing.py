"""Telling SIP from other bytes, and cutting SIP messages out of a byte stream.

A payload is SIP when its first line is a request line (``METHOD uri SIP/2.0``) or a status line
(``SIP/2.0 NNN``), whatever the ports. On stream transports (TCP, WebSocket carried on TCP) a
message ends ``Content-Length`` bytes after the blank line that ends its headers (RFC 3261
section 18.3; the compact form ``l:`` and any letter case are accepted).
"""

from __future__ import annotations

import re
from typing import Final

from callwatch.packet import MAX_MESSAGE

START_LINE = re.compile(
    rb"(?:[A-Za-z][A-Za-z0-9._!%*+`'~-]* [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 [1-7][0-9][0-9][ \r\n])"
)
"""A SIP request line or status line: what :func:`is_sip` matches at a payload's start."""
_CONTENT_LENGTH: Final = re.compile(
    rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,9})[ \t]*\r?$"
)


def is_sip(payload: bytes) -> bool:
    """True when ``payload`` starts with a SIP request line or status line."""
    return START_LINE.match(payload) is not None


class FramingError(ValueError):
    """A stream holds bytes that cannot be the start of a SIP message, or one too large."""


def split_sip(buf: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """Find the SIP message that begins at ``buf[start:]`` (after any CRLF keep-alives).

    Returns ``(begin, end)`` offsets of the whole message, or None when more bytes are needed.
    Raises :class:`FramingError` when the bytes there are not a SIP message or exceed
    :data:`MAX_MESSAGE`.
    """
    n = len(buf)
    while start < n and buf[start] in (13, 10):
        start += 1
    if start >= n:
        return None
    head_end = buf.find(b"\r\n\r\n", start, start + MAX_MESSAGE)
    sep = 4
    if head_end < 0:
        lf_end = buf.find(b"\n\n", start, start + MAX_MESSAGE)
        if lf_end >= 0:
            head_end, sep = lf_end, 2
    if head_end < 0:
        probe = bytes(buf[start : start + 256])
        if (b"\n" in probe and not is_sip(probe)) or n - start > MAX_MESSAGE:
            raise FramingError("bytes in the stream are not a SIP message")
        return None
    head = bytes(buf[start : head_end + sep])
    if not is_sip(head):
        raise FramingError("bytes in the stream are not a SIP message")
    found = _CONTENT_LENGTH.search(head)
    length = int(found.group(1)) if found else 0
    end = head_end + sep + length
    if end - start > MAX_MESSAGE:
        raise FramingError(f"SIP message of {end - start} bytes is larger than {MAX_MESSAGE}")
    if end > n:
        return None
    return start, end
