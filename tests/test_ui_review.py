"""The review screen and replay through the monitor window (pytest-qt, offscreen)."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QSlider, QTableWidget

from choosers import cancel, choose
from console.clinical import load_protocol
from console.recording.replay import load_review
from console.ui.review import ReviewWindow
from replay_bed import record_session


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return record_session(tmp_path_factory.mktemp("rec") / "review.sqlite")


@pytest.fixture
def opened(recorded):
    """(review window, the replay windows it opened). Replays are closed after the test."""
    from console.app import open_replay

    protocol = load_protocol()
    review = load_review(recorded.path, protocol)
    return review, (lambda start, speed: open_replay(protocol, recorded.path, speed, start))


@pytest.fixture
def window(qtbot, opened):
    review, on_replay = opened
    w = ReviewWindow(review, on_replay)
    qtbot.addWidget(w)
    w.resize(1280, 860)
    w.show()
    yield w
    w.close()


def find(window, cls, name):
    widget = window.findChild(cls, name)
    assert widget is not None, name
    return widget


def test_the_review_shows_the_patient_and_says_it_is_not_live(window):
    banner = find(window, QLabel, "review.banner")
    assert "REVIEW" in banner.text() and "NOT LIVE" in banner.text() and banner.isVisible()
    assert "Maria Santos" in find(window, QLabel, "review.patient").text()
    assert "76 kg" in find(window, QLabel, "review.plan").text()
    assert "01:20" in find(window, QLabel, "review.duration").text()
    assert "closed normally" in find(window, QLabel, "review.state").text()
    assert "REVIEW" in window.windowTitle()


def test_the_scrubber_moves_the_waveform_window(window, qtbot):
    scrubber = find(window, QSlider, "review.scrubber")
    scrubber.setValue(50 * 10)
    qtbot.waitUntil(lambda: window.wave_time == 50.0)
    t, _v = window.waves.curves["ECG"].getData()
    assert 39.9 <= t[0] < 41.0 and 59.0 < t[-1] <= 60.0  # 10 s either side, read from the file
    assert window.waves.shown_span == (40.0, 60.0)
    assert find(window, QLabel, "review.time").text().startswith("00:50")
    assert "SpO2" in find(window, QLabel, "review.values").text()


def test_the_alarm_log_and_episodes_list_the_recorded_alarms(window, recorded):
    window.tabs.setCurrentWidget(window.alarm_log)
    log = find(window, QTableWidget, "alarmlog.table")
    assert log.rowCount() == len(recorded.engine.log)
    texts = [log.item(r, 3).text() for r in range(log.rowCount())]
    assert "SpO2 low" in texts
    episodes = find(window, QTableWidget, "review.episodes")
    row = next(r for r in range(episodes.rowCount()) if episodes.item(r, 4).text() == "SpO2 low")
    assert episodes.item(row, 2).text() == "high"
    episodes.cellClicked.emit(row, 0)  # a click jumps to the alarm
    assert window.time == pytest.approx(9.0)


def test_next_alarm_jumps_and_events_show_who_wrote_the_note(window):
    find(window, QAbstractButton, "review.next_alarm").click()
    assert window.time > 0
    events = find(window, QTableWidget, "review.events")
    rows = [[events.item(r, c).text() for c in range(4)] for r in range(events.rowCount())]
    assert ["00:40", "note", "patient drowsy, oxygen given", "Nurse Kim"] in rows


def test_export_from_the_button_writes_the_csv(window, tmp_path, monkeypatch):
    out = tmp_path / "export"
    out.mkdir()
    find(window, QAbstractButton, "review.export").click()
    choose(window.chooser, out)
    status = find(window, QLabel, "review.status").text()
    assert status.startswith("Exported to") and str(out) in status
    with open(out / "samples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {"time", "elapsed_s", "metric", "value", "unit", "source"} == set(rows[0])


def test_an_export_that_fails_says_why(window, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "samples.csv").write_text("an earlier export\n")  # never written over
    choose(window.export_csv(), taken)
    assert find(window, QLabel, "review.status").text().startswith("Export failed")
    assert (taken / "samples.csv").read_text() == "an earlier export\n"
    cancel(window.export_csv())
    assert "cancelled" in find(window, QLabel, "review.status").text()


def test_every_control_and_value_has_a_name(window):
    unnamed = []
    for cls in (QLabel, QAbstractButton, QComboBox, QSlider, QTableWidget):
        for widget in window.findChildren(cls):
            name = widget.objectName()
            if isinstance(widget, QLabel) and not name:
                continue  # static captions
            if cls is QAbstractButton and name == "qt_tableview_cornerbutton":
                continue  # Qt's own, hidden
            if not name or not widget.accessibleName():
                unnamed.append((type(widget).__name__, name))
    assert not unnamed, unnamed


def test_screenshot_of_the_review_at_the_desaturation(window, qtbot, artifacts_dir):
    window.set_time(20.0)
    qtbot.waitUntil(lambda: window.wave_time == 20.0)
    path = artifacts_dir / "review-desaturation.png"
    assert window.grab().save(str(path))
    window.tabs.setCurrentWidget(window.trends)
    qtbot.wait(50)
    assert window.grab().save(str(artifacts_dir / "review-trends.png"))


def test_replay_from_here_runs_the_monitor_window_to_the_tiles(window, qtbot, artifacts_dir):
    from console.ui.tiles import NumericTile

    window.speed.setCurrentIndex(window.speed.findData(10))
    window.set_time(20.0)
    replay = window.replay_from_here()
    assert replay is not None and replay in window.replays
    assert replay.loop.source.speed == 10.0
    qtbot.waitUntil(lambda: replay.session.now() > 24.0, timeout=5000)
    replay.refresh(force=True)
    hr = replay.findChild(NumericTile, "tile.HR")
    spo2 = replay.findChild(QLabel, "tile.SPO2.value")
    assert hr.value.text().strip().isdigit() and spo2.text().strip().isdigit()
    badge = replay.findChild(QLabel, "session.simulation")
    assert badge.isVisible() and badge.text() == "REPLAY \u2013 not live"
    assert "REPLAY" in replay.windowTitle() and "Maria Santos" in replay.findChild(QLabel, "session.patient").text()
    assert replay.sound is None  # a replay never sounds
    assert replay.grab().save(str(artifacts_dir / "replay-monitor.png"))
    source = replay.loop.source
    window.close()  # closing the review closes its replays; their sources stop
    qtbot.waitUntil(lambda: not source.is_alive(), timeout=3000)


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})


def test_cli_review_quits_and_saves_a_screenshot(recorded, artifacts_dir):
    shot = artifacts_dir / "review-cli.png"
    shot.unlink(missing_ok=True)
    out = run_cli("--review", str(recorded.path), "--quit-after", "1", "--screenshot", str(shot))
    assert out.returncode == 0, out.stderr
    assert shot.stat().st_size > 10_000


def test_cli_replay_runs_through_the_monitor_window(recorded, artifacts_dir):
    shot = artifacts_dir / "replay-cli.png"
    shot.unlink(missing_ok=True)
    out = run_cli("--review", str(recorded.path), "--replay", "--speed", "20", "--quit-after", "30",
                  "--screenshot", str(shot))
    assert out.returncode == 0, out.stderr
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("args, words", [
    (["--review", "{bad}"], "not an SQLite file"),
    (["--review", "{bad}", "--replay"], "not an SQLite file"),
    (["--replay"], "--replay needs --review"),
    (["--review", "{bad}", "--simulate", "normal"], "cannot be combined"),
])
def test_cli_review_of_what_cannot_be_read_exits_2(tmp_path, args, words):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a session")
    out = run_cli(*[a.replace("{bad}", str(bad)) for a in args])
    assert out.returncode == 2 and words in out.stderr


def test_ctrl_e_exports_the_live_session_after_writing_what_is_in_memory(qtbot, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from console.clock import FakeClock
    from console.recording import Recorder
    from console.records import Received
    from console.session import Session
    from console.ui.main_window import MainWindow
    from wire_records import Sentence

    protocol = load_protocol()
    clock = FakeClock()
    session = Session(protocol, clock)
    window = MainWindow(protocol, session, None)
    qtbot.addWidget(window)
    box = window.export_session()
    assert "not being recorded" in box.text()
    box.close()
    recorder = Recorder(tmp_path / "live.sqlite", clock, background=False)
    recorder.attach(session)
    clock.advance(0.5)  # before the flush interval: the sample is only in memory
    session.ingest(Received("vitals", Sentence("VS", 1, 500, {"HR": 71}), 0.5, clock.wall()))
    window.console = SimpleNamespace(recorder=recorder)
    out = tmp_path / "out"
    out.mkdir()
    choose(window.export_session(), out)
    box = window.export_box
    assert box.text().startswith("Exported to") and box.objectName() == "export.result"
    assert "HR,71" in (out / "samples.csv").read_text()
    box.close()
    recorder.close()


def test_replay_judges_alarms_with_the_limits_recorded_at_each_moment(qtbot, tmp_path):
    from console.app import open_replay
    from console.clinical import load_protocol
    from replay_bed import record_session

    rec = record_session(tmp_path / "limits.sqlite", seconds=30.0, limit_change_at=10.0)
    window = open_replay(load_protocol(), rec.path, speed=20, start=0.0)
    qtbot.addWidget(window)
    try:
        band = window.engine.limits.band("SPO2", "medium")
        assert band.below == 90  # as at the start of the session
        qtbot.waitUntil(lambda: window.session.now() > 12.0, timeout=10_000)
        qtbot.waitUntil(lambda: window.engine.limits.band("SPO2", "medium").below == 88, timeout=5_000)
    finally:
        window.close()


def test_after_a_crash_an_interactive_start_offers_to_resume(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from console.app import offer_resume
    from console.recording import default_session_dir
    from replay_bed import record_session

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    directory = default_session_dir()
    directory.mkdir(parents=True, exist_ok=True)
    crashed = record_session(directory / "session-crashed.sqlite", seconds=5.0, close=False)
    asked = []

    def answer() -> None:
        box = next((w for w in QApplication.topLevelWidgets() if w.objectName() == "resume" and w.isVisible()), None)
        if box is None:
            QTimer.singleShot(20, answer)
            return
        asked.append(box.text())
        box.button(QMessageBox.StandardButton.Yes).click()

    QTimer.singleShot(20, answer)
    assert offer_resume(None) == str(crashed.path)
    assert "stopped during a session" in asked[0] and "Maria Santos" in asked[0]


def test_recorded_waveforms_are_in_a_nurses_units(window, qtbot):
    # ECG in mV, not the device's microvolts; pleth without device counts on its axis.
    scrubber = find(window, QSlider, "review.scrubber")
    scrubber.setValue(50 * 10)
    qtbot.waitUntil(lambda: window.wave_time == 50.0)
    ecg = window.waves.items["ECG"].getAxis("left")
    assert "mV" in ecg.labelText and "\u00b5V" not in ecg.labelText
    _t, v = window.waves.curves["ECG"].getData()
    assert 0.2 < float(np.nanmax(v)) < 5.0  # an R wave in millivolts
    assert not window.waves.items["PLETH"].getAxis("left").style["showValues"]


def test_print_pdf_draws_the_chart_in_a_process_of_its_own(window, qtbot, tmp_path):
    """"Print / PDF...": the chart drawn by `infusion-console report` (never in the window's
    process: the window and its alarms do not wait), the answer in words."""
    out = tmp_path / "chart"  # the ".pdf" is added
    find(window, QAbstractButton, "review.chart").click()
    choose(window.chooser, out)
    status = find(window, QLabel, "review.status")
    qtbot.waitUntil(lambda: status.text().startswith("Session chart"), timeout=60_000)
    assert status.text() == f"Session chart written: {out}.pdf", status.text()
    text = subprocess.run(["pdftotext", f"{out}.pdf", "-"], capture_output=True, text=True, check=True).stdout
    assert "Session chart" in text
    choose(window.save_chart(), out)  # the same file again: never written over, and said
    qtbot.waitUntil(lambda: "not written" in status.text(), timeout=60_000)
    assert "exists" in status.text(), status.text()
