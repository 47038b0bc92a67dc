"""Live waveforms, drawn as a sweep like a bedside monitor.

Why sweep rather than scroll: the trace stays still while the cursor moves across it, so the
eye can read a beat's shape without chasing it, and it is what nurses see on every bedside
monitor. It is also cheaper: the axes never move, only one curve's data changes.

Each frame takes the newest ``window_s`` seconds from the session's ring (a view, no copy),
folds time into the window with ``t mod window``, and breaks the line at the fold and at
every NaN (a dropout is a gap, never a line across it). A short erase band ahead of the
cursor separates new data from old, as on a monitor.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from console.session import Session
from console.ui import theme
from console.ui.tiles import name_widget

ERASE_S = 0.3


class WaveformStrip(pg.PlotWidget):
    """One channel: fixed axes, one curve, a sweep cursor, a slowly adapting vertical scale."""

    def __init__(self, channel: str, label: str, colour: str, window_s: float,
                 scale: float = 1.0, fixed_range: tuple[float, float] | None = None,
                 sensor: tuple[str, str] | None = None) -> None:
        super().__init__(background=theme.BACKGROUND)
        name_widget(self, f"wave.{channel}", f"{label} waveform")
        self.channel = channel
        self.window_s = window_s
        self.scale = scale  # device units -> display units (CO2: mmHg x 10 -> mmHg)
        self.fixed_range = fixed_range
        self.sensor = sensor  # (state word, message): a flat line from a sensor that is off is no signal
        item = self.getPlotItem()
        item.hideAxis("bottom")
        item.showAxis("left")
        item.getAxis("left").setWidth(44)
        item.getAxis("left").setTextPen(theme.TEXT_DIM)
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.setXRange(0, window_s, padding=0)
        if fixed_range:
            self.setYRange(*fixed_range, padding=0)
        self.curve = item.plot(pen=pg.mkPen(colour, width=1), connect="finite")
        self.curve.setObjectName(f"wave.{channel}.curve")
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.TEXT_DIM, width=1))
        item.addItem(self.cursor)
        self.caption = pg.TextItem(label, color=colour, anchor=(0, 0))
        self.caption.setPos(0.05, fixed_range[1] if fixed_range else 0)
        item.addItem(self.caption)
        self._last_total = -1
        self._next_rescale = 0.0
        self.message = pg.TextItem("", color=theme.TEXT_DIM, anchor=(0.5, 0.5))
        item.addItem(self.message)

    def refresh(self, session: Session, now: float) -> None:
        ring = session.waveforms.get(self.channel)
        if ring is None or ring.count == 0:
            link = session.link_shown("vitals", now)
            self._show_message({"lost": "vitals link lost", "down": "vitals link lost",
                                "none": "no vitals monitor connected"}.get(link, "no waveform"))
            self.curve.setData([], [])
            return
        head = ring.last_time
        link = session.link_shown("vitals", now)
        if self.sensor and session.word(self.sensor[0]) == "OFF":
            self._show_message(self.sensor[1])
            self.curve.setData([], [])
            self._last_total = -1
            return
        if link in ("lost", "down") or now - head > 3.0:
            # Never leave an old trace looking live: clear it and say why.
            self._show_message("vitals link lost" if link in ("lost", "down") else "no waveform data")
            self._last_total = -1
            self.curve.setData([], [])
            return
        if ring.total == self._last_total:
            return  # nothing new since the last frame
        self._last_total = ring.total
        self._show_message("")
        t, v = ring.since(head - self.window_s + ERASE_S)
        x = np.mod(t, self.window_s)
        y = v * self.scale if self.scale != 1.0 else v
        wraps = np.flatnonzero(np.diff(x) < 0) + 1
        if wraps.size:
            x = np.insert(x, wraps, np.nan)
            y = np.insert(y, wraps, np.nan)
        self.curve.setData(x, y, connect="finite")
        self.cursor.setPos(float(np.mod(head, self.window_s)))
        if self.fixed_range is None and now >= self._next_rescale:
            self._rescale(y)
            self._next_rescale = now + 2.0

    def _rescale(self, y: np.ndarray) -> None:
        finite = y[np.isfinite(y)]
        if finite.size < 2:
            return
        lo, hi = float(finite.min()), float(finite.max())
        span = max(hi - lo, 1.0)
        self.setYRange(lo - 0.1 * span, hi + 0.15 * span, padding=0)
        self.caption.setPos(0.05, hi + 0.15 * span)

    def _show_message(self, text: str) -> None:
        if self.message.toPlainText() != text:
            self.message.setText(text)
            vr = self.getPlotItem().viewRange()
            self.message.setPos(self.window_s / 2, (vr[1][0] + vr[1][1]) / 2)


class WaveformPanel(QWidget):
    def __init__(self, window_s: float = 8.0) -> None:
        super().__init__()
        name_widget(self, "waveforms", "Waveforms")
        self.strips = {
            "ECG": WaveformStrip("ECG", "ECG II", theme.PARAMETER["ECG"], window_s,
                                 sensor=("ECG_LEADS", "ECG leads off")),
            "PLETH": WaveformStrip("PLETH", "Pleth", theme.PARAMETER["PLETH"], window_s,
                                   sensor=("SPO2_PROBE", "SpO\u2082 probe off")),
            "CO2": WaveformStrip("CO2", "CO\u2082 mmHg", theme.PARAMETER["CO2"], window_s,
                                 scale=0.1, fixed_range=(-2, 60)),
        }
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        for strip in self.strips.values():
            box.addWidget(strip)

    def refresh(self, session: Session, now: float) -> None:
        for strip in self.strips.values():
            strip.refresh(session, now)
