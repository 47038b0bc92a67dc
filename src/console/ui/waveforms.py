"""Live waveforms, drawn as a sweep like a bedside monitor.

Why sweep rather than scroll: the trace stays still while the cursor moves across it, so the
eye can read a beat's shape without chasing it, and it is what nurses see on every bedside
monitor. It is also cheaper: the axes never move, only one curve's data changes.

Each frame takes the newest ``window_s`` seconds from the session's ring (a view, no copy),
folds time into the window with ``t mod window``, and breaks the line at the fold and at
every NaN (a dropout is a gap, never a line across it). A short erase band ahead of the
cursor separates new data from old, as on a monitor.

Scales as a nurse reads them on a monitor, never raw device numbers:

- ECG in mV (the device sends microvolts), at a gain from a fixed ladder (x0.25 ... x4,
  where x1 puts 4 mV on the strip) chosen so the QRS fits, with the lead, the gain and the
  sweep written on the strip and a 1 mV calibration bar at its left edge.
- Pleth (device counts, unitless) auto-sized to the strip, with no numbers: as a monitor.
- CO2 in mmHg on a fixed 0-60 scale whose top label has room above it.

The vertical scale adapts on wall time (every 2 s), not session time: at 60x simulation
2 s of session time pass every frame and the rescale would run every frame.
The ECG (or, with no ECG, the pleth) also detects beats, to light the HR tile's heart.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from console.session import Session
from console.ui import theme
from console.ui.tiles import name_widget

ERASE_S = 0.3
RESCALE_EVERY_S = 2.0  # wall seconds between vertical rescales
ECG_GAINS = (0.25, 0.5, 1.0, 2.0, 4.0)
ECG_SPAN_AT_X1_MV = 4.0  # strip height at gain x1
ECG_LEAD = "II"  # the monitor's lead (the protocol carries none; the bundled simulator sends II)
BEAT_REFRACTORY_S = 0.25  # no two beats closer than this (240 /min)
BEAT_LIT_S = 0.15  # wall seconds the heart stays lit after a beat
CO2_RANGE = (-3.0, 68.0)  # headroom above the 60 mmHg label so it is never cut off
CO2_TICKS = [[(v, str(v)) for v in (0, 20, 40, 60)]]


def ecg_gain(span_mv: float) -> float:
    """The largest gain of the ladder at which ``span_mv`` (plus a margin) fits the strip."""
    for gain in reversed(ECG_GAINS):
        if span_mv * 1.3 <= ECG_SPAN_AT_X1_MV / gain:
            return gain
    return ECG_GAINS[0]


class WaveformStrip(pg.PlotWidget):
    """One channel: fixed axes, one curve, a sweep cursor, a slowly adapting vertical scale."""

    def __init__(self, channel: str, label: str, colour: str, window_s: float,
                 fixed_range: tuple[float, float] | None = None,
                 sensor: tuple[str, str] | None = None, beat_min_span: float | None = None) -> None:
        super().__init__(background=theme.BACKGROUND, enableMenu=False)  # no menus built: 5 ms a strip
        name_widget(self, f"wave.{channel}", f"{label} waveform")
        self.channel = channel
        self.window_s = window_s
        self.fixed_range = fixed_range
        self.sensor = sensor  # (state word, message): a flat line from a sensor that is off is no signal
        self.wall: Callable[[], float] = time.monotonic  # tests inject their own
        self.beat_min_span = beat_min_span  # None: this channel does not detect beats
        item = self.getPlotItem()
        item.hideAxis("bottom")
        item.showAxis("left")
        axis = item.getAxis("left")
        axis.setWidth(44)
        axis.setTextPen(theme.TEXT_DIM)
        if fixed_range is None:
            axis.setStyle(showValues=False)  # auto-sized traces: device numbers mean nothing here
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.setXRange(0, window_s, padding=0)
        if fixed_range:
            self.setYRange(*fixed_range, padding=0)
        self.curve = item.plot(pen=pg.mkPen(colour, width=1), connect="finite")
        self.curve.setObjectName(f"wave.{channel}.curve")
        self.sweep_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.TEXT_DIM, width=1))
        item.addItem(self.sweep_line)
        self.label = label
        self.caption = pg.TextItem(label, color=colour, anchor=(0, 0))
        self.caption.setPos(0.05, fixed_range[1] if fixed_range else 0)
        item.addItem(self.caption)
        self._last_total = -1
        self._next_rescale = 0.0
        self.message = pg.TextItem("", color=theme.TEXT_DIM, anchor=(0.5, 0.5))
        item.addItem(self.message)
        self.live = False  # a trace is shown (not blanked for a lost link or a sensor off)
        self._beat_checked = -np.inf  # session time up to which beats were looked for
        self._last_beat = -np.inf
        self._beat_wall = -np.inf

    def refresh(self, session: Session, now: float) -> None:
        ring = session.waveforms.get(self.channel)
        if ring is None or ring.count == 0:
            link = session.link_shown("vitals", now)
            self._blank({"lost": "vitals link lost", "down": "vitals link lost",
                         "none": "no vitals monitor connected"}.get(link, "no waveform"))
            return
        head = ring.last_time
        link = session.link_shown("vitals", now)
        if self.sensor and session.word(self.sensor[0]) == "OFF":
            self._blank(self.sensor[1])
            return
        if link in ("lost", "down") or now - head > 3.0:
            # Never leave an old trace looking live: clear it and say why.
            self._blank("vitals link lost" if link in ("lost", "down") else "no waveform data")
            return
        if ring.total == self._last_total:
            return  # nothing new since the last frame
        self._last_total = ring.total
        self.live = True
        self._show_message("")
        t, v = ring.since(head - self.window_s + ERASE_S)
        y = v  # the session holds each channel in its unit (console.metrics: ECG mV, CO2 mmHg)
        if self.beat_min_span is not None:
            self._find_beats(t, y)
        x = np.mod(t, self.window_s)
        wraps = np.flatnonzero(np.diff(x) < 0) + 1
        if wraps.size:
            x = np.insert(x, wraps, np.nan)
            y = np.insert(y, wraps, np.nan)
        self.curve.setData(x, y, connect="finite")
        self.sweep_line.setPos(float(np.mod(head, self.window_s)))
        wall = self.wall()
        if self.fixed_range is None and wall >= self._next_rescale:
            self._rescale(y)
            self._next_rescale = wall + RESCALE_EVERY_S

    def _blank(self, reason: str) -> None:
        self._show_message(reason)
        self.curve.setData([], [])
        self._last_total = -1
        self.live = False

    def _rescale(self, y: np.ndarray) -> None:
        finite = y[np.isfinite(y)]
        if finite.size < 2:
            return
        lo, hi = float(finite.min()), float(finite.max())
        span = max(hi - lo, 1e-9 if self.beat_min_span is None else self.beat_min_span)
        self.setYRange(lo - 0.1 * span, hi + 0.15 * span, padding=0)
        self.caption.setPos(0.05, hi + 0.15 * span)

    # ---------------------------------------------------------------- beats
    def _find_beats(self, t: np.ndarray, y: np.ndarray) -> None:
        """Upward crossings of 60 % of the window's height, in the samples not looked at yet."""
        finite = np.isfinite(y)
        if finite.sum() < 10:
            return
        lo, hi = float(y[finite].min()), float(y[finite].max())
        if hi - lo < self.beat_min_span:
            return
        above = np.where(finite, y >= lo + 0.6 * (hi - lo), False)
        rising = np.flatnonzero(above[1:] & ~above[:-1]) + 1
        for i in rising[t[rising] > self._beat_checked]:
            if t[i] - self._last_beat >= BEAT_REFRACTORY_S:
                self._last_beat = float(t[i])
                self._beat_wall = self.wall()
        self._beat_checked = float(t[-1])

    def beat_lit(self) -> bool:
        return self.live and self.wall() - self._beat_wall < BEAT_LIT_S

    def _show_message(self, text: str) -> None:
        if self.message.toPlainText() != text:
            self.message.setText(text)
            vr = self.getPlotItem().viewRange()
            self.message.setPos(self.window_s / 2, (vr[1][0] + vr[1][1]) / 2)


class EcgStrip(WaveformStrip):
    """ECG in mV at a gain from the ladder, labelled with lead, gain and sweep, and a 1 mV bar."""

    def __init__(self, window_s: float) -> None:
        super().__init__("ECG", f"ECG {ECG_LEAD}", theme.PARAMETER["ECG"], window_s,
                         sensor=("ECG_LEADS", "ECG leads off"), beat_min_span=0.3)
        self.gain = 1.0
        self.calibration = pg.PlotDataItem(pen=pg.mkPen(theme.TEXT, width=2))
        self.calibration.setObjectName("wave.ECG.calibration")
        self.calibration_text = pg.TextItem("1 mV", color=theme.TEXT, anchor=(0, 0.5))
        item = self.getPlotItem()
        item.addItem(self.calibration)
        item.addItem(self.calibration_text)
        self._place(-1.5, ECG_SPAN_AT_X1_MV / self.gain - 1.5)

    def caption_text(self) -> str:
        return f"ECG {ECG_LEAD}   \u00d7{self.gain:g}   sweep {self.window_s:g} s"

    def _rescale(self, y: np.ndarray) -> None:
        finite = y[np.isfinite(y)]
        if finite.size < 2:
            return
        lo, hi = float(finite.min()), float(finite.max())
        self.gain = ecg_gain(hi - lo)
        span = ECG_SPAN_AT_X1_MV / self.gain
        bottom = (lo + hi) / 2 - span * 0.45  # a little more room above: the caption sits there
        self._place(bottom, bottom + span)

    def _place(self, bottom: float, top: float) -> None:
        self.setYRange(bottom, top, padding=0)
        span = top - bottom
        self.caption.setText(self.caption_text())
        self.caption.setPos(0.05, top)
        # The bar stands on the lower part of the strip, 1 mV tall, left of the trace's start.
        base = bottom + 0.12 * span
        x = 0.02 * self.window_s
        self.calibration.setData([x, x], [base, base + 1.0])
        self.calibration_text.setPos(x + 0.01 * self.window_s, base + 0.5)


class WaveformPanel(QWidget):
    def __init__(self, window_s: float = 8.0) -> None:
        super().__init__()
        name_widget(self, "waveforms", "Waveforms")
        self.strips = {
            "ECG": EcgStrip(window_s),
            "PLETH": WaveformStrip("PLETH", "Pleth", theme.PARAMETER["PLETH"], window_s,
                                   sensor=("SPO2_PROBE", "SpO\u2082 probe off"), beat_min_span=20.0),
            "CO2": WaveformStrip("CO2", "CO\u2082 mmHg", theme.PARAMETER["CO2"], window_s,
                                 fixed_range=CO2_RANGE),
        }
        self.strips["CO2"].getPlotItem().getAxis("left").setTicks(CO2_TICKS)
        self.on_beat: Callable[[bool], None] | None = None  # the HR tile's heart (MonitorView wires it)
        self._beat_shown = False
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        for strip in self.strips.values():
            box.addWidget(strip)

    def refresh(self, session: Session, now: float) -> None:
        for strip in self.strips.values():
            strip.refresh(session, now)
        # The heart follows the ECG; with no ECG trace, the pleth (HR is then PR).
        ecg = self.strips["ECG"]
        lit = (ecg if ecg.live else self.strips["PLETH"]).beat_lit()
        if lit != self._beat_shown and self.on_beat is not None:
            self._beat_shown = lit
            self.on_beat(lit)
