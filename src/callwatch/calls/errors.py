"""The calls package's errors."""

from __future__ import annotations


class CallsError(Exception):
    """Base class of every error the calls package raises."""


class DirectoryError(CallsError):
    """A site directory that cannot be used.

    ``problems`` lists every mistake found (one sentence each, naming the department and the
    entry at fault), so a configuration check can report them all at once.
    """

    def __init__(self, problems: str | list[str] | tuple[str, ...]) -> None:
        listed = (problems,) if isinstance(problems, str) else tuple(problems)
        self.problems: tuple[str, ...] = listed
        super().__init__("; ".join(self.problems))


class AssemblerError(CallsError, TypeError):
    """Something that is not a leg event was fed to the call assembler. (A compiled core
    refuses it at the call itself, with a plain TypeError that names both types.)"""
