"""The replay and the SIP ladder in real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright), at 1366 px and 390 px, in Korean and English, as admin and trainer: the page
fits (a phone gets the narrow drawings, nothing scrolls sideways); no two labels
of the time line overlap (bounding boxes as Chromium lays them out), the cursor never touches
a limit label wherever it stands, the legend is there, a callback breach shows its deadline,
its attempts and the delay, the ladder gives times on the site's clock and hosts, and a
trainer sees numbers masked but Via branches and tags as they are. Screenshots go to
``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from callwatch.store import tables
from test_web_browser import CHROMIUM, browser, server, shot, world  # noqa: F401 (fixtures)
from test_web_support import DemoWorld, call_ids

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
]

OVERLAPS = """() => {
  const texts = Array.from(document.querySelectorAll('svg.cw-timeline text'));
  const boxes = texts.map(t => [t.textContent, t.getBoundingClientRect()])
    .filter(([, r]) => r.width > 0 && r.height > 0);
  const out = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i][1], b = boxes[j][1];
      if (a.left < b.right - 0.5 && b.left < a.right - 0.5 &&
          a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) {
        out.push([boxes[i][0], boxes[j][0]]);
      }
    }
  }
  return {count: boxes.length, overlaps: out};
}"""

CURSOR_HITS = """() => {
  const scrub = document.getElementById('cw-scrub');
  // the drawing the page shows (the wide one, or a phone's narrow one)
  const svg = Array.from(document.querySelectorAll('svg.cw-timeline'))
    .find(s => s.getClientRects().length);
  const cursor = svg.querySelector('.cursor');
  const labels = Array.from(svg.querySelectorAll('.limit text, .interval text'));
  const total = parseFloat(scrub.max);
  const hits = [];
  let steps = 0;
  for (let k = 0; k <= 200; k++) {
    scrub.value = String(total * k / 200);
    scrub.dispatchEvent(new Event('input'));
    const c = cursor.getBoundingClientRect();
    steps++;
    for (const label of labels) {
      const r = label.getBoundingClientRect();
      if (c.left - 1 < r.right && r.left < c.right + 1 && c.top < r.bottom && r.top < c.bottom) {
        hits.push([k, label.textContent]);
      }
    }
  }
  return {steps: steps, labels: labels.length, hits: hits, drawing: svg.classList[1],
          moved: cursor.getAttribute('x1') !== svg.dataset.plotLeft};
}"""


def _calls(demo: DemoWorld) -> dict[str, str]:
    """A late callback (called back after its deadline), a slow transfer, a late answer."""
    late = next(
        cb.call for cb in demo.store.callbacks(status="late") if cb.call.startswith("missed-2h@")
    )
    return {
        "callback": late,
        "transfer": call_ids(demo.store, "slowxfer@")[0],
        "answer": call_ids(demo.store, "answered3@")[0],
    }


def _branches(demo: DemoWorld, call_id: str) -> set[str]:
    doc = demo.store.call(call_id)
    assert doc is not None
    texts = [m.text for m in demo.store.messages(doc["legs"])]
    return {b for t in texts for b in re.findall(r"branch=([^;,\s>]+)", t)}


@pytest.mark.parametrize("role", ["admin", "trainer"])
@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("width", [1366, 390])
def test_replay_labels_cursor_legend_callback_and_ladder(
    browser,  # noqa: F811
    server: str,  # noqa: F811
    world: DemoWorld,  # noqa: F811
    role: str,
    lang: str,
    width: int,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/login")
    page.fill("#token", world.tokens[role])
    page.click("#login-submit")
    page.wait_for_load_state()
    for name, call_id in _calls(world).items():
        page.goto(f"{server}/calls/{quote(call_id, safe='')}?lang={lang}")
        assert page.locator("#cw-replay").count() == 1

        layout = page.evaluate(OVERLAPS)
        assert layout["count"] >= 8
        assert layout["overlaps"] == [], (name, layout["overlaps"])

        legend = page.locator("ul.legend li")
        kinds = [legend.nth(i).get_attribute("data-kind") for i in range(legend.count())]
        assert {"ring", "mark", "limit", "cursor"} <= set(kinds)
        assert all(legend.nth(i).inner_text().strip() for i in range(legend.count()))

        assert page.evaluate("document.documentElement.scrollWidth") <= width
        fits = page.evaluate(
            "() => [...document.querySelectorAll('#cw-replay svg, .ladder svg')]"
            ".filter(s => s.getClientRects().length)"
            ".every(s => s.getBoundingClientRect().right <= s.parentElement"
            ".getBoundingClientRect().right + 0.5)"
        )
        assert fits  # no drawing scrolls sideways inside its card
        hits = page.evaluate(CURSOR_HITS)
        assert hits["drawing"] == ("wide" if width > 700 else "narrow")
        assert hits["moved"]  # the shown drawing's cursor follows the scrub
        assert hits["labels"] >= 1 and hits["steps"] == 201
        assert hits["hits"] == [], (name, hits["hits"][:5])
        shot(page, f"replay-{name}-{role}-{width}-{lang}")

        drawing = page.locator("svg.cw-timeline:visible")  # the one the page shows
        assert drawing.count() == 1
        # the ladder: times on the site's clock, the offset, hosts with ports
        head = page.locator(".ladder-head svg:visible").text_content() or ""
        assert "Asia/Seoul" in head
        assert re.search(r"\d+\.\d+\.\d+\.\d+:\d+", head)
        clocks = page.locator(".cw-ladder-row:visible .clock").all_text_contents()
        assert clocks and all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", c) for c in clocks)
        offsets = page.locator(".cw-ladder-row:visible .at").all_text_contents()
        unit = "초" if lang == "ko" else " s"
        assert offsets[0] == f"+0.000{unit}"
        page.locator("details.msg summary").first.click()
        route = page.locator("details.msg p.route").first.inner_text()
        assert re.search(r":\d+ → .+:\d+ \((UDP|TCP|TLS)\)", route)
        texts = "\n".join(page.locator("details.msg pre").all_text_contents())
        for branch in _branches(world, call_id):
            assert f"branch={branch}" in texts  # never rewritten, for admin or trainer
        caller = world.store.call(call_id)["caller"]
        if role == "trainer":
            assert caller not in texts and re.search(r"\d-\*{3,}-\d{4}", texts)
            lane = drawing.locator(".lane-label").first.text_content() or ""
            assert re.search(r"\d-\*{3,}-\d{4}", lane)
        else:
            assert caller in texts

        if name == "callback":
            deadline = drawing.locator('.limit.breached[data-rule="callback"] text')
            assert deadline.count() == 1
            word = "회신 기한 1시간" if lang == "ko" else "Callback deadline 1 h"
            assert (deadline.text_content() or "").replace("\xa0", " ") == word
            attempts = drawing.locator('.mark[data-kind="callback_attempt"] text')
            assert attempts.count() == 1
            assert ("회신 시도 1" if lang == "ko" else "Callback 1") in (
                attempts.text_content() or ""
            )
            delay = drawing.locator('.interval[data-kind="callback_delay"] text').text_content()
            assert (delay or "").replace("\xa0", " ") == (
                "회신까지 2시간" if lang == "ko" else "Called back after 2 h"
            )
            assert drawing.locator('.mark[data-kind="ended"]').count() == 1  # the missed call
            assert "break" in kinds
            # play it through at 4x: the callback's hours pass in seconds
            page.click('button.speed[data-speed="4"]')
            page.click("#cw-play")
            page.wait_for_function(
                "() => document.getElementById('cw-replay').dataset.state === 'ended'",
                timeout=30_000,
            )
            replay = page.locator("#cw-replay")
            assert "callback" in (replay.get_attribute("data-passed") or "").split()
            readout = page.locator("#cw-readout").inner_text()
            assert re.fullmatch(r"2시간 \d+분" if lang == "ko" else r"2 h \d+ min", readout)
            shot(page, f"replay-{name}-{role}-{width}-{lang}-played")
    assert errors == []
    context.close()


def _one_call_per_fixture(demo: DemoWorld) -> list[str]:
    with demo.store.engine.connect() as conn:
        rows = conn.execute(
            select(func.min(tables.calls.c.id)).group_by(
                func.substr(tables.calls.c.id, 1, func.instr(tables.calls.c.id, "@"))
            )
        )
        return sorted(r[0] for r in rows)


@pytest.mark.parametrize("role", ["admin", "trainer"])
@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("width", [1366, 390])
def test_no_label_overlaps_nor_cursor_on_limit_labels_on_any_call(
    browser,  # noqa: F811
    server: str,  # noqa: F811
    world: DemoWorld,  # noqa: F811
    role: str,
    lang: str,
    width: int,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(server + "/login")
    page.fill("#token", world.tokens[role])
    page.click("#login-submit")
    page.wait_for_load_state()
    calls = _one_call_per_fixture(world)
    assert len(calls) >= 20
    found: dict[str, object] = {}
    for call_id in calls:
        page.goto(f"{server}/calls/{quote(call_id, safe='')}?lang={lang}")
        overlaps = page.evaluate(OVERLAPS)["overlaps"]
        hits = page.evaluate(CURSOR_HITS)["hits"]
        if overlaps or hits:
            found[call_id] = (overlaps[:3], hits[:3])
    assert found == {}
    context.close()
