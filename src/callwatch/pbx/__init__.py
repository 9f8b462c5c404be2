"""One module per kind of PBX, each describing it as :class:`~callwatch.calls.pbx_traits.PbxTraits`.

The site file names one (``[site] pbx = "asterisk"``); adding a PBX (FreeSWITCH, ...) is one
more module here and one more entry in :data:`KINDS`.
"""

from __future__ import annotations

from callwatch.calls.pbx_traits import PbxTraits
from callwatch.pbx.asterisk import ASTERISK
from callwatch.pbx.proxy import PROXY

KINDS: dict[str, PbxTraits] = {
    "asterisk": ASTERISK,
    "freepbx": ASTERISK,  # FreePBX is Asterisk with its own dialplan
    "proxy": PROXY,
    "kamailio": PROXY,
    "opensips": PROXY,
}
"""Every PBX kind the site file may name."""

DEFAULT = "asterisk"


def traits_for(name: str) -> PbxTraits:
    """The traits of the PBX kind ``name`` (any case); KeyError when there is none."""
    return KINDS[name.strip().lower()]
