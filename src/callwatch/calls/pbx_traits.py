"""What a kind of PBX puts on the wire, as plain data the call assembler is given.

Each PBX kind is described once, in its own module of :mod:`callwatch.pbx` (``asterisk``,
``proxy`` for Kamailio/OpenSIPS edges); the site file picks one (``[site] pbx``). The core
never imports :mod:`callwatch.pbx`: it receives a :class:`PbxTraits` value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from callwatch.fieldpickle import pickle_by_fields

TransferStyle = Literal["refer_to_phone", "refer_to_pbx", "feature_code", "local_bridge"]
"""How a transfer shows in signalling: the REFER reaches the transferee's phone, which dials
the target itself (``refer_to_phone``); the PBX answers the REFER (202, NOTIFYs) and dials the
target from the customer's channel (``refer_to_pbx``); DTMF feature codes with no REFER at
all (``feature_code``); an attended transfer bridged inside the PBX (``local_bridge``)."""


@dataclass(frozen=True, slots=True)
class PbxTraits:
    """One PBX kind's habits that decide how legs are read.

    ``linkedid_headers`` carry one value shared by every leg of a call (Asterisk's linkedid
    set by a pre-dial handler); ``callid_headers`` carry the Call-ID of the leg this one
    continues (``X-CID``, the sngrep/Homer convention). ``b2bua`` is True when every leg the
    PBX starts has a fresh Call-ID (False for a proxy, which keeps the caller's).
    ``early_ringing`` says the PBX may send 180/183 on the caller's leg before any phone
    rings (so that 180 is never a staff ring when a phone leg is visible); ``answers_itself``
    says it may answer the caller's leg with no phone (IVR, voicemail, queue, music on hold).
    """

    name: str
    linkedid_headers: tuple[str, ...] = ()
    callid_headers: tuple[str, ...] = ()
    b2bua: bool = True
    early_ringing: bool = False
    answers_itself: bool = False
    transfer_styles: tuple[TransferStyle, ...] = ()
    note: str = ""

    @property
    def headers(self) -> tuple[str, ...]:
        """Every correlation header this PBX kind uses, linkedid-style first."""
        return self.linkedid_headers + tuple(
            h for h in self.callid_headers if h not in self.linkedid_headers
        )


# the site goes to the store process: by field values (fieldpickle)
pickle_by_fields(PbxTraits)
