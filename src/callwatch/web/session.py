"""The pages' session cookie: a signed reference to a token, never the token itself.

``/login`` checks the API token once; the cookie then holds ``ID.EXPIRES.MAC``: the token's id
(not secret), the session's end (Unix seconds) and an HMAC-SHA256, under a key made when the
process starts, of both and of the token's stored digest. Each request opens it again with the
token's current row, so a revoked token ends its sessions at once, and a cookie stolen from a
browser is not an API bearer token. Sessions end after :data:`SESSION_SECONDS` and when the
service restarts (a new key): log in again.

The cookie is ``HttpOnly`` and ``SameSite=Strict``, and ``Secure`` whenever the request came
over HTTPS: the app's own scheme, or ``X-Forwarded-Proto: https`` from a reverse proxy whose
address is listed in ``$CALLWATCH_TRUSTED_PROXIES`` (comma-separated IP addresses; the header
is ignored from anyone else).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable

from fastapi import Request

from callwatch.api.auth import Principal

SESSION_SECONDS = 12 * 3600
ENV_TRUSTED_PROXIES = "CALLWATCH_TRUSTED_PROXIES"
_PROCESS_KEY = secrets.token_bytes(32)

Holder = Callable[[str], "tuple[Principal, str] | None"]


def seal(token_id: str, digest: str, *, key: bytes = _PROCESS_KEY, now: float | None = None) -> str:
    """The cookie value of a session for the token ``token_id`` whose stored digest is
    ``digest``."""
    expires = int(time.time() if now is None else now) + SESSION_SECONDS
    return f"{token_id}.{expires}.{_mac(key, token_id, expires, digest)}"


def open_session(
    value: str | None, holder: Holder, *, key: bytes = _PROCESS_KEY, now: float | None = None
) -> Principal | None:
    """The holder of the session cookie ``value``; None when it is missing, malformed,
    forged, expired, or its token is revoked."""
    if not value or value.count(".") != 2:
        return None
    token_id, expires_text, mac = value.split(".")
    if not expires_text.isdigit() or int(expires_text) < (time.time() if now is None else now):
        return None
    found = holder(token_id)
    if found is None:
        return None
    principal, digest = found
    if not hmac.compare_digest(mac, _mac(key, token_id, int(expires_text), digest)):
        return None
    return principal


def is_https(request: Request, environ: dict[str, str] | None = None) -> bool:
    """Whether ``request`` reached the service over HTTPS (directly, or through a trusted
    reverse proxy's ``X-Forwarded-Proto``)."""
    if request.url.scheme == "https":
        return True
    trusted = {
        a.strip()
        for a in (environ if environ is not None else os.environ)
        .get(ENV_TRUSTED_PROXIES, "")
        .split(",")
        if a.strip()
    }
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return peer in trusted and forwarded == "https"


def _mac(key: bytes, token_id: str, expires: int, digest: str) -> str:
    raw = hmac.new(key, f"{token_id}.{expires}.{digest}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
