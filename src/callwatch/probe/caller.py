"""The probe phone: a pyVoIP user agent registered to the PBX that places probe calls.

pyVoIP 1.6.8 does what it does well here: the REGISTER with its digest answer, the refresh
before the registration expires and the de-registration on stop (``SIPClient``), the UDP
socket and its receive thread, and the RTP stream that plays the prompt (``RTPClient``).
The INVITE dialog itself is run by :class:`callwatch.probe.uac.ProbeDialer` (why: its
docstring): :class:`_ProbeSIPClient` hands every datagram of a probe dialog to it, stamped
the moment it is read, before pyVoIP's own parser sees it; anything else goes to pyVoIP as
usual. pyVoIP's receive loop polls its socket every 10 ms, so a stamp can be up to about
10 ms late.

:meth:`ProbePhone.call` blocks for the length of one call (run it in a thread from asyncio).
:meth:`ProbePhone.abort` may be called from any thread (a SIGTERM handler): the call in
progress is ended at once, with BYE when answered and CANCEL while it rings.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import pyVoIP.VoIP  # noqa: F401  (pyVoIP.SIP cannot be imported first: circular import)
from pyVoIP import RTP, SIP
from pyVoIP.VoIP.status import PhoneStatus
from pyVoIP.VoIP.VoIP import VoIPPhone

from callwatch.probe.uac import ProbeDialer, ProbeRecord
from callwatch.sip.message import SipParseError, parse_message

_TICK_S = 0.02
_LOOP_START_S = 1.1
_REGISTER_WAIT_S = 10.0


class ProbeError(RuntimeError):
    """The probe phone could not register or place its call."""


@dataclass(frozen=True, slots=True)
class ProbeAccount:
    """Where the probe phone lives and how it signs in (the secret comes from the environment)."""

    server: str
    port: int
    user: str
    secret: str
    bind: str
    sip_port: int = 5060
    rtp_ports: tuple[int, int] = (33000, 33099)


class _Holder:
    """The ``phone`` pyVoIP's SIPClient writes its registration state to."""

    def __init__(self) -> None:
        self._status = PhoneStatus.INACTIVE


class _ProbeSIPClient(SIP.SIPClient):
    """pyVoIP's SIP client, with the datagrams of probe dialogs routed to the probe."""

    def __init__(self, account: ProbeAccount, holder: _Holder) -> None:
        super().__init__(
            account.server, account.port, account.user, account.secret,
            phone=cast(VoIPPhone, holder),  # SIPClient only reads and sets phone._status
            myIP=account.bind, myPort=account.sip_port, callCallback=self._ignore,
            fatalCallback=self._fatal,
        )  # fmt: skip
        self.dialers: dict[str, ProbeDialer] = {}
        self.lock = threading.Lock()
        self.failed = False

    def recv(self) -> None:
        raw = self.s.recv(8192)  # BlockingIOError goes back to pyVoIP's loop, as in pyVoIP
        at = time.time_ns() // 1000
        try:
            call_id = parse_message(raw).call_id
        except SipParseError:
            call_id = None
        dialer = self.dialers.get(call_id) if call_id else None
        if dialer is None:
            self._pyvoip(raw)
            return
        with self.lock:
            replies = dialer.receive(raw, at)
        for data in replies:
            self.out.sendto(data, (self.server, self.port))

    def _pyvoip(self, raw: bytes) -> None:
        # pyVoIP raises five kinds of error on what it cannot read; none of it is a probe's
        with contextlib.suppress(Exception):
            self.parse_message(SIP.SIPMessage(raw))

    def _ignore(self, message: Any) -> None:
        """Requests and replies outside probe dialogs (pyVoIP answers BYE/CANCEL itself)."""

    def _fatal(self) -> None:
        self.failed = True


class ProbePhone:
    """A registered pyVoIP phone that places probe calls, one at a time."""

    def __init__(self, account: ProbeAccount) -> None:
        self.account = account
        self._holder = _Holder()
        self._client = _ProbeSIPClient(account, self._holder)
        self._abort = threading.Event()
        self._busy = threading.Lock()

    def start(self) -> None:
        """Bind the socket and register; raise :class:`ProbeError` when the PBX refuses."""
        try:
            self._client.start()
        except OSError as exc:
            raise ProbeError(
                f"cannot bind {self.account.bind}:{self.account.sip_port}: {exc}"
            ) from exc
        # pyVoIP retries a failed REGISTER by itself (three tries) on its timer thread
        deadline = time.monotonic() + _REGISTER_WAIT_S
        while not self.registered and time.monotonic() < deadline and not self._client.failed:
            time.sleep(_TICK_S)
        if not self.registered:
            self.stop()
            raise ProbeError(
                f"registration of {self.account.user!r} at "
                f"{self.account.server}:{self.account.port} failed"
            )
        time.sleep(_LOOP_START_S)  # pyVoIP starts reading its socket one second after start()

    def stop(self) -> None:
        """De-register and close the socket."""
        self._client.stop()

    @property
    def registered(self) -> bool:
        return self._holder._status == PhoneStatus.REGISTERED and not self._client.failed

    def abort(self) -> None:
        """End the call in progress now (BYE or CANCEL); safe from any thread."""
        self._abort.set()

    def call(
        self,
        number: str,
        *,
        answer_limit_s: float = 30.0,
        talk_s: float = 4.0,
        prompt: bytes | None = None,
    ) -> ProbeRecord:
        """Call ``number``; wait up to ``answer_limit_s`` for the answer (then CANCEL), play
        ``prompt`` (8-bit unsigned, 8 kHz) if given, hang up ``talk_s`` after the answer."""
        with self._busy:
            self._abort.clear()
            client = self._client
            rtp_port = secrets.choice(range(self.account.rtp_ports[0], self.account.rtp_ports[1]))
            dialer = ProbeDialer(
                number=number, user=self.account.user,
                local=(self.account.bind, self.account.sip_port),
                server=(self.account.server, self.account.port),
                call_id=f"probe-{secrets.token_hex(12)}@{self.account.bind}",
                from_tag=secrets.token_hex(6), token=lambda: secrets.token_hex(10),
                secret=self.account.secret, rtp_port=rtp_port,
            )  # fmt: skip
            client.dialers[dialer.call_id] = dialer
            rtp: RTP.RTPClient | None = None
            try:
                rtp = self._run(dialer, answer_limit_s, talk_s, prompt)
            finally:
                if rtp is not None:
                    rtp.stop()
                client.dialers.pop(dialer.call_id, None)
            return dialer.record

    def _run(
        self, dialer: ProbeDialer, answer_limit_s: float, talk_s: float, prompt: bytes | None
    ) -> RTP.RTPClient | None:
        client = self._client
        rtp: RTP.RTPClient | None = None

        def send(datagrams: list[bytes]) -> None:
            for data in datagrams:
                client.out.sendto(data, (client.server, client.port))

        with client.lock:
            send([dialer.start(_now())])
        give_up_at = dialer.record.invite_at + round(answer_limit_s * 1e6)
        hang_up_at: int | None = None
        stop_waiting_at: int | None = None
        while not dialer.done:
            time.sleep(_TICK_S)
            now = _now()
            with client.lock:
                send(dialer.poll(now))
                state = dialer.state
                if self._abort.is_set() or (state in ("calling", "ringing") and now >= give_up_at):
                    send(dialer.hang_up(now))
                if state == "answered":
                    if hang_up_at is None:
                        hang_up_at = (dialer.record.answered_at or now) + round(talk_s * 1e6)
                        rtp = self._play(dialer, prompt)
                    if now >= hang_up_at:
                        send(dialer.hang_up(now))
            if dialer.record.hangup_at is not None and stop_waiting_at is None:
                stop_waiting_at = now + 40_000_000  # the request's own backoff ends sooner
            if stop_waiting_at is not None and now > stop_waiting_at:
                break
        return rtp

    def _play(self, dialer: ProbeDialer, prompt: bytes | None) -> RTP.RTPClient | None:
        if prompt is None or dialer.media is None:
            return None
        host, port = dialer.media
        rtp = RTP.RTPClient(
            {0: RTP.PayloadType.PCMU}, self.account.bind, dialer.rtp_port, host, port,
            RTP.TransmitType.SENDRECV,
        )  # fmt: skip
        rtp.start()
        rtp.write(prompt)
        dialer.record.prompt_played = True
        return rtp


def _now() -> int:
    return time.time_ns() // 1000
