"""The probe runner inside ``callwatch serve``: plan, call, check, record, alert.

When the site file's ``[probes]`` table is enabled, :func:`probe_runner` makes a
:class:`ProbeRunner`, which the service runs as one more sink:

* a task on the loop asks the planner (:func:`~callwatch.probe.plan.next_probe`) for the next
  call, sleeps until then and places it with the pyVoIP phone in a worker thread
  (``ProbePhone.call`` blocks for the length of the call), one call at a time;
* the probe's record is filed with a :class:`~callwatch.probe.check.ProbeMonitor`, which the
  judged calls coming out of the service's pipeline are shown as they are submitted: the
  check uses exactly the call callwatch judged and stored, needs no database read (a slow
  or absent database does not look like a dead capture), and a probe the capture never
  saw is ``missing`` once ``missing_after_s`` has passed (a tick every second);
* each check is counted (:class:`~callwatch.probe.alerts.ProbeAlerts`, Prometheus
  ``callwatch_probe_*``), written to ``probe_results`` (in a thread) and, when it raises or
  clears the ``monitoring`` alert, published on ``callwatch/<site>/monitoring``.

Safety: a number is dialled only when it is the first public number of one of the site's own
departments (checked again before each call); no more than ``max_per_hour`` calls in any
hour, counted from the calls placed (the stored ones of the last day too, so a restart does
not reset the budget or the cap); the account comes from ``CALLWATCH_PROBE_USER`` and
``CALLWATCH_PROBE_SECRET``. :meth:`ProbeRunner.close` (the service's stop, on SIGTERM) ends a
call in progress at once: BYE when answered, CANCEL while it rings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import threading
import time
import tomllib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from callwatch.bus.payloads import Message, dumps
from callwatch.bus.topics import Topics
from callwatch.charter.hours import BusinessHours
from callwatch.pipeline import JudgedCall, Output
from callwatch.probe import results
from callwatch.probe.alerts import FAILED, ProbeAlerts, alert_payload
from callwatch.probe.caller import ProbeAccount, ProbeError, ProbePhone
from callwatch.probe.check import ProbeCheck, ProbeMonitor
from callwatch.probe.plan import (
    SECRET_ENV,
    USER_ENV,
    ProbeConfigError,
    ProbeSettings,
    next_probe,
    parse_probes,
)
from callwatch.probe.prompt import PromptError, load_prompt
from callwatch.probe.uac import ProbeRecord
from callwatch.sinks import PartStatus
from callwatch.site import SiteConfig
from callwatch.store import Store, StoreError

log = logging.getLogger(__name__)

_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US
_TICK_S = 1.0
_IDLE_S = 3600.0
_STOP_WAIT_S = 15.0


class ProbeSetupError(ValueError):
    """The ``[probes]`` table is enabled but cannot run (bad table, no credentials, prompt)."""


class Publishing(Protocol):
    """What the runner needs of the bus publisher."""

    def submit_messages(self, messages: list[Message]) -> None: ...


class Phone(Protocol):
    """What the runner needs of the probe phone (:class:`ProbePhone`)."""

    @property
    def registered(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def abort(self) -> None: ...

    def call(
        self, number: str, *, answer_limit_s: float, talk_s: float, prompt: bytes | None
    ) -> ProbeRecord: ...


def probe_runner(
    site: SiteConfig,
    *,
    store: Store | None,
    publisher: Publishing | None,
    registry: CollectorRegistry | None,
    environ: Mapping[str, str] | None = None,
) -> ProbeRunner | None:
    """The runner of the site file's ``[probes]`` table; None when there is no table or it
    is not enabled. Raises :class:`ProbeSetupError` when it is enabled and cannot run."""
    path = Path(site.path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("probes")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProbeSetupError(f"{path}: {exc}") from None
    if table is None:
        return None
    numbers = {d.name: d.numbers for d in site.directory.departments}
    try:
        settings = parse_probes(table, path.parent, numbers)
    except ProbeConfigError as exc:
        raise ProbeSetupError(f"{path}: {exc}") from None
    if not settings.enabled:
        return None
    env = os.environ if environ is None else environ
    user, secret = env.get(USER_ENV, "").strip(), env.get(SECRET_ENV, "")
    if not user or not secret:
        raise ProbeSetupError(
            f"[probes] is enabled: set {USER_ENV} and {SECRET_ENV} (the probe's PBX account)"
        )
    prompt = None
    if settings.play_prompt:
        try:
            prompt = load_prompt(settings.prompt) if settings.prompt else load_prompt()
        except PromptError as exc:
            raise ProbeSetupError(str(exc)) from None
    account = ProbeAccount(
        settings.server, settings.port, user, secret, settings.bind, settings.sip_port
    )
    return ProbeRunner(
        site, settings, lambda: ProbePhone(account), store=store, publisher=publisher,
        registry=registry, prompt=prompt,
    )  # fmt: skip


class ProbeRunner:
    """Places the ``[probes]`` calls and checks each against what the service captured."""

    name = "probes"

    def __init__(
        self,
        site: SiteConfig,
        settings: ProbeSettings,
        phone: Callable[[], Phone],
        *,
        store: Store | None = None,
        publisher: Publishing | None = None,
        registry: CollectorRegistry | None = None,
        prompt: bytes | None = None,
        wall: Callable[[], int] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.site = site
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.prompt = prompt
        self.alerts = ProbeAlerts()
        self.monitor = ProbeMonitor(settings.missing_after_s)
        self.placed = 0
        self._new_phone = phone
        self._phone: Phone | None = None
        self._wall = wall or (lambda: time.time_ns() // 1000)
        self._rng = rng or random.SystemRandom()  # staff must not learn the pattern
        self._hours = site.business_hours or BusinessHours(site.timezone, holidays=site.holidays)
        self._topics = Topics(site.name)
        self._owned = {d.name: d.numbers for d in site.directory.departments}
        self._made: list[tuple[int, str]] = []
        self._pending: dict[str, tuple[str, ProbeRecord]] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._halt = threading.Event()  # the same, for the calling thread
        self._tasks: list[asyncio.Task[None]] = []
        self._calling: asyncio.Task[ProbeRecord] | None = None
        if registry is not None:
            registry.register(_ProbeCollector(self))

    # -- the sink surface ------------------------------------------------------------------

    async def start(self) -> None:
        """Read today's probe calls and the alerts in force from the store; start planning."""
        if self.store is not None:
            try:
                since = self._wall() - _DAY_US
                self._made = await asyncio.to_thread(results.placed, self.store, since)
                latest = await asyncio.to_thread(results.latest, self.store)
                newest = sorted(latest.values(), key=lambda r: r.checked_us)
                self.alerts.restore((r.department, r.check(), r.checked_us) for r in newest)
            except StoreError as exc:
                log.warning("probes: stored results not read (%s); starting afresh", exc)
        self._tasks = [
            asyncio.create_task(self._plan_forever(), name="callwatch-probes"),
            asyncio.create_task(self._tick_forever(), name="callwatch-probes-tick"),
        ]
        targets = ", ".join(f"{d} {n}" for d, n in self.settings.targets.items())
        log.info("probes: calling %s (%d a day each)", targets, self.settings.daily_budget)

    def submit(self, outputs: Sequence[Output]) -> None:
        """Check the judged calls that hold a probe's leg; never blocks, never raises."""
        for item in outputs:
            if isinstance(item, JudgedCall):
                try:
                    checks = self.monitor.on_call(item.call)
                except Exception:  # a check bug must not reach the capture
                    log.exception("probes: checking call %s failed", item.call.id)
                    continue
                for check in checks:
                    self._checked(check)

    async def close(self) -> None:
        """Stop planning; end a call in progress at once (BYE or CANCEL); de-register."""
        self._stopping.set()
        self._halt.set()
        calling = self._calling
        if calling is not None:
            deadline = time.monotonic() + _STOP_WAIT_S
            while not calling.done() and time.monotonic() < deadline:
                phone = self._phone
                if phone is not None:
                    phone.abort()  # again until it lands: the call may be starting
                await asyncio.wait({calling}, timeout=0.1)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._phone is not None:
            await asyncio.to_thread(self._phone.stop)
        if self._writes:
            await asyncio.wait(self._writes, timeout=_STOP_WAIT_S)

    def status(self) -> PartStatus:
        """Always ready (a probe failing is an alert, not a service fault); says which."""
        failing = sorted(self.alerts.failing)
        extra: dict[str, object] = {"placed": self.placed, "waiting": self.monitor.waiting}
        if failing:
            return PartStatus(True, f"monitoring alert: {', '.join(failing)}", 0, extra)
        return PartStatus(True, "probing", 0, extra)

    # -- planning and calling --------------------------------------------------------------

    async def _plan_forever(self) -> None:
        while not self._stopping.is_set():
            planned = next_probe(self._wall(), self._made, self._rng, self.settings, self._hours)
            if planned is None:
                await self._sleep(_IDLE_S)
                continue
            while not self._stopping.is_set() and self._wall() < planned.at:
                await self._sleep(min(60.0, (planned.at - self._wall()) / 1e6))
            if self._stopping.is_set():
                return
            await self.place(planned.department, planned.number)

    async def place(self, department: str, number: str) -> ProbeRecord | None:
        """Place one probe call now (unless it would break a safety rule) and file it for
        its check; the record, or None when it was refused or failed."""
        if number != self.settings.targets.get(department) or number not in self._owned.get(
            department, ()
        ):
            log.error("probes: %s is not %s's public number: not dialled", number, department)
            return None
        now = self._wall()
        recent = sum(1 for at, _ in self._made if now - _HOUR_US < at <= now)
        if recent >= self.settings.max_per_hour:
            log.warning("probes: %d calls in the last hour (the cap): not dialled", recent)
            return None
        self._made.append((now, department))
        self.placed += 1
        self._calling = asyncio.create_task(asyncio.to_thread(self._call, number))
        try:
            record = await asyncio.shield(self._calling)
        except ProbeError as exc:
            self.alerts.on_error(department)
            log.error("probes: the call to %s (%s) was not placed: %s", department, number, exc)
            return None
        except Exception:
            self.alerts.on_error(department)
            log.exception("probes: the call to %s (%s) failed", department, number)
            return None
        finally:
            self._calling = None
        if self._stopping.is_set():
            log.info("probes: the call to %s was ended by the stop (%s)", department,
                     record.ended_by)  # fmt: skip
            return record
        self._made[-1] = (record.invite_at, department)
        self._pending[record.call_id] = (department, record)
        for check in self.monitor.expect(record):
            self._checked(check)
        return record

    def _call(self, number: str) -> ProbeRecord:
        """In a worker thread: register when not registered, then call (blocks)."""
        phone = self._phone
        if phone is None or not phone.registered:
            if phone is not None:
                with contextlib.suppress(Exception):
                    phone.stop()
            self._phone = None
            phone = self._new_phone()
            phone.start()
            self._phone = phone
        if self._halt.is_set():
            raise ProbeError("the service is stopping")
        s = self.settings
        return phone.call(number, answer_limit_s=s.answer_limit_s, talk_s=s.talk_s,
                          prompt=self.prompt)  # fmt: skip

    # -- checks ----------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            for check in self.monitor.expire(self._wall()):
                self._checked(check)

    def _checked(self, check: ProbeCheck) -> None:
        department, record = self._pending.pop(check.call_id, (None, None))
        if department is None or record is None:
            return
        at = self._wall()
        alert = self.alerts.on_check(department, check, record.invite_at, at)
        if check.outcome in FAILED:
            why = "; ".join(p.text() for p in check.problems) or "not captured"
            log.warning("probes: monitoring alert, %s probe %s: %s (%s)", department,
                        check.call_id, check.outcome, why)  # fmt: skip
        else:
            log.info("probes: %s probe %s confirmed by the capture", department, check.call_id)
        if alert is not None and self.publisher is not None:
            payload = alert_payload(alert, self.site.name)
            message = Message("monitoring", self._topics.monitoring, dumps(payload),
                              str(payload["id"]), retain=True)  # fmt: skip
            self.publisher.submit_messages([message])
        if self.store is not None:
            self._spawn(self._save(department, record, check, at))

    async def _save(self, department: str, record: ProbeRecord, check: ProbeCheck, at: int) -> None:
        assert self.store is not None
        try:
            await asyncio.to_thread(results.save_result, self.store, department, record, check, at)
        except StoreError as exc:
            log.error("probes: result of %s not stored: %s", record.call_id, exc)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=max(seconds, 0.05))


class _ProbeCollector(Collector):
    """``callwatch_probe_*`` for ``/metrics``, read from the runner at scrape time."""

    def __init__(self, runner: ProbeRunner) -> None:
        self._runner = runner

    def collect(self) -> list[Metric]:
        alerts = self._runner.alerts
        counts = CounterMetricFamily(
            "callwatch_probe_results",
            "Probe calls checked against the capture, by department and result "
            "(ok, mismatch, missing; error: not placed)",
            labels=["department", "result"],
        )
        for (department, result), n in sorted(alerts.results.items()):
            counts.add_metric([department, result], n)
        alert = GaugeMetricFamily(
            "callwatch_probe_alert",
            "1 while the department's last probe call was missing from the capture or "
            "captured wrong (the monitoring alert), else 0",
            labels=["department"],
        )
        for department in self._runner.settings.targets:
            alert.add_metric([department], 1.0 if department in alerts.failing else 0.0)
        last = GaugeMetricFamily(
            "callwatch_probe_last_failure_timestamp_seconds",
            "When the department's last failed probe call was checked (Unix time)",
            labels=["department"],
        )
        for department, at in sorted(alerts.last_failure.items()):
            last.add_metric([department], at / 1e6)
        return [counts, alert, last]
