"""The bedside's side of the central station: a sink (console/sinks.py) that publishes the bed to
the clinic's MQTT broker (docs/central.md) with paho-mqtt, on a network thread of its own.

- ``state`` retained (QoS 1), rebuilt once a second and at every alarm event; at ``close`` an
  idle state replaces it (a retained message outlives its session), then ``status`` goes from
  online to offline. The last will is the retained offline status: a bedside that dies is seen
  offline by the broker within 1.5 x the keep-alive.
- ``alarm`` events (start, change, end, acknowledge) with QoS 1 on a persistent session
  (clean_session false): those the broker has not acknowledged are resent after a reconnect
  (paho keeps them), so a broker restart loses none. Each carries a ``seq`` (per publisher) so
  the central can drop the duplicates a resend may make.
- ``numerics`` QoS 0 at 1 Hz: only the latest is kept while the broker is away.

Broker down: monitoring goes on (``publish`` only appends under a lock and returns); the alarm
events wait in a bounded backlog (``alarm_capacity``; past it the oldest waiting alarm event is
dropped and counted; numerics are never backlogged, so nothing is dropped for them), the latest
state waits, and both go on reconnect, in order. ``problem`` says "central station cannot be
reached: <reason>" once the broker has been away ``grace_s``: the monitor shows it as a LOW
technical alarm. The bedside stays the system of record and the primary alarm source.
``wall`` is the monotonic clock ``problem(wall)`` is called with (the monitor's); the session's
clock gives the payloads' times. Qt-free.
"""

from __future__ import annotations

import collections
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from console.alarms.model import Priority
from console.central import payloads, topics
from console.sinks import StepBatch

log = logging.getLogger(__name__)

GRACE_S = 5.0  # the broker away this long before the technical alarm
ALARM_CAPACITY = 1000  # alarm events waiting (with those sent, not yet acknowledged)
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 5.0


class CentralRefused(ValueError):
    """The publisher cannot run as configured (said in words)."""


def _client_id(site: str, bed: str) -> str:
    return "infusion-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{site}-{bed}")[:100]


def connection_words(exc: BaseException, host: str, port: int) -> str:
    """Why a connection to the broker failed, for the nurse and the biomedical engineer: short
    enough for the alarm bar (the broker's address is on the devices tab)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with the broker failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "the broker refused the connection (not running?)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "no answer from the broker"
    if isinstance(exc, socket.gaierror):
        return f"the broker's name {host!r} cannot be resolved"
    return f"the broker {host}:{port}: {exc.strerror or exc}" if isinstance(exc, OSError) else f"{host}:{port}: {exc}"


def tls_context(host: str, port: int, ca_file: str | None, cert_file: str | None,
                key_file: str | None) -> ssl.SSLContext:
    """The TLS context for the broker (the bedside's and the central's): the system's CAs or
    ``ca_file``, and a client certificate when given; files that cannot be used are said."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
        if cert_file and key_file:
            context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise CentralRefused(f"the TLS files for the broker {host}:{port} cannot be used: {exc}") from exc
    return context


class CentralPublisher:
    """A Sink: ``publish`` (monitor's thread) builds the payloads and queues them; the network
    thread ``central-mqtt`` connects, reconnects and publishes."""

    name = "central station"
    priority: Priority = "low"

    def __init__(self, *, host: str, port: int, site: str, bed: str, username: str, password: str,
                 session: Any, engine: Any, workflow: Any = None, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None, keepalive_s: int = 10,
                 patient_display: payloads.PatientPolicy = "initials", clock: Any = None,
                 wall: Callable[[], float] = time.monotonic, grace_s: float = GRACE_S,
                 alarm_capacity: int = ALARM_CAPACITY, client_id: str | None = None, start: bool = True) -> None:
        self.host, self.port = host, port
        self.site, self.bed = topics.checked(site, "site"), topics.checked(bed, "bed")
        self.topic = {leaf: topics.topic(site, bed, leaf) for leaf in topics.LEAVES}
        self.session, self.engine, self.workflow = session, engine, workflow
        self.clock = clock if clock is not None else session.clock
        self.patient_display = patient_display
        self.keepalive_s = keepalive_s
        self.grace_s = grace_s
        self.alarm_capacity = alarm_capacity
        self._wall = wall
        context = tls_context(host, port, ca_file, cert_file, key_file)
        simulated = bool(session.simulated)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or _client_id(site, bed),
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.username_pw_set(username, password)
        client.tls_set_context(context)
        client.will_set(self.topic["status"], payloads.encode(payloads.status(site=site, bed=bed, online=False,
                                                                              simulated=simulated)),
                        qos=1, retain=True)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self.username = username
        # shared between the monitor's thread and the network thread, under _lock
        self._lock = threading.Condition()
        self._alarms: collections.deque[tuple[int, bytes]] = collections.deque()
        self._state: bytes | None = None
        self._numerics: bytes | None = None
        self._closing = False
        self._seq = 0
        self._last_state_t: float | None = None
        self._last_numerics_t: float | None = None
        # the network thread's (read by problem())
        self._unacked: dict[int, int] = {}  # mid -> seq of an alarm event handed to paho, not yet acknowledged
        self.connected = False
        self.reason: str = "not connected yet"
        self._down_since: float | None = wall()
        self._socket_open = False
        self._ever_connected = False
        self.dropped_alarm_events = 0
        self.replaced_numerics = 0  # numerics never sent because newer ones replaced them
        self.sent_alarm_events = 0
        self.acknowledged_alarm_events = 0
        self.connects = 0
        self.undelivered = 0
        self._close_deadline = 0.0
        self._sent_state: bytes | None = None
        self._thread = threading.Thread(target=self._run, name="central-mqtt", daemon=True)
        if start:
            self._thread.start()

    # ------------------------------------------------------------------ the monitor's thread
    def publish(self, batch: StepBatch) -> None:
        now = batch.now
        wall = self.clock.wall()
        events = []
        for entry in batch.alarm_entries:
            event = payloads.alarm_event(entry, site=self.site, bed=self.bed, seq=self._seq + 1, wall=wall)
            if event is not None:
                self._seq += 1
                events.append((self._seq, payloads.encode(event)))
        state = numerics = None
        if events or self._last_state_t is None or now - self._last_state_t >= 1.0:
            self._last_state_t = now
            state = payloads.encode(payloads.state(site=self.site, bed=self.bed, session=self.session,
                                                   engine=self.engine, workflow=self.workflow, now=now, wall=wall,
                                                   policy=self.patient_display))
        if self._last_numerics_t is None or now - self._last_numerics_t >= 1.0:
            self._last_numerics_t = now
            numerics = payloads.encode(payloads.numerics(site=self.site, bed=self.bed, session=self.session,
                                                         now=now, wall=wall))
        if not (events or state or numerics):
            return
        with self._lock:
            self._alarms.extend(events)
            excess = len(self._alarms) + len(self._unacked) - self.alarm_capacity
            while excess > 0 and self._alarms:
                self._alarms.popleft()  # the oldest waiting alarm event: the central's state still has the alarm
                self.dropped_alarm_events += 1
                excess -= 1
            if state is not None:
                self._state = state
            if numerics is not None:
                if self._numerics is not None:
                    self.replaced_numerics += 1
                self._numerics = numerics
            self._lock.notify()

    def problem(self, wall: float | None = None) -> str | None:
        wall = self._wall() if wall is None else wall
        down = self._down_since
        dropped = f"; {self.dropped_alarm_events} alarm events dropped" if self.dropped_alarm_events else ""
        if down is not None and wall - down >= self.grace_s:
            return f"central station cannot be reached: {self.reason}{dropped}"
        if dropped:
            return f"central station: {self.dropped_alarm_events} alarm events were dropped while it was away"
        return None

    def station_state(self, wall: float | None = None) -> list[tuple[str, str]]:
        """The devices tab's rows: where it publishes, whether the broker has it, what waits."""
        wall = self._wall() if wall is None else wall
        down = self._down_since
        if self.connected:
            link = "connected"
        elif down is None:
            link = "connecting"
        else:
            link = f"cannot be reached for {wall - down:.0f} s: {self.reason}"
        waiting = self.waiting_alarm_events
        alarms = f"{self.acknowledged_alarm_events} taken by the broker, {waiting} waiting"
        if self.dropped_alarm_events:
            alarms += f", {self.dropped_alarm_events} dropped (the oldest, while it was away)"
        return [("broker", f"mqtts://{self.host}:{self.port} as {self.username}"), ("link", link),
                ("topics", topics.bed_filter(self.site, self.bed)), ("alarms", alarms)]

    @property
    def waiting_alarm_events(self) -> int:
        with self._lock:
            return len(self._alarms) + len(self._unacked)

    def close(self, now: float, timeout: float = 5.0) -> bool:
        """Publish what waits, an idle retained state and the offline status, wait (up to
        ``timeout`` s) for the broker to take them, and disconnect. True always: the central
        station is secondary, the session record has everything (``undelivered`` counts the
        alarm events the broker never acknowledged)."""
        idle = payloads.encode(payloads.idle_state(site=self.site, bed=self.bed, wall=self.clock.wall(),
                                                   simulated=bool(self.session.simulated)))
        with self._lock:
            self._state = idle
            self._numerics = None
            self._closing = True
            self._close_deadline = time.monotonic() + timeout
            self._lock.notify()
        if self._thread.is_alive():
            self._thread.join(timeout + 2.0)
        self.undelivered = self.waiting_alarm_events
        if self.undelivered:
            log.warning("central station: %d alarm events not acknowledged by the broker at close", self.undelivered)
        return True

    # ------------------------------------------------------------------ the network thread
    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            self.connected = False
            self.reason = (f"the broker refused user {self.username!r}: {reason_code} "
                           "(wrong user name or password, or not allowed)")
            log.warning("central station: %s", self.reason)
            return
        self.connected = True
        self._ever_connected = True
        self.connects += 1
        self._down_since = None
        self.reason = ""
        client.publish(self.topic["status"], payloads.encode(payloads.status(
            site=self.site, bed=self.bed, online=True, simulated=bool(self.session.simulated),
            wall=self.clock.wall())), qos=1, retain=True)
        with self._lock:
            if self._state is None:
                return
        # the latest state goes again at the next flush (a new central needs it, retained)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self._went_down(f"the connection to the broker was lost ({reason_code})"
                        if self.connected else self.reason or f"disconnected ({reason_code})")

    def _went_down(self, reason: str) -> None:
        if self.connected or self._down_since is None:
            self._down_since = self._wall()
        self.connected = False
        self._socket_open = False
        self.reason = reason

    def _on_publish(self, _client, _userdata, mid, _reason_code, _properties) -> None:
        with self._lock:
            if self._unacked.pop(mid, None) is not None:
                self.acknowledged_alarm_events += 1

    def _connect(self) -> bool:
        try:
            if self._ever_connected or self.connects or self._socket_open:
                self._client.reconnect()
            else:
                self._client.connect(self.host, self.port, keepalive=self.keepalive_s)
        except Exception as exc:
            self._went_down(connection_words(exc, self.host, self.port))
            return False
        self._socket_open = True
        return True

    def _flush(self) -> None:
        client = self._client
        with self._lock:
            alarms, self._alarms = list(self._alarms), collections.deque()
            state, self._state = self._state, None
            numerics, self._numerics = self._numerics, None
        for seq, data in alarms:
            info = client.publish(self.topic["alarm"], data, qos=1)
            with self._lock:
                self._unacked[info.mid] = seq
            self.sent_alarm_events += 1
        if state is not None:
            client.publish(self.topic["state"], state, qos=1, retain=True)
            self._sent_state = state
        if numerics is not None:
            client.publish(self.topic["numerics"], numerics, qos=0)

    def _run(self) -> None:
        retry = RETRY_FIRST_S
        next_attempt = 0.0
        was_connected = False
        while True:
            with self._lock:
                closing = self._closing
            if closing and not self.connected and (not self._ever_connected
                                                   or time.monotonic() >= self._close_deadline):
                return  # the broker away at close: the session record has everything
            if not self._socket_open:
                if time.monotonic() < next_attempt:
                    with self._lock:
                        self._lock.wait(min(0.1, max(0.0, next_attempt - time.monotonic())))
                    continue
                if not self._connect():
                    next_attempt = time.monotonic() + retry
                    retry = min(retry * 2, RETRY_MAX_S)
                    continue
            rc = self._client.loop(timeout=0.05)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._went_down(self.reason if not self.connected and self.reason else
                                f"the connection to the broker was lost ({rc.name})")
                next_attempt = time.monotonic() + retry
                retry = min(retry * 2, RETRY_MAX_S)
                continue
            if self.connected and not was_connected:
                retry = RETRY_FIRST_S
                with self._lock:  # after a reconnect: the latest state again (retained)
                    if self._state is None and self._sent_state is not None:
                        self._state = self._sent_state
            was_connected = self.connected
            if not self.connected:
                continue
            self._flush()
            if closing:
                self._finish()
                return

    def _finish(self) -> None:
        """At close: the idle state has gone in the last flush; offline status; wait for acks."""
        client = self._client
        info = client.publish(self.topic["status"], payloads.encode(payloads.status(
            site=self.site, bed=self.bed, online=False, simulated=bool(self.session.simulated),
            wall=self.clock.wall())), qos=1, retain=True)
        while time.monotonic() < self._close_deadline and self.connected:
            with self._lock:
                done = not self._unacked and not self._alarms
            if done and info.is_published():
                break
            if self._client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        client.disconnect()
        client.loop(timeout=0.05)
        self.connected = False
        self._socket_open = False


def read_password(central: Any) -> str:
    if central.password is not None:
        return str(central.password)
    try:
        text = Path(central.password_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CentralRefused(f"the central station's password file {central.password_file} cannot be read: "
                             f"{exc}") from exc
    line = text.splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise CentralRefused(f"the central station's password file {central.password_file} is empty")
    return line


def open_publisher(site_config: Any, session: Any, engine: Any, workflow: Any, clock: Any) -> CentralPublisher:
    """The publisher for ``session`` as the site file's ``central`` section says (started).
    Raises CentralRefused when there is no ``central`` section or its files cannot be used."""
    central = site_config.central
    if central is None:
        raise CentralRefused("the site file has no 'central' section")
    return CentralPublisher(host=central.host, port=central.port, site=central.site or site_config.site_name,
                            bed=site_config.chair, username=central.username, password=read_password(central),
                            session=session, engine=engine, workflow=workflow, ca_file=central.ca_file,
                            cert_file=central.cert_file, key_file=central.key_file, keepalive_s=central.keepalive_s,
                            patient_display=central.patient_display, clock=clock)


__all__ = ["CentralPublisher", "CentralRefused", "connection_words", "open_publisher", "read_password",
           "tls_context"]
