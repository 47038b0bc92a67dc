"""Dialogs of the nurse's documentation (issue 17): the pre-session checklist, a side effect, a
drug given, the discharge score, who checked the pump, the treatment number.

Each is shown beside the window (``show_beside``: never modal, the alarm keys work with it
open). Each sends what was entered to the workflow, which records who and when and refuses bad
input in words; the refusal is shown in the dialog, which stays open.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from console.ui import theme
from console.ui.dialog_parts import dialog_buttons, message_label
from console.ui.tiles import name_widget
from console.ui.trends import clock_text
from console.workflow import SessionWorkflow, WorkflowError
from console.workflow_documentation import ANSWERS, SEVERITIES, SIDE_EFFECTS

TIME_HINT = "HH:MM, blank: now"
# The answer recorded stands out on its button (the state beside it says who and when), in a
# neutral colour: a "no" to consent is recorded, not approved.
ANSWER_STYLE = f"QPushButton:checked {{ background: {theme.TEXT}; color: #000; font-weight: bold; }}"
DIM = f"color: {theme.TEXT_DIM};"


def _attempt(error: QLabel, action: Callable[[], object]) -> bool:
    """Run a workflow action; its refusal goes into ``error`` (the dialog stays open)."""
    try:
        action()
    except WorkflowError as exc:
        error.setText(str(exc))
        return False
    error.setText("")
    return True


class ChecklistDialog(QDialog):
    """The site's pre-session checks, one row each: the question, Yes / No (/ N/A), the detail
    it asks for, and the answer recorded with who and when. Below, the reason to go on with
    required checks unanswered (the advisory at the pump's start asks for it)."""

    def __init__(self, workflow: SessionWorkflow, on_change: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pre-session checks")
        name_widget(self, "checklist", "Pre-session checks dialog")
        self.workflow = workflow
        self._on_change = on_change
        self.error = message_label("checklist.error", "Pre-session checks message")
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        self.details: dict[str, QLineEdit] = {}
        self.states: dict[str, QLabel] = {}
        self.answer_buttons: dict[tuple[str, str], QPushButton] = {}
        for row, item in enumerate(workflow.checklist):
            question = name_widget(QLabel(item.label + ("" if item.required else " (optional)")),
                                   f"checklist.{item.key}.label", item.label)
            question.setWordWrap(True)
            question.setMinimumWidth(300)
            grid.addWidget(question, row, 0)
            buttons = QHBoxLayout()
            for answer, text in (("yes", "Yes"), ("no", "No"), ("not_applicable", "N/A")):
                if answer == "not_applicable" and not item.not_applicable_allowed:
                    buttons.addSpacing(58)
                    continue
                b = name_widget(QPushButton(text), f"checklist.{item.key}.{answer}",
                                f"{item.label}: {ANSWERS[answer]}")
                b.setAutoDefault(False)
                b.setFixedWidth(54)
                b.setCheckable(True)
                b.setStyleSheet(ANSWER_STYLE)
                b.clicked.connect(lambda _=False, k=item.key, a=answer: self.answer(k, a))
                buttons.addWidget(b)
                self.answer_buttons[item.key, answer] = b
            grid.addLayout(buttons, row, 1)
            detail = name_widget(QLineEdit(), f"checklist.{item.key}.detail",
                                 f"{item.label}: {item.detail or 'detail'}")
            need = {"yes": " (needed with yes)", "no": " (needed with no)"}.get(item.detail_needed_when or "", "")
            detail.setPlaceholderText((item.detail or "detail, optional") + need)
            detail.setMinimumWidth(240)
            grid.addWidget(detail, row, 2)
            state = name_widget(QLabel(""), f"checklist.{item.key}.state", f"{item.label}: answer recorded")
            state.setMinimumWidth(230)
            state.setWordWrap(True)
            grid.addWidget(state, row, 3)
            self.details[item.key], self.states[item.key] = detail, state
        grid.setColumnStretch(2, 1)
        self.reason = name_widget(QLineEdit(), "checklist.reason", "Reason to proceed with checks unanswered")
        self.reason.setPlaceholderText("why the infusion goes on with required checks unanswered")
        proceed = name_widget(QPushButton("Proceed with checks unanswered"), "checklist.proceed",
                              "Proceed with checks unanswered")
        proceed.setAutoDefault(False)
        proceed.clicked.connect(self._proceed)
        reason_row = QHBoxLayout()
        reason_row.addWidget(self.reason, 1)
        reason_row.addWidget(proceed)
        close = name_widget(QPushButton("Close"), "checklist.close", "Close")
        close.setAutoDefault(False)
        close.clicked.connect(self.accept)
        box = QVBoxLayout(self)
        box.addLayout(grid)
        box.addLayout(reason_row)
        box.addWidget(self.error)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)
        box.addLayout(bottom)
        self.resize(1180, 400)
        self.refresh()

    def answer(self, key: str, answer: str) -> None:
        detail = self.details[key].text()
        if _attempt(self.error, lambda: self.workflow.answer_check(key, answer, detail)):
            self._on_change()
        self.refresh()  # a refused answer leaves its button as the record has it

    def _proceed(self) -> None:
        if _attempt(self.error, lambda: self.workflow.proceed_despite_checklist(self.reason.text())):
            self.reason.clear()
            self.refresh()
            self._on_change()

    def refresh(self) -> None:
        answers = self.workflow.checklist_answers
        for item in self.workflow.checklist:
            got = answers.get(item.key)
            for (key, answer), button in self.answer_buttons.items():
                if key == item.key:
                    button.setChecked(got is not None and got.answer == answer)
            label = self.states[item.key]
            if got is None:
                label.setText("unanswered" + (" (required)" if item.required else ""))
                label.setStyleSheet(f"color: {theme.ALARM_BG['medium']}; font-weight: bold;")
            else:
                label.setText(f"{ANSWERS[got.answer]} \u00b7 {got.user} at {clock_text(got.time)}")
                label.setStyleSheet(f"color: {theme.TEXT};")
                if got.detail and not self.details[item.key].text():
                    self.details[item.key].setText(got.detail)


class SideEffectDialog(QDialog):
    """A side effect: its kind, severity and when it began (a description for "other")."""

    def __init__(self, workflow: SessionWorkflow, on_change: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Side effect")
        name_widget(self, "sideeffect", "Side effect dialog")
        self.workflow = workflow
        self._on_change = on_change
        self.kind = name_widget(QComboBox(), "sideeffect.kind", "Side effect")
        for key, words in SIDE_EFFECTS.items():
            self.kind.addItem(words, key)
        self.severity = name_widget(QComboBox(), "sideeffect.severity", "Severity")
        for words in SEVERITIES:
            self.severity.addItem(words, words)
        self.time = name_widget(QLineEdit(), "sideeffect.time", "When it began (HH:MM)")
        self.time.setPlaceholderText(TIME_HINT)
        self.description = name_widget(QLineEdit(), "sideeffect.description", "Description")
        self.description.setPlaceholderText("what it was (needed for 'other')")
        self.error = message_label("sideeffect.error", "Side effect message")
        buttons, self.ok = dialog_buttons(self, "Record side effect", "sideeffect.ok", self._accept,
                                          enter_submits=False)
        form = QFormLayout()
        form.addRow("Side effect", self.kind)
        form.addRow("Severity", self.severity)
        form.addRow("Began at", self.time)
        form.addRow("Description", self.description)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(buttons)
        self.resize(560, 260)

    def _accept(self) -> None:
        wf = self.workflow

        def record() -> None:
            wf.record_side_effect(self.kind.currentData(), self.severity.currentData(),
                                  at=wf.session_time_of(self.time.text()), description=self.description.text())
        if _attempt(self.error, record):
            self._on_change()
            self.accept()


class InterventionDialog(QDialog):
    """A drug given from the site's list: dose, unit and route as offered for that drug, when,
    who gave it (blank: the signed-in nurse) and what for."""

    def __init__(self, workflow: SessionWorkflow, on_change: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Drug given")
        name_widget(self, "intervention", "Drug given dialog")
        self.workflow = workflow
        self._on_change = on_change
        self.drugs = {d.name: d for d in workflow.intervention_drugs}
        self.drug = name_widget(QComboBox(), "intervention.drug", "Drug")
        for name in self.drugs:
            self.drug.addItem(name, name)
        self.dose = name_widget(QLineEdit(), "intervention.dose", "Dose")
        self.dose.setPlaceholderText("e.g. 4")
        self.unit = name_widget(QComboBox(), "intervention.unit", "Unit")
        self.route = name_widget(QComboBox(), "intervention.route", "Route")
        self.time = name_widget(QLineEdit(), "intervention.time", "When it was given (HH:MM)")
        self.time.setPlaceholderText(TIME_HINT)
        self.given_by = name_widget(QLineEdit(), "intervention.given_by", "Given by")
        self.given_by.setPlaceholderText("blank: you")
        self.indication = name_widget(QLineEdit(), "intervention.indication", "Given for")
        self.indication.setPlaceholderText("e.g. nausea (optional)")
        self.error = message_label("intervention.error", "Drug given message")
        buttons, self.ok = dialog_buttons(self, "Record drug given", "intervention.ok", self._accept,
                                          enter_submits=False)
        self.drug.currentIndexChanged.connect(self._offer)
        dose_row = QHBoxLayout()
        dose_row.addWidget(self.dose, 1)
        dose_row.addWidget(self.unit)
        dose_row.addWidget(QLabel("Route"))
        dose_row.addWidget(self.route)
        form = QFormLayout()
        form.addRow("Drug", self.drug)
        form.addRow("Dose", dose_row)
        form.addRow("Given at", self.time)
        form.addRow("Given by", self.given_by)
        form.addRow("Given for", self.indication)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(buttons)
        self.resize(600, 300)
        self._offer()

    def _offer(self) -> None:
        """The units and routes the site lists for the drug chosen."""
        drug = self.drugs.get(self.drug.currentData())
        for combo, values in ((self.unit, drug.units if drug else ()), (self.route, drug.routes if drug else ())):
            combo.clear()
            for value in values:
                combo.addItem(value, value)

    def _accept(self) -> None:
        wf = self.workflow

        def record() -> None:
            wf.record_intervention(self.drug.currentData() or "", self.dose.text(), self.unit.currentData() or "",
                                   self.route.currentData() or "", at=wf.session_time_of(self.time.text()),
                                   given_by=self.given_by.text(), indication=self.indication.text())
        if _attempt(self.error, record):
            self._on_change()
            self.accept()


class DischargeScoreDialog(QDialog):
    """The discharge score of the protocol (modified Aldrete or PADSS): each item 0, 1 or 2
    with what each score means, the total live; recorded only with every item scored."""

    def __init__(self, workflow: SessionWorkflow, on_change: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        scale = workflow.score_scale
        self.minimum = workflow.protocol.documentation.discharge_score.minimum
        self.setWindowTitle(scale.label)
        name_widget(self, "dischargescore", f"{scale.label} dialog")
        self.workflow = workflow
        self._on_change = on_change
        self.groups: dict[str, QButtonGroup] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        for row, item in enumerate(scale.items):
            grid.addWidget(name_widget(QLabel(item.label), f"dischargescore.{item.key}.label", item.label), row, 0)
            group = QButtonGroup(self)
            for score in (2, 1, 0):
                b = name_widget(QRadioButton(f"{score}  {item.words[score]}"),
                                f"dischargescore.{item.key}.{score}", f"{item.label} {score}: {item.words[score]}")
                group.addButton(b, score)
                grid.addWidget(b, row, 1 + (2 - score))
            group.idClicked.connect(lambda _id: self._total())
            self.groups[item.key] = group
        self.total = name_widget(QLabel(""), "dischargescore.total", f"{scale.label} total")
        self.total.setStyleSheet("font-size: 16px; font-weight: bold;")
        source = QLabel(f"{scale.source}; each item 0-2, discharge needs {self.minimum} or more.")
        source.setStyleSheet(DIM)
        self.error = message_label("dischargescore.error", "Discharge score message")
        buttons, self.ok = dialog_buttons(self, "Record score", "dischargescore.ok", self._accept,
                                          enter_submits=False)
        box = QVBoxLayout(self)
        box.addLayout(grid)
        box.addWidget(source)
        box.addWidget(self.total)
        box.addWidget(self.error)
        box.addWidget(buttons)
        self.resize(1060, 300)
        self._total()

    def scores(self) -> dict[str, object]:
        return {key: group.checkedId() for key, group in self.groups.items() if group.checkedId() >= 0}

    def _total(self) -> None:
        given = self.scores()
        total = sum(int(v) for v in given.values())  # type: ignore[call-overload]
        missing = len(self.groups) - len(given)
        self.total.setText(f"Total {total}/10" + (f" \u2013 {missing} item(s) not scored" if missing else
                                                  (" \u2013 meets the criterion" if total >= self.minimum
                                                   else f" \u2013 below {self.minimum}")))

    def _accept(self) -> None:
        if _attempt(self.error, lambda: self.workflow.score_discharge(self.scores())):
            self._on_change()
            self.accept()


class NameDialog(QDialog):
    """One typed value handed to a workflow action (who checked the pump; the treatment
    number); the refusal is shown and the dialog stays open."""

    def __init__(self, title: str, question: str, label: str, action: Callable[[str], object],
                 on_change: Callable[[], None], parent: QWidget | None = None, *, name: str,
                 hint: str = "", value: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        name_widget(self, name, f"{title} dialog")
        self._action = action
        self._on_change = on_change
        text = QLabel(question)
        text.setWordWrap(True)
        self.value = name_widget(QLineEdit(value), f"{name}.value", label)
        self.value.setPlaceholderText(hint)
        self.error = message_label(f"{name}.error", f"{title} message")
        buttons, self.ok = dialog_buttons(self, title, f"{name}.ok", self._accept)
        form = QFormLayout()
        form.addRow(label, self.value)
        box = QVBoxLayout(self)
        box.addWidget(text)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(buttons)
        self.resize(560, 200)

    def _accept(self) -> None:
        if _attempt(self.error, lambda: self._action(self.value.text())):
            self._on_change()
            self.accept()
