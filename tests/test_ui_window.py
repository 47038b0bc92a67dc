"""The window, driven by a session fed by hand on a fake clock: what a nurse sees."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLabel, QPushButton

from console.clinical import load_protocol
from console.clock import FakeClock
from console.dose import DosePlan
from console.patient import Patient
from console.records import LinkEvent, Received
from console.session import Session
from console.ui.main_window import MainWindow
from wire_records import Sentence, WaveformChunk

pytestmark = pytest.mark.gui


class Feed:
    """A vitals monitor and pump talking to the session, one simulated second at a time."""

    def __init__(self, session: Session, clock: FakeClock) -> None:
        self.s, self.c = session, clock
        self.seq = {"vitals": 0, "pump": 0}

    def _put(self, device, rec):
        self.s.ingest(Received(device, rec, self.c.now(), self.c.wall()))

    def _next(self, device):
        self.seq[device] += 1
        return self.seq[device]

    def vs(self, **values):
        self._put("vitals", Sentence("VS", self._next("vitals"), int(self.c.now() * 1000), values))

    def ps(self, **values):
        self._put("pump", Sentence("PS", self._next("pump"), int(self.c.now() * 1000), values))

    def ecg_second(self, level=100):
        """One second of ECG in ten 25-sample chunks, each arriving as its last sample is taken."""
        for _ in range(10):
            self.c.advance(0.1)
            samples = [level + (i % 5) for i in range(25)]
            ms = round(self.c.now() * 1000) - 100
            self._put("vitals", WaveformChunk(self._next("vitals"), ms, "ECG", 250, samples))


@pytest.fixture
def clock():
    return FakeClock(start=100.0)


@pytest.fixture
def session(clock):
    plan = DosePlan(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50)
    return Session(load_protocol(), clock, plan=plan,
                   patient=Patient(patient_id="MRN-0042", name="Alex Example"))


@pytest.fixture
def window(qtbot, session):
    w = MainWindow(load_protocol(), session, None)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.timer.stop()


def label(window, name) -> QLabel:
    found = window.findChild(QLabel, name)
    assert found is not None, f"no label named {name}"
    return found


def normal_vitals(feed):
    feed.vs(HR=72, PR=71, SPO2=98, PI=3.6, RR=14, ETCO2=38, TEMP=36.8, SPO2_PROBE="OK", ECG_LEADS="OK")


def test_values_reach_the_tiles(window, session, clock):
    feed = Feed(session, clock)
    normal_vitals(feed)
    window.refresh(force=True)
    assert label(window, "tile.HR.value").text() == "72"
    assert label(window, "tile.SPO2.value").text() == "98"
    assert label(window, "tile.SPO2.PR").text() == "71"
    assert label(window, "tile.SPO2.PI").text() == "3.6"
    assert label(window, "tile.RR.value").text() == "14"
    assert label(window, "tile.ETCO2.value").text() == "38"
    assert label(window, "tile.TEMP.value").text() == "36.8"
    assert label(window, "tile.HR.limits").text() == "50\u2013120"  # from the protocol file
    assert label(window, "tile.SPO2.limits").text() == "\u2265 90"
    assert "Alex Example" in label(window, "session.patient").text()
    assert not label(window, "session.simulation").isVisible()


def test_a_stale_metric_blanks_its_tile_and_says_why(window, session, clock):
    feed = Feed(session, clock)
    normal_vitals(feed)
    for _ in range(11):
        clock.advance(1)
        feed.vs(HR=72, RR=14, ETCO2=38, TEMP=36.8)  # SpO2 no longer sent
    window.refresh(force=True)
    assert label(window, "tile.SPO2.value").text() == "---"
    assert label(window, "tile.SPO2.status").text().startswith("no data for")
    assert label(window, "tile.HR.value").text() == "72"


def test_probe_off_shows_unavailable_not_the_last_value(window, session, clock):
    feed = Feed(session, clock)
    normal_vitals(feed)
    clock.advance(1)
    feed.vs(HR=72, SPO2=None, PR=None, SPO2_PROBE="OFF")
    window.refresh(force=True)
    assert label(window, "tile.SPO2.value").text() == "---"
    assert label(window, "tile.SPO2.status").text() == "probe off"
    assert label(window, "tile.SPO2.PR").text() == "---"


def test_link_loss_blanks_everything_and_the_waveforms(window, session, clock):
    feed = Feed(session, clock)
    normal_vitals(feed)
    feed.ecg_second()
    window.refresh(force=True)
    assert len(window.monitor.waves.strips["ECG"].curve.getData()[0]) > 0
    clock.advance(6)
    window.refresh(force=True)
    assert label(window, "tile.HR.status").text() == "vitals link lost"
    assert label(window, "tile.HR.value").text() == "---"
    x, _ = window.monitor.waves.strips["ECG"].curve.getData()
    assert x is None or len(x) == 0


def test_waveform_samples_reach_the_curve(window, session, clock):
    feed = Feed(session, clock)
    feed.ecg_second(level=500)
    window.refresh(force=True)
    x, y = window.monitor.waves.strips["ECG"].curve.getData()
    finite = y[np.isfinite(y)]
    assert len(finite) == 250
    assert np.allclose(np.unique(finite), [0.500, 0.501, 0.502, 0.503, 0.504])  # microvolts shown as mV
    assert np.nanmax(x) <= 8.0 and np.nanmin(x) >= 0.0  # folded into the sweep window


def test_a_dropout_leaves_a_gap_in_the_curve(window, session, clock):
    feed = Feed(session, clock)
    feed.ecg_second()
    clock.advance(1)  # one second of chunks lost on the line
    feed.ecg_second()
    window.refresh(force=True)
    x, y = window.monitor.waves.strips["ECG"].curve.getData()
    gaps = np.flatnonzero(np.isnan(y))
    assert gaps.size >= 1
    before, after = x[gaps[0] - 1], x[gaps[0] + 1]
    # no segment drawn across the missing second
    assert (after - before) % 8.0 == pytest.approx(1.004, abs=0.002)


def test_nibp_shows_value_mean_and_age(window, session, clock):
    feed = Feed(session, clock)
    feed.vs(NIBP_SYS=128, NIBP_DIA=82, NIBP_MEAN=97, NIBP_MS=int(clock.now() * 1000))
    clock.advance(12 * 60)
    feed.vs(HR=70)
    window.refresh(force=True)
    assert label(window, "tile.NIBP.value").text() == "128/82"
    assert label(window, "tile.NIBP.MEAN").text() == "(97)"
    assert label(window, "tile.NIBP.status").text().startswith("12 min ago")
    assert "cuff due now" in label(window, "tile.NIBP.status").text()


def test_pump_panel_against_the_plan(window, session, clock):
    feed = Feed(session, clock)
    feed.ps(PUMP_STATE="RUNNING", PUMP_DRUG="KETAMINE", PUMP_CONC=0.7, PUMP_RATE=75.0, PUMP_VTBI=50.0,
            PUMP_VI=0.0, PUMP_WEIGHT=70.0, PUMP_DOSE_RATE=0.75, PUMP_ALARM=[], PUMP_BATT=96)
    clock.advance(20 * 60)
    feed.ps(PUMP_STATE="RUNNING", PUMP_DRUG="KETAMINE", PUMP_CONC=0.7, PUMP_RATE=75.0, PUMP_VTBI=50.0,
            PUMP_VI=25.0, PUMP_WEIGHT=70.0, PUMP_DOSE_RATE=0.75, PUMP_ALARM=[], PUMP_BATT=95)
    window.refresh(force=True)
    assert label(window, "pump.rate").text() == "75.0 mL/h"
    assert label(window, "pump.volume").text() == "25.0 / 50.0 mL"
    assert label(window, "pump.dose").text() == "17.5 / 35.0 mg"
    assert label(window, "pump.dose_per_kg").text() == "0.25 / 0.50 mg/kg"
    assert label(window, "pump.battery").text() == "95 %"
    assert label(window, "pump.elapsed").text() == "20:00"
    assert label(window, "pump.remaining").text() == "20:00"
    assert window.monitor.pump.progress.value() == 500
    assert "Plan: 70 kg" in label(window, "pump.plan").text()


def test_pump_without_plan_shows_its_own_programme(qtbot, clock):
    session = Session(load_protocol(), clock)
    w = MainWindow(load_protocol(), session, None)
    qtbot.addWidget(w)
    Feed(session, clock).ps(PUMP_STATE="STOPPED", PUMP_CONC=0.7, PUMP_VTBI=50.0, PUMP_VI=0.0,
                            PUMP_WEIGHT=70.0, PUMP_ALARM=[])
    w.refresh(force=True)
    text = label(w, "pump.plan").text()
    assert text.startswith("No plan set") and "VTBI 50.0 mL" in text and "WEIGHT 70.0 kg" in text
    w.timer.stop()


def test_trends_show_the_session_and_read_out_values(window, session, clock, qtbot):
    feed = Feed(session, clock)
    for k in range(120):
        feed.vs(HR=60 + k % 30, SPO2=97, RR=14, ETCO2=38, TEMP=36.8)
        clock.advance(1)
    session.ingest(LinkEvent("vitals", "down", "port vanished", clock.now()))
    qtbot.mouseClick(window.tabs.tabBar(), __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton,
                     pos=window.tabs.tabBar().tabRect(1).center())
    assert window.tabs.currentWidget() is window.trends
    x, y = window.trends.curves["HR"].getData()
    assert len(x) == 121 and math.isnan(y[-1])
    text = window.trends.show_readout(150.0)
    assert "HR 110" not in text and "HR 80" in text and "SpO2 97" in text
    whole = window.findChild(QPushButton, "trends.whole")
    qtbot.mouseClick(whole, __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton)
    assert window.trends.follow


def test_every_displayed_value_has_a_name_for_screen_readers(window):
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit

    unnamed = []
    widgets = [w for cls in (QLabel, QAbstractButton, QComboBox, QLineEdit) for w in window.findChildren(cls)]
    for widget in widgets:
        name = widget.objectName()
        if isinstance(widget, QLabel) and not name:
            continue  # static captions ("Rate", "Session") are not values
        if not name or not widget.accessibleName():
            unnamed.append((type(widget).__name__, name, getattr(widget, "text", lambda: "")()))
    assert not unnamed, unnamed


def test_screenshot_of_the_monitor(window, session, clock, artifacts_dir):
    feed = Feed(session, clock)
    feed.vs(NIBP_SYS=128, NIBP_DIA=82, NIBP_MEAN=97, NIBP_MS=int(clock.now() * 1000))
    for _ in range(8):
        normal_vitals(feed)
        feed.ecg_second()
        clock.advance(1)
    window.refresh(force=True)
    path = artifacts_dir / "monitor-hand-fed.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10_000
