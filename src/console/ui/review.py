"""The review screen: a finished (or crashed) session read back from its file.

It is never live, and says so permanently in a banner no alarm colour uses. A scrubber runs
over the whole session with alarms and events marked on it; the waveforms around the chosen
time are read from the file on demand (the live rings hold only seconds); trends, the alarm
log, alarm episodes and the notes with who wrote them are the recorded ones. "Replay from
here" hands over to the live window through a ReplaySource; "Export CSV..." writes the
issue's CSV export.

The data comes from ``console.recording.replay.load_review``; this module only shows it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.alarms.model import RANK
from console.recording.replay import Review
from console.ui import theme
from console.ui.alarm_log import AlarmLogView
from console.ui.dialog_parts import choose_path, show_beside
from console.ui.tiles import name_widget
from console.ui.trends import EVENT_COLOURS, SessionTimeAxis, TrendsView, clock_text

REVIEW_COLOUR = theme.REVIEW  # violet: no alarm colour, not the training orange
WAVE_HALF_WINDOW_S = 10.0  # waveforms shown either side of the chosen time
SCRUB_STEPS_PER_S = 10  # scrubber resolution: 0.1 s
SPEEDS = (1, 2, 5, 10, 30, 60)
# (channel, label, colour, fixed y range); the record reads back in the channels' units
# (console.metrics: ECG mV, CO2 mmHg); pleth is unitless, shown without numbers.
CHANNELS = (("ECG", "ECG II mV", theme.PARAMETER["ECG"], None),
            ("PLETH", "Pleth", theme.PARAMETER["PLETH"], None),
            ("CO2", "CO\u2082 mmHg", theme.PARAMETER["CO2"], (-2.0, 60.0)))


def _plain_text(obj: Any, fields: tuple[str, ...] = ()) -> str:
    if obj is None:
        return ""
    if hasattr(obj, "banner"):
        return obj.banner()
    if isinstance(obj, dict):
        return ", ".join(f"{k} {obj[k]}" for k in (fields or tuple(obj)) if k in obj)
    return str(obj)


def plan_text(plan: Any) -> str:
    if plan is None:
        return "no plan recorded"
    if hasattr(plan, "total_mg"):
        return (f"{plan.weight_kg:g} kg x {plan.dose_mg_per_kg:g} mg/kg = {plan.total_mg:g} mg over "
                f"{plan.duration_min:g} min at {plan.rate_ml_per_h:.4g} mL/h")
    return _plain_text(plan, ("weight_kg", "dose_mg_per_kg", "duration_min"))


def export_to_folder(parent: QWidget, session_file: str | Path,
                     on_done: Callable[[bool, str], None]) -> QFileDialog:
    """Ask for a folder (a chooser that never blocks the window) and write the CSV export of
    ``session_file`` into it; ``on_done(ok, words for the person)``: nothing chosen, what was
    written, or why it failed."""
    return choose_path(parent, "export.chooser", "Export the session as CSV into folder",
                       lambda folder: on_done(*export_into(folder, session_file)), folder=True)


def export_into(folder: str, session_file: str | Path) -> tuple[bool, str]:
    from console.recording import NotASessionFile
    from console.recording.export import ExportRefused, export_session

    if not folder:
        return False, "Export cancelled: no folder chosen."
    try:
        result = export_session(session_file, folder)
    except (NotASessionFile, ExportRefused, OSError) as exc:
        return False, f"Export failed: {getattr(exc, 'strerror', None) or exc}"
    counts = result.counts
    if result.partial:  # a damaged file: what was readable is exported
        return False, (f"PARTIAL export to {folder} (the file is damaged); skipped: " + "; ".join(result.skipped))
    waves = sum(n for name, n in counts.items() if name.startswith("waveforms/"))
    return True, (f"Exported to {folder}: {counts.get('samples.csv', 0)} numeric values, "
                  f"{waves} waveform samples, {counts.get('alarms.csv', 0)} alarm episodes, "
                  f"{counts.get('events.csv', 0)} events (samples.csv, alarms.csv, events.csv, ...).")


def export_session(parent: QWidget, recorder: Any) -> QWidget:
    """The live window's export (Ctrl+E): write what is in memory first (flush, wait for the
    writer), then export the session file into the folder chosen; the answer in words, in a
    box that never blocks monitoring or the alarm keys (not modal). Returns the folder chooser,
    or the box when there is nothing to export."""

    def answer(ok: bool, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information if ok else QMessageBox.Icon.Warning, "Export session",
                          text, QMessageBox.StandardButton.Ok, parent)
        name_widget(box, "export.result", "Export result")
        show_beside(box)
        parent.export_box = box  # keep it alive while it is shown
        return box

    if recorder is None:
        return answer(False, "This session is not being recorded, so there is nothing to export.")
    recorder.flush()
    recorder.sync(5.0)
    return export_to_folder(parent, recorder.path, answer)


class Timeline(pg.PlotWidget):
    """The whole session on one strip: alarm episodes as bars in their priority's colour,
    events as ticks, gaps greyed, and a line at the chosen time."""

    def __init__(self, review: Review) -> None:
        super().__init__(background=theme.BACKGROUND, axisItems={"bottom": SessionTimeAxis(orientation="bottom")})
        name_widget(self, "review.timeline", "Session timeline with alarms and events")
        self.setFixedHeight(78)
        item = self.getPlotItem()
        item.hideAxis("left")
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        item.getAxis("bottom").setTextPen(theme.TEXT_DIM)
        end = max(review.end, 1.0)
        self.setXRange(review.start, end, padding=0.01)
        self.setYRange(0, 3, padding=0)
        for gap in review.gaps:
            item.addItem(pg.LinearRegionItem((gap.start, gap.end), movable=False,
                                             brush=pg.mkBrush(theme.TEXT_DIM + "60"), pen=pg.mkPen(None)))
        for a in sorted(review.episodes, key=lambda a: RANK[a.highest]):
            x1 = a.ended if a.ended is not None else review.end
            bar = pg.PlotDataItem([a.started, max(x1, a.started + end / 400)], [2.0, 2.0],
                                  pen=pg.mkPen(theme.ALARM_BG[a.highest], width=8))
            bar.setToolTip(f"{clock_text(a.started)} {a.highest} {a.message}")
            item.addItem(bar)
        for ev in review.session.events:
            colour = EVENT_COLOURS.get(ev.kind, theme.TEXT)
            item.addItem(pg.PlotDataItem([ev.time, ev.time], [0.2, 1.2], pen=pg.mkPen(colour, width=1)))
        for y, text in ((2.9, "alarms"), (1.5, "events")):
            caption = pg.TextItem(text, color=theme.TEXT_DIM, anchor=(0, 0))
            caption.setPos(review.start, y)
            item.addItem(caption)
        self.now_line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(theme.TEXT, width=2))
        item.addItem(self.now_line)


class ReviewWaves(QWidget):
    """The recorded waveforms from ``t - 10 s`` to ``t + 10 s``, read from the file."""

    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "review.waveforms", "Recorded waveforms around the chosen time")
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(theme.BACKGROUND)
        name_widget(self.plots, "review.waveforms.plots", "Waveform plots")
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.cursors: list[pg.InfiniteLine] = []
        self.items: dict[str, pg.PlotItem] = {}
        first = None
        for row, (channel, label, colour, yr) in enumerate(CHANNELS):
            p = self.plots.addPlot(row=row, col=0, axisItems={"bottom": SessionTimeAxis(orientation="bottom")},
                                   enableMenu=False)
            p.setLabel("left", label, color=colour)
            p.getAxis("left").setWidth(70)
            if channel == "PLETH":
                p.getAxis("left").setStyle(showValues=False)
            p.hideButtons()
            p.setMouseEnabled(x=False, y=False)
            if yr:
                p.setYRange(*yr, padding=0)
            if first is None:
                first = p
            else:
                p.setXLink(first)
            self.curves[channel] = p.plot(pen=pg.mkPen(colour, width=1), connect="finite")
            self.curves[channel].setObjectName(f"review.wave.{channel}")
            cursor = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(theme.TEXT, width=1, style=Qt.PenStyle.DashLine))
            p.addItem(cursor, ignoreBounds=True)
            self.cursors.append(cursor)
            self.items[channel] = p
        self.message = name_widget(QLabel(""), "review.waveforms.message", "Waveform availability")
        self.message.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 14px;")
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.message)
        box.addWidget(self.plots, 1)
        self.shown_span: tuple[float, float] | None = None

    def show_window(self, waves: dict[str, tuple[np.ndarray, np.ndarray]], t: float, t0: float, t1: float) -> None:
        self.shown_span = (t0, t1)
        missing = []
        for channel, _label, _colour, yr in CHANNELS:
            times, values = waves.get(channel, (np.empty(0), np.empty(0)))
            if not len(times):
                missing.append(channel)
            self.curves[channel].setData(times, values, connect="finite")
            if yr is None and len(values) and np.isfinite(values).any():
                lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
                span = max(hi - lo, 1e-3)
                self.items[channel].setYRange(lo - 0.1 * span, hi + 0.1 * span, padding=0)
        self.items[CHANNELS[0][0]].setXRange(t0, t1, padding=0)
        for cursor in self.cursors:
            cursor.setPos(t)
        self.message.setText(f"{clock_text(t0)} to {clock_text(t1)}"
                             + (f" \u2013 no recorded {', '.join(missing)} here" if missing else ""))


def _table(name: str, spoken: str, columns: tuple[str, ...]) -> QTableWidget:
    table = name_widget(QTableWidget(0, len(columns)), name, spoken)
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setStyleSheet("font-size: 14px;")
    return table


class ReviewWindow(QMainWindow):
    """``on_replay(start, speed)`` opens the live window replaying from ``start`` (file time)
    and returns it; None hides nothing but says replay is not available."""

    def __init__(self, review: Review, on_replay: Callable[[float, float], Any] | None = None) -> None:
        super().__init__()
        name_widget(self, "review", "Session review")
        self.review = review
        self.on_replay = on_replay
        self.replays: list = []  # replay windows opened from here
        self.time = review.start
        self.wave_time: float | None = None  # the time the waveforms show (loaded on demand)
        started = review.wall(review.start)
        self.setWindowTitle(f"REVIEW \u2013 {review.path.name} \u2013 not live")

        sim = " \u00b7 TRAINING SIMULATION" if review.meta.get("simulated") else ""
        self.banner = name_widget(QLabel(f"REVIEW \u2013 NOT LIVE \u00b7 recorded session{sim} \u00b7 "
                                         "no patient is being monitored here"), "review.banner", "Review, not live")
        self.banner.setStyleSheet(f"background: {REVIEW_COLOUR}; color: #fff; font-size: 20px; font-weight: bold;"
                                  " padding: 6px 14px; border-radius: 3px;")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)

        def value(name: str, spoken: str, text: str, size: int = 15) -> QLabel:
            label = name_widget(QLabel(text), f"review.{name}", spoken)
            label.setStyleSheet(f"font-size: {size}px;")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            return label

        patient = _plain_text(review.patient, ("name", "patient_id")) or "no patient recorded"
        state = ("closed normally" if not review.crashed else
                 "NOT CLOSED: the console stopped during this session (or still records it)")
        self.patient = value("patient", "Patient", patient, 18)
        self.patient.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.plan = value("plan", "Dose plan", f"Plan: {plan_text(review.plan)}")
        self.started = value("started", "Session start",
                             f"Started {started:%Y-%m-%d %H:%M:%S} (UTC{started:%z})")
        self.duration = value("duration", "Session duration", f"Duration {clock_text(review.duration)}")
        self.version = value("version", "Console version",
                             f"Console {review.meta.get('console_version', '?')} \u00b7 {review.path.name}")
        damage = getattr(review, "damage", None)
        if damage:  # a damaged file: show what is readable, and say what is not
            state += " \u00b7 DAMAGED FILE, shown as far as readable: " + "; ".join(damage)
        self.state = value("state", "Record state", f"Record {state}")
        self.state.setWordWrap(True)
        if review.crashed or damage:
            self.state.setStyleSheet(f"font-size: 15px; color: {theme.ALARM_BG['medium']};")

        # ---- timeline and scrubber
        self.timeline = Timeline(review)
        self.scrubber = name_widget(QSlider(Qt.Orientation.Horizontal), "review.scrubber", "Session time scrubber")
        self.scrubber.setRange(int(review.start * SCRUB_STEPS_PER_S), int(review.end * SCRUB_STEPS_PER_S))
        self.scrubber.setSingleStep(SCRUB_STEPS_PER_S)  # arrow keys: 1 s
        self.scrubber.setPageStep(10 * SCRUB_STEPS_PER_S)  # page keys: 10 s
        self.scrubber.setMinimumHeight(30)
        self.scrubber.setStyleSheet(
            "QSlider::groove:horizontal { height: 8px; background: #30363d; border-radius: 4px; }"
            f" QSlider::sub-page:horizontal {{ background: {REVIEW_COLOUR}; border-radius: 4px; }}"
            f" QSlider::handle:horizontal {{ background: {theme.TEXT}; width: 18px; margin: -7px 0;"
            " border-radius: 9px; }")
        self.scrubber.valueChanged.connect(lambda v: self.set_time(v / SCRUB_STEPS_PER_S))
        self.time_label = value("time", "Chosen time", "", 18)
        self.time_label.setStyleSheet(f"font-size: 18px; font-weight: bold; font-family: '{theme.DIGIT_FAMILY}';")
        self.prev_alarm = name_widget(QPushButton("\u25c0 Previous alarm"), "review.prev_alarm", "Previous alarm")
        self.next_alarm = name_widget(QPushButton("Next alarm \u25b6"), "review.next_alarm", "Next alarm")
        self.prev_alarm.clicked.connect(lambda: self._jump_alarm(-1))
        self.next_alarm.clicked.connect(lambda: self._jump_alarm(+1))
        self.values = value("values", "Values at the chosen time", "")
        self.values.setStyleSheet(f"font-size: 15px; font-family: '{theme.DIGIT_FAMILY}';")

        # ---- views
        self.waves = ReviewWaves()
        self.trends = TrendsView()
        self.trends.follow = False
        self.trends.btn_follow.setVisible(False)  # nothing is live here
        self.alarm_log = AlarmLogView()
        self.episodes = _table("review.episodes", "Alarm episodes", ("Start", "End", "Priority", "Kind", "Alarm",
                                                                       "Value", "Acknowledged by"))
        self.episodes.cellDoubleClicked.connect(lambda row, _c: self._jump_episode(row))
        self.episodes.cellClicked.connect(lambda row, _c: self._jump_episode(row))
        self.events = _table("review.events", "Events and notes", ("Time", "Kind", "Text", "User"))
        self.events.cellClicked.connect(lambda row, _c: self._jump_event(row))
        self.tabs = name_widget(QTabWidget(), "review.tabs", "Review views")
        self.tabs.addTab(self.waves, "Waveforms")
        self.tabs.addTab(self.trends, "Trends")
        self.tabs.addTab(self.alarm_log, "Alarm log")
        self.tabs.addTab(self.episodes, "Alarms")
        self.tabs.addTab(self.events, "Events && notes")

        # ---- replay and export
        self.speed = name_widget(QComboBox(), "review.replay.speed", "Replay speed")
        for s in SPEEDS:
            self.speed.addItem(f"{s} x", s)
        self.replay_button = name_widget(QPushButton("Replay from here"), "review.replay",
                                         "Replay from the chosen time in the monitor window")
        self.replay_button.clicked.connect(self.replay_from_here)
        self.replay_button.setEnabled(on_replay is not None)
        self.export_button = name_widget(QPushButton("Export CSV\u2026"), "review.export", "Export the session as CSV")
        self.export_button.clicked.connect(self.export_csv)
        self.chart_button = name_widget(QPushButton("Print / PDF\u2026"), "review.chart",
                                        "Save the session chart as PDF")
        self.chart_button.clicked.connect(self.save_chart)
        self.course_button = name_widget(QPushButton("Course\u2026"), "review.course",
                                         "Show this patient's treatment course")
        self.course_button.clicked.connect(self.open_course)
        self.course_button.setEnabled(getattr(review.patient, "patient_id", None) is not None)
        self.course_windows: list = []  # course windows opened from here
        self.status = value("status", "Review status", "")
        self.status.setWordWrap(True)

        # ---- layout
        header = QHBoxLayout()
        header.addWidget(self.patient, 2)
        header.addWidget(self.plan, 3)
        facts = QHBoxLayout()
        facts.setSpacing(28)
        for w in (self.started, self.duration, self.version, self.state):
            facts.addWidget(w)
        facts.addStretch(1)
        scrub = QHBoxLayout()
        scrub.addWidget(self.prev_alarm)
        scrub.addWidget(self.scrubber, 1)
        scrub.addWidget(self.next_alarm)
        scrub.addWidget(self.time_label)
        actions = QHBoxLayout()
        actions.addWidget(self.values, 1)
        actions.addWidget(QLabel("Replay at"))
        actions.addWidget(self.speed)
        actions.addWidget(self.replay_button)
        actions.addWidget(self.export_button)
        actions.addWidget(self.chart_button)
        actions.addWidget(self.course_button)
        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(6, 6, 6, 6)
        box.setSpacing(4)
        box.addWidget(self.banner)
        box.addLayout(header)
        box.addLayout(facts)
        box.addWidget(self.timeline)
        box.addLayout(scrub)
        box.addLayout(actions)
        box.addWidget(self.tabs, 1)
        box.addWidget(self.status)
        self.setCentralWidget(central)
        self.setStyleSheet(theme.STYLE_SHEET)

        # The file is read when the scrubber rests, not on every pixel it passes.
        self._load_timer = QTimer(self)
        self._load_timer.setSingleShot(True)
        self._load_timer.setInterval(60)
        self._load_timer.timeout.connect(self._load_waves)
        self._fill()
        self.set_time(review.start)
        self._load_waves()

    # ---------------------------------------------------------------- content
    def _fill(self) -> None:
        r = self.review
        self.trends.refresh(r.session, r.end)
        self.trends.plots[0].setXRange(r.start, max(r.end, r.start + 60.0), padding=0.01)
        self.alarm_log.refresh(r.log)
        self._episodes = sorted(r.episodes, key=lambda a: a.started)
        self.episodes.setRowCount(len(self._episodes))
        for row, a in enumerate(self._episodes):
            cells = (clock_text(a.started), "still active at the end" if a.ended is None else clock_text(a.ended),
                     a.highest, a.kind, a.message, "" if a.value is None else f"{a.value:g} {a.unit}".strip(),
                     a.acknowledged_by or "")
            for col, text in enumerate(cells):
                self.episodes.setItem(row, col, QTableWidgetItem(text))
        rows = [(e.time, e.kind, e.text, e.user or "") for e in r.events
                if not (isinstance(e.data, dict) and e.data.get("source") == "session" and e.kind == "alarm")]
        rows += [(g.start, "gap", f"{g.reason} (until {clock_text(g.end)})", "") for g in r.gaps]
        self._event_rows = sorted(rows, key=lambda x: x[0])
        self.events.setRowCount(len(self._event_rows))
        for row, (t, kind, text, user) in enumerate(self._event_rows):
            for col, cell in enumerate((clock_text(t), kind, text, user)):
                self.events.setItem(row, col, QTableWidgetItem(cell))

    def set_time(self, t: float) -> None:
        """Choose a time (file time): cursor, readouts now; the waveforms once the scrubber rests."""
        r = self.review
        self.time = min(max(t, r.start), r.end)
        wall = r.wall(self.time)
        self.time_label.setText(f"{clock_text(self.time)}  ({wall:%H:%M:%S})")
        self.timeline.now_line.setPos(self.time)
        readout = self.trends.show_readout(self.time)
        self.values.setText(readout)
        step = round(self.time * SCRUB_STEPS_PER_S)
        if self.scrubber.value() != step:
            self.scrubber.blockSignals(True)
            self.scrubber.setValue(step)
            self.scrubber.blockSignals(False)
        self._load_timer.start()

    def _load_waves(self) -> None:
        from console.recording import NotASessionFile

        t, r = self.time, self.review
        # 20 s around the time, kept inside the session (no axis of times before it started).
        t0 = max(r.start, min(t - WAVE_HALF_WINDOW_S, r.end - 2 * WAVE_HALF_WINDOW_S))
        t1 = t0 + 2 * WAVE_HALF_WINDOW_S
        try:
            waves = r.waveforms(t0, t1)
        except NotASessionFile as exc:  # the file went away since it was opened
            self.status.setText(f"Waveforms cannot be read: {exc}")
            return
        self.waves.show_window(waves, t, t0, t1)
        self.wave_time = t

    def _jump_alarm(self, direction: int) -> None:
        starts = sorted({a.started for a in self.review.episodes})
        if direction > 0:
            later = [s for s in starts if s > self.time + 0.05]
            target = later[0] if later else None
        else:
            earlier = [s for s in starts if s < self.time - 0.05]
            target = earlier[-1] if earlier else None
        if target is None:
            self.status.setText("No further alarm in that direction.")
            return
        self.set_time(target)

    def _jump_episode(self, row: int) -> None:
        if 0 <= row < len(self._episodes):
            self.set_time(self._episodes[row].started)

    def _jump_event(self, row: int) -> None:
        if 0 <= row < len(self._event_rows):
            self.set_time(self._event_rows[row][0])

    # ---------------------------------------------------------------- actions
    def replay_from_here(self):
        """Hand over to the monitor window, replaying from the chosen time."""
        if self.on_replay is None:
            return None
        speed = float(self.speed.currentData())
        window = self.on_replay(self.time, speed)
        if window is not None:
            self.replays.append(window)
            self.status.setText(f"Replaying from {clock_text(self.time)} at {speed:g} x in the monitor window "
                                "(marked REPLAY, not live; alarms there are re-evaluated from the record and "
                                "never sound).")
        return window

    def export_csv(self) -> QFileDialog:
        return export_to_folder(self, self.review.path, self._exported)

    def save_chart(self) -> QFileDialog:
        """The signed session chart as PDF (console.report), drawn by a process of its own."""
        from console.ui.chart_job import save_chart_as

        return save_chart_as(self, self.review.path, self._exported)

    def open_course(self):
        """The patient's treatment course (console.ui.course_view), from the sessions in this
        file's directory and the data directory; a window of its own, never modal."""
        from console.ui.course_view import course_directories, open_course_window

        patient_id = getattr(self.review.patient, "patient_id", None)
        if patient_id is None:
            return None
        window = open_course_window(patient_id, course_directories(self.review.path))
        self.course_windows.append(window)
        return window

    def _exported(self, ok: bool, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"font-size: 15px; color: {theme.TEXT if ok else theme.ALARM_BG['medium']};")

    def closeEvent(self, event) -> None:
        for window in self.replays:
            with contextlib.suppress(RuntimeError):  # already deleted by Qt
                window.close()
        self.replays.clear()
        for window in self.course_windows:
            with contextlib.suppress(RuntimeError):
                window.close()
        self.course_windows.clear()
        super().closeEvent(event)
