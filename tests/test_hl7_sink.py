"""The HL7 sink (console.hl7.sink) from a session on a fake clock to python-hl7's real MLLP
listener on loopback: held until the patient is confirmed, then everything in order; parsed back,
each value, code, unit, time and flag is the session's; training is marked T and only goes to a
training engine. The only real waiting is for the loopback socket."""

from __future__ import annotations

import pytest

from console.alarms.engine import AlarmEngine
from console.alarms.model import LogEntry
from console.clinical import load_protocol
from console.clock import FakeClock
from console.hl7 import codes
from console.hl7.messages import Location, ReadMessage, limits_in_force, parse_back
from console.hl7.outbox import Forwarder, Outbox
from console.hl7.sink import NO_TITRATION, Hl7Sink, TrainingToRealEngine
from console.records import LinkEvent, Observations, Received
from console.session import Session
from console.sinks import StepBatch
from test_hl7_mllp import CET, PATIENT, SENDER, Engine, forwarders

CHAIR = Location("Chair 3", point_of_care="Ketamine clinic")
TITRATION = "agitation settled: back to the planned rate"
PUMP_RUNNING = {"PUMP_RATE": 42.5, "PUMP_DOSE_RATE": 0.5, "PUMP_VTBI": 34, "PUMP_CONC": 1, "PUMP_WEIGHT": 85,
                "PUMP_DRUG": "KETAMINE"}


@pytest.fixture
def engine():
    e = Engine()
    e.up()
    yield e
    e.stop()


class Bed:
    """A session, its alarm engine and the sink, stepped one second at a time as the monitor does."""

    def __init__(self, tmp_path, port: int, *, simulated: bool = False, training_engine: bool = False,
                 patient=None) -> None:
        self.clock = FakeClock()
        self.session = Session(load_protocol(), self.clock, simulated=simulated, patient=patient)
        self.alarms = AlarmEngine(load_protocol(), user="nurse.test")
        self.outbox = Outbox(tmp_path / "outbox.sqlite")
        self.forwarders: dict = forwarders(self.outbox, port, self.clock)
        self.titrations: dict[float, str] = {}
        self.sink = Hl7Sink(self.session, self.outbox, self.forwarders, sender=SENDER, location=CHAIR,
                            training_engine=training_engine, engine=self.alarms, tz=CET,
                            titration_reason=self.titrations.get, background=False)
        self.logged = 0
        self.readings: dict[float, dict[str, tuple[float | None, float | None]]] = {}  # the session at each step
        self.records: list = [LinkEvent("vitals", "up", "test", 0.0), LinkEvent("pump", "up", "test", 0.0)]
        self.vitals = {"HR": 72, "SPO2": 97, "RR": 14}
        self.pump: dict = {"PUMP_STATE": "STOPPED", **PUMP_RUNNING, "PUMP_VI": 0.0}

    def second(self, **extra) -> None:
        self.clock.advance(1.0)
        now = self.clock.now()
        self.records.append(Received("vitals", Observations(None, None, {**self.vitals, **extra}), now, 0.0))
        self.records.append(Received("pump", Observations(None, None, dict(self.pump)), now, 0.0))
        for record in self.records:
            self.session.ingest(record)
        self.alarms.evaluate(self.session, now)
        entries = tuple(self.alarms.log[self.logged:])
        self.logged = len(self.alarms.log)
        self.readings[now] = {m: (r.value, r.time) for m in ("HR", "SPO2", "RR", "PUMP_RATE", "PUMP_VI")
                              for r in [self.session.reading(m, now)]}
        self.sink.publish(StepBatch(now, tuple(self.records), entries))
        self.records = []

    def until(self, t: float) -> None:
        while self.clock.now() < t:
            if self.pump["PUMP_STATE"] in ("RUNNING",):
                self.pump["PUMP_VI"] = round(self.pump["PUMP_VI"] + self.pump["PUMP_RATE"] / 3600, 4)
            self.second()

    def deliver(self) -> int:
        """Drain every queue through the forwarders (stepped, not threaded)."""
        sent = 0
        for fw in self.forwarders.values():
            while fw.step() == "delivered":
                sent += 1
        return sent

    def close(self) -> None:
        self.sink.close(self.clock.now())
        self.outbox.close()


def by_type(messages: list[ReadMessage], trigger: str) -> list[ReadMessage]:
    return [m for m in messages if m.message_type[1] == trigger]


def entries(bed: Bed, key: str) -> list[LogEntry]:
    return [e for e in bed.alarms.log if e.key == key and e.event in ("start", "priority", "end", "acknowledge")]


def test_held_until_the_patient_is_confirmed_then_all_arrive_in_order_equal_to_the_session(tmp_path, engine):
    bed = Bed(tmp_path, engine.port)
    try:
        bed.until(4)
        bed.pump["PUMP_STATE"] = "RUNNING"  # t=5: the infusion starts
        bed.until(19)
        bed.second(NIBP_SYS=118, NIBP_DIA=76, NIBP_MEAN=90)  # t=20: a cuff reading
        bed.vitals["SPO2"] = 88  # t=21..: below the medium limit (90 %)
        bed.until(44)
        bed.vitals["SPO2"] = 84  # t=45..: past the high one (85 %): the alarm escalates
        bed.until(55)
        bed.alarms.acknowledge("SPO2.low", bed.clock.now())
        bed.until(62)
        bed.vitals["SPO2"] = 97  # t=63..: recovers
        bed.titrations[75.0] = TITRATION
        bed.until(74)
        bed.pump["PUMP_RATE"], bed.pump["PUMP_DOSE_RATE"] = 30.0, 0.353  # t=75: titrated down
        bed.until(85)
        bed.pump["PUMP_STATE"] = "PAUSED"  # t=86
        bed.until(90)
        bed.pump["PUMP_STATE"] = "RUNNING"  # t=91: resumed
        bed.until(100)
        bed.pump["PUMP_STATE"] = "COMPLETE"  # t=101
        bed.until(109)

        # Nothing is stored, nothing reaches the engine, and the technical alarm says why.
        assert bed.deliver() == 0 and engine.received == [] and bed.outbox.waiting() == 0
        problem = bed.sink.problem(bed.clock.wall())
        assert problem is not None and "before the patient is confirmed" in problem
        assert "the oldest from 01:00:01" in problem  # FakeClock's wall is 2026-01-01 00:00 UTC, written in CET
        held = bed.sink.held
        assert held > 0

        bed.session.set_patient(PATIENT)  # t=110: the patient is confirmed
        bed.until(125)
        assert bed.sink.held == 0 and bed.sink.build_error is None
        sent = bed.deliver()
        assert sent == bed.outbox.delivered() == bed.sink.stored and bed.outbox.waiting() == 0
        assert bed.sink.problem(bed.clock.wall()) is None
        received = [parse_back(m) for m in engine.received]
        assert len(received) == sent
        assert all(m.processing_id == "P" for m in received)  # a real session: production
        assert {m.patient_id[0] for m in received} == {PATIENT.patient_id}
        assert all(m.location[:3] == ("Ketamine clinic", "", "Chair 3") for m in received)

        # In order per queue: MSH-10 in the order written, and each transaction's times never go back.
        for trigger in ("R01", "R40", "R42"):
            msgs = by_type(received, trigger)
            assert [m.control_id for m in msgs] == sorted(m.control_id for m in msgs)
        numerics = by_type(received, "R01")
        periodic = [m for m in numerics if "NIBP_SYS" not in m.metric_values()]
        cuff = [m for m in numerics if "NIBP_SYS" in m.metric_values()]

        # PCD-01 at the first step, then every 60 s of session time (t=1, 61, 121), and the cuff once.
        at = [bed.sink.time(t) for t in (1, 61, 121)]
        assert [m.requests[0].observed_at for m in periodic] == at
        assert len(cuff) == 1
        limits = bed.alarms.limits
        for message, t in zip(periodic, (1.0, 61.0, 121.0), strict=True):
            values = message.metric_values()
            for metric in ("HR", "SPO2", "RR", "PUMP_RATE", "PUMP_VI"):
                value, when = bed.readings[t][metric]
                obx = values[metric]
                code = codes.METRIC_CODES[metric]
                assert obx.number == value
                assert (obx.code, obx.ref_id) == (str(code.code.code), code.code.ref_id)
                assert (obx.unit_code, obx.ucum) == (str(code.unit.mdc.code), code.unit.ucum)
                assert obx.effective_time == bed.sink.time(when if when is not None else t)
                expected = limits_in_force(limits, metric)
                assert obx.reference_range == (expected.reference_range() if expected else "")
                assert obx.flags == ((expected.flag(value),) if expected and expected.flag(value) else ())
        assert periodic[1].metric_values()["SPO2"].flags == ("LL",)  # 84 % is past the urgent 85 %
        assert periodic[1].metric_values()["SPO2"].reference_range == ">90"
        nibp = cuff[0].metric_values()
        assert [nibp[m].number for m in ("NIBP_SYS", "NIBP_DIA", "NIBP_MEAN")] == [118, 76, 90]
        assert nibp["NIBP_SYS"].time == bed.sink.time(bed.session.nibp_history[0].taken_at) == bed.sink.time(20)
        assert nibp["NIBP_SYS"].flags == ()

        # PCD-04: each transition of the desaturation alarm, in order, one OBR-29 for the episode.
        log = entries(bed, "SPO2.low")
        assert [(e.event, e.priority) for e in log] == [("start", "medium"), ("priority", "high"),
                                                        ("acknowledge", "high"), ("end", "high")]
        prefix = codes.METRIC_CODES["SPO2"].sub_id
        spo2_alarms = [m for m in by_type(received, "R40") if m.observations[0].sub_id == f"{prefix}.1"]
        assert len(spo2_alarms) == len(log)
        assert len({m.requests[0].parent for m in spo2_alarms}) == 1
        assert spo2_alarms[0].requests[0].parent[0] == spo2_alarms[0].requests[0].filler[0]
        phases = {"start": "start", "priority": "escalate", "end": "end", "acknowledge": "acknowledged"}
        for message, entry in zip(spo2_alarms, log, strict=True):
            event = message.by_sub_id(f"{prefix}.1")
            assert event.time == bed.sink.time(entry.time)
            priority = {"high": "PH", "medium": "PM", "low": "PL"}[entry.priority]
            assert event.flags == ({"medium": "L", "high": "LL"}[entry.priority], priority, "SP")
            assert message.by_sub_id(f"{prefix}.6").value == priority
            assert message.by_sub_id(f"{prefix}.7").value == "SP"
            assert message.by_sub_id(f"{prefix}.3").value == phases[entry.event]
            source = message.by_sub_id(f"{prefix}.2")
            assert source.number == entry.value and source.reference_range == ">90"
        assert spo2_alarms[-1].by_sub_id(f"{prefix}.4").value == "inactive"  # ended after its acknowledgement
        assert spo2_alarms[-1].by_sub_id(f"{prefix}.5").value == "acknowledged"

        # PCD-10: started, the rate change (two messages), paused, resumed, completed.
        events = by_type(received, "R42")
        conditions = [m.by_sub_id("1.0.0.1").value_components[1] for m in events]
        assert conditions == ["MDC_EVT_PUMP_DELIV_START", "MDC_EVT_PUMP_DELIV_STOP", "MDC_EVT_PUMP_DELIV_START",
                              "MDC_EVT_PUMP_DELIV_STOP", "MDC_EVT_PUMP_DELIV_START", "MDC_EVT_PUMP_DELIV_COMP"]
        times = [m.requests[0].observed_at for m in events]
        assert times == [bed.sink.time(t) for t in (5, 75, 75, 86, 91, 101)]
        assert len({m.requests[0].filler[0] for m in events}) == 1  # one infusion: one OBR-3
        rate = [m.by_sub_id("1.1.2.4").number for m in events]
        assert rate == [42.5, 42.5, 30.0, 30.0, 30.0, 30.0]  # the ended segment reports the old rate
        assert events[1].by_sub_id("1.1.2.5").number == 0.5 and events[2].by_sub_id("1.1.2.5").number == 0.353
        assert events[1].by_sub_id("1.0.0.1").notes == (TITRATION,)
        assert all(m.by_sub_id("1.1.2.6").number == 34 for m in events)  # VTBI
        delivered = [m.by_sub_id("1.1.2.7").number for m in events]
        assert delivered == sorted(delivered) and delivered[-1] == bed.session.word("PUMP_VI")
        assert events[3].by_sub_id("1.1.2.14").value_components[1] == "pump-stopped-not-specified"
        assert events[0].requests[0].service[0] == "KETAMINE"
    finally:
        bed.close()


def test_a_rate_change_without_a_titration_says_so(tmp_path, engine):
    bed = Bed(tmp_path, engine.port, patient=PATIENT)
    try:
        bed.pump["PUMP_STATE"] = "RUNNING"
        bed.until(3)
        bed.pump["PUMP_RATE"] = 50.0  # changed at the pump's keypad
        bed.until(5)
        bed.deliver()
        events = by_type([parse_back(m) for m in engine.received], "R42")
        assert [m.by_sub_id("1.0.0.1").notes for m in events][1] == (NO_TITRATION,)
        assert [m.by_sub_id("1.1.2.4").number for m in events] == [42.5, 42.5, 50.0]
    finally:
        bed.close()


class FailingOutbox(Outbox):
    """The real store, failing (as a full disk would) for the puts whose numbers are in ``fail``."""

    def __init__(self, path, fail: set[int]) -> None:
        super().__init__(path)
        self.fail = fail
        self.puts = 0

    def put(self, queue, message, wall):
        self.puts += 1
        if self.puts in self.fail:
            raise OSError(28, "No space left on device")
        return super().put(queue, message, wall)


def test_a_store_that_fails_keeps_the_reports_held_and_stores_each_message_once_later(tmp_path, engine):
    bed = Bed(tmp_path, engine.port, patient=PATIENT)
    bed.outbox.close()
    bed.outbox = bed.sink.outbox = FailingOutbox(tmp_path / "failing.sqlite", fail={4})
    bed.forwarders = bed.sink.forwarders = forwarders(bed.outbox, engine.port, bed.clock)
    try:
        bed.pump["PUMP_STATE"] = "RUNNING"
        bed.until(2)  # t=1: started and the first report (puts 1, 2)
        bed.pump["PUMP_RATE"] = 50.0
        bed.second()  # t=3: the rate change's first message is stored (3), its second is not (4)
        assert bed.sink.held == 1 and bed.outbox.waiting() == 3
        problem = bed.sink.problem(bed.clock.wall())
        assert problem is not None and "the outbox cannot store them" in problem and "No space left" in problem
        bed.second()  # t=4: stored now, once, with the MSH-10 it was built with
        assert bed.sink.held == 0 and bed.sink.problem(bed.clock.wall()) is None
        bed.deliver()
        events = by_type([parse_back(m) for m in engine.received], "R42")
        ids = [m.control_id for m in events]
        assert len(ids) == 3 and ids[1].endswith(".1") and ids[2] == ids[1][:-2] + ".2"
        assert [m.requests[0].observed_at for m in events] == [bed.sink.time(t) for t in (1, 3, 3)]
        assert len(engine.received) == len(set(engine.received_ids())) == bed.outbox.delivered()
    finally:
        bed.close()


def test_training_is_marked_t_and_refused_for_an_engine_that_is_not_a_training_engine(tmp_path, engine):
    with pytest.raises(TrainingToRealEngine, match="training engine"):
        Bed(tmp_path / "real", engine.port, simulated=True, training_engine=False, patient=PATIENT)
    bed = Bed(tmp_path / "training", engine.port, simulated=True, training_engine=True, patient=PATIENT)
    try:
        bed.pump["PUMP_STATE"] = "RUNNING"
        bed.vitals["SPO2"] = 84
        bed.until(12)
        assert bed.deliver() > 0
        received = [parse_back(m) for m in engine.received]
        assert {m.message_type[1] for m in received} == {"R01", "R40", "R42"}
        assert {m.processing_id for m in received} == {"T"}
    finally:
        bed.close()


def test_a_confirmation_the_workflow_withholds_keeps_everything_held(tmp_path, engine):
    # The identified patient does not match the order: the session has a patient, the workflow
    # has not confirmed them, and nothing leaves.
    clock = FakeClock()
    session = Session(load_protocol(), clock, patient=PATIENT)
    box = Outbox(tmp_path / "outbox.sqlite")
    fws: dict[str, Forwarder] = forwarders(box, engine.port, clock)
    confirmed = False
    sink = Hl7Sink(session, box, fws, sender=SENDER, location=CHAIR, training_engine=False, tz=CET,
                   confirmed=lambda: confirmed, background=False)
    try:
        session.ingest(LinkEvent("vitals", "up", "test", 0.0))
        for t in range(1, 62):
            clock.set(float(t))
            session.ingest(Received("vitals", Observations(None, None, {"HR": 70 + t % 3}), clock.now(), 0.0))
            sink.publish(StepBatch(clock.now(), (), ()))
        assert sink.held == 2 and box.waiting() == 0
        assert "before the patient is confirmed" in (sink.problem(clock.wall()) or "")
        assert sink.close(clock.now()) is False  # never stored: the close says so
    finally:
        box.close()
