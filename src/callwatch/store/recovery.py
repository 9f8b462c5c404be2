"""After a restart: the calls that were going on when the service stopped.

Their leg events were stored as they happened (with no call yet); the dialog and call state
that would have finished them is gone. :func:`recover_interrupted` assembles those events
into calls, judges them as the pipeline would (a call still up is incomplete, and an
incomplete call gets no verdict, so a restart never makes a breach) and saves them.
"""

from __future__ import annotations

from callwatch.calls.assembler import CallAssembler
from callwatch.charter import rules
from callwatch.pipeline import JudgedCall
from callwatch.site import SiteConfig
from callwatch.store.store import Store


def recover_interrupted(store: Store, site: SiteConfig) -> list[JudgedCall]:
    """Assemble, judge and save the calls of the stored events no call claimed; return them."""
    assembler = CallAssembler(site.directory, site.correlation_headers, pbx=site.pbx)
    calls = []
    for event in store.pending_events():
        calls.extend(assembler.feed(event))
    calls.extend(assembler.flush())
    judged = []
    for call in calls:
        profile = site.profile_for(call.department)
        judged.append(JudgedCall(call, profile, rules.judge(call, profile)))
    store.save(judged)
    return judged
