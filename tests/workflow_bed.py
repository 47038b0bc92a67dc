"""A bedside for the workflow tests: a real Session and AlarmEngine on a FakeClock, a vitals
monitor and a pump speaking once a second (Received(Sentence(...)) as the transport hands
them over), and a SessionWorkflow updated before each engine evaluation, as the window does."""

from __future__ import annotations

from console.alarms.engine import AlarmEngine
from console.clinical import load_protocol
from console.clock import FakeClock
from console.dose import DosePlan
from console.patient import Patient
from console.records import Received
from console.session import Session
from console.workflow import SessionWorkflow
from wire_records import Sentence

NORMAL = dict(HR=72, PR=72, SPO2=98, PI=3.0, RR=14, ETCO2=38, TEMP=36.8)
PLAN = DosePlan(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50)  # 75 mL/h, 50 mL
PATIENT = Patient(patient_id="MRN-1234", name="Alex Morgan", date_of_birth="1986-04-12")


class Bed:
    def __init__(self, protocol=None, *, sign_in: bool = True) -> None:
        self.clock = FakeClock(start=1000.0)
        self.protocol = protocol or load_protocol()
        self.session = Session(self.protocol, self.clock)
        self.engine = AlarmEngine(self.protocol, user="nurse.test")
        self.wf = SessionWorkflow(self.protocol, self.session, self.engine)
        self.events = []
        self.wf.listeners.append(self.events.append)
        self.seq = {"vitals": 0, "pump": 0}
        self.vitals = dict(NORMAL)
        # The pump as programmed from the plan, not started. ``flow`` False freezes VI.
        self.pump = dict(PUMP_STATE="STOPPED", PUMP_DRUG="KETAMINE", PUMP_CONC=0.7, PUMP_RATE=0.0,
                         PUMP_VTBI=50.0, PUMP_VI=0.0, PUMP_WEIGHT=70.0, PUMP_DOSE_RATE=0.75,
                         PUMP_ALARM=[], PUMP_BATT=96)
        self.programmed_rate = 75.0
        self.flow = True
        if sign_in:
            self.wf.sign_in("Nurse Kim", now=self.clock.now())

    @property
    def now(self) -> float:
        return self.clock.now()

    def send(self, device, **values):
        self.seq[device] += 1
        rec = Sentence("VS" if device == "vitals" else "PS", self.seq[device], int(self.clock.now() * 1000), values)
        self.session.ingest(Received(device, rec, self.clock.now(), self.clock.wall()))

    def frame(self):
        self.wf.update(self.clock.now())
        self.engine.evaluate(self.session, self.clock.now())

    def second(self, n: int = 1, **override):
        """n seconds: vitals and pump once a second each, then a display frame."""
        for _ in range(n):
            self.clock.advance(1)
            self.send("vitals", **{**self.vitals, **override})
            if self.pump["PUMP_STATE"] == "RUNNING":
                self.pump["PUMP_RATE"] = self.programmed_rate
                if self.flow:
                    self.pump["PUMP_VI"] = round(self.pump["PUMP_VI"] + self.programmed_rate / 3600.0, 6)
            else:
                self.pump["PUMP_RATE"] = 0.0
            self.send("pump", **self.pump)
            self.frame()

    def minutes(self, m: float, **override):
        self.second(round(m * 60), **override)

    def cuff(self, systolic: int, diastolic: int):
        self.send("vitals", NIBP_SYS=systolic, NIBP_DIA=diastolic, NIBP_MEAN=(systolic + 2 * diastolic) // 3)
        self.frame()

    def start_pump(self):
        self.pump["PUMP_STATE"] = "RUNNING"

    def set_pump(self, state: str):
        self.pump["PUMP_STATE"] = state

    def ready_baseline(self, systolic: int = 124, diastolic: int = 78):
        """Plan, patient, 2 min of vitals and a cuff reading: ready to start."""
        self.wf.set_plan(PLAN, now=self.now)
        self.wf.identify(PATIENT, now=self.now)
        self.second(60)
        self.cuff(systolic, diastolic)
        self.second(60)

    def alarms(self):
        return {a.key: a for a in self.engine.shown()}

    def advisory(self, key):
        alarm = self.alarms().get(f"ADVISORY.{key}")
        return alarm if alarm is not None and alarm.active else None


def answer_checklist(wf, now: float) -> None:
    """The pre-session checks as a nurse answers them for a patient with nothing to declare."""
    for item in wf.checklist:
        wf.answer_check(item.key, "no" if item.detail_needed_when == "yes" else "yes", now=now)


def document_discharge(wf, now: float) -> None:
    """The discharge documentation of a patient fit to go: every score item 2, the driving
    restriction told and the written instructions given."""
    wf.score_discharge({item.key: 2 for item in wf.score_scale.items}, now=now)
    wf.acknowledge_driving_restriction(now=now)
    wf.acknowledge_written_instructions(now=now)
