"""The treatment course in the review window: a window of its own (never modal) listing the
patient's sessions with the per-session figures (console.report.course, the very table the
course PDF and the ``course`` command show), the trends in words, and the plots across the
course (GAD-7 before and after, the BP and HR response, the dose: console.ui.course_pdf's
series, drawn here with pyqtgraph).

The session files are read on a worker thread (load_review takes about a second per file), so
the review window stays responsive; the window polls for the result on a timer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.report.course import Course, course_notes, course_table, left_out
from console.ui import theme
from console.ui.course_pdf import course_plots, session_labels
from console.ui.tiles import name_widget

POLL_MS = 50


def _two_lines(heading: str) -> str:
    """A long column heading on two lines, broken at the space nearest its middle."""
    if len(heading) <= 14 or " " not in heading:
        return heading
    spaces = [i for i, c in enumerate(heading) if c == " "]
    at = min(spaces, key=lambda i: abs(i - len(heading) / 2))
    return heading[:at] + "\n" + heading[at + 1:]


class CourseWindow(QMainWindow):
    """``load()`` returns the Course (run on a worker thread); the window shows it when ready."""

    def __init__(self, patient_id: str, load: Callable[[], Course], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        name_widget(self, "course", "Treatment course")
        self.setWindowTitle(f"REVIEW \u2013 treatment course of patient {patient_id} \u2013 not live")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.course: Course | None = None
        self.title = name_widget(QLabel(f"Reading the sessions of patient {patient_id}\u2026"), "course.title",
                                 "Course patient")
        self.title.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.title.setWordWrap(True)
        self.table = name_widget(QTableWidget(0, 0), "course.table", "Sessions of the course")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)
        self.table.setStyleSheet("font-size: 13px;")
        self.trends = name_widget(QLabel(""), "course.trends", "Trends across the course")
        self.trends.setWordWrap(True)
        self.trends.setStyleSheet("font-size: 13px;")
        self.refused = name_widget(QLabel(""), "course.refused", "Files refused or not readable")
        self.refused.setWordWrap(True)
        self.refused.setStyleSheet(f"font-size: 13px; color: {theme.ALARM_BG['medium']};")
        self.refused.setVisible(False)
        self.notes = name_widget(QLabel(""), "course.notes", "Where the sessions came from")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet(f"font-size: 12px; color: {theme.TEXT_DIM};")
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plots = pg.GraphicsLayoutWidget()
        name_widget(self.plots, "course.plots", "Plots across the course")
        self.plots.setBackground(theme.BACKGROUND)
        self.curves: dict[str, pg.PlotDataItem] = {}
        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(8, 8, 8, 8)
        box.addWidget(self.title)
        box.addWidget(self.table, 3)
        lower = QHBoxLayout()
        words = QVBoxLayout()
        words.addWidget(self.trends)
        words.addWidget(self.refused)
        words.addWidget(self.notes)
        words.addStretch(1)
        lower.addLayout(words, 2)
        lower.addWidget(self.plots, 3)
        box.addLayout(lower, 4)
        self.setCentralWidget(central)
        self.setStyleSheet(theme.STYLE_SHEET)

        self._answer: queue.SimpleQueue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._read, args=(load,), name="course-reader", daemon=True)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._take)
        self._worker.start()
        self._poll.start()

    def _read(self, load: Callable[[], Course]) -> None:
        try:
            self._answer.put(load())
        except Exception as exc:  # shown in words; the review window carries on
            self._answer.put(exc)

    def _take(self) -> None:
        try:
            answer = self._answer.get_nowait()
        except queue.Empty:
            return
        self._poll.stop()
        if isinstance(answer, Course):
            self.show_course(answer)
        else:
            self.title.setText(f"The course cannot be read: {type(answer).__name__}: {answer}")

    @property
    def loaded(self) -> bool:
        return self.course is not None

    def show_course(self, course: Course) -> None:
        self.course = course
        sim = "TRAINING SIMULATION \u00b7 " if course.simulated else ""
        self.title.setText(f"{sim}Treatment course of {course.patient}: {len(course.sessions)} session"
                           f"{'s' if len(course.sessions) != 1 else ''}")
        table = course_table(course)
        self.table.setColumnCount(len(table.headings))
        self.table.setHorizontalHeaderLabels([_two_lines(h) for h in table.headings])
        self.table.setRowCount(len(table.rows))
        for r, row in enumerate(table.rows):
            for c, cell in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(cell))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(table.headings) - 2, QHeaderView.ResizeMode.Stretch)
        self.table.resizeRowsToContents()
        self.trends.setText("<b>Trends</b><br>" + "<br>".join(t.words for t in course.trends)
                            + "<br><i>First against last and a least-squares slope: a description of these "
                              "sessions, not a statistical test.</i>")
        warn = left_out(course)
        self.refused.setText("\n".join(warn))
        self.refused.setVisible(bool(warn))
        self.notes.setText("\n".join(n for n in course_notes(course) if n not in warn))
        self._draw_plots(course)

    def _draw_plots(self, course: Course) -> None:
        self.plots.clear()
        self.curves.clear()
        labels = session_labels(course)
        ticks = [list(enumerate(labels))]
        colours = (theme.PARAMETER["SPO2"], theme.PARAMETER["RR"])  # distinct on the dark background
        for row, (key, title, unit, series) in enumerate(course_plots(course)):
            p = self.plots.addPlot(row=row, col=0, enableMenu=False)
            p.setTitle(f"{title} ({unit})", color=theme.TEXT, size="10pt")
            p.hideButtons()
            p.setMouseEnabled(x=False, y=False)
            p.getAxis("bottom").setTicks(ticks)
            p.getAxis("left").setWidth(44)
            p.setXRange(-0.5, max(0.5, len(labels) - 0.5), padding=0)
            p.addLegend(offset=(4, 2), labelTextSize="9pt")
            for i, (label, values) in enumerate(series):
                xs = [float(k) for k, v in enumerate(values) if v is not None]
                ys = [float(v) for v in values if v is not None]
                colour = colours[i % len(colours)]
                curve = p.plot(xs, ys, pen=pg.mkPen(colour, width=1), symbol="o", symbolSize=7,
                               symbolBrush=colour, name=label)
                curve.setObjectName(f"course.curve.{key}.{label.replace(' ', '_')}")
                self.curves[f"{key}.{label}"] = curve

    def closeEvent(self, event) -> None:
        self._poll.stop()
        super().closeEvent(event)


def course_directories(review_path: Path) -> list[Path]:
    """Where the review window looks for the rest of the course: the reviewed file's own
    directory, then the data directory."""
    from console.recording import default_session_dir

    return list(dict.fromkeys([review_path.parent, default_session_dir()]))


def open_course_window(patient_id: str, directories: Iterable[Path], parent: QWidget | None = None) -> CourseWindow:
    from console.report.course_find import find_course

    dirs = list(directories)
    window = CourseWindow(patient_id, lambda: find_course(patient_id, dirs), parent)
    window.resize(1280, 800)
    window.show()
    return window
