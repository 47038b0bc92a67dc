"""A device's own alarms (a monitor's patient alarms and INOPs, a normalized ``DeviceAlarms``
record): shown as the device's, in their priority, never sounded by the console; cleared when
the device clears them; recorded and replayed."""

from __future__ import annotations

from console.alarms.engine import AlarmEngine, sounds
from console.clinical import load_protocol
from console.clock import FakeClock
from console.recording import Recorder
from console.recording.replay import replay_items
from console.records import DeviceAlarm, DeviceAlarms, LinkEvent, Observations, Received
from console.session import Session

DESAT = DeviceAlarm("4BB8.3246", "*** DESAT", "high", "physiological")
LEADS = DeviceAlarm("0100.6", "ECG LEADS OFF", "medium", "technical")


def bed():
    clock = FakeClock()
    session = Session(load_protocol(), clock)
    engine = AlarmEngine(load_protocol(), user="nurse.test")
    session.ingest(LinkEvent("vitals", "up", "test", 0.0))
    return clock, session, engine


def second(clock, session, engine, *alarms: DeviceAlarm) -> None:
    clock.advance(1.0)
    session.ingest(Received("vitals", Observations(None, None, {"HR": 72, "SPO2": 96}), clock.now(), 0.0))
    session.ingest(Received("vitals", DeviceAlarms(None, alarms), clock.now(), 0.0))
    engine.evaluate(session, clock.now())


def test_a_devices_own_alarm_is_shown_in_its_priority_and_never_sounded():
    clock, session, engine = bed()
    second(clock, session, engine, DESAT, LEADS)
    second(clock, session, engine, DESAT, LEADS)
    shown = {a.key: a for a in engine.shown()}
    desat, leads = shown["DEVICE.vitals.4BB8.3246"], shown["DEVICE.vitals.0100.6"]
    assert (desat.priority, desat.kind, desat.message) == ("high", "physiological",
                                                            "Vitals monitor: *** DESAT (its own alarm)")
    assert (leads.priority, leads.kind) == ("medium", "technical")
    assert desat.started == 1.0  # from when the device first reported it, not each report
    assert not sounds(desat) and not sounds(leads)
    second(clock, session, engine, LEADS)  # the monitor cleared its desaturation
    assert "DEVICE.vitals.4BB8.3246" not in {a.key for a in engine.shown()}
    assert "DEVICE.vitals.0100.6" in {a.key for a in engine.shown()}


def test_a_lost_link_hides_the_devices_alarms_behind_the_link_alarm():
    clock, session, engine = bed()
    second(clock, session, engine, DESAT)
    clock.advance(10.0)  # nothing more from the monitor
    engine.evaluate(session, clock.now())
    keys = {a.key for a in engine.shown()}
    assert "LINK.vitals" in keys and not any(k.startswith("DEVICE.") for k in keys)


def test_a_devices_alarms_are_recorded_and_replayed(tmp_path):
    clock = FakeClock()
    session = Session(load_protocol(), clock)
    rec = Recorder(tmp_path / "alarms.sqlite", clock, background=False)
    rec.attach(session)
    session.ingest(LinkEvent("vitals", "up", "test", 0.0))
    clock.advance(1.0)
    session.ingest(Received("vitals", DeviceAlarms(None, (DESAT, LEADS)), 1.0, 0.0))
    clock.advance(1.0)
    session.ingest(Received("vitals", DeviceAlarms(None, ()), 2.0, 0.0))
    rec.tick(clock.now() + 5)
    assert rec.close()
    replayed = [i.item for i in replay_items(tmp_path / "alarms.sqlite")
                if isinstance(i, Received) and isinstance(i.item, DeviceAlarms)]
    assert [r.alarms for r in replayed] == [(DESAT, LEADS), ()]
