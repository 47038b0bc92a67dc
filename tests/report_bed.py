"""Session files for the report tests: a whole simulated ketamine session documented as a nurse
would, recorded by the real Recorder, on a FakeClock (deterministic, no threads, a few seconds).

The training simulator's bytes go through the real ICL decoders into a real Session, AlarmEngine
and SessionWorkflow, as tests/replay_bed.py and tests/test_workflow_sim.py drive them. The plan
holds a 100 mg bag for a 35 mg dose (a soft guardrail, overridden with a reason); a desaturation
in recovery raises SpO2 alarms that the nurse acknowledges; the nurse charts what falls due,
writes a note, presses a marker; the clinician signs the discharge off.

``crashed_and_resumed`` records the same session into the infusion, "crashes" (the last flush is
all the file holds, the file stays open), then resumes into the same file for two minutes and
closes it with no discharge (or, ``resumed=False``, leaves it as the crash left it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from simulator.engine import Simulation
from simulator.scenario import load_scenario

from console import __version__
from console.alarms.engine import AlarmEngine
from console.bedside import scenario_plan_and_patient
from console.clinical import load_protocol
from console.clock import FakeClock
from console.drivers import driver
from console.plan_file import parse_session_order
from console.recording import Recorder, resume
from console.records import LinkEvent, Received
from console.session import Session
from console.vitals_table import session_time
from console.workflow import Phase, SessionWorkflow
from workflow_bed import answer_checklist, document_discharge

WALL0 = 1_767_258_000.0  # 2026-01-01 09:00 UTC
OVERRIDE_REASON = "single 100 mg vial; VTBI set to the dose volume, checked twice"
NOTE = "patient describes floating, calm; reassured"
NURSE, CLINICIAN = "Nurse Kim", "Dr. Rivera"
DESATURATION_AT = 3300.0  # in recovery (the infusion ends at 45 min)


@dataclass
class Bed:
    path: Path
    clock: FakeClock
    session: Session
    engine: AlarmEngine
    wf: SessionWorkflow
    sim: Simulation
    rec: Recorder
    # what the nurse charts when it falls due: MOAA/S in the infusion, CADSS at the infusion's end,
    # GAD-7 at baseline and at the discharge check (a course varies them session by session)
    scores: dict[str, int] = field(default_factory=lambda: {"moaas_infusion": 4, "cadss_infusion": 18,
                                                             "gad7_baseline": 13, "gad7_after": 6})


def _scenario():
    """The normal scenario with a 100 mg / 50 mL bag (2 mg/mL): the pump is programmed with it."""
    sc = load_scenario("normal")
    return sc.model_copy(update={"plan": sc.plan.model_copy(update={"bag_mg": 100.0, "bag_ml": 50.0})})


def _open(path: Path, clock: FakeClock, recorder: Recorder | None = None, scenario=None) -> Bed:
    protocol = load_protocol()
    sim = Simulation(scenario or _scenario(), seed=2)
    plan, patient = scenario_plan_and_patient(sim.scenario)
    session = Session(protocol, clock, simulated=True, scenario="normal")
    engine = AlarmEngine(protocol, user=NURSE)
    wf = SessionWorkflow(protocol, session, engine, clock)
    engine.listeners.append(lambda e: e.event == "start" and session.add_event(e.time, "alarm", e.message,
                                                                                  priority=e.priority))
    rec = recorder or Recorder(path, clock, background=False,
                               meta={"console_version": __version__, "simulated": True, "scenario": "normal",
                                     "protocol_fingerprint": protocol.fingerprint(), "user": NURSE})
    rec.attach(session, engine)
    rec.attach_workflow(wf)
    for device in ("vitals", "pump"):
        session.ingest(LinkEvent(device, "up", "training simulation", clock.now()))
    wf.sign_in(NURSE, now=clock.now())
    assert plan is not None and patient is not None
    order = parse_session_order({"patient": patient.model_dump(mode="json"), "plan": plan.model_dump(mode="json"),
                                 "overrides": {"bag_excess_factor": OVERRIDE_REASON}, "ordered_by": CLINICIAN},
                                "report test", protocol)
    wf.load_order(order, now=clock.now())
    wf.identify(patient, now=clock.now())
    answer_checklist(wf, clock.now())  # the pre-session checks, before the pump starts
    return Bed(path, clock, session, engine, wf, sim, rec)


def _chart_due(b: Bed, now: float) -> None:
    for due in b.wf.due_items(now):
        if due.key == "moaas":
            b.wf.chart("MOAA/S", b.scores["moaas_infusion"] if b.wf.phase == Phase.INFUSION else 5, now=now)
        elif due.key.startswith("cadss"):
            b.wf.chart("CADSS", b.scores["cadss_infusion"] if due.key == "cadss_infusion" else 1, now=now)
        elif due.key.startswith("gad7"):
            b.wf.chart("GAD-7", b.scores["gad7_baseline" if due.key == "gad7_baseline" else "gad7_after"], now=now)


def _run(b: Bed, t_end: float, *, t0: float = 0.0, acknowledge: bool = True) -> None:
    """Frame by frame to session time ``t_end``; ``t0`` is the simulation's time at clock 0."""
    decoders = {"vitals": driver("icl").open_decoder(), "pump": driver("icl").open_decoder()}
    while b.clock.now() < t_end:
        b.clock.advance(1.0)
        now = b.clock.now()
        vitals, pump = b.sim.advance(now - t0)
        for device, data in (("vitals", vitals), ("pump", pump)):
            for item in decoders[device].feed(data):
                b.session.ingest(Received(device, item, now, b.clock.wall()))
        b.wf.update(now)
        b.engine.evaluate(b.session, now)
        _chart_due(b, now)
        if acknowledge:  # the nurse answers a sounding alarm within 20 s
            for alarm in b.engine.shown():
                if not alarm.acknowledged and alarm.kind == "physiological" and now - alarm.started >= 20:
                    b.engine.acknowledge(alarm.key, now, NURSE)
        b.rec.tick(now)


def _close(b: Bed) -> None:
    for device in ("vitals", "pump"):
        b.session.ingest(LinkEvent(device, "down", "training simulation stopped", b.clock.now()))
    b.engine.close_session(b.clock.now())
    assert b.rec.close()


def whole_session(path: Path, *, wall0: float = WALL0, scenario=None, scores: dict[str, int] | None = None,
                  desaturation: bool = True, during: Callable[[Bed], None] | None = None) -> Path:
    """Sign-in to discharge sign-off, about 105 minutes of session time. A course's sessions
    (tests/course_bed.py) give their own start, scenario (dose, patient, BP and HR response),
    scores, and what the nurse documents in the infusion (``during``, at 20 min)."""
    b = _open(path, FakeClock(0.0, wall0=wall0), scenario=scenario)
    if scores:
        b.scores.update(scores)
    _run(b, 200)
    b.wf.marker("patient anxious", now=b.clock.now())
    if during is not None:  # (a run split in two restarts the decoders: only when asked)
        _run(b, 1200)
        during(b)
    _run(b, 1500)
    b.wf.note(NOTE, now=b.clock.now())
    _run(b, DESATURATION_AT)
    if desaturation:
        b.sim.inject("desaturation", spo2=84, onset_s=10, hold_s=40, recovery_s=20)
    _run(b, 6400)
    assert b.wf.phase == Phase.DISCHARGE_CHECK, b.wf.phase
    b.wf.confirm_dissociation_resolved(now=b.clock.now())
    b.wf.confirm_escort(now=b.clock.now())
    document_discharge(b.wf, b.clock.now())  # the score, the driving restriction, the instructions
    b.wf.sign_off(CLINICIAN, now=b.clock.now(), reason=None, reason_code=None)
    _close(b)
    return path


def crashed_and_resumed(path: Path, *, resumed: bool = True) -> Path:
    """Into the infusion, a crash, then two more minutes in a resumed run; never discharged.
    ``resumed`` False: the file as the crash left it (never closed)."""
    b = _open(path, FakeClock(0.0, wall0=WALL0))
    _run(b, 900)
    b.rec.flush()
    b.rec._writer.abandon()  # the process died: nothing more reaches the file
    if b.rec.lock_file is not None:
        b.rec.lock_file.close()  # the lock dies with the process
    if not resumed:
        return path
    # The console comes back three minutes later (wall time), on a fresh session clock.
    clock = FakeClock(0.0, wall0=WALL0 + 900 + 180)
    rec = resume(path, clock, background=False)
    again = _open(path, clock, recorder=rec)
    _run(again, 120, t0=-1080.0)
    _close(again)
    return path


def at(t: float) -> str:
    """A file time as the chart writes it: local clock time (session time)."""
    return f"{dt.datetime.fromtimestamp(WALL0 + t).strftime('%H:%M:%S')} ({session_time(t)})"


def shared(tmp_path_factory, name: str, make: Callable[[Path], Path]) -> Path:
    """One file per test run for the report tests that read the same session (it takes seconds
    to record): made in the run's base temporary directory the first time it is asked for."""
    path = tmp_path_factory.getbasetemp() / f"report-{name}.sqlite"
    return path if path.exists() else make(path)
