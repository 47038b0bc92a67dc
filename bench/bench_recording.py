"""Session record: write throughput, flush cost, and the size of a one-hour session file.

The bundled simulator (`normal` scenario, vitals + pump with waveforms) is run at full speed
in-process for one hour of session time; its bytes go through the real ICL decoders, the
Session and the AlarmEngine, and the Recorder writes them (flush every second of session
time, as live). Reported: file size, rows, write throughput (samples/s and MB/s of file,
measured on the writer's commits), and the cost of one flush on the caller's thread (what the
display timer pays) and on the writer.

    /tmp/venv311/bin/python bench/bench_recording.py [--minutes 60] [--out PATH] [--background]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from simulator.engine import Simulation

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.drivers import driver
from console.recording.recorder import Recorder, _Writer
from console.records import Received
from console.session import Session


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--out", help="session file to write (default: a temporary file)")
    ap.add_argument("--background", action="store_true",
                    help="writer thread (as live): measures what a tick costs the display; without it "
                         "each one-second batch is committed inline, which measures the commit itself")
    args = ap.parse_args()
    path = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / "bench.sqlite"

    # Time the writer's commits (the SQLite work) without changing it.
    commit_s: list[float] = []
    original = _Writer._commit

    def timed(self, batches):
        t0 = time.perf_counter()
        original(self, batches)
        commit_s.append(time.perf_counter() - t0)

    _Writer._commit = timed

    protocol = load_protocol(None)
    clock = FakeClock()
    session = Session(protocol, clock, simulated=True, scenario="normal")
    engine = AlarmEngine(protocol, user="bench")
    recorder = Recorder(path, clock, meta={"simulated": True, "scenario": "normal",
                                           "protocol_fingerprint": protocol.fingerprint()},
                        background=args.background)
    recorder.attach(session, engine)
    sim = Simulation("normal", seed=1)
    decoders = {"vitals": driver("icl").open_decoder(), "pump": driver("icl").open_decoder()}
    seconds = int(args.minutes * 60)
    tick_cost: list[float] = []
    samples = 0
    step = 0.05  # 20 Hz loop, like `record`
    t_start = time.perf_counter()
    n_steps = int(seconds / step)
    for i in range(1, n_steps + 1):
        now = i * step
        clock.set(now)
        vb, pb = sim.advance(now)
        for device, data in (("vitals", vb), ("pump", pb)):
            if data:
                for item in decoders[device].feed(data):
                    if getattr(item, "type", "") == "WF":
                        samples += len(item.samples)
                    elif hasattr(item, "values"):
                        samples += sum(1 for v in item.values.values() if v is not None)
                    session.ingest(Received(device, item, now, clock.wall()))
        engine.evaluate(session, now)
        t0 = time.perf_counter()
        recorder.tick(now)
        tick_cost.append(time.perf_counter() - t0)
    recorder.close()
    wall = time.perf_counter() - t_start
    size = os.path.getsize(path)
    written = recorder.written
    busy = sum(commit_s)
    flushes = sorted(commit_s)
    due = sorted(c for c in tick_cost if c > 0)  # ticks that handed a batch over
    print(f"python {sys.version.split()[0]}, sqlite {__import__('sqlite3').sqlite_version}")
    print(f"session: {seconds} s of the 'normal' scenario, {samples} decoded values/samples, "
          f"generated and recorded in {wall:.1f} s wall")
    print(f"file: {size / 1e6:.1f} MB ({path})")
    print(f"rows: samples {written['samples']}, states {written['states']}, waveform chunks "
          f"{written['waveforms']}, alarm log {written['alarm_log']}, episodes {written['alarm_episodes']}")
    print(f"writer: {len(commit_s)} commits, {busy:.2f} s busy in all; throughput "
          f"{samples / busy:,.0f} samples/s, {size / busy / 1e6:.1f} MB/s of file")
    print(f"commit (fsync included): median {statistics.median(flushes) * 1e3:.2f} ms, "
          f"p99 {flushes[int(len(flushes) * 0.99)] * 1e3:.2f} ms, max {flushes[-1] * 1e3:.2f} ms")
    print(f"tick on the caller's thread: median {statistics.median(due) * 1e3:.3f} ms, "
          f"p99 {due[int(len(due) * 0.99)] * 1e3:.3f} ms, max {due[-1] * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
