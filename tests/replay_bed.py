"""A short recorded session for the review and replay tests: the training simulator's bytes
through the real ICL decoders into a real Session, AlarmEngine, SessionWorkflow and Recorder,
on a FakeClock, frame by frame as the window drives them (deterministic, no threads).

The desaturation is injected early so a short session holds physiological alarms; a few
garbage bytes give rejected sentences; a nurse signs in and writes a note."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulator.engine import Simulation

from console.alarms.engine import AlarmEngine
from console.app import scenario_plan_and_patient
from console.clinical import load_protocol
from console.clock import FakeClock
from console.drivers import driver
from console.recording import Recorder
from console.records import LinkEvent, Received
from console.session import Session
from console.workflow import SessionWorkflow

WALL0 = 1_767_225_600.0
STEP_S = 0.1


@dataclass
class Recorded:
    path: Path
    session: Session  # the live session, as the window drew it
    engine: AlarmEngine
    items: int  # items the live session ingested


def record_session(path: Path, seconds: float = 80.0, *, close: bool = True, scenario: str = "desaturation",
                   seed: int = 3, limit_change_at: float | None = None) -> Recorded:
    protocol = load_protocol()
    clock = FakeClock(0.0, wall0=WALL0)
    sim = Simulation(scenario, seed=seed)
    plan, patient = scenario_plan_and_patient(sim.scenario)
    session = Session(protocol, clock, plan=plan, patient=patient, simulated=True, scenario=scenario)
    engine = AlarmEngine(protocol, user="nurse.test")
    workflow = SessionWorkflow(protocol, session, engine, clock)
    engine.listeners.append(lambda e: e.event == "start" and session.add_event(e.time, "alarm", e.message,
                                                                                  priority=e.priority))
    rec = Recorder(path, clock, background=False, meta={"simulated": True, "scenario": scenario,
                                                         "protocol_fingerprint": protocol.fingerprint()})
    rec.attach(session, engine)
    rec.attach_workflow(workflow)
    workflow.sign_in("Nurse Kim")
    decoders = {"vitals": driver("icl").open_decoder(), "pump": driver("icl").open_decoder()}
    for device in ("vitals", "pump"):
        session.ingest(LinkEvent(device, "up", "training simulation", 0.0))
    sim.inject("desaturation", spo2=80, onset_s=5, hold_s=40, recovery_s=10)
    noted = False
    while clock.now() < seconds:
        clock.advance(STEP_S)
        now = clock.now()
        vitals, pump = sim.advance(now)
        if 30.0 <= now < 30.0 + STEP_S:
            vitals += b"$VS,garbage without a checksum\r\n"
        for device, data in (("vitals", vitals), ("pump", pump)):
            for item in decoders[device].feed(data):
                session.ingest(Received(device, item, now, clock.wall()))
        if limit_change_at is not None and limit_change_at <= now < limit_change_at + STEP_S:
            engine.set_limit("SPO2", "medium", "below", 88, now, "dr.x")
        if now >= 40.0 and not noted:
            workflow.note("patient drowsy, oxygen given", now=now)
            noted = True
        workflow.update(now)
        engine.evaluate(session, now)
        rec.tick(now)
    if close:
        for device in ("vitals", "pump"):
            session.ingest(LinkEvent(device, "down", "training simulation stopped", clock.now()))
        engine.evaluate(session, clock.now())
        rec.close()
    else:  # a crash: the last flush is all the file holds, and the file stays open
        rec.flush()
        rec._writer.abandon()
        if rec.lock_file is not None:
            rec.lock_file.close()  # the lock dies with the process
        rec.close = lambda *a, **k: False  # nothing more may reach the file
    return Recorded(path, session, engine, session.items_ingested)
