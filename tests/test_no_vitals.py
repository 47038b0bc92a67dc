"""'No vitals data' (CLINICAL.md section 5): a vitals monitor that never sends a valid
sentence, whether its port is open or not, is a technical alarm, medium before the pump
runs and high once it runs. Before, the console stayed silent."""

from __future__ import annotations

from console.records import LinkEvent, Received, Rejection
from workflow_bed import PLAN, Bed

KEY = "NO_DATA.vitals"


def pump_only(b: Bed, n: int = 1) -> None:
    """n seconds in which only the pump speaks."""
    for _ in range(n):
        b.clock.advance(1)
        if b.pump["PUMP_STATE"] == "RUNNING":
            b.pump["PUMP_RATE"] = b.programmed_rate
            b.pump["PUMP_VI"] = round(b.pump["PUMP_VI"] + b.programmed_rate / 3600.0, 6)
        b.send("pump", **b.pump)
        b.frame()


def link(b: Bed, device: str, state: str, reason: str) -> None:
    b.session.ingest(LinkEvent(device, state, reason, b.now))


def test_port_open_but_nothing_valid_is_medium_then_high_once_the_pump_runs():
    b = Bed()
    b.wf.set_plan(PLAN, now=b.now)
    link(b, "vitals", "up", "connected to /dev/ttyUSB0")
    link(b, "pump", "up", "connected to /dev/ttyUSB1")
    pump_only(b, 3)
    assert KEY not in b.alarms()  # a device gets a few seconds to say something
    pump_only(b, 5)
    alarm = b.alarms()[KEY]
    assert (alarm.kind, alarm.priority) == ("technical", "medium")
    assert "No vitals data" in alarm.message and "port open" in alarm.message
    b.start_pump()
    pump_only(b, 2)
    assert b.alarms()[KEY].priority == "high"


def test_garbage_only_says_how_much_was_refused():
    b = Bed()
    link(b, "vitals", "up", "connected to /dev/ttyUSB0")
    for _ in range(8):
        b.clock.advance(1)
        b.session.ingest(Received("vitals", Rejection("bad_checksum", b"$VS,garbage"), b.now, b.clock.wall()))
        b.frame()
    alarm = b.alarms()[KEY]
    assert alarm.priority == "medium" and "refused" in alarm.message


def test_port_never_open_while_a_session_runs():
    b = Bed()
    b.wf.set_plan(PLAN, now=b.now)
    link(b, "pump", "up", "connected to /dev/ttyUSB1")
    pump_only(b, 8)  # no vitals source was ever given
    alarm = b.alarms()[KEY]
    assert alarm.priority == "medium" and "no vitals monitor connected" in alarm.message
    link(b, "vitals", "down", "port /dev/ttyUSB0 not found (unplugged or wrong name)")
    pump_only(b, 1)
    assert "not found" in b.alarms()[KEY].message


def test_first_valid_vitals_clear_it_and_link_lost_takes_over():
    b = Bed()
    link(b, "vitals", "up", "connected to /dev/ttyUSB0")
    pump_only(b, 8)
    assert KEY in b.alarms()
    b.second(2)  # the monitor starts sending
    assert KEY not in b.alarms()
    pump_only(b, 8)  # then goes silent: that is a lost link, not 'no data'
    assert KEY not in b.alarms() and "LINK.vitals" in b.alarms()


def test_no_alarm_once_discharged_or_with_vitals_flowing():
    b = Bed()
    b.second(20)
    assert KEY not in b.alarms()


def test_a_vitals_port_that_never_opened_is_one_alarm_not_two():
    """One cause, one alarm: 'no vitals data' (medium before the pump runs) rather than also
    the high 'vitals link lost' for a link that never carried a valid sentence."""
    from console.alarms.engine import AlarmEngine
    from console.clinical import load_protocol
    from console.clock import FakeClock
    from console.records import LinkEvent
    from console.session import Session
    from console.workflow import SessionWorkflow

    clock = FakeClock(start=100.0)
    protocol = load_protocol()
    session = Session(protocol, clock)
    engine = AlarmEngine(protocol, user="nurse")
    workflow = SessionWorkflow(protocol, session, engine)
    session.ingest(LinkEvent("vitals", "down", "port /dev/ttyUSB0 not found (unplugged or wrong name)", clock.now()))
    for _ in range(10):
        clock.advance(1)
        workflow.update(clock.now())
        engine.evaluate(session, clock.now())
    keys = {a.key: a.priority for a in engine.shown()}
    assert keys.get("NO_DATA.vitals") == "medium"
    assert "LINK.vitals" not in keys
