"""Roles come from the drivers and the connection, not from a two-value literal (issue 12): a
site connects one monitor and several pumps; exactly one pump carries the plan, the others
are shown with their alarms and never drive the dose or the phases."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tty

import pytest

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.monitor import Monitor
from console.session import Session
from console.sources import ConnectionRequest, DeviceSpec, Sources, check_request
from console.workflow import SessionWorkflow
from icl_lines import icl
from transport_helpers import wait_for


class Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def send(self, body: str) -> None:
        os.write(self.master, icl(body))

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def rack():
    ptys = [Pty(), Pty()]
    yield ptys
    for p in ptys:
        p.close()


def ps(seq: int, **values) -> str:
    fields = {"STATE": "RUNNING", "DRUG": "KETAMINE", "CONC": "0.7", "RATE": "75", "VTBI": "50", "VI": "1.25",
              "ALARM": "NONE", "BATT": "96", **values}
    return f"PS,{seq},{seq * 1000}," + ",".join(f"{k}={v}" for k, v in fields.items())


def test_the_command_line_takes_other_pumps_after_the_plans_pump():
    from console.cli import build_window_parser, request_from_args

    p = build_window_parser()
    request = request_from_args(p.parse_args(["--pump", "/dev/ttyUSB0", "--other-pump", "/dev/ttyUSB1",
                                              "--other-pump", "socket://10.0.0.8:4001"]))
    assert [(name, role, spec.url) for name, role, spec in request.devices()] == [
        ("pump", "pump", "/dev/ttyUSB0"), ("pump-2", "pump", "/dev/ttyUSB1"),
        ("pump-3", "pump", "socket://10.0.0.8:4001")]
    with pytest.raises(ValueError, match="needs --pump"):
        request_from_args(p.parse_args(["--other-pump", "/dev/ttyUSB1"]))


def test_a_vitals_only_driver_cannot_be_a_pump():
    problem = check_request(ConnectionRequest(pump=DeviceSpec("/dev/null", "masimo")))
    assert problem and "cannot be the pump device" in problem


def test_only_the_plans_pump_drives_the_dose_and_the_others_show_their_alarms(rack):
    plan_pump, other = rack
    protocol = load_protocol()
    request = ConnectionRequest(pump=DeviceSpec(plan_pump.path), other_pumps=(DeviceSpec(other.path),))
    sources = Sources(request)
    session = Session(protocol, sources.clock)
    engine = AlarmEngine(protocol, user="nurse.test")
    monitor = Monitor(session, engine, SessionWorkflow(protocol, session, engine, sources.clock), sources)
    sources.start()
    try:
        assert wait_for(lambda: all(link.state == "up" for link in sources.links.values()), 10)
        plan_pump.send(ps(1, RATE="75", VI="1.25"))
        other.send(ps(1, DRUG="SALINE", CONC="0", RATE="250", VI="40", ALARM="OCCLUSION"))

        def both_heard():
            monitor.step()
            return session.word("PUMP_RATE") is not None and "pump-2" in session.devices and \
                session.devices["pump-2"].latest.get("PUMP_ALARM") is not None
        assert wait_for(both_heard, 10)
        assert session.word("PUMP_RATE") == 75 and session.word("PUMP_DRUG") == "KETAMINE"
        assert session.devices["pump-2"].latest["PUMP_RATE"].value == 250
        assert "PUMP_ALARM" not in session.latest or session.word("PUMP_ALARM") == []
        shown = {a.key: a for a in engine.shown()}
        other_alarm = shown["PUMP.pump-2.OCCLUSION"]
        assert other_alarm.message.startswith("Pump 2: ") and "PUMP.OCCLUSION" not in shown
        # the dose comes from the plan's pump only: 1.25 mL x 0.7 mg/mL
        assert session.delivered_mg() == pytest.approx(0.875)
        other.close()  # the other pump's cable is pulled: a medium link alarm in its name

        def other_lost():
            monitor.step()
            return "LINK.pump-2" in {a.key for a in engine.shown()}
        assert wait_for(other_lost, 15)
        lost = next(a for a in engine.shown() if a.key == "LINK.pump-2")
        assert lost.priority == "medium" and lost.message.startswith("Pump 2 link lost")
    finally:
        monitor.close()


def test_the_record_keeps_the_other_pump_apart(rack, tmp_path):
    from console.recording import Recorder
    from console.recording.replay import load_review
    from console.sinks import RecorderSink

    plan_pump, other = rack
    protocol = load_protocol()
    sources = Sources(ConnectionRequest(pump=DeviceSpec(plan_pump.path), other_pumps=(DeviceSpec(other.path),)))
    session = Session(protocol, sources.clock)
    engine = AlarmEngine(protocol, user="nurse.test")
    monitor = Monitor(session, engine, SessionWorkflow(protocol, session, engine, sources.clock), sources)
    recorder = Recorder(tmp_path / "rack.sqlite", sources.clock)
    recorder.attach(session, engine, listen=False)
    monitor.add_sink(RecorderSink(recorder))
    sources.start()
    try:
        assert wait_for(lambda: all(link.state == "up" for link in sources.links.values()), 10)
        plan_pump.send(ps(1))
        other.send(ps(1, RATE="250", ALARM="AIR"))

        def heard():
            monitor.step()
            return "pump-2" in session.devices and session.devices["pump-2"].accepted and session.devices[
                "pump"].accepted
        assert wait_for(heard, 10)
    finally:
        assert monitor.close()
    with sqlite3.connect(tmp_path / "rack.sqlite") as conn:
        rates = dict(conn.execute("SELECT device, value FROM samples WHERE metric = 'PUMP_RATE'").fetchall())
    assert rates == {"pump": 75.0, "pump-2": 250.0}
    review = load_review(tmp_path / "rack.sqlite", protocol)
    assert review.session.word("PUMP_RATE") == 75  # the replayed plan's pump, not the other one
    assert review.session.devices["pump-2"].latest["PUMP_RATE"].value == 250
