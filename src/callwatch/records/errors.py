"""The record schema's exception."""

from __future__ import annotations


class RecordError(ValueError):
    """A record that does not describe a pipeline output (unknown type or version, a field
    missing or of the wrong type, an unknown charter)."""
