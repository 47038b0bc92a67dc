"""The vital-signs table tab: the rows of console.vitals_table, newest at the bottom, and an
export to CSV (a new file, 0600, never over an existing one)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.session import Session
from console.ui import theme
from console.ui.dialog_parts import choose_path
from console.ui.tiles import name_widget
from console.vitals_table import HEADINGS, VitalsRow, row_cells, vitals_rows, write_csv


class VitalsTableView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "vitals", "Vital signs table")
        self.rows: list[VitalsRow] = []
        self.table = name_widget(QTableWidget(0, len(HEADINGS)), "vitals.table",
                                 "Vital signs, one row per cuff reading and every 5 minutes")
        self.table.setHorizontalHeaderLabels(HEADINGS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The events column takes what is left: the values never scroll off to the right.
        header.setSectionResizeMode(len(HEADINGS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.setCornerButtonEnabled(False)
        corner = self.table.findChild(QAbstractButton, "qt_tableview_cornerbutton")
        if corner is not None:  # Qt's own select-all button: named like every control
            corner.setAccessibleName("Select all rows (off)")
        self.table.setStyleSheet(f"font-size: 17px; font-family: '{theme.DIGIT_FAMILY}';"
                                 " QHeaderView::section { font-size: 14px; }")
        self.caption = name_widget(QLabel("One row per cuff reading and every 5 minutes; an empty cell: "
                                          "no current value then"), "vitals.caption", "Vital signs table note")
        self.caption.setProperty("role", "caption")
        self.export_button = name_widget(QPushButton("Export CSV\u2026"), "vitals.export",
                                         "Export the vital signs table as CSV")
        self.export_button.clicked.connect(self.export_dialog)
        self.status = name_widget(QLabel(""), "vitals.status", "Vital signs export result")
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.status)
        top.addWidget(self.export_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addLayout(top)
        box.addWidget(self.table, 1)

    def refresh(self, session: Session, now: float) -> None:
        rows = vitals_rows(session, now)
        if rows == self.rows:
            return
        keep = len(self.rows) if rows[:len(self.rows)] == self.rows else 0
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r in range(keep, len(rows)):
            for c, text in enumerate(row_cells(rows[r])):
                item = QTableWidgetItem(text)
                if 2 < c < len(HEADINGS) - 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == len(HEADINGS) - 1:
                    item.setToolTip(text)  # the events since the row before, in full
                self.table.setItem(r, c, item)
        if keep < len(rows):
            self.table.scrollToBottom()

    def export_to(self, path: str) -> bool:
        try:
            n = write_csv(self.rows, path)
        except FileExistsError:
            self.status.setText(f"Not exported: {path} already exists (choose a new name)")
            return False
        except OSError as exc:
            try:
                from console.private_files import describe
            except ImportError:
                words = exc.strerror or str(exc)
            else:
                words = describe(path, exc)
            self.status.setText(f"Not exported: {words}")
            return False
        self.status.setText(f"Exported {n} rows to {path}")
        return True

    def export_dialog(self) -> QFileDialog:
        return choose_path(self, "vitals.chooser", "Export the vital signs table", self._chosen,
                           save_as="vital-signs.csv", name_filter="CSV files (*.csv)")

    def _chosen(self, path: str) -> None:
        if not path:
            self.status.setText("Export cancelled")
            return
        self.export_to(path)
