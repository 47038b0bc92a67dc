"""A whole ketamine session at high speed: the real simulator's bytes decoded into a real
Session (as SimulatedDevices does), a real AlarmEngine, and the workflow driven from sign-in to
discharge sign-off by a diligent 'nurse' who charts whatever falls due."""

from __future__ import annotations

import pytest
from simulator.engine import Simulation

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.drivers import driver
from console.patient import Patient
from console.plan_file import parse_session_order
from console.records import Received
from console.session import Session
from console.workflow import Phase, SessionWorkflow
from workflow_bed import answer_checklist, document_discharge


class SimBed:
    def __init__(self, scenario: str) -> None:
        self.sim = Simulation(scenario, seed=1)
        self.clock = FakeClock(start=0.0)  # the session clock is the simulation's clock
        self.protocol = load_protocol()
        self.session = Session(self.protocol, self.clock, simulated=True, scenario=scenario)
        self.engine = AlarmEngine(self.protocol, user="trainee")
        self.wf = SessionWorkflow(self.protocol, self.session, self.engine)
        self.decoders = {"vitals": driver("icl").open_decoder(), "pump": driver("icl").open_decoder()}
        sc = self.sim.scenario
        self.patient = Patient(patient_id=sc.patient.id, name=sc.patient.name,
                               date_of_birth=sc.patient.date_of_birth)
        self.order = parse_session_order({
            "patient": self.patient.model_dump(mode="json"),
            "plan": sc.plan.model_dump(), "ordered_by": "Dr. Rivera"}, f"scenario {scenario}", self.protocol)
        self.phase_seen: dict[Phase, float] = {}

    def run_until(self, t_end: float, *, nurse: bool = True, step: float = 1.0) -> None:
        while self.clock.now() < t_end:
            self.clock.advance(step)
            now = self.clock.now()
            vitals, pump = self.sim.advance(now)
            for device, data in (("vitals", vitals), ("pump", pump)):
                for item in self.decoders[device].feed(data):
                    self.session.ingest(Received(device, item, now, self.clock.wall()))
            self.wf.update(now)
            self.engine.evaluate(self.session, now)
            self.phase_seen.setdefault(self.wf.phase, now)
            if nurse:
                self.chart_what_is_due(now)

    def chart_what_is_due(self, now: float) -> None:
        for due in self.wf.due_items(now):
            if due.key == "moaas":
                self.wf.chart("MOAA/S", 5 if self.wf.phase != Phase.INFUSION else 4, now=now)
            elif due.key.startswith("cadss"):
                self.wf.chart("CADSS", 18 if due.key == "cadss_infusion" else 1, now=now)
            elif due.key.startswith("gad7"):
                self.wf.chart("GAD-7", 13 if due.key == "gad7_baseline" else 6, now=now)


@pytest.mark.integration
def test_a_whole_normal_session_from_sign_in_to_discharge():
    b = SimBed("normal")
    b.wf.sign_in("Nurse Kim", now=0.0)
    b.wf.load_order(b.order, now=0.0)
    assert b.wf.identify(b.patient, now=0.0) is None
    answer_checklist(b.wf, 0.0)  # the pre-session checks, as a nurse answers them (issue 17)
    b.run_until(290)
    checks = {c.name: c.met for c in b.wf.baseline_checks(b.clock.now())}
    assert all(checks.values()), checks
    b.wf.marker("patient anxious", now=b.clock.now())
    b.run_until(3000)
    assert b.phase_seen[Phase.INFUSION] == pytest.approx(300, abs=1.5)
    assert b.phase_seen[Phase.RECOVERY] == pytest.approx(300 + 2400, abs=2)
    assert b.wf.dose_status(b.clock.now()).delivered_mg == pytest.approx(35, abs=0.1)
    base = b.wf.baseline()
    assert base.fixed and abs(base.nibp.systolic - 124) < 12 and abs(base.hr - 72) < 5
    b.run_until(6400)
    assert b.wf.phase == Phase.DISCHARGE_CHECK
    assert b.phase_seen[Phase.DISCHARGE_CHECK] == pytest.approx(2700 + 3600, abs=3)
    b.wf.confirm_dissociation_resolved(now=b.clock.now())
    b.wf.confirm_escort(now=b.clock.now())
    document_discharge(b.wf, b.clock.now())
    criteria = {c.name: c for c in b.wf.discharge_criteria(b.clock.now())}
    unmet = {n: c.detail for n, c in criteria.items() if not c.met and n != "Clinician sign-off"}
    assert not unmet
    b.wf.sign_off("Dr. Rivera", now=b.clock.now())
    assert b.wf.phase == Phase.DISCHARGED
    # An uneventful session: none of the plan and dose advisories, no baseline BP or rise.
    advisories = {a.key for a in b.engine.history if a.kind == "advisory"}
    assert not advisories - {"ADVISORY.CUFF_DUE"}, advisories
    charted = {(c.item, c.phase) for c in b.wf.charts}
    assert {("gad7", "baseline"), ("gad7", "discharge check"), ("moaas", "baseline"), ("moaas", "infusion"),
            ("moaas", "recovery")} <= charted
    cadss = [c.time for c in b.wf.charts if c.item == "cadss"]  # about 40 min in, and the end of recovery
    assert cadss == [pytest.approx(2700, abs=3), pytest.approx(6300 - 300, abs=3)]
    kinds = [e.kind for e in b.session.events]
    assert "marker" in kinds and "chart" in kinds and kinds.count("phase") == 4


@pytest.mark.integration
def test_a_hypertensive_surge_raises_the_rise_over_baseline_advisory():
    b = SimBed("hypertensive-surge")
    b.wf.sign_in("Nurse Kim", now=0.0)
    b.wf.load_order(b.order, now=0.0)
    b.wf.identify(b.patient, now=0.0)
    b.run_until(700)
    rise = [a for a in b.engine.history if a.key == "ADVISORY.BP_RISE"]
    assert rise and (rise[0].kind, rise[0].priority) == ("advisory", "medium")
    assert 470 <= rise[0].started <= 700  # the cuff at 8 min
