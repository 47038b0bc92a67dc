"""The window on live sources: the in-process simulator, a pty device that gets unplugged,
and the device picker connecting to a simulator over socket://."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tty

import numpy as np
import pytest

from icl_lines import icl

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QWidget

from console.app import Console, PickerFlow
from console.clinical import load_protocol
from console.sources import ConnectionRequest, DeviceSpec
from console.ui.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.integration]


@pytest.fixture
def console():
    c = Console(load_protocol(), None)
    yield c
    c.stop()


def make_window(qtbot, console):
    w = MainWindow(console.protocol, monitor=console.monitor)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.start()
    return w


def text(w, name):
    return w.findChild(QLabel, name).text()


def test_simulated_session_reaches_tiles_and_curves(qtbot, console, artifacts_dir):
    console.connect(ConnectionRequest(simulate="normal", seed=3, speed=60))
    w = make_window(qtbot, console)
    qtbot.waitUntil(lambda: text(w, "tile.HR.value").isdigit(), timeout=10_000)
    qtbot.waitUntil(lambda: console.session.now() > 400, timeout=20_000)  # past the start
    w.refresh(force=True)
    hr = int(text(w, "tile.HR.value"))
    assert 40 <= hr <= 140
    assert text(w, "tile.SPO2.value").isdigit()
    _x, y = w.monitor.waves.strips["ECG"].curve.getData()
    assert np.isfinite(y).sum() > 1000  # several seconds of 250 Hz ECG on the sweep
    _x, y = w.monitor.waves.strips["PLETH"].curve.getData()
    assert np.isfinite(y).sum() > 300
    assert w.findChild(QLabel, "session.simulation").isVisible()
    assert text(w, "session.simulation") == "SIMULATION"
    assert "normal" in w.findChild(QLabel, "session.simulation").toolTip()
    assert text(w, "pump.state") == "RUNNING"
    assert w.grab().save(str(artifacts_dir / "monitor-simulation-normal.png"))
    qtbot.mouseClick(w.tabs.tabBar(), Qt.MouseButton.LeftButton, pos=w.tabs.tabBar().tabRect(1).center())
    w.refresh(force=True)
    tx, _ty = w.trends.curves["HR"].getData()
    assert len(tx) > 300
    assert w.grab().save(str(artifacts_dir / "trends-simulation-normal.png"))
    devices_tab = w.tabs.tabBar().tabRect(w.tabs.indexOf(w.devices))
    qtbot.mouseClick(w.tabs.tabBar(), Qt.MouseButton.LeftButton, pos=devices_tab.center())
    w.refresh(force=True)
    assert text(w, "device.vitals.link") == "CONNECTED"
    assert "SIM-VM1" in text(w, "device.vitals.identity")
    assert w.grab().save(str(artifacts_dir / "devices-simulation.png"))


def test_window_survives_an_unplugged_device(qtbot, console, artifacts_dir):
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    console.connect(ConnectionRequest(vitals=DeviceSpec(path, "icl")))
    w = make_window(qtbot, console)
    qtbot.waitUntil(lambda: console.sources.links["vitals"].state == "up", timeout=5000)
    for seq in range(1, 4):
        os.write(master, icl(f"VS,{seq},{seq * 1000},HR=77,SPO2=96"))
        time.sleep(0.05)
    qtbot.waitUntil(lambda: text(w, "tile.HR.value") == "77", timeout=5000)
    os.close(master)  # the cable is pulled
    os.close(slave)
    qtbot.waitUntil(lambda: text(w, "tile.HR.value") == "---", timeout=10_000)
    assert text(w, "tile.HR.status") == "vitals link lost"
    w.tabs.setCurrentWidget(w.devices)
    qtbot.waitUntil(lambda: text(w, "device.vitals.link").startswith(("LINK LOST", "DISCONNECTED")),
                    timeout=5000)
    assert w.grab().save(str(artifacts_dir / "devices-unplugged.png"))
    assert w.isVisible()


def test_device_picker_connects_to_a_socket_simulator(qtbot, console):
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "--scenario", "normal", "--seed", "1", "--speed", "5",
         "--vitals", "tcp:0", "--pump", "tcp:0"],
        stdout=subprocess.PIPE, text=True)
    try:
        urls = {}
        while len(urls) < 2:
            line = sim.stdout.readline()
            assert line, "simulator ended before printing its ports"
            m = re.match(r"(vitals|pump): (socket://\S+)", line)
            if m:
                urls[m.group(1)] = m.group(2)
        w = make_window(qtbot, console)
        flow = PickerFlow(console, w)
        picker = flow.open_picker()
        qtbot.waitExposed(picker)
        vitals = picker.findChild(QComboBox, "picker.vitals.url")
        pump = picker.findChild(QComboBox, "picker.pump.url")
        vitals.lineEdit().clear()
        qtbot.keyClicks(vitals.lineEdit(), urls["vitals"])
        pump.lineEdit().clear()
        qtbot.keyClicks(pump.lineEdit(), urls["pump"])
        qtbot.mouseClick(picker.findChild(QPushButton, "picker.connect"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: text(w, "tile.HR.value").isdigit(), timeout=10_000)
        qtbot.waitUntil(lambda: text(w, "pump.state") not in ("---", "no data from pump"), timeout=10_000)
        assert not w.findChild(QLabel, "session.simulation").isVisible()  # real devices, as far as the console knows
        # remembered for next time, offered but not connected silently
        again = flow.open_picker()
        assert again.findChild(QComboBox, "picker.vitals.url").currentText() == urls["vitals"]
        again.reject()
    finally:
        sim.terminate()
        sim.wait(10)


def test_picker_refuses_an_empty_choice_with_a_message(qtbot, console):
    w = make_window(qtbot, console)
    flow = PickerFlow(console, w)
    picker = flow.open_picker()
    picker.findChild(QComboBox, "picker.vitals.url").lineEdit().clear()
    picker.findChild(QComboBox, "picker.pump.url").lineEdit().clear()
    qtbot.mouseClick(picker.findChild(QPushButton, "picker.connect"), Qt.MouseButton.LeftButton)
    assert "Choose a port" in picker.findChild(QLabel, "picker.error").text()
    assert console.sources is None
    picker.reject()


def test_picker_starts_a_training_simulation(qtbot, console):
    w = make_window(qtbot, console)
    flow = PickerFlow(console, w)
    picker = flow.open_picker()
    qtbot.mouseClick(picker.findChild(QPushButton, "picker.simulate"), Qt.MouseButton.LeftButton)
    assert console.sources is not None and console.sources.request.simulated
    qtbot.waitUntil(lambda: w.findChild(QLabel, "session.simulation").isVisible(), timeout=5000)


def test_picker_trains_on_the_emulated_intellivue(qtbot, console):
    """Training on a real monitor's protocol: chosen in the picker, the vitals come from the
    IntelliVue emulator over UDP, read by the real driver, and the tiles show them."""
    w = make_window(qtbot, console)
    flow = PickerFlow(console, w)
    picker = flow.open_picker()
    monitor = picker.findChild(QComboBox, "picker.simulated_monitor")
    assert monitor.accessibleName() == "Simulated monitor protocol"
    monitor.setCurrentIndex(monitor.findData("intellivue/udp"))
    assert monitor.currentText() == "Philips IntelliVue (Data Export), LAN (emulated)"
    pump = picker.findChild(QComboBox, "picker.simulated_pump")
    assert pump.accessibleName() == "Simulated pump protocol"
    pump.setCurrentIndex(pump.findData("bcc/tcp"))
    assert pump.currentIndex() > 0
    qtbot.mouseClick(picker.findChild(QPushButton, "picker.simulate"), Qt.MouseButton.LeftButton)
    request = console.sources.request
    assert request.simulated and request.simulate_vitals == "intellivue" and request.simulate_link == "udp"
    assert (request.simulate_pump, request.simulate_pump_link) == ("bcc", "tcp")
    link = console.sources.simulation.vitals_link
    qtbot.waitUntil(lambda: link.state == "up", timeout=10000)
    qtbot.waitUntil(lambda: "SPO2" in console.session.seen, timeout=15000)
    assert link.url.startswith("intellivue+udp://127.0.0.1:")
    assert "emulated intellivue" in console.sources.url("vitals")
    spo2 = w.findChild(QLabel, "tile.SPO2.value")
    qtbot.waitUntil(lambda: spo2.text().strip().isdigit(), timeout=10000)
    assert 90 <= int(spo2.text()) <= 100


def test_a_pump_rack_shows_each_pump_and_fits_the_window(qtbot, console, artifacts_dir):
    """Training through the emulated B. Braun rack (three pumps behind one SpaceStation): the
    devices tab has a card per pump, all connected, the others marked "not the plan's", and the
    window keeps its 1280 px (a row of four cards used to widen it to 1619)."""
    console.connect(ConnectionRequest(simulate="normal", speed=20, simulate_pump="bcc"))
    w = make_window(qtbot, console)
    w.tabs.setCurrentWidget(w.devices)
    qtbot.waitUntil(lambda: w.findChild(QWidget, "device.pump-slot3") is not None, timeout=15000)
    qtbot.waitUntil(lambda: text(w, "device.pump-slot3.link") == "CONNECTED", timeout=10000)
    for device in ("pump", "pump-slot1", "pump-slot3"):
        card = w.findChild(QWidget, f"device.{device}")
        qtbot.waitUntil(card.isVisible, timeout=2000)  # a card added to a shown layout shows at the next turn
        assert card.mapTo(w, card.rect().bottomRight()).x() <= w.width()
    assert text(w, "device.pump.link") == "CONNECTED"
    assert "in the rack behind the emulated bcc at bcc+tcp://127.0.0.1:" in text(w, "device.pump-slot3.url")
    assert w.findChild(QWidget, "device.pump-slot1").accessibleName() == "Pump slot1 (not the plan's) status"
    assert w.width() == 1280
    assert w.grab().save(str(artifacts_dir / "devices-bbraun-rack.png"))
    w.tabs.setCurrentWidget(w.monitor)
    qtbot.waitUntil(lambda: text(w, "pump.title") == "PUMP slot 2", timeout=3000)  # which pump of the rack
    qtbot.wait(200)  # the tab bar lays out the session tab's new title at the next turn
    assert w.grab().save(str(artifacts_dir / "monitor-bbraun-rack.png"))


def test_instructor_injections_reach_the_trainee_screen(qtbot, console, artifacts_dir):
    console.connect(ConnectionRequest(simulate="normal", seed=5, speed=30))
    w = make_window(qtbot, console)
    panel = w.open_instructor()
    qtbot.addWidget(panel)
    assert panel.isWindow() and panel.isVisible()
    qtbot.waitUntil(lambda: text(w, "tile.SPO2.value").isdigit(), timeout=10_000)
    qtbot.mouseClick(panel.findChild(QPushButton, "instructor.probe_off"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: text(w, "tile.SPO2.status") == "probe off", timeout=10_000)
    qtbot.waitUntil(lambda: "SpO2 probe off" in w.findChild(QPushButton, "alarms.technical.row0").text()
                    + w.findChild(QPushButton, "alarms.technical.row1").text(), timeout=10_000)
    qtbot.mouseClick(panel.findChild(QPushButton, "instructor.pump_alarm"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: text(w, "pump.state").startswith("ALARM"), timeout=10_000)
    assert "OCCLUSION" in text(w, "pump.state")
    # alarms are marked on the session timeline the trends draw
    assert any(e.kind == "alarm" and "probe off" in e.text for e in console.session.events)
    w.acknowledge_all()
    rows = panel.show_debrief()
    assert any("probe off" in r.message for r in rows)
    assert any(r.seconds_to_acknowledge is not None for r in rows)  # acknowledged, with the time it took
    assert panel.findChild(QLabel, "instructor.status").text().endswith("Pump occlusion injected")
    assert panel.grab().save(str(artifacts_dir / "instructor-panel.png"))
    panel.close()


def test_instructor_refuses_a_bad_event_with_a_message(qtbot, console):
    console.connect(ConnectionRequest(simulate="normal", seed=5, speed=30))
    w = make_window(qtbot, console)
    panel = w.open_instructor()
    qtbot.addWidget(panel)
    panel.inject("Nonsense", "no_such_event", {})
    assert panel.findChild(QLabel, "instructor.status").text().startswith("Not injected: unknown event")
    panel.close()

