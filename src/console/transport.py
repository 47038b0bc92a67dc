"""Transport: reader threads that take bytes off a serial line (or a socket, or the training
simulator) and hand decoded records to the session through a ``queue.SimpleQueue``.

One job: wire -> decoder -> queue. No Qt, no session state, no staleness decisions ("the
device sent nothing for 5 s" is the session's call; the transport reports only what the
transport knows: the port opened, vanished, refused, closed).

Pieces
------
``DeviceLink``        one reader thread per real device (serial path, ``socket://``,
                      ``rfc2217://``, ``loop://``), automatic reconnect with backoff.
``SimulatedDevices``  training mode: the in-process simulator feeds the same decoders and
                      puts the same items into the queue, as if two DeviceLinks were running.
``list_serial_ports`` serial ports for the device picker; never raises.
``open_check``        can a URL work? ``None`` or a message (the CLI exits 2 on a message);
                      network URLs are checked without connecting.
``url_problem``       what is wrong with the form of a network URL, in words.

What goes into the queue: ``Received(device, item, rx_time, rx_wall)`` for every decoded item
(accepted records and ``Rejection``s alike, in stream order) and ``LinkEvent``s.

Link states (``LinkEvent.state``)::

    connecting --open ok--> up --read error / port vanished / peer closed--> down
        |                    ^                                                 |
        +--open failed--> down --(retry after backoff; silent while the reason stays
                                  the same, a new event when the reason changes)--+

A final ``down`` with reason "monitoring stopped" is pushed when ``stop()`` ends the thread.

Time: receive times come from the injected ``Clock`` (``rx_time=clock.now()``,
``rx_wall=clock.wall()``); all items decoded from one read share that read's time. Waits that
are about hardware, not about the session (the reconnect backoff, capture flushing, the read
timeout) use real time, because a port does not reopen faster when a simulation runs at 60x.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import json
import logging
import os
import queue
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import serial
import serial.urlhandler.protocol_socket as _pyserial_socket

from .clock import Clock, ScaledClock, SystemClock
from .drivers import DEFAULT_DRIVER, Driver, LineSettings, Link, LinkLost, Talker, resolve_url
from .drivers import driver as find_driver
from .records import DecoderStats, LinkEvent, LinkState, Normalized, RackMember, Received, Role

log = logging.getLogger(__name__)

__all__ = [
    "Backoff",
    "DeviceLink",
    "LineSettings",
    "PortInfo",
    "SimulatedDevices",
    "describe_error",
    "list_serial_ports",
    "open_check",
    "url_problem",
]


# --------------------------------------------------------------------------------------------
# Line settings, port listing, one-shot open check


# Short, so that a port without cancel_read() (socket://, rfc2217://) still notices stop()
# within this time; long enough that an idle line costs nothing measurable.
READ_TIMEOUT_S = 0.1
CAPTURE_FLUSH_S = 0.5
# A talking driver's capture keeps both directions: ``<capture_path>.talk.jsonl`` instead of
# the raw byte file (docs/protocol.md, "Conversation captures"; ``decode`` reads both kinds).
TALK_SUFFIX = ".talk.jsonl"
TALK_FORMAT = "conversation"  # the header line's "capture" member
TALK_VERSION = 1
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 5.0
STOP_JOIN_S = 2.0


def line_settings(
    driver: str,
    baudrate: int | None = None,
    bytesize: int | None = None,
    parity: str | None = None,
    stopbits: float | None = None,
) -> LineSettings:
    """The driver's default settings, with any given value overriding its default."""
    base = find_driver(driver).line
    return LineSettings(
        baudrate=base.baudrate if baudrate is None else baudrate,
        bytesize=base.bytesize if bytesize is None else bytesize,
        parity=base.parity if parity is None else parity,
        stopbits=base.stopbits if stopbits is None else stopbits,
    )


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One serial port for the device picker."""

    device: str  # what to open: /dev/ttyUSB0, COM3
    description: str  # "USB-Serial Controller" or "n/a"
    hwid: str  # "USB VID:PID=067B:2303 SER=... LOCATION=1-1"


def list_serial_ports() -> list[PortInfo]:
    """Serial ports present now, sorted by device name. Never raises: on any failure it logs
    why and returns ``[]`` (the picker then offers only a typed-in URL)."""
    try:
        from serial.tools import list_ports

        found = list_ports.comports()
        return sorted(
            (PortInfo(str(p.device), str(p.description or ""), str(p.hwid or "")) for p in found),
            key=lambda p: p.device,
        )
    except Exception as exc:  # a picker must never take the console down
        log.warning("cannot list serial ports: %s", exc)
        return []


def open_check(
    url: str,
    *,
    driver: str = DEFAULT_DRIVER,
    baudrate: int | None = None,
    bytesize: int | None = None,
    parity: str | None = None,
    stopbits: float | None = None,
    serial_factory: Callable[..., Any] | None = None,
) -> str | None:
    """Can ``url`` work at all? ``None`` or the reason in words (the same words a
    ``DeviceLink`` would report).

    A serial port is opened once and closed again. A network URL (``socket://``,
    ``rfc2217://``) is checked WITHOUT connecting: its form and its host name only. Serial
    device servers often take a single client, and one that has not yet noticed the
    check's connection was closed would turn the real one away. Whether the server
    answers is then reported by the link ("connection refused by ...", and it retries)."""
    settings = line_settings(driver, baudrate, bytesize, parity, stopbits)
    try:
        url, _named = resolve_url(url)  # intellivue+udp://host -> udp://host:24105
    except ValueError as exc:
        return str(exc)
    problem = url_problem(url)
    if problem is not None:
        return problem
    if _network_scheme(url) is not None:
        parts = urllib.parse.urlsplit(url)
        kind = socket.SOCK_DGRAM if _network_scheme(url) in ("udp", "udp-listen") else socket.SOCK_STREAM
        try:
            socket.getaddrinfo(parts.hostname, parts.port, type=kind)
        except OSError as exc:
            return describe_error(exc, url, opening=True)
        return None
    factory = serial_factory or serial.serial_for_url
    try:
        port = _open_port(factory, url, settings, READ_TIMEOUT_S)
    except Exception as exc:  # any failure becomes a message
        return describe_error(exc, url, opening=True)
    try:
        port.close()
    except Exception as exc:
        log.debug("closing %s after open_check: %s", url, exc)
    return None


# udp: console.udp_port (pyserial has none); the *-listen ones: console.listen_ports (the device,
# or a hospital system, comes to the console).
NETWORK_SCHEMES = ("socket", "rfc2217", "udp", "udp-listen", "tcp-listen")


def _network_scheme(url: str) -> str | None:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme if scheme in NETWORK_SCHEMES else None


def url_problem(url: str) -> str | None:
    """What is wrong with the form of a network URL, in words, or None (fine, or not a
    network URL). pyserial itself answers "socket://host" without a port with Python's
    "'<=' not supported between instances of 'int' and 'NoneType'"."""
    scheme = _network_scheme(url)
    if scheme is None:
        return None
    how = f"write {scheme}://host:port, for example {scheme}://10.0.0.5:4001"
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number, or beyond 65535
        port = -1
    if not parts.hostname:
        return f"{url} has no host ({how})"
    if port is None:
        return f"{url} has no port number ({how})"
    if not 1 <= port <= 65535:
        return f"the port in {url} must be a number from 1 to 65535 ({how})"
    return None


def _open_port(factory: Callable[..., Any], url: str, s: LineSettings, timeout: float) -> Any:
    scheme = _network_scheme(url)
    if scheme == "udp":
        from console.udp_port import UdpPort

        return UdpPort(url, timeout)
    if scheme in ("udp-listen", "tcp-listen"):
        from console.listen_ports import TcpListenPort, UdpListenPort

        return (UdpListenPort if scheme == "udp-listen" else TcpListenPort)(url, timeout)
    return factory(
        url,
        baudrate=s.baudrate,
        bytesize=s.bytesize,
        parity=s.parity,
        stopbits=s.stopbits,
        timeout=timeout,
        do_not_open=False,
    )


# --------------------------------------------------------------------------------------------
# Errors in words a nurse can read


def _find_oserror(exc: BaseException) -> OSError | None:
    """pyserial wraps OS errors in SerialException (keeping the original as __context__, and
    sometimes copying errno); find the innermost useful OSError."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and (
            cur.errno is not None or isinstance(cur, (socket.gaierror, TimeoutError))
        ):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _where(url: str) -> str:
    """``socket://10.0.0.5:4001`` -> ``10.0.0.5:4001``; a device path stays as it is."""
    for scheme in ("socket://", "rfc2217://", "udp://"):
        if url.startswith(scheme):
            return url[len(scheme):].split("?", 1)[0].rstrip("/")
    return url


def describe_error(exc: BaseException, url: str, *, opening: bool) -> str:
    """Turn an exception from opening or reading ``url`` into a short reason for the screen."""
    where = _where(url)
    is_net = _network_scheme(url) is not None
    text = str(exc)
    os_err = _find_oserror(exc)
    code = getattr(exc, "errno", None)
    if os_err is not None and os_err.errno is not None:
        code = os_err.errno

    if isinstance(os_err, socket.gaierror):
        return f"unknown host in {url}"
    if isinstance(os_err, TimeoutError) or code == errno.ETIMEDOUT:
        return f"{where} did not answer"
    if code == errno.ECONNREFUSED:
        return f"connection refused by {where}"
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN):
        return f"{where} cannot be reached over the network"
    if code in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return f"connection to {where} was reset"
    if "socket disconnected" in text or "reader thread died" in text:
        return f"connection to {where} closed by the device"
    if opening:
        if code == errno.ENOENT:
            return f"port {url} not found (unplugged or wrong name)"
        if code in (errno.EACCES, errno.EPERM):
            return f"no permission to open port {url}"
        if code == errno.EBUSY:
            return f"port {url} is in use by another program"
        return f"cannot open {url}: {text}"
    # Reading: a USB adapter pulled out (EIO/ENXIO/ENODEV), or Linux's "ready but no data".
    if code in (errno.EIO, errno.ENXIO, errno.ENODEV) or "returned no data" in text:
        return f"port {url} vanished (device unplugged?)"
    if is_net:
        return f"connection to {where} lost: {text}"
    return f"lost port {url}: {text}"


# --------------------------------------------------------------------------------------------
# Reconnect policy (pure: unit-tested without sleeping)


class Backoff:
    """Reconnect delays: ``first`` doubling up to ``maximum`` (0.5, 1, 2, 4, 5, 5, ...)."""

    def __init__(self, first: float = BACKOFF_FIRST_S, maximum: float = BACKOFF_MAX_S) -> None:
        if first <= 0 or maximum < first:
            raise ValueError("need 0 < first <= maximum")
        self.first = first
        self.maximum = maximum
        self._next = first

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.first


# --------------------------------------------------------------------------------------------
# Bytes of one device -> decoder -> queue (shared by DeviceLink and SimulatedDevices)


class Decoder(Protocol):
    """What the transport feeds: bytes in, the console's records out (a driver's
    ``open_decoder()``)."""

    @property
    def stats(self) -> DecoderStats: ...  # read only: a plain attribute or a property

    def feed(self, data: bytes) -> list[Normalized]: ...

    def close(self) -> list[Normalized]: ...


def merge_stats(a: DecoderStats, b: DecoderStats) -> DecoderStats:
    """Sum two DecoderStats field by field (counters add, numbers add)."""
    out = DecoderStats()
    for f in dataclasses.fields(DecoderStats):
        x, y = getattr(a, f.name), getattr(b, f.name)
        setattr(out, f.name, Counter(x) + Counter(y) if isinstance(x, Counter) else x + y)
    return out


class _Capture:
    """Appends raw bytes to a file exactly as received. On the first write failure it stops
    capturing, remembers the error and tells its owner once; monitoring goes on."""

    WHAT = "raw capture"  # the first words of the operator's message when it stops

    def __init__(self, path: Path, on_error: Callable[[str], None]) -> None:
        self.path = path
        self.error: str | None = None
        self._on_error = on_error
        self._file: Any = None
        self._dirty = False
        self._last_flush = time.monotonic()
        try:
            # Append: a reconnect, or a restart with the same path, never destroys a capture.
            # Patient data: 0600 in a 0700 directory, never through a symbolic link.
            from console.private_files import open_private

            self._file = open_private(path, "ab")  # lives as long as the link
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = f"{self.WHAT} stopped, cannot write {self.path}: {exc.strerror or exc}"
        log.error("%s", self.error)
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self._on_error(self.error)

    def received(self, data: bytes, t: float, wall: float) -> None:
        """Bytes that came off the line at session time ``t`` (wall time ``wall``)."""
        self.write(data)

    def write(self, data: bytes) -> None:
        if self._file is None:
            return
        try:
            self._file.write(data)
            self._dirty = True
        except OSError as exc:
            self._fail(exc)
            return
        self.maybe_flush()

    def maybe_flush(self, force: bool = False) -> None:
        # Flushed at least every CAPTURE_FLUSH_S so a crash loses at most that much capture.
        if self._file is None or not self._dirty:
            return
        now = time.monotonic()
        if force or now - self._last_flush >= CAPTURE_FLUSH_S:
            try:
                self._file.flush()
                self._dirty = False
                self._last_flush = now
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        if self._file is None:
            return
        self.maybe_flush(force=True)
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self._fail(exc)
            self._file = None


class _Conversation(_Capture):
    """A talking link's capture: both directions with their times, JSON Lines, appended.

    The first line of each opening is a header, ``{"capture":"conversation","version":1,
    "driver":...,"role":...,"url":...,"t":...,"wall":...}``; then one line per chunk in the
    order the reader thread met them, ``{"t":...,"wall":...,"dir":"rx"|"tx","hex":"..."}``:
    ``rx`` a read's bytes exactly as received (at the receive time its records carry), ``tx``
    one message as written to the port, after the allow-list passed it (a refused message
    never reaches the line, so it is not here). Same file rules as the raw capture: 0600,
    never through a symbolic link, flushed at least every CAPTURE_FLUSH_S."""

    WHAT = "conversation capture"

    def __init__(self, path: Path, on_error: Callable[[str], None], header: dict[str, Any]) -> None:
        super().__init__(path, on_error)
        self._line({"capture": TALK_FORMAT, "version": TALK_VERSION, **header})

    def _line(self, obj: dict[str, Any]) -> None:
        self.write((json.dumps(obj, separators=(",", ":")) + "\n").encode("ascii"))

    def received(self, data: bytes, t: float, wall: float) -> None:
        self._line({"t": t, "wall": wall, "dir": "rx", "hex": data.hex()})

    def sent(self, data: bytes, t: float, wall: float) -> None:
        self._line({"t": t, "wall": wall, "dir": "tx", "hex": data.hex()})


def talk_capture_path(capture_path: str | os.PathLike) -> Path:
    """Where a talking link given ``capture_path`` writes its conversation capture."""
    path = Path(capture_path)
    return path if path.name.endswith(TALK_SUFFIX) else path.with_name(path.name + TALK_SUFFIX)


class _DeviceFeed:
    """Everything between the bytes of one device and the queue: the decoder, receive times,
    byte counts and the raw capture. Used only from its owner's reader thread, except
    ``stats()`` which any thread may call."""

    def __init__(
        self,
        device: Role,
        out: queue.SimpleQueue,
        clock: Clock,
        decoder_factory: Callable[[], Decoder],
        capture_path: str | os.PathLike | None,
        on_capture_error: Callable[[str], None],
        talk_header: dict[str, Any] | None = None,
    ) -> None:
        self.device = device
        self._out = out
        self._clock = clock
        self._factory = decoder_factory
        self._lock = threading.Lock()  # guards the decoder swap and stats reads
        # One decoder per byte stream (connection); made at once so a broken protocol
        # package fails loudly at start, later lazily on the first bytes of a connection.
        self._decoder: Decoder | None = decoder_factory()
        self._closed_stats = DecoderStats()
        self.bytes_received = 0
        self.last_wire: list[Any] = []  # the driver's own records of the last feed (for its talker)
        # A talk_header makes it a conversation capture (both directions, with times).
        self.capture: _Capture | None = None
        if capture_path is not None:
            self.capture = (_Capture(Path(capture_path), on_capture_error) if talk_header is None
                            else _Conversation(Path(capture_path), on_capture_error, talk_header))

    def feed(self, data: bytes) -> list[Normalized]:
        """Decode, queue, and return what was decoded (a talking driver answers it)."""
        if not data:
            return []
        rx_time, rx_wall = self._clock.now(), self._clock.wall()
        # Capture first: the file holds every byte even if the decoder chokes on it.
        if self.capture is not None:
            self.capture.received(data, rx_time, rx_wall)
        with self._lock:
            self.bytes_received += len(data)
            if self._decoder is None:
                self._decoder = self._factory()
            items = self._decoder.feed(data)
            # What the driver's own decoder made of the bytes (protocol messages included),
            # for a talking driver's answers; a decoder without it hands the talker its output.
            self.last_wire = getattr(self._decoder, "last_wire", items)
        self._push(items, rx_time, rx_wall)
        return items

    def end_stream(self) -> None:
        """The byte stream ended (disconnect or stop): flush what the decoder holds (a cut-off
        sentence comes out as a ``truncated`` Rejection) and start a fresh decoder, so the
        next connection's bytes are never glued onto the old connection's tail."""
        rx_time, rx_wall = self._clock.now(), self._clock.wall()
        with self._lock:
            old, self._decoder = self._decoder, None  # the next bytes get a fresh one
            if old is None:
                items = []
            else:
                try:
                    items = old.close()
                except Exception:
                    log.exception("closing the %s decoder", self.device)
                    items = []
                self._closed_stats = merge_stats(self._closed_stats, old.stats)
        self._push(items, rx_time, rx_wall)
        if self.capture is not None:
            self.capture.maybe_flush(force=True)

    def _push(self, items: list[Normalized], rx_time: float, rx_wall: float) -> None:
        put = self._out.put
        dev = self.device
        role = dev.split("-", 1)[0]
        for item in items:
            if isinstance(item, RackMember):  # another device behind the same link (a rack's pump)
                put(Received(f"{role}-{item.member}" if item.member else dev, item.record, rx_time, rx_wall))
            else:
                put(Received(dev, item, rx_time, rx_wall))

    def stats(self) -> DecoderStats:
        with self._lock:
            if self._decoder is None:
                return merge_stats(self._closed_stats, DecoderStats())
            return merge_stats(self._closed_stats, self._decoder.stats)

    def sent(self, data: bytes) -> None:
        """A message the talking side wrote to the port (a conversation capture keeps it)."""
        if isinstance(self.capture, _Conversation):
            self.capture.sent(data, self._clock.now(), self._clock.wall())

    def idle(self) -> None:
        if self.capture is not None:
            self.capture.maybe_flush()

    def close_capture(self) -> None:
        if self.capture is not None:
            self.capture.close()


# --------------------------------------------------------------------------------------------
# Live devices


def _is_pyserial_socket(port: Any) -> bool:
    return isinstance(port, _pyserial_socket.Serial)


def _read_available(port: Any, read_timeout: float) -> bytes:
    """Block up to the read timeout for at least one byte, then take all that is waiting."""
    data = port.read(port.in_waiting or 1)
    if data and _is_pyserial_socket(port):
        # pyserial's socket:// in_waiting is 0 or 1 (select readiness), not a byte count, so
        # read(in_waiting) takes one byte per call (measured: ~175 kB/s at 100 % of a core).
        # With timeout 0 its read() is one select + one recv of whatever the kernel holds.
        port.timeout = 0
        try:
            # Keep the bytes already read if this fails: the failure (a closed peer) repeats
            # on the next read and is reported there.
            with contextlib.suppress(Exception):
                data += port.read(65536)
        finally:
            port.timeout = read_timeout
    return data


class DeviceLink:
    """Reads one device (``device``: the role it plays, "vitals" or "pump") in a daemon
    thread named ``transport-<device>`` and puts ``Received``/``LinkEvent`` items into ``out``.

    - ``url``: anything ``serial.serial_for_url`` opens: /dev/ttyUSB0, /dev/pts/3, COM3,
      ``socket://host:port``, ``rfc2217://host:port``, ``loop://``; and ``udp://host:port``
      (console.udp_port: one datagram per read).
    - ``driver``: a name from the driver registry (console.drivers); picks the decoder, the
      default line settings and, for devices that must be polled or answered, the talking
      side; ``baudrate``/``bytesize``/``parity``/``stopbits`` override the line settings.
    - A talking driver's messages are sent on connect, as time passes and in answer to what
      arrived; each is checked against the driver's allow-list first. A message the list
      does not hold is never sent: the link says so (a LinkEvent reason) and goes on.
    - Reconnects by itself when the port cannot be opened, vanishes, or the socket drops:
      waits 0.5 s, doubling to 5 s between attempts; the delay resets once data flowed.
    - ``capture_path``: every byte received is appended to this file exactly as received
      (flushed at least every 0.5 s, and on disconnect and stop), so
      ``infusion-console decode PATH`` reads it back. A talking driver's link writes instead
      a conversation capture, ``<capture_path>.talk.jsonl`` (``capture_file``): both
      directions with their times (``_Conversation``), which ``decode`` reads back too. If
      the file cannot be written, capture stops, monitoring goes on, ``capture_error`` holds
      the reason and ONE ``LinkEvent(device, state=<current state>, reason="raw capture
      stopped, cannot write ...")`` ("conversation capture stopped, ..." for the other kind)
      is pushed: the state does not change, the reason tells the operator.
    - ``stop()`` ends the thread promptly and never hangs; items still in the decoder are
      pushed before the final ``down``.

    Note: pyserial discards input that is already waiting when it opens a port (posix and
    socket:// both flush on open), so bytes a device sent before the link was up are gone.
    """

    def __init__(
        self,
        device: str,
        url: str,
        out: queue.SimpleQueue,
        *,
        clock: Clock | None = None,
        driver: str = DEFAULT_DRIVER,
        role: Role | None = None,
        baudrate: int | None = None,
        bytesize: int | None = None,
        parity: str | None = None,
        stopbits: float | None = None,
        capture_path: str | os.PathLike | None = None,
        read_timeout: float = READ_TIMEOUT_S,
        backoff: Backoff | None = None,
        decoder_factory: Callable[[], Decoder] | None = None,
        serial_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.driver: Driver = find_driver(driver)
        self.role: Role = role or device.split("-", 1)[0]  # "pump-2": another pump of the rack
        if self.role not in self.driver.roles:
            raise ValueError(f"a {self.driver.title} device cannot be the {self.role!r} "
                             f"(it serves: {', '.join(sorted(self.driver.roles))})")
        self.device: str = device
        self.url = url
        self._port_url, _named = resolve_url(url)  # intellivue+udp://host -> udp://host:24105
        self.link = Link(url, _network_scheme(self._port_url) in ("udp", "udp-listen"))
        self.settings = line_settings(driver, baudrate, bytesize, parity, stopbits)
        self._out = out
        self._clock: Clock = clock or SystemClock()
        self._read_timeout = read_timeout
        self._backoff = backoff or Backoff()
        self._serial_factory = serial_factory or serial.serial_for_url
        self._decoder_factory = decoder_factory or (lambda: self.driver.open_decoder(self.link))
        self._capture_path = capture_path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: Any = None  # the open port, for stop() to cancel a blocking read
        self._port_lock = threading.Lock()
        self._state: LinkState = "down"
        self._reason = "not started"
        self._feed: _DeviceFeed | None = None
        self.attempts = 0  # open attempts so far (the devices panel may show it)
        self.sent: list[bytes] = []  # every message sent, in order (bounded; the allow-list test reads it)
        self.refused: list[bytes] = []  # messages the allow-list kept from the device
        self._talker: Talker | None = None  # the driver's talking side, one per connection

    # -- public state (safe to read from any thread) ----------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def reason(self) -> str:
        """Why the link is in its current state, in words."""
        return self._reason

    @property
    def stats(self) -> DecoderStats:
        """A snapshot of the decoder counts over all connections of this link."""
        return self._feed.stats() if self._feed is not None else DecoderStats()

    @property
    def bytes_received(self) -> int:
        return self._feed.bytes_received if self._feed is not None else 0

    @property
    def capture_file(self) -> Path | None:
        """The file the capture goes to: ``capture_path`` itself, or for a talking driver
        its conversation capture beside it (``<capture_path>.talk.jsonl``)."""
        if self._capture_path is None:
            return None
        if self.driver.talker is None:
            return Path(self._capture_path)
        return talk_capture_path(self._capture_path)

    @property
    def capture_error(self) -> str | None:
        cap = self._feed.capture if self._feed is not None else None
        return cap.error if cap is not None else None

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a DeviceLink starts once; make a new one to start again")
        # The decoder is made here, in the caller's thread, so a broken protocol package
        # fails loudly at start instead of silently killing the reader thread.
        talk_header = None
        if self.driver.talker is not None and self._capture_path is not None:
            talk_header = {"driver": self.driver.name, "role": self.device, "url": self.url,
                           "t": self._clock.now(), "wall": self._clock.wall()}
        self._feed = _DeviceFeed(
            self.device, self._out, self._clock, self._decoder_factory,
            self.capture_file, self._on_capture_error, talk_header,
        )
        self._thread = threading.Thread(
            target=self._run, name=f"transport-{self.device}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = STOP_JOIN_S) -> bool:
        """Stop reading, close the port, push what the decoder still holds. Returns True when
        the thread has ended within ``timeout`` s. False only if the OS blocked it (a
        ``socket://`` connect can take up to 5 s); the daemon thread then ends on its own
        and still closes the port."""
        self._stop.set()
        with self._port_lock:
            port = self._port
        if port is not None:
            cancel = getattr(port, "cancel_read", None)
            if callable(cancel):
                try:
                    cancel()
                except Exception as exc:  # port closing under us: fine
                    log.debug("cancel_read on %s: %s", self.url, exc)
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- reader thread ------------------------------------------------------------------------

    def _emit(self, state: LinkState, reason: str, *, force: bool = False) -> None:
        if not force and state == self._state and reason == self._reason:
            return  # same news again (e.g. every failed retry): say it once
        self._state, self._reason = state, reason
        log.info("%s link %s: %s", self.device, state, reason)
        self._out.put(LinkEvent(self.device, state, reason, self._clock.now()))

    def _on_capture_error(self, message: str) -> None:
        self._out.put(LinkEvent(self.device, self._state, message, self._clock.now()))

    def _run(self) -> None:
        feed = self._feed
        assert feed is not None
        final_reason = "monitoring stopped"
        try:
            self._emit("connecting", f"opening {self.url}", force=True)
            while not self._stop.is_set():
                port = self._try_open()
                if port is None:
                    self._stop.wait(self._backoff.next_delay())
                    continue
                self._emit("up", f"connected to {self.url}")
                reason = self._read_until_lost(port, feed)
                self._close_port(port)
                self._end_stream(feed)
                if reason is None:  # stopped
                    break
                self._emit("down", reason)
                self._stop.wait(self._backoff.next_delay())
        except Exception as exc:  # last line: say so on screen, do not vanish silently
            log.exception("%s reader thread failed", self.device)
            final_reason = f"monitoring stopped by an internal error in the reader: {exc}"
        finally:
            self._end_stream(feed)  # pushes nothing when already flushed
            feed.close_capture()
            self._emit("down", final_reason, force=True)

    def _end_stream(self, feed: _DeviceFeed) -> None:
        try:
            feed.end_stream()
        except Exception:  # the queue or clock failing: nothing more to save
            log.exception("flushing the %s decoder", self.device)

    def _try_open(self) -> Any:
        self.attempts += 1
        problem = url_problem(self._port_url)
        if problem is not None:  # say what is wrong with the URL, not pyserial's TypeError
            self._emit("down", problem)
            return None
        try:
            port = _open_port(self._serial_factory, self._port_url, self.settings, self._read_timeout)
        except Exception as exc:  # pyserial raises SerialException, OSError, ValueError
            self._emit("down", describe_error(exc, self.url, opening=True))
            return None
        with self._port_lock:
            self._port = port
        if self._stop.is_set():  # stop() came while we were connecting
            self._close_port(port)
            return None
        return port

    def _close_port(self, port: Any) -> None:
        with self._port_lock:
            self._port = None
        try:
            port.close()
        except Exception as exc:  # a vanished port may fail to close
            log.debug("closing %s: %s", self.url, exc)

    def _send(self, port: Any, messages: list[bytes], feed: _DeviceFeed) -> None:
        """Write what the talking side asks, each message only if the driver may send it;
        each message written goes into the conversation capture."""
        for message in messages:
            if not self.driver.permits(message):
                self.refused.append(message)
                log.error("%s: refused to send %r: not in the %s driver's allow-list",
                          self.device, message[:80], self.driver.name)
                self._out.put(LinkEvent(self.device, self._state, f"console refused to send a message the "
                                        f"{self.driver.title} driver may not send", self._clock.now()))
                continue
            port.write(message)
            feed.sent(message)
            self.sent.append(message)
            if len(self.sent) > 10_000:
                del self.sent[:5_000]

    def _read_until_lost(self, port: Any, feed: _DeviceFeed) -> str | None:
        """Read until the port fails or the device stops answering as it must (returns the
        reason), or stop() (returns None). A talking driver's goodbye (a release) is sent
        before the port closes, whatever ended the connection."""
        talker = self.driver.open_talker(self.link)
        self._talker = talker
        try:
            return self._conversation(port, feed, talker)
        finally:
            self._say_goodbye(port, feed, talker)

    def _say_goodbye(self, port: Any, feed: _DeviceFeed, talker: Any) -> None:
        """The talker's last words (e.g. an association release), still checked against the
        allow-list; a failure here changes nothing: the line is going anyway."""
        goodbye = getattr(talker, "on_close", None)
        if goodbye is None:
            return
        try:
            self._send(port, goodbye(self._clock.now()), feed)
        except Exception as exc:
            log.debug("%s: goodbye not sent: %s", self.device, exc)

    def _talk(self, port: Any, feed: _DeviceFeed, say: Callable[[], list[bytes]]) -> str | None:
        """Send what the talker says; the reason the conversation ended, or None to go on."""
        try:
            self._send(port, say(), feed)
        except LinkLost as lost:  # refused, aborted, or no answer within the protocol's time-out
            return str(lost)
        except Exception as exc:  # writing failed: the link is gone
            if self._stop.is_set():
                return ""
            return describe_error(exc, self.url, opening=False)
        return None

    def _conversation(self, port: Any, feed: _DeviceFeed, talker: Any) -> str | None:
        got_data = False
        if talker is not None:
            ended = self._talk(port, feed, lambda: talker.on_connect(self._clock.now()))
            if ended is not None:
                return ended or None
        while not self._stop.is_set():
            try:
                data = _read_available(port, self._read_timeout)
            except Exception as exc:  # SerialException, OSError, anything
                if self._stop.is_set():
                    return None
                return describe_error(exc, self.url, opening=False)
            # What was read is decoded (and captured) before the talker's tick speaks, so a
            # conversation capture holds the line's events in the order they happened.
            if data:
                try:
                    feed.feed(data)
                except Exception as exc:
                    # A decoder bug must not end monitoring: drop this connection (its bytes
                    # are in the capture), start over with a fresh decoder, and say so.
                    log.exception("%s decoder failed", self.device)
                    return f"internal error while decoding, reconnecting: {exc}"
                heard = feed.last_wire
                if talker is not None and heard:
                    answer = functools.partial(talker.on_received, heard, self._clock.now())
                    ended = self._talk(port, feed, answer)
                    if ended is not None:
                        return ended or None
                if not got_data:
                    got_data = True
                    self._backoff.reset()  # this connection really works
            else:
                # b"" is a read timeout (pyserial raises on a closed socket or a vanished
                # tty), so an idle line is not an error: the session judges staleness.
                feed.idle()
            if talker is not None and not self._stop.is_set():
                ended = self._talk(port, feed, lambda: talker.on_tick(self._clock.now()))
                if ended is not None:
                    return ended or None
        return None


# --------------------------------------------------------------------------------------------
# Training mode


class SimulatedDevices:
    """The training simulator as an in-process source, standing in for two DeviceLinks.

    Owns a ``simulator.engine.Simulation`` and a ``ScaledClock(speed)`` (``.clock``, the
    session clock in training). A daemon thread ``transport-simulator`` wakes every ``tick``
    s of wall time, calls ``sim.advance(clock.now())``, and feeds the vitals bytes and the pump
    bytes to one decoder each, of the driver the simulator names (the same decoder and the
    same feed code a DeviceLink uses),
    putting ``Received`` items into ``out``. Link events: "up" / "training simulation" at start,
    "down" / "training simulation stopped" at stop, for both devices.

    ``capture_dir``: raw bytes are appended to ``vitals.<driver>`` and ``pump.<driver>`` in it.
    ``simulation`` and ``clock`` may be injected (tests); otherwise built from
    ``scenario``/``seed``/``speed``.

    ``vitals_driver`` / ``pump_driver`` (a driver simulator.emulated has an emulator for): that
    device speaks that real protocol instead: an emulator of the device serves the same patient
    over ``vitals_link`` / ``pump_link`` (UDP or TCP on loopback, or a pty; the emulator's default
    when None), and a real ``DeviceLink`` with the real driver reads it, exactly as at a bedside;
    a device not emulated stays in-process. An emulated device's link events and counts are
    then its DeviceLink's (``links``).
    """

    DEVICES: tuple[Role, Role] = ("vitals", "pump")

    def __init__(
        self,
        out: queue.SimpleQueue,
        scenario: str = "normal",
        *,
        seed: int = 0,
        speed: float = 1.0,
        capture_dir: str | os.PathLike | None = None,
        tick: float = 0.02,
        simulation: Any = None,
        clock: Clock | None = None,
        decoder_factory: Callable[[], Decoder] | None = None,
        vitals_driver: str | None = None,
        vitals_link: str | None = None,
        pump_driver: str | None = None,
        pump_link: str | None = None,
    ) -> None:
        if simulation is None:
            from simulator.engine import Simulation  # the training build only

            simulation = Simulation(scenario, seed=seed)
        self.simulation = simulation
        in_process = getattr(simulation, "DRIVER", DEFAULT_DRIVER)
        # role -> (driver, link kind) of each device played by an emulator on a real transport
        self._emulated: dict[Role, tuple[str, str | None]] = {
            role: (name, kind) for role, name, kind in (("vitals", vitals_driver, vitals_link),
                                                        ("pump", pump_driver, pump_link))
            if name not in (None, in_process)}
        self._emulators: dict[Role, Any] = {}  # simulator.emulated.EmulatedDevice, while running
        self.links: dict[Role, DeviceLink] = {}  # the real links to the emulated devices
        self._source: Any = None
        if self._emulated:
            from simulator.emulated import PUMP_EMULATORS, VITALS_EMULATORS
            from simulator.intellivue_source import SimulationSource

            for role, (name, _kind) in self._emulated.items():
                known = VITALS_EMULATORS if role == "vitals" else PUMP_EMULATORS
                if name not in known:
                    raise ValueError(f"no emulator plays a {name} {'monitor' if role == 'vitals' else 'pump'}; "
                                     f"training can speak: {DEFAULT_DRIVER}, {', '.join(known)}")
            # One owner of the simulation for the training loop and the emulators' threads.
            self._source = SimulationSource(simulation)
        self.clock: Clock = clock if clock is not None else ScaledClock(speed)
        self._out = out
        self._tick = tick
        # The simulator names the driver of the dialect it speaks.
        self.driver: Driver = find_driver(getattr(simulation, "DRIVER", DEFAULT_DRIVER))
        self._factory = decoder_factory or self.driver.open_decoder
        self._capture_dir = Path(capture_dir) if capture_dir is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._feeds: dict[Role, _DeviceFeed] = {}
        self._state: LinkState = "down"
        self.error: str | None = None  # set if the simulation itself failed
        self._injections: queue.SimpleQueue = queue.SimpleQueue()

    def inject(self, event: str, **params: Any) -> None:
        """A training event now (surge, desaturation, apnoea, occlusion, probe off, link
        drop...), for the instructor. Validated here, so a bad event raises at once
        (simulator.events.EventError, a ValueError); applied by the simulation thread,
        because the simulation is not thread-safe."""
        from simulator.events import validate_event

        validate_event(event, params)
        self._injections.put((event, params))

    @property
    def scenario(self) -> Any:
        return self.simulation.scenario

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def in_process(self) -> tuple[Role, ...]:
        """The devices whose bytes go straight from the simulation to a decoder."""
        return tuple(d for d in self.DEVICES if d not in self._emulated)

    @property
    def vitals_link(self) -> DeviceLink | None:
        """The real link to the emulated monitor (None: the vitals are in-process)."""
        return self.links.get("vitals")

    @property
    def pump_link(self) -> DeviceLink | None:
        return self.links.get("pump")

    def emulated(self, role: Role) -> Any:
        """The emulated device of ``role`` (simulator.emulated's device: its faults), or None."""
        emulator = self._emulators.get(role)
        return emulator.device if emulator is not None else None

    def served_at(self, role: Role) -> str | None:
        """Where the emulated device of ``role`` is served (None: it is in-process)."""
        emulator = self._emulators.get(role)
        return emulator.url if emulator is not None else None

    @property
    def vitals_url(self) -> str | None:
        return self.served_at("vitals")

    @property
    def stats(self) -> dict[Role, DecoderStats]:
        out = {d: (f.stats() if (f := self._feeds.get(d)) else DecoderStats()) for d in self.DEVICES}
        out.update({role: link.stats for role, link in self.links.items()})
        return out

    @property
    def bytes_received(self) -> dict[Role, int]:
        out = {d: (f.bytes_received if (f := self._feeds.get(d)) else 0) for d in self.DEVICES}
        out.update({role: link.bytes_received for role, link in self.links.items()})
        return out

    def set_speed(self, speed: float) -> None:
        """Change the simulation speed; session time stays continuous."""
        set_speed = getattr(self.clock, "set_speed", None)
        if set_speed is None:
            raise TypeError("this clock has no speed")
        set_speed(speed)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("SimulatedDevices starts once")
        if self._capture_dir is not None:
            try:
                from console.private_files import private_dir

                private_dir(self._capture_dir, tighten=False)  # 0700 when created (patient data)
            except OSError as exc:
                log.error("cannot create capture directory %s: %s", self._capture_dir, exc)
        for dev in self.in_process:
            path = self._capture_dir / f"{dev}.{self.driver.name}" if self._capture_dir is not None else None

            def capture_error(msg: str, d: Role = dev) -> None:
                self._out.put(LinkEvent(d, self._state, msg, self.clock.now()))

            self._feeds[dev] = _DeviceFeed(dev, self._out, self.clock, self._factory, path, capture_error)
        for role in self._emulated:
            self._start_emulated(role)
        self._thread = threading.Thread(target=self._run, name="transport-simulator", daemon=True)
        self._thread.start()

    def _start_emulated(self, role: Role) -> None:
        from simulator.emulated import start_pump, start_vitals

        name, kind = self._emulated[role]
        start = start_vitals if role == "vitals" else start_pump
        emulator = self._emulators[role] = start(name, self._source, self.clock, kind)
        capture = self._capture_dir / f"{role}.{name}" if self._capture_dir is not None else None
        # A talker acts between reads (an ACK due 0.1 s after a block, a poll due): at --speed 20 a
        # 0.1 s wall read is 2 s of the device's time, and a rack's poll would look like a lost link.
        # The read wakes as often in the device's time as at speed 1.
        speed = max(1.0, float(getattr(self.clock, "speed", 1.0)))
        link = self.links[role] = DeviceLink(role, emulator.url, self._out, clock=self.clock, driver=name,
                                             role=role, capture_path=capture, read_timeout=READ_TIMEOUT_S / speed)
        link.start()

    def stop(self, timeout: float = STOP_JOIN_S) -> bool:
        self._stop.set()
        stopped = True
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
        for link in self.links.values():  # the console releases an association, then the device goes
            stopped = link.stop(timeout) and stopped
        for emulator in self._emulators.values():
            emulator.stop()
        return stopped

    def _emit_all(self, state: LinkState, reason: str) -> None:
        self._state = state
        now = self.clock.now()
        for dev in self.in_process:
            self._out.put(LinkEvent(dev, state, reason, now))

    def _run(self) -> None:
        reason = "training simulation stopped"
        self._emit_all("up", "training simulation")
        try:
            while not self._stop.wait(self._tick):
                while True:  # the instructor's injections, applied on this thread only
                    try:
                        event, params = self._injections.get_nowait()
                    except queue.Empty:
                        break
                    (self._source or self.simulation).inject(event, **params)
                now = self.clock.now()
                # Emulators serve their devices themselves; the rest's bytes are fed here.
                advance = self._source.advance if self._source is not None else self.simulation.advance
                produced = dict(zip(self.DEVICES, advance(now), strict=True))
                for emulator in self._emulators.values():
                    emulator.follow(now)
                for role, feed in self._feeds.items():
                    feed.feed(produced[role])
                for feed in self._feeds.values():
                    feed.idle()  # capture flush cadence
        except Exception as exc:  # show it, do not die silently
            log.exception("training simulation failed")
            self.error = reason = f"training simulation failed: {exc}"
        finally:
            for feed in self._feeds.values():
                try:
                    feed.end_stream()
                except Exception:
                    log.exception("flushing the %s decoder", feed.device)
                feed.close_capture()
            self._emit_all("down", reason)
