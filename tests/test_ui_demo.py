"""A monitor in demo mode on screen: every value it sends is marked DEMO, never shown as the
patient's (the tile keeps its names; its text and spoken description say DEMO)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLabel

from console.clinical import load_protocol
from console.clock import FakeClock
from console.session import DEMO_REASON, Session
from console.ui import theme
from console.ui.main_window import MainWindow
from console.ui.tiles import DEMO_TEXT, UNAVAILABLE_TEXT, NumericTile
from test_demo_data import DEMO, Monitor, numerics

pytestmark = pytest.mark.gui


def test_a_tile_shows_a_demo_value_dimmed_and_marked_demo(qtbot):
    tile = NumericTile("HR", "HR", "/min", theme.PARAMETER["HR"], spoken="Heart rate")
    qtbot.addWidget(tile)
    tile.show_demo("72")
    assert (tile.objectName(), tile.accessibleName()) == ("tile.HR", "Heart rate tile")  # found as always
    assert (tile.value.objectName(), tile.value.accessibleName()) == ("tile.HR.value", "Heart rate value")
    assert tile.value.text() == "72" and tile.status.text().startswith(DEMO_TEXT)
    assert tile.accessibleDescription().startswith("Heart rate DEMO 72 /min")
    assert theme.UNAVAILABLE in tile.value.styleSheet() and theme.PARAMETER["HR"] not in tile.value.styleSheet()
    assert theme.SIMULATION in tile.status.styleSheet()
    tile.show_value("72")  # the monitor back to patient data: an ordinary value again
    assert tile.status.text() == "" and DEMO_TEXT not in tile.accessibleDescription()
    assert theme.PARAMETER["HR"] in tile.value.styleSheet() and theme.SIMULATION not in tile.status.styleSheet()
    tile.show_unavailable("no data")
    assert tile.value.text() == UNAVAILABLE_TEXT and theme.SIMULATION not in tile.status.styleSheet()


def test_the_window_never_shows_a_demo_value_as_the_patients(qtbot):
    clock = FakeClock(start=100.0)
    session = Session(load_protocol(), clock)
    window = MainWindow(load_protocol(), session, None)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    try:
        mon = Monitor(session, clock, window.loop.engine)
        mon.seconds(20, numerics(30, 70, state=DEMO))  # far below the HR and SpO2 limits
        window.refresh(force=True)
        for key, spoken in (("HR", "Heart rate"), ("SPO2", "Oxygen saturation")):
            tile = window.findChild(NumericTile, f"tile.{key}")
            status = window.findChild(QLabel, f"tile.{key}.status")
            assert tile is not None and status is not None
            assert DEMO_TEXT in status.text() and DEMO_TEXT in tile.accessibleDescription()
            assert tile.accessibleName() == f"{spoken} tile" and tile.alarm is None
        assert not any(a.kind == "physiological" for a in window.loop.engine.shown())
        assert session.reading("HR").reason == DEMO_REASON
    finally:
        window.timer.stop()
