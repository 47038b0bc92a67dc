"""Whole-session trends: every numeric on a shared time axis, events marked, zoom, pan and a
crosshair that reads out all values at one moment.

Events: a strip above the plots carries one marker per event (alarms in their priority's
colour, on their own row, so they stay readable over a four-hour session) and text labels
laid out in lanes: a label goes into the first lane where it does not touch the one before
it, at the current zoom; one that finds no free lane is not drawn. No label ever overlaps
another. Every event is in the list beside the plots and on its marker's hover text, and a
thin line marks it on every plot.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

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
LANES = 3  # text lanes in the event strip, above the row of markers
ALARM_RANK = {"high": 0, "medium": 1, "low": 2}  # the order labels get a lane; others come after
LABEL_GAP_PX = 6  # clear space between two labels in one lane
EVENT_STRIP_PX = 104  # a lane is taller than a label's text, so lanes never touch
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
        self._span: float | None = None
        self._label_font = QFont(theme.FONT_FAMILY)
        self._label_font.setPixelSize(13)
        self.event_list = name_widget(QListWidget(), "trends.events", "Events on the trends")
        self.event_list.setFixedWidth(320)
        self.event_list.setWordWrap(True)  # a long note is read in full, never cut
        self.event_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.event_list.setStyleSheet("font-size: 14px;")
        self.event_list.itemClicked.connect(self._go_to_event)
        self._event_times: list[float] = []
        self.labels: list[pg.TextItem] = []  # the event strip's text labels, in time order
        self._marks: dict[str, tuple[list, list]] = {}  # colour -> (x, y) of the event lines
        self._mark_items: list[dict[str, pg.PlotDataItem]] = []
        self._built = False  # the plots are built on first use: start-up paints sooner
        self._session: Session | None = None
        self._setting_range = False

        plots_and_list = QHBoxLayout()
        plots_and_list.addWidget(self.layout_widget, 1)
        plots_and_list.addWidget(self.event_list)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addLayout(buttons)
        box.addLayout(plots_and_list, 1)

    def _build_plots(self) -> None:
        """The event strip and the trend plots (about 0.2 s of start-up when built eagerly)."""
        if self._built:
            return
        self._built = True
        self.event_strip = self._make_event_strip()
        first: pg.PlotItem | None = None
        for row, (title, series, yr) in enumerate(ROWS):
            axis = SessionTimeAxis(orientation="bottom")
            p = self.layout_widget.addPlot(row=row + 1, col=0, axisItems={"bottom": axis}, enableMenu=False)
            p.setLabel("left", title, color=theme.TEXT_DIM)
            p.getAxis("left").setWidth(70)
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
        self.event_strip.setXLink(first)
        first.sigXRangeChanged.connect(self._user_range)
        self.event_strip.vb.sigXRangeChanged.connect(self._layout_labels)
        self.event_strip.vb.sigResized.connect(self._layout_labels)
        self._mouse = pg.SignalProxy(self.layout_widget.scene().sigMouseMoved, rateLimit=30,
                                     slot=self._mouse_moved)

    def showEvent(self, event) -> None:
        self._build_plots()
        super().showEvent(event)

    def _make_event_strip(self) -> pg.PlotItem:
        strip = self.layout_widget.addPlot(row=0, col=0, enableMenu=False)
        strip.setLabel("left", "Events", color=theme.TEXT_DIM)
        strip.getAxis("left").setWidth(70)
        strip.getAxis("left").setStyle(showValues=False)
        strip.getAxis("left").setTicks([[]])
        strip.hideAxis("bottom")
        strip.hideButtons()
        strip.setMouseEnabled(x=True, y=False)
        strip.setYRange(0, LANES + 1, padding=0)
        self.layout_widget.ci.layout.setRowFixedHeight(0, EVENT_STRIP_PX)
        # One marker per event on the bottom row; alarms a size larger, in their priority's colour.
        self.markers = pg.ScatterPlotItem(pxMode=True, hoverable=True, tip=lambda x, y, data: data,
                                          hoverSize=16)
        self.markers.setObjectName("trends.markers")
        strip.addItem(self.markers)
        return strip

    @staticmethod
    def _make_curve(plot: pg.PlotItem, colour: str, style: str) -> pg.PlotDataItem:
        if style in ("sys", "dia", "mean"):
            symbol = {"sys": "t", "dia": "t1", "mean": "o"}[style]
            return plot.plot(pen=None, symbol=symbol, symbolSize=9 if style != "mean" else 5,
                             symbolBrush=colour, symbolPen=None)
        pen = pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine if style == "dash" else Qt.PenStyle.SolidLine)
        # Peak downsampling to one point pair per pixel column (factor 1, pyqtgraph's default
        # is 5): a 4 h trend keeps every spike and draws about 1000 points, not 14,400.
        return plot.plot(pen=pen, connect="finite", stepMode=None, autoDownsample=True,
                         downsampleMethod="peak", autoDownsampleFactor=1.0)

    # ---------------------------------------------------------------- refresh
    def refresh(self, session: Session, now: float) -> None:
        self._build_plots()
        if session is not self._session:
            self._session = session
            self._versions.clear()
            self._clear_events()
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

    def _clear_events(self) -> None:
        self._event_count = 0
        self._event_times.clear()
        self.event_list.clear()
        self.markers.clear()
        for label in self.labels:
            self.event_strip.removeItem(label)
        self.labels.clear()
        self._marks.clear()
        for p, items in zip(self.plots, self._mark_items, strict=False):
            for item in items.values():
                p.removeItem(item)
        self._mark_items.clear()

    def _add_events(self, session: Session) -> None:
        new = session.events[self._event_count:]
        self._event_count = len(session.events)
        if not new:
            return
        phases = any(e.kind == "phase" for e in session.events)
        spots = []
        for ev in new:
            if ev.kind == "pump" and phases:
                continue  # the workflow's phase event says the same ("infusion started")
            colour = EVENT_COLOURS.get(ev.kind, theme.TEXT_DIM)
            alarm = ev.kind == "alarm"
            if alarm:  # an alarm takes its priority's colour
                colour = theme.ALARM_BG.get(ev.priority or "", colour)
            words = f"{clock_text(ev.time)}  {ev.text}"
            item = QListWidgetItem(words)
            item.setForeground(QColor(colour))
            item.setToolTip(words)
            row = bisect.bisect_right(self._event_times, ev.time)  # the list stays in time order
            self.event_list.insertItem(row, item)
            self._event_times.insert(row, ev.time)
            spots.append({"pos": (ev.time, 0.5), "size": 13 if alarm else 9, "symbol": "s" if alarm else "t",
                          "brush": pg.mkBrush(colour), "pen": None, "data": words})
            xs, ys = self._marks.setdefault(colour, ([], []))
            xs.extend((ev.time, ev.time, np.nan))
            ys.extend((0.0, 1.0, np.nan))
            # Routine "link up" events get a marker and a list entry, no text on the strip.
            if not (ev.kind == "link" and ev.link_state == "up"):
                label = pg.TextItem(ev.text, color=colour, anchor=(0, 0.5))
                label.setFont(self._label_font)
                label.setPos(ev.time, 1.5)
                label.setToolTip(words)
                label.rank = ALARM_RANK.get(ev.priority or "", 3) if alarm else 3
                self.event_strip.addItem(label, ignoreBounds=True)
                self.labels.append(label)
        self.labels.sort(key=lambda label: label.pos().x())  # the lanes fill in time order
        self.markers.addPoints(spots)
        self._draw_event_lines()
        self._layout_labels()

    def _draw_event_lines(self) -> None:
        """A thin line per event on every plot: one curve per colour and plot, not a line item
        per event and plot (a long session has hundreds of events)."""
        if not self._mark_items:
            self._mark_items = [{} for _ in self.plots]
        for (p, items), (_title, _series, (lo, hi)) in zip(zip(self.plots, self._mark_items, strict=True), ROWS,
                                                           strict=True):
            for colour, (xs, ys) in self._marks.items():
                curve = items.get(colour)
                if curve is None:
                    curve = items[colour] = pg.PlotDataItem(pen=pg.mkPen(colour, width=1), connect="finite")
                    curve.setZValue(-10)
                    p.addItem(curve, ignoreBounds=True)
                y = np.asarray(ys) * (hi - lo) + lo
                curve.setData(np.asarray(xs), y, connect="finite")

    def _layout_labels(self, *_args) -> None:
        """Put each label in the first lane where it touches no label already there, at this
        zoom, alarms first (high, then medium, low), then the rest in time order; hide a label
        that fits no lane (its marker, hover text and list entry remain)."""
        vb = self.event_strip.vb
        if not self.labels or vb.width() <= 0:
            return
        (x0, x1), _ = vb.viewRange()
        px_per_s = vb.width() / max(x1 - x0, 1e-9)
        taken: list[list[tuple[float, float]]] = [[] for _ in range(LANES)]  # (left, right) px per lane
        for label in sorted(self.labels, key=lambda lb: (lb.rank, lb.pos().x())):
            t = label.pos().x()
            left = (t - x0) * px_per_s
            width = label.boundingRect().width()
            if left < 0 or left > vb.width():
                label.setVisible(False)  # its event is off screen
                continue
            # Near the right edge (the latest events, when following live) the text ends at
            # its marker instead of running off the strip.
            right_aligned = left + width > vb.width()
            if right_aligned:
                left -= width
            if left < 0:
                label.setVisible(False)
                continue
            right = left + width
            lane = next((i for i in range(LANES)
                         if all(right + LABEL_GAP_PX <= a or b + LABEL_GAP_PX <= left for a, b in taken[i])), None)
            if lane is None:
                label.setVisible(False)
                continue
            taken[lane].append((left, right))
            label.setAnchor((1, 0.5) if right_aligned else (0, 0.5))
            label.setPos(t, LANES - lane + 0.5)
            label.setVisible(True)

    def shown_labels(self) -> list[pg.TextItem]:
        return [label for label in self.labels if label.isVisible()]

    def _go_to_event(self, item: QListWidgetItem) -> None:
        t = self._event_times[self.event_list.row(item)]
        self.follow = False
        self.plots[0].setXRange(max(0.0, t - 300.0), t + 300.0, padding=0)
        self.show_readout(t)

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
        self._build_plots()
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
