"""The site directory: which user parts are staff extensions, and which department owns them.

A party whose (normalised) user part falls in a department's ``extensions`` is *staff*; a
user part listed in a department's ``numbers`` (public numbers, ring groups) reaches that
department; anything else is *external*.

An extension entry is one of (see :func:`parse_extension`):

- a number or a range of same-length numbers: ``"2100"``, ``"2001-2009"``;
- a phone's name, as Asterisk and FreePBX endpoints are often called: ``"reception"``,
  ``"telephone1"`` (it starts with a letter);
- a glob pattern of names or numbers: ``"test*"`` (``*`` any run of characters),
  ``"desk?"`` (``?`` one character), ``"room[1-3]"`` (``[...]`` one of a set, ``[!...]`` none
  of it), ``"20??"``.

Names and patterns match without regard to case, after the separators below are removed
from both sides. When two departments' patterns could both match a phone, the department
listed first owns it; a name or range end that another department's pattern matches is an
error.

User parts are normalised by :func:`normalize_number` before every lookup: visual separators
(``-``, ``.``, spaces, parentheses) are removed, and a leading ``+82`` (Korea) becomes ``0``
(``+82 61-339-0000`` → ``0613390000``; ``+820613390000`` → ``0613390000``). No other country
code is guessed at, and a user part with letters (``anonymous``, ``s``) is kept as it is.
"""

from __future__ import annotations

import enum
import fnmatch
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from callwatch.calls.errors import DirectoryError
from callwatch.fieldpickle import pickle_by_fields

_SEPARATORS = str.maketrans("", "", "-. ()\t")
_CACHE_LIMIT = 4096


class _Missing(enum.Enum):
    """Not in a memo yet (a memo's None is a remembered "no department")."""

    TOKEN = 0


_MISSING: Final = _Missing.TOKEN
_normalized: dict[str, str] = {}


def normalize_number(user: str | None) -> str | None:
    """Strip visual separators and turn a leading ``+82`` into ``0``; None stays None."""
    if user is None:
        return None
    if user.isdigit():
        return user
    text = _normalized.get(user)
    if text is None:
        text = user.strip().translate(_SEPARATORS)
        if text.startswith("+82"):
            rest = text[3:]
            text = rest if rest.startswith("0") else "0" + rest
        if len(_normalized) >= _CACHE_LIMIT:
            _normalized.clear()
        _normalized[user] = text
    return text


@dataclass(frozen=True, slots=True, order=True)
class ExtensionRange:
    """A run of same-length numeric extensions, ``first`` to ``last`` inclusive."""

    first: str
    last: str

    @classmethod
    def parse(cls, spec: str | int) -> ExtensionRange:
        """Parse ``"2001-2009"`` or ``"2100"`` (or the int ``2100``); raise DirectoryError."""
        text = str(spec).strip()
        first, sep, last = text.partition("-")
        first, last = first.strip(), (last.strip() if sep else first.strip())
        if not first.isdigit() or not last.isdigit() or not first.isascii() or not last.isascii():
            raise DirectoryError(
                f"extension {text!r} is not a number or a range like '2001-2009' (digits only)"
            )
        if len(first) != len(last):
            raise DirectoryError(
                f"extension range {text!r} has ends of different lengths; "
                "write ranges of same-length numbers"
            )
        if first > last:
            raise DirectoryError(f"extension range {text!r} runs backwards")
        return cls(first, last)

    def __contains__(self, user: object) -> bool:
        return (
            isinstance(user, str)
            and len(user) == len(self.first)
            and user.isdigit()
            and self.first <= user <= self.last
        )

    def overlaps(self, other: ExtensionRange) -> bool:
        """True when some extension is in both ranges."""
        return (
            len(self.first) == len(other.first)
            and self.first <= other.last
            and other.first <= self.last
        )

    def __str__(self) -> str:
        return self.first if self.first == self.last else f"{self.first}-{self.last}"


_GLOB = frozenset("*?[")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.~+!*?\[\]-]+")
_RANGE_TYPO = re.compile(r"\s*(\d+)\s*(?:[\u2010-\u2015~\u301c\uff5e_/:]|\.\.|to)\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class ExtensionPattern:
    """A phone's name (``reception``) or a glob pattern (``test*``, ``desk[1-3]``, ``20??``).

    ``text`` is the entry as written; matching folds case and ignores the separators that
    :func:`normalize_number` removes from user parts.
    """

    text: str
    key: str = field(default="", compare=False)
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, spec: str) -> ExtensionPattern:
        """Parse a name or pattern; raise DirectoryError saying what is wrong with it."""
        text = spec.strip()
        if not text.isascii() or not _NAME_CHARS.fullmatch(text):
            hint = suggest_extension(text)
            raise DirectoryError(
                f"extension {text!r} is not a phone name or pattern (letters, digits, "
                f"'_', '.', '-', '+', '~' and the wildcards * ? [...])"
                + (f"; did you mean {hint!r}?" if hint else "")
            )
        if text.count("[") != text.count("]") or re.search(r"\[[^\]]*\[", text):
            raise DirectoryError(f"extension pattern {text!r} has an unclosed '['")
        key = _fold(text)
        if not key.strip("*?"):
            raise DirectoryError(
                f"extension pattern {text!r} matches every caller; name the phones, e.g. 'test*'"
            )
        regex = re.compile(fnmatch.translate(key)) if any(c in _GLOB for c in key) else None
        return cls(text, key, regex)

    @property
    def is_glob(self) -> bool:
        """True for a pattern, False for a plain name."""
        return self._regex is not None

    def __contains__(self, user: object) -> bool:
        if not isinstance(user, str) or not user:
            return False
        folded = user.lower()
        if self._regex is None:
            return folded == self.key
        return self._regex.match(folded) is not None

    def overlaps(self, other: ExtensionRange | ExtensionPattern) -> bool:
        """True when something is known to match both (names, range ends; two patterns are
        not compared: the first department listed wins)."""
        if isinstance(other, ExtensionRange):
            return self.is_glob and (other.first in self or other.last in self)
        if not self.is_glob:
            return self.key in other
        return not other.is_glob and other.key in self

    def __str__(self) -> str:
        return self.text


Extension = ExtensionRange | ExtensionPattern
"""One entry of a department's ``extensions``."""


def _fold(text: str) -> str:
    """Lower-case, and the separators of :func:`normalize_number` removed outside ``[...]``."""
    out: list[str] = []
    depth = 0
    for ch in text.lower():
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in "-. ()\t":
            continue
        out.append(ch)
    return "".join(out)


def parse_extension(spec: str | int) -> Extension:
    """An extension entry: a glob pattern (it has ``*``, ``?`` or ``[``), a phone's name (it
    starts with a letter), else a number or range. Raise DirectoryError with a hint."""
    text = str(spec).strip()
    if any(ch in _GLOB for ch in text) or text[:1].isalpha():
        return ExtensionPattern.parse(text)
    try:
        return ExtensionRange.parse(text)
    except DirectoryError as exc:
        hint = suggest_extension(text)
        if hint is None:
            extra = "; a phone's name starts with a letter, e.g. 'reception'"
            if text and text[0].isdigit() and any(c.isalpha() for c in text):
                raise DirectoryError(exc.problems[0] + extra) from None
            raise
        raise DirectoryError(f"{exc.problems[0]}; did you mean {hint!r}?") from None


def suggest_extension(text: str) -> str | None:
    """A likely meaning of a mistaken extension entry, or None.

    ``2001–2009``, ``2001~2009``, ``2001..2009``, ``2001 to 2009`` → ``2001-2009``;
    full-width digits → ASCII; ``sip:reception@pbx`` → ``reception``; a regular expression or
    SQL wildcard (``test.*``, ``test%``, ``test.+``) → ``test*``.
    """
    plain = unicodedata.normalize("NFKC", text).strip()
    match = _RANGE_TYPO.fullmatch(plain)
    if match:
        return f"{match.group(1)}-{match.group(2)}"
    if plain != text.strip() and _NAME_CHARS.fullmatch(plain) and plain.isascii():
        return plain
    user = re.sub(r"^<?(?:sips?|tel|pjsip|sip):", "", plain, flags=re.IGNORECASE)
    user = user.split("@", 1)[0].split(";", 1)[0].strip("<> ")
    if user != plain and user and _NAME_CHARS.fullmatch(user):
        return user
    wild = re.sub(r"(\.\*|\.\+|%|\\d\+|\\d\*)$", "*", plain)
    if wild != plain and _NAME_CHARS.fullmatch(wild):
        return wild
    return None


@dataclass(frozen=True, slots=True)
class Department:
    """One department: its staff extensions, the numbers that reach it, its charter.

    ``extensions`` may be given as text (``"2001-2009"``, ``"2100"``, ``"reception"``,
    ``"test*"``) and is stored parsed; ``numbers`` are stored normalised. ``charter`` None
    means the site's default charter.
    """

    name: str
    name_en: str | None = None
    extensions: tuple[Extension, ...] = ()
    numbers: tuple[str, ...] = ()
    charter: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DirectoryError("a department needs a non-empty name")
        problems: list[str] = []
        ranges: list[Extension] = []
        for spec in self.extensions:
            if isinstance(spec, ExtensionRange | ExtensionPattern):
                ranges.append(spec)
                continue
            try:
                ranges.append(parse_extension(spec))
            except DirectoryError as exc:
                problems.append(f"department {self.name!r}: {exc}")
        numbers: list[str] = []
        for raw in self.numbers:
            number = normalize_number(str(raw))
            if not number or not number.isdigit() or not number.isascii():
                problems.append(f"department {self.name!r}: number {raw!r} is not a phone number")
            else:
                numbers.append(number)
        if problems:
            raise DirectoryError(problems)
        object.__setattr__(self, "extensions", tuple(ranges))
        object.__setattr__(self, "numbers", tuple(numbers))

    def has_extension(self, user: str) -> bool:
        """True when the (already normalised) user part is one of this department's phones."""
        return any(user in r for r in self.extensions)


class Directory:
    """Answers who is staff and which department a number belongs to.

    Raises DirectoryError (listing every problem) for duplicate department names, extension
    ranges shared by two departments, and a public number claimed twice or equal to another
    department's extension.
    """

    def __init__(
        self, departments: Iterable[Department] = (), default_charter: str | None = None
    ) -> None:
        self._departments = tuple(departments)
        self.default_charter = default_charter
        self._by_name = {d.name: d for d in self._departments}
        self._by_number: dict[str, Department] = {}
        # An extension number is a run of digits as long as its range's ends: a number of any
        # other length (a caller's phone number) is not staff, without a look at the ranges.
        self._extension_lengths = {
            len(r.first)
            for d in self._departments
            for r in d.extensions
            if isinstance(r, ExtensionRange)
        }
        self._patterns = [
            (p, d)
            for d in self._departments
            for p in d.extensions
            if isinstance(p, ExtensionPattern)
        ]
        # Answers by user part as given (before normalising): the directory never changes.
        self._extension_of: dict[str | None, str | None] = {}
        self._number_of: dict[str | None, str | None] = {}
        self._validate()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Directory:
        """Build from a parsed site file: ``site.charter`` and the ``departments`` array.

        Every mistake is collected into one DirectoryError whose messages name the entry
        (``departments[1] ('민원'): ...``).
        """
        problems: list[str] = []
        site = config.get("site", {})
        default_charter = site.get("charter") if isinstance(site, Mapping) else None
        if default_charter is not None and not isinstance(default_charter, str):
            problems.append("site.charter must be a charter name (text)")
            default_charter = None
        raw_departments = config.get("departments", [])
        if not isinstance(raw_departments, list):
            raise DirectoryError("departments must be an array of tables ([[departments]])")
        departments: list[Department] = []
        for index, raw in enumerate(raw_departments):
            try:
                departments.append(_department_from_table(raw, index))
            except DirectoryError as exc:
                problems.extend(exc.problems)
        if problems:
            raise DirectoryError(problems)
        return cls(departments, default_charter)

    @property
    def departments(self) -> tuple[Department, ...]:
        return self._departments

    def department(self, name: str) -> Department:
        """The department called ``name``; DirectoryError if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise DirectoryError(f"no department named {name!r}") from None

    def is_staff(self, user: str | None) -> bool:
        """True when the user part is a configured extension."""
        name = self._extension_of.get(user, _MISSING)
        if name is _MISSING:
            name = self._learn_extension(user)
        return name is not None

    def department_of_extension(self, user: str | None) -> str | None:
        """The name of the department whose extension ``user`` is, or None."""
        name = self._extension_of.get(user, _MISSING)
        if name is _MISSING:
            return self._learn_extension(user)
        return name

    def department_of_number(self, user: str | None) -> str | None:
        """The name of the department a public number or ring group reaches, or None."""
        name = self._number_of.get(user, _MISSING)
        if name is _MISSING:
            number = normalize_number(user)
            found = self._by_number.get(number) if number else None
            name = found.name if found else None
            if len(self._number_of) >= _CACHE_LIMIT:
                self._number_of.clear()
            self._number_of[user] = name
        return name

    def is_ours(self, user: str | None) -> bool:
        """True for a staff extension or a department number (the office's side)."""
        return self.is_staff(user) or self.department_of_number(user) is not None

    def _learn_extension(self, user: str | None) -> str | None:
        number = normalize_number(user)
        found = (
            next((d for d in self._departments if d.has_extension(number)), None)
            if number and len(number) in self._extension_lengths and number.isdigit()
            else None
        )
        if found is None and number and self._patterns:
            # Names first (exact), then patterns in the order the departments are listed.
            found = next((d for p, d in self._patterns if not p.is_glob and number in p), None)
            found = found or next((d for p, d in self._patterns if number in p), None)
        name = found.name if found else None
        if len(self._extension_of) >= _CACHE_LIMIT:
            self._extension_of.clear()
        self._extension_of[user] = name
        return name

    def charter_of(self, department: str | None) -> str | None:
        """The charter of ``department`` (its own, else the default); None → the default."""
        if department is None:
            return self.default_charter
        charter = self.department(department).charter
        return charter if charter is not None else self.default_charter

    def _validate(self) -> None:
        problems: list[str] = []
        seen: set[str] = set()
        for dept in self._departments:
            if dept.name in seen:
                problems.append(f"department name {dept.name!r} is used twice")
            seen.add(dept.name)
        owned = sorted(
            (r, d.name)
            for d in self._departments
            for r in d.extensions
            if isinstance(r, ExtensionRange)
        )
        for i, (rng, name) in enumerate(owned):
            for other, other_name in owned[i + 1 :]:
                if len(other.first) == len(rng.first) and other.first > rng.last:
                    break
                if other_name != name and rng.overlaps(other):
                    problems.append(
                        f"extensions {rng} of {name!r} overlap extensions {other} of "
                        f"{other_name!r}; an extension belongs to one department"
                    )
        plain: list[tuple[Extension, Department]] = [
            (r, d) for d in self._departments for r in d.extensions if isinstance(r, ExtensionRange)
        ]
        for i, (pattern, dept) in enumerate(self._patterns):
            for rival, rival_dept in [*self._patterns[i + 1 :], *plain]:
                if rival_dept is not dept and pattern.overlaps(rival):
                    problems.append(
                        f"extensions {pattern} of {dept.name!r} and {rival} of "
                        f"{rival_dept.name!r} match the same phone; an extension belongs "
                        "to one department"
                    )
        for dept in self._departments:
            for number in dept.numbers:
                holder = self._by_number.get(number)
                if holder is not None and holder is not dept:
                    problems.append(
                        f"number {number} is listed by both {holder.name!r} and {dept.name!r}"
                    )
                self._by_number.setdefault(number, dept)
                owner = next((d for d in self._departments if d.has_extension(number)), None)
                if owner is not None and owner is not dept:
                    problems.append(
                        f"number {number} of {dept.name!r} is an extension of {owner.name!r}"
                    )
        if problems:
            raise DirectoryError(problems)


_DEPARTMENT_KEYS = ("name", "name_en", "extensions", "numbers", "charter")


def _department_from_table(raw: object, index: int) -> Department:
    where = f"departments[{index}]"
    if not isinstance(raw, Mapping):
        raise DirectoryError(f"{where} must be a table")
    name = raw.get("name")
    if isinstance(name, str) and name.strip():
        where = f"{where} ({name!r})"
    problems = [
        f"{where}: unknown key {key!r} (expected one of {', '.join(_DEPARTMENT_KEYS)})"
        for key in raw
        if key not in _DEPARTMENT_KEYS
    ]
    for key in ("name_en", "charter"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            problems.append(f"{where}: {key} must be text")
    lists: dict[str, tuple[Any, ...]] = {}
    for key in ("extensions", "numbers"):
        value = raw.get(key, [])
        if not isinstance(value, list):
            problems.append(f'{where}: {key} must be a list, e.g. ["2001-2009", "2100"]')
            value = []
        lists[key] = tuple(value)
    try:
        department = Department(
            name=name if isinstance(name, str) else "",
            name_en=raw.get("name_en") if isinstance(raw.get("name_en"), str) else None,
            extensions=lists["extensions"],
            numbers=lists["numbers"],
            charter=raw.get("charter") if isinstance(raw.get("charter"), str) else None,
        )
    except DirectoryError as exc:
        problems += [f"departments[{index}]: {p}" for p in exc.problems]
    if problems:
        raise DirectoryError(problems)
    return department


# The service hands the site to its store process: compiled (mypyc), a frozen class cannot be
# unpickled by setting its fields afterwards, the default (``callwatch serve`` stopped there).
pickle_by_fields(ExtensionRange, ExtensionPattern, Department)
