"""What a charter rule says about a call."""

from __future__ import annotations

from dataclasses import dataclass

from callwatch.fieldpickle import pickle_by_fields


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's judgement of one call.

    ``rule`` names a rule of :mod:`callwatch.charter.registry`. ``measured`` and ``limit`` are
    in ``unit`` (seconds for answer/transfer/callback; for hangup ``measured`` is None and
    ``detail`` names who hung up first). ``evidence`` lists the leg-event kinds and times
    (``"alerting@<µs>"``) the verdict rests on.
    """

    rule: str
    charter: str
    ok: bool
    measured: float | None
    limit: float | None
    unit: str = "s"
    detail: str = ""
    rings: int | None = None
    limit_rings: int | None = None
    evidence: tuple[str, ...] = ()


pickle_by_fields(Verdict)  # the service hands verdicts to its store process
