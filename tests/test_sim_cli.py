"""``infusion-sim``: arguments, file, pty and TCP outputs, clean stop."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
from simulator.cli import main

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


def _read_until(fd_read, deadline: float, need: int) -> bytes:
    data = b""
    while time.monotonic() < deadline and data.count(b"\n") < need:
        chunk = fd_read()
        if chunk:
            data += chunk
    return data


@pytest.mark.integration
def test_pty_output_streams_icl():
    proc = _start("--speed", "10", "--duration", "30", "--vitals", "pty", "--pump", "pty")
    try:
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert lines[0].startswith("vitals: /dev/pts/") and lines[1].startswith("pump: /dev/pts/")
        fd = os.open(lines[0].split(": ", 1)[1], os.O_RDONLY | os.O_NOCTTY)
        try:

            def read():
                ready, _, _ = select.select([fd], [], [], 0.2)
                return os.read(fd, 65536) if ready else b""

            data = _read_until(read, time.monotonic() + 10, need=40)
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

                data = _read_until(read, time.monotonic() + 10, need=40)
            start = data.index(b"$")
            complete = data[start:].split(b"\n")[:-1]
            assert len(complete) >= 30
            for item in complete:
                check_sentence(item + b"\n")
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""


@pytest.mark.integration
def test_keeps_running_when_nobody_reads_the_pty():
    # 120 s of session at speed 100 without a reader must not block: it ends on time.
    start = time.monotonic()
    proc = _start("--speed", "100", "--duration", "120", "--vitals", "pty")
    try:
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - start < 10
