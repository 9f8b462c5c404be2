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

from typing import Literal

from callwatch.charter import registry
from callwatch.charter.registry import RULE_NAMES

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
