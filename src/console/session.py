"""The session: the one place that owns what the console knows about this patient.

The transport hands ``Received`` records and ``LinkEvent`` s over a queue; ``Session.ingest``
is the only writer. Views read it (latest values with their availability, waveform rings,
whole-session trends, device state) and never change it. All time is session-clock seconds
passed in or read from the injected clock, so tests drive it with a FakeClock.
"""

from __future__ import annotations

import math
import queue
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from console.buffers import Ring, Series
from console.clinical import ClinicalProtocol
from console.clock import Clock
from console.dose import DosePlan
from console.metrics import METRICS, TRENDED_METRICS, role_of
from console.patient import Patient
from console.pump_watch import concentration_used
from console.records import (
    DecoderStats,
    DeviceAlarm,
    DeviceAlarms,
    Identity,
    LinkEvent,
    MemberMissing,
    Observations,
    Received,
    Rejection,
    Role,
    Value,
    Wave,
)
from console.timebase import DeviceTimebase, lag_tolerance_for

WAVEFORM_SECONDS = 12.0  # ring length per channel: the widest sweep window plus margin
DOSE_SERIES = "DOSE_MG"  # cumulative delivered dose (VI x CONC), a derived trend

# Which role reports each metric (for link-loss and "has this device ever sent it").
METRIC_DEVICE: dict[str, Role] = {name: m.role for name, m in METRICS.items()}
# A metric left unavailable because of a sensor state says so instead of "no data".
SENSOR_OF = {"SPO2": "SPO2_PROBE", "PR": "SPO2_PROBE", "PI": "SPO2_PROBE", "HR": "ECG_LEADS"}
SENSOR_OFF_TEXT = {"SPO2_PROBE": "probe off", "ECG_LEADS": "leads off"}
# Why a metric has no value while its device sends demo data (a tile then shows the demo value
# marked so, from ``Session.demo_reading``).
DEMO_REASON = "DEMO data, not the patient's"


@dataclass(slots=True)
class Reading:
    """A metric as a view must show it: a value, or why there is none."""

    value: float | None
    time: float | None  # session time of the value (device time mapped)
    reason: str = ""  # "" when current; otherwise "no data", "probe off", "link lost", ...

    @property
    def available(self) -> bool:
        return self.value is not None and not self.reason


@dataclass(slots=True)
class NibpReading:
    systolic: int
    diastolic: int
    mean: int
    taken_at: float  # session time the cuff measured


LinkShown = Literal["none", "waiting", "connecting", "up", "lost", "down"]


@dataclass(slots=True)
class _Latest:
    value: float | int | str | list | None
    time: float  # mapped device time
    rx_time: float


PRIMARY_DEVICES: tuple[Role, Role] = ("vitals", "pump")  # the monitor, and the pump that carries the plan


def role_of_device(name: str) -> Role:
    """A device's role from its name: "vitals", "pump", or "pump-2", "pump-3"... for the
    other pumps of a rack (shown with their alarms; they never drive the dose or phases)."""
    return name.split("-", 1)[0]


@dataclass
class DeviceState:
    device: str  # the device's name: its role, or "pump-2"... for another device of that role
    url: str = ""
    transport_state: str = "none"  # no source configured for this device yet
    transport_reason: str = ""
    last_valid_rx: float | None = None  # session time of the last accepted sentence
    model: str = ""
    serial: str = ""
    firmware: str = ""
    proto: str = ""
    unsupported_protocol: str | None = None
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)
    stats: DecoderStats | None = None  # the decoder's own counts (noise, sequence losses)
    timebase: DeviceTimebase = field(default_factory=DeviceTimebase)
    signal_quality_low: bool = False  # the oximeter says its signal is poor (SPO2_SIGNAL LOW)
    nibp_ms: int | None = None  # device time of the last cuff reading taken in (a repeat is not a new one)
    # The device's own active alarms (a monitor's patient alarms and INOPs), with when each began.
    device_alarms: dict[str, tuple[DeviceAlarm, float]] = field(default_factory=dict)
    # Another pump's own values (it feeds no tile, trend, dose or phase; its alarms are shown).
    latest: dict[str, _Latest] = field(default_factory=dict)
    # The device's last report was demo data (a monitor in demo mode, Observations.demo), and
    # its demo values: kept here, apart from everything that reads the patient's values.
    demo: bool = False
    demo_values: dict[str, _Latest] = field(default_factory=dict)
    # The device the link was opened for is not behind it (the selected pump is not in the
    # rack): why, in words, until it reports again.
    missing: str | None = None
    # A source that reports in batches (an HL7 gateway, once a minute): its interval, which the
    # stale and link-lost times stretch by (Session.link_timeout, Session.stale_after); None: a
    # device that streams.
    report_interval_s: float | None = None

    @property
    def role(self) -> Role:
        return role_of_device(self.device)

    @property
    def primary(self) -> bool:
        return self.device in PRIMARY_DEVICES

    @property
    def label(self) -> str:
        if self.device == "vitals":
            return "Vitals monitor"
        if self.device == "pump":
            return "Pump"
        return f"Pump {self.device.split('-', 1)[1]}" if self.role == "pump" else self.device


@dataclass(slots=True)
class SessionEvent:
    """One entry of the session timeline. ``text`` is for people; code reads the typed
    fields (never the words): ``priority`` of an alarm, ``device``/``link_state`` of a link
    change, ``user`` who acted."""

    time: float
    kind: str  # "link", "alarm", "marker", "note", "phase", "pump", ...
    text: str
    priority: str | None = None  # alarm events: "high" | "medium" | "low"
    device: str | None = None  # link and device events: the role ("vitals", "pump")
    link_state: str | None = None  # link events: "connecting" | "up" | "down"
    user: str | None = None
    training_link: bool = False  # the simulator's own "link up": not worth a trend label


class Session:
    def __init__(
        self,
        protocol: ClinicalProtocol,
        clock: Clock,
        *,
        plan: DosePlan | None = None,
        patient: Patient | None = None,
        simulated: bool = False,
        scenario: str | None = None,
    ) -> None:
        self.protocol = protocol
        self.clock = clock
        self.plan = plan
        self.patient = patient
        self.simulated = simulated
        self.scenario = scenario
        self.replay_of: Path | None = None  # the session file, in a ReplaySession: views then say "not live"
        tolerance = lag_tolerance_for(clock)
        self._tolerance = tolerance
        self.devices: dict[str, DeviceState] = {
            d: DeviceState(d, timebase=DeviceTimebase(tolerance)) for d in PRIMARY_DEVICES
        }
        self.latest: dict[str, _Latest] = {}
        self.seen: set[str] = set()  # metrics some device has sent a value for this session
        self.last_value_rx: dict[str, float] = {}  # receive time of each metric's last real value
        self.trends: dict[str, Series] = {}
        self.waveforms: dict[str, Ring] = {}
        self.waveform_rates: dict[str, float] = {}
        self.nibp: NibpReading | None = None
        self.nibp_history: list[NibpReading] = []
        self.events: list[SessionEvent] = []
        self.pump_first_running: float | None = None
        # The workflow's PumpWatch (nurse's infusion marks, estimated start), for the pump panel.
        self.pump_watch = None
        self.items_ingested = 0
        # Called with every ingested item (the session record listens here).
        self.listeners: list = []
        self.link_timeout_s = protocol.technical.link_lost_s
        self.stale_s = protocol.technical.metric_stale_s
        # Silence is counted only while the console listens (issue 11): see drain().
        self._looked_at: float | None = None
        self.listening_since: float | None = None

    # ------------------------------------------------------------------ writing
    def drain(self, q: queue.SimpleQueue, limit: int = 100_000) -> int:
        """Take what the transport has queued (bounded, so one frame never stalls).

        Two looks at the queue further apart than the link timeout mean the console was deaf
        in between: the display thread was busy, and as Qt painting keeps Python's GIL the
        transport and simulator threads were stopped too (a 19 s QPainter.drawPath stopped
        a 20 ms Python thread for 19 s), so what was sent meanwhile is read, and stamped,
        only afterwards. At 60x a frame blocked for 2 s is 120 s of session. That span is
        not silence of the device: link and stale timers count again from this look."""
        looked = self.clock.now()
        if self._looked_at is not None and looked - self._looked_at > self.link_timeout_s:
            self.listening_since = looked
        self._looked_at = looked
        n = 0
        while n < limit:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            self.ingest(item)
            n += 1
        return n

    def ingest(self, item: Received | LinkEvent) -> None:
        self.items_ingested += 1
        for listener in self.listeners:
            listener(item)
        if isinstance(item, LinkEvent):
            self._link_event(item)
            return
        dev = self.device(item.device)
        rec = item.item
        if isinstance(rec, MemberMissing):
            if dev.missing != rec.reason:
                self._event(item.rx_time, "link", f"{dev.label}: {rec.reason}", device=dev.device)
            dev.missing = rec.reason
            return
        if dev.missing is not None and not isinstance(rec, Rejection):
            dev.missing = None
            self._event(item.rx_time, "link", f"{dev.label} reports again", device=dev.device)
        if isinstance(rec, Rejection):
            dev.rejected[rec.reason] += 1
            if rec.unsupported_protocol is not None:
                dev.unsupported_protocol = rec.unsupported_protocol
                self._event(item.rx_time, "link", f"{item.device} speaks unsupported protocol "
                            f"version {rec.unsupported_protocol}: its data is ignored", device=item.device)
            return
        if dev.unsupported_protocol is not None and not isinstance(rec, Identity):
            # A device that announced a protocol we do not speak: its data may mean
            # something else, so it is not shown (the technical alarm says why).
            dev.rejected["unsupported_protocol"] += 1
            return
        dev.accepted += 1
        dev.last_valid_rx = item.rx_time
        if isinstance(rec, Wave):
            self._waveform(dev, rec, item.rx_time)
        elif isinstance(rec, Observations):
            # No device time worth using (device_ms None): the receive time is the time stamp.
            t = item.rx_time if rec.device_ms is None else dev.timebase.to_session(rec.device_ms, item.rx_time)
            if rec.demo or (dev.demo and not any(isinstance(v, (int, float)) for v in rec.values.values())):
                # A report of words only (sensor states) does not say the demo mode ended.
                self._demo(dev, rec.values, t, item.rx_time)
            else:
                if dev.demo:
                    dev.demo, dev.demo_values = False, {}
                    self._event(item.rx_time, "link", f"{dev.label} sends patient values again (demo data ended)",
                                device=dev.device)
                self._values(dev, rec.values, t, item.rx_time)
        elif isinstance(rec, Identity):
            self._identity(dev, rec)
        elif isinstance(rec, DeviceAlarms):
            if dev.demo:  # a monitor in demo mode alarms on its generated signals, not on the patient
                dev.device_alarms = {}
                return
            now_active = {a.code: a for a in rec.alarms}
            dev.device_alarms = {code: (a, dev.device_alarms[code][1] if code in dev.device_alarms else item.rx_time)
                                 for code, a in now_active.items()}

    def _event(self, t: float, kind: str, text: str, **typed) -> SessionEvent:
        event = SessionEvent(t, kind, text, **typed)
        self.events.append(event)
        return event

    def add_event(self, t: float, kind: str, text: str, *, priority: str | None = None,
                  user: str | None = None) -> SessionEvent:
        """A timeline event from outside the data path (alarms, chart entries, markers):
        the session is the one writer of its timeline."""
        return self._event(t, kind, text, priority=priority, user=user)

    def set_patient(self, patient: Patient | None) -> None:
        """The identified (or corrected) patient: written here, never from outside."""
        self.patient = patient

    def set_pump_watch(self, watch) -> None:
        """The workflow's PumpWatch (the nurse's infusion marks), which the pump panel reads."""
        self.pump_watch = watch

    def set_plan(self, plan: DosePlan | None) -> None:
        """The plan in force (set, replaced or titrated by the workflow)."""
        self.plan = plan

    def device(self, name: str) -> DeviceState:
        """A device's state; another pump of a rack is added when it first reports."""
        dev = self.devices.get(name)
        if dev is None:
            dev = self.devices[name] = DeviceState(name, timebase=DeviceTimebase(self._tolerance))
        return dev

    def other_devices(self) -> list[DeviceState]:
        return [d for d in self.devices.values() if not d.primary]

    def _link_event(self, ev: LinkEvent) -> None:
        dev = self.device(ev.device)
        changed = ev.state != dev.transport_state or ev.reason != dev.transport_reason
        dev.transport_state, dev.transport_reason = ev.state, ev.reason
        if ev.state == "down":
            dev.timebase.reset()
            if dev.primary:
                self._break_lines(ev.device, ev.rx_time)
        if changed:
            self._event(ev.rx_time, "link", f"{ev.device} link {ev.state}" + (f": {ev.reason}" if ev.reason else ""),
                        device=ev.device, link_state=ev.state,
                        training_link=ev.state == "up" and ev.reason == "training simulation")

    def _break_lines(self, device: Role, t: float) -> None:
        """A NaN in every trend and waveform of the device: a dropout is a gap, not a line."""
        for metric, series in self.trends.items():
            if role_of(metric) == device:
                last = series.last()
                if last is not None and not math.isnan(last[1]):
                    series.append(max(t, last[0]), math.nan)
        if device == "vitals":
            for ring in self.waveforms.values():
                if ring.count and not math.isnan(ring.window(1)[1][0]):
                    lt = ring.last_time
                    ring.extend(np.array([lt]), np.array([np.nan]))

    def _identity(self, dev: DeviceState, rec: Identity) -> None:
        dev.model, dev.serial, dev.firmware = rec.model, rec.serial, rec.firmware
        dev.proto = rec.protocol_version
        dev.unsupported_protocol = None  # a valid identity clears an earlier refusal

    def _trend(self, metric: str, t: float, value: float | None) -> None:
        series = self.trends.get(metric)
        if series is None:
            series = self.trends[metric] = Series()
        last = series.last()
        if last is not None and t < last[0]:
            t = last[0]  # keep trend times non-decreasing (device clock re-anchoring)
        series.append(t, math.nan if value is None else float(value))

    def _set(self, metric: str, value, t: float, rx: float) -> None:
        self.latest[metric] = _Latest(value, t, rx)
        if value is not None:
            self.seen.add(metric)
            self.last_value_rx[metric] = rx

    def _values(self, dev: DeviceState, values: dict, t: float, rx: float) -> None:
        if not dev.primary:  # another pump of the rack: its own values only, never the plan's
            for metric, value in values.items():
                if metric in METRICS:
                    dev.latest[metric] = _Latest(value, t, rx)
            return
        nibp = ("NIBP_SYS", "NIBP_DIA", "NIBP_MEAN")
        for metric, value in values.items():
            if metric in nibp or metric == "NIBP_MS" or metric not in METRICS:
                continue  # a device's own words (raw status fields) are recorded, not shown
            self._set(metric, value, t, rx)
            if metric in TRENDED_METRICS:
                self._trend(metric, t, value)
        if "SPO2_SIGNAL" in values:
            dev.signal_quality_low = values["SPO2_SIGNAL"] == "LOW"
        ms = values.get("NIBP_MS")
        # The same cuff reading again (a monitor polled every second repeats its last one) is no new one.
        repeat = isinstance(ms, int) and ms == dev.nibp_ms
        if values.get("NIBP_SYS") is not None and not repeat:
            dev.nibp_ms = ms if isinstance(ms, int) else None
            taken = dev.timebase.to_session(ms, rx) if isinstance(ms, int) else t
            reading = NibpReading(values["NIBP_SYS"], values["NIBP_DIA"], values["NIBP_MEAN"], taken)
            self.nibp = reading
            self.nibp_history.append(reading)
            for metric in nibp:
                self._set(metric, values[metric], taken, rx)
                self._trend(metric, taken, values[metric])
        if dev.device == "pump":
            self._pump(values, t)

    def _demo(self, dev: DeviceState, values: dict, t: float, rx: float) -> None:
        """Demo data: kept for the tiles to show marked DEMO, never as the patient's. It reaches
        no latest value, trend, cuff reading or "seen" metric, which the alarm engine, the
        discharge check and the recorded values read; the timeline says the device sends it."""
        if not dev.demo:
            dev.demo, dev.device_alarms = True, {}
            self._event(rx, "link", f"{dev.label} sends demo data (demo mode): not the patient's values; "
                        "shown marked DEMO, no alarms, no discharge check, not recorded as the patient's",
                        device=dev.device)
        for metric, value in values.items():
            if metric in METRICS:
                dev.demo_values[metric] = _Latest(value, t, rx)

    def _pump(self, values: dict, t: float) -> None:
        if values.get("PUMP_STATE") == "RUNNING" and self.pump_first_running is None:
            self.pump_first_running = t
            self._event(t, "pump", "pump first running: infusion started")
        vi = values.get("PUMP_VI")
        conc, _source = concentration_used(values.get("PUMP_CONC"), self.plan)
        if vi is not None and conc is not None:
            self._trend(DOSE_SERIES, t, vi * conc)

    def _waveform(self, dev: DeviceState, rec: Wave, rx: float) -> None:
        t0 = dev.timebase.to_session(rec.device_ms, rx)
        ring = self.waveforms.get(rec.channel)
        if ring is None:
            cap = int(WAVEFORM_SECONDS * rec.rate) + 64
            ring = self.waveforms[rec.channel] = Ring(cap)
        self.waveform_rates[rec.channel] = rec.rate
        step = 1.0 / rec.rate
        last = ring.last_time
        if last is not None:
            if t0 < last + 0.5 * step:
                # Overlap from the clock estimate tightening: continue the line instead of
                # folding it back on itself (the record keeps the device's own times).
                t0 = last + step
            elif t0 > last + 2.5 * step and not math.isnan(ring.window(1)[1][0]):
                # Samples are missing: break the line so the gap shows.
                ring.extend(np.array([last + step]), np.array([np.nan]))
        n = len(rec.samples)
        t = t0 + np.arange(n) * step
        samples = np.asarray(rec.samples, dtype=np.float64)
        ring.extend(t, samples * rec.scale if rec.scale != 1.0 else samples)  # in the channel's unit

    # ------------------------------------------------------------------ reading
    def now(self) -> float:
        return self.clock.now()

    def link_shown(self, device: str, now: float | None = None) -> LinkShown:
        """What the devices panel says of a link: the session judges 'lost' (no valid
        sentence for link_lost_s) on top of the transport's own state."""
        dev = self.device(device)
        now = self.now() if now is None else now
        if dev.transport_state == "down":
            return "down"
        if dev.last_valid_rx is None:
            if dev.transport_state == "none":
                return "none"
            if dev.transport_state == "connecting":
                return "connecting"
            return "waiting"
        if now - self.heard_since(dev.last_valid_rx) > self.link_timeout(device):
            return "lost"
        return "up"

    # A batch source's value is current until one and a half intervals have passed on top of the
    # usual tolerance (one late report is jitter, not silence: the MQTT keep-alive rule, too).
    INTERVAL_GRACE = 1.5

    def link_timeout(self, device: str) -> float:
        """Seconds without a valid sentence before the link counts as lost."""
        interval = self.device(device).report_interval_s
        return self.link_timeout_s + (self.INTERVAL_GRACE * interval if interval else 0.0)

    def stale_after(self, device: str) -> float:
        """Seconds after which a streamed value of ``device`` is no longer shown as current."""
        interval = self.device(device).report_interval_s
        return self.stale_s + (self.INTERVAL_GRACE * interval if interval else 0.0)

    def set_report_interval(self, device: str, seconds: float | None) -> None:
        self.device(device).report_interval_s = seconds

    def heard_since(self, rx: float) -> float:
        """A receive time, or the end of the last span the console was deaf if later: link
        and stale timers count silence only while the console listens (see drain)."""
        return rx if self.listening_since is None else max(rx, self.listening_since)

    def reading(self, metric: str, now: float | None = None) -> Reading:
        """The value a tile may show now, or why it must show none."""
        now = self.now() if now is None else now
        device = METRIC_DEVICE.get(metric, "vitals")
        latest = self.latest.get(metric)
        link = self.link_shown(device, now)
        if self.devices[device].unsupported_protocol is not None:
            return Reading(None, None, "unsupported protocol")
        if link in ("lost", "down"):
            return Reading(None, latest.time if latest else None, f"{device} link lost")
        if link == "none":
            return Reading(None, None, f"no {device} device connected")
        if self.devices[device].demo:
            return Reading(None, latest.time if latest else None, DEMO_REASON)
        if latest is None:
            return Reading(None, None, "no data")
        sensor = SENSOR_OF.get(metric)
        if sensor:
            state = self.latest.get(sensor)
            if state is not None and state.value == "OFF":
                return Reading(None, latest.time, SENSOR_OFF_TEXT[sensor])
        if not isinstance(latest.value, (int, float)):  # None: the device says not available
            return Reading(None, latest.time, "not measured")
        if self.protocol.limits.get(metric, None) is not None and self.protocol.limits[metric].episodic:
            return Reading(float(latest.value), latest.time)  # episodic: age shown, never stale
        age = now - self.heard_since(latest.rx_time)
        if age > self.stale_after(device):
            return Reading(None, latest.time, f"no data for {age:.0f} s")
        return Reading(float(latest.value), latest.time)

    def demo_reading(self, metric: str, now: float | None = None) -> Reading | None:
        """The demo value a tile shows marked DEMO while the metric's device sends demo data,
        or None (no demo data, none for this metric, link lost, or stale). Never the patient's
        value: ``reading`` then says DEMO_REASON, and nothing that judges the patient reads this."""
        now = self.now() if now is None else now
        device = METRIC_DEVICE.get(metric, "vitals")
        dev = self.devices[device]
        latest = dev.demo_values.get(metric)
        if not dev.demo or latest is None or self.link_shown(device, now) != "up":
            return None
        if not isinstance(latest.value, (int, float)):
            return None
        limits = self.protocol.limits.get(metric, None)
        if not (limits is not None and limits.episodic) and \
                now - self.heard_since(latest.rx_time) > self.stale_after(device):
            return None
        return Reading(float(latest.value), latest.time)

    def word(self, metric: str) -> Value:
        latest = self.latest.get(metric)
        return None if latest is None else latest.value

    def heart_rate_source(self) -> str:
        """HR from ECG; PR stands in when no ECG has sent HR (CLINICAL.md section 4)."""
        return "HR" if "HR" in self.seen or "PR" not in self.seen else "PR"

    def delivered_mg(self) -> float | None:
        """VI x CONC; the plan's concentration when the pump reports none or 0 (mL/h mode):
        a pump without a concentration still delivers drug (the panel says which is used)."""
        vi = self.word("PUMP_VI")
        conc, _source = concentration_used(self.word("PUMP_CONC"), self.plan)
        if isinstance(vi, (int, float)) and conc is not None:
            return vi * conc
        return None

    def elapsed_infusion_s(self, now: float | None = None) -> float | None:
        if self.pump_first_running is None:
            return None
        return (self.now() if now is None else now) - self.pump_first_running

    def next_cuff_due(self) -> float | None:
        """Session time the next cuff reading is due, by the phase's interval."""
        if self.nibp is None:
            return None
        ph = self.protocol.phases
        if self.pump_first_running is None:
            interval = ph.cuff_interval_baseline_min
        elif self.word("PUMP_STATE") in ("RUNNING", "PAUSED", "ALARM"):
            interval = ph.cuff_interval_infusion_min
        else:
            interval = ph.cuff_interval_recovery_min
        return self.nibp.taken_at + interval * 60.0

    def set_decoder_stats(self, device: str, stats: DecoderStats) -> None:
        self.device(device).stats = stats

    def set_device_url(self, device: str, url: str) -> None:
        self.device(device).url = url
