"""Waveform strips in a nurse's units: ECG in mV with lead, gain, sweep and a 1 mV bar, pleth
auto-sized with no device counts, CO2 in mmHg with its top label clear; the rescale on wall
time; the HR tile's heart lit by each beat."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLabel

from console.clinical import load_protocol
from console.clock import FakeClock
from console.session import Session
from test_ui_window import Feed, normal_vitals
from wire_records import WaveformChunk

pytestmark = pytest.mark.gui


class Wall:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return FakeClock(start=100.0)


@pytest.fixture
def session(clock):
    return Session(load_protocol(), clock)


@pytest.fixture
def wall():
    return Wall()


@pytest.fixture
def window(qtbot, session, wall):
    from console.ui.main_window import MainWindow

    w = MainWindow(load_protocol(), session, None)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    for strip in w.monitor.waves.strips.values():
        strip.wall = wall
    yield w
    w.timer.stop()


def ecg(session, clock, seconds: float, amplitude_uv: int = 1000, beats_per_s: float = 1.0):
    """ECG at 250 Hz: a flat baseline with a narrow R wave of ``amplitude_uv`` once a beat."""
    feed = Feed(session, clock)
    for _ in range(int(seconds * 10)):
        clock.advance(0.1)
        start = round(clock.now() * 1000) - 100
        samples = []
        for i in range(25):
            t = (start / 1000) + i / 250
            phase = (t * beats_per_s) % 1.0
            samples.append(amplitude_uv if phase < 0.02 else 0)
        feed._put("vitals", WaveformChunk(feed._next("vitals"), start, "ECG", 250, samples))
    return feed


def pleth(session, clock, seconds: float):
    feed = Feed(session, clock)
    for _ in range(int(seconds * 4)):
        clock.advance(0.25)
        start = round(clock.now() * 1000) - 250
        samples = [int(2000 + 600 * np.sin(2 * np.pi * (start / 1000 + i / 100))) for i in range(25)]
        feed._put("vitals", WaveformChunk(feed._next("vitals"), start, "PLETH", 100, samples))


def test_ecg_is_drawn_in_millivolts_with_lead_gain_sweep_and_a_1_mv_bar(window, session, clock):
    normal_vitals(Feed(session, clock))
    ecg(session, clock, 4, amplitude_uv=2000)
    window.refresh(force=True)
    strip = window.monitor.waves.strips["ECG"]
    _x, y = strip.curve.getData()
    assert np.nanmax(y) == pytest.approx(2.0)  # 2000 uV shown as 2 mV
    caption = strip.caption.toPlainText()
    assert caption.startswith("ECG II") and "\u00d71" in caption and "sweep 8 s" in caption
    bx, by = strip.calibration.getData()
    assert bx[0] == bx[1] and by[1] - by[0] == pytest.approx(1.0)
    assert strip.calibration_text.toPlainText() == "1 mV"
    lo, hi = strip.getPlotItem().viewRange()[1]
    assert lo <= by[0] and by[1] <= hi  # the bar is on the strip
    assert hi - lo == pytest.approx(4.0)  # gain x1: 4 mV on the strip
    assert not strip.getPlotItem().getAxis("left").style["showValues"]  # no raw numbers


def test_a_small_ecg_gets_a_higher_gain_and_the_bar_grows_with_it(window, session, clock, wall):
    ecg(session, clock, 4, amplitude_uv=400)
    window.refresh(force=True)
    strip = window.monitor.waves.strips["ECG"]
    assert strip.gain == 4.0 and "\u00d74" in strip.caption.toPlainText()
    lo, hi = strip.getPlotItem().viewRange()[1]
    assert hi - lo == pytest.approx(1.0)


def test_pleth_is_auto_sized_without_device_counts(window, session, clock):
    pleth(session, clock, 4)
    window.refresh(force=True)
    strip = window.monitor.waves.strips["PLETH"]
    axis = strip.getPlotItem().getAxis("left")
    assert not axis.style["showValues"]
    _x, y = strip.curve.getData()
    lo, hi = strip.getPlotItem().viewRange()[1]
    assert lo <= np.nanmin(y) and np.nanmax(y) <= hi and (np.nanmax(y) - np.nanmin(y)) / (hi - lo) > 0.7


def test_co2_is_in_mmhg_and_its_top_label_is_not_cut_off(window, session, clock):
    strip = window.monitor.waves.strips["CO2"]
    axis = strip.getPlotItem().getAxis("left")
    lo, hi = strip.getPlotItem().viewRange()[1]
    ticks = [v for v, _text in axis._tickLevels[0]]
    assert ticks == [0, 20, 40, 60]
    px_per_mmhg = strip.getPlotItem().vb.height() / (hi - lo)
    half_text = axis.fontMetrics().height() / 2 if hasattr(axis, "fontMetrics") else 8
    assert (hi - 60) * px_per_mmhg >= half_text  # room for the upper half of "60"


def test_the_vertical_rescale_runs_on_wall_time_not_session_time(window, session, clock, wall):
    ecg(session, clock, 3, amplitude_uv=1000)
    window.refresh(force=True)
    strip = window.monitor.waves.strips["ECG"]
    before = strip.getPlotItem().viewRange()[1]
    ecg(session, clock, 9, amplitude_uv=400)  # 9 s of session time, no wall time: as at 60x
    window.refresh(force=True)
    assert strip.getPlotItem().viewRange()[1] == before
    wall.t += 2.1
    ecg(session, clock, 0.2, amplitude_uv=400)
    window.refresh(force=True)
    assert strip.getPlotItem().viewRange()[1] != before and strip.gain == 4.0


def test_the_hr_tile_heart_lights_on_each_beat(window, session, clock, wall):
    heart = window.findChild(QLabel, "tile.HR.beat")
    assert heart is not None and heart.accessibleName() == "Heart rate beat indicator"
    ecg(session, clock, 2.0, beats_per_s=1.0)  # beats at 100, 101, 102 s
    ecg(session, clock, 0.1)  # the beat at 102.0 s arrives
    window.refresh(force=True)
    assert heart.text() == "\u2665"
    wall.t += 0.2
    ecg(session, clock, 0.3)  # no beat in 102.1 .. 102.4 s
    window.refresh(force=True)
    assert heart.text() == ""
    ecg(session, clock, 0.7)  # the beat at 103 s
    window.refresh(force=True)
    assert heart.text() == "\u2665"
