"""Charter profiles: what one service charter promises on the phone.

A profile is data, not code: a sixth charter is a new file in ``profiles/`` (or a site's own
file), never a new rule; :mod:`callwatch.profile_files` reads the files. A promise the charter
does not make is left out of the file, and the
profile then holds ``None`` for it: the rule gives no verdict (it is *absent*, never "passed").

Besides ``id``, ``source_file``, ``[name]`` and ``[cadence]``, a file holds one table per rule
of :mod:`callwatch.charter.registry` (the rule's ``section``, with the rule's ``keys``); keys
not declared are an error. The built-in rules' tables have typed fields below; the table of a
rule registered later is kept as a :class:`Section` in ``Profile.more``.

File layout (every table but ``[name]`` is optional)::

    id = "naju"
    source_file = "naju.txt"
    [name]      ko = "나주시", en = "Naju City"
    [cadence]   on_s = 1.0, off_s = 2.0          # ring cadence; default Korea 1 s on, 2 s off
    [answer]    before_ring = 3, source = "..."
    [transfer]  limit_s = 10.0, inclusive = true, source = "..."
    [hangup]    caller_first = true, staff_delay_s = 1.0, note = "...", source = "..."
    [callback]  deadline_min = 60, promised_time = true, deadline_clock = "wall",
                keeps = "answered", keeps_why = "...", source = "..."
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from callwatch.fieldpickle import pickle_by_fields

DeadlineClock = Literal["wall", "business"]
Keeps = Literal["answered", "attempt"]
Scalar = str | int | float | bool

PROFILE_KEYS = ("id", "source_file", "name", "cadence")
"""The top-level keys of a profile file that are not a rule's table."""

TYPED_TABLES = ("answer", "transfer", "hangup", "callback")
"""The rule tables with a typed field of their own in :class:`Profile`."""


@dataclass(frozen=True, slots=True)
class Cadence:
    """The ring cadence a caller hears: ``on_s`` of ringing, then ``off_s`` of silence."""

    on_s: float = 1.0
    off_s: float = 2.0

    @property
    def period_s(self) -> float:
        return self.on_s + self.off_s


@dataclass(frozen=True, slots=True)
class AnswerRule:
    """Answer before ring ``before_ring`` begins."""

    before_ring: int
    source: str


@dataclass(frozen=True, slots=True)
class TransferRule:
    """Connect a transferred caller within ``limit_s`` (``inclusive``: ``≤``; else ``<``)."""

    limit_s: float
    inclusive: bool
    source: str


@dataclass(frozen=True, slots=True)
class HangupRule:
    """The caller hangs up first. ``staff_delay_s`` is the handset delay the charter adds
    after the caller clears; it happens after the line is down and signalling cannot see it."""

    caller_first: bool
    source: str
    staff_delay_s: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class CallbackRule:
    """Call back a missed caller.

    ``deadline_s`` is None when the charter gives no fixed time; ``promised_time`` tells
    whether a time agreed with the caller becomes the deadline. ``keeps`` says what closes
    the promise: an ``answered`` outbound call, or any ``attempt``.
    """

    deadline_s: float | None
    promised_time: bool
    deadline_clock: DeadlineClock
    keeps: Keeps
    keeps_why: str
    source: str


@dataclass(frozen=True, slots=True)
class Section:
    """The table of a registered rule that has no typed field in :class:`Profile`: its
    values as the file gives them."""

    name: str
    values: tuple[tuple[str, Scalar], ...]

    def get(self, key: str, default: Scalar | None = None) -> Scalar | None:
        """The value of ``key``, or ``default`` when the table leaves it out."""
        for name, value in self.values:
            if name == key:
                return value
        return default

    @property
    def source(self) -> str:
        """The charter's sentence the table quotes (``source``), or ``""``."""
        value = self.get("source", "")
        return value if isinstance(value, str) else ""


RuleTable = AnswerRule | TransferRule | HangupRule | CallbackRule | Section
"""What a profile holds for one rule."""


@dataclass(frozen=True, slots=True)
class Profile:
    """One charter's phone promises."""

    id: str
    name_ko: str
    name_en: str
    source_file: str
    cadence: Cadence
    answer: AnswerRule | None
    transfer: TransferRule | None
    hangup: HangupRule | None
    callback: CallbackRule | None
    path: str = ""
    more: tuple[Section, ...] = ()

    def section(self, name: str) -> RuleTable | None:
        """The table of the rule whose section is ``name``: a typed field for the built-in
        rules, a :class:`Section` for others; None when the charter makes no such promise."""
        if name in TYPED_TABLES:
            return getattr(self, name)
        for section in self.more:
            if section.name == name:
                return section
        return None

    @property
    def answer_before_ring(self) -> int | None:
        return None if self.answer is None else self.answer.before_ring

    @property
    def answer_limit_s(self) -> float | None:
        """Seconds from the first ring to the start of the forbidden ring: (N - 1) × period."""
        if self.answer is None:
            return None
        return round((self.answer.before_ring - 1) * self.cadence.period_s, 6)

    @property
    def transfer_limit_s(self) -> float | None:
        return None if self.transfer is None else self.transfer.limit_s


# judged calls carry their profile to the store process: by field values (fieldpickle)
pickle_by_fields(Cadence, AnswerRule, TransferRule, HangupRule, CallbackRule, Section, Profile)
