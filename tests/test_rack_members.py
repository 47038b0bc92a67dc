"""Several devices behind one link (the pumps of a rack behind one SpaceStation): a driver's
``RackMember`` records reach the session as their own devices ("pump-slot2"), and a
``MemberMissing`` (the pump the plan names is not in the rack) is a high technical alarm until
that pump reports again, without a second link alarm for the same cause."""

from __future__ import annotations

import queue

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.records import DecoderStats, LinkEvent, MemberMissing, Observations, RackMember, Received
from console.session import Session
from console.transport import _DeviceFeed

KETAMINE = Observations(None, None, {"PUMP_STATE": "RUNNING", "PUMP_RATE": 75.0})
SALINE = Observations(None, None, {"PUMP_STATE": "RUNNING", "PUMP_RATE": 20.0})


class RackDecoder:
    """A decoder for a rack: every feed is one poll, the plan's pump and a carrier pump."""

    stats = DecoderStats()

    def __init__(self, answers):
        self.answers = list(answers)

    def feed(self, data: bytes):
        return self.answers.pop(0) if self.answers else []

    def close(self):
        return []


def test_the_transport_delivers_each_pump_of_the_rack_as_its_own_device():
    out: queue.SimpleQueue = queue.SimpleQueue()
    decoder = RackDecoder([[RackMember("", KETAMINE), RackMember("slot2", SALINE)]])
    feed = _DeviceFeed("pump", out, FakeClock(), lambda: decoder, None, lambda msg: None)
    feed.feed(b"one poll")
    got = [out.get_nowait() for _ in range(out.qsize())]
    assert [(r.device, r.item) for r in got] == [("pump", KETAMINE), ("pump-slot2", SALINE)]


def bed():
    clock = FakeClock()
    session = Session(load_protocol(), clock)
    engine = AlarmEngine(load_protocol(), user="nurse.test")
    session.ingest(LinkEvent("pump", "up", "connected to the SpaceStation", 0.0))
    return clock, session, engine


def poll(clock, session, engine, *records) -> dict:
    clock.advance(1.0)
    for device, record in records:
        session.ingest(Received(device, record, clock.now(), 0.0))
    engine.evaluate(session, clock.now())
    return {a.key: a for a in engine.shown()}


def test_the_plans_pump_missing_from_the_rack_is_a_high_technical_alarm():
    clock, session, engine = bed()
    missing = MemberMissing("no pump in slot 3 of the rack (the plan's pump)")
    shown = poll(clock, session, engine, ("pump", missing), ("pump-slot2", SALINE))
    alarm = shown["RACK.pump"]
    assert (alarm.priority, alarm.kind) == ("high", "technical")
    assert "no pump in slot 3 of the rack" in alarm.message
    assert session.devices["pump-slot2"].latest["PUMP_RATE"].value == 20.0  # the others still shown
    for _ in range(12):  # long after the link time-out: still the one alarm, not a link alarm besides
        shown = poll(clock, session, engine, ("pump", missing), ("pump-slot2", SALINE))
    assert "RACK.pump" in shown and "LINK.pump" not in shown
    shown = poll(clock, session, engine, ("pump", KETAMINE))  # put back in the rack
    assert "RACK.pump" not in shown
    texts = [e.text for e in session.events if e.kind == "link"]
    assert any("no pump in slot 3" in t for t in texts) and any("reports again" in t for t in texts)


def test_a_pump_leaving_the_rack_mid_session_raises_it_too():
    clock, session, engine = bed()
    assert "RACK.pump" not in poll(clock, session, engine, ("pump", KETAMINE))
    shown = poll(clock, session, engine, ("pump", MemberMissing("the pump with serial 123456 left the rack")))
    assert shown["RACK.pump"].priority == "high"
