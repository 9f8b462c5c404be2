"""The ko/en string catalogue shared by reports, pages and the API: rule names, statuses,
units and report wording. Korean is the default language.

``t(key, lang, **params)`` looks a key up and fills ``{name}`` placeholders with
:meth:`str.format`. An unknown key raises :class:`UnknownKey` (a programming error a test
should catch, not something to hide); an unsupported language raises :class:`UnknownLanguage`.
User input such as ``?lang=en-US`` goes through :func:`normalize_lang` first, which never
fails. Every key has both languages (a test checks it).

The rules' titles (``rule.<name>``) come from :mod:`callwatch.charter.registry`, read at each
look-up, so a registered rule has its title here without an entry of its own. Durations are
worded as the charters word them (``10초``, ``30분``, ``1시간``): :func:`duration`.
"""

from __future__ import annotations

import re
from typing import Literal

from callwatch.charter import registry
from callwatch.charter.registry import RULE_NAMES
from callwatch.charter.verdict import Detail, parse_detail

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")
DEFAULT_LANG: Lang = "ko"


class I18nError(KeyError):
    """Base class of catalogue errors."""


class UnknownKey(I18nError):
    """A key that is not in the catalogue."""


class UnknownLanguage(I18nError):
    """A language other than ``ko`` or ``en``."""


_CATALOGUE: dict[str, tuple[str, str]] = {
    # rules: their titles (rule.<name>) come from the registry
    "rule.answer.limit": ("벨이 {rings}회 울리기 전에 응답", "Answer before ring {rings}"),
    "rule.transfer.limit.inclusive": ("{seconds}초 이내 연결", "Connect within {seconds} s"),
    "rule.transfer.limit.exclusive": (
        "{seconds}초 미만으로 연결",
        "Connect in less than {seconds} s",
    ),
    "rule.hangup.limit": ("고객이 먼저 끊은 뒤 끊기", "The caller hangs up first"),
    "rule.callback.limit": ("부재 시 {duration} 이내 회신", "Call back within {duration}"),
    "rule.callback.limit.promised": (
        "고객이 원하는 시간에 회신",
        "Call back at the time the caller asks",
    ),
    "rule.callback.limit.both": (
        "{duration} 이내 또는 고객이 원하는 시간에 회신",
        "Call back within {duration} or at the time the caller asks",
    ),
    # statuses
    "status.pass": ("준수", "Kept"),
    "status.fail": ("위반", "Breached"),
    "status.not_in_charter": ("이 헌장에 없는 기준", "Not part of this charter"),
    "status.no_calls": ("해당 통화 없음", "No calls judged"),
    "callback.open": ("대기", "Open"),
    "callback.kept": ("기한 내 회신", "Kept"),
    "callback.late": ("늦은 회신", "Late"),
    "callback.missed": ("회신 안 함", "Missed"),
    "hangup_by.caller": ("고객", "Caller"),
    "hangup_by.agent": ("직원", "Staff"),
    "hangup_by.system": ("시스템", "System"),
    # units
    "unit.seconds": ("초", "s"),
    "unit.seconds_value": ("{value}초", "{value} s"),
    "unit.minutes": ("분", "min"),
    "unit.hours": ("시간", "h"),
    "unit.rings": ("회", "rings"),
    "unit.percent": ("{value}%", "{value}%"),
    "unit.points": ("{value}%p", "{value} pts"),
    "unit.calls": ("건", "calls"),
    "unit.rings_heard": ("벨 {rings}회", "{rings} rings"),
    "unit.ring_heard": ("벨 {rings}회", "{rings} ring"),
    "unit.before_ring": ("벨 {rings}회 전", "before ring {rings}"),
    "unit.hours_minutes": ("{hours}시간 {minutes}분", "{hours} h {minutes} min"),
    "unit.weeks": ("{n}주", "{n} weeks"),
    "unit.week": ("{n}주", "{n} week"),
    # verdict details (the rules' detail codes, charter.verdict.detail_code)
    "detail.answer.staff": ("응답: {by}", "answered by {by}"),
    "detail.answer.staff_unknown": ("직원이 응답", "answered by staff"),
    "detail.answer.pbx": (
        "직원이 아니라 PBX(음성사서함, ARS, 대기열)가 받음",
        "answered by the PBX (voicemail, IVR or queue), never by staff",
    ),
    "detail.answer.unanswered": ("한도까지 울렸으나 응답 없음", "rang to the limit unanswered"),
    "detail.transfer.connected": ("{kind} {from} → {to}", "{kind} {from} → {to}"),
    "detail.transfer.never": (
        "{kind} {from} → {to}, 연결 안 됨",
        "{kind} {from} → {to}, never connected",
    ),
    "transfer.kind.blind": ("바로 돌려주기", "blind transfer"),
    "transfer.kind.attended": ("확인 후 돌려주기", "attended transfer"),
    "transfer.kind.local_attended": (
        "전화기에서 확인 후 돌려주기",
        "attended transfer on the phone",
    ),
    "transfer.kind.other": ("돌려주기", "transfer"),
    "detail.hangup.caller": ("고객이 먼저 끊음 (첫 BYE)", "the caller hung up first (first BYE)"),
    "detail.hangup.agent": ("직원이 먼저 끊음 (첫 BYE)", "staff hung up first (first BYE)"),
    "detail.hangup.delay": (
        "끊은 뒤 {duration} 기다리기는 신호로 보이지 않아 판정하지 않음",
        "the {duration} wait after the caller hangs up is not visible in signalling and not judged",
    ),
    "detail.callback.by": ("{status}: {by}", "{status} by {by}"),
    "detail.callback.requested": ("고객이 원한 시간", "time requested by the caller"),
    # report
    "report.title.weekly": ("주간 전화응대 이행 보고서", "Weekly telephone service report"),
    "report.title.period": ("전화응대 이행 보고서", "Telephone service report"),
    "report.title.achievement": ("이행기준 달성도", "Service standard achievement"),
    "report.site": ("기관", "Site"),
    "report.week": ("주차", "Week"),
    "report.period": ("기간", "Period"),
    "report.timezone": ("시간대", "Time zone"),
    "report.generated": ("작성", "Generated"),
    "report.department": ("부서", "Department"),
    "report.all_departments": ("전체 부서", "All departments"),
    "report.no_department": ("부서 미지정", "No department"),
    "report.charter": ("적용 헌장", "Charter"),
    "report.offered": ("걸려온 전화", "Calls offered"),
    "report.answered": ("응답", "Answered"),
    "report.missed": ("못 받은 전화", "Missed"),
    "report.rule": ("기준", "Rule"),
    "report.promise": ("헌장 약속", "The charter's promise"),
    "report.pass_rate": ("준수율", "Pass rate"),
    "report.passed": ("준수", "Kept"),
    "report.failed": ("위반", "Breached"),
    "report.judged": ("판정", "Judged"),
    "report.this_week": ("이번 주", "This week"),
    "report.previous_week": ("지난주", "Last week"),
    "report.change": ("증감", "Change"),
    "report.ring_time": ("벨 울린 시간", "Ring time"),
    "report.median": ("중앙값", "Median"),
    "report.p90": ("90% 값", "90th percentile"),
    "report.count": ("건수", "Count"),
    "report.transfers": ("전화 연결(돌려주기)", "Transfers"),
    "report.transfer_seconds": ("연결 시간", "Transfer time"),
    "report.callbacks": ("회신 전화", "Callbacks"),
    "report.ring_distribution": ("응답까지 벨 횟수", "Rings before answer"),
    "report.ring_bin": ("벨 {rings}회", "{rings} ring(s)"),
    "report.ring_bin_more": ("벨 {rings}회 이상", "{rings}+ rings"),
    "report.by_hour": ("시간대별 전화", "Calls by hour of day"),
    "report.hour": ("시", "Hour"),
    "report.extensions": ("내선별 현황", "Per extension"),
    "report.extension": ("내선", "Extension"),
    "report.unanswered": ("응답 없음", "Unanswered"),
    "report.breaches": ("위반 목록", "Breaches"),
    "report.breach_count": ("위반 {count}건", "{count} breaches"),
    "report.breaches_truncated": (
        "위반 {total}건 중 {shown}건만 표시합니다.",
        "Showing {shown} of {total} breaches.",
    ),
    "report.call": ("통화", "Call"),
    "report.time": ("시각", "Time"),
    "report.caller": ("발신번호", "Caller"),
    "report.measured": ("측정값", "Measured"),
    "report.limit": ("기준값", "Limit"),
    "report.no_breaches": ("위반이 없습니다.", "No breaches."),
    "report.no_data": ("이 기간에 통화가 없습니다.", "No calls in this period."),
    "report.week_over_week": ("지난주 대비", "Week over week"),
    "report.notes": ("참고", "Notes"),
    "report.note.handset_delay": (
        "헌장은 고객이 끊은 뒤 {seconds}초 이상 지나서 수화기를 내려놓도록 하지만, 이 동작은 "
        "회선이 끊긴 뒤 전화기에서 일어나 SIP 신호로는 보이지 않습니다. 누가 먼저 끊었는지만 "
        "판정합니다.",
        "The charter asks staff to wait {seconds} s after the caller hangs up; that happens on "
        "the handset after the line is down and is not visible in SIP signalling. Only who hung "
        "up first is judged.",
    ),
    "report.note.transfer_source": (
        "연결 시간은 전화 연결 기준을 두는 헌장의 통화에서만 측정합니다.",
        "Transfer times are measured only under charters that set a transfer rule.",
    ),
    "report.note.public": (
        "개인정보(전화번호, 내선, 직원 이름)는 포함하지 않습니다.",
        "Contains no personal data (no phone numbers, extensions or staff names).",
    ),
    "report.none": ("—", "—"),
    "weekday.mon": ("월", "Mon"),
    "weekday.tue": ("화", "Tue"),
    "weekday.wed": ("수", "Wed"),
    "weekday.thu": ("목", "Thu"),
    "weekday.fri": ("금", "Fri"),
    "weekday.sat": ("토", "Sat"),
    "weekday.sun": ("일", "Sun"),
    # reports of any period, made from the pages (issue 12 item 6)
    "report.partial": (
        "진행 중인 기간입니다. 기간이 끝나지 않아 수치가 더 늘어날 수 있습니다.",
        "Partial period: it is not over yet, so the figures will still grow.",
    ),
    "report.previous_period": ("이전 기간", "Previous period"),
    "report.period_over_period": ("이전 기간 대비", "Against the previous period"),
    "report.replay": ("다시 보기", "Replay"),
    # callwatch's own probe calls, apart from the staff figures (issue 14)
    "report.probes": ("시험 전화 (직원 통계 제외)", "Probe calls (not in the staff figures)"),
    "report.probes.intro": (
        "callwatch가 시민처럼 부서 대표번호로 건 시험 전화입니다. 벨은 건 쪽에서 들은 대로 "
        "(첫 신호음부터 응답까지) 헌장의 벨 주기로 셉니다. 위의 직원 응대 통계에는 넣지 "
        "않습니다.",
        "Test calls callwatch placed to the departments' public numbers as a citizen would. "
        "Rings are counted as the caller heard them (from the first ringback to the answer) at "
        "the charter's ring cadence. They are not in the staff figures above.",
    ),
    "report.probes.placed": ("건 전화", "Calls placed"),
    "report.probes.within": ("{rings} 안에 응답", "Answered within {rings}"),
    "report.probes.within_charter": (
        "헌장의 벨 횟수 안에 응답",
        "Answered within the charter's rings",
    ),
    "report.probes.median_rings": ("들은 벨 (중앙값)", "Rings heard (median)"),
    "report.probes.ringback": ("신호음 시간 (중앙값)", "Ringback heard (median)"),
    "report.probes.checks": ("수집 확인", "Capture check"),
    "report.probes.check.ok": ("확인됨", "Confirmed"),
    "report.probes.check.mismatch": ("다르게 수집됨", "Captured differently"),
    "report.probes.check.missing": ("수집 안 됨", "Not captured"),
    "report.probes.check.error": ("걸지 못함", "Not placed"),
    "report.probes.note.failed": (
        "수집되지 않았거나 다르게 수집된 시험 전화가 있습니다. 수집 경로(HEP, 패킷 수집), "
        "시계, 통화 연결을 점검하세요.",
        "Some probe calls were not captured, or captured differently: check the capture (HEP "
        "or sniffing), the clocks and how the call legs were joined.",
    ),
}

RULES = RULE_NAMES
"""The registered rules' names, in the registry's order (always current)."""


def normalize_lang(value: str | None) -> Lang:
    """A supported language from user input (``en-US`` → ``en``); anything else: Korean."""
    if value:
        head = value.strip().lower().replace("_", "-").split("-", 1)[0]
        if head == "en":
            return "en"
    return DEFAULT_LANG


def _rule_titles() -> dict[str, tuple[str, str]]:
    return {f"rule.{r.name}": (r.title_ko, r.title_en) for r in registry.rules()}


def _pair(key: str) -> tuple[str, str]:
    pair = _CATALOGUE.get(key)
    if pair is None and key.startswith("rule.") and (rule := registry.get(key[5:])) is not None:
        pair = (rule.title_ko, rule.title_en)
    if pair is None:
        raise UnknownKey(f"no text for {key!r}")
    return pair


def t(key: str, lang: str = DEFAULT_LANG, **params: object) -> str:
    """The text of ``key`` in ``lang`` with ``params`` filled in."""
    pair = _pair(key)
    if lang not in LANGS:
        raise UnknownLanguage(f"unsupported language {lang!r} (use one of {', '.join(LANGS)})")
    text = pair[LANGS.index(lang)]
    return text.format(**params) if params else text


def keys() -> tuple[str, ...]:
    """Every key of the catalogue (for tests and for pages that ship the catalogue): the
    rules' titles in the registry's order, then the fixed texts."""
    return (*_rule_titles(), *_CATALOGUE)


def catalogue(lang: str = DEFAULT_LANG) -> dict[str, str]:
    """Every text in ``lang`` by key (placeholders left in)."""
    return {key: t(key, lang) for key in keys()}


def duration(seconds: float, lang: str = DEFAULT_LANG) -> str:
    """``seconds`` worded as the charters word a limit: in the largest unit that states it
    whole (``3600`` → ``1시간`` / ``1 h``; ``1800`` → ``30분``; ``10`` → ``10초``)."""
    value, unit = registry.worded(seconds)
    number = str(int(value)) if float(value).is_integer() else f"{value:g}"
    return f"{number}{unit.ko}" if lang == "ko" else f"{number} {unit.en}"


def number(value: float, digits: int = 1) -> str:
    """``value`` with at most ``digits`` decimals and no trailing zeros (``12``, ``12.5``)."""
    text = f"{round(value, digits):.{digits}f}" if digits else str(round(value))
    return text.rstrip("0").rstrip(".") if "." in text else text


NBSP = "\u00a0"
_NUMBER_SPACE = re.compile(r"(?<=\d) (?=[a-z(])")


def _unbroken(text: str) -> str:
    """``text`` with a no-break space between a number and the English unit (or the ring
    count) after it, so ``6 s`` and ``2 h 31 min`` never break across lines."""
    return _NUMBER_SPACE.sub(NBSP, text)


def _with_unit(value: str, unit: registry.Unit, lang: str) -> str:
    return f"{value}{unit.ko}" if lang == "ko" else f"{value}{NBSP}{unit.en}"


def seconds_text(seconds: float, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A measure in seconds with its unit: ``12.5초`` / ``12.5 s``."""
    return _with_unit(number(seconds, digits), registry.SECOND, lang)


def span(seconds: float, lang: str = DEFAULT_LANG, smallest: registry.Unit | None = None) -> str:
    """A measured time span in the charters' units: under a minute in seconds (``12.5초``),
    under an hour in minutes (``40분``), else hours and minutes (``2시간 31분``). With
    ``smallest`` = MINUTE, short spans are whole minutes too (a callback's delay)."""
    smallest = smallest or registry.SECOND
    if smallest is registry.SECOND and abs(seconds) < 60:
        return seconds_text(seconds, lang)
    minutes = round(seconds / 60)
    if abs(minutes) < 60:
        return _with_unit(str(minutes), registry.MINUTE, lang)
    hours, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else ""
    if not rest:
        return sign + _with_unit(str(hours), registry.HOUR, lang)
    return sign + _unbroken(t("unit.hours_minutes", lang, hours=hours, minutes=rest))


def measure(
    rule: str, seconds: float | None, lang: str = DEFAULT_LANG, rings: int | None = None
) -> str:
    """What a verdict measured, in the unit the charters word ``rule`` in (``12.0초 (벨 5회)``,
    ``2시간 31분``); ``—`` when nothing was measured."""
    if seconds is None:
        return t("report.none", lang)
    spec = registry.get(rule)
    unit = spec.unit if spec is not None and spec.unit is not None else registry.SECOND
    if unit is registry.SECOND:
        text = seconds_text(seconds, lang)
        if rings is not None:
            key = "unit.ring_heard" if rings == 1 else "unit.rings_heard"
            text += f" ({t(key, lang, rings=rings)})"
        return _unbroken(text)
    return span(seconds, lang, smallest=unit)


def limit(
    rule: str, seconds: float | None, lang: str = DEFAULT_LANG, rings: int | None = None
) -> str:
    """A verdict's limit as the charters word it (``6초 (벨 3회 전)``, ``3시간``); ``—`` for
    none."""
    if seconds is None:
        return t("report.none", lang)
    text = duration(seconds, lang)
    if rings is not None:
        text += f" ({t('unit.before_ring', lang, rings=rings)})"
    return _unbroken(text)


def rings(count: float, lang: str = DEFAULT_LANG) -> str:
    """A count of rings heard: ``벨 2회`` / ``2 rings`` (``1 ring``, ``1.5 rings``)."""
    key = "unit.ring_heard" if count == 1 else "unit.rings_heard"
    return _unbroken(t(key, lang, rings=number(count)))


def points(change: float | None, lang: str = DEFAULT_LANG) -> str:
    """A change of pass rate in percentage points, signed: ``+6.4%p`` / ``+6.4 pts``."""
    if change is None:
        return t("report.none", lang)
    return _unbroken(t("unit.points", lang, value=f"{change:+.1f}"))


def percent(rate: float | None) -> str:
    """A rate (0..1) as a percentage with one decimal: ``93.3%``; ``—`` for none."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def weeks(n: int, lang: str = DEFAULT_LANG) -> str:
    """``n`` weeks: ``4주`` / ``4 weeks`` (``1 week``)."""
    return t("unit.week" if n == 1 else "unit.weeks", lang, n=n)


_LEGACY = (
    (re.compile(r"answered by the PBX\b.*"), "answer.pbx"),
    (re.compile(r"answered by (?P<by>\S+)"), "answer.staff"),
    (re.compile(r"answered"), "answer.staff"),
    (re.compile(r"rang to the limit unanswered"), "answer.unanswered"),
    (
        re.compile(r"(?P<kind>\w+) transfer (?P<from>\S+) → (?P<to>\S+) never connected"),
        "transfer.never",
    ),
    (re.compile(r"(?P<kind>\w+) transfer (?P<from>\S+) → (?P<to>\S+)"), "transfer.connected"),
    (
        re.compile(
            r"first BYE from the (?P<who>caller|agent)"
            r"(?:; the (?P<handset_delay_s>[\d.]+) s handset delay .*)?"
        ),
        "hangup",
    ),
    (
        re.compile(
            r"(?P<status>kept|late|missed)(?: by (?P<by>\S+))?"
            r"(?P<requested> \(time requested by the caller\))?"
        ),
        "callback",
    ),
)
"""The English prose earlier versions stored as a verdict's detail, read as detail codes."""


def _legacy_detail(text: str) -> Detail | None:
    for pattern, key in _LEGACY:
        match = pattern.fullmatch(text.strip())
        if match is None:
            continue
        facts = {k: v for k, v in match.groupdict().items() if v is not None}
        if key in ("hangup", "callback"):
            key = f"{key}.{facts.pop('who', None) or facts.pop('status')}"
        if "requested" in facts:
            facts["requested"] = "1"
        return Detail(key, facts)
    return None


def detail_text(detail: str | None, lang: str = DEFAULT_LANG) -> str:
    """A verdict's detail (a detail code, or the English prose of earlier versions) worded in
    ``lang``; a detail this catalogue has no wording for is shown as it is."""
    if not detail:
        return ""
    parsed = parse_detail(detail)
    if parsed is None or not _worded(parsed):
        parsed = _legacy_detail(detail) or parsed
    if parsed is None or not _worded(parsed):
        return detail
    key, facts = parsed.key, parsed.facts
    if key == "answer.staff":
        by = facts.get("by")
        return (
            t("detail.answer.staff", lang, by=by) if by else t("detail.answer.staff_unknown", lang)
        )
    if key.startswith("transfer."):
        kind = facts.get("kind", "other")
        kind_key = (
            f"transfer.kind.{kind}"
            if f"transfer.kind.{kind}" in _CATALOGUE
            else "transfer.kind.other"
        )
        return t(
            f"detail.{key}",
            lang,
            kind=t(kind_key, lang),
            **{"from": facts.get("from", "?"), "to": facts.get("to", "?")},
        )
    if key.startswith("hangup."):
        text = t(f"detail.{key}", lang)
        delay = _float(facts.get("handset_delay_s"))
        if delay is not None:
            text += "; " + t("detail.hangup.delay", lang, duration=duration(delay, lang))
        return text
    if key.startswith("callback."):
        status = t(key, lang)
        text = (
            t("detail.callback.by", lang, status=status, by=facts["by"])
            if facts.get("by")
            else status
        )
        if facts.get("requested") == "1":
            text += f" ({t('detail.callback.requested', lang)})"
        return text
    return t(f"detail.{key}", lang)


def _worded(detail: Detail) -> bool:
    key = detail.key
    if key.startswith("callback."):
        return key in _CATALOGUE
    return f"detail.{key}" in _CATALOGUE


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None
