"""Issue 11: at 1280x800 nothing is cut. A running training session (patient, plan, pump
running) must fit the window: every tab's minimum size, and the whole patient banner."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLabel, QTabWidget

from console.app import Console
from console.clinical import load_protocol
from console.sources import ConnectionRequest
from console.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_a_running_session_fits_1280x800_with_the_whole_patient_banner(qtbot, tmp_path, artifacts_dir):
    console = Console(load_protocol(), str(tmp_path / "session.sqlite"))
    console.connect(ConnectionRequest(simulate="normal", seed=3, speed=300))
    w = MainWindow(console.protocol, monitor=console.monitor)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.start()
    try:
        qtbot.waitUntil(lambda: (console.session.word("PUMP_STATE") == "RUNNING"), timeout=20_000)
        w.refresh(force=True)
        tabs = w.findChild(QTabWidget, "tabs")
        for i in range(tabs.count()):
            tabs.setCurrentIndex(i)
            qtbot.wait(30)
            assert (w.width(), w.height()) == (1280, 800), tabs.tabText(i)
            hint = tabs.widget(i).minimumSizeHint()
            assert hint.width() <= tabs.widget(i).width(), (tabs.tabText(i), hint)
        patient = w.findChild(QLabel, "session.patient")
        assert "born" in patient.text()
        assert patient.sizeHint().width() <= patient.width(), patient.text()  # the banner is whole
        tabs.setCurrentIndex(0)
        qtbot.wait(30)
        assert w.grab().save(str(artifacts_dir / "monitor-running-1280x800.png"))
    finally:
        w.timer.stop()
        console.stop()
