"""Whole-session trends: every numeric on a shared time axis, events marked, zoom, pan and a
crosshair that reads out all values at one moment."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.session import DOSE_SERIES, Session
from console.ui import theme
from console.ui.tiles import name_widget

# (row title, [(series, label, colour, style)], y range)
ROWS: tuple[tuple[str, tuple[tuple[str, str, str, str], ...], tuple[float, float]], ...] = (
    ("HR /min", (("HR", "HR", theme.PARAMETER["HR"], "line"),
                 ("PR", "PR", theme.PARAMETER["PR"], "dash")), (30, 180)),
    ("SpO\u2082 %", (("SPO2", "SpO2", theme.PARAMETER["SPO2"], "line"),), (75, 101)),
    ("NIBP mmHg", (("NIBP_SYS", "Sys", theme.PARAMETER["NIBP"], "sys"),
                   ("NIBP_DIA", "Dia", theme.PARAMETER["NIBP"], "dia"),
                   ("NIBP_MEAN", "Mean", theme.TEXT_DIM, "mean")), (30, 220)),
    ("RR \u00b7 EtCO\u2082", (("RR", "RR", theme.PARAMETER["RR"], "line"),
                                        ("ETCO2", "EtCO2", "#fff59d", "dash")), (0, 60)),
    ("Temp \u00b0C", (("TEMP", "Temp", theme.PARAMETER["TEMP"], "line"),), (34, 40)),
    ("Pump mL/h", (("PUMP_RATE", "Rate", theme.PARAMETER["PUMP"], "step"),), (0, 200)),
    ("Dose mg", ((DOSE_SERIES, "Dose", theme.PARAMETER["DOSE_MG"], "line"),), (0, 60)),
)
LABEL_ROWS = (0.95, 0.7, 0.45, 0.2)  # where event labels sit on the top plot, in turn
EVENT_COLOURS = {"alarm": theme.ALARM_BG["high"], "link": "#ff8a80", "pump": theme.PARAMETER["PUMP"],
                 "phase": theme.TEXT, "marker": "#82b1ff", "note": "#b0bec5", "chart": "#b9f6ca"}


def clock_text(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class SessionTimeAxis(pg.AxisItem):
    def tickStrings(self, values, scale, spacing):
        return [clock_text(v) for v in values]


class TrendsView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "trends", "Trends")
        self.follow = True
        self.readout = name_widget(QLabel("Move the pointer over the trends to read values"),
                                   "trends.readout", "Trend readout")
        self.readout.setStyleSheet(f"color: {theme.TEXT}; font-size: 14px;"
                                   f" font-family: '{theme.DIGIT_FAMILY}';")
        buttons = QHBoxLayout()
        self.btn_all = name_widget(QPushButton("Whole session"), "trends.whole", "Show whole session")
        self.btn_30 = name_widget(QPushButton("Last 30 min"), "trends.last30", "Show last 30 minutes")
        self.btn_follow = name_widget(QPushButton("Follow live"), "trends.follow", "Follow live")
        for b in (self.btn_all, self.btn_30, self.btn_follow):
            b.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.readout, 3)
        self.btn_all.clicked.connect(lambda: self._show_span(None))
        self.btn_30.clicked.connect(lambda: self._show_span(1800.0))
        self.btn_follow.clicked.connect(self._follow_live)

        self.layout_widget = pg.GraphicsLayoutWidget()
        self.layout_widget.setBackground(theme.BACKGROUND)
        self.layout_widget.setObjectName("trends.plots")
        self.layout_widget.setAccessibleName("Trend plots")
        self.plots: list[pg.PlotItem] = []
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._versions: dict[str, int] = {}
        self.cross: list[pg.InfiniteLine] = []
        self._event_count = 0
        self._labels = 0
        self._span: float | None = None
        first: pg.PlotItem | None = None
        for row, (title, series, yr) in enumerate(ROWS):
            axis = SessionTimeAxis(orientation="bottom")
            p = self.layout_widget.addPlot(row=row, col=0, axisItems={"bottom": axis})
            p.setLabel("left", title, color=theme.TEXT_DIM)
            p.getAxis("left").setWidth(70)
            p.setMenuEnabled(False)
            p.hideButtons()
            p.setMouseEnabled(x=True, y=False)
            p.setYRange(*yr, padding=0.02)
            # No grid: pyqtgraph draws grid lines through the axis's QPicture, which cost
            # about 3 ms per axis per repaint here (bench/bench_frame.py).
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")
            if row < len(ROWS) - 1:
                p.getAxis("bottom").setStyle(showValues=False)
            if first is None:
                first = p
            else:
                p.setXLink(first)
            for key, _label, colour, style in series:
                self.curves[key] = self._make_curve(p, colour, style)
                self.curves[key].setObjectName(f"trend.{key}")
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.TEXT, width=1, style=Qt.PenStyle.DotLine))
            line.setVisible(False)
            p.addItem(line, ignoreBounds=True)
            self.cross.append(line)
            self.plots.append(p)
        first.sigXRangeChanged.connect(self._user_range)
        self._mouse = pg.SignalProxy(self.layout_widget.scene().sigMouseMoved, rateLimit=30,
                                     slot=self._mouse_moved)
        self._session: Session | None = None
        self._setting_range = False

        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addLayout(buttons)
        box.addWidget(self.layout_widget, 1)

    @staticmethod
    def _make_curve(plot: pg.PlotItem, colour: str, style: str) -> pg.PlotDataItem:
        if style in ("sys", "dia", "mean"):
            symbol = {"sys": "t", "dia": "t1", "mean": "o"}[style]
            return plot.plot(pen=None, symbol=symbol, symbolSize=9 if style != "mean" else 5,
                             symbolBrush=colour, symbolPen=None)
        pen = pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine if style == "dash" else Qt.PenStyle.SolidLine)
        return plot.plot(pen=pen, connect="finite", stepMode=None)

    # ---------------------------------------------------------------- refresh
    def refresh(self, session: Session, now: float) -> None:
        if session is not self._session:
            self._session = session
            self._versions.clear()
            self._event_count = 0
            self._labels = 0
            for p in self.plots:
                for item in list(p.items):
                    if getattr(item, "_is_event", False):
                        p.removeItem(item)
        for key, curve in self.curves.items():
            series = session.trends.get(key)
            if series is None:
                continue
            if self._versions.get(key) != series.version:
                self._versions[key] = series.version
                t, v = series.data()
                curve.setData(t, v.astype(np.float64, copy=False), connect="finite")
        self._add_events(session)
        if self.follow:
            self._setting_range = True
            start = 0.0 if self._span is None else max(0.0, now - self._span)
            self.plots[0].setXRange(start, max(now, start + 60.0), padding=0.01)
            self._setting_range = False

    def _add_events(self, session: Session) -> None:
        for ev in session.events[self._event_count:]:
            if ev.kind == "pump" and any(e.kind == "phase" for e in session.events):
                continue  # the workflow's phase event says the same ("infusion started")
            colour = EVENT_COLOURS.get(ev.kind, theme.TEXT_DIM)
            if ev.kind == "alarm":  # "medium alarm: ..." takes its priority's colour
                colour = theme.ALARM_BG.get(ev.text.split(" ", 1)[0], colour)
            # Only the top plot carries the text; routine "link up" events get none. Labels
            # step down the plot in turn so that events close in time stay readable.
            labelled = not ev.text.endswith(("link up", "link up: training simulation"))
            position = LABEL_ROWS[self._labels % len(LABEL_ROWS)]
            self._labels += labelled
            for i, p in enumerate(self.plots):
                text = ev.text if labelled and i == 0 else None
                line = pg.InfiniteLine(ev.time, angle=90, pen=pg.mkPen(colour, width=1), label=text,
                                       labelOpts={"position": position, "color": colour,
                                                  "anchors": [(0, 0), (0, 0)]} if text else None)
                line._is_event = True
                line.setToolTip(f"{clock_text(ev.time)} {ev.text}")
                p.addItem(line, ignoreBounds=True)
        self._event_count = len(session.events)

    # ---------------------------------------------------------------- interaction
    def _show_span(self, span: float | None) -> None:
        self._span = span
        self.follow = True

    def _follow_live(self) -> None:
        self.follow = True

    def _user_range(self, *_args) -> None:
        if not self._setting_range:
            self.follow = False  # the nurse zoomed or panned: hold the view still

    def _mouse_moved(self, event) -> None:
        pos = event[0]
        for p in self.plots:
            if p.sceneBoundingRect().contains(pos):
                t = p.vb.mapSceneToView(pos).x()
                self.show_readout(t)
                return

    def show_readout(self, t: float) -> str:
        """Put the crosshair at session time ``t`` and list every value at that time."""
        for line in self.cross:
            line.setPos(t)
            line.setVisible(True)
        parts = [clock_text(t)]
        session = self._session
        if session is not None:
            for _title, series, _yr in ROWS:
                for key, label, _c, _s in series:
                    s = session.trends.get(key)
                    value = s.value_at(t) if s is not None else None
                    if value is not None and not math.isnan(value):
                        parts.append(f"{label} {value:.3g}" if key in ("PUMP_RATE", DOSE_SERIES, "TEMP")
                                     else f"{label} {value:.0f}")
        text = "   ".join(parts)
        self.readout.setText(text)
        return text
