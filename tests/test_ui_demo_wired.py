"""With the window's wiring (main_window_demo.patch): the tiles show the demo values, marked DEMO."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLabel

from console.clinical import load_protocol
from console.clock import FakeClock
from console.session import Session
from console.ui.main_window import MainWindow
from console.ui.tiles import DEMO_TEXT
from test_demo_data import DEMO, Monitor, numerics

pytestmark = pytest.mark.gui


def test_the_tiles_show_a_demo_monitors_values_marked_demo(qtbot):
    clock = FakeClock(start=100.0)
    session = Session(load_protocol(), clock)
    window = MainWindow(load_protocol(), session, None)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        mon = Monitor(session, clock, window.loop.engine)
        mon.seconds(20, numerics(30, 70, state=DEMO, cuff=(210, 125, 150)))
        window.refresh(force=True)
        text = {n: window.findChild(QLabel, n).text() for n in
                ("tile.HR.value", "tile.HR.status", "tile.SPO2.value", "tile.SPO2.status",
                 "tile.NIBP.value", "tile.NIBP.status", "tile.NIBP.MEAN")}
        assert text["tile.HR.value"] == "30" and text["tile.SPO2.value"] == "70"
        assert text["tile.NIBP.value"] == "210/125" and text["tile.NIBP.MEAN"] == "(150)"
        assert all(text[f"tile.{k}.status"].startswith(DEMO_TEXT) for k in ("HR", "SPO2", "NIBP"))
        assert not any(a.kind == "physiological" for a in window.loop.engine.shown())
        mon.seconds(1, numerics(72, 97))
        window.refresh(force=True)
        assert window.findChild(QLabel, "tile.HR.value").text() == "72"
        assert DEMO_TEXT not in window.findChild(QLabel, "tile.HR.status").text()
    finally:
        window.timer.stop()
