"""The alarm log panel: every start, end, escalation, acknowledgement, pause, alarm-off and
limit change, newest first, with time, value, limit and the user's name."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.alarms.model import LogEntry
from console.ui import theme
from console.ui.tiles import name_widget
from console.ui.trends import clock_text

COLUMNS = ("Time", "Event", "Priority", "Alarm", "Value", "Limit", "User", "Detail")


class AlarmLogView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "alarmlog", "Alarm log")
        self.table = name_widget(QTableWidget(0, len(COLUMNS)), "alarmlog.table", "Alarm log table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setCornerButtonEnabled(False)
        corner = self.table.findChild(QAbstractButton, "qt_tableview_cornerbutton")
        if corner is not None:  # Qt's own select-all button: hidden, but named for screen readers
            corner.setAccessibleName("Select all log rows")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setStyleSheet("font-size: 14px;")
        self.shown = 0
        box = QVBoxLayout(self)
        box.addWidget(self.table)

    def refresh(self, log: list[LogEntry]) -> None:
        """Add the entries not shown yet, newest on top."""
        for entry in log[self.shown:]:
            self.table.insertRow(0)
            value = "" if entry.value is None else f"{entry.value:g}"
            limit = "" if entry.limit is None else f"{entry.limit:g}"
            cells = (clock_text(entry.time), entry.event.replace("_", " "), entry.priority,
                     entry.message or entry.metric, value, limit, entry.user, entry.detail)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 2 and entry.priority in theme.ALARM_BG:
                    item.setForeground(QColor(theme.ALARM_BG[entry.priority]))
                self.table.setItem(0, col, item)
        self.shown = len(log)

    def reset(self) -> None:
        self.table.setRowCount(0)
        self.shown = 0
