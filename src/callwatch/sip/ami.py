"""Asterisk Manager Interface (AMI) events as the core takes them: plain, time-stamped data.

The adapter (:mod:`callwatch.pbx.ami`) reads the manager's text, live or from a recorded file,
and hands each event over as an :class:`AmiEvent`; the pipeline
(:meth:`~callwatch.pipeline.CallPipeline.push`) puts it through the same clock and reorder
window as the SIP packets, and the call assembler reads it
(:mod:`callwatch.calls.ami_links`). ``ts`` is the event's own ``Timestamp:`` (Asterisk's
``timestampevents = yes``), never the time it was read: time is data here as everywhere in
the core. :class:`HepChannel` is the one tie between a SIP dialog and a manager channel that
comes from the SIP side (HEP's correlation id).
"""

from __future__ import annotations

from dataclasses import dataclass

from callwatch.fieldpickle import pickle_by_fields


@dataclass(frozen=True, slots=True)
class AmiEvent:
    """One manager event.

    ``ts`` is its ``Timestamp:`` in integer microseconds since the Unix epoch (UTC); ``name``
    its ``Event:`` header (``Newchannel``, ``UserEvent``, ``BlindTransfer``...); ``fields``
    every other header in the order sent, names as Asterisk spells them. ``seq`` is its
    1-based place in its stream (the file or the connection), so a complaint can name it.
    """

    ts: int
    name: str
    fields: tuple[tuple[str, str], ...] = ()
    seq: int = 0

    def get(self, key: str) -> str | None:
        """The value of header ``key`` (exact spelling; the first one when repeated)."""
        for name, value in self.fields:
            if name == key:
                return value
        return None


@dataclass(frozen=True, slots=True)
class HepChannel:
    """A HEP copy of a message of the dialog ``call_id`` carried ``channel`` as its
    correlation id, at ``ts``: Asterisk's ``res_hep_pjsip`` with ``uuid_type = channel`` names
    the channel of a dialog it answered this way (from its first response with a To-tag on).
    The feed hands one on when a dialog's correlation id first differs from its Call-ID; the
    call assembler ties the dialog to that manager channel with it."""

    ts: int
    call_id: str
    channel: str


pickle_by_fields(AmiEvent, HepChannel)
