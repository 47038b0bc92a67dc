"""The HL7 inbound driver over real TCP on loopback against the device-gateway emulator, read by
the same Console the window uses: what a gateway sends becomes the session's values (ACK AA), its
batches keep their values current between reports, and another patient's data is refused (AR)
with a technical alarm, once the session knows its patient."""

from __future__ import annotations

import threading
import time

import pytest
from simulator.hl7_gateway import GatewayEmulator
from simulator.intellivue_source import FixedSource

from console.bedside import Console
from console.clinical import load_protocol
from console.hl7.mllp import MllpClient
from console.patient import Patient
from console.sources import ConnectionRequest, DeviceSpec
from hl7_engine import free_port

pytestmark = pytest.mark.integration


def step_until(console: Console, condition, timeout: float = 10.0) -> float:
    end = time.monotonic() + timeout
    while True:
        now = console.monitor.step()
        if condition(now):
            return now
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def send_in_background(gateway: GatewayEmulator, port: int, t: float) -> threading.Thread:
    """One report from the gateway's side; the console keeps stepping meanwhile (it answers)."""
    def report() -> None:
        deadline = time.monotonic() + 5
        while True:  # the listener opens on the console's first steps
            client = MllpClient("127.0.0.1", port, timeout=5.0)
            try:
                if gateway.send(client, t) is not None or time.monotonic() > deadline:
                    return
            finally:
                client.close()
            time.sleep(0.1)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def bed():
    port = free_port()
    console = Console(load_protocol(), record=False)
    console.connect(ConnectionRequest(vitals=DeviceSpec(f"tcp-listen://127.0.0.1:{port}?interval=20", "hl7")))
    try:
        yield console, port
    finally:
        console.monitor.close()


def test_a_gateways_report_becomes_current_values_and_is_acknowledged(bed):
    console, port = bed
    gateway = GatewayEmulator(FixedSource(), Patient(patient_id="MRN123", name="Test Patient"), interval_s=20)
    sender = send_in_background(gateway, port, 0.0)
    now = step_until(console, lambda now: console.session.reading("HR", now).available)
    sender.join(5)
    assert [a.code for a in gateway.acks] == ["AA"], (gateway.acks, gateway.errors)
    assert console.session.reading("HR", now).value == FixedSource().numerics(0).hr
    assert console.session.device("vitals").report_interval_s == 20.0  # from the URL's interval
    # Between reports (here 20 s) the value stays current well past the streaming stale time.
    assert console.session.stale_after("vitals") == console.session.stale_s + 30.0


def test_another_patients_report_is_refused_with_a_technical_alarm(bed):
    console, port = bed
    console.workflow.sign_in("Nurse Test")
    console.workflow.identify(Patient(patient_id="MRN123", name="Test Patient"))
    step_until(console, lambda now: True)  # the session tells the listener its patient
    stranger = GatewayEmulator(FixedSource(), Patient(patient_id="MRN999", name="Someone Else"), interval_s=20)
    sender = send_in_background(stranger, port, 0.0)

    def alarmed(now: float) -> bool:
        return any("another patient" in a.message for a in console.engine.shown())

    now = step_until(console, lambda now: alarmed(now) and bool(stranger.acks))
    sender.join(5)
    assert [a.code for a in stranger.acks] == ["AR"]
    assert not console.session.reading("HR", now).available  # nothing of the stranger's is shown
    right = GatewayEmulator(FixedSource(), Patient(patient_id="MRN123", name="Test Patient"), interval_s=20)
    send_in_background(right, port, 20.0)
    # The value may be shown a moment before the gateway has read its ACK: wait for both.
    step_until(console, lambda now: console.session.reading("HR", now).available and bool(right.acks))
    assert [a.code for a in right.acks] == ["AA"]
