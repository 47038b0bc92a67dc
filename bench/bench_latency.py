"""Latency from a sentence written to a pty to its samples in the plotted curve data.

A writer thread plays a vitals monitor on a real pty: every 40 ms (an ECG chunk every 100 ms
is the real rate; this is faster, to gather more samples) it writes one WF ECG chunk whose
first sample is a unique marker, and notes the time. The console's own transport reads the
pty; the window's 30 Hz display timer drains and redraws as in use; after each frame the
bench looks for markers in the ECG curve's data.

    QT_QPA_PLATFORM=offscreen python bench/bench_latency.py [--chunks 600]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np

from _pty_console import pty_console, sentence

MARKER0 = 20000
ECG_MV_PER_COUNT = 0.001  # the ICL driver's ECG scale (console.drivers.icl.WAVE_SCALES)




def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=600)
    ap.add_argument("--interval", type=float, default=0.04)
    args = ap.parse_args()
    bed = pty_console()
    app, master, window = bed.app, bed.master, bed.window
    written: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()

    def writer() -> None:
        time.sleep(1.0)  # link up
        t0 = time.monotonic()
        for i in range(args.chunks):
            ms = int((time.monotonic() - t0) * 1000)
            samples = ",".join([str(MARKER0 + i)] + ["0"] * 24)
            data = sentence(f"WF,{i % 65536},{ms},ECG,250,{samples}")
            written[MARKER0 + i] = time.perf_counter()
            os.write(master, data)
            time.sleep(args.interval)
        time.sleep(0.5)
        done.set()

    original = window.refresh

    def refresh_and_look(force: bool = False) -> None:
        original(force)
        y = window.monitor.waves.strips["ECG"].curve.yData
        if y is None or not len(y):
            return
        now = time.perf_counter()
        counts = np.rint(y / ECG_MV_PER_COUNT)  # the curve is in mV; the markers are device counts (uV)
        for m in np.unique(counts[counts >= MARKER0]).astype(int):
            if m not in seen and m in written:
                seen[m] = now

    window.timer.timeout.disconnect()
    window.timer.timeout.connect(refresh_and_look)
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while not done.is_set():
        app.processEvents()
        time.sleep(0.001)
    bed.close()
    lat = sorted((seen[m] - written[m]) * 1000 for m in seen)
    missing = len(written) - len(seen)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(f"pty -> plotted ECG curve data: n={len(lat)}, missing {missing}, median {statistics.median(lat):.1f} ms, "
          f"p95 {p(0.95):.1f} ms, p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms "
          f"(display timer {1000 / 30:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
