"""Training on a real protocol: ``--simulate NAME --vitals-protocol intellivue|masimo`` serves the
simulated patient through the device's emulator (simulator.emulated) over a real transport, and
the console's real driver reads it, while the pump stays in-process. The same Console the window
and ``record`` use, headless."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from console.alarms.engine import sounds
from console.bedside import Console
from console.clinical import load_protocol
from console.drivers import driver
from console.records import LinkEvent
from console.session import NibpReading
from console.session_checks import valid_cuff
from console.sources import ConnectionRequest, check_request
from console.transport import DeviceLink
from transport_helpers import Collector, wait_for

BASELINE_S = 300.0  # the normal scenario's pump starts here
# A pty's reads are batched more than a datagram's: on a busy 2-core machine they lagged
# 0.1-1 s of wall time, which at 60x is 6-60 s of session time (the NIBP's time test failed).
SPEED = {"udp": 60.0, "pty": 20.0}


def run_console(request: ConnectionRequest, until: float, during=None, record: str | None = None):
    console = Console(load_protocol(), record, record=record is not None, user="tester")
    console.connect(request)
    try:
        deadline = time.monotonic() + until / request.speed * 3 + 30
        now = 0.0
        while now < until:
            assert time.monotonic() < deadline, f"the session got stuck at {now:.1f} s"
            now = console.monitor.step()
            if during is not None:
                during(console, now)
            time.sleep(0.02)
        return console, now
    finally:
        console.monitor.close()


@pytest.mark.parametrize("link", ["udp", "pty"])
def test_a_simulated_session_on_the_emulated_intellivue(link, tmp_path):
    request = ConnectionRequest(simulate="normal", speed=SPEED[link], simulate_vitals="intellivue", simulate_link=link)
    assert check_request(request) is None
    record = str(tmp_path / "s.sqlite")
    console, now = run_console(request, BASELINE_S + 30, record=record)
    sim = console.sources.simulation
    vitals_link = sim.vitals_link
    assert isinstance(vitals_link, DeviceLink) and vitals_link.driver.name == "intellivue"
    assert (vitals_link.url.startswith("intellivue+udp://127.0.0.1:") if link == "udp"
            else vitals_link.url.startswith("/dev/"))
    s = console.session
    for metric in ("HR", "PR", "SPO2", "RR", "ETCO2", "TEMP"):
        assert metric in s.seen, f"{metric} never reached the session over {link}"
    assert {"ECG", "PLETH", "CO2"} <= set(s.waveforms)
    # the baseline cuff taken at 240 s counts (IntelliVue's pressures are FLOAT values, 121.0)
    baseline = console.workflow.baseline(now)
    assert baseline.nibp is not None and valid_cuff(baseline.nibp)
    # on the monitor's clock mapped to the session's: at speed 60 a 40 ms delay of the first
    # message (which anchors the mapping) is 2.4 s of session time (at 20, 0.8 s)
    assert abs(baseline.nibp.taken_at - 239.5) < 5.0
    assert console.workflow.infusion_started is not None  # the in-process pump ran
    assert "PUMP_RATE" in s.seen
    # read-only: every message the console sent is on the driver's list
    assert vitals_link.sent and all(driver("intellivue").permits(m) for m in vitals_link.sent)
    assert vitals_link.refused == []
    with sqlite3.connect(record) as db:
        devices = {row[0] for row in db.execute("select distinct device from samples")}
        rows = db.execute("select count(*) from samples where device='vitals' and metric='SPO2'").fetchone()[0]
        identity = db.execute("select model from identities where device='vitals'").fetchone()
    assert devices == {"vitals", "pump"} and rows > 100
    assert identity is not None and "MP50" in identity[0]  # the emulated monitor said who it is


def test_the_emulated_masimo_on_a_pty():
    request = ConnectionRequest(simulate="normal", speed=30.0, simulate_vitals="masimo")
    console, _ = run_console(request, 40)
    link = console.sources.simulation.vitals_link
    assert link.driver.name == "masimo" and link.url.startswith("/dev/") and link.sent == []
    s = console.session
    assert {"SPO2", "PR", "PI"} <= s.seen and "HR" not in s.seen  # an oximeter has no ECG
    assert 90 <= s.latest["SPO2"].value <= 100


def test_an_instructors_link_drop_silences_the_emulated_monitor():
    """The vitals cable pulled for 40 s: the monitor stops answering, the driver's time-out drops
    the association, the link goes down, then a new association brings the values back."""
    request = ConnectionRequest(simulate="normal", speed=10.0, simulate_vitals="intellivue")
    events: list[LinkEvent] = []
    dropped = {}

    def during(console, now):
        if now > 20 and not dropped:
            console.sources.simulation.inject("link_dropout", device="vitals", duration_s=40)
            dropped["at"] = now
        dev = console.session.devices["vitals"]
        if dropped and (not events or events[-1].state != dev.transport_state):
            events.append(LinkEvent("vitals", dev.transport_state, dev.transport_reason, now))

    console, now = run_console(request, 110, during=during)
    states = [e.state for e in events]
    assert "down" in states or "connecting" in states, states
    assert states[-1] == "up", states
    hr = console.session.latest["HR"]
    assert now - hr.rx_time < 5, "values flow again after the new association"
    assert console.sources.simulation.vitals_link.attempts >= 2


def test_a_probe_off_on_the_emulated_monitor_is_the_consoles_own_check_once_and_the_monitors_inop_shown():
    """The monitor sounds its own INOP; the console shows it without sounding it, and sounds its
    own probe check once for the condition (issue 13: never twice for one condition)."""
    request = ConnectionRequest(simulate="probe-off", speed=30.0, simulate_vitals="intellivue")
    seen: dict[str, object] = {}

    def during(console, now):
        for alarm in console.engine.shown():
            seen.setdefault(alarm.key, alarm)

    console, _ = run_console(request, 345, during=during)
    probe = seen.get("PROBE.SPO2")
    assert probe is not None and probe.priority == "medium" and sounds(probe)
    inop = [a for key, a in seen.items() if key.startswith("DEVICE.vitals.") and "SENSOR OFF" in a.message]
    assert inop and not any(sounds(a) for a in inop)
    sounding = [key for key, a in seen.items() if sounds(a) and "probe" in a.message.lower()]
    assert sounding == ["PROBE.SPO2"], sounding  # one sounding alarm for the one condition
    assert console.session.word("SPO2_PROBE") == "OK"  # back on at 5:30


def test_a_simulated_occlusion_through_the_emulated_bbraun_rack():
    """--simulate occlusion --pump-protocol bcc: the SpaceStation emulator's rack over TCP, read by
    the real BCC driver; the ketamine pump (slot 2) drives the session, the rack's other pumps are
    shown as their own devices, the occlusion reaches the alarm engine high, and every byte the
    console sent is on the driver's allow-list."""
    request = ConnectionRequest(simulate="occlusion", speed=20.0, simulate_pump="bcc")
    assert check_request(request) is None
    seen: dict[str, object] = {}

    def during(console, now):
        for alarm in console.engine.shown():
            seen.setdefault(alarm.key, alarm)

    console, _ = run_console(request, 420, during=during)
    link = console.sources.simulation.pump_link
    assert link.driver.name == "bcc" and link.url.startswith("bcc+tcp://127.0.0.1:") and link.url.endswith("?slot=2")
    s = console.session
    assert console.workflow.infusion_started is not None  # the plan's pump ran, read over BCC
    assert {"PUMP_RATE", "PUMP_VI", "PUMP_VTBI"} <= s.seen
    assert "pump-slot3" in s.devices and s.devices["pump-slot3"].latest["PUMP_RATE"].value == 20.0  # saline
    occlusion = seen.get("PUMP.OCCLUSION")
    assert occlusion is not None and occlusion.priority == "high"
    assert "HR" in s.seen  # the vitals stay in-process ICL/1
    assert link.sent and all(driver("bcc").permits(m) for m in link.sent) and link.refused == []
    assert console.sources.simulation.emulated("pump").refused == []  # the station was asked nothing else


def test_the_plans_pump_taken_out_of_the_emulated_rack_is_a_high_alarm():
    request = ConnectionRequest(simulate="normal", speed=10.0, simulate_pump="bcc")
    removed: dict[str, float] = {}
    shown: dict[str, object] = {}

    def during(console, now):
        if now > 20 and not removed:
            console.sources.simulation.emulated("pump").remove_pump(1, 2)
            removed["at"] = now
        if removed:
            shown.clear()
            shown.update({a.key: a for a in console.engine.shown()})

    console, _ = run_console(request, 45, during=during)
    assert "RACK.pump" in shown, list(shown)
    assert shown["RACK.pump"].priority == "high"
    assert "LINK.pump" not in shown  # one cause, one alarm
    assert "slot 2" in shown["RACK.pump"].message
    assert console.session.devices["pump-slot3"].latest["PUMP_RATE"].value == 20.0  # the rest still read


def test_a_captured_training_conversation_with_the_rack_decodes(tmp_path, capsys):
    """--capture in training with the emulated rack keeps the BCC conversation, both directions;
    ``decode`` reads it back: what the console sent, and the rack's three pumps."""
    from console.cli import main

    request = ConnectionRequest(simulate="normal", speed=20.0, simulate_pump="bcc", capture_dir=str(tmp_path))
    run_console(request, 30)
    capture = tmp_path / "pump.bcc.talk.jsonl"
    assert capture.exists() and capture.stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    assert main(["decode", str(capture), "--protocol", "bcc", "--normalized", "--show-sent"]) == 0
    out = capsys.readouterr().out
    assert '"member": "slot1"' in out and '"member": "slot3"' in out and '"PUMP_RATE"' in out
    assert "MEEM:GEET" in out  # what the console asked (stuffed: E doubled), shown with --show-sent


def test_training_refuses_a_monitor_it_cannot_play():
    assert "cannot play a icl2" in (check_request(ConnectionRequest(simulate="normal", simulate_vitals="icl2")) or "")
    problem = check_request(ConnectionRequest(simulate="normal", simulate_vitals="masimo", simulate_link="udp"))
    assert problem == "the emulated masimo monitor is served over pty, not udp"
    with pytest.raises(ValueError):
        ConnectionRequest(vitals=None, simulate=None, simulate_vitals="intellivue")


def test_the_window_command_line_refuses_a_bad_emulated_link():
    out = subprocess.run([sys.executable, "-m", "console", "record", "--simulate", "normal",
                          "--vitals-protocol", "masimo", "--simulate-link", "udp", "--duration", "1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "served over pty, not udp" in out.stderr and "Traceback" not in out.stderr


def test_a_real_cuff_reading_counts_whole_or_float():
    assert valid_cuff(NibpReading(121, 74, 90, 0.0)) and valid_cuff(NibpReading(121.0, 74.0, 90.0, 0.0))
    assert not valid_cuff(NibpReading(float("nan"), 74.0, 90.0, 0.0))
    assert not valid_cuff(NibpReading(True, 74, 90, 0.0))  # type: ignore[arg-type]
    assert not valid_cuff(NibpReading("-", 74, 90, 0.0))  # type: ignore[arg-type]


def test_infusion_sim_serves_the_emulated_intellivue():
    """``infusion-sim --vitals-protocol intellivue --vitals udp:127.0.0.1:0``: the console's
    DeviceLink associates with it and reads values."""
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--vitals-protocol", "intellivue",
                             "--vitals", "udp:127.0.0.1:0", "--speed", "5", "--duration", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("vitals: intellivue+udp://127.0.0.1:"), first
        url = first.split()[1]
        out = Collector()
        link = DeviceLink("vitals", url, out.q, driver="intellivue")
        link.start()
        try:
            assert wait_for(lambda: any(getattr(r.item, "values", {}).get("SPO2") for r in out.records()), 20)
        finally:
            link.stop()
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0, proc.stderr.read()
