"""MQTT adapter: publishes leg events, breaches and judged calls; workers store them.

See :mod:`callwatch.bus.topics` for the topic tree and :mod:`callwatch.bus.payloads` for the
JSON of each kind. Nothing here is imported by the core.
"""

from callwatch.bus.errors import BusConfigError, BusError, PayloadError
from callwatch.bus.payloads import Message, PayloadBuilder
from callwatch.bus.topics import UNASSIGNED, Topics, decode_level, encode_level

__all__ = [
    "UNASSIGNED",
    "BusConfigError",
    "BusError",
    "Message",
    "PayloadBuilder",
    "PayloadError",
    "Topics",
    "decode_level",
    "encode_level",
]
