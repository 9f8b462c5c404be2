"""The two facts the tracker needs from message bodies: SDP media direction (hold) and the
status line of a ``message/sipfrag`` (transfer progress).

Both read bytes leniently and answer None rather than raise when the body is not what they
look for.
"""

from __future__ import annotations

from typing import Final

_DIRECTIONS: Final = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


def sdp_direction(body: bytes) -> str | None:
    """The media direction of the first audio stream of an SDP body (RFC 4566/3264).

    Answers ``sendrecv``, ``sendonly``, ``recvonly`` or ``inactive``: the media-level
    attribute if any, else the session-level one, else ``sendrecv``. A connection address of
    ``0.0.0.0`` (RFC 2543 hold) counts as ``inactive``. Without an audio stream the first
    stream of any kind is used. None when the body is not SDP or has no ``m=`` line.
    """
    data = bytes(body).lstrip()
    if not data.startswith(b"v="):
        return None
    session_dir: str | None = None
    session_conn: str | None = None
    sections: list[tuple[str, str | None, str | None]] = []  # (media, direction, connection)
    media: str | None = None
    media_dir: str | None = None
    media_conn: str | None = None
    for raw in data.decode("latin-1").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if media is not None:
                sections.append((media, media_dir, media_conn))
            media = line[2:].split(None, 1)[0].lower() if line[2:].strip() else ""
            media_dir = media_conn = None
        elif line.startswith("a="):
            attr = line[2:].strip().lower()
            if attr in _DIRECTIONS:
                if media is None:
                    session_dir = attr
                else:
                    media_dir = attr
        elif line.startswith("c="):
            if media is None:
                session_conn = line[2:]
            else:
                media_conn = line[2:]
    if media is not None:
        sections.append((media, media_dir, media_conn))
    if not sections:
        return None
    chosen = next((s for s in sections if s[0] == "audio"), sections[0])
    _, direction, conn = chosen
    if _is_null_address(conn if conn is not None else session_conn):
        return "inactive"
    return direction or session_dir or "sendrecv"


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a ``message/sipfrag`` body's status line (``SIP/2.0 200 OK``
    → 200); None when the fragment does not start with a status line."""
    data = bytes(body).lstrip()
    line = data[: data.find(b"\n")] if b"\n" in data else data
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].upper().startswith("SIP/"):
        return None
    code = parts[1]
    if len(code) != 3 or not code.isdigit() or not code.isascii():
        return None
    return int(code)


def _is_null_address(conn: str | None) -> bool:
    """True for ``c=IN IP4 0.0.0.0`` (with or without a TTL suffix)."""
    if not conn:
        return False
    fields = conn.split()
    return len(fields) >= 3 and fields[2].split("/")[0] == "0.0.0.0"
