"""The charter package's errors."""

from __future__ import annotations

from pathlib import Path


class CharterError(Exception):
    """Base class of every error the charter package raises."""


class ProfileError(CharterError):
    """A charter profile file that cannot be used: names the file and the key at fault."""

    def __init__(self, path: str | Path, key: str, message: str) -> None:
        self.path = str(path)
        self.key = key
        self.message = message
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {message}")


class UnknownProfileError(CharterError):
    """A charter name that is neither a built-in profile nor a profile file."""


class CallbackError(CharterError):
    """A callback book request that cannot be honoured (unknown callback, bad time)."""
