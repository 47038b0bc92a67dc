"""A source that reports in batches (an HL7 gateway, once a minute) on screen: each tile shows its
value's age, since a value a minute old is normal there and must look its age; a streaming
monitor's tiles show no age."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLabel

from console.clinical import load_protocol
from console.clock import FakeClock
from console.records import Received
from console.session import Session
from console.ui.main_window import MainWindow
from wire_records import Sentence

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("interval", [60.0, None])
def test_a_gateways_values_show_their_age_and_a_streams_do_not(qtbot, interval):
    clock = FakeClock(start=100.0)
    session = Session(load_protocol(), clock)
    session.set_report_interval("vitals", interval)
    window = MainWindow(load_protocol(), session, None)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    try:
        session.ingest(Received("vitals", Sentence("VS", 1, int(clock.now() * 1000), {"HR": 72, "SPO2": 97}),
                                clock.now(), clock.wall()))
        clock.advance(4.0)
        if interval:
            clock.advance(80.0)  # a report late by 20 s: still current, and says how old
        window.refresh(force=True)
        value = window.findChild(QLabel, "tile.HR.value")
        status = window.findChild(QLabel, "tile.HR.status")
        assert value is not None and status is not None and value.text() == "72"
        assert status.text() == ("1 min old" if interval else "")
    finally:
        window.close()


@pytest.mark.integration
def test_a_gateways_pcd01_over_mllp_drives_the_tiles(qtbot):
    """The real HL7 listener, the gateway emulator over TCP on loopback, the real window."""
    from simulator.hl7_gateway import GatewayEmulator
    from simulator.intellivue_source import FixedSource

    from console.bedside import Console
    from console.patient import Patient
    from console.sources import ConnectionRequest, DeviceSpec
    from hl7_engine import free_port
    from test_hl7_gateway import send_in_background
    from test_ui_hl7 import text, window

    port = free_port()
    console = Console(load_protocol(), record=False)
    console.connect(ConnectionRequest(vitals=DeviceSpec(f"tcp-listen://127.0.0.1:{port}?interval=30", "hl7")))
    try:
        w = window(qtbot, console)
        w.tabs.setCurrentIndex(0)
        gateway = GatewayEmulator(FixedSource(), Patient(patient_id="MRN1", name="A Patient"), interval_s=30)
        sender = send_in_background(gateway, port, 0.0)
        qtbot.waitUntil(lambda: text(w, "tile.HR.value") == f"{FixedSource().numerics(0).hr}", timeout=15000)
        sender.join(5)
        assert [a.code for a in gateway.acks] == ["AA"]
        assert text(w, "tile.HR.status").endswith(" old")  # a gateway's value shows its age
        assert text(w, "tile.SPO2.value") == f"{FixedSource().numerics(0).spo2}"
    finally:
        console.stop()
