"""The bus adapter's exceptions."""

from __future__ import annotations


class BusError(Exception):
    """Base class of everything the bus adapter raises."""


class BusConfigError(BusError):
    """A broker URL or publisher setting that cannot be used."""


class SpoolError(BusError):
    """The publisher's on-disk spool cannot be read or written."""


class SpoolFull(SpoolError):
    """The spool holds its maximum size; the batch was refused, nothing of it was written."""


class PayloadError(BusError):
    """A bus message that does not describe what its topic promises (bad JSON, wrong type)."""
