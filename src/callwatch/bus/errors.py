"""The bus adapter's exceptions."""

from __future__ import annotations


class BusError(Exception):
    """Base class of everything the bus adapter raises."""


class BusConfigError(BusError):
    """A broker URL or publisher setting that cannot be used."""


class PayloadError(BusError):
    """A bus message that does not describe what its topic promises (bad JSON, wrong type)."""
