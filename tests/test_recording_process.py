"""``infusion-console record`` as a real process: headless, SIGTERM, bad arguments, and kill -9
followed by find, resume and export. The process is the point here, so these use
subprocesses; no timing is asserted (waits are for lines the process prints)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from console.clock import SystemClock
from console.recording import find_open_sessions, resume
from console.recording.export import export_csv
from console.recording.recorder import CRASH_REASON
from console.recording.store import read_meta

pytestmark = pytest.mark.integration

# Runs the CLI and, on the way out, says whether Qt was ever loaded.
RUNNER = ("import sys, atexit\n"
          "atexit.register(lambda: print('QT_LOADED=' + str(any(m.split('.')[0] in ('PySide6', 'pyqtgraph', "
          "'shiboken6') for m in sys.modules)), file=sys.stderr, flush=True))\n"
          "from console.cli import main\n"
          "sys.exit(main(sys.argv[1:]))\n")


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUNNER, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_flushes(proc: subprocess.Popen, n: int, timeout: float = 60.0) -> list[str]:
    """Lines 'flushed ...' as the recorder confirms them (blocking reads, a deadline)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < n:
        assert time.monotonic() < deadline, "recorder did not confirm flushes in time"
        line = proc.stdout.readline()
        assert line, f"record ended early: {proc.stderr.read()}"
        if line.startswith("flushed "):
            lines.append(line.strip())
    return lines


def test_record_runs_headless_and_stops_cleanly_on_sigterm(tmp_path):
    out = tmp_path / "s.sqlite"
    proc = start(["record", "--simulate", "normal", "--speed", "20", "--out", str(out), "--print-flushes"])
    try:
        wait_for_flushes(proc, 3)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "QT_LOADED=False" in stderr
    assert "closed cleanly" in stdout
    meta = read_meta(out)
    assert meta["state"] == "closed" and meta["simulated"] and meta["scenario"] == "normal"
    assert not (tmp_path / "s.sqlite-wal").exists() or (tmp_path / "s.sqlite-wal").stat().st_size == 0


def test_record_stops_after_its_duration(tmp_path):
    out = tmp_path / "d.sqlite"
    proc = subprocess.run([sys.executable, "-c", RUNNER, "record", "--simulate", "normal", "--speed", "60",
                           "--duration", "30", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert read_meta(out)["state"] == "closed"
    export_csv(out, tmp_path / "x")
    with open(tmp_path / "x" / "samples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["metric"] for r in rows} >= {"HR", "SPO2", "PUMP_RATE"}


@pytest.mark.parametrize("args", [
    [],  # nothing to record
    ["--simulate", "no-such-scenario"],
    ["--simulate", "normal", "--vitals", "loop://"],
    ["--vitals", "/dev/no-such-port-here"],
    ["--simulate", "normal", "--duration", "-1"],
    ["--bogus"],
])
def test_record_bad_arguments_exit_2(tmp_path, args):
    proc = subprocess.run([sys.executable, "-c", RUNNER, "record", *args, "--out", str(tmp_path / "b.sqlite")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert not (tmp_path / "b.sqlite").exists()


def test_record_never_overwrites_a_file(tmp_path):
    out = tmp_path / "taken.sqlite"
    out.write_text("precious")
    proc = subprocess.run([sys.executable, "-c", RUNNER, "record", "--simulate", "normal", "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert out.read_text() == "precious"


def test_kill_9_then_find_resume_and_export_keeps_every_confirmed_batch(tmp_path):
    out = tmp_path / "session-crash.sqlite"
    proc = start(["record", "--simulate", "normal", "--speed", "60", "--out", str(out), "--print-flushes"])
    try:
        confirmed = wait_for_flushes(proc, 8)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    last = dict(kv.split("=") for kv in confirmed[-1].split()[2:])
    confirmed_samples, upto = int(last["samples"]), float(last["upto"])
    assert confirmed_samples > 0

    found = find_open_sessions(tmp_path)
    assert [f.path for f in found] == [out]

    rec = resume(out, SystemClock(), background=False)
    rec.close()
    export_csv(out, tmp_path / "export")
    with open(tmp_path / "export" / "samples.csv", newline="") as f:
        samples = list(csv.DictReader(f))
    with open(tmp_path / "export" / "events.csv", newline="") as f:
        gaps = [e for e in csv.DictReader(f) if e["kind"] == "gap"]
    # Every numeric sample the recorder had confirmed is in the export (samples.csv has one
    # row per non-empty value, and the simulator sends no '-' in the normal scenario).
    assert len(samples) >= confirmed_samples
    assert len(gaps) == 1 and gaps[0]["text"] == CRASH_REASON
    meta = read_meta(out)
    assert meta["state"] == "closed" and [r["reason"] for r in meta["runs"]] == ["new session", CRASH_REASON]
    assert upto > 0
