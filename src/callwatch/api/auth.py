"""API tokens and roles: who may read what.

A token reads ``cw_<id>_<secret>``: ``id`` (12 hex digits) names its row, ``secret`` is 32
random bytes, URL-safe base64. The database keeps the SHA-256 of the whole token, compared in
constant time with :func:`hmac.compare_digest`; the token itself is printed once, at creation.
Tokens travel as ``Authorization: Bearer <token>``. A token may have an expiry, after which it
is refused like a revoked one; each accepted use is recorded as its last use (at most once a
minute per token, and never at the cost of the request: a failed write is logged and skipped).

Roles:

- ``admin``: everything.
- ``lead``: the departments listed on the token; any other department is refused (403) and
  lists (calls, breaches, callbacks, compliance) hold only theirs.
- ``trainer``: breaches and call timelines (and the live feed) only, with every caller number
  masked (``010-****-5678``) wherever it appears, SIP text included.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from callwatch.store.auth_tables import api_tokens
from callwatch.timefmt import utc

Role = Literal["admin", "lead", "trainer"]
ROLES: tuple[Role, ...] = get_args(Role)

log = logging.getLogger(__name__)

LAST_USE_STEP_US = 60_000_000
"""A token's last use is written again only when the one recorded is older than this."""

_PREFIX = "cw"
_TOKEN = re.compile(r"^cw_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")


class TokenError(Exception):
    """A token cannot be created, found or revoked as asked."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a valid token: its role and, for a lead, its departments."""

    token_id: str
    role: Role
    departments: frozenset[str] = frozenset()
    name: str = ""

    @property
    def masks_numbers(self) -> bool:
        """Whether caller numbers are masked in everything this holder reads."""
        return self.role == "trainer"

    def may_read(self, department: str | None) -> bool:
        """Whether this holder may read ``department``'s data (None: calls with none)."""
        if self.role != "lead":
            return True
        return department is not None and department in self.departments

    def scope(self, department: str | None) -> list[str] | None:
        """The departments a query must keep to: ``[department]`` when one is asked (the caller
        checks :meth:`may_read` first), a lead's own when none is, None for everything."""
        if department is not None:
            return [department]
        if self.role == "lead":
            return sorted(self.departments)
        return None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token as listings show it (never the secret)."""

    id: str
    role: Role
    departments: tuple[str, ...]
    name: str
    created_us: int
    revoked_us: int | None = None
    expires_us: int | None = None
    last_used_us: int | None = None

    @property
    def active(self) -> bool:
        """Not revoked (it may still have expired: :meth:`state`)."""
        return self.revoked_us is None

    def state(self, now_us: int) -> Literal["active", "revoked", "expired"]:
        """``revoked``, ``expired`` (its expiry is at or before ``now_us``) or ``active``."""
        if self.revoked_us is not None:
            return "revoked"
        if self.expires_us is not None and self.expires_us <= now_us:
            return "expired"
        return "active"


def digest(token: str) -> str:
    """The SHA-256 (hex) kept for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Create, list, revoke and check tokens in the store's ``api_tokens`` table.

    ``clock`` gives the wall-clock time in microseconds (creation and revocation stamps).
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], int] | None = None) -> None:
        self.engine = engine
        self._clock = clock or (lambda: time.time_ns() // 1000)
        self._use_failed = False

    def create(
        self,
        role: str,
        departments: Iterable[str] = (),
        name: str = "",
        expires_us: int | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new token: its record and the token text (shown once; only its hash is kept),
        accepted until ``expires_us`` (None: until revoked).

        Raises :class:`TokenError` for an unknown role, a lead without departments,
        departments given to another role, or an expiry that is not in the future.
        """
        if role not in ROLES:
            raise TokenError(f"unknown role {role!r} (use one of: {', '.join(ROLES)})")
        depts = tuple(dict.fromkeys(d.strip() for d in departments if d.strip()))
        if role == "lead" and not depts:
            raise TokenError("a lead token needs at least one --department")
        if role != "lead" and depts:
            raise TokenError(f"departments apply to lead tokens only, not to {role}")
        now = self._clock()
        if expires_us is not None and expires_us <= now:
            raise TokenError("the expiry must be in the future")
        token_id = secrets.token_hex(6)
        token = f"{_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        record = TokenRecord(
            token_id,
            role,
            depts,
            name.strip(),
            now,
            expires_us=expires_us,
        )
        with self.engine.begin() as conn:
            conn.execute(
                api_tokens.insert().values(
                    id=token_id,
                    digest=digest(token),
                    role=role,
                    departments=list(depts),
                    name=record.name,
                    created_at=utc(now),
                    created_us=now,
                    expires_at=None if expires_us is None else utc(expires_us),
                    expires_us=expires_us,
                )
            )
        return record, token

    def list(self) -> list[TokenRecord]:
        """Every token, oldest first (revoked ones included)."""
        query = select(api_tokens).order_by(api_tokens.c.created_us, api_tokens.c.id)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def revoke(self, token_id: str) -> TokenRecord:
        """Revoke the token ``token_id`` (its id, or the whole token); return its record.

        Raises :class:`TokenError` when there is no such token. Revoking twice is harmless.
        """
        match = _TOKEN.match(token_id.strip())
        key = match.group(1) if match else token_id.strip()
        now = self._clock()
        t = api_tokens.c
        with self.engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(t.id == key, t.revoked_us.is_(None))
                .values(revoked_at=utc(now), revoked_us=now)
            )
            row = conn.execute(select(api_tokens).where(t.id == key)).mappings().first()
        if row is None:
            raise TokenError(f"no token with id {key!r}")
        return _record(row)

    def holder(self, token_id: str) -> tuple[Principal, str] | None:
        """The holder of the valid token ``token_id`` and its stored digest (what a page
        session is bound to), or None when it is unknown, revoked or expired."""
        if not re.fullmatch(r"[0-9a-f]{12}", token_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(_CHECK.where(api_tokens.c.id == token_id)).first()
        if row is None:
            return None
        principal = self._accept(token_id, row)
        return None if principal is None else (principal, row[0])

    def verify(self, token: str) -> Principal | None:
        """The holder of ``token``, or None when it is malformed, unknown, revoked or
        expired."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(_CHECK.where(api_tokens.c.id == match.group(1))).first()
        if row is None:
            hmac.compare_digest(digest(token), digest(""))  # same work for unknown ids
            return None
        if not hmac.compare_digest(digest(token), row[0]):
            return None
        return self._accept(match.group(1), row)

    def _accept(self, token_id: str, row: Any) -> Principal | None:
        """The principal of a stored row that is still valid now (its use recorded), or None."""
        _, role, departments, name, revoked, expires, last_used = row
        now = self._clock()
        if revoked is not None or role not in ROLES or (expires is not None and expires <= now):
            return None
        if last_used is None or now - last_used >= LAST_USE_STEP_US:
            self._record_use(token_id, now)
        return Principal(token_id, role, frozenset(departments or ()), name)

    def _record_use(self, token_id: str, now: int) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id == token_id)
                    .values(last_used_at=utc(now), last_used_us=now)
                )
        except SQLAlchemyError as exc:  # a busy database: the request goes on without it
            level = logging.DEBUG if self._use_failed else logging.WARNING
            self._use_failed = True
            log.log(level, "token %s: last use not recorded: %s", token_id, exc)


_t = api_tokens.c
_CHECK = select(
    _t.digest, _t.role, _t.departments, _t.name, _t.revoked_us, _t.expires_us, _t.last_used_us
)


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        role=row["role"],
        departments=tuple(row["departments"] or ()),
        name=row["name"],
        created_us=row["created_us"],
        revoked_us=row["revoked_us"],
        expires_us=row["expires_us"],
        last_used_us=row["last_used_us"],
    )
