"""The patient and plan dialog, the sign-in and the sign-off dialogs on real widgets (issue
11): a wristband scan's Enter moves on and never submits; an unchanged OK logs nothing;
ambiguous numbers, control characters and the weight basis in the dialog; and each dialog
saved at 1280x800 to test-artifacts/ to be looked at."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QPushButton

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.session import Session
from console.ui.session_dialogs import PatientPlanDialog, SignInDialog, SignOffDialog
from console.workflow import SessionWorkflow

pytestmark = pytest.mark.gui
ORDER = {"patient": {"patient_id": "MRN-1", "name": "Sam Order", "date_of_birth": "1980-01-02"},
         "plan": {"weight_kg": 70, "dose_mg_per_kg": 0.5, "duration_min": 40, "bag_mg": 35, "bag_ml": 50}}


@pytest.fixture
def wf():
    protocol = load_protocol()
    session = Session(protocol, FakeClock(start=100.0))
    workflow = SessionWorkflow(protocol, session, AlarmEngine(protocol, user="t"))
    workflow.sign_in("Nurse Kim")
    return workflow


def dialog_for(qtbot, wf):
    d = PatientPlanDialog(wf)
    qtbot.addWidget(d)
    d.show()
    return d


def field(d, name):
    w = d.findChild(QLineEdit, name)
    assert w is not None, name
    return w


def type_into(qtbot, d, name, text):
    w = field(d, name)
    w.clear()
    qtbot.keyClicks(w, text)
    return w


def test_a_wristband_scan_ending_in_enter_moves_to_the_name_and_submits_nothing(qtbot, wf, tmp_path):
    order = tmp_path / "order.json"
    order.write_text(json.dumps(ORDER))
    d = dialog_for(qtbot, wf)
    assert d.load_order(str(order))
    assert d.findChild(QPushButton, "plan.ok").isEnabled()  # everything is filled in: OK would succeed
    d.activateWindow()
    scan = type_into(qtbot, d, "plan.patient_id", "MRN-1")
    scan.setFocus()
    qtbot.keyClick(scan, Qt.Key.Key_Return)
    assert d.isVisible() and wf.patient is None
    assert d.focusWidget() is field(d, "plan.patient_name")
    qtbot.keyClick(field(d, "plan.patient_name"), Qt.Key.Key_Enter)
    assert d.isVisible() and d.focusWidget() is field(d, "plan.dob")
    qtbot.mouseClick(d.findChild(QPushButton, "plan.ok"), Qt.MouseButton.LeftButton)
    assert not d.isVisible() and wf.patient.patient_id == "MRN-1"


def test_ok_on_the_prefilled_dialog_logs_no_plan_change(qtbot, wf, tmp_path):
    order = tmp_path / "order.json"
    order.write_text(json.dumps({**ORDER, "plan": {**ORDER["plan"], "weight_kg": 70.125, "bag_mg": 36}}))
    first = dialog_for(qtbot, wf)
    assert first.load_order(str(order))
    qtbot.mouseClick(first.findChild(QPushButton, "plan.ok"), Qt.MouseButton.LeftButton)
    kinds = [e.kind for e in wf.timeline]
    again = dialog_for(qtbot, wf)  # arrives prefilled from the plan in force
    assert field(again, "plan.weight_kg").text() == "70.1250"  # never the ambiguous '70.125'
    qtbot.mouseClick(again.findChild(QPushButton, "plan.ok"), Qt.MouseButton.LeftButton)
    assert not again.isVisible()
    assert [e.kind for e in wf.timeline] == kinds
    assert not any(e.text.startswith("Plan replaced") for e in wf.timeline)


def test_the_dialog_refuses_an_ambiguous_number(qtbot, wf):
    d = dialog_for(qtbot, wf)
    for name, text in (("weight_kg", "70"), ("dose_mg_per_kg", "0,5"), ("duration_min", "40"),
                       ("bag_mg", "35"), ("bag_ml", "1,000")):
        type_into(qtbot, d, f"plan.{name}", text)
    assert "ambiguous" in d.findChild(QLabel, "plan.bag_ml.message").text()
    assert not d.findChild(QPushButton, "plan.ok").isEnabled()


def test_the_dialog_refuses_control_characters_in_the_name(qtbot, wf):
    d = dialog_for(qtbot, wf)
    for name, text in (("patient_id", "MRN-9"), ("weight_kg", "70"), ("dose_mg_per_kg", "0.5"),
                       ("duration_min", "40"), ("bag_mg", "35"), ("bag_ml", "50")):
        type_into(qtbot, d, f"plan.{name}", text)
    field(d, "plan.patient_name").setText("Alex \u202eMorgan")  # as a paste would put it
    qtbot.mouseClick(d.findChild(QPushButton, "plan.ok"), Qt.MouseButton.LeftButton)
    assert "invisible control character" in d.findChild(QLabel, "plan.patient.error").text()
    assert d.isVisible() and wf.patient is None


def test_above_the_bmi_threshold_the_dialog_asks_which_weight(qtbot, wf):
    d = dialog_for(qtbot, wf)
    for name, text in (("patient_id", "MRN-9"), ("patient_name", "Pat Heavy"), ("weight_kg", "120"),
                       ("dose_mg_per_kg", "0.5"), ("duration_min", "40"), ("bag_mg", "35"), ("bag_ml", "50"),
                       ("height_cm", "165")):
        type_into(qtbot, d, f"plan.{name}", text)
    sex = d.findChild(QComboBox, "plan.sex")
    sex.setCurrentIndex(sex.findData("female"))
    assert "BMI 44.1 is above 30" in d.findChild(QLabel, "plan.weight_basis.message").text()
    basis = d.findChild(QComboBox, "plan.weight_basis")
    assert [basis.itemData(i) for i in range(basis.count())] == ["actual", "ideal", "adjusted"]
    basis.setCurrentIndex(basis.findData("ideal"))
    basis.activated.emit(basis.currentIndex())
    type_into(qtbot, d, "plan.weight_basis_reason", "clinic protocol above BMI 30")
    info = d.findChild(QLabel, "plan.weight_basis.info").text()
    assert "BMI 44.1" in info and "45.5 kg + 0.9 kg per cm above 152.4 cm" in info
    computed = d.findChild(QLabel, "plan.computed").text()
    assert "ideal body weight (actual 120 kg)" in computed and "Total 28.4 mg" in computed
    qtbot.mouseClick(d.findChild(QPushButton, "plan.ok"), Qt.MouseButton.LeftButton)
    assert wf.plan.weight_basis == "ideal" and wf.plan.weight_kg == 120
    assert wf.plan.dosing_weight_kg == pytest.approx(45.5 + 0.9 * 12.6)


def test_below_the_ibw_height_only_actual_weight_is_offered(qtbot, wf):
    d = dialog_for(qtbot, wf)
    for name, text in (("weight_kg", "90"), ("dose_mg_per_kg", "0.5"), ("duration_min", "40"),
                       ("bag_mg", "45"), ("bag_ml", "50"), ("height_cm", "150")):
        type_into(qtbot, d, f"plan.{name}", text)
    sex = d.findChild(QComboBox, "plan.sex")
    sex.setCurrentIndex(sex.findData("male"))
    basis = d.findChild(QComboBox, "plan.weight_basis")
    assert [basis.itemData(i) for i in range(basis.count())] == ["actual"]
    assert "not defined below 152.4 cm" in d.findChild(QLabel, "plan.weight_basis.info").text()


def test_a_planned_start_typed_as_a_time_reaches_the_plan(qtbot, wf):
    d = dialog_for(qtbot, wf)
    for name, text in (("patient_id", "MRN-9"), ("patient_name", "Pat"), ("weight_kg", "70"),
                       ("dose_mg_per_kg", "0.5"), ("duration_min", "40"), ("bag_mg", "35"), ("bag_ml", "50"),
                       ("planned_start", "soon")):
        type_into(qtbot, d, f"plan.{name}", text)
    assert "Planned start 'soon'" in d.findChild(QLabel, "plan.planned_start.message").text()
    type_into(qtbot, d, "plan.planned_start", "09:30")
    qtbot.mouseClick(d.findChild(QPushButton, "plan.ok"), Qt.MouseButton.LeftButton)
    assert (wf.planned_start.hour, wf.planned_start.minute) == (9, 30)


# ---------------------------------------------------------------- looked at, at 1280x800
def shown_at_1280x800(qtbot, dialog):
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.width() <= 1280 and dialog.height() <= 800, (dialog.width(), dialog.height())
    return dialog


def clipped_labels(dialog):
    """Named labels whose text needs more height than they were given (cut at the bottom)."""
    out = []
    for label in dialog.findChildren(QLabel):
        shown = label.objectName() and label.isVisible() and label.text() and label.wordWrap()
        if shown and label.heightForWidth(label.width()) > label.height() + 1:
            out.append(label.objectName())
    return out


def test_the_plan_dialog_shows_every_message_uncut(qtbot, wf, artifacts_dir):
    d = shown_at_1280x800(qtbot, PatientPlanDialog(wf))
    for name, text in (("patient_id", "MRN-9"), ("patient_name", "Pat Heavy"), ("weight_kg", "160"),
                       ("dose_mg_per_kg", "0.8"), ("duration_min", "20"), ("bag_mg", "500"), ("bag_ml", "50"),
                       ("height_cm", "165")):
        type_into(qtbot, d, f"plan.{name}", text)
    sex = d.findChild(QComboBox, "plan.sex")
    sex.setCurrentIndex(sex.findData("female"))
    qtbot.wait(50)
    shown = [n for n in ("weight_kg", "dose_mg_per_kg", "duration_min", "dose_rate_mg_per_kg_per_h",
                         "concentration_mg_per_ml", "bag_excess_factor", "weight_basis")
             if d.findChild(QLabel, f"plan.{n}.message").text()]
    assert len(shown) == 7, shown
    assert clipped_labels(d) == []
    assert d.grab().save(str(artifacts_dir / "plan-dialog-messages.png"))


def test_the_sign_in_and_sign_off_dialogs_look_right(qtbot, wf, artifacts_dir):
    sign_in = shown_at_1280x800(qtbot, SignInDialog(wf.sign_in))
    assert clipped_labels(sign_in) == []
    assert sign_in.grab().save(str(artifacts_dir / "sign-in-dialog.png"))
    sign_off = shown_at_1280x800(qtbot, SignOffDialog(wf))
    assert sign_off.findChild(QComboBox, "signoff.reason_code").count() == 7
    qtbot.mouseClick(sign_off.findChild(QPushButton, "signoff.ok"), Qt.MouseButton.LeftButton)
    assert "clinician" in sign_off.findChild(QLabel, "signoff.error").text().lower()
    assert clipped_labels(sign_off) == []
    assert sign_off.grab().save(str(artifacts_dir / "sign-off-dialog.png"))


def test_the_window_shows_sign_in_not_verified_while_it_is(qtbot, artifacts_dir):
    from console.ui.main_window import MainWindow

    protocol = load_protocol()
    session = Session(protocol, FakeClock(start=100.0))
    engine = AlarmEngine(protocol, user="t")
    workflow = SessionWorkflow(protocol, session, engine)
    window = MainWindow(protocol, session, None, engine, workflow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    try:
        workflow.sign_in("Nurse Kim")
        window.refresh(force=True)
        notice = window.findChild(QLabel, "session.sign_in_notice")
        assert notice.isVisible() and notice.text() == "SIGN-IN NOT VERIFIED"
        assert notice.toolTip() == "Sign-in not verified: no users are configured for this console"
        assert window.grab().save(str(artifacts_dir / "window-sign-in-not-verified.png"))
    finally:
        window.timer.stop()


@pytest.mark.parametrize("with_users", [False, True])
def test_training_signs_in_the_os_user_only_without_site_users(with_users):
    from console.app import Console
    from console.site import SiteConfig, User
    from console.sources import ConnectionRequest
    from console.users import SiteUsers, hash_pin

    users = SiteUsers.from_site(SiteConfig(users=(User(name="Nurse Kim", role="nurse",
                                                       pin_hash=hash_pin("2468")),))) if with_users else None
    console = Console(load_protocol(), None, record=False, users=users)
    try:
        console.connect(ConnectionRequest(simulate="normal", seed=1, speed=1))
        wf = console.workflow
        if with_users:
            assert wf.user is None  # the trainee signs in as a site user, never as 'root (training)'
            wf.sign_in("Nurse Kim", "2468")
            assert wf.sign_in_verified
        else:
            assert wf.user.endswith("(training)") and wf.sign_in_notice == "Training: sign-in not verified"
    finally:
        console.stop()


def test_sign_off_with_unmet_criteria_goes_through_the_dialog(qtbot):
    from console.ui.session_panel import SessionPanel
    from test_workflow_charting import run_to_discharge_check
    from workflow_bed import Bed

    b = Bed()
    run_to_discharge_check(b)
    panel = SessionPanel(b.wf.marker_labels)
    qtbot.addWidget(panel)
    panel.set_workflow(b.wf)
    panel.show()
    type_into(qtbot, panel, "session.clinician", "Dr Rivera")
    qtbot.mouseClick(panel.findChild(QPushButton, "session.signoff"), Qt.MouseButton.LeftButton)
    dialog = panel.sign_off_dialog
    assert dialog.isVisible() and field(dialog, "signoff.clinician").text() == "Dr Rivera"
    assert "Not met or not judged" in dialog.findChild(QLabel, "signoff.criteria").text()
    type_into(qtbot, dialog, "signoff.reason", "ok")
    qtbot.mouseClick(dialog.findChild(QPushButton, "signoff.ok"), Qt.MouseButton.LeftButton)
    assert "choose the reason from the list" in dialog.findChild(QLabel, "signoff.error").text()
    codes = dialog.findChild(QComboBox, "signoff.reason_code")
    codes.setCurrentIndex(codes.findData("assessed"))
    qtbot.mouseClick(dialog.findChild(QPushButton, "signoff.ok"), Qt.MouseButton.LeftButton)
    assert "at least 3 words" in dialog.findChild(QLabel, "signoff.error").text()
    type_into(qtbot, dialog, "signoff.reason", "examined at the bedside, alert and walking")
    qtbot.mouseClick(dialog.findChild(QPushButton, "signoff.ok"), Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and b.wf.signed_off_by == "Dr Rivera"
