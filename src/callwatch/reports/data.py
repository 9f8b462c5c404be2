"""Report figures: pure functions from the facts of :mod:`callwatch.reports.queries` (and the
site's charters) to typed results. No database, no clock: the same facts always give the same
report, and the API, the pages and the renderers all share these numbers.

Definitions (each rule judged by the charter of the call's department):

- *offered*: inbound customer calls begun in the period; *answered* / *missed* split them.
- *pass rate* of a rule: kept / (kept + breached) among its verdicts; None when none.
  A rule the charter does not make has ``in_charter`` False and is never shown as passed.
- *ring time*: seconds from the first ring to the answer of answered inbound calls;
  *rings*: the ring that was sounding at the answer at the charter's cadence
  (``floor(ring_s / period) + 1``), binned 1, 2, 3, 4+.
- *transfer seconds*: measured by the transfer rule (so only under charters that make one).
- *callbacks*: those opened in the period, by their current status.
- hours of day are on the site's clock.
- *probe calls* (callwatch's own test calls, never in the figures above): per department,
  calls placed, answered, answered within the charter's rings as the probe heard them
  (ringback from the first 180/183 to the answer, before the forbidden ring), the median
  rings heard, and how the capture check came out (``ok``, ``mismatch``, ``missing``,
  ``error``).

Results are dataclasses with ``to_dict()`` (JSON types only).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from callwatch.charter import registry
from callwatch.charter.profile import Profile
from callwatch.charter.registry import RULE_NAMES
from callwatch.charter.rules import rings_heard
from callwatch.i18n import duration, t
from callwatch.privacy import mask_number
from callwatch.reports.queries import BreachFacts, CallFacts, PeriodFacts, ProbeFacts
from callwatch.reports.weeks import local_datetime

RING_BINS = (1, 2, 3, 4)
"""Ring bins of the distribution; the last one is "4 or more"."""

CALLBACK_STATUSES = ("kept", "late", "missed", "open")

_HOUR_US = 3_600_000_000


class _Dict:
    """Base of the result dataclasses below."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON types (nested dataclasses as dicts)."""
        return dataclasses.asdict(self)


def _field_names(cls: type[_Dict]) -> list[str]:
    """The fields of the result dataclass ``cls``, in declaration order."""
    return [f.name for f in dataclasses.fields(cls)]


@dataclass(frozen=True, slots=True)
class Stat(_Dict):
    """Median and 90th percentile (linear interpolation) of ``count`` values, in seconds."""

    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class Promise(_Dict):
    """What a charter promises for one rule: a short summary in each language and the quoted
    sentence of the charter (Korean, as published). Empty for a rule the charter lacks."""

    ko: str
    en: str
    quote: str


@dataclass(frozen=True, slots=True)
class RuleResult(_Dict):
    """One rule in one department over the period."""

    rule: str
    in_charter: bool
    promise: Promise
    passed: int
    failed: int
    rate: float | None
    previous_passed: int | None = None
    previous_failed: int | None = None
    previous_rate: float | None = None
    change: float | None = None
    """``rate - previous_rate`` in percentage points (None when either is missing)."""

    @property
    def judged(self) -> int:
        return self.passed + self.failed


@dataclass(frozen=True, slots=True)
class CallbackCounts(_Dict):
    """Callbacks opened in the period by current status."""

    kept: int = 0
    late: int = 0
    missed: int = 0
    open: int = 0


@dataclass(frozen=True, slots=True)
class Volume(_Dict):
    """Calls offered, answered and missed."""

    offered: int
    answered: int
    missed: int


@dataclass(frozen=True, slots=True)
class Compliance(_Dict):
    """Compliance of one department (``department`` None: calls without one; the site-wide
    total of a report uses ``ALL``) over ``[start_us, end_us)``."""

    department: str | None
    name_en: str | None
    charter: str
    charter_name: dict[str, str]
    start_us: int
    end_us: int
    volume: Volume
    rules: list[RuleResult]
    ring: Stat
    transfer: Stat
    callbacks: CallbackCounts
    handset_delay_s: float | None = None
    """The charter's handset wait after the caller hangs up (Naju 1 s, Wanju 2 s): not visible
    to signalling, so reports note it; None when the charter sets none."""
    previous_volume: Volume | None = None
    answer_before_ring: int | None = None
    """The ring the charter's answer rule forbids (3: answer before the third ring)."""

    def rule(self, name: str) -> RuleResult:
        """The result of rule ``name``."""
        for result in self.rules:
            if result.rule == name:
                return result
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class RingBin(_Dict):
    """Answered calls answered during ring ``rings`` (``or_more``: that ring or later)."""

    rings: int
    or_more: bool
    count: int


@dataclass(frozen=True, slots=True)
class HourCount(_Dict):
    """Inbound calls begun in one hour of the day (site clock)."""

    hour: int
    offered: int
    answered: int
    missed: int


@dataclass(frozen=True, slots=True)
class ExtensionRow(_Dict):
    """One extension (None: calls nobody answered): answered calls, median ring time and
    breaches by rule."""

    extension: str | None
    answered: int
    median_ring: float | None
    breaches: dict[str, int]

    @property
    def total_breaches(self) -> int:
        return sum(self.breaches.values())


@dataclass(frozen=True, slots=True)
class Breach(_Dict):
    """One breached rule of one call; ``caller`` is masked (``010-****-5678``)."""

    call_id: str
    started_us: int
    started_local: str
    department: str | None
    extension: str | None
    caller: str | None
    rule: str
    measured: float | None
    limit: float | None
    unit: str
    rings: int | None
    limit_rings: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class DepartmentReport(_Dict):
    """Everything a report shows for one department."""

    compliance: Compliance
    ring_bins: list[RingBin]
    by_hour: list[HourCount]
    extensions: list[ExtensionRow]
    breaches: list[Breach]
    breach_total: int


@dataclass(frozen=True, slots=True)
class ProbeChecks(_Dict):
    """How the capture check of the probe calls came out."""

    ok: int = 0
    mismatch: int = 0
    missing: int = 0
    error: int = 0


PROBE_CHECKS = ("ok", "mismatch", "missing", "error")


@dataclass(frozen=True, slots=True)
class ProbeSummary(_Dict):
    """The probe calls of one department over the period, as a citizen heard them."""

    department: str
    name_en: str | None
    placed: int
    answered: int
    within: int
    """Answered before the charter's forbidden ring, counted on the ringback the probe heard
    (all answered calls when the charter makes no answer rule)."""
    allowed_rings: int | None
    """The rings the charter allows (``before_ring - 1``); None without an answer rule."""
    within_rate: float | None
    """``within / placed``; None when no probe call was placed."""
    median_rings: float | None
    """Median of the rings heard before the answer (answered calls; 0: no ringback)."""
    ring: Stat
    """The ringback heard before the answer, in seconds (answered calls with ringback)."""
    checks: ProbeChecks


@dataclass(frozen=True, slots=True)
class WeeklyReport(_Dict):
    """The weekly report of a site (one department or all)."""

    site: str
    timezone: str
    week: str
    previous_week: str
    start_us: int
    end_us: int
    start_local: str
    end_local: str
    departments: list[DepartmentReport]
    total: Compliance | None = None
    """Site-wide sums (only when the report covers every department)."""
    kind: str = "week"
    """``week`` (an ISO week, ``week`` is ``2026-W47``) or ``range`` (whole local days,
    ``week`` is the ISO 8601 interval ``2026-11-02/2026-11-20``)."""
    partial: bool = False
    """The period was not over when the report was made (its figures will still grow)."""
    probes: list[ProbeSummary] = field(default_factory=list)
    """callwatch's own probe calls per department, apart from the staff figures (empty
    when none were placed in the period)."""


@dataclass(frozen=True, slots=True)
class AchievementRule(_Dict):
    """A rule in the public summary: the promise and how often it was kept."""

    rule: str
    in_charter: bool
    promise: Promise
    rate: float | None
    judged: int


@dataclass(frozen=True, slots=True)
class AchievementRow(_Dict):
    """One department in the public summary."""

    department: str | None
    name_en: str | None
    charter_name: dict[str, str]
    offered: int
    answered_rate: float | None
    rules: list[AchievementRule]


@dataclass(frozen=True, slots=True)
class Achievement(_Dict):
    """The public 이행기준 달성도: per department, rates only — no numbers, extensions or
    names of people."""

    site: str
    period: str
    start_local: str
    end_local: str
    departments: list[AchievementRow] = field(default_factory=list)


ALL = "*"
"""The ``department`` of a report's site-wide total."""


# -- charter promises ---------------------------------------------------------------------------


def promise(profile: Profile, rule: str) -> Promise:
    """What ``profile`` promises for ``rule`` (empty when the charter makes no such promise)."""
    summary = {lang: _promise_text(profile, rule, lang) for lang in ("ko", "en")}
    quote = _quote(profile, rule)
    if summary["ko"] is None or quote is None:
        return Promise("", "", "")
    return Promise(summary["ko"], summary["en"] or "", quote)


def _table(profile: Profile, rule: str) -> object | None:
    spec = registry.get(rule)
    return None if spec is None else profile.section(spec.section)


def in_charter(profile: Profile, rule: str) -> bool:
    """Whether ``profile`` makes a promise for ``rule`` (a registered rule's table)."""
    return _table(profile, rule) is not None


def _quote(profile: Profile, rule: str) -> str | None:
    section = _table(profile, rule)
    return None if section is None else str(getattr(section, "source", ""))


def _promise_text(profile: Profile, rule: str, lang: str) -> str | None:
    if rule == "answer" and profile.answer is not None:
        return t("rule.answer.limit", lang, rings=profile.answer.before_ring)
    if rule == "transfer" and profile.transfer is not None:
        key = "inclusive" if profile.transfer.inclusive else "exclusive"
        return t(f"rule.transfer.limit.{key}", lang, seconds=_num(profile.transfer.limit_s))
    if rule == "hangup" and profile.hangup is not None:
        return t("rule.hangup.limit", lang)
    if rule == "callback" and profile.callback is not None:
        cb = profile.callback
        within = None if cb.deadline_s is None else duration(cb.deadline_s, lang)
        if within is not None and cb.promised_time:
            return t("rule.callback.limit.both", lang, duration=within)
        if within is not None:
            return t("rule.callback.limit", lang, duration=within)
        return t("rule.callback.limit.promised", lang)
    return None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# -- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation between closest ranks
    (PostgreSQL's ``percentile_cont``); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
    return round(value, 6)


def stat(values: Sequence[float]) -> Stat:
    """Count, median and 90th percentile of ``values``."""
    return Stat(len(values), percentile(values, 0.5), percentile(values, 0.9))


def rate(passed: int, failed: int) -> float | None:
    """``passed / (passed + failed)``; None when nothing was judged."""
    judged = passed + failed
    return None if judged == 0 else round(passed / judged, 6)


def rings_at(ring_seconds: float, profile: Profile) -> int:
    """The ring that was sounding ``ring_seconds`` after the first ring began."""
    return math.floor(ring_seconds / profile.cadence.period_s + 1e-9) + 1


# -- building results ---------------------------------------------------------------------------


ProfileFor = Any  # Callable[[str | None], Profile]; kept loose so SiteConfig.profile_for fits


def compliance(
    facts: PeriodFacts,
    profile_for: ProfileFor,
    departments: Iterable[str | None],
    names_en: dict[str, str | None] | None = None,
    previous: PeriodFacts | None = None,
) -> list[Compliance]:
    """Compliance of each of ``departments`` (and of any other department found in the facts)
    over the facts' period; ``previous`` adds last period's rates and volume for comparison."""
    names_en = names_en or {}
    order = _department_order(facts, departments)
    previous_by = _by_department(previous) if previous is not None else {}
    current = _by_department(facts)
    out = []
    for dept in order:
        part = current.get(dept, _Part())
        prior = previous_by.get(dept) if previous is not None else None
        if previous is not None and prior is None:
            prior = _Part()
        out.append(
            _compliance(dept, names_en.get(dept or ""), profile_for(dept), facts, part, prior)
        )
    return out


def total(parts: Sequence[Compliance], start_us: int, end_us: int) -> Compliance:
    """The site-wide sums of department results (rates recomputed from the counts; ring and
    transfer percentiles are left out, as they cannot be summed)."""
    volume = Volume(*(sum(getattr(p.volume, f) for p in parts) for f in _field_names(Volume)))
    previous = None
    if parts and all(p.previous_volume is not None for p in parts):
        previous = Volume(
            *(sum(getattr(p.previous_volume, f) for p in parts) for f in _field_names(Volume))
        )
    rules = []
    for name in RULE_NAMES:
        results = [p.rule(name) for p in parts]
        passed = sum(r.passed for r in results)
        failed = sum(r.failed for r in results)
        before = [r for r in results if r.previous_passed is not None]
        prev_passed = sum(r.previous_passed or 0 for r in before) if before else None
        prev_failed = sum(r.previous_failed or 0 for r in before) if before else None
        prev = None if not before else rate(prev_passed or 0, prev_failed or 0)
        now = rate(passed, failed)
        rules.append(
            RuleResult(
                rule=name,
                in_charter=any(r.in_charter for r in results),
                promise=Promise("", "", ""),
                passed=passed,
                failed=failed,
                rate=now,
                previous_passed=prev_passed,
                previous_failed=prev_failed,
                previous_rate=prev,
                change=_change(now, prev),
            )
        )
    callbacks = CallbackCounts(
        *(sum(getattr(p.callbacks, f) for p in parts) for f in _field_names(CallbackCounts))
    )
    return Compliance(
        department=ALL,
        name_en=None,
        charter="",
        charter_name={"ko": "", "en": ""},
        start_us=start_us,
        end_us=end_us,
        volume=volume,
        rules=rules,
        ring=Stat(sum(p.ring.count for p in parts), None, None),
        transfer=Stat(sum(p.transfer.count for p in parts), None, None),
        callbacks=callbacks,
        previous_volume=previous,
    )


def department_report(
    dept: Compliance,
    facts: PeriodFacts,
    profile: Profile,
    timezone: str,
    *,
    breach_limit: int | None = 500,
) -> DepartmentReport:
    """The detailed report of one department: ring bins, hours of day, extensions and breaches
    (at most ``breach_limit`` listed, the earliest first; ``breach_total`` counts all)."""
    calls = [c for c in facts.calls if c.department == dept.department]
    breaches = [b for b in facts.breaches if b.department == dept.department]
    tallies = [v for v in facts.verdicts if v.department == dept.department]
    shown = breaches if breach_limit is None else breaches[:breach_limit]
    return DepartmentReport(
        compliance=dept,
        ring_bins=ring_bins(calls, profile),
        by_hour=by_hour(calls, timezone),
        extensions=extension_rows(calls, tallies),
        breaches=[breach(b, timezone) for b in shown],
        breach_total=len(breaches),
    )


def ring_bins(calls: Iterable[CallFacts], profile: Profile) -> list[RingBin]:
    """Answered calls by the ring sounding at the answer: 1, 2, 3, 4 or more."""
    counts = dict.fromkeys(RING_BINS, 0)
    for call in calls:
        if call.missed or call.ring_seconds is None:
            continue
        counts[min(rings_at(call.ring_seconds, profile), RING_BINS[-1])] += 1
    return [RingBin(n, n == RING_BINS[-1], counts[n]) for n in RING_BINS]


def by_hour(calls: Iterable[CallFacts], timezone: str) -> list[HourCount]:
    """Inbound calls by the hour of day they began, on the clock of ``timezone``."""
    hour_of: dict[int, int] = {}
    counts = [[0, 0, 0] for _ in range(24)]
    for call in calls:
        bucket = call.started_us // _HOUR_US
        hour = hour_of.get(bucket)
        if hour is None:
            hour = local_datetime(bucket * _HOUR_US, timezone).hour
            hour_of[bucket] = hour
        row = counts[hour]
        row[0] += 1
        row[2 if call.missed else 1] += 1
    return [HourCount(h, *counts[h]) for h in range(24)]


def extension_rows(calls: Iterable[CallFacts], tallies: Iterable[Any]) -> list[ExtensionRow]:
    """Per extension: answered calls, median ring time, breaches by rule; the row of
    unanswered calls (extension None) last."""
    rings: dict[str | None, list[float]] = defaultdict(list)
    answered: dict[str | None, int] = defaultdict(int)
    for call in calls:
        if call.missed:
            continue
        answered[call.answered_by] += 1
        if call.ring_seconds is not None:
            rings[call.answered_by].append(call.ring_seconds)
    breaches: dict[str | None, dict[str, int]] = defaultdict(lambda: dict.fromkeys(RULE_NAMES, 0))
    for tally in tallies:
        if not tally.ok and tally.rule in RULE_NAMES:
            breaches[tally.extension][tally.rule] += tally.count
    keys = set(answered) | set(breaches)
    ordered: list[str | None] = [
        *sorted((k for k in keys if k is not None), key=_extension_key),
        *([None] if None in keys else []),
    ]
    return [
        ExtensionRow(
            extension=k,
            answered=answered.get(k, 0),
            median_ring=percentile(rings.get(k, []), 0.5),
            breaches=dict(breaches[k]) if k in breaches else dict.fromkeys(RULE_NAMES, 0),
        )
        for k in ordered
    ]


def breach(facts: BreachFacts, timezone: str) -> Breach:
    """A breach for a report: local time added, the caller masked."""
    local = local_datetime(facts.started_us, timezone)
    return Breach(
        call_id=facts.call_id,
        started_us=facts.started_us,
        started_local=local.isoformat(timespec="seconds"),
        department=facts.department,
        extension=facts.extension,
        caller=None if facts.caller is None else mask_number(facts.caller),
        rule=facts.rule,
        measured=facts.measured,
        limit=facts.limit,
        unit=facts.unit,
        rings=facts.rings,
        limit_rings=facts.limit_rings,
        detail=facts.detail,
    )


def probe_summaries(
    probes: Sequence[ProbeFacts],
    profile_for: ProfileFor,
    departments: Iterable[str],
    names_en: dict[str, str | None] | None = None,
) -> list[ProbeSummary]:
    """One summary per department that had probe calls: those of ``departments`` in their
    order, then any other found in ``probes``."""
    names_en = names_en or {}
    by: dict[str, list[ProbeFacts]] = defaultdict(list)
    for p in probes:
        by[p.department].append(p)
    order = [d for d in dict.fromkeys(departments) if d in by]
    order += sorted(set(by) - set(order))
    return [_probe_summary(d, names_en.get(d), profile_for(d), by[d]) for d in order]


def probe_within(probe: ProbeFacts, profile: Profile) -> bool:
    """Answered before the charter's forbidden ring, as the probe heard it."""
    if not probe.answered:
        return False
    limit = profile.answer_limit_s
    return limit is None or probe.ring_seconds is None or probe.ring_seconds < limit


def probe_rings(probe: ProbeFacts, profile: Profile) -> int:
    """Rings the probe heard before the answer at the charter's cadence (0: no ringback)."""
    if probe.ring_seconds is None:
        return 0
    return rings_heard(probe.ring_seconds, profile)


def _probe_summary(
    department: str, name_en: str | None, profile: Profile, probes: list[ProbeFacts]
) -> ProbeSummary:
    answered = [p for p in probes if p.answered]
    within = sum(probe_within(p, profile) for p in probes)
    rings = [float(probe_rings(p, profile)) for p in answered]
    checks = {k: sum(p.outcome == k for p in probes) for k in PROBE_CHECKS}
    return ProbeSummary(
        department=department,
        name_en=name_en,
        placed=len(probes),
        answered=len(answered),
        within=within,
        allowed_rings=None if profile.answer is None else profile.answer.before_ring - 1,
        within_rate=rate(within, len(probes) - within),
        median_rings=percentile(rings, 0.5),
        ring=stat([p.ring_seconds for p in answered if p.ring_seconds is not None]),
        checks=ProbeChecks(**checks),
    )


def achievement(
    site: str, period: str, start_local: str, end_local: str, parts: Sequence[Compliance]
) -> Achievement:
    """The public summary of department results: rates and promises only."""
    rows = []
    for part in parts:
        if part.department == ALL:
            continue
        vol = part.volume
        rows.append(
            AchievementRow(
                department=part.department,
                name_en=part.name_en,
                charter_name=dict(part.charter_name),
                offered=vol.offered,
                answered_rate=rate(vol.answered, vol.missed),
                rules=[
                    AchievementRule(r.rule, r.in_charter, r.promise, r.rate, r.judged)
                    for r in part.rules
                ],
            )
        )
    return Achievement(site, period, start_local, end_local, rows)


def local_text(ts: int, timezone: str) -> str:
    """``ts`` as local ISO time with offset (seconds precision)."""
    return local_datetime(ts, timezone).isoformat(timespec="seconds")


def local_date_text(ts: int, timezone: str, *, end: bool = False) -> str:
    """The local date of ``ts`` (``end``: of the instant just before, for ``[start, end)``)."""
    value = local_datetime(ts, timezone)
    if end:
        value = value - timedelta(microseconds=1)
    return value.date().isoformat()


# -- helpers ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Part:
    calls: list[CallFacts] = field(default_factory=list)
    tallies: dict[tuple[str, bool], int] = field(default_factory=dict)
    transfers: list[float] = field(default_factory=list)
    callbacks: dict[str, int] = field(default_factory=dict)


def _by_department(facts: PeriodFacts) -> dict[str | None, _Part]:
    parts: dict[str | None, _Part] = defaultdict(_Part)
    for call in facts.calls:
        parts[call.department].calls.append(call)
    for v in facts.verdicts:
        key = (v.rule, v.ok)
        tallies = parts[v.department].tallies
        tallies[key] = tallies.get(key, 0) + v.count
    for tr in facts.transfers:
        parts[tr.department].transfers.append(tr.seconds)
    for cb in facts.callbacks:
        counts = parts[cb.department].callbacks
        counts[cb.status] = counts.get(cb.status, 0) + cb.count
    return parts


def _department_order(facts: PeriodFacts, departments: Iterable[str | None]) -> list[str | None]:
    order: list[str | None] = list(dict.fromkeys(departments))
    seen = set(order)
    extra = {c.department for c in facts.calls} | {v.department for v in facts.verdicts}
    extra -= seen
    order.extend(sorted(d for d in extra if d is not None))
    if None in extra:
        order.append(None)
    return order


def _compliance(
    dept: str | None,
    name_en: str | None,
    profile: Profile,
    facts: PeriodFacts,
    part: _Part,
    prior: _Part | None,
) -> Compliance:
    rules = []
    for name in RULE_NAMES:
        made = in_charter(profile, name)
        passed = part.tallies.get((name, True), 0) if made else 0
        failed = part.tallies.get((name, False), 0) if made else 0
        now = rate(passed, failed) if made else None
        before_passed = before_failed = before = None
        if prior is not None and made:
            before_passed = prior.tallies.get((name, True), 0)
            before_failed = prior.tallies.get((name, False), 0)
            before = rate(before_passed, before_failed)
        rules.append(
            RuleResult(
                rule=name,
                in_charter=made,
                promise=promise(profile, name),
                passed=passed,
                failed=failed,
                rate=now,
                previous_passed=before_passed,
                previous_failed=before_failed,
                previous_rate=before,
                change=_change(now, before),
            )
        )
    answered = [c for c in part.calls if not c.missed]
    ring_values = [c.ring_seconds for c in answered if c.ring_seconds is not None]
    status = {s: part.callbacks.get(s, 0) for s in CALLBACK_STATUSES}
    hangup = profile.hangup
    return Compliance(
        department=dept,
        name_en=name_en,
        charter=profile.id,
        charter_name={"ko": profile.name_ko, "en": profile.name_en},
        start_us=facts.start_us,
        end_us=facts.end_us,
        volume=_volume(part.calls),
        rules=rules,
        ring=stat(ring_values),
        transfer=stat(part.transfers),
        callbacks=CallbackCounts(**status),
        handset_delay_s=None if hangup is None else hangup.staff_delay_s,
        previous_volume=None if prior is None else _volume(prior.calls),
        answer_before_ring=profile.answer_before_ring,
    )


def _volume(calls: list[CallFacts]) -> Volume:
    missed = sum(1 for c in calls if c.missed)
    return Volume(len(calls), len(calls) - missed, missed)


def _change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None:
        return None
    return round((now - before) * 100, 4)


def _extension_key(ext: str) -> tuple[int, int | str]:
    return (0, int(ext)) if ext.isdigit() else (1, ext)
