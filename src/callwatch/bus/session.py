"""One MQTT v5 connection to a worker's persistent session, with manual acknowledgements."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from callwatch.bus.topics import Topics
from callwatch.bus.url import BrokerURL
from callwatch.bus.worker_state import LOST, state_payload

log = logging.getLogger(__name__)


class Session:
    """One MQTT v5 connection to the persistent session ``identifier`` (manual acks)."""

    def __init__(
        self,
        broker: BrokerURL,
        identifier: str,
        *,
        expiry: int,
        max_inflight: int,
        will: aiomqtt.Will | None = None,
        logger: logging.Logger = log,
    ) -> None:
        connect = Properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = expiry
        self.identifier = identifier
        self.present: bool | None = None  # the CONNACK's session-present flag
        self.client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier=identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=connect,
            will=will,
            tls_context=broker.tls_context(),
            max_inflight_messages=max_inflight,
            logger=logger,
        )
        paho_client = self.client._client  # aiomqtt exposes neither manual acks nor CONNACK flags
        paho_client.manual_ack_set(True)
        # aiomqtt makes its paho client with callback API version 2 and sets on_connect
        on_connect = cast("paho.CallbackOnConnect_v2 | None", paho_client.on_connect)
        if on_connect is None:
            raise RuntimeError("aiomqtt set no on_connect callback to wrap")

        def record_present(
            client: paho.Client,
            userdata: Any,
            flags: paho.ConnectFlags,
            reason: ReasonCode,
            properties: Properties | None = None,
        ) -> None:
            self.present = bool(flags.session_present)
            on_connect(client, userdata, flags, reason, properties)

        paho_client.on_connect = record_present

    def ack(self, message: aiomqtt.Message) -> None:
        self.client._client.ack(message.mid, message.qos)

    async def end(self, timeout: float = 10.0) -> None:
        """Disconnect with session expiry 0: the broker discards the session."""
        props = Properties(PacketTypes.DISCONNECT)
        props.SessionExpiryInterval = 0
        if self.client._client.disconnect(properties=props) != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttError("could not send DISCONNECT")
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):  # DISCONNECT is sent
            await asyncio.wait_for(asyncio.shield(self.client._disconnected), timeout)


def lost_will(topics: Topics, identifier: str, group: str, delay: int) -> aiomqtt.Will:
    """The retained ``lost`` state, published ``delay`` s after the worker vanished."""
    props = Properties(PacketTypes.WILLMESSAGE)
    props.WillDelayInterval = delay
    payload = state_payload(LOST, identifier, group)
    return aiomqtt.Will(topics.worker(identifier), payload, qos=1, retain=True, properties=props)
