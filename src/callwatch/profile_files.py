"""Reading charter profiles from TOML files: the built-in ones under ``charter/profiles/`` and a
site's own. The file layout is described in :mod:`callwatch.charter.profile`; the rule tables
a file may hold, and their keys, are those of :mod:`callwatch.charter.registry`. A file is
checked by a pydantic model made from the registry (:func:`profile_model`): the built-in
rules' tables are typed models with their own checks, another rule's table takes its declared
keys with plain values (kept as a :class:`~callwatch.charter.profile.Section`). The checked
file becomes a :class:`~callwatch.charter.profile.Profile`, plain data for the core.

The built-in charters are the ``*.toml`` files shipped in that folder: a sixth charter is one
more file there, named by its ``id``.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from callwatch.charter import registry
from callwatch.charter.errors import ProfileError, UnknownProfileError
from callwatch.charter.profile import (
    TYPED_TABLES,
    AnswerRule,
    Cadence,
    CallbackRule,
    DeadlineClock,
    HangupRule,
    Keeps,
    Profile,
    Scalar,
    Section,
    TransferRule,
)
from callwatch.validation import fail, first_unknown, problems

_DEADLINE_CLOCKS: dict[str, DeadlineClock] = {"wall": "wall", "business": "business"}
_KEEPS: dict[str, Keeps] = {"answered": "answered", "attempt": "attempt"}
"""The words a profile may write for ``callback.deadline_clock`` and ``callback.keeps``."""

_FOLDER = resources.files("callwatch.charter").joinpath("profiles")

BUILTIN: tuple[str, ...] = tuple(
    sorted(
        ref.name.removesuffix(".toml") for ref in _FOLDER.iterdir() if ref.name.endswith(".toml")
    )
)
"""The ids of the charters shipped with callwatch."""


def builtin_profiles() -> dict[str, Profile]:
    """The charters shipped with callwatch, by id."""
    return {name: _load_builtin(name) for name in BUILTIN}


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in profile by id (``"naju"``) or a profile file by path.

    Raises :class:`UnknownProfileError` for a name that is neither, and :class:`ProfileError`
    (naming the file and key) for a file that does not validate.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in BUILTIN:
        return _load_builtin(text)
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        known = ", ".join(BUILTIN)
        raise UnknownProfileError(
            f"unknown charter {text!r}: not a built-in profile ({known}) nor a .toml file"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(path, "", f"cannot read profile: {exc.strerror or exc}") from exc
    return parse_profile(raw, str(path))


def parse_profile(raw: bytes | str, origin: str) -> Profile:
    """Parse and validate profile TOML; ``origin`` names the file in error messages."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(origin, "", f"not valid TOML: {exc}") from exc
    model = profile_model()
    try:
        checked = model.model_validate(data)
    except ValidationError as exc:
        key, message = first_unknown(problems(exc, model, {"name": "missing table"}))[0]
        raise ProfileError(origin, key, message) from None
    return _profile(checked, data, origin)


def _load_builtin(name: str) -> Profile:
    ref = _FOLDER.joinpath(f"{name}.toml")
    return parse_profile(ref.read_bytes(), f"callwatch/charter/profiles/{name}.toml")


# -- the values: each validator fails with the sentence ProfileError carries ------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(f"must be a non-empty string, not {value!r}")
    return value


def _note(value: Any) -> str:
    """Text that may be empty (a key with a default)."""
    if not isinstance(value, str):
        raise fail(f"must be a non-empty string, not {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(f"must be true or false, not {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"must be a number, not {value!r}")
    if not math.isfinite(value):
        raise fail("must be a finite number")
    return float(value)


def _positive(value: Any) -> float:
    number = _number(value)
    if number <= 0:
        raise fail(f"must be > 0, not {value}")
    return number


def _not_negative(value: Any) -> float:
    number = _number(value)
    if number < 0:
        raise fail(f"must be ≥ 0.0, not {value}")
    return number


def _ring(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise fail("must be an integer ≥ 2")
    return value


def _id(value: Any) -> str:
    pid = _text(value)
    if not pid.isidentifier() and not pid.replace("-", "_").isidentifier():
        raise fail(f"{pid!r} is not a simple name")
    return pid


def _clock(value: Any) -> DeadlineClock:
    word = _note(value)
    clock = _DEADLINE_CLOCKS.get(word)
    if clock is None:
        raise fail(f"{word!r}: expected 'wall' or 'business'")
    return clock


def _keeps(value: Any) -> Keeps:
    word = _text(value)
    keeps = _KEEPS.get(word)
    if keeps is None:
        raise fail(f"{word!r}: expected 'answered' or 'attempt'")
    return keeps


def _scalar(value: Any) -> Scalar:
    if not isinstance(value, str | int | float | bool):
        raise fail(f"must be a string, number or true/false, not {value!r}")
    return value


Text = Annotated[str, PlainValidator(_text)]
Flag = Annotated[bool, PlainValidator(_flag)]
Positive = Annotated[float, PlainValidator(_positive)]
NotNegative = Annotated[float, PlainValidator(_not_negative)]

# -- the tables -------------------------------------------------------------------------------


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class NameTable(_Table):
    """``[name]``: the charter's name in Korean and in English."""

    ko: Text
    en: Text


class CadenceTable(_Table):
    """``[cadence]``: the ring cadence (default Korea's: 1 s on, 2 s off)."""

    on_s: Positive = 1.0
    off_s: NotNegative = 2.0


class AnswerTable(_Table):
    """``[answer]``: answer before ring ``before_ring`` begins."""

    before_ring: Annotated[int, PlainValidator(_ring)]
    source: Text


class TransferTable(_Table):
    """``[transfer]``: connect a transferred caller within ``limit_s``."""

    limit_s: Positive
    inclusive: Flag = True
    source: Text


class HangupTable(_Table):
    """``[hangup]``: the caller hangs up first."""

    caller_first: Flag
    staff_delay_s: NotNegative | None = None
    note: Annotated[str, PlainValidator(_note)] = ""
    source: Text


class CallbackTable(_Table):
    """``[callback]``: call a missed caller back (a deadline, a promised time, or both)."""

    promised_time: Flag = False
    deadline_min: Annotated[Positive | None, Field(validate_default=True)] = None
    deadline_clock: Annotated[DeadlineClock, PlainValidator(_clock)] = "wall"
    keeps: Annotated[Keeps, PlainValidator(_keeps)]
    keeps_why: Text
    source: Text

    @field_validator("deadline_min")
    @classmethod
    def _a_deadline_or_a_promised_time(cls, value: float | None, info: ValidationInfo) -> Any:
        if value is None and not info.data.get("promised_time", True):
            raise fail(
                "a callback promise needs deadline_min or promised_time = true "
                "(leave the [callback] table out when the charter makes none)"
            )
        return value


_TYPED: dict[str, type[_Table]] = {
    "answer": AnswerTable,
    "transfer": TransferTable,
    "hangup": HangupTable,
    "callback": CallbackTable,
}
"""The model of each table with a typed field in :class:`Profile` (``TYPED_TABLES``)."""


class ProfileFile(_Table):
    """The keys every profile file has; :func:`profile_model` adds one table per rule."""

    id: Annotated[str, PlainValidator(_id)]
    source_file: Text
    name: NameTable
    cadence: CadenceTable = CadenceTable()


_PlainValue = Annotated[Scalar | None, PlainValidator(_scalar)]
"""A value of a rule's table that has no typed model: text, a number or true/false."""

_models: dict[tuple[tuple[str, tuple[str, ...]], ...], type[ProfileFile]] = {}


def profile_model() -> type[ProfileFile]:
    """The model of a profile file under the rules registered now: :class:`ProfileFile` and,
    for each rule, its table (typed for the built-in rules, the declared keys with plain
    values for others), each optional."""
    tables = tuple((rule.section, rule.keys) for rule in registry.rules())
    model = _models.get(tables)
    if model is None:
        fields: dict[str, Any] = {}
        for section, keys in tables:
            values: dict[str, Any] = {key: (_PlainValue, None) for key in keys}
            table = _TYPED.get(section) or create_model(
                f"{section}_table", __base__=_Table, **values
            )
            fields[section] = (table | None, None)
        model = _models[tables] = create_model("Profile_file", __base__=ProfileFile, **fields)
    return model


def _profile(checked: ProfileFile, data: dict[str, Any], origin: str) -> Profile:
    """The checked file as the core's :class:`Profile`."""
    answer: AnswerTable | None = getattr(checked, "answer", None)
    transfer: TransferTable | None = getattr(checked, "transfer", None)
    hangup: HangupTable | None = getattr(checked, "hangup", None)
    callback: CallbackTable | None = getattr(checked, "callback", None)
    return Profile(
        id=checked.id,
        name_ko=checked.name.ko,
        name_en=checked.name.en,
        source_file=checked.source_file,
        cadence=Cadence(on_s=checked.cadence.on_s, off_s=checked.cadence.off_s),
        answer=None if answer is None else AnswerRule(answer.before_ring, answer.source),
        transfer=None
        if transfer is None
        else TransferRule(transfer.limit_s, transfer.inclusive, transfer.source),
        hangup=None
        if hangup is None
        else HangupRule(hangup.caller_first, hangup.source, hangup.staff_delay_s, hangup.note),
        callback=None
        if callback is None
        else CallbackRule(
            deadline_s=None if callback.deadline_min is None else callback.deadline_min * 60.0,
            promised_time=callback.promised_time,
            deadline_clock=callback.deadline_clock,
            keeps=callback.keeps,
            keeps_why=callback.keeps_why,
            source=callback.source,
        ),
        path=origin,
        more=tuple(
            Section(rule.section, tuple(data[rule.section].items()))
            for rule in registry.rules()
            if rule.section not in TYPED_TABLES and rule.section in data
        ),
    )
