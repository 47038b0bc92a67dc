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

``publish`` and ``problem`` run on the monitor's thread and touch no file: ``publish`` collects what
is to be reported and, once the patient is confirmed, hands it (with what its messages need from
the session) to the sink's storer thread, which builds and stores the messages in order (one
SQLite write with fsync each) and wakes the forwarders, which send on their own threads. The
technical alarm and the devices tab read counters kept in memory. Qt-free; every time comes from
the session's clock.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
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
    Limits,
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
from console.patient import Patient
from console.records import Observations, Received
from console.session import Session
from console.sinks import StepBatch

log = logging.getLogger(__name__)

STORE_RETRY_S = 1.0  # real seconds between two tries of a store that failed
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


@dataclass(frozen=True, slots=True)
class _Job:
    """A released report with what its messages need from the session at its release."""

    item: _Report | _AlarmStep | _PumpStep
    patient: Patient
    equipment: dict[str, Equipment]
    limits: dict[str, Limits | None]  # the limits in force, per metric of the report
    offset: float  # wall-clock minus session time at the release
    released: float  # session time of the release: the messages' MSH-7


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
                 name: str = "HL7 interface", drain_s: float = DRAIN_S, background: bool = True) -> None:
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
        # Released reports, in order, for the storer: building (a control id from the file) and
        # storing (an fsync) never run on the monitor's thread, which decides the alarms.
        self._jobs: collections.deque[_Job] = collections.deque()
        self._jobs_ready = threading.Condition()
        self._stopping = False
        self._built: tuple[Queue, Sequence[str]] | None = None  # the oldest job's messages, once built
        self._stored_of_item = 0  # how many of them are stored (a store that failed midway)
        self.build_error: str | None = None
        self.store_error: str | None = None
        self._storer: threading.Thread | None = None
        if background:
            self._storer = threading.Thread(target=self._store_loop, name="hl7-store", daemon=True)
            self._storer.start()

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
        if self._storer is None and self._jobs:  # no thread (tests): store, or retry a failed store, now
            self._store_pending()

    def _release(self) -> None:
        """Hand what is held to the storer, oldest first, each with what its messages need from
        the session now (the patient, the devices' identifiers, the limits in force, the clock's
        wall-time offset): the storer's thread reads nothing the monitor's thread changes."""
        patient = self.session.patient
        if patient is None:
            return
        equipment = self._equipment()
        clock = self.session.clock
        offset = clock.wall() - clock.now()
        jobs = [_Job(item, patient, equipment, self._limits_for(item), offset, clock.now()) for item in self._held]
        self._held.clear()
        with self._jobs_ready:
            self._jobs.extend(jobs)
            self._jobs_ready.notify()

    def _limits_for(self, item: _Report | _AlarmStep | _PumpStep) -> dict[str, Limits | None]:
        if self.engine is None:
            return {}
        if isinstance(item, _Report):
            metrics = [metric for metric, _value, _t in item.values]
        elif isinstance(item, _AlarmStep):
            metrics = [item.entry.metric] if item.entry.metric in METRICS else []
        else:
            return {}
        return {metric: limits_in_force(self.engine.limits, metric) for metric in metrics}

    # ------------------------------------------------------------------ the storer's thread
    def _store_loop(self) -> None:
        while True:
            with self._jobs_ready:
                while not self._jobs and not self._stopping:
                    self._jobs_ready.wait()
                if self._stopping and not self._jobs:
                    return
            if not self._store_pending():
                with self._jobs_ready:  # the store failed: try again in a second (or at close)
                    if not self._stopping:
                        self._jobs_ready.wait(STORE_RETRY_S)
                    elif self._jobs:
                        return  # closing with a store that still fails: the problem said so

    def _store_pending(self) -> bool:
        """Build and store the released jobs, oldest first. A job leaves the queue only once
        stored: when the store fails (disk full, the session file removed) it and everything after
        it wait, in order, and are tried again (the failure is the sink's problem meanwhile).
        False when a store failed."""
        while True:
            with self._jobs_ready:
                if not self._jobs:
                    return True
                job = self._jobs[0]
            if self._built is None:  # built once: a retried store sends the same MSH-10s
                try:
                    self._built = self._build(job)
                except Exception as exc:  # a builder's refusal: said in problem(), the rest still goes
                    log.exception("HL7 message not built")
                    self.build_error = f"a {type(job.item).__name__.strip('_')} could not be built: {exc}"
                    with self._jobs_ready:
                        self._jobs.popleft()
                    continue
            queue, messages = self._built
            wall = job.offset + self.session.clock.now()
            try:
                for n, message in enumerate(messages):
                    if n >= self._stored_of_item:  # a rate change's first message may be in already
                        self.outbox.put(queue, message, wall)
                        self._stored_of_item += 1
                        self.stored += 1
                        forwarder = self.forwarders.get(queue)
                        if forwarder is not None:
                            forwarder.note_stored(wall)
            except Exception as exc:
                log.exception("HL7 outbox failed")
                self.store_error = f"the outbox could not store a message: {type(exc).__name__}: {exc}"
                return False
            self.store_error = None
            self._stored_of_item, self._built = 0, None
            with self._jobs_ready:
                self._jobs.popleft()
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
    def time(self, t: float, offset: float | None = None) -> dt.datetime:
        """Session time ``t`` as the aware wall-clock time HL7 needs (to the millisecond);
        ``offset``: wall minus session time (default: the clock's now)."""
        if offset is None:
            clock = self.session.clock
            offset = clock.wall() - clock.now()
        moment = dt.datetime.fromtimestamp(round(offset + t, 3), tz=dt.UTC)
        return moment.astimezone(self.tz) if self.tz is not None else moment.astimezone()

    def _equipment(self) -> dict[str, Equipment]:
        # The site's identifiers (EUI-64s) where it set them; for the other devices the serial
        # number and model each reported (TF-2 p.134 accepts these in test environments only).
        found = {role: Equipment(dev.serial, dev.model) for role, dev in self.session.devices.items()
                 if dev.primary and dev.serial}
        found.update(self.equipment or {})
        return found

    def _build(self, job: _Job) -> tuple[Queue, Sequence[str]]:
        item, patient, equipment = job.item, job.patient, job.equipment

        def when(t: float) -> dt.datetime:
            return self.time(t, job.offset)

        created = when(job.released)
        control_id = self.outbox.new_control_id()
        if isinstance(item, _Report):
            observations = [Observation(metric, value, when(t), job.limits.get(metric),
                                        "valid" if value is not None else "unavailable")
                            for metric, value, t in item.values]
            return "PCD-01", [pcd01(self.sender, control_id=control_id, created=created, patient=patient,
                                    location=self.location, observed_at=when(item.at),
                                    observations=observations, equipment=equipment, training=self.training)]
        if isinstance(item, _AlarmStep):
            alarm_id = self._episode_ids.setdefault(item.episode, control_id)
            metric = item.entry.metric
            indication = AlarmIndication.from_log(item.entry, item.alarm, time=when(item.entry.time),
                                                  alarm_id=alarm_id, indication_id=control_id,
                                                  limits=job.limits.get(metric))
            device = METRICS[metric].role if metric in METRICS else ("pump" if metric.upper().startswith("PUMP")
                                                                     else "vitals")
            return "PCD-04", [pcd04(self.sender, control_id=control_id, created=created, patient=patient,
                                    location=self.location, alarm=indication, equipment=equipment.get(device),
                                    training=self.training)]
        infusion_id = self._infusion_ids.setdefault(item.infusion, control_id)
        event = InfusionEvent(item.kind, when(item.time), infusion_id, item.program,
                              previous_rate_ml_h=item.previous_rate, previous_dose_rate_mg_kg_h=item.previous_dose_rate,
                              reason=item.reason, stop_reason=item.stop_reason, flowing_ml_h=item.flowing)
        return "PCD-10", pcd10(self.sender, control_id=control_id, created=created, patient=patient,
                               location=self.location, event=event, equipment=equipment.get("pump"),
                               training=self.training)

    # ------------------------------------------------------------------ the technical alarm
    @property
    def held(self) -> int:
        """Reports not yet stored: waiting for the patient's confirmation, or for the storer (a
        store that failed keeps them); each becomes one message or two."""
        return len(self._held) + len(self._jobs)

    def _oldest_unstored(self) -> float | None:
        items = [job.item for job in list(self._jobs)[:1]] or self._held[:1]
        if not items:
            return None
        oldest = items[0]
        return oldest.at if isinstance(oldest, _Report) else (
            oldest.entry.time if isinstance(oldest, _AlarmStep) else oldest.time)

    def problem(self, wall: float | None = None) -> str | None:
        """What the technical alarm says, or None; from memory only (it runs on the monitor's
        thread every step). The monitor's ``wall`` is its own monotonic time; the outbox keeps
        wall-clock times, so the session clock's wall time is used."""
        now = self.session.clock.wall()
        parts: list[str] = []
        held = self.held
        if held:
            t = self._oldest_unstored()
            why = ("the outbox cannot store them" if self.store_error else
                   "nothing is sent to the hospital before the patient is confirmed" if self._held else
                   "being stored")
            if self.store_error or self._held:
                since = f", the oldest from {self.time(t):%H:%M:%S}" if t is not None else ""
                parts.append(f"HL7: {held} report{'s' if held != 1 else ''} held{since}: {why}")
            if self.store_error:
                parts.append(f"HL7: {self.store_error}")
        if self.build_error:
            parts.append(f"HL7: {self.build_error}")
        for forwarder in self.forwarders.values():
            text = forwarder.problem(now)
            if text:
                parts.append(text)
        return "; ".join(parts) if parts else None

    def interface_state(self, wall: float | None = None) -> list[tuple[str, str]]:
        """(transaction, what to show) for the devices tab: the destination, delivered, backlog,
        rejected and the last error, per queue; then what is held, if anything. From memory only."""
        wall = self.session.clock.wall() if wall is None else wall
        rows: list[tuple[str, str]] = []
        for queue, fw in self.forwarders.items():
            age = fw.backlog_age(wall)
            text = f"to {fw.client.destination}: {fw.delivered_total} delivered, {fw.waiting} waiting"
            if age is not None:
                text += f" (the oldest {age:.0f} s)"
            if fw.rejected_count:
                text += f", {fw.rejected_count} rejected"
            if fw.unreachable_since is not None:
                text += ", engine unreachable"
            if fw.last_error:
                text += f". Last error: {fw.last_error}"
            rows.append((queue, text))
        if self._held or self.store_error:
            held = self.held
            rows.append(("held", self.store_error or f"{held} report{'s' if held != 1 else ''} held until the "
                                                     "patient is confirmed"))
        return rows

    def close(self, now: float) -> bool:
        """Stop the forwarders (the outbox keeps what is unsent for a resend). False when reports
        were still held for want of a confirmed patient: they were never stored."""
        if self._held and self.confirmed():
            self._release()
        self._stop_storer()
        clean = not self._held and not self._jobs
        if not clean:
            log.warning("HL7: %d reports never sent: the patient was not confirmed", len(self._held))
        self._drain()
        for forwarder in self.forwarders.values():
            forwarder.stop()
        return clean

    def _stop_storer(self) -> None:
        """Let the storer store what was released (it ends when its queue is empty, or at once
        when a store keeps failing: what is unstored is then lost with the process, and close()
        says False)."""
        if self._storer is None:
            self._store_pending()
            return
        with self._jobs_ready:
            self._stopping = True
            self._jobs_ready.notify()
        self._storer.join(self.drain_s + 5.0)

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
