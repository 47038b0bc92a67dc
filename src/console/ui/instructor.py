"""The training instructor's panel: a separate window, for the instructor's screen, that injects
scenario events into the running simulation (surge, desaturation, apnoea, occlusion, probe
off, link drop...), changes its speed, and at the end shows the debrief: each alarm and how
long the trainee took to acknowledge it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.alarms.engine import AlarmEngine
from console.debrief import DebriefRow, debrief
from console.ui import theme
from console.ui.tiles import name_widget
from console.ui.trends import clock_text

# (button text, event name, parameters): the events of simulator/events.py a trainer needs most.
INJECTIONS: tuple[tuple[str, str, dict], ...] = (
    ("Hypertensive surge", "hypertensive_surge", {"onset_s": 60, "hold_s": 180}),
    ("Desaturation to 84 %", "desaturation", {"spo2": 84, "onset_s": 30, "hold_s": 120}),
    ("Tachycardia 140", "tachycardia", {"hr": 140, "onset_s": 30, "hold_s": 120}),
    ("Bradycardia 42", "bradycardia", {"hr": 42, "onset_s": 30, "hold_s": 90}),
    ("Respiratory depression", "respiratory_depression", {"onset_s": 60, "hold_s": 180}),
    ("Apnoea 30 s", "apnoea", {"duration_s": 30}),
    ("Pump occlusion", "pump_alarm", {"alarm": "OCCLUSION"}),
    ("Clear pump alarm", "pump_clear", {}),
    ("SpO\u2082 probe off 60 s", "probe_off", {"duration_s": 60}),
    ("ECG leads off 30 s", "leads_off", {"duration_s": 30}),
    ("Vitals link drop 20 s", "link_dropout", {"device": "vitals", "duration_s": 20}),
    ("Pump link drop 15 s", "link_dropout", {"device": "pump", "duration_s": 15}),
    ("Cuff reading now", "nibp", {}),
)
SPEEDS = (1, 2, 5, 10, 30, 60)


class InstructorPanel(QWidget):
    def __init__(self, inject: Callable[..., None], set_speed: Callable[[float], None],
                 engine: Callable[[], AlarmEngine], now: Callable[[], float], scenario: str,
                 speed: float = 1.0) -> None:
        super().__init__(None, Qt.WindowType.Window)  # its own window, for a second screen
        self.setWindowTitle(f"Instructor \u2013 training scenario {scenario}")
        name_widget(self, "instructor", "Instructor panel")
        self.setStyleSheet(theme.STYLE_SHEET)
        self._inject, self._set_speed, self._engine, self._now = inject, set_speed, engine, now
        self.injected: list[tuple[float, str]] = []

        events = QGroupBox("Inject now")
        grid = QGridLayout(events)
        self.buttons: dict[str, QPushButton] = {}
        for i, (text, event, params) in enumerate(INJECTIONS):
            key = f"{event}.{params.get('device', '')}".rstrip(".")
            b = name_widget(QPushButton(text), f"instructor.{key}", f"Inject {text}")
            b.clicked.connect(lambda _=False, t=text, e=event, p=params: self.inject(t, e, p))
            grid.addWidget(b, i // 3, i % 3)
            self.buttons[key] = b

        self.speed = name_widget(QComboBox(), "instructor.speed", "Simulation speed")
        for s in sorted({*SPEEDS, speed}):
            self.speed.addItem(f"{s:g}x", float(s))
        self.speed.setCurrentIndex(self.speed.findData(float(speed)))
        self.speed.currentIndexChanged.connect(lambda _i: self._set_speed(self.speed.currentData()))
        self.status = name_widget(QLabel(""), "instructor.status", "Instructor message")
        self.status.setWordWrap(True)
        speed_row = QHBoxLayout()
        speed_row.addWidget(QLabel("Speed"))
        speed_row.addWidget(self.speed)
        speed_row.addStretch(1)
        self.debrief_button = name_widget(QPushButton("Debrief"), "instructor.debrief", "Show debrief")
        self.debrief_button.clicked.connect(self.show_debrief)
        speed_row.addWidget(self.debrief_button)

        self.table = name_widget(QTableWidget(0, 5), "instructor.table", "Debrief table")
        self.table.setHorizontalHeaderLabels(("Alarm", "Priority", "Started", "Acknowledged after", "By"))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setCornerButtonEnabled(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)

        box = QVBoxLayout(self)
        box.addWidget(events)
        box.addLayout(speed_row)
        box.addWidget(self.status)
        box.addWidget(QLabel("Debrief: every alarm and how long it took to acknowledge"))
        box.addWidget(self.table, 1)
        self.resize(720, 640)

    def inject(self, text: str, event: str, params: dict) -> None:
        try:
            self._inject(event, **params)
        except (ValueError, RuntimeError) as exc:  # a bad event, or no simulation running
            self.status.setText(f"Not injected: {exc}")
            return
        now = self._now()
        self.injected.append((now, text))
        self.status.setText(f"{clock_text(now)}  {text} injected")

    def show_debrief(self) -> list[DebriefRow]:
        rows = debrief(self._engine())
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            took = row.seconds_to_acknowledge
            cells = (row.message, row.priority, clock_text(row.started),
                     "not acknowledged" if took is None else f"{took:.0f} s", row.acknowledged_by or "")
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        return rows
