"""Dialogs of the session workflow: sign-in, patient and dose plan, and a reason prompt.

None of them blocks monitoring: they open with ``open()`` (never ``exec()``), and every bad
input gets a message beside its field, never an exception or a crash. The workflow decides;
the dialogs only collect and show.
"""

from __future__ import annotations

import datetime as dt
import itertools

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.dose import BASIS_WORDS, basis_formula
from console.patient import Patient
from console.plan_file import SessionOrderError, check_plan_inputs, load_session_order, number_text
from console.sign_off import SIGN_OFF_REASONS
from console.ui import theme
from console.ui.dialog_parts import ERROR_STYLE, choose_path, dialog_buttons, message_label
from console.ui.tiles import name_widget
from console.workflow import SessionWorkflow, WorkflowError

SOFT_STYLE = f"color: {theme.ALARM_BG['medium']};"
# The computed values with limits of their own (a message and, for a soft limit, a reason).
COMPUTED_CHECKS = (
    ("rate_ml_per_h", "Rate"),
    ("dose_rate_mg_per_kg_per_h", "Dose rate"),
    ("total_dose_mg", "Total dose"),
    ("concentration_mg_per_ml", "Concentration"),
    ("bag_excess_factor", "Drug in the bag"),
)
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
        self.pin.setPlaceholderText("the PIN the site gave you, if it has users")
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
        self.resize(460, 170)

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
    and ends with Enter, which moves on to the name. Enter in any field moves to the next
    one; only the dialog's own button submits (no button here is a default button).
    """

    applied = Signal()

    def __init__(self, workflow: SessionWorkflow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Patient and dose plan")
        name_widget(self, "plan", "Patient and dose plan dialog")
        self.workflow = workflow
        self.rails = workflow.protocol.dose_guardrails
        self.weight_basis = workflow.protocol.weight_basis
        self.check = None

        who = QGroupBox("Patient")
        pf = QGridLayout(who)
        known = workflow.patient or workflow.expected_patient
        self.patient_id = name_widget(QLineEdit(known.patient_id if known else ""), "plan.patient_id",
                                      "Patient ID (type or scan the wristband)")
        self.patient_id.setPlaceholderText("type or scan the wristband")
        self.patient_name = name_widget(QLineEdit(known.name if known else ""), "plan.patient_name", "Patient name")
        dob = known.date_of_birth.isoformat() if known and known.date_of_birth else ""
        self.dob = name_widget(QLineEdit(dob), "plan.dob", "Date of birth")
        self.dob.setPlaceholderText("YYYY-MM-DD")
        self.patient_error = message_label("plan.patient.error", "Patient message")
        for col, (label, edit) in enumerate((("Patient ID", self.patient_id), ("Name", self.patient_name),
                                             ("Date of birth", self.dob))):
            pf.addWidget(QLabel(label), 0, 2 * col)
            pf.addWidget(edit, 0, 2 * col + 1)
        pf.addWidget(self.patient_error, 1, 0, 1, 6)

        current = workflow.plan
        plan_box = QGroupBox("Dose plan")
        grid = QGridLayout(plan_box)
        self.fields: dict[str, QLineEdit] = {}
        self.messages: dict[str, QLabel] = {}
        self.reasons: dict[str, QLineEdit] = {}
        for row, (key, label, unit, hint) in enumerate(PLAN_FIELDS):
            value = getattr(current, key) if current else None
            edit = name_widget(QLineEdit(number_text(value) if value is not None else ""), f"plan.{key}",
                               f"{label} ({unit})")
            edit.setPlaceholderText(hint)
            edit.setFixedWidth(110)
            edit.textChanged.connect(self.recompute)
            grid.addWidget(QLabel(f"{label} ({unit})"), row, 0)
            grid.addWidget(edit, row, 1)
            self.fields[key] = edit
            self._check_row(grid, row, key, label)
        row = len(PLAN_FIELDS)
        for key, label in COMPUTED_CHECKS:
            grid.addWidget(QLabel(label), row, 0)
            self._check_row(grid, row, key, label)
            row += 1
        grid.setColumnStretch(2, 1)
        grid.setColumnMinimumWidth(2, 380)

        # --- weight basis: height and sex give BMI and IBW; above the BMI threshold the plan asks
        basis_box = QGroupBox("Weight basis")
        bg = QGridLayout(basis_box)
        self.height_edit = name_widget(QLineEdit(number_text(current.height_cm) if current and current.height_cm
                                            else ""), "plan.height_cm", "Height (cm)")
        self.height_edit.setPlaceholderText("optional, e.g. 170")
        self.height_edit.setFixedWidth(110)
        self.sex = name_widget(QComboBox(), "plan.sex", "Sex (for the ideal body weight)")
        for text, data in (("–", ""), ("male", "male"), ("female", "female")):
            self.sex.addItem(text, data)
        if current and current.sex:
            self.sex.setCurrentIndex(self.sex.findData(current.sex))
        self.basis = name_widget(QComboBox(), "plan.weight_basis", "Weight the dose uses")
        self.basis.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.basis.setMinimumWidth(250)  # "adjusted body weight 80.7 kg" in full
        self.basis_reason = name_widget(QLineEdit(current.weight_basis_reason or "" if current else ""),
                                        "plan.weight_basis_reason", "Why this weight")
        self.basis_reason.setPlaceholderText("why this weight (required above the BMI threshold)")
        self.basis_info = name_widget(QLabel(""), "plan.weight_basis.info", "BMI and weights")
        self.basis_info.setWordWrap(True)
        self.messages["weight_basis"] = message_label("plan.weight_basis.message", "Weight basis message")
        self.messages["height_cm"] = message_label("plan.height_cm.message", "Height message")
        self._basis_wanted = current.weight_basis if current else "actual"
        bg.addWidget(QLabel("Height (cm)"), 0, 0)
        bg.addWidget(self.height_edit, 0, 1)
        bg.addWidget(QLabel("Sex"), 0, 2)
        bg.addWidget(self.sex, 0, 3)
        bg.addWidget(QLabel("Dose uses"), 0, 4)
        bg.addWidget(self.basis, 0, 5)
        bg.addWidget(self.basis_reason, 0, 6)
        bg.addWidget(self.basis_info, 1, 0, 1, 7)
        bg.addWidget(self.messages["height_cm"], 2, 0, 1, 7)
        bg.addWidget(self.messages["weight_basis"], 3, 0, 1, 7)
        bg.setColumnStretch(6, 1)
        self.height_edit.textChanged.connect(self.recompute)
        self.sex.currentIndexChanged.connect(self.recompute)
        self.basis.activated.connect(self._basis_chosen)
        self.basis_reason.textChanged.connect(self.recompute)

        start = current.planned_start.astimezone().strftime("%Y-%m-%d %H:%M") if current and \
            current.planned_start else ""
        self.planned_start = name_widget(QLineEdit(start), "plan.planned_start", "Planned start (optional)")
        self.planned_start.setPlaceholderText("optional: 09:30 today, or 2026-12-02 09:30")
        self.planned_start.setMinimumWidth(330)
        self.planned_start.textChanged.connect(self.recompute)
        self.messages["planned_start"] = message_label("plan.planned_start.message", "Planned start message")
        bg.addWidget(QLabel("Planned start"), 4, 0)
        bg.addWidget(self.planned_start, 4, 1, 1, 3)
        bg.addWidget(self.messages["planned_start"], 4, 4, 1, 3)

        self.computed = name_widget(QLabel(""), "plan.computed", "Computed plan")
        self.computed.setStyleSheet(f"font-size: 16px; font-weight: bold; color: {theme.PARAMETER['PUMP']};")
        self.computed.setWordWrap(True)

        self.order_button = name_widget(QPushButton("Load order file\u2026"), "plan.load_order",
                                        "Load the session order from a file")
        self.order_button.setAutoDefault(False)
        self.order_button.clicked.connect(self._load_order_file)
        self.error = message_label("plan.error", "Plan message")
        buttons, self.ok = dialog_buttons(self, "Set patient and plan", "plan.ok", self._accept, enter_submits=False)
        # Enter moves on, field by field: a wristband scan's Enter lands on the name.
        chain = [self.patient_id, self.patient_name, self.dob, *self.fields.values(), self.height_edit,
                 self.planned_start]
        for edit, nxt in itertools.pairwise(chain):
            edit.returnPressed.connect(nxt.setFocus)
        box = QVBoxLayout(self)
        box.addWidget(who)
        box.addWidget(plan_box)
        box.addWidget(basis_box)
        box.addWidget(self.computed)
        box.addWidget(self.error)
        bottom = QHBoxLayout()
        bottom.addWidget(self.order_button)
        bottom.addStretch(1)
        bottom.addWidget(buttons)
        box.addLayout(bottom)
        self.resize(1180, 720)
        self.recompute()

    def _check_row(self, grid: QGridLayout, row: int, key: str, label: str) -> None:
        """The message beside a value and, for a soft limit, the box for the reason."""
        reason = name_widget(QLineEdit(self.workflow.overrides.get(key, "")), f"plan.{key}.reason",
                             f"Reason to override the {label.lower()} limit")
        reason.setPlaceholderText("reason to override (required)")
        reason.setMinimumWidth(260)
        reason.textChanged.connect(self.recompute)
        message = message_label(f"plan.{key}.message", f"{label} message")
        grid.addWidget(message, row, 2)
        grid.addWidget(reason, row, 3)
        self.messages[key], self.reasons[key] = message, reason

    # ------------------------------------------------------------------ live plan
    def _raw(self) -> dict[str, str]:
        raw = {key: edit.text().strip() for key, edit in self.fields.items()}
        raw.update(height_cm=self.height_edit.text().strip(), sex=self.sex.currentData() or "",
                   weight_basis=self._basis_wanted, weight_basis_reason=self.basis_reason.text().strip(),
                   planned_start=self.planned_start.text().strip())
        return raw

    def _overrides(self) -> dict[str, str]:
        return {key: r.text().strip() for key, r in self.reasons.items() if r.text().strip()}

    def _basis_chosen(self, _index: int) -> None:
        self._basis_wanted = self.basis.currentData() or "actual"
        self.recompute()

    def _show_basis(self) -> None:
        """The weights on offer, with the formula of the one chosen and the BMI."""
        check = self.check
        self.basis.blockSignals(True)
        self.basis.clear()
        for basis, kg in check.basis_choices.items():
            self.basis.addItem(f"{BASIS_WORDS[basis]} {kg:.1f} kg", basis)
        index = self.basis.findData(self._basis_wanted)
        self.basis.setCurrentIndex(max(index, 0))
        self.basis.blockSignals(False)
        p = check.plan
        if p is None or p.bmi is None:
            self.basis_info.setText("Height and sex give the BMI and the ideal body weight (optional).")
            return
        chosen = self.basis.currentData() or "actual"
        formula = basis_formula(chosen, p.sex, self.weight_basis)
        ask = (f" Above BMI {self.weight_basis.ask_above_bmi:g}: choose the weight the dose uses and say why."
               if check.ask_basis else "")
        no_ibw = (f" Ideal body weight is not defined below {self.weight_basis.ibw_min_height_cm:g} cm."
                  if p.height_cm is not None and p.height_cm < self.weight_basis.ibw_min_height_cm else "")
        self.basis_info.setText(f"BMI {p.bmi:.1f}. {BASIS_WORDS[chosen].capitalize()}: {formula}.{ask}{no_ibw}")

    def recompute(self) -> None:
        self.check = check_plan_inputs(self._raw(), self.rails, self._overrides(), weight_basis=self.weight_basis,
                                       today=dt.date.today())
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
            if key in self.reasons:
                self.reasons[key].setVisible(key in soft)
        self._show_basis()
        p = self.check.plan
        if p is None:
            self.computed.setText("Enter weight, dose, duration and the bag's drug and volume.")
        else:
            self.computed.setText(
                f"Total {p.total_mg:.1f} mg (dose on {p.weight_words()}) \u00b7 {p.concentration_mg_per_ml:.2f} mg/mL"
                f" \u00b7 volume {p.volume_ml:.1f} mL \u00b7 rate {p.rate_ml_per_h:.1f} mL/h \u00b7 "
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
            words = {"patient_id": "Patient ID", "name": "Name", "date_of_birth": "Date of birth"}
            self.patient_error.setText("; ".join(
                f"{words.get(str(e['loc'][0]), 'Patient') if e['loc'] else 'Patient'} "
                f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()))
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
        choose_path(self, "plan.order_chooser", "Session order", lambda path: path and self.load_order(path),
                    name_filter="Session order (*.json)")

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
        plan = order.plan
        for key, edit in self.fields.items():
            edit.setText(number_text(getattr(plan, key)))
        self.height_edit.setText(number_text(plan.height_cm) if plan.height_cm else "")
        self.sex.setCurrentIndex(max(self.sex.findData(plan.sex or ""), 0))
        self._basis_wanted = plan.weight_basis
        self.basis_reason.setText(plan.weight_basis_reason or "")
        self.planned_start.setText(plan.planned_start.astimezone().strftime("%Y-%m-%d %H:%M")
                                   if plan.planned_start else "")
        for key, reason in order.overrides.items():
            if key in self.reasons:
                self.reasons[key].setText(reason)
        self.recompute()
        self.error.setText(f"Loaded {path}")
        return True


class SignOffDialog(QDialog):
    """The clinician's discharge sign-off: name (and PIN where the site has users), and
    with any criterion unmet or not judged, a reason from the list plus what was judged.
    The workflow decides (``sign_off``); a refusal is shown and the dialog stays open."""

    def __init__(self, workflow: SessionWorkflow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Discharge sign-off")
        name_widget(self, "signoff", "Discharge sign-off dialog")
        self.workflow = workflow
        users = workflow.authenticate
        self.needs_pin = bool(getattr(users, "configured", False))
        criteria = [c for c in workflow.discharge_criteria() if c.name != "Clinician sign-off"]
        self.unmet = [c for c in criteria if c.met is not True]
        summary = name_widget(QLabel(""), "signoff.criteria", "Discharge criteria not met")
        summary.setWordWrap(True)
        if self.unmet:
            summary.setText("Not met or not judged:<br>" + "<br>".join(
                f"\u2717 {c.name}: {c.detail}" for c in self.unmet)
                + "<br>Signing off needs a reason from the list and what you judged.")
        else:
            summary.setText("Every criterion is met.")
        # The nurse's documentation (issue 17): shown for the clinician to judge, recorded with
        # the sign-off; it does not add to what needs a reason.
        undocumented = [c for c in workflow.documentation_criteria() if c.met is not True]
        if undocumented:
            summary.setText(summary.text() + "<br><br>Documentation not complete:<br>" + "<br>".join(
                f"\u2717 {c.name}: {c.detail}" for c in undocumented))
        self.clinician = name_widget(QLineEdit(), "signoff.clinician", "Clinician name")
        self.clinician.setPlaceholderText("the clinician signing off (not the nurse signed in)")
        self.pin = name_widget(QLineEdit(), "signoff.pin", "Clinician PIN")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.reason_code = name_widget(QComboBox(), "signoff.reason_code", "Reason for signing off with unmet criteria")
        self.reason_code.addItem("choose the reason\u2026", None)
        for code, words in SIGN_OFF_REASONS.items():
            self.reason_code.addItem(words, code)
        self.reason = name_widget(QLineEdit(), "signoff.reason", "What was judged")
        self.reason.setPlaceholderText("what you judged, in a few words")
        self.error = message_label("signoff.error", "Sign-off message")
        buttons, self.ok = dialog_buttons(self, "Sign off discharge", "signoff.ok", self._accept,
                                          enter_submits=False)
        form = QFormLayout()
        form.addRow("Clinician", self.clinician)
        if self.needs_pin:
            form.addRow("PIN", self.pin)
        else:
            self.pin.hide()
        if self.unmet:
            form.addRow("Reason", self.reason_code)
            form.addRow("Judged", self.reason)
        else:
            self.reason_code.hide()
            self.reason.hide()
        box = QVBoxLayout(self)
        box.addWidget(summary)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(buttons)
        self.resize(760, 420)

    def _accept(self) -> None:
        try:
            self.workflow.sign_off(self.clinician.text(), reason=self.reason.text() or None,
                                   reason_code=self.reason_code.currentData(), pin=self.pin.text() or None)
        except WorkflowError as exc:
            self.error.setText(str(exc))
            return
        finally:
            self.pin.clear()  # never kept
        self.accept()
