"""The pump panel says what is delivered now (issue 11) and what the delivered dose rests on
(issue 9), and the nurse's infusion start/end buttons on the session tab, on real widgets."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QTabWidget

from console.ui import theme
from console.ui.main_window import MainWindow
from console.ui.pump_panel import PumpPanel
from console.workflow import Phase
from test_pump_watch import ready_without_pump, vitals_only
from workflow_bed import Bed

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot):
    p = PumpPanel()
    qtbot.addWidget(p)
    p.setFixedWidth(470)  # as the monitor view lays it out
    p.show()
    return p


def shown(p: PumpPanel, key: str) -> str:
    return p.findChild(QLabel, f"pump.{key}").text()


def save(panel: PumpPanel, path) -> None:
    """The panel as laid out for what it shows now (the layout settles before the grab)."""
    panel.resize(470, panel.sizeHint().height())
    panel.layout().activate()
    panel.grab().save(str(path))


def running_bed() -> Bed:
    b = Bed()
    b.ready_baseline()
    b.start_pump()
    b.minutes(10)
    return b


def test_running_shows_delivered_and_programmed_dose_rate(panel, artifacts_dir):
    b = running_bed()
    panel.refresh(b.session, b.now)
    assert shown(panel, "rate") == "75.0 mL/h"
    assert shown(panel, "dose_rate") == "0.75 (set 0.75)"
    assert shown(panel, "state") == "RUNNING" and panel.values["state"].property("priority") == ""
    assert not panel.notes.isVisibleTo(panel)  # nothing to qualify
    save(panel, artifacts_dir / "pump_panel_running.png")


def test_stopped_with_an_occlusion_delivers_0_and_shows_the_alarm_in_its_priority_colour(panel, artifacts_dir):
    b = running_bed()
    b.set_pump("ALARM")
    b.pump["PUMP_ALARM"] = ["OCCLUSION"]
    b.second(2)
    panel.refresh(b.session, b.now)
    assert shown(panel, "rate") == "0.0 mL/h"
    assert shown(panel, "dose_rate") == "0.00 (set 0.75)"  # was "0.75 mg/kg/h" beside 0 mL/h
    state = panel.values["state"]
    assert state.text() == "ALARM \u2013 OCCLUSION" and state.property("priority") == "high"
    assert theme.ALARM_BG["high"] in state.styleSheet()
    save(panel, artifacts_dir / "pump_panel_occlusion.png")
    assert panel.minimumSizeHint().width() <= 470  # nothing clipped in the monitor's column
    b.pump["PUMP_ALARM"] = ["BATTERY"]
    b.set_pump("RUNNING")
    b.second(1)
    panel.refresh(b.session, b.now)
    assert state.property("priority") == "medium" and theme.ALARM_BG["medium"] in state.styleSheet()


def test_no_concentration_says_which_concentration_the_dose_uses(panel, artifacts_dir):
    b = Bed()
    b.ready_baseline()
    b.pump["PUMP_CONC"] = None  # mL/h mode
    b.start_pump()
    b.minutes(20)
    panel.refresh(b.session, b.now)
    vi = b.pump["PUMP_VI"]
    assert shown(panel, "dose") == f"{vi * 0.7:.1f} / 35.0 mg"  # was "--- / 35.0 mg"
    assert panel.notes.isVisibleTo(panel)
    assert "plan's 0.7 mg/mL" in shown(panel, "notes") and "no concentration" in shown(panel, "notes")
    assert shown(panel, "dose_rate") == "0.75 (set 0.75)"
    assert shown(panel, "drug") == "KETAMINE, no conc."
    save(panel, artifacts_dir / "pump_panel_no_concentration.png")
    assert panel.minimumSizeHint().width() <= 470


def test_start_estimated_after_a_link_gap_is_marked_on_the_panel(panel):
    b = Bed()
    b.ready_baseline()
    b.start_pump()
    vitals_only(b, 160)
    b.second(1)
    panel.refresh(b.session, b.now)
    assert shown(panel, "elapsed").startswith("~") and "est." in shown(panel, "elapsed")
    assert "(estimated)" in shown(panel, "notes")


# ---------------------------------------------------------------- the nurse's buttons
@pytest.fixture
def window(qtbot):
    b = Bed()
    w = MainWindow(b.protocol, b.session, None, b.engine, b.wf)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    tabs = w.findChild(QTabWidget)
    tabs.setCurrentWidget(w.session_panel)
    return b, w


def click(qtbot, parent, name):
    button = parent.findChild(QPushButton, name)
    assert button is not None, name
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_nurse_records_infusion_start_and_end_with_the_buttons(qtbot, window, artifacts_dir):
    b, w = window
    ready_without_pump(b)
    w.refresh(force=True)
    click(qtbot, w, "infusion.start")
    dialog = w.session_panel.infusion.dialog
    qtbot.waitUntil(dialog.isVisible)
    minutes = dialog.findChild(QLineEdit, "infusionmark.minutes_ago")
    minutes.clear()
    qtbot.keyClicks(minutes, "1")
    click(qtbot, dialog, "infusionmark.ok")
    assert b.wf.phase == Phase.INFUSION and b.wf.infusion_started == pytest.approx(b.now - 60)
    vitals_only(b, 40 * 60)
    w.refresh(force=True)
    click(qtbot, w, "infusion.end")
    dialog = w.session_panel.infusion.dialog
    qtbot.waitUntil(dialog.isVisible)
    volume = dialog.findChild(QLineEdit, "infusionmark.volume")
    qtbot.keyClicks(volume, "1,000")  # ambiguous: refused with words
    click(qtbot, dialog, "infusionmark.ok")
    assert "ambiguous" in dialog.findChild(QLabel, "infusionmark.error").text()
    dialog.grab().save(str(artifacts_dir / "infusion_mark_dialog.png"))
    assert b.wf.phase == Phase.INFUSION
    volume.clear()
    qtbot.keyClicks(volume, "50")
    click(qtbot, dialog, "infusionmark.ok")
    assert b.wf.phase == Phase.RECOVERY
    w.refresh(force=True)
    assert w.findChild(QLabel, "pump.dose").text() == "35.0 / 35.0 mg"
    assert "read off the pump by Nurse Kim" in w.findChild(QLabel, "pump.notes").text()
    w.grab().save(str(artifacts_dir / "session_infusion_controls.png"))
    w.findChild(QTabWidget).setCurrentWidget(w.monitor)
    w.refresh(force=True)
    w.grab().save(str(artifacts_dir / "monitor_pump_by_nurse.png"))


def test_the_buttons_are_refused_while_the_pump_reports(qtbot, window):
    b, w = window
    b.ready_baseline()
    w.refresh(force=True)
    click(qtbot, w, "infusion.no_interface")
    assert "reporting" in w.findChild(QLabel, "infusion.message").text()
    click(qtbot, w, "infusion.start")
    dialog = w.session_panel.infusion.dialog
    click(qtbot, dialog, "infusionmark.ok")
    assert "reporting" in dialog.findChild(QLabel, "infusionmark.error").text()
    assert b.wf.phase == Phase.BASELINE


def test_declaring_no_interface_shows_the_standing_notice(qtbot, window):
    b, w = window
    ready_without_pump(b)
    w.refresh(force=True)
    assert "NO_DATA.pump" in b.alarms()
    click(qtbot, w, "infusion.no_interface")
    vitals_only(b, 2)
    w.refresh(force=True)
    assert "NO_DATA.pump" not in b.alarms()
    assert "Pump without interface" in w.findChild(QLabel, "pump.notes").text()
