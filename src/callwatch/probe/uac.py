"""The probe's side of one call: a small sans-IO SIP caller (UAC) that writes down what it saw.

:class:`ProbeDialer` builds the requests of one probe call (INVITE, its digest retry, ACK,
CANCEL, BYE), reads the replies and requests of its dialog and keeps a :class:`ProbeRecord`:
when the INVITE left, the first ringback (180/183), the answer and who answered, the final
status, the hang-up. It does no I/O and reads no clock: every method takes the time
(integer microseconds, the same scale as capture times) and returns the datagrams to send.
:mod:`callwatch.probe.caller` carries them over pyVoIP's socket.

Why not pyVoIP's own ``VoIPPhone.call``: pyVoIP 1.6.8 drops every 1xx that arrives after its
first reply (so no ringback time), has no CANCEL (a probe that is not answered, or is stopped
while ringing, could not give up), sends no ACK for a final error such as 486 (the PBX
retransmits it), and ACKs a 200 with a fresh To-tag, so the PBX never matches the ACK and
keeps retransmitting the 200. Registration, the socket and the prompt's RTP stay with pyVoIP.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Literal

from callwatch.sip.message import SipMessage, SipParseError, parse_message
from callwatch.sip.uri import parse_name_addr, split_commas
from callwatch.timefmt import iso_or_none, parse_iso

EndedBy = Literal["probe", "pbx", "cancel", "rejected", "timeout", "auth"]
"""Who ended the call: the probe's BYE after talking (``probe``), the PBX's BYE (``pbx``), the
probe's CANCEL while ringing (``cancel``), a final error from the PBX such as 486
(``rejected``), no reply at all (``timeout``), credentials refused (``auth``)."""

T1_US = 500_000  # RFC 3261 timer T1: first retransmission of an unanswered request
MAX_SENDS = 7  # a request is sent at most this many times (64*T1 of backoff in all)
_CHALLENGE = re.compile(r'(\w+)\s*=\s*("([^"]*)"|[^\s,]+)')


@dataclass(slots=True)
class ProbeRecord:
    """What the caller side saw of one probe call (times in microseconds since the epoch)."""

    number: str
    call_id: str
    from_user: str
    from_tag: str
    invite_at: int
    first_ring_at: int | None = None
    ring_status: int | None = None
    answered_at: int | None = None
    answered_by: str | None = None
    final_status: int | None = None
    hangup_at: int | None = None
    ended_at: int | None = None
    ended_by: EndedBy | None = None
    prompt_played: bool = False

    @property
    def ring_seconds(self) -> float | None:
        """Seconds of ringback the caller heard before the answer (None if either is missing)."""
        if self.first_ring_at is None or self.answered_at is None:
            return None
        return round((self.answered_at - self.first_ring_at) / 1_000_000, 6)

    @property
    def answer_seconds(self) -> float | None:
        """Seconds from the INVITE to the answer (None when not answered)."""
        if self.answered_at is None:
            return None
        return round((self.answered_at - self.invite_at) / 1_000_000, 6)

    def to_dict(self) -> dict[str, object]:
        """The record as JSON-ready data: times as ISO 8601 UTC text, durations in seconds."""
        data: dict[str, object] = {}
        for name in _RECORD_FIELDS:
            value = getattr(self, name)
            data[name] = iso_or_none(value) if name.endswith("_at") else value
        data["ring_seconds"] = self.ring_seconds
        data["answer_seconds"] = self.answer_seconds
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ProbeRecord:
        """The record :meth:`to_dict` wrote."""
        values: dict[str, object] = {}
        for name in _RECORD_FIELDS:
            value = data.get(name)
            if name.endswith("_at") and isinstance(value, str):
                value = parse_iso(value)
            values[name] = value
        return cls(**values)  # type: ignore[arg-type]


_RECORD_FIELDS = tuple(f.name for f in fields(ProbeRecord))


@dataclass(slots=True)
class _Pending:
    """A request waiting for its reply, resent on the RFC 3261 backoff."""

    data: bytes
    method: str
    next_at: int
    interval: int = T1_US
    sends: int = 1


@dataclass
class ProbeDialer:
    """One outgoing probe call, from INVITE to the end of the dialog.

    ``local`` is the probe's own SIP address (host, port), ``server`` the PBX's. ``token``
    returns a fresh random token (branches, cnonce): the caller passes ``secrets.token_hex``
    or, in tests, a counter.
    """

    number: str
    user: str
    local: tuple[str, int]
    server: tuple[str, int]
    call_id: str
    from_tag: str
    token: Callable[[], str]
    secret: str | None = None
    rtp_port: int = 0
    display: str = "callwatch probe"
    user_agent: str = "callwatch-probe"
    record: ProbeRecord = field(init=False)
    media: tuple[str, int] | None = field(default=None, init=False)
    errors: int = field(default=0, init=False)
    _cseq: int = field(default=1, init=False)
    _branch: str = field(default="", init=False)
    _invite: bytes = field(default=b"", init=False)
    _pending: _Pending | None = field(default=None, init=False)
    _authorised: bool = field(default=False, init=False)
    _to: str = field(default="", init=False)
    _target: str = field(default="", init=False)
    _routes: tuple[str, ...] = field(default=(), init=False)
    _ack: bytes | None = field(default=None, init=False)
    _cancelled: bool = field(default=False, init=False)
    _hanging_up: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.record = ProbeRecord(self.number, self.call_id, self.user, self.from_tag, 0)
        self._target = f"sip:{self.number}@{self.server[0]}:{self.server[1]}"
        self._to = f"<sip:{self.number}@{self.server[0]}>"

    # ------------------------------------------------------------------ the caller's actions

    @property
    def done(self) -> bool:
        """True once the dialog is over (nothing more will be sent)."""
        return self.record.ended_at is not None and self._pending is None

    @property
    def state(self) -> Literal["calling", "ringing", "answered", "ended"]:
        if self.record.ended_at is not None:
            return "ended"
        if self.record.answered_at is not None:
            return "answered"
        return "ringing" if self.record.first_ring_at is not None else "calling"

    def start(self, at: int) -> bytes:
        """The INVITE (sent at ``at``)."""
        self.record.invite_at = at
        self._branch = self._new_branch()
        self._invite = self._invite_bytes(authorization=None)
        self._pending = _Pending(self._invite, "INVITE", at + T1_US)
        return self._invite

    def hang_up(self, at: int) -> list[bytes]:
        """End the call now: BYE when answered, CANCEL while it rings, nothing once over."""
        state = self.state
        if state == "answered" and not self._hanging_up:
            self._hanging_up = True
            self.record.hangup_at = at
            self._cseq += 1
            bye = self._in_dialog("BYE", self._cseq, self._new_branch())
            self._pending = _Pending(bye, "BYE", at + T1_US)
            return [bye]
        if state in ("calling", "ringing") and not self._cancelled:
            self._cancelled = True
            self.record.hangup_at = at
            cancel = self._cancel_bytes()
            self._pending = _Pending(cancel, "CANCEL", at + T1_US)
            return [cancel]
        return []

    def poll(self, at: int) -> list[bytes]:
        """Retransmissions due at ``at``; ends the call as ``timeout`` when the PBX never
        replies to the INVITE (or to the BYE/CANCEL that should end it)."""
        pending = self._pending
        if pending is None or at < pending.next_at:
            return []
        if pending.sends >= MAX_SENDS:
            self._pending = None
            if self.record.ended_at is None:
                self.record.ended_at = at
                self.record.ended_by = "timeout" if pending.method == "INVITE" else "probe"
            return []
        pending.sends += 1
        pending.interval = min(pending.interval * 2, 4_000_000)
        pending.next_at = at + pending.interval
        return [pending.data]

    # ------------------------------------------------------------------ what arrives

    def receive(self, data: bytes, at: int) -> list[bytes]:
        """Read one datagram of this dialog; returns what must be sent in reply."""
        try:
            message = parse_message(data)
        except SipParseError:
            self.errors += 1
            return []
        if message.call_id != self.call_id:
            return []
        if message.is_request:
            return self._request(message, at)
        return self._response(message, at)

    def _response(self, msg: SipMessage, at: int) -> list[bytes]:
        status = msg.status or 0
        method = msg.cseq_method
        if method in ("BYE", "CANCEL"):
            if self._pending is not None and self._pending.method == method and status >= 200:
                self._pending = None
                if method == "BYE" and self.record.ended_at is None:
                    self.record.ended_at = at
                    self.record.ended_by = "probe"
            return []
        if method != "INVITE" or msg.cseq != self._cseq:
            return []
        if self._pending is not None and self._pending.method == "INVITE":
            self._pending = None  # any reply stops the INVITE's retransmission
        if status < 200:
            if status in (180, 183) and self.record.first_ring_at is None:
                self.record.first_ring_at = at
                self.record.ring_status = status
            return []
        if status < 300:
            return self._answered(msg, at)
        ack = self._ack_error(msg)
        if status in (401, 407) and not self._authorised and self.secret is not None:
            return [ack, self._retry_with_digest(msg, status, at)]
        if self.record.ended_at is None:
            self.record.final_status = status
            self.record.ended_at = at
            if status in (401, 407):
                self.record.ended_by = "auth"
            elif status == 487 and self._cancelled:
                self.record.ended_by = "cancel"
            else:
                self.record.ended_by = "rejected"
        return [ack]

    def _answered(self, msg: SipMessage, at: int) -> list[bytes]:
        if self._ack is not None:  # a retransmitted 200: ACK it again
            return [self._ack]
        record = self.record
        record.answered_at = at
        record.final_status = msg.status
        record.answered_by = _who_answered(msg)
        self._to = msg.header("to") or self._to
        contact = msg.contact
        if contact is not None:
            self._target = str(contact.uri)
        self._routes = tuple(
            reversed([r for value in msg.header_all("record-route") for r in split_commas(value)])
        )
        self.media = _audio_address(msg.body)
        self._ack = self._in_dialog("ACK", self._cseq, self._new_branch())
        if self._cancelled:  # the answer crossed our CANCEL: the call must still be ended
            self._cancelled = False
            return [self._ack, *self.hang_up(at)]
        return [self._ack]

    def _request(self, msg: SipMessage, at: int) -> list[bytes]:
        if msg.method == "ACK":
            return []
        if msg.method == "BYE":
            if self.record.ended_at is None:
                self.record.ended_at = at
                self.record.ended_by = "pbx"
                self._pending = None
            return [_reply(msg, 200, "OK")]
        if msg.method == "OPTIONS":
            return [_reply(msg, 200, "OK")]
        return [_reply(msg, 501, "Not Implemented")]

    # ------------------------------------------------------------------ building requests

    def _new_branch(self) -> str:
        return "z9hG4bK" + self.token()

    def _from(self) -> str:
        return f'"{self.display}" <sip:{self.user}@{self.server[0]}>;tag={self.from_tag}'

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.local[0]}:{self.local[1]};branch={branch};rport"

    def _invite_bytes(self, authorization: str | None) -> bytes:
        host = self.local[0]
        sdp = (
            "v=0\r\n"
            f"o=callwatch-probe {self._cseq} {self._cseq} IN IP4 {host}\r\n"
            "s=callwatch probe\r\n"
            f"c=IN IP4 {host}\r\n"
            "t=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP 0 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-15\r\n"
            "a=ptime:20\r\n"
            "a=sendrecv\r\n"
        ).encode()
        headers = [
            f"INVITE sip:{self.number}@{self.server[0]}:{self.server[1]} SIP/2.0",
            f"Via: {self._via(self._branch)}",
            "Max-Forwards: 70",
            f"From: {self._from()}",
            f"To: <sip:{self.number}@{self.server[0]}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self._cseq} INVITE",
            f"Contact: <sip:{self.user}@{host}:{self.local[1]}>",
            "Subject: callwatch test call",
            f"User-Agent: {self.user_agent}",
            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
        ]
        if authorization:
            headers.append(authorization)
        headers += ["Content-Type: application/sdp", f"Content-Length: {len(sdp)}"]
        return ("\r\n".join(headers) + "\r\n\r\n").encode() + sdp

    def _retry_with_digest(self, challenge: SipMessage, status: int, at: int) -> bytes:
        header = "www-authenticate" if status == 401 else "proxy-authenticate"
        params = _challenge_params(challenge.header(header) or "")
        uri = f"sip:{self.number}@{self.server[0]}:{self.server[1]}"
        answer = digest_authorization(
            params, user=self.user, secret=self.secret or "", method="INVITE", uri=uri,
            cnonce=self.token(),
        )  # fmt: skip
        name = "Authorization" if status == 401 else "Proxy-Authorization"
        self._authorised = True
        self._cseq += 1
        self._branch = self._new_branch()
        self._invite = self._invite_bytes(authorization=f"{name}: {answer}")
        self._pending = _Pending(self._invite, "INVITE", at + T1_US)
        return self._invite

    def _ack_error(self, msg: SipMessage) -> bytes:
        """The ACK of a final error: the INVITE's branch and Request-URI (RFC 3261 17.1.1.3)."""
        lines = [
            f"ACK sip:{self.number}@{self.server[0]}:{self.server[1]} SIP/2.0",
            f"Via: {self._via(self._branch)}",
            "Max-Forwards: 70",
            f"From: {self._from()}",
            f"To: {msg.header('to') or self._to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self._cseq} ACK",
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _cancel_bytes(self) -> bytes:
        lines = [
            f"CANCEL sip:{self.number}@{self.server[0]}:{self.server[1]} SIP/2.0",
            f"Via: {self._via(self._branch)}",
            "Max-Forwards: 70",
            f"From: {self._from()}",
            f"To: <sip:{self.number}@{self.server[0]}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self._cseq} CANCEL",
            f"User-Agent: {self.user_agent}",
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _in_dialog(self, method: str, cseq: int, branch: str) -> bytes:
        lines = [
            f"{method} {self._target} SIP/2.0",
            f"Via: {self._via(branch)}",
            "Max-Forwards: 70",
            *(f"Route: {route}" for route in self._routes),
            f"From: {self._from()}",
            f"To: {self._to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"User-Agent: {self.user_agent}",
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def digest_authorization(
    challenge: dict[str, str], *, user: str, secret: str, method: str, uri: str, cnonce: str
) -> str:
    """The ``Digest ...`` answer to a challenge (RFC 2617/8760, MD5, ``qop=auth`` or none)."""
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    ha1 = _md5(f"{user}:{realm}:{secret}")
    ha2 = _md5(f"{method}:{uri}")
    parts = [
        f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
        "algorithm=MD5",
    ]  # fmt: skip
    qops = [q.strip() for q in challenge.get("qop", "").split(",")]
    if "auth" in qops:
        nc = "00000001"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _challenge_params(header: str) -> dict[str, str]:
    _, _, rest = header.partition(" ")
    return {m.group(1).lower(): m.group(3) if m.group(3) is not None else m.group(2)
            for m in _CHALLENGE.finditer(rest)}  # fmt: skip


def _who_answered(msg: SipMessage) -> str | None:
    """The answering party as the 200 names it: P-Asserted-Identity, then Remote-Party-ID,
    then the Contact's user, then the To user."""
    for name in ("p-asserted-identity", "remote-party-id"):
        value = msg.header(name)
        if value:
            try:
                user = parse_name_addr(value.split(",")[0]).user
            except SipParseError:
                continue
            if user:
                return user
    contact = msg.contact
    if contact is not None and contact.user:
        return contact.user
    return msg.to.user


def _audio_address(body: bytes) -> tuple[str, int] | None:
    """The address and port of the first audio stream of an SDP body, or None."""
    host: str | None = None
    port: int | None = None
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("c=IN IP4 ") and host is None:
            host = line[9:].strip().split("/")[0]
        elif line.startswith("m=audio ") and port is None:
            fields = line.split()
            if len(fields) > 1 and fields[1].isdigit():
                port = int(fields[1])
    if host is None or port is None:
        return None
    return host, port


def _reply(request: SipMessage, status: int, reason: str) -> bytes:
    """A response to an in-dialog request, its Via/From/To/Call-ID/CSeq copied."""
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {via}" for via in request.header_all("via")]
    lines += [
        f"From: {request.header('from')}",
        f"To: {request.header('to')}",
        f"Call-ID: {request.call_id}",
        f"CSeq: {request.cseq} {request.cseq_method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
