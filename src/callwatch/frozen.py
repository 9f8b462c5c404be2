"""What the core does differently because it may run compiled by mypyc, in one place.

The core's value objects are slotted dataclasses, most of them frozen. Two costs come with
the ``__init__`` that ``dataclasses`` generates: a frozen class's sets each field through
``object.__setattr__`` (a fifth of the SIP parse time in the interpreter), and in the compiled
build it stays interpreted (mypyc compiles the methods written in the source, not the ones
generated at run time), a Python call for every object the compiled core builds. Three
hand-written shortcuts build them faster, and each keeps a list of the class's fields by hand:

* an ``__init__`` written out with one store per field (``object.__setattr__`` for a frozen
  class, ``self.x = x`` otherwise: compiled, both are plain stores), as ``Via``,
  ``SipMessage`` and the classes built for every call have (the leg events, the dialog and
  call records, ``Call``, ``Leg``, ``JudgedCall``, ``Verdict``);
* an ``__init__`` that stores through each slot's own setter (:func:`slot_setter`), as
  ``Packet`` has: about half the time of the generated one in both builds;
* a *builder*: a plain class with the same slots whose ``__init__`` stores each field and then
  assigns ``self.__class__`` the frozen class (CPython allows it between classes of identical
  slot layout). Only the interpreted build uses it (:func:`runs_compiled`): compiled classes
  cannot change class.

Each class that takes a shortcut declares it with :func:`fast_init`; ``tests/test_frozen.py``
reads the source of every declared ``__init__`` and fails when its stores and the class's
fields differ (a field added to the class and not to a shortcut, or the other way round), and
when a written-out ``__init__`` takes other parameters, in another order or with other
defaults than the generated one would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

FAST_INITS: Final[list[tuple[type, tuple[Callable[..., None], ...]]]] = []
"""Every frozen class with a hand-written construction path, and those ``__init__``s."""


def runs_compiled(module_file: str) -> bool:
    """True when the module whose ``__file__`` is given runs compiled (an extension module)."""
    return not module_file.endswith(".py")


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The setter of ``cls``'s slot ``name``, which bypasses a frozen ``__setattr__``."""
    setter: Callable[[Any, Any], None] = getattr(cls, name).__set__
    return setter


def fast_init(cls: type, *inits: Callable[..., None]) -> None:
    """Declare the hand-written ``__init__``s that build ``cls`` (checked by the tests)."""
    FAST_INITS.append((cls, inits))
