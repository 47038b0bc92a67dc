"""The central station's one MQTT subscriber (docs/central.md): reads ``infusion/<site>/+/+`` (or
``infusion/#``) from the clinic's broker over TLS with a user name and password, on a network
thread of its own (``central-subscriber``), and hands every message to ``deliver`` (the
Station's thread-safe ``offer``) stamped with the central's receive time.

The thread is ours, not paho's ``loop_start``, for the same reason as the bedside's publisher:
paho's own loop swallows why a connection failed, and the person at the central must read it
("the broker's TLS certificate is not trusted", "refused user 'central'"). Reconnects back off
from 0.5 s to 5 s. The session is clean (no messages queued by the broker while the central is
away): a queued state would arrive, after an hour away, as a fresh message and look live for
the stale time, and the central never shows an old value as current. After any (re)connect the
retained state and status of every bed give the whole picture again, marked retained, so never
taken for live data; only the alarm events sent while the central was away are missing from
its history (the bedside's record has them).

Nothing is ever published: the central station never acknowledges or silences a bedside.
A callback that raises would end paho's loop, so ours never raise. Qt-free.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from console.central import topics
from console.central.publisher import connection_words, tls_context
from console.central.station import Incoming, LinkNote

log = logging.getLogger(__name__)
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 5.0


def default_client_id(username: str) -> str:
    """Unique per central process (host, user, pid): two screens never take each other's
    connection (a broker drops the older of two clients with one id)."""
    name = f"{socket.gethostname()}-{username}-{os.getpid()}"
    return "infusion-central-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]


class Subscriber:
    def __init__(self, *, host: str, port: int, username: str, password: str,
                 deliver: Callable[[Incoming | LinkNote], None], site: str | None = None,
                 ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                 keepalive_s: int = 10, client_id: str | None = None,
                 clock: Callable[[], float] = time.monotonic, start: bool = True) -> None:
        self.host, self.port, self.username = host, port, username
        self.filter = topics.site_filter(site)
        self.deliver = deliver
        self.clock = clock
        self.keepalive_s = keepalive_s
        context = tls_context(host, port, ca_file, cert_file, key_file)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or default_client_id(username),
                             clean_session=True, protocol=mqtt.MQTTv311)
        client.username_pw_set(username, password)
        client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self.connected = False
        self.reason = "not connected yet"
        self.received = 0
        self.connects = 0
        self._socket_open = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="central-subscriber", daemon=True)
        if start:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ------------------------------------------------------------ paho's callbacks (our thread)
    def _note(self, connected: bool, reason: str) -> None:
        self.connected, self.reason = connected, reason
        self.deliver(LinkNote(connected, reason, self.clock()))

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            self._note(False, f"the broker refused user {self.username!r}: {reason_code} "
                              "(wrong user name or password, or not allowed)")
            return
        self.connects += 1
        client.subscribe(self.filter, qos=1)
        self._note(True, f"connected to {self.host}:{self.port}, reading {self.filter}")

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self._socket_open = False
        if self.connected:
            self._note(False, f"the connection to the broker {self.host}:{self.port} was lost ({reason_code})")

    def _on_message(self, _client, _userdata, message) -> None:
        received = self.clock()
        self.received += 1
        try:
            name = message.topic
        except UnicodeDecodeError:  # a broker that let a non-UTF-8 topic through
            name = repr(bytes(message._topic))
        try:
            self.deliver(Incoming(name, bytes(message.payload), bool(message.retain), received))
        except Exception:  # never end the network loop
            log.exception("central station: a message could not be handed over")

    # ------------------------------------------------------------ the network thread
    def _run(self) -> None:
        retry = RETRY_FIRST_S
        try:
            while not self._stop.is_set():
                if not self._socket_open:
                    try:
                        if self.connects:
                            self._client.reconnect()
                        else:
                            self._client.connect(self.host, self.port, keepalive=self.keepalive_s)
                        self._socket_open = True
                    except Exception as exc:
                        words = connection_words(exc, self.host, self.port)
                        if words != self.reason:
                            self._note(False, words)
                        self._stop.wait(retry)
                        retry = min(retry * 2, RETRY_MAX_S)
                        continue
                rc = self._client.loop(timeout=0.1)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._socket_open = False
                    if self.connected:
                        self._note(False, f"the connection to the broker {self.host}:{self.port} was lost "
                                          f"({rc.name})")
                    self._stop.wait(retry)
                    retry = min(retry * 2, RETRY_MAX_S)
                elif self.connected:
                    retry = RETRY_FIRST_S
        finally:
            if self._socket_open:
                self._client.disconnect()
                self._client.loop(timeout=0.1)
            self.connected = False


__all__ = ["Subscriber", "default_client_id"]
