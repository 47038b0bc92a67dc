"""The hospital interface as a sink (console.sinks): what the session learns becomes IHE PCD
messages in the HL7 outbox, one queue per transaction (issue 15).

- **PCD-01** (observations): the session's current values every ``interval_s`` of session time
  (default 60 s), and each new cuff reading at once, in a message of its own (a cuff reading is
  sent once, when it arrives, not again with every periodic report).
- **PCD-04** (alarms): every alarm log entry of the step that is a start, a priority change, an
  end or an acknowledgement; one alarm episode keeps one OBR-29 identifier.
- **PCD-10** (infusion events): the pump's state changes seen in the step's records (started,
  paused, stopped, completed) and a rate change while running, with the titration's reason.

**No message leaves before the patient is confirmed.** Until ``confirmed()`` is true, what is to
be reported (the values, alarm transitions and pump events, with their times) is held in memory,
in order, and ``problem()`` says why it waits; at the first step after confirmation it is built
into messages, with the confirmed patient in PID, and stored in order. Messages are built only
then because PID must name the confirmed patient, not one who may still be corrected. The
session keeps no confirmation flag of its own: ``confirmed`` defaults to ``session.patient is not
None``; the workflow's ``IdentityDesk.patient_confirmed`` (False while a mismatch with the order
waits for a reason) is the explicit one, so the Console wiring should pass
``lambda: wf.patient is not None and wf.patient_confirmed``. What is held is lost if the console
dies before the confirmation (the session record keeps the data itself); from the confirmation
on, every message is on the disk before it is sent (console.hl7.outbox).

**Training never reaches a real chart.** A simulated session's messages carry MSH-11 = T, and the
sink refuses to be built for a simulated session unless its destination is marked as a training
engine (``training_engine``).

``publish`` runs on the monitor's thread: it builds and stores (one SQLite write per message) and
wakes the forwarders, which send on their own threads. Qt-free; every time comes from the
session's clock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from console.alarms.engine import AlarmEngine
from console.alarms.model import Alarm, Kind, LogEntry, Priority
from console.hl7.messages import (
    AlarmIndication,
    Equipment,
    InfusionEvent,
    InfusionEventKind,
    Location,
    Observation,
    PumpProgram,
    Sender,
    StopReason,
    limits_in_force,
    pcd01,
    pcd04,
    pcd10,
    sendable,
)
from console.hl7.outbox import Forwarder, Outbox, Queue
from console.metrics import METRICS, PUMP_NUMBERS, VITALS_METRICS
from console.records import Observations, Received
from console.session import Session
from console.sinks import StepBatch

log = logging.getLogger(__name__)

PROBLEM_EVERY_S = 1.0  # wall seconds between two looks at the outbox for the technical alarm
DRAIN_S = 5.0  # at the end of a session, how long the forwarders may go on sending what waits
INTERVAL_S = 60.0  # PCD-01 reporting interval, session seconds (a site setting; issue 15)
NIBP = ("NIBP_SYS", "NIBP_DIA", "NIBP_MEAN")
# The periodic report: every coded value but the cuff's, which goes once, when it is taken.
PERIODIC = tuple(m for m in (*VITALS_METRICS, *PUMP_NUMBERS) if m not in NIBP and sendable(m))
ALARM_EVENTS = ("start", "priority", "end", "acknowledge")  # what PCD-04 reports of the log
DELIVERING = ("RUNNING", "KVO")
# Said in PCD-10's NTE when the pump's rate changed and the console has no titration for it (the
# pump was changed at its keypad): the fact, rather than a reason nobody gave.
NO_TITRATION = "rate changed at the pump; no titration recorded at the console"


class TrainingToRealEngine(ValueError):
    """A simulated session pointed at an engine not marked as a training engine."""


@dataclass(frozen=True, slots=True)
class _Report:
    """PCD-01 content: the values, and the session time they belong to."""

    at: float
    values: tuple[tuple[str, float | None, float], ...]  # metric, value (None: unavailable), time


@dataclass(frozen=True, slots=True)
class _AlarmStep:
    entry: LogEntry
    alarm: Alarm  # the episode's state just after the entry
    episode: int  # the sink's own number of the episode: one OBR-29 for all its indications


@dataclass(frozen=True, slots=True)
class _PumpStep:
    kind: InfusionEventKind
    time: float
    program: PumpProgram
    infusion: int  # the sink's own number of the infusion: one OBR-3 for all its events
    previous_rate: float | None = None
    previous_dose_rate: float | None = None
    reason: str = ""
    stop_reason: StopReason = "unspecified"
    flowing: float | None = None


@dataclass(slots=True)
class _Episode:
    number: int
    active: bool = True
    acknowledged: bool = False


class Hl7Sink:
    """Builds PCD-01, PCD-04 and PCD-10 from the session and stores them in ``outbox``.

    ``forwarders`` (one per queue) send what is stored; the sink wakes them after each store,
    reports their problems in its own and stops them on ``close``. The caller starts them (or, in
    a test, steps them). ``engine``: the alarm engine, for the limits in force (OBX-7/8) and
    whether an alarm latches; ``titration_reason(t)``: the reason the workflow recorded for a rate
    change at session time ``t``, if any. ``tz``: the zone HL7 times are written in (None: the
    console's local zone)."""

    # Low: the bedside monitors and records as before; what the chart misses is kept and resent.
    priority: Priority = "low"

    def __init__(self, session: Session, outbox: Outbox, forwarders: Mapping[Queue, Forwarder], *,
                 sender: Sender, location: Location, training_engine: bool, engine: AlarmEngine | None = None,
                 confirmed: Callable[[], bool] | None = None, interval_s: float = INTERVAL_S,
                 equipment: Mapping[str, Equipment] | None = None,
                 titration_reason: Callable[[float], str | None] | None = None, tz: dt.tzinfo | None = None,
                 name: str = "HL7 interface", drain_s: float = DRAIN_S) -> None:
        if session.simulated and not training_engine:
            raise TrainingToRealEngine(
                "a simulated session sends only to an engine marked as a training engine: "
                "training must never reach a real chart")
        if interval_s <= 0:
            raise ValueError(f"the PCD-01 interval must be positive, not {interval_s!r}")
        self.session = session
        self.outbox = outbox
        self.forwarders = dict(forwarders)
        self.sender = sender
        self.location = location
        self.training_engine = training_engine
        self.training = session.simulated
        self.engine = engine
        self.confirmed = confirmed or (lambda: session.patient is not None)
        self.interval_s = interval_s
        self.equipment = dict(equipment) if equipment is not None else None
        self.titration_reason = titration_reason
        self.tz = tz
        self.name = name
        self.drain_s = drain_s
        self._held: list[_Report | _AlarmStep | _PumpStep] = []
        self._next_report: float | None = None
        self._nibp_seen = len(session.nibp_history)  # readings before the sink are not its to send
        self._episodes: dict[str, _Episode] = {}
        self._episode_ids: dict[int, str] = {}  # episode -> OBR-29 (its first indication's OBR-3)
        self._episode_count = 0
        self._pump: dict[str, object] = {}  # the pump's latest values, as the records said them
        self._infusion: int | None = None
        self._infusion_ids: dict[int, str] = {}
        self._infusion_count = 0
        self.stored = 0
        self._built: tuple[Queue, Sequence[str]] | None = None  # the oldest held item's messages, once built
        self._stored_of_item = 0  # how many of them are stored (a store that failed midway)
        self.build_error: str | None = None
        self.store_error: str | None = None
        self._problem: str | None = None
        self._problem_at: float | None = None
        self._problem_key: tuple = ()

    # ------------------------------------------------------------------ the monitor's thread
    def publish(self, batch: StepBatch) -> None:
        for record in batch.records:
            if isinstance(record, Received) and record.device == "pump" and isinstance(record.item, Observations):
                self._pump_record(record, record.item)
        self._cuff_readings()
        for entry in batch.alarm_entries:
            if isinstance(entry, LogEntry) and entry.event in ALARM_EVENTS:
                self._alarm_entry(entry)
        if self._next_report is None:
            self._next_report = batch.now  # the first report at the first step, then every interval
        if batch.now >= self._next_report:
            report = self._current_values(batch.now)
            if report.values:
                self._held.append(report)
            while self._next_report <= batch.now:  # on the interval's grid: no drift with late steps
                self._next_report += self.interval_s
        if self._held and self.confirmed():
            self._release()

    def _release(self) -> None:
        """Build and store what is held, oldest first. An item leaves the hold only once stored:
        when the store fails (disk full, a closed file) it and everything after it stay held, in
        order, and the next step tries again (the failure is the sink's problem meanwhile)."""
        while self._held:
            item = self._held[0]
            if self._built is None:  # built once: a retried store sends the same MSH-10s
                try:
                    self._built = self._build(item)
                except ValueError as exc:  # a builder's refusal: said in problem(), the rest still goes
                    log.exception("HL7 message not built")
                    self.build_error = f"a {type(item).__name__.strip('_')} could not be built: {exc}"
                    self._held.pop(0)
                    continue
            queue, messages = self._built
            wall = self.session.clock.wall()
            try:
                for n, message in enumerate(messages):
                    if n >= self._stored_of_item:  # a rate change's first message may be in already
                        self.outbox.put(queue, message, wall)
                        self._stored_of_item += 1
                        self.stored += 1
            except Exception as exc:
                log.exception("HL7 outbox failed")
                self.store_error = f"the outbox could not store a message: {type(exc).__name__}: {exc}"
                return
            self.store_error = None
            self._stored_of_item, self._built = 0, None
            self._held.pop(0)
            forwarder = self.forwarders.get(queue)
            if forwarder is not None:
                forwarder.wake()

    # ------------------------------------------------------------------ what is seen
    def _current_values(self, now: float) -> _Report:
        values: list[tuple[str, float | None, float]] = []
        for metric in PERIODIC:
            reading = self.session.reading(metric, now)
            if reading.available and reading.value is not None:
                values.append((metric, reading.value, reading.time if reading.time is not None else now))
            elif metric in self.session.seen:  # it had a value this session and has none now: NAV
                values.append((metric, None, now))
        return _Report(now, tuple(values))

    def _cuff_readings(self) -> None:
        for reading in self.session.nibp_history[self._nibp_seen:]:
            t = reading.taken_at
            self._held.append(_Report(t, ((NIBP[0], float(reading.systolic), t), (NIBP[1], float(reading.diastolic), t),
                                          (NIBP[2], float(reading.mean), t))))
        self._nibp_seen = len(self.session.nibp_history)

    def _alarm_entry(self, entry: LogEntry) -> None:
        episode = self._episodes.get(entry.key)
        if episode is None:  # a new episode (or one whose start came before this sink)
            self._episode_count += 1
            episode = self._episodes[entry.key] = _Episode(self._episode_count)
        if entry.event == "start":
            episode.active = True
        elif entry.event == "end":
            episode.active = False
        elif entry.event == "acknowledge":
            episode.acknowledged = True
        latching = self._latching(entry.key)
        snapshot = Alarm(entry.key, cast(Kind, entry.kind), cast(Priority, entry.priority), entry.metric,
                         entry.message, started=entry.time, episode=episode.number, value=entry.value,
                         limit=entry.limit, active=episode.active, latching=latching,
                         acknowledged_at=entry.time if episode.acknowledged else None)
        self._held.append(_AlarmStep(entry, snapshot, episode.number))
        # The episode is over once it is neither active nor shown latched (the engine's rule).
        if not episode.active and (episode.acknowledged or not latching):
            del self._episodes[entry.key]

    def _latching(self, key: str) -> bool:
        if self.engine is None:
            return False
        alarm = self.engine.alarms.get(key)
        if alarm is None:
            alarm = next((a for a in reversed(self.engine.history) if a.key == key), None)
        return bool(alarm and alarm.latching)

    def _pump_record(self, record: Received, obs: Observations) -> None:
        if obs.demo:
            return  # demo data is not the patient's infusion
        before_state = self._pump.get("PUMP_STATE")
        before_rate = self._num("PUMP_RATE")
        before_dose = self._num("PUMP_DOSE_RATE")
        self._pump.update({k: v for k, v in obs.values.items() if k in METRICS})
        state = self._pump.get("PUMP_STATE")
        # The session's time for this report: the receive time, or the device time mapped with
        # the pump's current offset (read, never updated here: the session owns the timebase).
        offset = self.session.device("pump").timebase.offset
        t = record.rx_time if obs.device_ms is None or offset is None else offset + obs.device_ms / 1000.0
        kind: InfusionEventKind | None = None
        stop: StopReason = "unspecified"
        flowing: float | None = None
        if state != before_state:
            if state == "RUNNING":
                kind = "started"
            elif state == "PAUSED" and before_state in DELIVERING:
                kind = "paused"
            elif state == "ALARM" and before_state in DELIVERING:
                kind, stop = "stopped", "alarm"
            elif state == "STOPPED" and before_state is not None:
                kind = "stopped"
            elif state == "COMPLETE" and before_state is not None:
                kind = "completed"
            elif state == "KVO":
                kind, flowing = "completed", self._num("PUMP_RATE")  # the VTBI done, the pump on at KVO
        elif state == "RUNNING" and before_rate is not None and self._num("PUMP_RATE") not in (None, before_rate):
            kind = "rate_changed"
        if kind is None:
            return
        if self._infusion is None:
            self._infusion_count += 1
            self._infusion = self._infusion_count
        reason = ""
        if kind == "rate_changed":
            reason = (self.titration_reason(t) if self.titration_reason else None) or NO_TITRATION
        self._held.append(_PumpStep(kind, t, self._program(), self._infusion, before_rate if kind == "rate_changed"
                                    else None, before_dose if kind == "rate_changed" else None, reason, stop, flowing))
        if kind == "completed" and not flowing:
            self._infusion = None  # the next start is another infusion

    def _num(self, metric: str) -> float | None:
        value = self._pump.get(metric)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def _program(self) -> PumpProgram:
        drug = self._pump.get("PUMP_DRUG")
        return PumpProgram(rate_ml_h=self._num("PUMP_RATE"), dose_rate_mg_kg_h=self._num("PUMP_DOSE_RATE"),
                           vtbi_ml=self._num("PUMP_VTBI"), delivered_ml=self._num("PUMP_VI"),
                           remaining_ml=self._num("PUMP_VTBI_REMAIN"), concentration_mg_ml=self._num("PUMP_CONC"),
                           weight_kg=self._num("PUMP_WEIGHT"), drug=drug if isinstance(drug, str) else "")

    # ------------------------------------------------------------------ building
    def time(self, t: float) -> dt.datetime:
        """Session time ``t`` as the aware wall-clock time HL7 needs (to the millisecond)."""
        clock = self.session.clock
        wall = round(clock.wall() - clock.now() + t, 3)
        moment = dt.datetime.fromtimestamp(wall, tz=dt.UTC)
        return moment.astimezone(self.tz) if self.tz is not None else moment.astimezone()

    def _equipment(self) -> dict[str, Equipment]:
        # The site's identifiers (EUI-64s) where it set them; for the other devices the serial
        # number and model each reported (TF-2 p.134 accepts these in test environments only).
        found = {role: Equipment(dev.serial, dev.model) for role, dev in self.session.devices.items()
                 if dev.primary and dev.serial}
        found.update(self.equipment or {})
        return found

    def _build(self, item: _Report | _AlarmStep | _PumpStep) -> tuple[Queue, Sequence[str]]:
        patient = self.session.patient
        if patient is None:
            raise ValueError("no patient to name in PID")
        created = self.time(self.session.clock.now())
        control_id = self.outbox.new_control_id()
        equipment = self._equipment()
        if isinstance(item, _Report):
            patient_limits = self.engine.limits if self.engine is not None else None
            observations = [Observation(metric, value, self.time(t),
                                        limits_in_force(patient_limits, metric) if patient_limits is not None else None,
                                        "valid" if value is not None else "unavailable")
                            for metric, value, t in item.values]
            return "PCD-01", [pcd01(self.sender, control_id=control_id, created=created, patient=patient,
                                    location=self.location, observed_at=self.time(item.at),
                                    observations=observations, equipment=equipment, training=self.training)]
        if isinstance(item, _AlarmStep):
            alarm_id = self._episode_ids.setdefault(item.episode, control_id)
            metric = item.entry.metric
            in_force = (limits_in_force(self.engine.limits, metric)
                      if self.engine is not None and metric in METRICS else None)
            indication = AlarmIndication.from_log(item.entry, item.alarm, time=self.time(item.entry.time),
                                                  alarm_id=alarm_id, indication_id=control_id, limits=in_force)
            device = METRICS[metric].role if metric in METRICS else ("pump" if metric.upper().startswith("PUMP")
                                                                     else "vitals")
            return "PCD-04", [pcd04(self.sender, control_id=control_id, created=created, patient=patient,
                                    location=self.location, alarm=indication, equipment=equipment.get(device),
                                    training=self.training)]
        infusion_id = self._infusion_ids.setdefault(item.infusion, control_id)
        event = InfusionEvent(item.kind, self.time(item.time), infusion_id, item.program,
                              previous_rate_ml_h=item.previous_rate, previous_dose_rate_mg_kg_h=item.previous_dose_rate,
                              reason=item.reason, stop_reason=item.stop_reason, flowing_ml_h=item.flowing)
        return "PCD-10", pcd10(self.sender, control_id=control_id, created=created, patient=patient,
                               location=self.location, event=event, equipment=equipment.get("pump"),
                               training=self.training)

    # ------------------------------------------------------------------ the technical alarm
    @property
    def held(self) -> int:
        """Reports not yet stored: waiting for the patient's confirmation, or for a store that failed
        (each becomes one message or two)."""
        return len(self._held)

    def problem(self, wall: float | None = None) -> str | None:
        """What the technical alarm says, or None. The monitor's ``wall`` is its own monotonic
        time; the outbox keeps wall-clock times, so the session clock's wall time is used, and
        the answer (a few SQLite reads) is worked out at most once a second of it."""
        now = self.session.clock.wall()
        # What changes the answer other than time: the hold, the stores, the forwarders' results.
        key = (len(self._held), self.stored, self.build_error, self.store_error,
               tuple((fw.delivered, fw.last_error, fw.unreachable_since) for fw in self.forwarders.values()))
        if key == self._problem_key and self._problem_at is not None and 0 <= now - self._problem_at < PROBLEM_EVERY_S:
            return self._problem
        self._problem_key, self._problem_at, self._problem = key, now, self._work_out_problem(now)
        return self._problem

    def _work_out_problem(self, wall: float) -> str | None:
        parts: list[str] = []
        if self._held:
            oldest = self._held[0]
            t = oldest.at if isinstance(oldest, _Report) else (
                oldest.entry.time if isinstance(oldest, _AlarmStep) else oldest.time)
            why = ("the outbox cannot store them" if self.store_error else
                   "nothing is sent to the hospital before the patient is confirmed")
            parts.append(f"HL7: {len(self._held)} report{'s' if len(self._held) != 1 else ''} held, the oldest "
                         f"from {self.time(t):%H:%M:%S}: {why}")
            if self.store_error:
                parts.append(f"HL7: {self.store_error}")
        if self.build_error:
            parts.append(f"HL7: {self.build_error}")
        for forwarder in self.forwarders.values():
            text = forwarder.problem(wall)
            if text:
                parts.append(text)
        return "; ".join(parts) if parts else None

    def interface_state(self, wall: float | None = None) -> list[tuple[str, str]]:
        """(transaction, what to show) for the devices tab: the destination, delivered, backlog,
        rejected and the last error, per queue; then what is held, if anything."""
        wall = self.session.clock.wall() if wall is None else wall
        rows: list[tuple[str, str]] = []
        for queue, fw in self.forwarders.items():
            waiting = self.outbox.waiting(queue)
            age = self.outbox.backlog_age(wall, queue)
            text = f"to {fw.client.destination}: {self.outbox.delivered(queue)} delivered, {waiting} waiting"
            if age is not None:
                text += f" (the oldest {age:.0f} s)"
            rejected = len(self.outbox.rejected(queue))
            if rejected:
                text += f", {rejected} rejected"
            if fw.unreachable_since is not None:
                text += ", engine unreachable"
            if fw.last_error:
                text += f". Last error: {fw.last_error}"
            rows.append((queue, text))
        if self._held:
            rows.append(("held", f"{len(self._held)} report{'s' if len(self._held) != 1 else ''} held until the "
                                 "patient is confirmed" if not self.store_error else self.store_error))
        return rows

    def close(self, now: float) -> bool:
        """Stop the forwarders (the outbox keeps what is unsent for a resend). False when reports
        were still held for want of a confirmed patient: they were never stored."""
        if self._held and self.confirmed():
            self._release()
        clean = not self._held
        if not clean:
            log.warning("HL7: %d reports never sent: the patient was not confirmed", len(self._held))
        self._drain()
        for forwarder in self.forwarders.values():
            forwarder.stop()
        return clean

    def _drain(self) -> None:
        """Let the forwarders send what waits, for up to ``drain_s`` wall seconds, while their
        engines answer. What is still unsent stays in the session file (``--resume``,
        ``send-hl7``)."""
        import time

        end = time.monotonic() + self.drain_s
        while time.monotonic() < end:
            busy = [fw for fw in self.forwarders.values()
                    if fw.unreachable_since is None and fw.outbox.waiting(fw.queue)]
            if not busy:
                return
            for fw in busy:
                fw.wake()
            time.sleep(0.05)


__all__ = ["INTERVAL_S", "NO_TITRATION", "Hl7Sink", "TrainingToRealEngine"]
