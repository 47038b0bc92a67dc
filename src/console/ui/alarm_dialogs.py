"""Dialogs that change alarm behaviour: ALARM OFF for one metric, and per-patient limits.
Each shows the engine's refusal (a reason, out-of-bounds value) beside the field instead of
closing, and every accepted change reaches the engine, which logs who, when, old and new."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from console.alarms.engine import AlarmEngine, AlarmOffRefused
from console.alarms.limits import LimitError
from console.ui.dialog_parts import dialog_buttons, message_label
from console.ui.tiles import name_widget


class AlarmOffDialog(QDialog):
    def __init__(self, engine: AlarmEngine, now, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alarm off")
        name_widget(self, "alarmoff", "Alarm off dialog")
        self.engine, self.now = engine, now
        # Never an attribute named "metric": that would shadow QPaintDevice.metric(), which
        # Qt calls while painting (the dialog crashed the console, issue 11).
        self.metric_choice = name_widget(QComboBox(), "alarmoff.metric", "Metric to switch off")
        for metric, spec in engine.protocol.limits.items():
            if engine.switchable_off(metric):  # not the protocol's not_switchable_off list
                self.metric_choice.addItem(spec.label, metric)
        self.reason = name_widget(QLineEdit(), "alarmoff.reason", "Reason for switching off")
        self.reason.setPlaceholderText("why (required), e.g. repositioning the probe")
        minutes = engine.protocol.signalling.alarm_off_max_min
        note = QLabel(f"Switches off the metric's medium limits for at most {minutes:g} min. "
                      "High-priority limits stay on; apnoea (and any metric the site protocol lists) "
                      "cannot be switched off.")
        note.setWordWrap(True)
        self.error = message_label("alarmoff.error", "Alarm off message")
        buttons, self.ok = dialog_buttons(self, "Switch off", "alarmoff.ok", self._apply, "Switch alarm off")
        form = QFormLayout()
        form.addRow("Metric", self.metric_choice)
        form.addRow("Reason", self.reason)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(note)
        box.addWidget(self.error)
        box.addWidget(buttons)

    def _apply(self) -> None:
        try:
            self.engine.switch_off(self.metric_choice.currentData(), self.reason.text(), self.now())
        except AlarmOffRefused as exc:
            self.error.setText(str(exc))
            return
        self.accept()


# Grid column of each limit; TEMP's low-priority limits sit with the medium ones.
COLUMN = {("below", "medium"): 1, ("below", "low"): 1, ("below", "high"): 2,
          ("above", "medium"): 3, ("above", "low"): 3, ("above", "high"): 4}


class LimitsDialog(QDialog):
    """Every limit of every metric, editable within the protocol's bounds."""

    def __init__(self, engine: AlarmEngine, now, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alarm limits for this patient")
        name_widget(self, "limits", "Alarm limits dialog")
        self.engine, self.now = engine, now
        self.fields: dict[tuple[str, str, str], QDoubleSpinBox] = {}
        grid = QGridLayout()
        for col, text in enumerate(("", "low (medium)", "low (high)", "high (medium)", "high (high)",
                                    "allowed")):
            grid.addWidget(QLabel(text), 0, col)
        for row, (metric, spec) in enumerate(engine.protocol.limits.items(), start=1):
            grid.addWidget(QLabel(f"{spec.label} ({spec.unit})"), row, 0)
            lo, hi = spec.adjust_bounds
            for band in engine.limits.bands(metric):
                for side in ("below", "above"):
                    value = getattr(band, side)
                    if value is None:
                        continue
                    word = "low" if side == "below" else "high"
                    box = name_widget(QDoubleSpinBox(), f"limits.{metric}.{band.priority}.{side}",
                                      f"{spec.label} {band.priority} priority {word} limit")
                    box.setDecimals(1 if spec.hysteresis < 1 else 0)
                    box.setRange(lo, hi)
                    box.setValue(value)
                    grid.addWidget(box, row, COLUMN[(side, band.priority)])
                    self.fields[(metric, band.priority, side)] = box
            grid.addWidget(QLabel(f"{lo:g}\u2013{hi:g}"), row, 5)
        self.error = message_label("limits.error", "Limits message")
        buttons, self.ok = dialog_buttons(self, "Apply", "limits.apply", self._apply, "Apply limits")
        box = QVBoxLayout(self)
        box.addLayout(grid)
        box.addWidget(QLabel("Every change is logged with your name, the old and the new value."))
        box.addWidget(self.error)
        box.addWidget(buttons)

    def _apply(self) -> None:
        changed = 0
        for (metric, priority, side), box in self.fields.items():
            band = self.engine.limits.band(metric, priority)
            if abs(box.value() - getattr(band, side)) < 1e-9:
                continue
            try:
                self.engine.set_limit(metric, priority, side, box.value(), self.now())
                changed += 1
            except LimitError as exc:
                self.error.setText(str(exc))
                return
        self.accept()
