"""What a charter rule says about a call, and the facts behind it.

A verdict's ``detail`` is not prose: it is a key and named facts (``transfer.connected
kind=blind from=2002 to=2009``), made by :func:`detail_code` and read back by
:func:`parse_detail`, so that each face (pages, reports, exports) words it in its own language
through the ko/en catalogue. Fact values are percent-encoded, so a space or ``=`` in a party's
name cannot break the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from callwatch.fieldpickle import pickle_by_fields
from callwatch.frozen import fast_init


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's judgement of one call.

    ``rule`` names a rule of :mod:`callwatch.charter.registry`. ``measured`` and ``limit`` are
    in ``unit`` (seconds for answer/transfer/callback; for hangup ``measured`` is None).
    ``detail`` is a detail code (:func:`detail_code`: what happened, e.g. who answered or who
    hung up first). ``evidence`` lists the leg-event kinds and times (``"alerting@<µs>"``)
    the verdict rests on.
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

    def __init__(
        self,
        rule: str,
        charter: str,
        ok: bool,
        measured: float | None,
        limit: float | None,
        unit: str = "s",
        detail: str = "",
        rings: int | None = None,
        limit_rings: int | None = None,
        evidence: tuple[str, ...] = (),
    ) -> None:
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "charter", charter)
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "measured", measured)
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "detail", detail)
        object.__setattr__(self, "rings", rings)
        object.__setattr__(self, "limit_rings", limit_rings)
        object.__setattr__(self, "evidence", evidence)


pickle_by_fields(Verdict)  # the service hands verdicts to its store process


@dataclass(frozen=True, slots=True)
class Detail:
    """A verdict's detail read back: its key (``answer.staff``) and its facts."""

    key: str
    facts: dict[str, str]


pickle_by_fields(Detail)


def detail_code(key: str, **facts: object) -> str:
    """``key`` followed by each fact that is not None as ``name=value`` (values
    percent-encoded; ``from_`` is written ``from``)."""
    parts = [key]
    for name, value in facts.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, float):
            value = f"{value:g}"
        text = str(value)
        if not (text.isascii() and text.isalnum()):  # letters and digits: quote keeps them
            text = quote(text, safe="")
        parts.append(f"{name.rstrip('_')}={text}")
    return " ".join(parts)


def parse_detail(text: str) -> Detail | None:
    """The key and facts of a detail code; None when ``text`` is not one (free text, or
    empty)."""
    head, *rest = text.split(" ") if text else [""]
    if not head or not all(part.replace("_", "").isalnum() for part in head.split(".")):
        return None
    facts = {}
    for part in rest:
        name, eq, value = part.partition("=")
        if not eq or not name.isidentifier():
            return None
        facts[name] = unquote(value)
    return Detail(head, facts)


# written out (callwatch.frozen): compiled, the generated ones would run interpreted
fast_init(Verdict, Verdict.__init__)
