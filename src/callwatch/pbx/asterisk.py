"""Asterisk (and FreePBX on it), as seen from its SIP signalling.

What callwatch relies on (checked against a real Asterisk 22 with ``res_pjsip``):

- every leg Asterisk starts (each phone of a ring group, a transfer target, an outbound trunk
  leg) has a fresh Call-ID; the carrier's leg keeps the carrier's;
- a pre-dial handler (``Dial(...,b(ctx^s^1))`` running
  ``Set(PJSIP_HEADER(add,X-Asterisk-Linkedid)=${CHANNEL(linkedid)})``) marks every INVITE
  Asterisk sends with the linkedid, never the carrier's leg; ``X-CID`` set to the carrier
  leg's Call-ID (``${CHANNEL(pjsip,call-id)}``) names that leg exactly;
- ``Ringing()``, ``progressinband`` and FreePBX send 180/183 on the carrier's leg before a
  phone rings; voicemail, IVRs, queue announcements and music on hold answer that leg with no
  phone answering;
- a REFER is answered by Asterisk itself (202, NOTIFY 100/180/200, or at once with
  ``refer_blind_progress=no``), which dials the target from the customer's channel; feature
  codes (``features.conf`` blindxfer/atxfer, Dial ``t``/``T``) send no REFER; an attended
  transfer between two of its own dialogs is bridged inside with no Replaces on the wire.

Plain data only: nothing here reads or writes anything.
"""

from __future__ import annotations

from callwatch.calls.pbx_traits import PbxTraits

ASTERISK = PbxTraits(
    name="asterisk",
    linkedid_headers=("X-Asterisk-Linkedid",),
    callid_headers=("X-CID",),
    b2bua=True,
    early_ringing=True,
    answers_itself=True,
    transfer_styles=("refer_to_pbx", "feature_code", "local_bridge"),
    note="B2BUA: fresh Call-ID per leg; linkedid via a pre-dial handler; X-CID names the "
    "carrier leg's Call-ID",
)
