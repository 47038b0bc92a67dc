"""End-to-end transport tests: real pty pairs and local TCP sockets, the real ICL decoder.

Deadlines here are generous upper bounds for "eventually arrives", never performance checks.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import socket
import sys
import threading
import time
import tty

import pytest

from console.clock import FakeClock, SystemClock
from console.drivers import driver
from console.records import LinkEvent, Observations, Received, Rejection, Wave
from console.transport import Backoff, DeviceLink, SimulatedDevices
from icl_lines import icl
from transport_helpers import Collector as SharedCollector
from transport_helpers import transport_threads
from transport_helpers import wait_for as shared_wait_for

pytestmark = pytest.mark.integration

DEADLINE = 15.0



def make_decoder(name: str):
    """What the transport feeds: the driver's decoder with its normalization."""
    return driver(name).open_decoder()


def needs_decoder(test):  # kept as a marker name for readability: every driver is always there
    return test

needs_pty = pytest.mark.skipif(sys.platform == "win32", reason="pty pairs are POSIX only")


def vs(seq: int) -> bytes:
    return icl(f"VS,{seq},{seq * 1000},HR={60 + seq % 40},SPO2=98,RR=14")


def wait_for(predicate, timeout: float = DEADLINE) -> bool:
    return shared_wait_for(predicate, timeout)


class Collector(SharedCollector):
    def __init__(self) -> None:
        super().__init__(DEADLINE)


@pytest.fixture(autouse=True)
def no_leftover_threads():
    yield
    assert wait_for(lambda: not transport_threads(), 5.0), transport_threads()


@pytest.fixture
def links():
    """Links made by a test, stopped even when the test fails."""
    made: list = []
    yield made
    for link in made:
        link.stop()


# ---------------------------------------------------------------------------------------------
# pty pair


class Pty:
    """A pty pair: the test writes into the master, the link opens the slave's path.

    The test keeps its own slave fd open until teardown: Linux frees a pty's number only when
    every fd of it is closed, so while a test runs no other pty (another test process) can
    take /dev/pts/N and have a retrying link open a stranger's pty."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.master, view[:4096])
            view = view[n:]

    def unplug(self) -> None:
        """Close the master: the slave's path vanishes, as a USB adapter's does."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def close(self) -> None:
        self.unplug()
        os.close(self.slave)


@pytest.fixture
def pty_pair():
    p = Pty()
    yield p
    p.close()


def start_link(links, device, url, out, **kw) -> DeviceLink:
    link = DeviceLink(device, url, out.q, clock=kw.pop("clock", SystemClock()), **kw)
    links.append(link)
    link.start()
    assert wait_for(lambda: link.state == "up"), (link.state, link.reason)
    return link


@needs_pty
@needs_decoder
def test_pty_records_arrive_with_receive_times(pty_pair, links):
    out = Collector()
    clock = SystemClock()
    link = start_link(links, "vitals", pty_pair.path, out, clock=clock)
    t0 = clock.now()
    pty_pair.write_all(vs(1) + vs(2) + icl("WF,3,3000,PLETH,100,2048,2100,2190"))
    assert wait_for(lambda: len(out.records()) == 3)
    recs = out.records()
    assert [type(r.item) for r in recs] == [Observations, Observations, Wave]
    assert recs[0].item.values["HR"] == 61 and recs[2].item.samples == [2048, 2100, 2190]
    assert all(r.device == "vitals" for r in recs)
    assert all(t0 <= r.rx_time <= clock.now() for r in recs)
    assert all(abs(r.rx_wall - time.time()) < 60 for r in recs)
    assert link.stats.accepted == 3 and link.stats.lost == 0


@needs_pty
@needs_decoder
def test_pty_unplug_reports_down_and_keeps_retrying(pty_pair, links):
    out = Collector()
    link = start_link(links, "pump", pty_pair.path, out)
    # a sentence cut off by the unplug is not lost: it comes out as "truncated"
    pty_pair.write_all(icl("PS,1,1000,STATE=RUNNING,RATE=75") + b"$PS,2,2000,STA")
    assert wait_for(lambda: len(out.records()) == 1)
    pty_pair.unplug()
    assert wait_for(lambda: link.state == "down")
    downs = [e for e in out.events() if e.state == "down"]
    assert downs[0].reason == f"port {pty_pair.path} vanished (device unplugged?)"
    recs = out.records()
    assert isinstance(recs[-1].item, Rejection) and recs[-1].item.reason == "truncated"
    # it keeps trying to reopen; the pty's path is gone now
    attempts = link.attempts
    assert wait_for(lambda: link.attempts >= attempts + 2)
    assert link.state == "down"
    assert out.events()[-1].reason == f"port {pty_pair.path} not found (unplugged or wrong name)"
    assert link.stop(timeout=5.0)


@needs_pty
@needs_decoder
def test_pty_burst_all_arrive(pty_pair, links):
    out = Collector()
    link = start_link(links, "vitals", pty_pair.path, out)
    n = 5000
    # the pty buffer is small, so the writer blocks until the reader drains it
    pty_pair.write_all(b"".join(vs(i % 65536) for i in range(1, n + 1)))
    assert wait_for(lambda: len(out.records()) == n)
    assert [r.item.seq for r in out.records()] == list(range(1, n + 1))
    assert link.stats.accepted == n and link.stats.lost == 0
    assert link.stats.rejected_total == 0


def _stack(thread: threading.Thread) -> list:
    """The thread's Python frames, innermost first (empty if it has ended)."""
    frame = sys._current_frames().get(thread.ident)
    stack = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    return stack


def blocked_in_read(thread: threading.Thread) -> bool:
    """True while ``thread`` is inside pyserial's read(), at its select() call, called from
    console.transport: the link's read is waiting in the kernel for bytes."""
    stack = _stack(thread)
    if not stack:
        return False
    inner = stack[0]
    line = linecache.getline(inner.f_code.co_filename, inner.f_lineno)
    return (inner.f_code.co_name == "read" and "select.select(" in line
            and any(f.f_globals.get("__name__") == "console.transport" for f in stack[1:]))


def describe_frames(thread: threading.Thread) -> str:
    return " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in _stack(thread)) or "no frames"


@needs_pty
@needs_decoder
def test_pty_stop_while_blocked_in_read_is_prompt(pty_pair, links):
    out = Collector()
    link = start_link(links, "vitals", pty_pair.path, out, read_timeout=30.0)
    [reader] = transport_threads()
    # Not a sleep and a hope: the reader is seen waiting inside the port's read(), in its
    # select() on the tty and the abort pipe (30 s timeout, no data): cancel_read() must wake it.
    assert wait_for(lambda: blocked_in_read(reader)), describe_frames(reader)
    assert link.stop(timeout=5.0)
    assert not transport_threads()
    assert out.events()[-1].reason == "monitoring stopped"


# ---------------------------------------------------------------------------------------------
# TCP socket (a serial device server, or the simulator's socket output)


class Server:
    """A one-client TCP server on 127.0.0.1; ``port`` may be reused to simulate a replug."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self.conn: socket.socket | None = None
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, name="test-server", daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            self.conn, _ = self.sock.accept()
            self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._accepted.set()

    def client(self) -> socket.socket:
        assert self._accepted.wait(DEADLINE)
        assert self.conn is not None
        return self.conn

    def send(self, data: bytes) -> None:
        self.client().sendall(data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.sock.close()


@pytest.fixture
def servers():
    made: list[Server] = []
    yield made
    for s in made:
        s.close()


@needs_decoder
def test_socket_records_arrive(servers, links):
    srv = Server()
    servers.append(srv)
    out = Collector()
    link = start_link(links, "pump", srv.url, out)
    srv.send(icl("PS,7,7000,STATE=RUNNING,DRUG=KETAMINE,CONC=0.7,RATE=75,ALARM=NONE,BATT=96"))
    assert wait_for(lambda: len(out.records()) == 1)
    item = out.records()[0].item
    assert isinstance(item, Observations) and item.values["PUMP_STATE"] == "RUNNING"
    assert link.bytes_received > 0


@needs_decoder
def test_socket_unplug_then_replug_on_same_port(servers, links):
    srv = Server()
    servers.append(srv)
    out = Collector()
    # the default 0.5..5 s policy is unit-tested; a faster one keeps this test short
    link = start_link(links, "pump", srv.url, out, backoff=Backoff(0.05, 0.2))
    srv.send(icl("PS,1,1000,STATE=RUNNING"))
    assert wait_for(lambda: len(out.records()) == 1)

    srv.close()  # unplug: peer closes, and nobody listens any more
    assert wait_for(lambda: link.state == "down")
    where = f"127.0.0.1:{srv.port}"
    assert wait_for(lambda: any(e.reason == f"connection refused by {where}"
                                for e in out.events()))
    reasons = [e.reason for e in out.events() if e.state == "down"]
    assert reasons[0] == f"connection to {where} closed by the device"
    attempts = link.attempts
    assert wait_for(lambda: link.attempts > attempts)  # still retrying

    srv2 = Server(srv.port)  # replug: a new server on the same port
    servers.append(srv2)
    assert wait_for(lambda: link.state == "up")
    srv2.send(icl("PS,2,2000,STATE=PAUSED"))
    assert wait_for(lambda: len(out.records()) == 2)
    assert out.records()[-1].item.values["PUMP_STATE"] == "PAUSED"
    states = [e.state for e in out.events()]
    assert states[:2] == ["connecting", "up"] and states[-1] == "up"
    assert "down" in states


@needs_decoder
def test_socket_burst_all_arrive_and_capture_equals_bytes_sent(servers, links, tmp_path):
    srv = Server()
    servers.append(srv)
    out = Collector()
    cap = tmp_path / "vitals.icl"
    link = start_link(links, "vitals", srv.url, out, capture_path=cap)
    n = 5000
    data = b"".join(vs(i) for i in range(1, n + 1))
    data += icl("WF,5001,5000001,ECG,250," + ",".join(str(i) for i in range(-128, 128)))
    srv.send(data)  # all at once
    assert wait_for(lambda: len(out.records()) == n + 1)
    recs = out.records()
    assert [r.item.seq for r in recs] == list(range(1, n + 2))
    assert recs[-1].item.samples == list(range(-128, 128))
    assert link.stats.accepted == n + 1 and link.stats.lost == 0
    assert link.bytes_received == len(data)
    assert link.stop()
    assert cap.read_bytes() == data


@needs_decoder
def test_socket_one_byte_at_a_time_decodes_the_same(servers, links):
    stream = icl("ID,0,0,ROLE=VITALS,MODEL=SIM-VM1,SERIAL=A100,FW=1.0,PROTO=1") + vs(1) + \
        icl("WF,2,2000,PLETH,100,2048,2100") + b"$VS,3,30" + b"junk\n" + vs(4)
    expected = make_decoder("icl").feed(stream)

    srv = Server()
    servers.append(srv)
    out = Collector()
    link = start_link(links, "vitals", srv.url, out)
    conn = srv.client()
    for i in range(len(stream)):
        conn.sendall(stream[i:i + 1])
        if i % 8 == 0:
            time.sleep(0.001)  # let some reads see single bytes
    assert wait_for(lambda: link.bytes_received == len(stream))
    assert wait_for(lambda: len(out.records()) == len(expected))
    assert [r.item for r in out.records()] == expected


@needs_decoder
def test_garbage_between_sentences_is_noise_and_sentences_are_recovered(servers, links):
    garbage = [b"\x00\x01\xff", b"line noise!!", b"\r\n", b"\x7f" * 50, b"~~~"]
    stream = b""
    for i, g in enumerate(garbage * 20):
        stream += g + vs(i + 1)
    srv = Server()
    servers.append(srv)
    out = Collector()
    link = start_link(links, "vitals", srv.url, out)
    srv.send(stream)
    total = len(garbage) * 20
    assert wait_for(lambda: len(out.records()) == total)
    assert [r.item.seq for r in out.records()] == list(range(1, total + 1))
    assert link.stats.accepted == total
    assert link.stats.noise_bytes == sum(len(g) for g in garbage) * 20
    assert link.stats.rejected_total == 0


class SingleClientServer:
    """A serial device server set to one client, as most are: the first connection holds
    the port; any later one is closed at once. It frees the slot only when its keepalive
    finds the client dead, minutes later, so never within a test."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.client: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, name="test-single-server",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.connections += 1
                if self.client is None:
                    self.client = conn
                else:
                    conn.close()  # busy: one client only

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self._thread.join(DEADLINE)


@needs_decoder
def test_start_up_check_does_not_take_the_only_slot_of_a_single_client_server():
    from console.sources import ConnectionRequest, DeviceSpec, Sources, check_request

    srv = SingleClientServer()
    request = ConnectionRequest(vitals=DeviceSpec(srv.url))
    sources = None
    try:
        assert check_request(request) is None
        sources = Sources(request)
        sources.start()
        assert wait_for(lambda: srv.client is not None)
        seen = []
        # pyserial's socket:// open discards input that came before it finished: send once the
        # link says it is up, as a device would be read in earnest only from then on.
        assert wait_for(lambda: bool(seen.extend(iter_queue(sources.queue)) or any(
            isinstance(i, LinkEvent) and i.state == "up" for i in seen)))
        srv.client.sendall(vs(1))
        got = []
        assert wait_for(lambda: bool(got.extend(
            i for i in iter_queue(sources.queue) if isinstance(i, Received)) or got))
        assert got[0].item.seq == 1
        assert srv.connections == 1  # the check made no connection of its own
    finally:
        if sources is not None:
            sources.stop()
        srv.close()


def iter_queue(q):
    while not q.empty():
        yield q.get_nowait()


@needs_decoder
def test_refused_at_start_then_server_appears(links):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    out = Collector()
    link = DeviceLink("vitals", f"socket://127.0.0.1:{free}", out.q, clock=SystemClock())
    links.append(link)
    link.start()
    assert wait_for(lambda: link.state == "down")
    assert out.events()[-1].reason == f"connection refused by 127.0.0.1:{free}"
    srv = Server(free)
    try:
        assert wait_for(lambda: link.state == "up")
        srv.send(vs(1))
        assert wait_for(lambda: len(out.records()) == 1)
    finally:
        srv.close()


@needs_decoder
def test_socket_stop_returns_and_leaves_no_thread(servers):
    srv = Server()
    servers.append(srv)
    out = Collector()
    link = DeviceLink("vitals", srv.url, out.q, clock=FakeClock())
    link.start()
    assert wait_for(lambda: link.state == "up")
    srv.send(b"$VS,1,10")  # an open sentence when we stop
    assert wait_for(lambda: link.bytes_received == 8)
    assert link.stop(timeout=5.0)
    assert not transport_threads()
    items = out.drain()
    assert isinstance(items[-2], Received) and items[-2].item.reason == "truncated"
    assert items[-1].state == "down"


# ---------------------------------------------------------------------------------------------
# Training simulator


def _simulation_available() -> bool:
    try:
        from simulator.engine import Simulation  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _simulation_available(), reason="simulator.engine not available yet")
@needs_decoder
def test_simulated_devices_at_speed_60_deliver_vs_wf_ps(tmp_path):
    out = Collector()
    dev = SimulatedDevices(out.q, "normal", seed=0, speed=60, capture_dir=tmp_path)
    assert dev.scenario is not None
    dev.start()
    try:
        def kinds() -> set[tuple[str, str]]:
            return {(r.device, type(r.item).__name__) for r in out.records()
                    if not isinstance(r.item, Rejection)}

        # "Within a second of wall time" in normal use; the deadline here is generous.
        assert wait_for(lambda: {("vitals", "Observations"), ("vitals", "Wave"), ("pump", "Observations"),
                                 ("vitals", "Identity")} <= kinds())
    finally:
        assert dev.stop(timeout=5.0)
    assert not transport_threads()
    rejected = [r.item for r in out.records() if isinstance(r.item, Rejection)]
    assert rejected == []  # simulator encoder and console decoder agree
    assert dev.stats["vitals"].accepted > 0 and dev.stats["pump"].accepted > 0
    assert dev.stats["vitals"].lost == 0 and dev.stats["pump"].lost == 0
    recs = out.records()
    assert all(r.rx_time <= dev.clock.now() for r in recs)
    # the capture decodes to the same records
    replay = make_decoder("icl").feed((tmp_path / "vitals.icl").read_bytes())
    assert replay == [r.item for r in recs if r.device == "vitals"]
