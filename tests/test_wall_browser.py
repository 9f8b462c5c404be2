"""The wallboard in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright)
against a running ``callwatch serve`` fed HEP over UDP from the fixture captures, stamped
now: a call rings (shown on every page, masked for the trainer, then gone when answered), its
breach is pushed and rendered as the server renders it, a missed call opens a callback whose
countdown ticks and turns overdue (民원 follows a test charter with a 30 s callback
deadline), and the page's stream is cut (a TCP proxy between the browsers and the service)
while a call is judged: the pages reconnect, catch up, and hold each item once, with the
same figures as a page drawn afresh. Pages: admin at 1366 px in Korean, the lead of 민원 at
390 px in English, a trainer at 1366 px in English, the lead of 세무 at 390 px in Korean.
Screenshots go to ``test-artifacts/``.

No assertion depends on the wall clock: the test waits for the pages' state with
Playwright's waiting functions."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from callwatch.capture import Packet, encode_hep3, read_capture
from test_e2e_serve import BIN, FIXTURES, ROOT, Serve

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 40_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
]

FAST_CHARTER = """
id = "fastcb"
source_file = "-"
[name]
ko = "시험 헌장"
en = "Test charter"
[cadence]
on_s = 1.0
off_s = 2.0
[answer]
before_ring = 3
source = "전화는 벨이 3번 울리기 전에 받겠습니다."
[hangup]
caller_first = true
source = "고객이 먼저 끊은 뒤 끊겠습니다."
[callback]
deadline_min = 0.5
deadline_clock = "wall"
keeps = "answered"
keeps_why = "a test charter: 30 s to call back"
source = "30초 안에 전화를 드리겠습니다."
"""


class Proxy:
    """A TCP proxy on a fixed port that can be cut (connections reset, listener closed)
    and opened again."""

    def __init__(self, target: int) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.listener: socket.socket | None = None
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()

    def open(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def cut(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.listener = None
        with self.lock:
            for c in self.conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self.conns.clear()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.conns |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)


def stamped(name: str, start: float) -> list[Packet]:
    """A fixture's packets at their own pace, the first at ``start`` (s, wall clock)."""
    packets = list(read_capture(FIXTURES / f"{name}.pcap"))
    shift = int(start * 1e6) - packets[0].ts
    return [replace(p, ts=p.ts + shift) for p in packets]


def send(packets: list[Packet], port: int) -> None:
    """Each packet as HEP when its time comes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in packets:
            delay = p.ts / 1e6 - time.time()
            if delay > 0:
                time.sleep(delay)
            s.sendto(encode_hep3(p), ("127.0.0.1", port))


def write_site(folder: Path) -> Path:
    text = (ROOT / "examples" / "site.toml").read_text(encoding="utf-8")
    text = text.replace('name = "naju-cityhall"', f'name = "wall-{uuid.uuid4().hex[:8]}"')
    text = text.replace('# profiles = ["my-charter.toml"]', 'profiles = ["fastcb.toml"]')
    text = text.replace(
        'numbers = ["0613390000", "2000"]', 'numbers = ["0613390000", "2000"]\ncharter = "fastcb"'
    )
    (folder / "fastcb.toml").write_text(FAST_CHARTER, encoding="utf-8")
    path = folder / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def ready(serve: Serve, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert serve.proc.poll() is None, serve.stderr()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{serve.url}/readyz").status_code == 200:
                return
        assert time.monotonic() < deadline, "callwatch serve never became ready"
        time.sleep(0.1)


def token(serve: Serve, site_file: Path, role: str, *departments: str) -> str:
    args = [str(BIN / "callwatch"), "token", "create", "--role", role, "--config", str(site_file)]
    for d in departments:
        args += ["--department", d]
    out = subprocess.run(args, env=serve.env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Proxy, dict]]:
    folder = tmp_path_factory.mktemp("wall")
    site_file = write_site(folder)
    serve = Serve(site_file, folder / "data")
    try:
        ready(serve)
        tokens = {
            "admin": token(serve, site_file, "admin"),
            "lead": token(serve, site_file, "lead", "민원"),
            "lead_tax": token(serve, site_file, "lead", "세무"),
            "trainer": token(serve, site_file, "trainer"),
        }
        proxy = Proxy(serve.http_port)
        proxy.open()
        yield serve, proxy, tokens
    finally:
        serve.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            serve.proc.wait(30)
        if serve.proc.poll() is None:
            serve.proc.kill()
            serve.proc.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def figures(page) -> dict[str, dict[str, str]]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.figure')].map(card =>
            [card.dataset.department, Object.fromEntries([...card.querySelectorAll('[data-figure]')]
              .map(c => [c.dataset.figure, c.textContent.trim()]))]))"""
    )


def wait_live(page) -> None:
    page.wait_for_function(
        "() => document.getElementById('live-state').dataset.state === 'live'", timeout=WAIT_MS
    )


UNMASKED = re.compile(r"010-?1234-?5678")


def test_wallboard_live(browser, service) -> None:
    serve, proxy, tokens = service
    base = f"http://127.0.0.1:{proxy.port}"
    pages = {}
    errors: list[str] = []
    views = {
        "admin": (1366, "ko"),
        "lead": (390, "en"),
        "trainer": (1366, "en"),
        "lead_tax": (390, "ko"),
    }
    for who, (width, lang) in views.items():
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/login?next=/wall%3Flang%3D{lang}")
        page.fill("#token", tokens[who])
        page.click("#login-submit")
        page.wait_for_url("**/wall?lang=*")
        wait_live(page)
        pages[who] = page
    admin, lead, trainer, tax = pages["admin"], pages["lead"], pages["trainer"], pages["lead_tax"]
    assert admin.locator("h1").inner_text().startswith("오늘의 전화 상황")
    assert lead.locator("h1").inner_text().startswith("Today on the phone")
    assert trainer.locator("#figures").count() == 0 and trainer.locator("#callbacks").count() == 0
    assert tax.locator(".figure").count() == 1 and lead.locator(".figure").count() == 1
    before = figures(admin)
    assert before["민원"]["calls"] == "0"

    # a call rings for 7 s, then it is answered: the answer rule is breached
    packets = stamped("answered_3rd_ring", time.time() + 0.5)
    sender = threading.Thread(target=send, args=(packets, serve.hep_port))
    sender.start()
    for page in (admin, lead, trainer):
        page.wait_for_selector('#ringing-list li.ringing[data-department="민원"]', timeout=WAIT_MS)
    assert "2001" in admin.locator("#ringing-list li").first.inner_text()
    assert "01012345678" in admin.locator("#ringing-list li").first.inner_text()
    assert "010-****-5678" in trainer.locator("#ringing-list li").first.inner_text()
    assert "ringing" in lead.locator("#ringing-list .ringing-for").first.inner_text()
    first = admin.locator("#ringing-list .ringing-for").first.inner_text()
    admin.wait_for_function(
        "t => document.querySelector('#ringing-list .ringing-for').textContent !== t",
        arg=first,
        timeout=WAIT_MS,
    )  # it ticks
    shot(admin, "wall-ringing-ko-1366")
    shot(trainer, "wall-ringing-trainer-en-1366")
    sender.join(30)
    for page in (admin, lead, trainer):
        page.wait_for_selector('#feed-list li.breach[data-rule="answer"]', timeout=WAIT_MS)
        page.wait_for_function(
            "() => !document.querySelector('#ringing-list li')", timeout=WAIT_MS
        )  # answered: no longer ringing
    text = admin.locator('#feed-list li.breach[data-rule="answer"]').first.inner_text()
    assert "응답" in text and "민원" in text and "7초 (벨 3회)" in text.replace("7.0", "7")
    assert "01012345678" in text and "answer" not in text
    en = lead.locator('#feed-list li.breach[data-rule="answer"]').first.inner_text()
    assert "Civil Affairs" in en and "민원" not in en and "rings" in en
    masked = trainer.locator('#feed-list li.breach[data-rule="answer"]').first.inner_text()
    assert "010-****-5678" in masked and not UNMASKED.search(trainer.content())
    assert tax.locator('#feed-list li[data-rule="answer"]').count() == 0  # not their department
    assert figures(admin)["민원"]["calls"] == "1" and figures(lead)["민원"]["breaches"] == "1"

    # a missed call: a callback due in 30 s, counting down, then overdue
    send(stamped("caller_cancels", time.time() + 0.2), serve.hep_port)
    for page in (admin, lead):
        page.wait_for_selector("#callbacks-body tr.callback", timeout=WAIT_MS)
    cell = admin.locator("#callbacks-body tr.callback .countdown").first
    first = cell.inner_text()
    assert "남음" in first
    admin.wait_for_function(
        "t => document.querySelector('#callbacks-body .countdown').textContent !== t",
        arg=first,
        timeout=WAIT_MS,
    )
    shot(admin, "wall-countdown-ko-1366")
    shot(lead, "wall-countdown-en-390")
    for page in (admin, lead):
        page.wait_for_function(
            "() => document.querySelector('#callbacks-body .countdown').dataset.state"
            " === 'overdue'",
            timeout=WAIT_MS,
        )
    assert "지남" in cell.inner_text()
    assert "overdue" in lead.locator("#callbacks-body .countdown").first.inner_text()
    assert figures(admin)["민원"]["callbacks"] == "1"
    for page in (admin, lead, trainer):  # the deadline passed: the callback breach is pushed
        page.wait_for_selector('#feed-list li.breach[data-rule="callback"]', timeout=WAIT_MS)
    shot(admin, "wall-overdue-ko-1366")

    # the stream is cut while a call is judged; the pages catch up when it comes back
    proxy.cut()
    for page in pages.values():
        page.wait_for_function(
            "() => document.getElementById('live-state').dataset.state === 'reconnecting'",
            timeout=WAIT_MS,
        )
    shot(lead, "wall-reconnecting-en-390")
    send(stamped("agent_hangs_up_first", time.time() + 0.2), serve.hep_port)
    admin_headers = {"Authorization": f"Bearer {tokens['admin']}"}
    for _ in range(300):  # judged and published while the pages are away
        r = httpx.get(f"{serve.url}/api/breaches?rule=hangup", headers=admin_headers)
        if r.status_code == 200 and r.json()["items"]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the hang-up breach was never stored")
    proxy.open()
    for page in (admin, lead, trainer):
        wait_live(page)
        page.wait_for_selector('#feed-list li.breach[data-rule="hangup"]', timeout=WAIT_MS)
    wait_live(tax)
    for page in (admin, lead, trainer):
        for rule in ("answer", "callback", "hangup"):
            assert page.locator(f'#feed-list li.breach[data-rule="{rule}"]').count() == 1, rule
    live_figures = figures(admin)
    assert live_figures["민원"]["calls"] == "3", live_figures
    shot(admin, "wall-caught-up-ko-1366")
    shot(trainer, "wall-caught-up-trainer-en-1366")
    shot(tax, "wall-lead-tax-ko-390")
    admin.reload()
    wait_live(admin)
    assert figures(admin) == live_figures  # what the page counted live is what the store holds
    lead.reload()
    assert lead.evaluate("document.documentElement.scrollWidth") <= 390
    assert errors == []
    for page in pages.values():
        page.context.close()


def test_the_wallboard_is_served_under_the_pages_csp(service) -> None:
    serve, _, tokens = service
    with httpx.Client(base_url=serve.url, follow_redirects=False) as client:
        client.post("/login", data={"token": tokens["trainer"], "next": "/wall"})
        r = client.get("/wall")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<script>" not in r.text and "<script src=" in r.text
