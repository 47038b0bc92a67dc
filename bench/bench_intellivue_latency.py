"""Latency from the IntelliVue emulator building a wave message to its samples in the plotted
curve data, over UDP on loopback.

The emulator (simulator.intellivue) plays the monitor on a UDP port with a patient whose ECG
chunks (128 samples every 256 ms, p.286 of the guide) each begin with a unique marker
(5.000 mV upwards, 1 uV steps: far above any ECG value); the time each chunk is asked of the
patient, just before the message is encoded and sent, is noted. The console reads it with its
real driver over ``intellivue+udp://127.0.0.1:PORT``; the window's 30 Hz display timer drains and
redraws as in use; after each frame the bench looks for markers in the ECG curve's data. The
same shape as bench_latency.py (ICL/1 over a pty), so the two figures compare.

    QT_QPA_PLATFORM=offscreen python bench/bench_intellivue_latency.py [--seconds 120]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtWidgets import QApplication
from simulator.intellivue import IntelliVueMonitor, serve_udp
from simulator.intellivue_source import FixedSource

from console.app import Console
from console.clinical import load_protocol
from console.clock import SystemClock
from console.sources import ConnectionRequest, DeviceSpec
from console.ui.main_window import MainWindow

MARKER0_UV = 5000


class MarkedEcg(FixedSource):
    """FixedSource with each ECG chunk's first sample a marker; notes when each was built."""

    def __init__(self) -> None:
        super().__init__()
        self.built: dict[int, float] = {}
        self._next = 0

    def wave(self, channel: str, start: float, count: int, period: float) -> tuple[list[float], bool]:
        values, valid = super().wave(channel, start, count, period)
        if channel == "ECG":
            marker = MARKER0_UV + self._next % 3000
            self._next += 1
            self.built[marker] = time.perf_counter()
            values = [marker / 1000.0] + [0.0] * (count - 1)
        return values, valid


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0, help="wall seconds to measure")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    source = MarkedEcg()
    server = serve_udp(IntelliVueMonitor(source, SystemClock()), "127.0.0.1", 0)
    host, port = server.address
    console = Console(load_protocol(), record=False)
    console.connect(ConnectionRequest(vitals=DeviceSpec(f"intellivue+udp://{host}:{port}", "intellivue")))
    window = MainWindow(console.protocol, monitor=console.monitor)
    window.console = console
    window.resize(1280, 800)
    window.show()
    window.start()
    seen: dict[int, float] = {}
    original = window.refresh

    def refresh_and_look(force: bool = False) -> None:
        original(force)
        y = window.monitor.waves.strips["ECG"].curve.yData
        if y is None or not len(y):
            return
        now = time.perf_counter()
        counts = np.rint(np.asarray(y) * 1000.0)  # the curve is in mV
        for m in np.unique(counts[counts >= MARKER0_UV]).astype(int):
            if m not in seen and m in source.built:
                seen[m] = now

    window.timer.timeout.disconnect()
    window.timer.timeout.connect(refresh_and_look)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)
    built = dict(source.built)
    window.timer.stop()
    console.stop()
    server.stop()
    # the first chunks go out before the console has drawn a frame, the last may still be in flight
    settled = {m: t for m, t in built.items() if t > min(built.values()) + 5.0 and t < max(built.values()) - 1.0}
    lat = sorted((seen[m] - t) * 1000 for m, t in settled.items() if m in seen)
    missing = len(settled) - len(lat)
    if not lat:
        print("no marker reached the plot")
        return 1
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(f"IntelliVue emulator over UDP -> plotted ECG curve data: n={len(lat)}, missing {missing}, "
          f"median {statistics.median(lat):.1f} ms, p95 {p(0.95):.1f} ms, p99 {p(0.99):.1f} ms, "
          f"max {lat[-1]:.1f} ms (a chunk every 256 ms; display timer {1000 / 30:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
