"""The ``monitoring`` alert: a probe call the capture did not confirm.

A probe call checked ``missing`` (never captured: the HEP feed or the capture is down) or
``mismatch`` (captured wrong: ring time outside the tolerance, the clock off, legs mis-joined)
raises the alert for its department; the next ``ok`` probe of that department clears it.
:class:`ProbeAlerts` keeps the figures the metrics show (results by department and outcome,
the last failure's time, the departments in alert) and says, for each result, which message
goes on the bus (:func:`alert_payload`). Plain state, times passed in (µs): no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from callwatch.probe.check import ProbeCheck
from callwatch.timefmt import iso

Result = Literal["ok", "mismatch", "missing", "error"]
"""A probe's result: the three outcomes of :mod:`callwatch.probe.check`, or ``error`` (the
probe phone could not place the call: registration refused, no reply from the PBX)."""
FAILED: frozenset[str] = frozenset({"mismatch", "missing"})


@dataclass(frozen=True, slots=True)
class MonitoringAlert:
    """The alert raised (``state`` ``alert``) or cleared (``clear``) by one probe's check."""

    state: Literal["alert", "clear"]
    department: str
    check: ProbeCheck
    placed_at: int
    checked_at: int


@dataclass(slots=True)
class ProbeAlerts:
    """Probe results counted by department and result, the last failure of each department
    (µs) and the departments in alert, with the check that raised it."""

    results: dict[tuple[str, str], int] = field(default_factory=dict)
    last_failure: dict[str, int] = field(default_factory=dict)
    failing: dict[str, ProbeCheck] = field(default_factory=dict)

    def restore(self, latest: Iterable[tuple[str, ProbeCheck, int]]) -> None:
        """Start from the stored results: ``(department, check, checked_at)``, oldest first
        (the alerts in force and the last failures survive a restart; counts start at 0)."""
        for department, check, at in latest:
            self._note(department, check, at)

    def on_check(
        self, department: str, check: ProbeCheck, placed_at: int, checked_at: int
    ) -> MonitoringAlert | None:
        """Count one probe's check; the alert to publish (a failure, or the first ``ok``
        after one), or None."""
        key = (department, check.outcome)
        self.results[key] = self.results.get(key, 0) + 1
        was_failing = department in self.failing
        self._note(department, check, checked_at)
        if check.outcome in FAILED:
            return MonitoringAlert("alert", department, check, placed_at, checked_at)
        if was_failing:
            return MonitoringAlert("clear", department, check, placed_at, checked_at)
        return None

    def on_error(self, department: str) -> None:
        """Count a probe that could not be placed (no alert: the capture was not tested)."""
        key = (department, "error")
        self.results[key] = self.results.get(key, 0) + 1

    def _note(self, department: str, check: ProbeCheck, at: int) -> None:
        if check.outcome in FAILED:
            self.failing[department] = check
            self.last_failure[department] = at
        else:
            self.failing.pop(department, None)


def alert_payload(alert: MonitoringAlert, site: str) -> dict[str, object]:
    """The bus message of ``alert`` (topic ``callwatch/<site>/monitoring``); its ``id`` is
    the probe's Call-ID and the state, the same for a redelivery."""
    check = alert.check
    return {
        "id": f"{check.call_id}:{alert.state}",
        "kind": "monitoring",
        "state": alert.state,
        "site": site,
        "department": alert.department,
        "source": "probe",
        "outcome": check.outcome,
        "problems": [p.to_dict() for p in check.problems],
        "probe_call_id": check.call_id,
        "number": check.number,
        "call": check.call,
        "placed_at": iso(alert.placed_at),
        "checked_at": iso(alert.checked_at),
        "probe_ring_s": check.probe_ring_s,
        "seen_ring_s": check.seen_ring_s,
    }
