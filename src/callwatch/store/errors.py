"""The store's exceptions."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of everything the store raises."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (refused, timed out, went away mid-batch)."""


class CodecError(StoreError):
    """A JSON record that does not describe a core object (unknown type, missing field)."""


class SpoolError(StoreError):
    """The on-disk spool cannot be read or written."""


class SpoolFull(SpoolError):
    """The spool holds its maximum size; the batch was refused, nothing was dropped."""
