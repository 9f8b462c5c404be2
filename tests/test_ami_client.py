"""The manager (AMI) client against a local asyncio TCP server speaking the recorded bytes.

The server plays Asterisk's side of a real socket: its banner, the answer to the login and the
events of ``sip_fixtures/asterisk/anonymous_caller.ami.txt`` exactly as Asterisk 22 sent them
(CRLF, ``timestampevents = yes``), cut into small writes. A server that drops the connection,
refuses the login or falls silent shows the reconnection with backoff. The live service reads
the same stream beside Asterisk's HEP and joins the withheld caller's legs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from callwatch.capture import CaptureStats, encode_hep3, read_capture
from callwatch.config import load_site
from callwatch.pbx.ami import AmiClient, AmiParser, Backoff, read_ami_file
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.records import call_builtins as call_to_dict
from callwatch.service import Service
from callwatch.settings import Settings, SettingsError, load_settings
from callwatch.sip.ami import AmiEvent
from test_asterisk_fixtures import ASTERISK, ROOT, _spec, check_calls

FLOW = "anonymous_caller"
RECORDED = (ASTERISK / f"{FLOW}.ami.txt").read_bytes()
USER, SECRET = "callwatch", "fixture-only"


def _split(text: bytes) -> tuple[bytes, bytes, list[bytes]]:
    """The recorded stream as banner, login answer and event blocks (the logoff dropped)."""
    banner, rest = text.split(b"\r\n", 1)
    blocks = [b + b"\r\n\r\n" for b in rest.split(b"\r\n\r\n") if b.strip()]
    login = blocks.pop(0)
    events = [b for b in blocks if b.startswith(b"Event: ")]
    return banner + b"\r\n", login, events


BANNER, LOGIN_OK, EVENT_BLOCKS = _split(RECORDED)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class FakeManager:
    """A TCP server on loopback: each connection runs ``script(reader, writer, n)``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.received: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeManager:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"tcp://{host}:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client left, or the test is over
        finally:
            writer.close()


async def login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Send the banner, read the Login action, answer as Asterisk does; True when accepted."""
    writer.write(BANNER)
    action = await reader.readuntil(b"\r\n\r\n")
    fields = dict(line.split(": ", 1) for line in action.decode().split("\r\n") if ": " in line)
    assert fields["Action"] == "Login" and fields["Events"] == "on"
    ok = fields["Username"] == USER and fields["Secret"] == SECRET
    refused = (
        b"Response: Error\r\nActionID: callwatch-fixture\r\nMessage: Authentication failed\r\n\r\n"
    )
    answer = LOGIN_OK if ok else refused
    writer.write(answer.replace(b"callwatch-fixture", fields["ActionID"].encode()))
    await writer.drain()
    return ok


async def send_in_pieces(writer: asyncio.StreamWriter, data: bytes, size: int = 37) -> None:
    for i in range(0, len(data), size):
        writer.write(data[i : i + size])
        await writer.drain()


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def recorded_events() -> list[tuple[int, str, tuple[tuple[str, str], ...]]]:
    return [(e.ts, e.name, e.fields) for e in read_ami_file(ASTERISK / f"{FLOW}.ami.txt")]


def client(url: str, got: list[AmiEvent], **kw: object) -> AmiClient:
    return AmiClient(url, USER, SECRET, got.append, **kw)  # type: ignore[arg-type]


async def test_the_client_reads_asterisks_bytes_over_a_real_socket():
    async def serve(reader, writer, n):
        if await login(reader, writer):
            await send_in_pieces(writer, b"".join(EVENT_BLOCKS))
            await reader.read()  # stay up until the client leaves

    got: list[AmiEvent] = []
    async with FakeManager(serve) as manager:
        ami = client(manager.url, got)
        await ami.start()
        await until(lambda: len(got) == len(EVENT_BLOCKS), "every event read")
        assert ami.status()[0] and ami.stats.connects == 1
        await ami.close()
    assert [(e.ts, e.name, e.fields) for e in got] == recorded_events()
    # What the socket gave, with the capture, gives the expected call.
    spec = _spec(FLOW)
    pipe = CallPipeline(load_site(ROOT / spec["site"]))
    packets = list(read_capture(ASTERISK / f"{FLOW}.hep.pcap", CaptureStats()))
    judged = []
    for item in sorted([*packets, *got], key=lambda i: i.ts):
        judged += [o for o in pipe.push(item) if isinstance(o, JudgedCall)]
    judged += [o for o in pipe.flush() if isinstance(o, JudgedCall)]
    check_calls([call_to_dict(j.call, j.profile, *pipe.as_now(j)) for j in judged], spec)


async def test_a_dropped_connection_is_made_again_after_the_backoff():
    half = len(EVENT_BLOCKS) // 2

    async def serve(reader, writer, n):
        if await login(reader, writer):
            if n == 1:  # half the events and a block cut in two, then the line drops
                await send_in_pieces(writer, b"".join(EVENT_BLOCKS[:half]))
                await send_in_pieces(writer, EVENT_BLOCKS[half][:50])
                return
            await send_in_pieces(writer, b"".join(EVENT_BLOCKS[half:]))
            await reader.read()

    got: list[AmiEvent] = []
    async with FakeManager(serve) as manager:
        ami = client(manager.url, got, backoff=Backoff(0.01, 0.08))
        await ami.start()
        await until(lambda: len(got) == len(EVENT_BLOCKS), "the rest after reconnecting")
        await ami.close()
    assert manager.connections == 2
    assert ami.stats.connects == 2 and ami.stats.drops == 1
    assert ami.delays == [0.01]
    assert [(e.ts, e.name, e.fields) for e in got] == recorded_events()


async def test_a_refused_login_is_retried_ever_later_and_the_secret_never_logged(caplog):
    caplog.set_level(logging.DEBUG)

    async def serve(reader, writer, n):
        await login(reader, writer)

    got: list[AmiEvent] = []
    async with FakeManager(serve) as manager:
        ami = AmiClient(manager.url, USER, "wrong-secret", got.append, backoff=Backoff(0.01, 0.04))
        await ami.start()
        await until(lambda: len(ami.delays) >= 5, "five attempts")
        up, detail = ami.status()
        await ami.close()
    assert ami.delays[:5] == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert not up and "login refused: Authentication failed" in detail
    assert ami.stats.connects == 0 and got == []
    assert "wrong-secret" not in caplog.text


async def test_a_quiet_manager_is_pinged_and_a_silent_one_left():
    async def serve(reader, writer, n):
        if await login(reader, writer):
            while data := await reader.read(1000):
                manager.received.append(data)

    got: list[AmiEvent] = []
    async with FakeManager(serve) as manager:
        ami = client(
            manager.url, got, backoff=Backoff(0.01, 0.01), ping_every=0.05, idle_timeout=0.2
        )
        await ami.start()
        await until(lambda: manager.connections >= 2, "a new connection after the silence")
        await ami.close()
    assert b"Action: Ping\r\n" in b"".join(manager.received)
    assert ami.stats.drops >= 1


async def test_nobody_listening_is_retried_with_backoff():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    got: list[AmiEvent] = []
    ami = client(f"tcp://127.0.0.1:{port}", got, backoff=Backoff(0.01, 0.02))
    await ami.start()
    await until(lambda: len(ami.delays) >= 3, "three attempts")
    up, detail = ami.status()
    await ami.close()
    assert ami.delays[:3] == [0.01, 0.02, 0.02]
    assert not up and "refused" in detail.lower()


def test_the_parser_takes_any_cut_of_the_stream():
    whole = AmiParser().feed(RECORDED)
    parser = AmiParser()
    pieces = [b for i in range(len(RECORDED)) for b in parser.feed(RECORDED[i : i + 1])]
    assert pieces == whole and parser.banner == "Asterisk Call Manager/11.0.0"
    lf = AmiParser().feed(RECORDED.replace(b"\r\n", b"\n"))
    assert lf == whole


def test_an_endless_line_is_cut_and_counted_not_kept():
    parser = AmiParser()
    blocks = parser.feed(b"Event: X\r\nTimestamp: 1.5\r\nJunk: " + b"a" * 200_000)
    blocks += parser.feed(b"\r\n\r\n")
    assert parser.problems["line too long"] >= 1
    assert len(blocks) == 1 and len(blocks[0][2][1]) < 70_000


async def test_the_service_reads_the_manager_beside_hep(tmp_path: Path):
    """``serve --ami``: HEP over UDP and the manager over TCP into one pipeline; the withheld
    caller's trunk leg and 2001's leg make one answered call; readiness names the manager."""

    async def serve(reader, writer, n):
        if await login(reader, writer):
            await send_in_pieces(writer, b"".join(EVENT_BLOCKS), size=500)
            await reader.read()

    packets = list(read_capture(ASTERISK / f"{FLOW}.hep.pcap", CaptureStats()))
    spec = _spec(FLOW)
    site = load_site(ROOT / spec["site"])
    judged: list[JudgedCall] = []

    class Sink:
        name = "recorder"

        async def start(self) -> None: ...

        def submit(self, items) -> None:
            judged.extend(o for o in items if isinstance(o, JudgedCall))

        async def close(self) -> None: ...

        def status(self):
            from callwatch.sinks import PartStatus

            return PartStatus(True, "recording")

    async with FakeManager(serve) as manager:
        settings = Settings(
            hep_host="127.0.0.1",
            hep_port=0,
            data_dir=tmp_path,
            ami_url=manager.url,
            ami_user=USER,
            ami_secret=SECRET,
        )
        service = Service(site, settings, sinks=[Sink()], wall_clock=lambda: packets[0].ts)
        await service.start()
        assert service.hep_address is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for p in packets:
                s.sendto(encode_hep3(p), service.hep_address)
        await until(lambda: service.sources["hep"].packets == len(packets), "every datagram")
        every = f"({len(EVENT_BLOCKS)} events)"
        await until(lambda: service.readiness()["ami"].detail.endswith(every), "every event")
        ready = service.readiness()["ami"]
        await service.stop()
    assert ready.ready and ready.detail.startswith("connected to manager")
    check_calls([call_to_dict(j.call, j.profile, j.verdicts, j.callback) for j in judged], spec)


async def test_the_service_wants_the_managers_user_from_the_environment(tmp_path: Path):
    from callwatch.service import ServiceError

    settings = Settings(hep_host="127.0.0.1", hep_port=0, ami_url="tcp://127.0.0.1:5038")
    service = Service(load_site(ROOT / _spec(FLOW)["site"]), settings)
    with pytest.raises(ServiceError, match="CALLWATCH_AMI_USER and CALLWATCH_AMI_SECRET"):
        await service.start()


def test_the_managers_user_and_secret_come_from_the_environment_only(tmp_path: Path):
    env = {
        "CALLWATCH_AMI_URL": "tcp://192.0.2.20",
        "CALLWATCH_AMI_USER": "callwatch",
        "CALLWATCH_AMI_SECRET": "s3cret",
    }
    settings = load_settings(None, env)
    assert (settings.ami_url, settings.ami_user, settings.ami_secret) == (
        "tcp://192.0.2.20",
        "callwatch",
        "s3cret",
    )
    assert "s3cret" not in repr(settings)
    site = tmp_path / "site.toml"
    site.write_text('[service]\nami_url = "http://pbx"\nami_secret = "s3cret"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(site, {})
    problems = "\n".join(caught.value.problems)
    assert "service.ami_secret: set it in the environment (CALLWATCH_AMI_SECRET)" in problems
    assert "is not a manager (AMI) URL (tcp://127.0.0.1:5038)" in problems


@pytest.mark.asterisk
def test_the_client_against_a_real_asterisk(tmp_path: Path):
    """The client logged in to a fresh Asterisk 22 (the fixtures' office, its read-only
    manager user) while a withheld caller's call runs: it reads the very events the fixture
    recorder reads, and with the fresh HEP they give the expected call."""
    import os
    import shutil
    import threading

    from test_asterisk_fixtures import REGEN

    if os.geteuid() != 0:
        pytest.skip("tcpdump needs root")
    missing = [t for t in ("sipp", "tcpdump") if not shutil.which(t)]
    if missing or not (REGEN.PREFIX / "sbin" / "asterisk").is_file():
        pytest.skip(f"needs Asterisk at {REGEN.PREFIX} and {', '.join(missing) or 'sipp'}")
    got: list[AmiEvent] = []
    loop = asyncio.new_event_loop()
    url = f"tcp://{REGEN.PBX_IP}:{REGEN.AMI_PORT}"
    ami = AmiClient(url, REGEN.AMI_USER, REGEN.AMI_SECRET, got.append, ping_every=1.0)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with REGEN.asterisk(tmp_path / "asterisk"), REGEN.hep_sink():
            asyncio.run_coroutine_threadsafe(ami.start(), loop).result(10)
            for _ in range(500):
                if ami.connected:
                    break
                threading.Event().wait(0.01)
            assert ami.connected, ami.last_error
            REGEN.record(REGEN.FLOWS[FLOW], tmp_path / "logs", tmp_path)
            asyncio.run_coroutine_threadsafe(ami.close(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    recorded = [(e.ts, e.name, e.fields) for e in read_ami_file(tmp_path / f"{FLOW}.ami.txt")]
    assert [(e.ts, e.name, e.fields) for e in got][: len(recorded)] == recorded
    assert not ami.stats.refused and ami.stats.drops == 0
    spec = _spec(FLOW)
    pipe = CallPipeline(load_site(ROOT / spec["site"]))
    packets = list(read_capture(tmp_path / f"{FLOW}.hep.pcap", CaptureStats()))
    judged = []
    for item in sorted([*packets, *got], key=lambda i: i.ts):
        judged += [o for o in pipe.push(item) if isinstance(o, JudgedCall)]
    judged += [o for o in pipe.flush() if isinstance(o, JudgedCall)]
    check_calls([call_to_dict(j.call, j.profile, *pipe.as_now(j)) for j in judged], spec)
