"""Frame cost of the console window with a four-hour session loaded.

Builds a session holding four hours of trends (every numeric at 1 Hz, pump, dose, NIBP every
10 min) and full waveform rings, shows the window at 1280x800 offscreen, and times full
redraws: the display refresh (data to curves and tiles) plus the repaint of the whole window.

    QT_QPA_PLATFORM=offscreen python bench/bench_frame.py [--frames 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtWidgets import QApplication

from console.clinical import load_protocol
from console.clock import FakeClock
from console.dose import DosePlan
from console.records import Received, Sentence, WaveformChunk
from console.session import Session
from console.ui.main_window import MainWindow

HOURS = 4.0


def loaded_session(clock: FakeClock) -> Session:
    plan = DosePlan(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50)
    s = Session(load_protocol(), clock, plan=plan)
    rng = np.random.default_rng(1)
    seconds = int(HOURS * 3600)
    seq = 0
    for k in range(seconds):
        seq += 1
        values = {"HR": int(70 + 10 * np.sin(k / 900) + rng.integers(-2, 3)), "PR": 70,
                  "SPO2": int(97 + rng.integers(-1, 2)), "PI": 3.2, "RR": 14, "ETCO2": 38, "TEMP": 36.8}
        if k % 600 == 0:
            values.update(NIBP_SYS=125, NIBP_DIA=80, NIBP_MEAN=95, NIBP_MS=k * 1000)
        s.ingest(Received("vitals", Sentence("VS", seq % 65536, k * 1000, values), float(k), 0.0))
        s.ingest(Received("pump", Sentence("PS", k % 65536, k * 1000, {
            "PUMP_STATE": "RUNNING" if 300 < k < 2700 else "STOPPED", "PUMP_RATE": 75.0,
            "PUMP_VI": min(50.0, max(0, k - 300) * 75 / 3600), "PUMP_CONC": 0.7,
            "PUMP_VTBI": 50.0, "PUMP_ALARM": []}), float(k), 0.0))
        clock.set(float(k))
    # the last 12 s of waveforms at their real rates
    t_end = seconds - 12
    for channel, rate in (("ECG", 250), ("PLETH", 100), ("CO2", 25)):
        for c in range(12 * rate // 25):
            ms = int((t_end + c * 25 / rate) * 1000)
            samples = (1000 * np.sin(np.arange(c * 25, c * 25 + 25) / rate * 2 * np.pi)).astype(int).tolist()
            s.ingest(Received("vitals", WaveformChunk(seq, ms, channel, rate, samples), ms / 1000 + 0.1, 0.0))
    clock.set(float(seconds))
    return s


def time_frames(app, window, frames: int, tab) -> list[float]:
    window.tabs.setCurrentWidget(tab)
    app.processEvents()
    out = []
    for _ in range(frames):
        # new data each frame, as live: one more ECG chunk, so the sweep really redraws
        ring = window.session.waveforms["ECG"]
        last = ring.last_time
        ring.extend(last + 0.004 * np.arange(1, 26), np.zeros(25))
        t0 = time.perf_counter()
        window.refresh(force=True)
        window.repaint()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    clock = FakeClock()
    t0 = time.perf_counter()
    session = loaded_session(clock)
    load_s = time.perf_counter() - t0
    window = MainWindow(load_protocol(), session, None)
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"window {window.width()}x{window.height()}; session {HOURS:g} h loaded in {load_s:.1f} s")
    for name, tab in (("monitor", window.monitor), ("trends", window.trends)):
        times = time_frames(app, window, args.frames, tab)
        ms = sorted(t * 1000 for t in times[10:])
        print(f"{name:8s} full redraw: median {statistics.median(ms):.2f} ms, "
              f"p95 {ms[int(0.95 * len(ms))]:.2f} ms, max {ms[-1]:.2f} ms over {len(ms)} frames")
    window.timer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
