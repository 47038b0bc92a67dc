"""Unit tests for console.transport: loop:// and fake ports, a fake clock, a stand-in decoder.

The stand-in decoder (one record per line) keeps these tests about the transport, not about
ICL/1; tests/test_transport_integration.py runs the real decoder over real ptys and sockets.
"""

from __future__ import annotations

import errno
import queue
import socket
import time

import pytest
import serial

from console import transport
from console.clock import FakeClock
from console.drivers.icl import Sentence
from console.records import DecoderStats, LinkEvent, Received, Rejection
from console.transport import (
    Backoff,
    DeviceLink,
    SimulatedDevices,
    describe_error,
    line_settings,
    list_serial_ports,
    merge_stats,
    open_check,
)
from transport_helpers import Collector as SharedCollector
from transport_helpers import transport_threads
from transport_helpers import wait_for as shared_wait_for

DEADLINE = 10.0  # generous: "eventually arrives", never a performance check


class LineDecoder:
    """Stand-in with the make_decoder interface: one Sentence per ``\\n``-terminated line;
    a cut-off line at close() comes out as a ``truncated`` Rejection."""

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._buf = b""

    def feed(self, data: bytes) -> list:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        self.stats.accepted += len(lines)
        return [Sentence("VS", 0, 0, {"line": ln.decode()}) for ln in lines]

    def close(self) -> list:
        if not self._buf:
            return []
        rest, self._buf = self._buf, b""
        self.stats.rejected["truncated"] += 1
        return [Rejection("truncated", rest)]


def wait_for(predicate, timeout: float = DEADLINE) -> bool:
    return shared_wait_for(predicate, timeout)


class Collector(SharedCollector):
    def __init__(self) -> None:
        super().__init__(DEADLINE)


@pytest.fixture(autouse=True)
def no_leftover_threads():
    yield
    assert wait_for(lambda: not transport_threads(), 5.0), transport_threads()


class LoopFactory:
    """serial_for_url that remembers the ports it opened, so a test can write into loop://."""

    def __init__(self) -> None:
        self.ports: list = []
        self.kwargs: list[dict] = []

    def __call__(self, url, **kwargs):
        self.kwargs.append(kwargs)
        port = serial.serial_for_url(url, **kwargs)
        self.ports.append(port)
        return port


def fast_backoff() -> Backoff:
    return Backoff(first=0.01, maximum=0.04)


# ---------------------------------------------------------------------------------------------
# pure pieces


def test_line_settings_defaults_per_protocol_and_overrides():
    assert line_settings("icl") == transport.LineSettings(115200, 8, "N", 1)
    assert line_settings("masimo") == transport.LineSettings(9600, 8, "N", 1)
    s = line_settings("masimo", baudrate=19200, parity="E")
    assert (s.baudrate, s.bytesize, s.parity, s.stopbits) == (19200, 8, "E", 1)
    with pytest.raises(ValueError, match="unknown device protocol"):
        line_settings("nmea")


def test_backoff_doubles_to_five_seconds_and_resets():
    b = Backoff()
    assert [b.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    b.reset()
    assert b.next_delay() == 0.5
    with pytest.raises(ValueError):
        Backoff(first=0)


def _wrapped(outer: Exception, inner: BaseException) -> Exception:
    """An exception raised while handling another, the way pyserial wraps OS errors."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - pyserial leaves the cause as implicit __context__
    except Exception as exc:
        return exc


def test_describe_error_words_for_common_failures():
    url = "socket://10.1.2.3:4001"
    refused = _wrapped(serial.SerialException("Could not open port"), ConnectionRefusedError(
        errno.ECONNREFUSED, "Connection refused"))
    assert describe_error(refused, url, opening=True) == "connection refused by 10.1.2.3:4001"

    timed_out = _wrapped(serial.SerialException("Could not open port"), TimeoutError("timed out"))
    assert describe_error(timed_out, url, opening=True) == "10.1.2.3:4001 did not answer"

    unknown = _wrapped(serial.SerialException("x"), socket.gaierror(-2, "Name unknown"))
    assert "unknown host" in describe_error(unknown, url, opening=True)

    closed = _wrapped(serial.SerialException("read failed: socket disconnected"),
                      serial.SerialException("socket disconnected"))
    assert describe_error(closed, url, opening=False) == (
        "connection to 10.1.2.3:4001 closed by the device")

    # serialposix copies errno into the SerialException it raises on open
    missing = serial.SerialException(errno.ENOENT, "could not open port /dev/ttyUSB7")
    assert describe_error(missing, "/dev/ttyUSB7", opening=True) == (
        "port /dev/ttyUSB7 not found (unplugged or wrong name)")
    busy = serial.SerialException(errno.EBUSY, "busy")
    assert "in use by another program" in describe_error(busy, "/dev/ttyUSB0", opening=True)
    denied = serial.SerialException(errno.EACCES, "denied")
    assert "no permission" in describe_error(denied, "/dev/ttyUSB0", opening=True)

    vanished = _wrapped(serial.SerialException("read failed: [Errno 5] Input/output error"),
                        OSError(errno.EIO, "Input/output error"))
    assert describe_error(vanished, "/dev/ttyUSB0", opening=False) == (
        "port /dev/ttyUSB0 vanished (device unplugged?)")
    no_data = serial.SerialException("device reports readiness to read but returned no data")
    assert "vanished" in describe_error(no_data, "/dev/ttyUSB0", opening=False)


def test_merge_stats_adds_every_field():
    a = DecoderStats(accepted=3, lost=1, noise_bytes=5, unknown_keys=1, restarts=0)
    a.rejected["checksum"] = 2
    b = DecoderStats(accepted=4, lost=2, noise_bytes=0, unknown_keys=0, restarts=1)
    b.rejected["checksum"] = 1
    b.rejected["range"] = 1
    m = merge_stats(a, b)
    assert (m.accepted, m.lost, m.noise_bytes, m.unknown_keys, m.restarts) == (7, 3, 5, 1, 1)
    assert m.rejected == {"checksum": 3, "range": 1}
    assert a.accepted == 3  # inputs untouched


def test_list_serial_ports_never_raises(monkeypatch):
    from serial.tools import list_ports

    def boom():
        raise OSError("sysfs unreadable")

    monkeypatch.setattr(list_ports, "comports", boom)
    assert list_serial_ports() == []


def test_list_serial_ports_returns_port_infos(monkeypatch):
    from serial.tools import list_ports
    from serial.tools.list_ports_common import ListPortInfo

    p = ListPortInfo("/dev/ttyUSB0", skip_link_detection=True)
    p.description, p.hwid = "USB-Serial", "USB VID:PID=067B:2303"
    monkeypatch.setattr(list_ports, "comports", lambda: [p])
    assert list_serial_ports() == [transport.PortInfo("/dev/ttyUSB0", "USB-Serial",
                                                      "USB VID:PID=067B:2303")]


def test_open_check():
    assert open_check("loop://") is None
    assert "not found" in open_check("/dev/this-port-does-not-exist")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    # A network URL is checked without connecting (a device server may take one client
    # only): a refused port is reported by the link, with the same words, once it runs.
    assert open_check(f"socket://127.0.0.1:{free}") is None
    assert open_check("socket://no-such-host.invalid:4001") == \
        "unknown host in socket://no-such-host.invalid:4001"


@pytest.mark.parametrize(("url", "words"), [
    ("socket://127.0.0.1", "socket://127.0.0.1 has no port number"),
    ("socket://127.0.0.1:", "socket://127.0.0.1: has no port number"),
    ("socket://127.0.0.1:abc", "the port in socket://127.0.0.1:abc must be a number"),
    ("socket://127.0.0.1:99999", "the port in socket://127.0.0.1:99999 must be a number"),
    ("socket://127.0.0.1:0", "the port in socket://127.0.0.1:0 must be a number"),
    ("socket://:4001", "socket://:4001 has no host"),
    ("rfc2217://10.0.0.5", "rfc2217://10.0.0.5 has no port number"),
])
def test_malformed_network_url_is_explained(url, words):
    problem = open_check(url)
    assert problem is not None and problem.startswith(words), problem
    assert "host:port" in problem and "not supported" not in problem


def test_link_to_url_without_port_says_so_in_its_down_event():
    out = Collector()
    link = DeviceLink("vitals", "socket://127.0.0.1", out.q, clock=FakeClock(),
                      decoder_factory=LineDecoder)
    link.start()
    try:
        assert out.wait(lambda items: any(isinstance(i, LinkEvent) and i.state == "down"
                                          for i in items))
    finally:
        link.stop()
    down = next(e for e in out.events() if e.state == "down")
    assert down.reason.startswith("socket://127.0.0.1 has no port number"), down.reason


# ---------------------------------------------------------------------------------------------
# DeviceLink over loop://


def test_link_delivers_records_with_receive_times_from_the_clock():
    clock = FakeClock(start=12.5)
    out = Collector()
    factory = LoopFactory()
    link = DeviceLink("vitals", "loop://", out.q, clock=clock, decoder_factory=LineDecoder,
                      serial_factory=factory)
    link.start()
    try:
        assert out.wait(lambda items: any(getattr(i, "state", "") == "up" for i in items))
        factory.ports[0].write(b"one\ntwo\nthr")
        assert out.wait(lambda _: len(out.records()) == 2)
        recs = out.records()
        assert [r.item.values["line"] for r in recs] == ["one", "two"]
        assert all(r.device == "vitals" for r in recs)
        assert all(r.rx_time == 12.5 and r.rx_wall == clock.wall() for r in recs)
        assert wait_for(lambda: link.bytes_received == 11)
        assert link.stats.accepted == 2
        assert link.state == "up"
    finally:
        assert link.stop()
    # stop pushes what the decoder still held, then the final "down"
    items = out.drain()
    assert isinstance(items[-2], Received) and items[-2].item == Rejection("truncated", b"thr")
    assert items[-1] == LinkEvent("vitals", "down", "monitoring stopped", 12.5)
    assert not link.is_alive()
    assert factory.ports[0].is_open is False


def test_link_uses_protocol_line_settings():
    for protocol, baud in (("icl", 115200), ("masimo", 9600)):
        factory = LoopFactory()
        link = DeviceLink("vitals", "loop://", queue.SimpleQueue(), clock=FakeClock(),
                          driver=protocol, decoder_factory=LineDecoder, serial_factory=factory)
        link.start()
        assert wait_for(lambda: link.state == "up")  # noqa: B023 - waited on in this loop
        assert link.stop()
        kw = factory.kwargs[0]
        assert (kw["baudrate"], kw["bytesize"], kw["parity"], kw["stopbits"]) == (baud, 8, "N", 1)
        assert 0 < kw["timeout"] <= 0.5 and kw["do_not_open"] is False


def test_event_order_connecting_then_up():
    out = Collector()
    link = DeviceLink("pump", "loop://", out.q, clock=FakeClock(), decoder_factory=LineDecoder)
    link.start()
    assert out.wait(lambda _: len(out.events()) >= 2)
    link.stop()
    states = [e.state for e in out.events()]
    assert states == ["connecting", "up", "down"]
    assert out.events()[0].reason == "opening loop://"


def test_rejects_bad_device_name():
    with pytest.raises(ValueError):
        DeviceLink("ventilator", "loop://", queue.SimpleQueue())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Reconnect, with fake ports


class FlakyPort:
    """A port that delivers scripted chunks, then fails like a vanished tty."""

    def __init__(self, chunks: list[bytes], fail_with: Exception | None) -> None:
        self.chunks = list(chunks)
        self.fail_with = fail_with
        self.closed = False
        self.timeout = 0.01

    @property
    def in_waiting(self) -> int:
        return len(self.chunks[0]) if self.chunks else 0

    def read(self, size: int = 1) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.fail_with is not None:
            raise self.fail_with
        time.sleep(0.01)  # a quiet line: the read timeout expires
        return b""

    def close(self) -> None:
        self.closed = True


class ScriptedFactory:
    """Each call takes the next step: an exception to raise, or a port to return."""

    def __init__(self, steps: list) -> None:
        self.steps = list(steps)
        self.calls = 0
        self.ports: list = []

    def __call__(self, url, **kwargs):
        self.calls += 1
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        port = step() if callable(step) else step
        self.ports.append(port)
        return port


def test_reconnects_after_open_failures_reporting_each_reason_once():
    missing = serial.SerialException(errno.ENOENT, "could not open port /dev/ttyUSB0")
    busy = serial.SerialException(errno.EBUSY, "busy")
    factory = ScriptedFactory([missing, missing, missing, busy,
                               lambda: FlakyPort([b"hello\n"], None)])
    out = Collector()
    link = DeviceLink("pump", "/dev/ttyUSB0", out.q, clock=FakeClock(),
                      decoder_factory=LineDecoder, serial_factory=factory,
                      backoff=fast_backoff())
    link.start()
    try:
        assert out.wait(lambda _: len(out.records()) == 1)
    finally:
        link.stop()
    events = [(e.state, e.reason) for e in out.events()]
    assert events == [
        ("connecting", "opening /dev/ttyUSB0"),
        ("down", "port /dev/ttyUSB0 not found (unplugged or wrong name)"),  # once, not 3x
        ("down", "port /dev/ttyUSB0 is in use by another program"),
        ("up", "connected to /dev/ttyUSB0"),
        ("down", "monitoring stopped"),
    ]
    assert factory.calls == 5 and link.attempts == 5


def test_port_vanishing_mid_sentence_reports_down_flushes_and_reconnects():
    eio = serial.SerialException("read failed: [Errno 5] Input/output error")
    eio.__context__ = OSError(errno.EIO, "Input/output error")
    factory = ScriptedFactory([
        lambda: FlakyPort([b"a\nb\nhal"], eio),
        lambda: FlakyPort([b"f\nc\n"], None),  # "f" must not glue onto "hal"
    ])
    out = Collector()
    link = DeviceLink("vitals", "/dev/ttyUSB0", out.q, clock=FakeClock(),
                      decoder_factory=LineDecoder, serial_factory=factory,
                      backoff=fast_backoff())
    link.start()
    try:
        assert out.wait(lambda _: len(out.records()) == 5)
    finally:
        link.stop()
    kinds = [
        (i.state, i.reason) if isinstance(i, LinkEvent) else i.item
        for i in out.drain()
    ]
    assert kinds == [
        ("connecting", "opening /dev/ttyUSB0"),
        ("up", "connected to /dev/ttyUSB0"),
        Sentence("VS", 0, 0, {"line": "a"}),
        Sentence("VS", 0, 0, {"line": "b"}),
        Rejection("truncated", b"hal"),  # nothing received is lost
        ("down", "port /dev/ttyUSB0 vanished (device unplugged?)"),
        ("up", "connected to /dev/ttyUSB0"),
        Sentence("VS", 0, 0, {"line": "f"}),
        Sentence("VS", 0, 0, {"line": "c"}),
        ("down", "monitoring stopped"),
    ]
    assert all(p.closed for p in factory.ports)
    s = link.stats  # summed over both connections
    assert s.accepted == 4 and s.rejected == {"truncated": 1}
    assert link.bytes_received == 11


def test_backoff_resets_only_after_data_flowed():
    b = fast_backoff()
    factory = ScriptedFactory([
        serial.SerialException(errno.ENOENT, "x"),
        serial.SerialException(errno.ENOENT, "x"),
        lambda: FlakyPort([b"x\n"], serial.SerialException("socket disconnected")),
        lambda: FlakyPort([], None),
    ])
    link = DeviceLink("pump", "/dev/ttyUSB0", queue.SimpleQueue(), clock=FakeClock(),
                      decoder_factory=LineDecoder, serial_factory=factory, backoff=b)
    link.start()
    assert wait_for(lambda: factory.calls == 4 and link.state == "up")
    link.stop()
    # after the data, the drop's delay was the first one again
    assert b.next_delay() == 0.02


def test_stop_while_retrying_is_prompt():
    factory = ScriptedFactory([serial.SerialException(errno.ENOENT, "x")])
    link = DeviceLink("pump", "/dev/ttyUSB9", queue.SimpleQueue(), clock=FakeClock(),
                      decoder_factory=LineDecoder, serial_factory=factory,
                      backoff=Backoff(5.0, 5.0))  # would sleep 5 s without the stop event
    link.start()
    assert wait_for(lambda: factory.calls >= 1 and link.state == "down")
    assert link.stop(timeout=3.0)
    assert not link.is_alive()


def test_decoder_bug_is_reported_and_monitoring_goes_on():
    class Broken(LineDecoder):
        def feed(self, data):
            items = super().feed(data)
            if any(i.values["line"] == "bad" for i in items):
                raise RuntimeError("decoder bug")
            return items

    out = Collector()
    factory = LoopFactory()
    link = DeviceLink("vitals", "loop://", out.q, clock=FakeClock(), decoder_factory=Broken,
                      serial_factory=factory, backoff=fast_backoff())
    link.start()
    try:
        assert wait_for(lambda: link.state == "up")
        factory.ports[0].write(b"bad\n")
        assert wait_for(lambda: len(factory.ports) == 2 and link.state == "up")
        factory.ports[1].write(b"good\n")
        assert out.wait(lambda _: len(out.records()) == 1)
    finally:
        link.stop()
    assert ("down", "internal error while decoding, reconnecting: decoder bug") in [
        (e.state, e.reason) for e in out.events()]
    assert out.records()[0].item.values["line"] == "good"


def test_decoder_that_cannot_be_made_again_is_reported_and_retried():
    calls = []

    def factory():
        calls.append(1)
        if len(calls) > 1:  # the fresh decoder for the next connection cannot be made
            raise RuntimeError("protocol table missing")
        return LineDecoder()

    out = Collector()
    eio = OSError(errno.EIO, "Input/output error")
    link = DeviceLink("vitals", "/dev/x", out.q, clock=FakeClock(), decoder_factory=factory,
                      serial_factory=ScriptedFactory([lambda: FlakyPort([b"a\n"], eio)]),
                      backoff=fast_backoff())
    link.start()
    try:
        assert wait_for(lambda: any("protocol table missing" in e.reason
                                    for e in out.events()))
        assert link.is_alive()  # keeps trying; the reason is on screen
    finally:
        link.stop()
    assert out.records()[0].item.values["line"] == "a"
    assert out.events()[-1].reason == "monitoring stopped"


# ---------------------------------------------------------------------------------------------
# Raw capture


def test_capture_holds_every_byte_across_reconnects(tmp_path):
    path = tmp_path / "pump.raw"
    path.write_bytes(b"OLD")  # appended to, never truncated
    factory = ScriptedFactory([
        lambda: FlakyPort([b"\x00$PS,1", b"*00\r\n\xff"], serial.SerialException(
            "socket disconnected")),
        lambda: FlakyPort([b"tail\n"], None),
    ])
    link = DeviceLink("pump", "socket://h:1", queue.SimpleQueue(), clock=FakeClock(),
                      decoder_factory=LineDecoder, serial_factory=factory,
                      backoff=fast_backoff(), capture_path=path)
    link.start()
    try:
        assert wait_for(lambda: link.bytes_received == 17)
    finally:
        assert link.stop()
    assert path.read_bytes() == b"OLD\x00$PS,1*00\r\n\xfftail\n"
    assert link.capture_error is None


def test_capture_flushes_while_running(tmp_path):
    path = tmp_path / "v.raw"
    factory = LoopFactory()
    link = DeviceLink("vitals", "loop://", queue.SimpleQueue(), clock=FakeClock(),
                      decoder_factory=LineDecoder, serial_factory=factory, capture_path=path)
    link.start()
    try:
        assert wait_for(lambda: link.state == "up")
        factory.ports[0].write(b"abc\n")
        # on disk without stopping (flushed within ~0.5 s)
        assert wait_for(lambda: path.read_bytes() == b"abc\n")
    finally:
        link.stop()


def test_capture_failure_keeps_monitoring_and_says_so_once(tmp_path):
    path = tmp_path / "no-such-dir" / "v.raw"
    out = Collector()
    factory = LoopFactory()
    link = DeviceLink("vitals", "loop://", out.q, clock=FakeClock(),
                      decoder_factory=LineDecoder, serial_factory=factory, capture_path=path)
    link.start()
    try:
        assert wait_for(lambda: link.state == "up")
        factory.ports[0].write(b"a\nb\n")
        assert out.wait(lambda _: len(out.records()) == 2)
    finally:
        link.stop()
    assert link.capture_error is not None and str(path) in link.capture_error
    capture_events = [e for e in out.events() if "capture" in e.reason]
    assert len(capture_events) == 1
    assert capture_events[0].reason.startswith("raw capture stopped, cannot write")


def test_capture_write_failure_midway(tmp_path):
    out = Collector()
    factory = LoopFactory()
    link = DeviceLink("vitals", "loop://", out.q, clock=FakeClock(),
                      decoder_factory=LineDecoder, serial_factory=factory,
                      capture_path=tmp_path / "v.raw")
    link.start()
    try:
        assert wait_for(lambda: link.state == "up")

        class FullDisk:
            def write(self, data):
                raise OSError(errno.ENOSPC, "No space left on device")

            def flush(self):
                pass

            def close(self):
                pass

        link._feed.capture._file = FullDisk()  # the disk fills up under us
        factory.ports[0].write(b"a\nb\n")
        assert out.wait(lambda _: len(out.records()) == 2)  # monitoring goes on
        factory.ports[0].write(b"c\n")
        assert out.wait(lambda _: len(out.records()) == 3)
    finally:
        link.stop()
    assert "No space left on device" in link.capture_error
    capture_events = [e for e in out.events() if "capture" in e.reason]
    assert len(capture_events) == 1 and capture_events[0].state == "up"


# ---------------------------------------------------------------------------------------------
# SimulatedDevices with a fake simulation


class FakeSimulation:
    def __init__(self) -> None:
        self.scenario = "fake-scenario"
        self.calls: list[float] = []

    def advance(self, t: float):
        self.calls.append(t)
        n = len(self.calls)
        return f"v{n}\n".encode(), (f"p{n}\n".encode() if n % 2 else b"")


def test_simulated_devices_feed_both_devices_with_clock_times(tmp_path):
    clock = FakeClock(start=3.0)
    sim = FakeSimulation()
    out = Collector()
    dev = SimulatedDevices(out.q, simulation=sim, clock=clock, decoder_factory=LineDecoder,
                           tick=0.001, capture_dir=tmp_path / "cap")
    assert dev.scenario == "fake-scenario" and dev.clock is clock
    dev.start()
    try:
        assert out.wait(lambda _: len(out.records()) >= 6)
        clock.advance(2.0)
        assert wait_for(lambda: sim.calls[-1] == 5.0)
    finally:
        assert dev.stop()
    assert not dev.is_alive()
    items = out.drain()
    assert [(e.device, e.state, e.reason) for e in items[:2]] == [
        ("vitals", "up", "training simulation"), ("pump", "up", "training simulation")]
    assert [(e.device, e.state) for e in items[-2:]] == [("vitals", "down"), ("pump", "down")]
    recs = out.records()
    vitals = [r.item.values["line"] for r in recs if r.device == "vitals"]
    pump = [r.item.values["line"] for r in recs if r.device == "pump"]
    assert vitals == [f"v{i}" for i in range(1, len(sim.calls) + 1)]
    assert pump == [f"p{i}" for i in range(1, len(sim.calls) + 1, 2)]
    assert {r.rx_time for r in recs} <= {3.0, 5.0}
    assert dev.stats["vitals"].accepted == len(vitals)
    assert dev.stats["pump"].accepted == len(pump)
    assert dev.bytes_received["vitals"] == sum(len(f"v{i}\n") for i in range(1, len(sim.calls) + 1))
    assert (tmp_path / "cap" / "vitals.icl").read_bytes() == "".join(
        f"v{i}\n" for i in range(1, len(sim.calls) + 1)).encode()


def test_simulated_devices_report_a_failing_simulation():
    class Broken(FakeSimulation):
        def advance(self, t):
            raise ValueError("scenario file broken")

    out = Collector()
    dev = SimulatedDevices(out.q, simulation=Broken(), clock=FakeClock(),
                           decoder_factory=LineDecoder, tick=0.001)
    dev.start()
    assert wait_for(lambda: not dev.is_alive())
    dev.stop()
    last = out.events()[-1]
    assert last.state == "down" and "scenario file broken" in last.reason
    assert dev.error is not None


def test_simulated_devices_set_speed():
    from console.clock import ScaledClock

    dev = SimulatedDevices(queue.SimpleQueue(), simulation=FakeSimulation(), speed=60,
                           decoder_factory=LineDecoder)
    assert isinstance(dev.clock, ScaledClock) and dev.clock.speed == 60
    dev.set_speed(2)
    assert dev.clock.speed == 2
