"""The monitoring banner: the departments whose latest probe call the capture did not confirm
(``missing`` or ``mismatch`` in ``probe_results``). Read from the store, so the banner stays
through a restart and goes once a later probe call of the department is confirmed."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from callwatch.probe import results
from callwatch.probe.alerts import FAILED
from callwatch.reports.weeks import local_datetime
from callwatch.site import SiteConfig
from callwatch.store import Store, StoreError


def banner(store: Store, site: SiteConfig, departments: Collection[str]) -> list[dict[str, Any]]:
    """One entry per department of ``departments`` in alert: its name, the outcome, when the
    probe was placed (site time) and what differed."""
    try:
        latest = results.latest(store)
    except StoreError:
        return []
    return [
        {
            "department": name,
            "outcome": r.outcome,
            "when": local_datetime(r.placed_us, site.timezone).strftime("%Y-%m-%d %H:%M"),
            "problems": list(r.problems),
        }
        for name, r in sorted(latest.items())
        if r.outcome in FAILED and name in departments
    ]
