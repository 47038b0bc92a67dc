"""Dialogs of the session workflow: sign-in, patient and dose plan, and a reason prompt.

None of them blocks monitoring: they open with ``open()`` (never ``exec()``), and every bad
input gets a message beside its field, never an exception or a crash. The workflow decides;
the dialogs only collect and show.
"""

from __future__ import annotations

import datetime as dt

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.patient import Patient
from console.plan_file import SessionOrderError, check_plan_inputs, load_session_order
from console.ui import theme
from console.ui.dialog_parts import ERROR_STYLE, dialog_buttons, message_label
from console.ui.tiles import name_widget
from console.workflow import SessionWorkflow, WorkflowError

SOFT_STYLE = f"color: {theme.ALARM_BG['medium']};"
PLAN_FIELDS = (
    # field, label, unit, placeholder
    ("weight_kg", "Weight", "kg", "e.g. 70"),
    ("dose_mg_per_kg", "Dose", "mg/kg", "e.g. 0.5"),
    ("duration_min", "Duration", "min", "e.g. 40"),
    ("bag_mg", "Bag: drug", "mg", "e.g. 35"),
    ("bag_ml", "Bag: volume", "mL", "e.g. 50"),
)


class SignInDialog(QDialog):
    """The nurse signs in (name, optional PIN); every later action carries the name."""

    def __init__(self, sign_in, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in")
        name_widget(self, "signin", "Sign in dialog")
        self._sign_in = sign_in
        self.name = name_widget(QLineEdit(), "signin.name", "Your name")
        self.pin = name_widget(QLineEdit(), "signin.pin", "PIN (optional)")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = message_label("signin.error", "Sign in message")
        buttons, _ = dialog_buttons(self, "Sign in", "signin.ok", self._accept)
        self.name.returnPressed.connect(self._accept)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("PIN", self.pin)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(buttons)

    def _accept(self) -> None:
        try:
            self._sign_in(self.name.text().strip(), self.pin.text() or None)
        except WorkflowError as exc:
            self.error.setText(str(exc))
            return
        self.pin.clear()  # never kept
        self.accept()


class ReasonDialog(QDialog):
    """Asks why (a titration, proceeding despite baseline BP, ending the infusion early...),
    and hands the reason to ``action``; its refusal is shown, the dialog stays open."""

    def __init__(self, title: str, question: str, action, parent: QWidget | None = None, *,
                 name: str = "reason", value_label: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        name_widget(self, name, f"{title} dialog")
        self._action = action
        self.value = None
        form = QFormLayout()
        if value_label:
            self.value = name_widget(QLineEdit(), f"{name}.value", value_label)
            form.addRow(value_label, self.value)
        self.reason = name_widget(QLineEdit(), f"{name}.reason", "Reason")
        self.reason.setPlaceholderText("required")
        form.addRow("Reason", self.reason)
        self.error = message_label(f"{name}.error", f"{title} message")
        buttons, _ = dialog_buttons(self, title, f"{name}.ok", self._accept)
        text = QLabel(question)
        text.setWordWrap(True)
        box = QVBoxLayout(self)
        box.addWidget(text)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(buttons)

    def _accept(self) -> None:
        try:
            if self.value is not None:
                self._action(self.value.text().strip(), self.reason.text())
            else:
                self._action(self.reason.text())
        except (WorkflowError, ValueError) as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class PatientPlanDialog(QDialog):
    """Patient identification and the dose plan, computed live with the guardrails of
    CLINICAL.md section 1: soft limits need a reason (recorded), hard limits block.

    The patient ID field takes a wristband scan: a USB barcode scanner types like a keyboard
    and ends with Enter, which moves on to the name.
    """

    applied = Signal()

    def __init__(self, workflow: SessionWorkflow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Patient and dose plan")
        name_widget(self, "plan", "Patient and dose plan dialog")
        self.workflow = workflow
        self.rails = workflow.protocol.dose_guardrails
        self.check = None

        who = QGroupBox("Patient")
        pf = QFormLayout(who)
        known = workflow.patient or workflow.expected_patient
        self.patient_id = name_widget(QLineEdit(known.patient_id if known else ""), "plan.patient_id",
                                      "Patient ID (type or scan the wristband)")
        self.patient_id.setPlaceholderText("type or scan the wristband")
        self.patient_name = name_widget(QLineEdit(known.name if known else ""), "plan.patient_name", "Patient name")
        dob = known.date_of_birth.isoformat() if known and known.date_of_birth else ""
        self.dob = name_widget(QLineEdit(dob), "plan.dob", "Date of birth")
        self.dob.setPlaceholderText("YYYY-MM-DD")
        self.patient_error = message_label("plan.patient.error", "Patient message")
        self.patient_id.returnPressed.connect(self.patient_name.setFocus)
        pf.addRow("Patient ID", self.patient_id)
        pf.addRow("Name", self.patient_name)
        pf.addRow("Date of birth", self.dob)
        pf.addRow(self.patient_error)

        plan_box = QGroupBox("Dose plan")
        grid = QGridLayout(plan_box)
        self.fields: dict[str, QLineEdit] = {}
        self.messages: dict[str, QLabel] = {}
        self.reasons: dict[str, QLineEdit] = {}
        current = workflow.plan
        for row, (key, label, unit, hint) in enumerate(PLAN_FIELDS):
            edit = name_widget(QLineEdit(f"{getattr(current, key):g}" if current else ""), f"plan.{key}",
                               f"{label} ({unit})")
            edit.setPlaceholderText(hint)
            edit.textChanged.connect(self.recompute)
            reason = name_widget(QLineEdit(workflow.overrides.get(key, "")), f"plan.{key}.reason",
                                 f"Reason to override the {label.lower()} limit")
            reason.setPlaceholderText("reason to override (required)")
            reason.textChanged.connect(self.recompute)
            message = message_label(f"plan.{key}.message", f"{label} message")
            grid.addWidget(QLabel(f"{label} ({unit})"), row, 0)
            grid.addWidget(edit, row, 1)
            grid.addWidget(message, row, 2)
            grid.addWidget(reason, row, 3)
            self.fields[key], self.messages[key], self.reasons[key] = edit, message, reason
        rate_row = len(PLAN_FIELDS)
        self.rate_reason = name_widget(QLineEdit(workflow.overrides.get("rate_ml_per_h", "")),
                                       "plan.rate_ml_per_h.reason", "Reason to override the rate limit")
        self.rate_reason.textChanged.connect(self.recompute)
        self.messages["rate_ml_per_h"] = message_label("plan.rate_ml_per_h.message", "Rate message")
        self.reasons["rate_ml_per_h"] = self.rate_reason
        grid.addWidget(QLabel("Rate"), rate_row, 0)
        grid.addWidget(self.messages["rate_ml_per_h"], rate_row, 2)
        grid.addWidget(self.rate_reason, rate_row, 3)
        grid.setColumnStretch(2, 1)
        self.computed = name_widget(QLabel(""), "plan.computed", "Computed plan")
        self.computed.setStyleSheet(f"font-size: 16px; font-weight: bold; color: {theme.PARAMETER['PUMP']};")
        self.computed.setWordWrap(True)
        grid.addWidget(self.computed, rate_row + 1, 0, 1, 4)

        self.order_button = name_widget(QPushButton("Load order file\u2026"), "plan.load_order",
                                        "Load the session order from a file")
        self.order_button.clicked.connect(self._load_order_file)
        self.error = message_label("plan.error", "Plan message")
        buttons, self.ok = dialog_buttons(self, "Set patient and plan", "plan.ok", self._accept)
        box = QVBoxLayout(self)
        box.addWidget(who)
        box.addWidget(plan_box)
        box.addWidget(self.order_button)
        box.addWidget(self.error)
        box.addWidget(buttons)
        self.resize(900, 520)
        self.recompute()

    # ------------------------------------------------------------------ live plan
    def _raw(self) -> dict[str, str]:
        return {key: edit.text().strip() for key, edit in self.fields.items()}

    def _overrides(self) -> dict[str, str]:
        return {key: r.text().strip() for key, r in self.reasons.items() if r.text().strip()}

    def recompute(self) -> None:
        self.check = check_plan_inputs(self._raw(), self.rails, self._overrides())
        soft = {f.field for f in self.check.findings if f.severity == "soft"}
        for key, label in self.messages.items():
            text = self.check.messages.get(key, "")
            finding = next((f for f in self.check.findings if f.field == key), None)
            if not text and finding is not None:  # a soft limit with its reason given
                text = f"{finding.message} (reason given)"
                label.setStyleSheet(SOFT_STYLE)
            else:
                label.setStyleSheet(ERROR_STYLE)
            label.setText(text)
            self.reasons[key].setVisible(key in soft)
        p = self.check.plan
        if p is None:
            self.computed.setText("Enter weight, dose, duration and the bag's drug and volume.")
        else:
            self.computed.setText(
                f"Total {p.total_mg:.1f} mg \u00b7 {p.concentration_mg_per_ml:.2f} mg/mL \u00b7 volume "
                f"{p.volume_ml:.1f} mL \u00b7 rate {p.rate_ml_per_h:.1f} mL/h \u00b7 "
                f"{p.dose_rate_mg_per_kg_per_h:.2f} mg/kg/h ({p.dose_rate_ug_per_kg_per_min:.1f} \u00b5g/kg/min)")
        self.ok.setEnabled(self.check.acceptable)

    def _patient(self) -> Patient | None:
        pid, name, dob = self.patient_id.text().strip(), self.patient_name.text().strip(), self.dob.text().strip()
        try:
            born = dt.date.fromisoformat(dob) if dob else None
        except ValueError:
            self.patient_error.setText("Date of birth: write it as YYYY-MM-DD, e.g. 1986-04-12")
            return None
        if not pid or not name:
            self.patient_error.setText("Patient ID and name are both needed")
            return None
        try:
            patient = Patient(patient_id=pid, name=name, date_of_birth=born)
        except ValidationError as exc:
            self.patient_error.setText("; ".join(e["msg"] for e in exc.errors()))
            return None
        self.patient_error.setText("")
        return patient

    def _accept(self) -> None:
        patient = self._patient()
        if patient is None or not self.check or not self.check.acceptable:
            return
        try:
            mismatch = self.workflow.identify(patient)
            self.workflow.set_plan(self.check.plan, {f.field: self._overrides().get(f.field, "")
                                                     for f in self.check.findings if f.severity == "soft"})
        except WorkflowError as exc:
            self.error.setText(str(exc))
            return
        if mismatch:
            self.patient_error.setText(f"{mismatch} \u2013 confirm it in the session panel")
        self.applied.emit()
        self.accept()

    def _load_order_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Session order", "", "Session order (*.json)")
        if path:
            self.load_order(path)

    def load_order(self, path: str) -> bool:
        try:
            order = load_session_order(path, self.workflow.protocol)
            self.workflow.load_order(order)  # the patient scanned next is checked against it
        except (SessionOrderError, WorkflowError) as exc:
            self.error.setText(str(exc))
            return False
        self.patient_id.setText(order.patient.patient_id)
        self.patient_name.setText(order.patient.name)
        self.dob.setText(order.patient.date_of_birth.isoformat() if order.patient.date_of_birth else "")
        for key, edit in self.fields.items():
            edit.setText(f"{getattr(order.plan, key):g}")
        for key, reason in order.overrides.items():
            if key in self.reasons:
                self.reasons[key].setText(reason)
        self.error.setText(f"Loaded {path}")
        return True
