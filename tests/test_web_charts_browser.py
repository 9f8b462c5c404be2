"""The pages' charts in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright)
at 1366 px and 390 px, in Korean and English, as admin and as a one-department lead, on the
dashboard (pass-rate trend) and the department page (calls by hour):

- exactly one drawing of each chart shows, never wider than its card;
- every legend and tick text comes out between 12 CSS px and the size of the tables' text:
  the font size is read from the glyphs' rendered transform (chart text is drawn as paths, one
  em is 100 glyph units), and the glyph box's height is checked against it;
- each data point carries a ``<title>`` tooltip (week, rule, rate with %, counts; or the
  hour's counts) that the pointer reaches (``elementFromPoint`` at each marker's centre);
  points of one week that overlap share one tooltip, a line each;
- the trend has a dashed target line at the 100% tick, labelled in the legend in the page's
  language.

Screenshots go to a temporary folder (its path is printed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_web_browser import CHROMIUM, browser, server, world  # noqa: F401 (fixtures)
from test_web_support import DemoWorld

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
]

MEASURE = """() => {
  const comment = (g) => {
    for (const n of g.childNodes) if (n.nodeType === Node.COMMENT_NODE) return n.data.trim();
    return "";
  };
  const charts = [];
  for (const chart of document.querySelectorAll(".chart")) {
    const shown = [...chart.querySelectorAll(":scope > svg")]
      .filter((s) => s.getClientRects().length);
    const out = { shown: shown.length, card: chart.getBoundingClientRect().width };
    charts.push(out);
    if (shown.length !== 1) continue;
    const svg = shown[0];
    out.width = svg.getBoundingClientRect().width;
    out.texts = [];
    for (const g of svg.querySelectorAll('g[id^="text_"]')) {
      const glyphs = g.querySelector(":scope > g[transform]");
      if (!glyphs) continue;
      const m = glyphs.getScreenCTM();
      out.texts.push({
        text: comment(g),
        legend: !!g.closest('[id^="legend_"]'),
        px: Math.hypot(m.a, m.b) * 100,
        height: g.getBoundingClientRect().height,
      });
    }
    out.tips = [];
    for (const tip of svg.querySelectorAll("g.tip")) {
      const r = tip.getBoundingClientRect();
      const title = tip.querySelector(":scope > title");
      // every marker of the tip (points that overlap share one) is under the pointer at its centre
      let reached = r.width > 0 && r.height > 0;
      for (const mark of tip.querySelectorAll("use, path")) {
        let m = mark.getBoundingClientRect();
        if (!m.width || !m.height) continue;
        window.scrollTo(0, Math.max(0, scrollY + m.top - innerHeight / 2));
        m = mark.getBoundingClientRect();
        const hit = document.elementFromPoint(m.left + m.width / 2, m.top + m.height / 2);
        reached = reached && !!hit && tip.contains(hit);
      }
      out.tips.push({ title: title ? title.textContent : null, reached, height: r.height });
    }
    const target = svg.querySelector("g.target path");
    if (target) {
      const r = target.getBoundingClientRect();
      const dash = target.getAttribute("stroke-dasharray");
      out.target = { y: r.top + r.height / 2, width: r.width, dash };
      for (const tick of svg.querySelectorAll('g[id^="ytick_"]')) {
        const label = tick.querySelector('g[id^="text_"]');
        const mark = tick.querySelector("use");
        if (label && mark && comment(label) === "100%") {
          const t = mark.getBoundingClientRect();
          out.target.tick = t.top + t.height / 2;
        }
      }
    }
  }
  return charts;
}"""
"""Per ``.chart``: how many drawings show, and in the shown one its texts' rendered font size,
its tooltips and its target line."""

TABLE_TEXT = """() => parseFloat(getComputedStyle(document.querySelector("main td")).fontSize)"""

TREND_TIP = {
    "ko": re.compile(r"^\d{4}-W\d{2} · \S.*: \d+\.\d% \((\d+)건 중 (\d+)건 준수\)$"),
    "en": re.compile(r"^\d{4}-W\d{2} · \S.*: \d+\.\d% \((\d+) of (\d+) kept\)$"),
}
HOUR_TIP = {
    "ko": re.compile(r"^\d{1,2}시: 응답 \d+건, 못 받은 전화 \d+건$"),
    "en": re.compile(r"^\d{1,2}:00: \d+ answered, \d+ missed$"),
}
TARGET_LABEL = {"ko": "목표 100%", "en": "Target 100%"}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chart-shots")
    print(f"screenshots: {folder}")
    return folder


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("role", ["admin", "lead"])
def test_charts_readable_with_tooltips_and_target(
    browser,  # noqa: F811
    server: str,  # noqa: F811
    world: DemoWorld,  # noqa: F811
    shots: Path,
    role: str,
    width: int,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 860})
    page = context.new_page()
    page.goto(server + "/login")
    page.fill("#token", world.tokens[role])
    page.click("#login-submit")
    page.wait_for_load_state()
    problems: list[str] = []
    for lang in ("ko", "en"):
        for name, path in (("dashboard", "/"), ("department", "/departments/세무?week=2026-W47")):
            sep = "&" if "?" in path else "?"
            page.goto(f"{server}{path}{sep}lang={lang}")
            where = f"{role} {width}px {lang} {name}"
            page.screenshot(path=str(shots / f"{role}-{width}-{lang}-{name}.png"), full_page=True)
            table = page.evaluate(TABLE_TEXT)
            charts = page.evaluate(MEASURE)
            expected = 1 if name == "department" or role == "lead" else 2
            assert len(charts) == expected, where
            for chart in charts:
                assert chart["shown"] == 1, f"{where}: {chart['shown']} drawings shown"
                assert 0 < chart["width"] <= chart["card"] + 0.5, where
                texts = chart["texts"]
                assert any(t["legend"] for t in texts) and any(not t["legend"] for t in texts)
                for t in texts:
                    if not 12 <= t["px"] <= table + 0.01:
                        problems.append(
                            f"{where}: {t['text']!r} at {t['px']:.1f} px (table {table} px)"
                        )
                    assert 0.4 * t["px"] < t["height"] < 1.4 * t["px"], (where, t)
                tips = chart["tips"]
                assert tips, f"{where}: no tooltips"
                pattern = (TREND_TIP if name == "dashboard" else HOUR_TIP)[lang]
                for tip in tips:
                    for line in (tip["title"] or "").split("\n"):
                        match = pattern.match(line)
                        assert match, f"{where}: tooltip {line!r}"
                        if name == "dashboard":
                            first, second = map(int, match.groups())
                            judged, kept = (first, second) if lang == "ko" else (second, first)
                            assert 0 <= kept <= judged and judged > 0
                # the pointer reaches every point of the trend (bars of 0 calls have no box)
                for tip in tips:
                    if tip["height"] > 0:
                        assert tip["reached"], f"{where}: {tip['title']!r} out of reach"
                labels = [t["text"] for t in texts if t["legend"]]
                if name == "dashboard":
                    target = chart.get("target")
                    assert target, f"{where}: no target line"
                    assert TARGET_LABEL[lang] in labels, (where, labels)
                    assert target["dash"], where
                    assert target["width"] > 0.6 * chart["width"], where
                    assert abs(target["y"] - target["tick"]) < 1, (where, target)
                else:
                    assert labels == (
                        ["응답", "못 받은 전화"] if lang == "ko" else ["Answered", "Missed"]
                    )
    context.close()
    assert problems == []
