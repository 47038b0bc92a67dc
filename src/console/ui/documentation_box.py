"""The session tab's documentation box (issue 17): what has been documented at a glance (the
pre-session checks answered, who checked the pump, the treatment number, side effects and
drugs given, the discharge score) and the buttons that open each dialog beside the window."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton, QWidget

from console.ui import theme
from console.ui.dialog_parts import show_beside
from console.ui.documentation_dialogs import (
    ChecklistDialog,
    DischargeScoreDialog,
    InterventionDialog,
    NameDialog,
    SideEffectDialog,
)
from console.ui.tiles import name_widget
from console.ui.trends import clock_text
from console.workflow import SessionWorkflow
from console.workflow_documentation import SIDE_EFFECTS


def summary_html(wf: SessionWorkflow) -> str:
    """The documentation in a few lines, the gaps in the advisory colour."""
    warn = theme.ALARM_BG["medium"]
    missing = wf.unanswered_checks()
    total = len([i for i in wf.checklist if i.required])
    checks = (f"Checks: all {total} required answered" if not missing else
              f"<span style='color:{warn}'>Checks: {total - len(missing)} of {total} required answered</span>")
    if missing and wf.checklist_reason:
        checks += " (proceeding: reason recorded)"
    pump = (f"Pump programme checked by <b>{wf.pump_checked_by}</b> at {clock_text(wf.pump_checked_at or 0)}"
            if wf.pump_checked_by else f"<span style='color:{warn}'>Pump programme not checked by a second "
                                       "person</span>")
    treatment = f"Treatment {wf.treatment_number}" if wf.treatment_number else "Treatment number not given"
    effects = ", ".join(f"{s.description if s.kind == 'other' else SIDE_EFFECTS[s.kind]} ({s.severity})"
                        for s in wf.side_effects) or "none"
    drugs = ", ".join(f"{i.drug} {i.dose:g} {i.unit} {i.route}" for i in wf.interventions) or "none"
    score = wf.discharge_scores[-1] if wf.discharge_scores else None
    scored = (f"{wf.score_scale.label} {score.total}/10 at {clock_text(score.time)}" if score
              else f"{wf.score_scale.label}: not scored")
    return "<br>".join((f"{checks} \u00b7 {treatment}", f"{pump} \u00b7 {scored}",
                        f"Side effects: {effects} \u00b7 drugs given: {drugs}"))


class DocumentationBox(QGroupBox):
    """``workflow()`` gives the workflow in force; ``on_change()`` refreshes the tab."""

    def __init__(self, workflow: Callable[[], SessionWorkflow | None], on_change: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__("Documentation", parent)
        name_widget(self, "documentation", "Documentation")
        self._workflow = workflow
        self._on_change = on_change
        self.dialog: QWidget | None = None  # the one open (kept alive while shown)
        self.summary = name_widget(QLabel(""), "documentation.summary", "Documentation so far")
        self.summary.setWordWrap(True)
        grid = QGridLayout(self)
        grid.addWidget(self.summary, 0, 0, 1, 3)
        # Short labels (three to a row in the middle column); the spoken names say it whole.
        for i, (text, name, spoken, opener) in enumerate((
            ("Checks\u2026", "documentation.checklist", "Pre-session checks", self.open_checklist),
            ("Pump check\u2026", "documentation.pump_check", "Pump programme checked by", self.open_pump_check),
            ("Treatment no.\u2026", "documentation.treatment", "Treatment number", self.open_treatment),
            ("Side effect\u2026", "documentation.side_effect", "Side effect", self.open_side_effect),
            ("Drug given\u2026", "documentation.intervention", "Drug given", self.open_intervention),
            ("Discharge score\u2026", "documentation.score", "Discharge score", self.open_score),
        )):
            b = name_widget(QPushButton(text), name, spoken)
            b.setToolTip(spoken)
            b.clicked.connect(opener)
            grid.addWidget(b, 1 + i // 3, i % 3)

    def _show(self, dialog):
        dialog.accepted.connect(self._on_change)
        show_beside(dialog)  # never modal: monitoring and the alarm keys go on
        self.dialog = dialog
        return dialog

    def _wf(self) -> SessionWorkflow:
        wf = self._workflow()
        assert wf is not None  # the tab shows a workflow from the window's start
        return wf

    def open_checklist(self) -> ChecklistDialog:
        return self._show(ChecklistDialog(self._wf(), self._on_change, self))

    def open_side_effect(self) -> SideEffectDialog:
        return self._show(SideEffectDialog(self._wf(), self._on_change, self))

    def open_intervention(self) -> InterventionDialog:
        return self._show(InterventionDialog(self._wf(), self._on_change, self))

    def open_score(self) -> DischargeScoreDialog:
        return self._show(DischargeScoreDialog(self._wf(), self._on_change, self))

    def open_pump_check(self) -> NameDialog:
        wf = self._wf()
        return self._show(NameDialog("Pump checked by", "The second person who checked the pump's programme "
                                     "against the plan (rate, volume, concentration):", "Checked by",
                                     wf.pump_checked, self._on_change, self, name="pumpcheck",
                                     hint="a site user or a typed name, not you"))

    def open_treatment(self) -> NameDialog:
        wf = self._wf()
        return self._show(NameDialog("Treatment number", "This session's number within the patient's course "
                                     "of treatments:", "Treatment", wf.set_treatment_number, self._on_change, self,
                                     name="treatment", hint="e.g. 3",
                                     value=str(wf.treatment_number or "")))

    def refresh(self, wf: SessionWorkflow) -> None:
        self.summary.setText(summary_html(wf))
