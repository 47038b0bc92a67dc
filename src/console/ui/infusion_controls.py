"""'Infusion started' / 'Infusion ended' recorded by the nurse when the pump cannot say (no
pump data, a pump without an interface), and the declaration 'this pump has no interface'
(CLINICAL.md section 2). Each goes to the workflow, which records who and when and refuses
while the pump reports."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.plan_file import read_number
from console.ui.dialog_parts import dialog_buttons, message_label, show_beside
from console.ui.tiles import name_widget
from console.workflow import SessionWorkflow, WorkflowError


class InfusionMarkDialog(QDialog):
    """The time (minutes ago, 0: now) and the volume read off the pump (blank: not read)."""

    def __init__(self, workflow: SessionWorkflow, ending: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        what = "ended" if ending else "started"
        name_widget(self, f"infusionmark.{'end' if ending else 'start'}", f"Record infusion {what}")
        self.setWindowTitle(f"Infusion {what}")
        self.workflow, self.ending = workflow, ending
        self.minutes_ago = name_widget(QLineEdit("0"), "infusionmark.minutes_ago", f"Minutes ago the infusion {what}")
        self.volume = name_widget(QLineEdit(), "infusionmark.volume", "Volume infused shown on the pump, mL")
        self.volume.setPlaceholderText("as the pump shows it (blank: not read)")
        self.error = message_label("infusionmark.error", "Why the entry was refused")
        form = QFormLayout()
        form.addRow(f"{what.capitalize()} (minutes ago)", self.minutes_ago)
        form.addRow("Volume on the pump (mL)", self.volume)
        buttons, self.ok = dialog_buttons(self, f"Record infusion {what}", "infusionmark.ok", self._accept)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(buttons)
        self.setMinimumWidth(460)

    def _refuse(self, why: str) -> None:
        self.error.setText(why)
        self.adjustSize()  # the wrapped message is shown whole

    def _accept(self) -> None:
        ago, why = read_number(self.minutes_ago.text() or "0", "Minutes ago", "min")
        volume = None
        if why is None and self.volume.text().strip():
            volume, why = read_number(self.volume.text(), "The volume", "mL")
        if why is None and ago is not None and ago < 0:
            why = "Minutes ago cannot be negative."
        if why is not None:
            self._refuse(why)
            return
        now = self.workflow.clock.now()
        record = self.workflow.record_infusion_end if self.ending else self.workflow.record_infusion_start
        try:
            record(volume_ml=volume, at=now - (ago or 0.0) * 60.0, now=now)
        except WorkflowError as exc:
            self._refuse(str(exc))
            return
        self.accept()


class InfusionControls(QGroupBox):
    """Three buttons for the session tab; ``workflow()`` gives the current workflow and
    ``after()`` refreshes the panel once something is recorded."""

    def __init__(self, workflow: Callable[[], SessionWorkflow | None], after: Callable[[], None]) -> None:
        super().__init__("Infusion without pump data")
        name_widget(self, "infusion", "Infusion without pump data")
        self._workflow, self._after = workflow, after
        self.dialog: InfusionMarkDialog | None = None
        self.message = message_label("infusion.message", "Why the infusion entry was refused")
        row = QHBoxLayout()  # short words: the group's title says what they are for
        for text, name, what, slot in (
                ("Started\u2026", "infusion.start", "Infusion started", lambda: self._mark(False)),
                ("Ended\u2026", "infusion.end", "Infusion ended", lambda: self._mark(True)),
                ("No interface", "infusion.no_interface", "Pump has no interface", self._no_interface)):
            b = name_widget(QPushButton(text), name, what)
            b.setToolTip(what)
            b.clicked.connect(slot)
            row.addWidget(b)
        box = QVBoxLayout(self)
        box.addLayout(row)
        box.addWidget(self.message)

    def _mark(self, ending: bool) -> None:
        wf = self._workflow()
        if wf is None:
            return
        self.dialog = InfusionMarkDialog(wf, ending, self)
        self.dialog.accepted.connect(self._done)
        show_beside(self.dialog)  # never modal: the alarm keys and bar stay with the nurse

    def _no_interface(self) -> None:
        wf = self._workflow()
        if wf is None:
            return
        try:
            wf.declare_pump_without_interface()
        except WorkflowError as exc:
            self.message.setText(str(exc))
            return
        self._done()

    def _done(self) -> None:
        self.message.setText("")
        self._after()
