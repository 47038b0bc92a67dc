"""The devices tab shows the central station beside the hospital interface: where the chair
publishes, whether the broker has it, the alarm events it took and those waiting; a broker that
goes away is said in words. A real console on the simulator, a real Mosquitto and a real MLLP
listener, the real window read by widget names, at 1280x800 with both cards."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QWidget

from console.app import Console
from console.clinical import load_protocol
from console.site import SiteConfig
from console.sources import ConnectionRequest
from hl7_engine import Engine
from mqtt_broker import running_broker
from test_central_publisher import SITE
from test_ui_hl7 import text, window

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def test_the_devices_tab_shows_the_central_station_and_a_broker_that_went_away(qtbot, tmp_path, artifacts_dir):
    engine = Engine()
    port = engine.up()
    with running_broker(SITE, ("bed-1",)) as broker:
        site = SiteConfig.model_validate({"site_name": SITE, "chair": "bed-1", "hl7": {
            "sending_facility": "KETAMINE_CLINIC", "engine": {"host": "127.0.0.1", "port": port,
                                                              "training_engine": True}},
            "central": {"broker": broker.url, "username": "bed-1", "password": broker.users["bed-1"],
                        "ca_file": broker.ca_file, "keepalive_s": 5}})
        console = Console(load_protocol(), str(tmp_path / "s.sqlite"), site=site)
        try:
            console.connect(ConnectionRequest(simulate="normal", seed=2, speed=10))
            w = window(qtbot, console)
            card = w.findChild(QWidget, "interface.central")
            qtbot.waitUntil(card.isVisible, timeout=5000)
            qtbot.waitUntil(lambda: text(w, "interface.central.link") == "connected", timeout=15000)
            assert card.accessibleName() == "Central station status"
            assert text(w, "interface.central.broker") == f"{broker.url} as bed-1"
            assert text(w, "interface.central.topics") == f"infusion/{SITE}/bed-1/#"
            assert "taken by the broker" in text(w, "interface.central.alarms")
            assert "second screen" in text(w, "interface.central.note")
            assert w.findChild(QWidget, "interface.hl7").isVisible()
            assert card.mapTo(w, card.rect().bottomRight()).y() <= w.height() and w.width() == 1280
            assert w.grab().save(str(artifacts_dir / "devices-central.png"))
            broker.stop()  # the broker goes away: monitoring goes on, the card says why
            qtbot.waitUntil(lambda: text(w, "interface.central.link").startswith("cannot be reached"),
                            timeout=20000)
            assert console.session.reading("HR").available
            qtbot.waitUntil(lambda: "SINK.central station" in console.engine.alarms, timeout=20000)
            alarm = console.engine.alarms["SINK.central station"]
            assert (alarm.kind, alarm.priority) == ("technical", "low")
            assert alarm.message.startswith("central station cannot be reached")
            w.refresh(force=True)
            assert w.grab().save(str(artifacts_dir / "devices-central-broker-down.png"))
        finally:
            console.stop()
            engine.stop()
