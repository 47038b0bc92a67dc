"""The nurse's documentation on the real session tab (issue 17): each dialog's widgets clicked
with qtbot, what the workflow recorded and what the tab then shows read back; the session bar's
treatment number; every control named for screen readers; the tab and each dialog at 1280x800
saved to test-artifacts/ for a person to look at, with no wrapped label cut."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QLineEdit, QPushButton, QRadioButton

from console.ui.main_window import MainWindow
from test_ui_plan_dialog import clipped_labels
from test_ui_session import unnamed_controls
from workflow_bed import Bed

pytestmark = pytest.mark.gui


@pytest.fixture
def ward(qtbot):
    b = Bed()
    w = MainWindow(b.protocol, b.session, None, b.engine, b.wf)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.tabs.setCurrentWidget(w.session_panel)
    w.refresh(force=True)
    b.window, b.qtbot = w, qtbot
    b.box = w.session_panel.documentation
    yield b
    w.timer.stop()


def child(parent, cls, name):
    found = parent.findChild(cls, name)
    assert found is not None, name
    return found


def click(b, parent, name, cls=QPushButton):
    widget = child(parent, cls, name)
    # A radio button takes a click on its circle or its text, not on the empty rest of its cell.
    at = QPoint(8, widget.height() // 2) if cls is QRadioButton else widget.rect().center()
    b.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=at)


def type_into(b, parent, name, text):
    field = child(parent, QLineEdit, name)
    field.clear()
    b.qtbot.keyClicks(field, text)


def choose(parent, name, data):
    combo = child(parent, QComboBox, name)
    combo.setCurrentIndex(combo.findData(data))


def summary(b) -> str:
    b.window.refresh(force=True)
    return child(b.window, QLabel, "documentation.summary").text()


def opened(b, button):
    """Click a documentation button on the tab; the dialog it opened."""
    click(b, b.window, button)
    dialog = b.box.dialog
    b.qtbot.waitExposed(dialog)
    assert not dialog.isModal()
    return dialog


def test_the_checklist_dialog_answers_each_check_with_who_and_when(ward):
    b = ward
    d = opened(b, "documentation.checklist")
    click(b, d, "checklist.consent.yes")
    assert b.wf.checklist_answers["consent"].answer == "yes"
    assert "yes \u00b7 Nurse Kim" in child(d, QLabel, "checklist.consent.state").text()
    click(b, d, "checklist.interacting_medicines.yes")  # yes needs the medicine and its last dose
    assert "last dose is needed" in child(d, QLabel, "checklist.error").text()
    assert "interacting_medicines" not in b.wf.checklist_answers
    assert not child(d, QPushButton, "checklist.interacting_medicines.yes").isChecked()  # refused: not shown as given
    assert child(d, QPushButton, "checklist.consent.yes").isChecked()
    type_into(b, d, "checklist.interacting_medicines.detail", "lorazepam 1 mg at 22:00")
    click(b, d, "checklist.interacting_medicines.yes")
    assert b.wf.checklist_answers["interacting_medicines"].detail == "lorazepam 1 mg at 22:00"
    assert child(d, QLabel, "checklist.error").text() == ""
    assert d.findChild(QPushButton, "checklist.consent.not_applicable") is None  # not offered for consent
    click(b, d, "checklist.pregnancy_test.not_applicable")
    assert "Checks: 3 of 6 required answered" in summary(b)
    type_into(b, d, "checklist.reason", "fasting and screen documented on paper")
    click(b, d, "checklist.proceed")
    assert b.wf.checklist_reason == "fasting and screen documented on paper"
    assert "reason recorded" in summary(b)
    timeline = child(b.window, type(b.window.session_panel.timeline), "session.timeline")
    assert "Proceeding with checks unanswered" in timeline.item(0).text()


def test_a_side_effect_and_a_drug_given_are_recorded_and_shown(ward):
    b = ward
    b.clock.advance(300)
    d = opened(b, "documentation.side_effect")
    choose(d, "sideeffect.kind", "other")
    click(b, d, "sideeffect.ok")
    assert "needed" in child(d, QLabel, "sideeffect.error").text() and d.isVisible()
    choose(d, "sideeffect.kind", "anxiety_panic")
    choose(d, "sideeffect.severity", "severe")
    click(b, d, "sideeffect.ok")
    assert not d.isVisible()
    assert [(s.kind, s.severity, s.user) for s in b.wf.side_effects] == [("anxiety_panic", "severe", "Nurse Kim")]
    d = opened(b, "documentation.intervention")
    choose(d, "intervention.drug", "clonidine")
    assert [child(d, QComboBox, "intervention.route").itemText(i)
            for i in range(child(d, QComboBox, "intervention.route").count())] == ["PO"]  # the drug's routes
    choose(d, "intervention.drug", "lorazepam")
    type_into(b, d, "intervention.dose", "1,000")
    click(b, d, "intervention.ok")
    assert "1,000" in child(d, QLabel, "intervention.error").text() and b.wf.interventions == []
    type_into(b, d, "intervention.dose", "1")
    choose(d, "intervention.route", "SL")
    type_into(b, d, "intervention.indication", "panic")
    click(b, d, "intervention.ok")
    given = b.wf.interventions[0]
    assert (given.drug, given.dose, given.unit, given.route, given.given_by, given.indication) == \
        ("lorazepam", 1.0, "mg", "SL", "Nurse Kim", "panic")
    text = summary(b)
    assert "anxiety or panic (severe)" in text and "lorazepam 1 mg SL" in text


def test_the_discharge_score_dialog_totals_and_records_every_item(ward):
    b = ward
    d = opened(b, "documentation.score")
    for key in ("activity", "respiration", "circulation", "consciousness"):
        click(b, d, f"dischargescore.{key}.2", QRadioButton)
    assert "1 item(s) not scored" in child(d, QLabel, "dischargescore.total").text()
    click(b, d, "dischargescore.ok")
    assert "SpO\u2082 is not scored" in child(d, QLabel, "dischargescore.error").text()
    assert b.wf.discharge_scores == []
    click(b, d, "dischargescore.spo2.0", QRadioButton)
    assert "Total 8/10 \u2013 below 9" in child(d, QLabel, "dischargescore.total").text()
    click(b, d, "dischargescore.spo2.1", QRadioButton)
    assert "Total 9/10 \u2013 meets" in child(d, QLabel, "dischargescore.total").text()
    click(b, d, "dischargescore.ok")
    assert b.wf.discharge_scores[-1].total == 9 and b.wf.discharge_scores[-1].items["spo2"] == 1
    assert "Modified Aldrete score 9/10" in summary(b)


def test_pump_check_and_treatment_number_show_on_the_tab_and_the_bar(ward):
    b = ward
    b.wf.set_plan(b.wf.plan or __import__("workflow_bed").PLAN, now=b.now)
    d = opened(b, "documentation.pump_check")
    type_into(b, d, "pumpcheck.value", "Nurse Kim")
    click(b, d, "pumpcheck.ok")
    assert "second person" in child(d, QLabel, "pumpcheck.error").text()
    type_into(b, d, "pumpcheck.value", "Nurse Lee")
    click(b, d, "pumpcheck.ok")
    assert b.wf.pump_checked_by == "Nurse Lee"
    assert "checked by <b>Nurse Lee</b>" in summary(b)
    bar = child(b.window, QLabel, "session.treatment")
    assert not bar.isVisible()
    d = opened(b, "documentation.treatment")
    type_into(b, d, "treatment.value", "0")
    click(b, d, "treatment.ok")
    assert "1 to 99" in child(d, QLabel, "treatment.error").text()
    type_into(b, d, "treatment.value", "3")
    click(b, d, "treatment.ok")
    b.window.refresh(force=True)
    assert bar.isVisible() and bar.text() == "Treatment 3"


def test_driving_and_instructions_buttons_are_discharge_criteria(ward):
    b = ward
    b.ready_baseline()
    b.start_pump()
    b.minutes(1)
    b.set_pump("COMPLETE")
    b.second(2)
    text = summary(b) and child(b.window, QLabel, "session.discharge").text()
    assert "No driving or machinery for 24 h: told" in text and "Pre-session checks answered" in text
    click(b, b.window, "session.driving")
    click(b, b.window, "session.instructions")
    assert b.wf.driving_acknowledged_by == "Nurse Kim" and b.wf.instructions_acknowledged_by == "Nurse Kim"
    b.window.refresh(force=True)
    text = child(b.window, QLabel, "session.discharge").text()
    assert "Written instructions given: <span style='color:#8b949e'>by Nurse Kim" in text


def test_the_tab_and_each_dialog_fit_1280x800_named_and_uncut(ward, artifacts_dir):
    b = ward
    b.wf.set_treatment_number("2", now=b.now)
    b.wf.answer_check("consent", "yes", now=b.now)
    b.wf.record_side_effect("nausea", "mild", now=b.now)
    b.window.refresh(force=True)
    QApplication.processEvents()
    assert b.window.grab().save(str(artifacts_dir / "documentation-session-tab.png"))
    panel = b.window.session_panel
    assert b.window.width() <= 1280 and panel.height() >= panel.minimumSizeHint().height()
    assert clipped_labels(panel) == []
    for opener in ("open_checklist", "open_side_effect", "open_intervention", "open_score", "open_pump_check",
                   "open_treatment"):
        dialog = getattr(b.box, opener)()
        b.qtbot.waitExposed(dialog)
        QApplication.processEvents()
        assert dialog.grab().save(str(artifacts_dir / f"documentation-{opener[5:]}.png"))
        assert dialog.width() <= 1280 and dialog.height() <= 800
        assert dialog.objectName() and dialog.accessibleName()
        assert unnamed_controls(dialog) == [], opener
        assert clipped_labels(dialog) == [], opener
        dialog.close()


def test_the_sign_off_dialog_shows_the_documentation_not_complete(ward):
    from console.ui.session_dialogs import SignOffDialog

    b = ward
    b.wf.acknowledge_driving_restriction(now=b.now)
    dialog = SignOffDialog(b.wf, b.window)
    b.qtbot.addWidget(dialog)
    text = child(dialog, QLabel, "signoff.criteria").text()
    assert "Documentation not complete" in text and "Written instructions given: not acknowledged" in text
    assert "No driving" not in text  # acknowledged: not listed
