"""The bedside Console with a site's central station (docs/central.md): a training session
publishes its chair to a real Mosquitto (TLS, password) and the devices tab says so; at the end
the chair goes idle and offline; a central section whose files cannot be used is a low technical
alarm with its reason, while monitoring goes on."""

from __future__ import annotations

import time

import pytest

from console.bedside import CENTRAL_ALARM, Console
from console.clinical import load_protocol
from console.site import load_site
from console.sources import ConnectionRequest
from mqtt_broker import running_broker
from test_central_publisher import SITE, Subscriber, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def broker():
    with running_broker(SITE, ("bed-1",)) as b:
        yield b


def site_file(tmp_path, broker, **central):
    import json

    (tmp_path / "pw").write_text(broker.users["bed-1"] + "\n")
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"site_name": SITE, "chair": "bed-1", "central": {
        "broker": broker.url, "username": "bed-1", "password_file": str(tmp_path / "pw"),
        "ca_file": broker.ca_file, "keepalive_s": 5, **central}}))
    return load_site(path)


def step_until(console: Console, condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        console.monitor.step()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_a_training_console_publishes_its_chair_then_goes_idle_and_offline(broker, tmp_path):
    central = Subscriber(broker)
    console = Console(load_protocol(), record=False, site=site_file(tmp_path, broker))
    try:
        console.connect(ConnectionRequest(simulate="normal", speed=10.0))
        assert console.central_note is None

        def live_state() -> bool:
            states = [p for p, _q, _r in central.of("state")]
            return bool(states) and states[-1]["active"] and states[-1]["metrics"]["HR"]["valid"]

        step_until(console, live_state)
        state = [p for p, _q, _r in central.of("state")][-1]
        assert state["simulated"] is True and state["bed"] == "bed-1" and state["phase"]["name"]
        publisher = next(s for s in console.monitor.sinks if hasattr(s, "station_state"))
        rows = dict(publisher.station_state())
        assert rows["link"] == "connected" and rows["broker"] == f"{broker.url} as bed-1"
        assert rows["topics"] == f"infusion/{SITE}/bed-1/#"
    finally:
        console.stop()
    wait_until(lambda: central.of("status")[-1][0]["status"] == "offline", what="offline at close")
    assert [p for p, _q, _r in central.of("state")][-1]["active"] is False
    central.stop()


def test_a_central_section_that_cannot_be_used_is_a_low_alarm_and_monitoring_goes_on(broker, tmp_path):
    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("this is not a certificate\n")
    console = Console(load_protocol(), record=False, site=site_file(tmp_path, broker, ca_file=str(not_a_ca)))
    try:
        console.connect(ConnectionRequest(simulate="normal", speed=10.0))
        assert console.central_note is not None and "TLS files" in console.central_note
        console.tick()
        alarm = console.engine.alarms[CENTRAL_ALARM]
        assert alarm.priority == "low" and alarm.kind == "technical" and "central station" in alarm.message
        step_until(console, lambda: console.session.reading("HR").available)  # the bedside monitors as before
    finally:
        console.stop()
