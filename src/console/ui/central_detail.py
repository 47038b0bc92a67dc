"""A bed's detail at the central station: its trends since the central started (pyqtgraph, on the
time of day) and its alarm list (the bedside's alarm events, and the central's own "no data").

The trends are what the central received (console.central.trend): a gap where the bed had no
data, never a line across it. Redrawn about once a second by the window while open.
"""

from __future__ import annotations

import datetime as dt

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QListWidget, QVBoxLayout, QWidget

from console.central.station import Bed, Station, finite
from console.ui import theme
from console.ui.central_tile import alarm_words
from console.ui.tiles import name_widget

# (title, [(metric, colour)], y range)
PLOTS = (("HR /min", (("HR", theme.PARAMETER["HR"]), ("PR", theme.PARAMETER["PR"])), (30, 180)),
         ("SpO\u2082 %", (("SPO2", theme.PARAMETER["SPO2"]),), (75, 101)),
         ("NIBP mmHg", (("NIBP_SYS", theme.PARAMETER["NIBP"]), ("NIBP_DIA", theme.PARAMETER["NIBP"]),
                        ("NIBP_MEAN", theme.TEXT_DIM)), (30, 220)),
         ("RR \u00b7 EtCO\u2082", (("RR", theme.PARAMETER["RR"]), ("ETCO2", "#fff59d")), (0, 60)),
         ("Pump mL/h", (("PUMP_RATE", theme.PARAMETER["PUMP"]),), (0, 200)))


def event_line(received_wall: float, payload: dict) -> str:
    when = dt.datetime.fromtimestamp(received_wall).strftime("%H:%M:%S")
    value, limit = finite(payload.get("value")), finite(payload.get("limit"))
    numbers = ""
    if value is not None and limit is not None:
        numbers = f" ({value:g} vs {limit:g})"
    user = f" by {payload['user']}" if payload.get("user") else ""
    return (f"{when}  {payload['event']:<11} {payload['priority'] or '-':<6} {payload['message']}{numbers}{user}"
            f"  #{payload['seq']}")


class BedDetail(QDialog):
    def __init__(self, station: Station, site: str, bed_name: str, wall_offset: float,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station, self.site, self.bed_name = station, site, bed_name
        self.wall_offset = wall_offset  # add to the central's monotonic time: POSIX time (the axis)
        found = station.bed(site, bed_name)
        label = found.label if found is not None else bed_name
        name_widget(self, f"central.detail.{label}", f"Bed {label} detail")
        self.setWindowTitle(f"Bed {label} \u2013 central station (secondary display)")
        self.heading = name_widget(QLabel(f"Bed {label}"), "central.detail.heading", "Bed detail heading")
        self.heading.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.notice = name_widget(QLabel("Trends since the central station started. Alarms are handled at the "
                                         "bedside; this screen never acknowledges them."),
                                  "central.detail.notice", "Secondary display notice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(f"color: {theme.TEXT_DIM};")
        self.plots = name_widget(pg.GraphicsLayoutWidget(), "central.detail.trends", f"Bed {label} trends")
        self.plots.setBackground(theme.BACKGROUND)
        self.curves: dict[str, pg.PlotDataItem] = {}
        first: pg.PlotItem | None = None
        for row, (title, series, (lo, hi)) in enumerate(PLOTS):
            plot = self.plots.addPlot(row=row, col=0, axisItems={"bottom": pg.DateAxisItem()})
            plot.setLabel("left", title)
            plot.getAxis("left").setWidth(56)  # every plot's time axis starts at the same x
            plot.setYRange(lo, hi, padding=0)
            plot.setMouseEnabled(x=True, y=False)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            if first is None:
                first = self.first_plot = plot
            else:
                plot.setXLink(first)
            for metric, colour in series:
                self.curves[metric] = plot.plot([], [], pen=pg.mkPen(colour, width=1), connect="finite", name=metric)
        self.alarm_list = name_widget(QListWidget(), "central.detail.alarms", f"Bed {label} alarm list")
        self.alarm_list.setStyleSheet(f"font-family: '{theme.DIGIT_FAMILY}'; font-size: 12px;"
                                      f" border: 1px solid {theme.PANEL_EDGE};")
        self.current = name_widget(QLabel(""), "central.detail.current", f"Bed {label} current alarms")
        self.current.setWordWrap(True)
        right = QVBoxLayout()
        right.addWidget(name_widget(QLabel("Alarms now"), "central.detail.current_title", "Current alarms label"))
        right.addWidget(self.current)
        right.addWidget(name_widget(QLabel("Alarm events received (newest first)"), "central.detail.alarms_title",
                                    "Alarm events label"))
        right.addWidget(self.alarm_list, 1)
        body = QHBoxLayout()
        body.addWidget(self.plots, 3)
        body.addLayout(right, 2)
        box = QVBoxLayout(self)
        box.addWidget(self.heading)
        box.addWidget(self.notice)
        box.addLayout(body, 1)
        self.setStyleSheet(theme.STYLE_SHEET)
        self.resize(1100, 700)
        self._drawn = (-1, -1)
        self.refresh()

    @property
    def tracked(self) -> Bed | None:
        return self.station.bed(self.site, self.bed_name)

    def refresh(self) -> None:
        bed = self.tracked
        if bed is None:
            return
        state = {"live": "live", "waiting": "waiting for data", "idle": "no session",
                 "no data": f"NO DATA: {bed.no_data_reason}"}[bed.condition]
        self.heading.setText(f"Bed {bed.label}  {bed.patient_initials}  \u2013 {state}"
                             + ("  \u2013 SIMULATION" if bed.simulated else ""))
        self.current.setText("\n".join(alarm_words(a, whole=True) for a in bed.alarms) or "none")
        drawn = (bed.trend.total, len(bed.events) + len(self.station.alarm_log))
        if drawn == self._drawn:
            return
        self._drawn = drawn
        # Fixed ranges (auto-range is costly): from the central's start to now.
        start = self.station.started + self.wall_offset
        self.first_plot.setXRange(start, max(self.station.now + self.wall_offset, start + 60), padding=0.01)
        for metric, curve in self.curves.items():
            t, v = bed.trend.series(metric)
            curve.setData(t + self.wall_offset, v.astype(float), connect="finite")
        lines = [event_line(e.received + self.wall_offset, e.payload) for e in bed.events]
        lines += [f"{dt.datetime.fromtimestamp(t + self.wall_offset):%H:%M:%S}  central     {words}"
                  for t, label, words in self.station.alarm_log if label == bed.label]
        lines.sort(reverse=True)
        self.alarm_list.clear()
        self.alarm_list.addItems(lines)
        self.alarm_list.setCurrentRow(-1)
        self.alarm_list.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
