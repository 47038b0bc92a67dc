"""The alarm system on the real window: bar, tile colours and flashing, buttons, dialogs,
the log, the audio-unavailable alarm, and link loss from a pty (fake clock where it can)."""

from __future__ import annotations

import os
import time
import tty

import pytest

from icl_lines import icl

pytest.importorskip("PySide6")

import itertools

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QPushButton

from console.alarms.engine import AlarmEngine
from console.app import Console
from console.clinical import load_protocol
from console.clock import FakeClock
from console.records import Received
from console.session import Session
from console.sources import ConnectionRequest, DeviceSpec
from console.ui.main_window import MainWindow
from wire_records import Sentence

pytestmark = pytest.mark.gui
NORMAL = dict(HR=72, PR=72, SPO2=98, PI=3.0, RR=14, ETCO2=38, TEMP=36.8)


class Bedside:
    def __init__(self, qtbot):
        self.clock = FakeClock(start=500.0)
        self.protocol = load_protocol()
        self.session = Session(self.protocol, self.clock)
        self.engine = AlarmEngine(self.protocol, user="nurse.a")
        self.window = MainWindow(self.protocol, self.session, None, self.engine)
        self.wall = 0.0
        self.window.flash_clock = lambda: self.wall
        qtbot.addWidget(self.window)
        self.window.resize(1280, 800)
        self.window.show()
        self.seq = 0

    def second(self, n=1, **override):
        for _ in range(n):
            self.clock.advance(1)
            self.seq += 1
            values = {**NORMAL, **override}
            self.session.ingest(Received("vitals", Sentence("VS", self.seq, int(self.clock.now() * 1000), values),
                                         self.clock.now(), self.clock.wall()))
            self.window.refresh(force=True)

    def find(self, cls, name):
        w = self.window.findChild(cls, name)
        assert w is not None, name
        return w


@pytest.fixture
def bed(qtbot):
    b = Bedside(qtbot)
    b.second(2)
    yield b
    b.window.timer.stop()


def test_medium_alarm_reaches_bar_and_tile(bed, artifacts_dir):
    bed.second(16, SPO2=88)
    row = bed.find(QPushButton, "alarms.physiological.row0")
    assert "MEDIUM" in row.text() and "SpO2 low" in row.text() and "88 %" in row.text()
    bed.wall = 0.1  # the lit phase of the flash
    bed.window.refresh(force=True)
    assert bed.window.monitor.tiles["SPO2"].alarm == "medium"
    assert bed.window.grab().save(str(artifacts_dir / "alarm-spo2-medium.png"))


def count_rising_edges(bed, tile, seconds=10.0, step=0.01):
    states, t = [], 0.0
    while t < seconds:
        bed.wall = t
        bed.window.monitor.show_alarm_colours(bed.engine, bed.window.lit)
        states.append(tile.alarm is not None)
        t += step
    edges = sum(1 for a, b in itertools.pairwise(states) if b and not a)
    return edges, sum(states) / len(states)


def test_flash_rates_measured_on_the_tile(bed):
    bed.second(6, SPO2=80)  # high
    edges, duty = count_rising_edges(bed, bed.window.monitor.tiles["SPO2"])
    assert 19 <= edges <= 21 and 0.45 <= duty <= 0.55  # 2 Hz, 50 %
    bed.second(16, TEMP=36.8, RR=31)  # medium on RR
    edges, duty = count_rising_edges(bed, bed.window.monitor.tiles["RR"])
    assert 5 <= edges <= 7  # 0.6 Hz
    bed.second(31, TEMP=38.9, RR=14)  # low on TEMP: steady
    edges, duty = count_rising_edges(bed, bed.window.monitor.tiles["TEMP"])
    assert duty == 1.0


def test_latched_alarm_goes_when_its_row_is_clicked(bed, qtbot):
    bed.second(6, SPO2=80)
    bed.second(5, SPO2=97)
    row = bed.find(QPushButton, "alarms.physiological.row0")
    assert "HIGH" in row.text() and "ended" in row.text()
    qtbot.mouseClick(row, Qt.MouseButton.LeftButton)
    assert "SpO2" not in row.text()
    assert bed.engine.log[-1].event == "acknowledge" and bed.engine.log[-1].user == "nurse.a"


def test_acknowledge_button_and_key(bed, qtbot):
    bed.second(16, SPO2=88)
    qtbot.mouseClick(bed.find(QPushButton, "alarms.acknowledge"), Qt.MouseButton.LeftButton)
    assert bed.engine.shown()[0].acknowledged
    text = bed.find(QPushButton, "alarms.physiological.row0").text()
    assert text.startswith("\u2713 MEDIUM") and "acknowledged by nurse.a" in text


def test_audio_pause_shows_its_state_and_expires_after_120_s(bed, qtbot):
    bed.second(16, SPO2=88)
    qtbot.mouseClick(bed.find(QPushButton, "alarms.pause"), Qt.MouseButton.LeftButton)
    assert "AUDIO PAUSED 2:00" in bed.find(QLabel, "alarms.state").text()
    bed.second(119, SPO2=88)
    assert "AUDIO PAUSED" in bed.find(QLabel, "alarms.state").text()
    bed.second(1, SPO2=88)
    assert "AUDIO PAUSED" not in bed.find(QLabel, "alarms.state").text()
    assert "SPO2.low" in [a.key for a in bed.engine.sounding(bed.clock.now())]


def test_alarm_off_dialog_needs_a_reason(bed, qtbot):
    qtbot.mouseClick(bed.find(QPushButton, "alarms.off"), Qt.MouseButton.LeftButton)
    dialog = bed.window.alarm_off_dialog
    combo = dialog.findChild(QComboBox, "alarmoff.metric")
    combo.setCurrentIndex(combo.findData("SPO2"))
    qtbot.mouseClick(dialog.findChild(QPushButton, "alarmoff.ok"), Qt.MouseButton.LeftButton)
    assert dialog.findChild(QLabel, "alarmoff.error").text() == "ALARM OFF needs a reason"
    qtbot.keyClicks(dialog.findChild(QLineEdit, "alarmoff.reason"), "repositioning probe")
    qtbot.mouseClick(dialog.findChild(QPushButton, "alarmoff.ok"), Qt.MouseButton.LeftButton)
    bed.second(1)
    assert "SpO2 ALARM OFF 14:59 (repositioning probe)" in bed.find(QLabel, "alarms.state").text()
    assert bed.find(QLabel, "tile.SPO2.limits").text().startswith("OFF")
    bed.second(20, SPO2=88)
    assert "SpO2" not in bed.find(QPushButton, "alarms.physiological.row0").text()


def test_limits_dialog_changes_a_limit_and_refuses_a_bad_one(bed, qtbot):
    qtbot.mouseClick(bed.find(QPushButton, "alarms.limits"), Qt.MouseButton.LeftButton)
    dialog = bed.window.limits_dialog
    hr_high = dialog.findChild(QDoubleSpinBox, "limits.HR.medium.above")
    hr_high.setValue(130)
    qtbot.mouseClick(dialog.findChild(QPushButton, "limits.apply"), Qt.MouseButton.LeftButton)
    assert bed.engine.limits.band("HR", "medium").above == 130
    change = [e for e in bed.engine.log if e.event == "limit_change"][-1]
    assert (change.user, change.limit, change.value) == ("nurse.a", 120, 130)
    bed.second(1)
    assert bed.find(QLabel, "tile.HR.limits").text() == "50\u2013130"
    qtbot.mouseClick(bed.find(QPushButton, "alarms.limits"), Qt.MouseButton.LeftButton)
    dialog = bed.window.limits_dialog
    dialog.findChild(QDoubleSpinBox, "limits.SPO2.high.below").setValue(92)
    qtbot.mouseClick(dialog.findChild(QPushButton, "limits.apply"), Qt.MouseButton.LeftButton)
    assert "beyond the medium" in dialog.findChild(QLabel, "limits.error").text()
    assert bed.engine.limits.band("SPO2", "high").below == 85


def test_alarm_log_tab_lists_actions_with_names(bed, qtbot):
    bed.second(16, SPO2=88)
    qtbot.mouseClick(bed.find(QPushButton, "alarms.acknowledge"), Qt.MouseButton.LeftButton)
    bed.window.tabs.setCurrentWidget(bed.window.alarm_log)
    bed.window.refresh(force=True)
    table = bed.window.alarm_log.table
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    spo2 = [r for r in rows if r[3] == "SpO2 low"]  # newest first
    assert spo2[0][1] == "acknowledge" and spo2[0][6] == "nurse.a"
    assert spo2[1][1] == "start" and spo2[1][4] == "88" and spo2[1][5] == "90"


def test_self_test_shows_each_priority(bed, qtbot):
    bed.window.start_self_test(seconds=0.2)
    bed.window.refresh(force=True)
    text = bed.find(QPushButton, "alarms.technical.row0").text() + bed.find(
        QPushButton, "alarms.technical.row1").text()
    assert "self-test: high" in text and "self-test: medium" in text
    qtbot.wait(300)
    bed.window.refresh(force=True)
    assert "self-test" not in bed.find(QPushButton, "alarms.technical.row0").text()


def test_no_audio_device_raises_a_visible_technical_alarm(bed, qtbot):
    from console.ui.audio import AlarmSound

    sound = AlarmSound(bed.window)
    bed.window.attach_sound(sound)
    qtbot.waitUntil(lambda: sound.reason != "audio output not checked yet", timeout=3000)
    bed.second(1)
    if sound.available:
        pytest.skip("this machine has a working audio output")
    alarm = next(a for a in bed.engine.shown() if a.key == "AUDIO")
    assert alarm.priority == "medium" and alarm.kind == "technical"
    assert "Audio output unavailable" in bed.find(QPushButton, "alarms.technical.row0").text()


def test_high_alarm_bursts_are_scheduled_through_the_window(bed, qtbot):
    from console.ui.audio import AlarmSound

    sound = AlarmSound(bed.window)
    bed.window.attach_sound(sound)
    bed.second(6, SPO2=80)
    bed.second(25, SPO2=80)
    bursts = [p.burst for p in sound.played if p.burst.reason == "alarm" and p.burst.priority == "high"]
    assert bursts and "SPO2.low" in bursts[0].keys
    starts = [b.start for b in bursts]
    assert starts[1] - starts[0] == pytest.approx(10, abs=1.0)  # repeated every 10 s of session


def test_vitals_link_loss_from_a_closed_pty_reaches_the_bar(qtbot, artifacts_dir):
    master, slave = os.openpty()
    tty.setraw(slave)
    console = Console(load_protocol(), None)
    console.connect(ConnectionRequest(vitals=DeviceSpec(os.ttyname(slave), "icl")))
    w = MainWindow(console.protocol, monitor=console.monitor)
    qtbot.addWidget(w)
    w.show()
    w.start()
    try:
        qtbot.waitUntil(lambda: console.sources.links["vitals"].state == "up", timeout=5000)
        os.write(master, icl("VS,1,1000,HR=70,SPO2=97"))
        qtbot.waitUntil(lambda: w.findChild(QLabel, "tile.HR.value").text() == "70", timeout=5000)
        os.close(master)
        os.close(slave)
        qtbot.waitUntil(lambda: "Vitals monitor link lost" in w.findChild(
            QPushButton, "alarms.technical.row0").text(), timeout=10_000)
        alarm = next(a for a in console.engine.shown() if a.key == "LINK.vitals")
        assert alarm.priority == "high"
        # in the very frame the bar says so, no tile shows an old value beside it
        assert w.findChild(QLabel, "tile.HR.value").text() == "---"
        time.sleep(0.01)
        assert w.grab().save(str(artifacts_dir / "alarm-link-lost.png"))
    finally:
        w.timer.stop()
        console.stop()


def test_recording_failure_raises_the_high_alarm_and_monitoring_goes_on(qtbot, tmp_path):
    import shutil

    record = tmp_path / "rec" / "session.sqlite"
    record.parent.mkdir()
    console = Console(load_protocol(), str(record))
    console.connect(ConnectionRequest(simulate="normal", seed=2, speed=30))
    w = MainWindow(console.protocol, monitor=console.monitor)
    qtbot.addWidget(w)
    w.show()
    w.start()
    try:
        qtbot.waitUntil(lambda: console.recorder.written["samples"] > 0, timeout=10_000)
        shutil.rmtree(record.parent)  # the disk goes away under the console
        record.parent.write_text("not a directory any more")
        qtbot.waitUntil(lambda: any(a.key == "RECORDING" for a in console.engine.shown()), timeout=15_000)
        alarm = next(a for a in console.engine.shown() if a.key == "RECORDING")
        assert (alarm.priority, alarm.kind) == ("high", "technical")
        before = console.session.items_ingested
        qtbot.waitUntil(lambda: console.session.items_ingested > before + 50, timeout=10_000)  # monitoring goes on
        assert w.findChild(QLabel, "tile.HR.value").text().isdigit()
    finally:
        w.timer.stop()
        console.stop()


# ---------------------------------------------------------------- issue 11: never blocked
DIALOG_OPENERS = ("open_alarm_off", "open_limits", "open_sign_in", "open_plan", "open_titrate",
                  "open_proceed", "open_end_infusion", "open_confirm_patient", "device_picker",
                  "infusion_started", "export_session", "vitals_export", "order_file",
                  # the nurse's documentation (issue 17), opened from the session tab's box
                  "documentation.open_checklist", "documentation.open_side_effect",
                  "documentation.open_intervention", "documentation.open_score",
                  "documentation.open_pump_check", "documentation.open_treatment")


@pytest.mark.parametrize("opener", DIALOG_OPENERS)
def test_alarm_keys_and_the_bar_work_with_each_dialog_open(bed, qtbot, opener):
    """F5 (audio pause) and F6 (acknowledge) while a session or alarm dialog has the focus,
    and the bar's rows take clicks: no dialog is modal."""
    from PySide6.QtWidgets import QApplication

    bed.second(16, SPO2=88)
    if opener == "device_picker":  # Ctrl+D, opened by the application's picker flow
        from console.app import PickerFlow

        dialog = PickerFlow(None, bed.window).open_picker()
    elif opener == "infusion_started":  # the session tab's nurse-recorded start (no pump data)
        from PySide6.QtWidgets import QDialog

        bed.window.workflow.sign_in("nurse.a")
        qtbot.mouseClick(bed.find(QPushButton, "infusion.start"), Qt.MouseButton.LeftButton)
        dialog = bed.find(QDialog, "infusionmark.start")
    elif opener == "export_session":  # Ctrl+E's folder chooser, on a recorded session
        from types import SimpleNamespace

        bed.window.console = SimpleNamespace(recorder=SimpleNamespace(flush=lambda: None, sync=lambda _s: True,
                                                                      path="unused.sqlite"))
        dialog = bed.window.export_session()
    elif opener == "vitals_export":  # the vital-signs table's Save as chooser
        dialog = bed.window.vitals_table.export_dialog()
    elif opener == "order_file":  # the plan dialog's "open an order file" chooser
        from PySide6.QtWidgets import QFileDialog

        plan = bed.window.open_plan()
        qtbot.mouseClick(plan.order_button, Qt.MouseButton.LeftButton)
        dialog = plan.findChild(QFileDialog, "plan.order_chooser")
    elif opener.startswith("documentation."):
        bed.window.workflow.sign_in("nurse.a")
        dialog = getattr(bed.window.session_panel.documentation, opener.split(".", 1)[1])()
    else:
        dialog = getattr(bed.window, opener)()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    focus = dialog.focusWidget() or dialog
    qtbot.keyClick(focus, Qt.Key.Key_F5)
    assert bed.engine.audio_paused_until is not None
    qtbot.keyClick(focus, Qt.Key.Key_F6)
    assert bed.engine.shown()[0].acknowledged
    assert QApplication.activeModalWidget() is None and not dialog.isModal()
    assert dialog.isVisible()  # the keys reached the alarms, the dialog stays as it was
    dialog.close()


def test_alarm_bar_row_acknowledges_with_a_dialog_open(bed, qtbot):
    bed.second(6, SPO2=80)
    bed.window.open_plan()
    row = bed.find(QPushButton, "alarms.physiological.row0")
    qtbot.mouseClick(row, Qt.MouseButton.LeftButton)
    assert bed.engine.shown()[0].acknowledged


def cuff(bed, sys_, dia):
    bed.clock.advance(1)
    bed.seq += 1
    values = {**NORMAL, "NIBP_SYS": sys_, "NIBP_DIA": dia, "NIBP_MEAN": (sys_ + 2 * dia) // 3,
              "NIBP_MS": int(bed.clock.now() * 1000)}
    bed.session.ingest(Received("vitals", Sentence("VS", bed.seq, int(bed.clock.now() * 1000), values),
                                bed.clock.now(), bed.clock.wall()))
    bed.window.refresh(force=True)


def test_the_tile_names_the_limit_the_alarm_crossed(bed, qtbot):
    """Issue 9: a tile label '90-160' beside an alarm 'limit 180' confused."""
    limits = bed.find(QLabel, "tile.NIBP.limits")
    assert limits.text() == "90\u2013160 / 50\u2013100"
    cuff(bed, 192, 95)
    assert "limit 180" in bed.find(QPushButton, "alarms.physiological.row0").text()
    assert limits.text() == "SYS > 180 high"
    bed.second(6, SPO2=84)
    assert bed.find(QLabel, "tile.SPO2.limits").text() == "< 85 high"
    qtbot.mouseClick(bed.find(QPushButton, "alarms.acknowledge"), Qt.MouseButton.LeftButton)
    cuff(bed, 150, 85)
    assert limits.text() == "90\u2013160 / 50\u2013100"



def test_the_most_urgent_alarms_are_readable_whole_at_1280x800(bed, qtbot, artifacts_dir):
    """Issue 9: '- ▲ ES' (ESCALATED), the reason a link was lost and '+1 more' hiding the
    EtCO2 alarm were cut. The most urgent row of each area shows, whole: priority, what,
    value and limit, then the reason; the rest is in its tooltip; the count has its own label."""
    from PySide6.QtGui import QFontMetrics

    from console.records import LinkEvent

    bed.second(1)
    bed.session.ingest(Received("pump", Sentence("PS", 1, int(bed.clock.now() * 1000),
                                                 {"PUMP_STATE": "RUNNING", "PUMP_ALARM": []}),
                                bed.clock.now(), bed.clock.wall()))
    bed.second(130, SPO2=84, ETCO2=12)  # SpO2 high escalates, EtCO2 low (low priority)
    bed.session.ingest(LinkEvent("pump", "down", "port /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_"
                                 "A50285BI-if00-port0 vanished (device unplugged?)", bed.clock.now()))
    bed.engine.set_condition("LINE", True, priority="low", message="Vitals monitor line errors: 12 % of "
                             "sentences rejected", now=bed.clock.now())
    bed.second(2, SPO2=84, ETCO2=12)
    qtbot.wait(50)  # the layout settles before looking
    bed.window.refresh(force=True)
    assert bed.window.grab().save(str(artifacts_dir / "alarm-bar-many-1280x800.png"))
    for area, words in (("physiological", ("\u25b2 HIGH", "SpO2 low", "84 %", "(limit 85)", "ESCALATED")),
                        ("technical", ("\u25b2 HIGH", "Pump link lost", "vanished (device unplugged?)"))):
        row = bed.find(QPushButton, f"alarms.{area}.row0")
        lines = row.text().split("\n")
        assert len(lines) == 2 and all(w in row.text() for w in words), row.text()
        metrics = QFontMetrics(row.font())
        assert all(metrics.horizontalAdvance(line) <= row.width() - 20 for line in lines), lines
        assert "since" in row.toolTip() and "Click to acknowledge" in row.toolTip()
    more = bed.find(QLabel, "alarms.physiological.more")
    assert more.isVisible() and more.text().startswith("+")
    assert "EtCO2 low" in more.accessibleDescription() or "EtCO2 low" in bed.find(
        QPushButton, "alarms.physiological.row1").text()
    assert not bed.find(QPushButton, "alarms.physiological.row1").text().startswith("(+")


@pytest.mark.parametrize(("sampling", "label"), [("nasal", "15\u201350"), ("airway", "25\u201350")])
def test_etco2_tile_shows_the_limits_the_engine_judges_by(qtbot, sampling, label):
    """Issue 9: the EtCO2 low limit by sampling (nasal 15, airway 25) agrees on the tile."""
    protocol = load_protocol().with_etco2_sampling(sampling)
    engine = AlarmEngine(protocol, user="nurse.a")
    window = MainWindow(protocol, Session(protocol, FakeClock(start=500.0)), None, engine)
    qtbot.addWidget(window)
    window.refresh(force=True)
    assert window.findChild(QLabel, "tile.ETCO2.limits").text() == label
    assert engine.limits.outer_range("ETCO2") == (float(label[:2]), 50.0)


def test_a_long_workflow_alarm_fits_its_row_what_first_the_names_after(bed, qtbot, artifacts_dir):
    """The pre-session checklist alarm ("Pump started with 6 pre-session checks unanswered:
    Consent signed and 5 more") ran past the row's edge at 1280x800, cut mid-word. Its words
    are shorter now; the words after a colon go to the second line, and a line still too long
    ends at a word with an ellipsis."""
    from PySide6.QtGui import QFontMetrics

    message = ("6 pre-session checks unanswered at pump start: Consent signed and witnessed by a "
               "second nurse and 5 more")
    bed.engine.set_condition("ADVISORY.CHECKLIST_UNANSWERED", True, priority="medium", message=message,
                             now=bed.clock.now())
    bed.engine.set_condition("ADVISORY.OTHER", True, priority="low", message="A second and equally long "
                             "advisory that names every one of the things a nurse has not done yet today",
                             now=bed.clock.now())
    bed.second(1)
    qtbot.wait(50)
    bed.window.refresh(force=True)
    assert bed.window.grab().save(str(artifacts_dir / "alarm-bar-long-workflow-1280x800.png"))
    area = "technical" if "CHECKLIST" in (bed.find(QPushButton, "alarms.technical.row0").property("alarm_key")
                                          or "") else "physiological"
    row0, row1 = (bed.find(QPushButton, f"alarms.{area}.row{i}") for i in (0, 1))
    head, detail = row0.text().split("\n")
    assert head == "MEDIUM  6 pre-session checks unanswered at pump start", head
    assert detail.startswith("Consent signed") and detail.endswith(("more", "\u2026")), detail
    metrics = QFontMetrics(row0.font())
    assert all(metrics.horizontalAdvance(line) <= row0.width() - 20 for line in (head, detail))
    assert message in row0.toolTip()  # the whole of it, a tap away
    one_line = row1.text()
    assert one_line.startswith("LOW  A second") and one_line.endswith("\u2026") and "\n" not in one_line
    assert QFontMetrics(row1.font()).horizontalAdvance(one_line) <= row1.width() - 20
