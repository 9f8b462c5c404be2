"""What Asterisk's manager (AMI) says about the legs of a call, as the call assembler needs it.

Asterisk gives every call one *linkedid* (the ``Uniqueid`` of its first channel), and every
manager event about a channel names that channel (``Channel: PJSIP/2001-00000001``) and its
``Linkedid``. What ties a channel to its SIP dialog is one of:

- the dialplan's ``UserEvent(SipCallId,CallID: ${CHANNEL(pjsip,call-id)})``, sent by the
  pre-dial handler of every leg ``Dial`` starts and on arrival of the carrier's leg
  (``sip_fixtures/asterisk/conf/extensions.conf``): the event's ``CallID`` names the dialog;
- Asterisk's HEP with ``uuid_type = channel``: the HEP correlation id of a dialog Asterisk
  answered (the carrier's leg) is the channel name, from Asterisk's first response with a
  To-tag on (:class:`~callwatch.sip.ami.HepChannel`, :meth:`AmiLinks.hep_channel`); the legs
  Asterisk starts keep their Call-ID there (res_hep_pjsip finds only the dialogs it answered).

:class:`AmiLinks` keeps these ties while the channels live (a ``Hangup`` forgets the channel)
and turns events into facts for the assembler: a :class:`Tie` (this dialog, or this channel,
is on that linkedid: the trunk leg and its phone legs are one call, whatever the caller's
number says), a :class:`BlindTransfer` (Asterisk's own ``BlindTransfer`` event, the only
trace of a feature-code transfer, ``#1``, that sends no REFER), an :class:`AttendedTransfer`
(Asterisk's ``AttendedTransfer``: the customer was handed to the target's channel, by a REFER
with Replaces or by the feature code ``*2``; a target reached through a ``Local`` channel is
followed to the channel that ``Local``'s other half dialled) and a :class:`QueueMember`
(``AgentCalled`` / ``AgentConnect``: app_queue rang, or connected, this channel as a member of
a queue, so its leg is a staff leg whatever the site file lists). Other events only keep the
channel table current. Plain data in, plain data out: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from callwatch.fieldpickle import pickle_by_fields
from callwatch.sip.ami import AmiEvent, HepChannel

SIP_CALL_ID_EVENT: Final = "SipCallId"
"""The ``UserEvent`` name the dialplan sends with a channel's SIP Call-ID."""
SIP_CALL_ID_FIELD: Final = "CallID"
"""The header of that ``UserEvent`` that carries the Call-ID."""
MAX_CHANNELS: Final = 100_000
"""Channels remembered at most: a stream that lost its ``Hangup`` events cannot grow the
table without bound (the oldest channel is forgotten first)."""

MAX_PENDING: Final = 1_000
"""Channels HEP named before the manager did, remembered at most (the oldest go first)."""


@dataclass(frozen=True, slots=True)
class Tie:
    """The SIP dialog ``call_id`` (or, when None, the leg whose HEP correlation id is
    ``channel``) belongs to the call ``linkedid``, as of ``at``."""

    at: int
    linkedid: str
    channel: str
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class BlindTransfer:
    """Asterisk moved the channel ``transferee`` to ``extension`` at ``at``, on the word of
    ``transferer`` (whose dialog is ``transferer_call_id`` when known)."""

    at: int
    transferer: str
    transferee: str
    extension: str
    transferer_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class AttendedTransfer:
    """Asterisk completed an attended transfer at ``at``: the customer's channel
    ``transferee`` now talks to ``target``, on the word of the transferer, whose channel with
    the customer is ``transferer`` and whose channel with the target is ``second`` (the same
    channel for a feature-code ``*2``). ``*_call_id`` are those channels' SIP dialogs when the
    manager named them; ``target`` is the SIP channel (a ``Local`` target followed to the
    channel it dialled)."""

    at: int
    transferer: str
    second: str
    transferee: str
    target: str
    transferer_call_id: str | None = None
    second_call_id: str | None = None
    transferee_call_id: str | None = None
    target_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueueMember:
    """app_queue rang (``AgentCalled``) or connected (``AgentConnect``, ``connected``) the
    member ``member`` of ``queue`` on the channel ``channel`` at ``at``, for the caller of the
    call ``linkedid``; ``call_id`` is that channel's SIP dialog when the manager named it."""

    at: int
    queue: str
    member: str
    channel: str
    linkedid: str
    call_id: str | None = None
    connected: bool = False


AmiFact = Tie | BlindTransfer | AttendedTransfer | QueueMember

QUEUE_MEMBER_EVENTS: Final = frozenset({"AgentCalled", "AgentConnect"})
"""app_queue's events (read class ``agent``) that name a member channel it rang or connected."""


@dataclass(slots=True)
class _Channel:
    linkedid: str
    call_id: str | None = None
    queue_member: str | None = None
    dialled: str | None = None  # the channel its last DialBegin rang (DestChannel)
    bridge: str | None = None  # the bridge it is in (BridgeEnter, until BridgeLeave)


class AmiLinks:
    """The channel table of one manager stream: channel → linkedid and SIP Call-ID."""

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self._linkedid_by_call_id: dict[str, str] = {}
        self._member_by_call_id: dict[str, str] = {}
        self._pending: dict[str, str] = {}  # channel → Call-ID, HEP named before the manager
        self.events = 0
        self.ties = 0
        self.transfers = 0
        self.queue_members = 0

    @property
    def active(self) -> bool:
        """True once any manager event has been read."""
        return self.events > 0

    def linkedid_of_call_id(self, call_id: str) -> str | None:
        """The linkedid of the live channel whose SIP dialog is ``call_id``."""
        return self._linkedid_by_call_id.get(call_id)

    def linkedid_of_channel(self, channel: str) -> str | None:
        """The linkedid of the live channel named ``channel``."""
        found = self._channels.get(channel)
        return found.linkedid if found is not None else None

    def queue_member_of_call_id(self, call_id: str) -> str | None:
        """The queue member whose live channel's SIP dialog is ``call_id`` (app_queue rang it)."""
        return self._member_by_call_id.get(call_id)

    def queue_member_of_channel(self, channel: str) -> str | None:
        """The queue member app_queue rang on the live channel named ``channel``."""
        found = self._channels.get(channel)
        return found.queue_member if found is not None else None

    def feed(self, event: AmiEvent) -> list[AmiFact]:
        """Take one manager event; return what it tells about dialogs, transfers, queues."""
        self.events += 1
        name = event.name
        if name == "BlindTransfer":
            return self._blind_transfer(event)
        if name == "AttendedTransfer":
            return self._attended_transfer(event)
        if name in QUEUE_MEMBER_EVENTS:
            return self._queue_member(event)
        channel = event.get("Channel")
        linkedid = event.get("Linkedid")
        if not channel or not linkedid:
            return []
        if name == "Hangup":
            self._forget(channel)
            return []
        known = self._channels.get(channel)
        out: list[AmiFact] = []
        if known is None:
            if len(self._channels) >= MAX_CHANNELS:
                self._forget(next(iter(self._channels)))
            known = _Channel(linkedid)
            self._channels[channel] = known
            out.append(Tie(event.ts, linkedid, channel))
            pending = self._pending.pop(channel, None) if self._pending else None
            if pending is not None:
                out += self._name_dialog(known, channel, pending, event.ts)
        if name == "DialBegin":
            known.dialled = event.get("DestChannel") or known.dialled
        elif name == "BridgeEnter":
            known.bridge = event.get("BridgeUniqueid")
        elif name == "BridgeLeave":
            if known.bridge == event.get("BridgeUniqueid"):
                known.bridge = None
        elif name == "UserEvent" and event.get("UserEvent") == SIP_CALL_ID_EVENT:
            call_id = (event.get(SIP_CALL_ID_FIELD) or "").strip()
            if call_id:
                out += self._name_dialog(known, channel, call_id, event.ts)
        return out

    def hep_channel(self, seen: HepChannel) -> list[Tie]:
        """HEP named the dialog ``seen.call_id`` after the channel ``seen.channel``: the
        channel's dialog, as the ``SipCallId`` user event would say. A channel the manager has
        not named yet is remembered until it does (a bounded number of them)."""
        known = self._channels.get(seen.channel)
        if known is None:
            if len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[seen.channel] = seen.call_id
            return []
        return self._name_dialog(known, seen.channel, seen.call_id, seen.ts)

    def _name_dialog(self, known: _Channel, channel: str, call_id: str, at: int) -> list[Tie]:
        if call_id == known.call_id:
            return []
        if known.call_id is not None:
            self._linkedid_by_call_id.pop(known.call_id, None)
            self._member_by_call_id.pop(known.call_id, None)
        known.call_id = call_id
        self._linkedid_by_call_id[call_id] = known.linkedid
        if known.queue_member is not None:
            self._member_by_call_id[call_id] = known.queue_member
        self.ties += 1
        return [Tie(at, known.linkedid, channel, call_id)]

    def _blind_transfer(self, event: AmiEvent) -> list[AmiFact]:
        transferer = event.get("TransfererChannel")
        transferee = event.get("TransfereeChannel")
        extension = event.get("Extension")
        if event.get("Result") != "Success" or not transferer or not transferee or not extension:
            return []
        known = self._channels.get(transferer)
        self.transfers += 1
        call_id = known.call_id if known is not None else None
        return [BlindTransfer(event.ts, transferer, transferee, extension, call_id)]

    def _attended_transfer(self, event: AmiEvent) -> list[AmiFact]:
        """``AttendedTransfer`` with ``Result: Success``: the channels it names, each with its
        SIP dialog when known; a ``Local/...;1`` target is followed through its ``;2`` half
        to the channel that half dialled (``atxfer`` dials the target through the dialplan)."""
        transferer = event.get("OrigTransfererChannel")
        second = event.get("SecondTransfererChannel") or transferer
        transferee = event.get("TransfereeChannel")
        target = event.get("TransferTargetChannel")
        if event.get("Result") != "Success" or not transferer or not second or not transferee:
            return []
        if not target:
            target = self._bridged_target(event, {transferer, second, transferee})
            if target is None:
                return []
        target = self._dialled_through_local(target)
        self.transfers += 1
        return [
            AttendedTransfer(
                event.ts,
                transferer,
                second,
                transferee,
                target,
                self._call_id(transferer),
                self._call_id(second),
                self._call_id(transferee),
                self._call_id(target),
            )
        ]

    def _bridged_target(self, event: AmiEvent, parties: set[str]) -> str | None:
        """The target of an attended transfer whose event names none: Asterisk leaves the
        target's fields out when it merged the consultation's bridge into the customer's
        (``DestType: Bridge``), and the target is then the channel that came over with it,
        in the destination bridge beside the customer (else still in the second bridge)."""
        bridges = [event.get("DestBridgeUniqueid") if event.get("DestType") == "Bridge" else None]
        bridges.append(event.get("SecondBridgeUniqueid"))
        for bridge in bridges:
            if not bridge:
                continue
            for name, known in self._channels.items():
                if known.bridge == bridge and name not in parties:
                    return name
        return None

    def _dialled_through_local(self, channel: str) -> str:
        """The channel a ``Local`` channel's other half dialled; ``channel`` itself otherwise."""
        if not channel.startswith("Local/") or channel[-2:] not in (";1", ";2"):
            return channel
        other = channel[:-1] + ("2" if channel[-1] == "1" else "1")
        for half in (other, channel):
            known = self._channels.get(half)
            if known is not None and known.dialled:
                return known.dialled
        return channel

    def _call_id(self, channel: str) -> str | None:
        known = self._channels.get(channel)
        return known.call_id if known is not None else None

    def _queue_member(self, event: AmiEvent) -> list[AmiFact]:
        """``AgentCalled`` / ``AgentConnect``: the member channel (``DestChannel``) on the
        caller's linkedid, named by ``MemberName`` (else its ``Interface``)."""
        channel = event.get("DestChannel")
        linkedid = event.get("DestLinkedid") or event.get("Linkedid")
        member = event.get("MemberName") or event.get("Interface")
        if not channel or not linkedid or not member:
            return []
        known = self._channels.get(channel)
        out: list[AmiFact] = []
        if known is None:
            if len(self._channels) >= MAX_CHANNELS:
                self._forget(next(iter(self._channels)))
            known = _Channel(linkedid)
            self._channels[channel] = known
            out.append(Tie(event.ts, linkedid, channel))
        known.queue_member = member
        if known.call_id is not None:
            self._member_by_call_id[known.call_id] = member
        self.queue_members += 1
        return [
            *out,
            QueueMember(
                event.ts,
                event.get("Queue") or "",
                member,
                channel,
                linkedid,
                known.call_id,
                connected=event.name == "AgentConnect",
            ),
        ]

    def _forget(self, channel: str) -> None:
        gone = self._channels.pop(channel, None)
        if gone is not None and gone.call_id is not None:
            self._linkedid_by_call_id.pop(gone.call_id, None)
            self._member_by_call_id.pop(gone.call_id, None)


# the journal and the store process take manager facts: by field values (fieldpickle)
pickle_by_fields(Tie, BlindTransfer, AttendedTransfer, QueueMember)
