"""The devices tab shows the hospital interface: per transaction its engine, what was delivered
and what waits, the last error, and why an interface is not running. A real console on the
simulator, a real MLLP listener (tests/hl7_engine.py), the real window read by widget names."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLabel, QWidget

from console.app import Console
from console.clinical import load_protocol
from console.site import SiteConfig
from console.sources import ConnectionRequest
from console.ui.main_window import MainWindow
from hl7_engine import Engine, free_port

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def site(port: int, training: bool = True) -> SiteConfig:
    return SiteConfig.model_validate({"chair": "Chair 3", "hl7": {
        "sending_facility": "KETAMINE_CLINIC", "retry_s": 0.5, "backlog_limit_s": 30,
        "engine": {"host": "127.0.0.1", "port": port, "training_engine": training}}})


def window(qtbot, console):
    w = MainWindow(console.protocol, monitor=console.monitor)
    w.console = console
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.start()
    w.tabs.setCurrentWidget(w.devices)
    return w


def text(w, name):
    return w.findChild(QLabel, name).text()


def test_the_devices_tab_shows_delivery_then_an_engine_that_went_away(qtbot, tmp_path, artifacts_dir):
    engine = Engine()
    port = engine.up()
    console = Console(load_protocol(), str(tmp_path / "s.sqlite"), site=site(port))
    try:
        console.connect(ConnectionRequest(simulate="normal", seed=2, speed=30))
        w = window(qtbot, console)
        card = w.findChild(QWidget, "interface.hl7")
        qtbot.waitUntil(card.isVisible, timeout=5000)
        qtbot.waitUntil(lambda: "delivered" in text(w, "interface.hl7.PCD-04")
                        and not text(w, "interface.hl7.PCD-04").startswith(f"to 127.0.0.1:{port}: 0 delivered"),
                        timeout=15000)
        assert text(w, "interface.hl7.PCD-01").startswith(f"to 127.0.0.1:{port}: ")
        assert card.accessibleName() == "Hospital interface (HL7) status"
        assert card.mapTo(w, card.rect().bottomRight()).y() <= w.height() and w.width() == 1280
        assert w.grab().save(str(artifacts_dir / "devices-hl7.png"))
        engine.down()  # the engine goes away: what is built waits, and the card says so
        qtbot.waitUntil(lambda: "engine unreachable" in text(w, "interface.hl7.PCD-01"), timeout=20000)
        assert "waiting" in text(w, "interface.hl7.PCD-01")
        assert "refused the connection" in text(w, "interface.hl7.PCD-01")
        # Only a backlog older than the site's limit (30 s here) is the technical alarm (low).
        qtbot.waitUntil(lambda: "SINK.HL7 interface" in console.engine.alarms, timeout=20000)
        alarm = console.engine.alarms["SINK.HL7 interface"]
        assert (alarm.kind, alarm.priority) == ("technical", "low")
        assert "waiting, the oldest" in alarm.message and "unreachable since" in alarm.message
        w.refresh(force=True)
        assert w.grab().save(str(artifacts_dir / "devices-hl7-engine-down.png"))
    finally:
        console.stop()
        engine.stop()


def test_a_training_session_pointed_at_a_real_engine_says_why_nothing_is_sent(qtbot, tmp_path):
    console = Console(load_protocol(), str(tmp_path / "s.sqlite"), site=site(free_port(), training=False))
    try:
        console.connect(ConnectionRequest(simulate="normal", seed=2, speed=10))
        w = window(qtbot, console)
        qtbot.waitUntil(w.findChild(QWidget, "interface.hl7").isVisible, timeout=5000)
        assert "not marked as a training engine" in text(w, "interface.hl7.note")
        assert not any(s for s in console.monitor.sinks if hasattr(s, "interface_state"))
        assert "HL7" not in console.engine.alarms  # training: said on the card, no alarm at every lesson
    finally:
        console.stop()
