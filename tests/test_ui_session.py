"""The ketamine session on real widgets: sign-in, the patient and plan dialog with its
guardrails, titration, charting, markers, and a whole simulated session through every phase
to the discharge sign-off, with qtbot filling the dialogs."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QPushButton

from console.alarms.engine import AlarmEngine
from console.app import Console
from console.clinical import load_protocol
from console.clock import FakeClock
from console.records import Received
from console.session import Session
from console.sources import ConnectionRequest
from console.ui.main_window import MainWindow
from console.workflow import Phase, SessionWorkflow
from wire_records import Sentence
from workflow_bed import answer_checklist, document_discharge

pytestmark = pytest.mark.gui
NORMAL = dict(HR=72, PR=72, SPO2=98, PI=3.0, RR=14, ETCO2=38, TEMP=36.8)


class Bedside:
    def __init__(self, qtbot):
        self.qtbot = qtbot
        self.clock = FakeClock(start=100.0)
        self.protocol = load_protocol()
        self.session = Session(self.protocol, self.clock)
        self.engine = AlarmEngine(self.protocol, user="os.user")
        self.workflow = SessionWorkflow(self.protocol, self.session, self.engine)
        self.window = MainWindow(self.protocol, self.session, None, self.engine, self.workflow)
        qtbot.addWidget(self.window)
        self.window.resize(1280, 800)
        self.window.show()
        self.seq = 0

    def second(self, n=1, **override):
        for _ in range(n):
            self.clock.advance(1)
            self.seq += 1
            rec = Sentence("VS", self.seq, int(self.clock.now() * 1000), {**NORMAL, **override})
            self.session.ingest(Received("vitals", rec, self.clock.now(), self.clock.wall()))
            self.window.refresh(force=True)

    def click(self, parent, name):
        button = parent.findChild(QPushButton, name)
        assert button is not None, name
        self.qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    def type(self, parent, name, text):
        field = parent.findChild(QLineEdit, name)
        assert field is not None, name
        field.clear()
        self.qtbot.keyClicks(field, text)


@pytest.fixture
def bed(qtbot):
    b = Bedside(qtbot)
    b.second(2)
    yield b
    b.window.timer.stop()


def sign_in(bed, name="Nurse Kim"):
    bed.click(bed.window, "session.signin")
    dialog = bed.window.dialog
    bed.type(dialog, "signin.name", name)
    bed.click(dialog, "signin.ok")
    return dialog


def fill_plan(bed, **values):
    bed.click(bed.window, "session.plan")
    dialog = bed.window.dialog
    fields = dict(patient_id="MRN-0042", patient_name="Alex Example", dob="1980-02-29", weight_kg="70",
                  dose_mg_per_kg="0.5", duration_min="40", bag_mg="35", bag_ml="50")
    fields.update(values)
    for key, text in fields.items():
        bed.type(dialog, f"plan.{key}", text)
    return dialog


def test_sign_in_names_every_later_action(bed):
    dialog = sign_in(bed)
    assert not dialog.isVisible()
    assert bed.workflow.user == "Nurse Kim" and bed.engine.user == "Nurse Kim"
    assert bed.window.findChild(QLabel, "session.user_badge").text() == "Nurse Kim"


def test_sign_in_without_a_name_says_so(bed):
    dialog = sign_in(bed, name="")
    assert dialog.isVisible() and dialog.findChild(QLabel, "signin.error").text()


def test_plan_dialog_computes_the_worked_example_live(bed):
    sign_in(bed)
    dialog = fill_plan(bed)
    computed = dialog.findChild(QLabel, "plan.computed").text()
    assert "Total 35.0 mg" in computed and "0.70 mg/mL" in computed and "rate 75.0 mL/h" in computed
    assert "0.75 mg/kg/h" in computed and "12.5 \u00b5g/kg/min" in computed
    bed.type(dialog, "plan.bag_ml", "100")
    assert "rate 150.0 mL/h" in dialog.findChild(QLabel, "plan.computed").text()
    bed.click(dialog, "plan.ok")
    assert bed.workflow.plan.rate_ml_per_h == pytest.approx(150)
    assert bed.workflow.patient.patient_id == "MRN-0042"
    bed.window.refresh(force=True)
    assert "Alex Example" in bed.window.findChild(QLabel, "session.patient").text()
    assert "Plan: 70 kg" in bed.window.findChild(QLabel, "pump.plan").text()


def test_bad_input_gets_a_message_beside_its_field(bed):
    sign_in(bed)
    dialog = fill_plan(bed, weight_kg="seventy", bag_ml="0")
    assert dialog.findChild(QLabel, "plan.weight_kg.message").text()
    assert dialog.findChild(QLabel, "plan.bag_ml.message").text()
    assert not dialog.findChild(QPushButton, "plan.ok").isEnabled()
    bed.type(dialog, "plan.dob", "12/04/1986")
    bed.type(dialog, "plan.weight_kg", "70")
    bed.type(dialog, "plan.bag_ml", "50")
    bed.click(dialog, "plan.ok")
    assert "YYYY-MM-DD" in dialog.findChild(QLabel, "plan.patient.error").text()
    assert bed.workflow.plan is None


def test_soft_limit_needs_a_reason_hard_limit_blocks(bed):
    sign_in(bed)
    dialog = fill_plan(bed, dose_mg_per_kg="0.8", bag_mg="56", bag_ml="50")
    reason = dialog.findChild(QLineEdit, "plan.dose_mg_per_kg.reason")
    assert reason.isVisible()
    assert "above the usual" in dialog.findChild(QLabel, "plan.dose_mg_per_kg.message").text()
    assert not dialog.findChild(QPushButton, "plan.ok").isEnabled()
    bed.type(dialog, "plan.dose_mg_per_kg.reason", "physician order after review")
    assert dialog.findChild(QPushButton, "plan.ok").isEnabled()
    bed.type(dialog, "plan.dose_mg_per_kg", "1.2")  # 84 mg from a 56 mg bag: refused twice over
    assert "hard limit" in dialog.findChild(QLabel, "plan.dose_mg_per_kg.message").text()
    assert not dialog.findChild(QPushButton, "plan.ok").isEnabled()
    bed.type(dialog, "plan.dose_mg_per_kg", "0.8")
    bed.click(dialog, "plan.ok")
    assert bed.workflow.overrides == {"dose_mg_per_kg": "physician order after review"}


def test_titration_through_the_dialog_amends_the_plan(bed):
    sign_in(bed)
    bed.click(fill_plan(bed), "plan.ok")
    bed.click(bed.window, "session.titrate")
    dialog = bed.window.dialog
    bed.type(dialog, "titrate.value", "fast")
    bed.type(dialog, "titrate.reason", "patient anxious")
    bed.click(dialog, "titrate.ok")
    assert "must be a number" in dialog.findChild(QLabel, "titrate.error").text()
    bed.type(dialog, "titrate.value", "1,000")  # ambiguous (CLINICAL.md section 1): never read as 1.0
    bed.click(dialog, "titrate.ok")
    assert "ambiguous" in dialog.findChild(QLabel, "titrate.error").text()
    assert bed.workflow.plan.rate_ml_per_h == pytest.approx(75)
    bed.type(dialog, "titrate.value", "60")
    bed.click(dialog, "titrate.ok")
    assert bed.workflow.plan.rate_ml_per_h == pytest.approx(60)
    assert any(ev.kind == "titration" and ev.user == "Nurse Kim" for ev in bed.workflow.timeline)


def test_charting_notes_and_one_key_markers_land_on_the_timeline(bed):
    sign_in(bed)
    bed.window.tabs.setCurrentWidget(bed.window.session_panel)
    bed.click(bed.window, "session.moaas.5")
    bed.type(bed.window, "session.gad7", "30")
    bed.click(bed.window, "session.gad7.save")
    assert "0" in bed.window.findChild(QLabel, "session.message").text()  # the allowed range, in words
    bed.type(bed.window, "session.gad7", "12")
    bed.click(bed.window, "session.gad7.save")
    bed.type(bed.window, "session.note", "patient asked for a blanket")
    bed.click(bed.window, "session.note.add")
    bed.window.activateWindow()
    bed.qtbot.keyClick(bed.window, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    kinds = [ev.kind for ev in bed.workflow.timeline]
    assert kinds.count("chart") == 2 and "note" in kinds and "marker" in kinds
    bed.window.refresh(force=True)
    timeline = bed.window.findChild(QListWidget, "session.timeline")
    assert "patient anxious" in timeline.item(0).text()  # the first configured marker, newest on top
    assert {e.kind for e in bed.session.events} >= {"chart", "note", "marker"}  # the trends mark them


def test_actions_need_a_signed_in_nurse(bed):
    bed.window.tabs.setCurrentWidget(bed.window.session_panel)
    bed.click(bed.window, "session.moaas.5")
    assert "sign" in bed.window.findChild(QLabel, "session.message").text().lower()
    assert not bed.workflow.charts


def test_patient_differing_from_the_order_needs_confirmation(bed, tmp_path):
    import json

    sign_in(bed)
    order = tmp_path / "order.json"
    order.write_text(json.dumps({"patient": {"patient_id": "MRN-1", "name": "Sam Order"},
                                 "plan": {"weight_kg": 70, "dose_mg_per_kg": 0.5, "duration_min": 40,
                                          "bag_mg": 35, "bag_ml": 50}}))
    bed.click(bed.window, "session.plan")
    dialog = bed.window.dialog
    assert dialog.load_order(str(order))
    bed.type(dialog, "plan.patient_id", "MRN-2")  # the wristband scanned says otherwise
    bed.click(dialog, "plan.ok")
    bed.window.refresh(force=True)
    assert "ID DIFFERS" in bed.window.findChild(QLabel, "session.patient").text()
    bed.click(bed.window, "session.confirm_patient")
    confirm = bed.window.dialog
    bed.type(confirm, "confirmpatient.reason", "wristband reprinted, ID checked with the patient")
    bed.click(confirm, "confirmpatient.ok")
    bed.window.refresh(force=True)
    assert "ID DIFFERS" not in bed.window.findChild(QLabel, "session.patient").text()


def test_a_whole_simulated_session_through_every_phase(qtbot, artifacts_dir):
    console = Console(load_protocol(), None)
    console.connect(ConnectionRequest(simulate="normal", seed=1, speed=300))
    w = MainWindow(console.protocol, monitor=console.monitor)
    w.console = console
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.start()
    bed = Bedside.__new__(Bedside)
    bed.qtbot, bed.window = qtbot, w
    wf = console.workflow
    seen = []
    wf.listeners.append(lambda ev: seen.append(ev.kind))
    try:
        sign_in(bed, "Nurse Ana")  # the nurse takes over from the training sign-in
        w.tabs.setCurrentWidget(w.session_panel)
        # The documentation's dialogs are clicked in tests/test_ui_documentation.py; here the
        # nurse's answers go in as those dialogs give them, so the sign-off can be without a reason.
        with console.monitor.lock:
            answer_checklist(wf, console.session.now())
        bed.type(w, "session.gad7", "14")
        bed.click(w, "session.gad7.save")
        qtbot.waitUntil(lambda: wf.phase == Phase.INFUSION, timeout=30_000)
        bed.click(w, "session.moaas.4")
        qtbot.waitUntil(lambda: wf.phase == Phase.RECOVERY, timeout=60_000)
        bed.type(w, "session.cadss", "8")
        bed.click(w, "session.cadss.save")
        qtbot.waitUntil(lambda: wf.phase == Phase.DISCHARGE_CHECK, timeout=60_000)
        console.sources.simulation.set_speed(1)  # the nurse's pace for the check
        bed.type(w, "session.cadss", "0")
        bed.click(w, "session.cadss.save")
        bed.click(w, "session.moaas.5")
        bed.type(w, "session.gad7", "6")
        bed.click(w, "session.gad7.save")
        bed.click(w, "session.escort")
        bed.click(w, "session.dissociation")
        with console.monitor.lock:
            document_discharge(wf, console.session.now())
        w.refresh(force=True)
        assert w.findChild(QLabel, "session.discharge").text()
        assert w.grab().save(str(artifacts_dir / "session-discharge-check.png"))
        bed.type(w, "session.clinician", "Dr Osei")
        bed.type(w, "session.signoff.reason", "reviewed at bedside")
        bed.click(w, "session.signoff")
        assert wf.phase == Phase.DISCHARGED, w.findChild(QLabel, "session.message").text()
        # Signed off: the chart is written beside the session file by a process of its own,
        # the frames (and the alarms) going on meanwhile, and the record says where it went.
        from console.ui.chart_job import chart_path_beside

        chart = chart_path_beside(console.recorder.path)
        message = w.findChild(QLabel, "session.message")
        qtbot.waitUntil(lambda: message.text().startswith("Session chart"), timeout=60_000)
        assert message.text() == f"Session chart written: {chart}" and chart.stat().st_mode & 0o777 == 0o600
        w.refresh(force=True)
        assert "DISCHARGED" in w.findChild(QLabel, "session.phase").text()
        assert {"switch_user", "chart", "phase", "sign_off"} <= set(seen)  # took over from the training sign-in
        assert any(ev.kind == "sign_off" and ev.user == "Nurse Ana" for ev in wf.timeline)
        record = console.recorder.path
    finally:
        w.timer.stop()
        console.stop()
    from console.recording.replay import load_review

    notes = [ev.text for ev in load_review(record, waveforms=False).events if ev.kind == "note"]
    assert f"Session chart written: {chart}" in notes


def unnamed_controls(root):
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QListWidget, QSpinBox

    kinds = (QAbstractButton, QComboBox, QLineEdit, QSpinBox, QListWidget)
    found = [w for cls in kinds for w in root.findChildren(cls)]
    labels = [w for w in root.findChildren(QLabel) if w.objectName()]  # named labels are values
    return [(type(w).__name__, w.objectName()) for w in found + labels
            if not w.objectName().startswith("qt_") and (not w.objectName() or not w.accessibleName())]


def test_every_dialog_names_its_controls_for_screen_readers(bed):
    from console.ui.devices import DevicePicker
    from console.ui.instructor import InstructorPanel

    dialogs = [bed.window.open_sign_in(), bed.window.open_plan(), bed.window.open_titrate(),
               bed.window.open_proceed(), bed.window.open_end_infusion(), bed.window.open_confirm_patient(),
               bed.window.open_alarm_off(), bed.window.open_limits(),
               DevicePicker([], [("normal", "a normal session")], bed.window)]
    panel = InstructorPanel(lambda *a, **k: None, lambda s: None, lambda: bed.engine, lambda: 0.0, "normal")
    bed.qtbot.addWidget(panel)
    for widget in [*dialogs, panel]:
        assert widget.objectName() and widget.accessibleName(), type(widget).__name__
        assert unnamed_controls(widget) == [], type(widget).__name__
        widget.close()
