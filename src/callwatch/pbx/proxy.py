"""A SIP proxy at the edge (Kamailio, OpenSIPS), as seen from its signalling.

A stateful proxy keeps the caller's Call-ID on every hop (unless ``topoh`` masks it), forks
one INVITE to several phones (each fork a To-tag of the same leg), CANCELs the forks that
lost, and relays each phone's final response to the caller. A capture on both hops (a mirror
port, or the proxy's own HEP) sees each message twice: the copies on the inner hop carry one
Via more, and the dialog tracker acts on the caller's hop. The proxy neither rings nor
answers itself, and a REFER passes through it to the phone.

Plain data only: nothing here reads or writes anything.
"""

from __future__ import annotations

from callwatch.calls.pbx_traits import PbxTraits

PROXY = PbxTraits(
    name="proxy",
    b2bua=False,
    transfer_styles=("refer_to_phone",),
    note="stateful proxy: one Call-ID across hops, forks as To-tags, no answers of its own",
)
