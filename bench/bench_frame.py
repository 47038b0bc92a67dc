"""Frame cost of the console window with a long session loaded, beside a bare pyqtgraph window.

Builds a session holding four (or ``--hours``) hours of trends (every numeric at 1 Hz, pump,
dose, NIBP every 10 min) and full waveform rings, shows the console at 1280x800 offscreen and,
in the same process, a bare pyqtgraph window of the same size with the same three waveform
strips (one PlotWidget and one curve each, nothing else). Each frame gets new ECG data, then:

- console: the display refresh (data to curves, tiles, pump, bars, all forced) plus a paint
  of the WHOLE window rendered into an image (``QWidget.render``). ``window.repaint()`` is not
  used: with the window-wide style sheet it repainted only the plots, so the figure missed
  the tiles, pump panel, bars and tabs;
- baseline: ``setData`` on its three curves plus the same whole-window render.

Frames alternate console / baseline so machine noise hits both alike; ``--repeat`` runs the
whole measurement again and the medians of the runs are reported.

    QT_QPA_PLATFORM=offscreen python bench/bench_frame.py [--frames 200] [--repeat 3] [--hours 4 8]
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
import pyqtgraph as pg
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from console.clinical import load_protocol
from console.clock import FakeClock
from console.dose import DosePlan
from console.drivers import icl
from console.records import Received
from console.session import Session
from console.ui.main_window import MainWindow


def Sentence(kind, seq, ms, values):
    return icl.normalize(icl.Sentence(kind, seq, ms, values))


def WaveformChunk(seq, ms, channel, rate, samples):
    return icl.normalize(icl.WaveformChunk(seq, ms, channel, rate, samples))


def loaded_session(clock: FakeClock, hours: float) -> Session:
    plan = DosePlan(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50)
    s = Session(load_protocol(), clock, plan=plan)
    rng = np.random.default_rng(1)
    seconds = int(hours * 3600)
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


class BareWindow(QWidget):
    """The baseline: three pyqtgraph strips with one curve each, as a bare pyqtgraph app has."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        box = QVBoxLayout(self)
        self.curves = {}
        for channel in ("ECG", "PLETH", "CO2"):
            w = pg.PlotWidget()
            w.setXRange(0, 8.0, padding=0)
            self.curves[channel] = w.plot(pen=pg.mkPen("#00e676", width=1), connect="finite")
            box.addWidget(w)

    def refresh(self) -> None:
        for channel, curve in self.curves.items():
            ring = self.session.waveforms[channel]
            t, v = ring.since(ring.last_time - 7.7)
            curve.setData(np.mod(t, 8.0), v, connect="finite")


def paint_whole(widget: QWidget, image: QImage) -> None:
    widget.render(image)  # every child painted, style sheet and all


def new_ecg(session: Session) -> None:
    ring = session.waveforms["ECG"]
    last = ring.last_time
    ring.extend(last + 0.004 * np.arange(1, 26), np.zeros(25))


def time_side_by_side(app, window, bare, frames: int, tab) -> tuple[list[float], list[float]]:
    window.tabs.setCurrentWidget(tab)
    app.processEvents()
    image = QImage(window.size(), QImage.Format.Format_ARGB32_Premultiplied)
    console, baseline = [], []
    for _ in range(frames):
        new_ecg(window.session)  # new data each frame, as live, so the sweep really redraws
        t0 = time.perf_counter()
        window.refresh(force=True)
        paint_whole(window, image)
        t1 = time.perf_counter()
        bare.refresh()
        paint_whole(bare, image)
        t2 = time.perf_counter()
        console.append(t1 - t0)
        baseline.append(t2 - t1)
    return console[10:], baseline[10:]


def ms(values: list[float]) -> str:
    v = sorted(x * 1000 for x in values)
    return f"median {statistics.median(v):.2f} ms, p95 {v[int(0.95 * len(v))]:.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hours", type=float, nargs="+", default=[4.0])
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
          f"PySide6 + pyqtgraph {pg.__version__}; windows 1280x800 offscreen; {args.frames} frames x "
          f"{args.repeat} runs")
    for hours in args.hours:
        clock = FakeClock()
        t0 = time.perf_counter()
        session = loaded_session(clock, hours)
        print(f"session {hours:g} h loaded in {time.perf_counter() - t0:.1f} s")
        window = MainWindow(load_protocol(), session, None)
        window.resize(1280, 800)
        window.show()
        bare = BareWindow(session)
        bare.resize(1280, 800)
        bare.show()
        app.processEvents()
        for name, tab in (("monitor", window.monitor), ("trends", window.trends)):
            medians_c, medians_b = [], []
            for run in range(args.repeat):
                c, b = time_side_by_side(app, window, bare, args.frames, tab)
                medians_c.append(statistics.median(c))
                medians_b.append(statistics.median(b))
                print(f"  {hours:g} h {name:8s} run {run + 1}: console {ms(c)}; bare pyqtgraph {ms(b)}; "
                      f"ratio {statistics.median(c) / statistics.median(b):.2f}")
            mc, mb = statistics.median(medians_c) * 1000, statistics.median(medians_b) * 1000
            print(f"{hours:g} h {name:8s} MEDIAN of runs: console {mc:.2f} ms, bare {mb:.2f} ms, ratio {mc / mb:.2f}")
        window.timer.stop()
        window.close()
        bare.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
