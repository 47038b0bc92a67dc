"""``infusion-sim``: arguments, file, pty and TCP outputs, clean stop."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
import types

import pytest
from simulator import cli
from simulator.cli import main
from simulator.outputs import PENDING_LIMIT

from console.clock import FakeClock

try:
    from test_sim_checker import check_sentence, parse_stream
except ImportError:  # tests/ made a package
    from tests.test_sim_checker import check_sentence, parse_stream


def test_list(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "normal" in out and "noisy-line" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--scenario", "no-such", "--vitals", "file:/dev/null"],
        ["--speed", "0", "--vitals", "file:/dev/null"],
        ["--speed", "fast", "--vitals", "file:/dev/null"],
        ["--speed", "-3", "--vitals", "file:/dev/null"],
        ["--speed", "nan", "--vitals", "file:/dev/null"],
        ["--vitals", "serial:/dev/ttyS0"],
        ["--vitals", "tcp:99999"],
        ["--vitals", "tcp:abc"],
        ["--duration", "-5", "--vitals", "pty"],
        ["--speed", "max", "--vitals", "file:/dev/null"],  # max needs --duration
        [],  # no output at all
        ["--seed", "x", "--vitals", "pty"],
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_file_output_at_max_speed(tmp_path, capsys):
    v, p = tmp_path / "v.icl", tmp_path / "p.icl"
    argv = ["--scenario", "normal", "--seed", "3", "--speed", "max", "--duration", "90"]
    assert main([*argv, "--vitals", f"file:{v}", "--pump", f"file:{p}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"vitals: {v}", f"pump: {p}"]
    vitals, pump = parse_stream(v.read_bytes()), parse_stream(p.read_bytes())
    assert vitals[-1]["ms"] == 90_000 and pump[-1]["ms"] == 90_000
    assert vitals[0]["values"]["ROLE"] == "VITALS" and pump[0]["values"]["ROLE"] == "PUMP"


def test_pump_only(tmp_path):
    p = tmp_path / "p.icl"
    assert main(["--speed", "max", "--duration", "5", "--pump", f"file:{p}"]) == 0
    assert len(parse_stream(p.read_bytes())) == 7  # ID + PS at 0..5 s


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


HANG_GUARD_S = 60.0  # only ends a test whose simulator stopped streaming: never reached when it works


def _read_until(fd_read, need: int) -> bytes:
    """Read until ``need`` whole lines came (the simulator runs until stopped, so they do)."""
    data = b""
    guard = time.monotonic() + HANG_GUARD_S
    while (got := data.count(b"\n")) < need:
        assert time.monotonic() < guard, f"the stream stalled after {got} lines"
        chunk = fd_read()
        if chunk:
            data += chunk
    return data


@pytest.mark.integration
def test_pty_output_streams_icl():
    # No --duration: it streams until SIGTERM, however late this test gets to read.
    proc = _start("--speed", "10", "--vitals", "pty", "--pump", "pty")
    try:
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert lines[0].startswith("vitals: /dev/pts/") and lines[1].startswith("pump: /dev/pts/")
        fd = os.open(lines[0].split(": ", 1)[1], os.O_RDONLY | os.O_NOCTTY)
        try:

            def read():
                ready, _, _ = select.select([fd], [], [], 0.2)
                return os.read(fd, 65536) if ready else b""

            data = _read_until(read, need=40)
        finally:
            os.close(fd)
        complete = data[data.index(b"$") :].split(b"\n")[:-1]  # from the first whole sentence
        assert len(complete) >= 30
        for line in complete:
            check_sentence(line + b"\n")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


@pytest.mark.integration
def test_tcp_output_streams_icl_and_accepts_a_new_client():
    proc = _start("--speed", "20", "--vitals", "tcp:0")  # no --duration: until SIGTERM
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("vitals: socket://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        for _ in range(2):  # a second client after the first disconnects
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.settimeout(0.5)

                def read(sock=sock):
                    try:
                        return sock.recv(65536)
                    except TimeoutError:
                        return b""

                data = _read_until(read, need=40)
            start = data.index(b"$")
            complete = data[start:].split(b"\n")[:-1]
            assert len(complete) >= 30
            for item in complete:
                check_sentence(item + b"\n")
            # The next client may connect at once: it waits in the listen backlog until the
            # simulator's next write to this one fails and drops it.
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""


@pytest.fixture
def sim_clock(monkeypatch) -> FakeClock:
    """The simulator's wall clock made a FakeClock: its loop's sleeps advance it, nothing else does."""
    clock = FakeClock()
    monkeypatch.setattr(cli, "time", types.SimpleNamespace(monotonic=clock.now, sleep=clock.advance))
    return clock


@pytest.fixture
def hang_guard():
    """A blocked write would hang the test forever: SIGALRM makes it fail instead (never fires when it works)."""

    def hung(signum, frame):
        raise AssertionError(f"the simulator blocked for {HANG_GUARD_S:g} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(int(HANG_GUARD_S))
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.integration
def test_keeps_running_when_nobody_reads_the_pty(sim_clock, hang_guard, monkeypatch, capsys):
    # 120 s of session at speed 100 on a real pty that nobody opens: the kernel's buffer fills,
    # the simulator keeps at most PENDING_LIMIT bytes and drops the oldest, and never waits.
    outputs, sims = [], []
    real_open, real_simulation = cli.open_output, cli.Simulation

    def open_output(spec):
        outputs.append(real_open(spec))
        return outputs[-1]

    def simulation(*args, **kwargs):
        sims.append(real_simulation(*args, **kwargs))
        return sims[-1]

    monkeypatch.setattr(cli, "open_output", open_output)
    monkeypatch.setattr(cli, "Simulation", simulation)
    assert main(["--speed", "100", "--duration", "120", "--vitals", "pty"]) == 0
    assert capsys.readouterr().out.startswith("vitals: /dev/pts/")
    [pty], [sim] = outputs, sims
    assert sim.now == 120.0  # the whole session was produced
    # ...and it ended on time: within the step of its loop in which the session reached 120 s.
    assert 120 <= sim_clock.now() * 100 < 120 + cli.WALL_STEP_S * 100
    # The reader-less path was really taken: the kernel took no more, the rest was dropped.
    assert len(pty._pending.data) == PENDING_LIMIT and pty._pending.dropped > 0
