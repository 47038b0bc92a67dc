"""The alarm engine: which alarm conditions exist now, at what priority, and what people did
about them (CLINICAL.md sections 4-6).

Driven by the session clock: ``evaluate(session, now)`` is called often (every display frame)
and reads the session; people's actions (acknowledge, pause, alarm off, limit changes) are
commands with the user's name. Every start, end, priority change and action goes into the
alarm log. No Qt; tests drive it with a FakeClock-fed session.

Condition delays are measured from the time of the first out-of-limit sample (device time
mapped onto the session clock), so an alarm's start time is when its delay was met even if
the engine looked a little later (at 60x a display frame is 2 s of session).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass

from console.alarms.limits import LimitError, PatientLimits, Side
from console.alarms.model import RANK, Alarm, Kind, LogEntry, LogEvent, Priority, more_urgent
from console.clinical import ClinicalProtocol
from console.records import VITALS_METRICS
from console.session import SENSOR_OF, Session

LIMIT_METRICS = ("HR", "SPO2", "RR", "ETCO2", "TEMP")
# A device's own alarm (a monitor's patient alarm or INOP): the device is the primary alarm
# source and sounds it; the console shows it and never sounds it (its own checks sound once).
DEVICE_ALARM_PREFIX = "DEVICE."


def sounds(alarm: Alarm) -> bool:
    """Whether the console's own audio signals this alarm."""
    return alarm.key != "AUDIO" and not alarm.key.startswith(DEVICE_ALARM_PREFIX)  # continuous, with condition delays
EPISODIC_METRICS = ("NIBP_SYS", "NIBP_DIA")
BREATH_CO2 = 8.0  # capnogram above 8 mmHg counts as a breath
SIDE_WORD = {"below": "low", "above": "high"}

# Pump ALARM words (PROTOCOL.md) -> (priority, message, latching). Unknown words: high.
PUMP_WORDS: dict[str, tuple[Priority, str]] = {
    "OCCLUSION": ("high", "Pump occlusion: infusion stopped"),
    "AIR": ("high", "Pump: air in line, infusion stopped"),
    "DOOR": ("high", "Pump door open: infusion stopped"),
    "BATTERY": ("medium", "Pump battery low"),
    "NEAR_END": ("low", "Pump near end of infusion"),
    "END": ("low", "Pump: infusion complete"),
}
INFUSING_STATES = ("RUNNING", "KVO", "ALARM", "PAUSED")


def _pump_alarm_words(value: object) -> list[str]:
    """PUMP_ALARM's words: the drivers and replay give a list (None or []: none). A value of
    any other shape is one word, never dropped: a pump alarm must not go unseen."""
    if not value:
        return []
    return value if isinstance(value, list) else [str(value)]


def _beyond(value: float, limit: float | None, side: str) -> bool:
    """Outside one side's limit (a band's other side is judged on its own)."""
    if limit is None:
        return False
    return value < limit if side == "below" else value > limit


@dataclass
class Condition:
    """An alarm condition found present at this evaluation."""

    kind: Kind
    priority: Priority
    metric: str
    message: str
    started: float
    value: float | None = None
    limit: float | None = None
    unit: str = ""
    latching: bool = False


@dataclass
class AlarmOff:
    metric: str
    since: float
    until: float
    reason: str
    user: str


class AlarmOffRefused(ValueError):
    """ALARM OFF refused; the message says why."""


class AlarmEngine:
    def __init__(self, protocol: ClinicalProtocol, *, user: str) -> None:
        self.protocol = protocol
        self.user = user
        self.limits = PatientLimits(protocol)
        self.alarms: dict[str, Alarm] = {}  # the current episode of each shown condition
        self.history: list[Alarm] = []  # every episode of the session, in start order
        self.log: list[LogEntry] = []
        self.listeners: list[Callable[[LogEntry], None]] = []
        self.audio_paused_at: float | None = None
        self.audio_paused_until: float | None = None
        self.alarm_off: dict[str, AlarmOff] = {}
        self._external: dict[str, Condition] = {}  # hooks: audio, recording, self-test, advisories
        # Set by a session workflow, whose "no vitals data" alarm covers a vitals link that never
        # carried valid data; without one (bare engine, replay) "link lost" still says it.
        self.no_data_owns_vitals = False
        self._onsets: dict[tuple[str, str], float] = {}  # (key, priority) -> first violating time
        self._nibp: dict[str, Condition] = {}  # episodic conditions until the next reading
        self._nibp_seen: float | None = None
        self._last_breath: float | None = None
        self._co2_scanned = 0
        self._rr_zero_since: float | None = None
        self._link_counts: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._episodes = 0
        self.evaluations = 0
        self.closed = False  # close_session() was called: the session has stopped

    # ================================================================== evaluation
    def evaluate(self, session: Session, now: float) -> None:
        if self.closed:
            return  # after close_session: the stop of the sources raises nothing
        found: dict[str, Condition] = {}
        self._limit_alarms(session, now, found)
        self._episodic_alarms(session, found)
        self._apnoea(session, now, found)
        self._technical(session, now, found)
        found.update(self._external)
        self._apply(found, now)
        self._timers(now)
        self.evaluations += 1

    def _allowed(self, metric: str, priority: str) -> bool:
        """ALARM OFF silences a metric's medium (and low) limits, never its high ones, and
        never a metric the protocol file lists in ``not_switchable_off``."""
        return (priority == "high" or metric not in self.alarm_off
                or metric in self.protocol.signalling.not_switchable_off)

    def switchable_off(self, metric: str) -> bool:
        """Whether ALARM OFF may be offered for a metric (CLINICAL.md section 6): it has a
        limit below high priority and the protocol file does not list it as never off."""
        return (metric in self.protocol.limits
                and metric not in self.protocol.signalling.not_switchable_off
                and any(b.priority != "high" for b in self.limits.bands(metric)))

    def _limit_alarms(self, session: Session, now: float, found: dict[str, Condition]) -> None:
        for metric in LIMIT_METRICS:
            source = session.heart_rate_source() if metric == "HR" else metric
            spec = self.protocol.limits[metric]
            reading = session.reading(source, now)
            for side in ("below", "above"):
                key = f"{metric}.{SIDE_WORD[side]}"
                bands = [b for b in self.limits.bands(metric) if getattr(b, side) is not None]
                if not bands:
                    continue
                if not reading.available:
                    # No value: a pending delay cannot complete, an active alarm is kept as
                    # it is (the technical alarm says why there is no value).
                    for b in bands:
                        self._onsets.pop((key, b.priority), None)
                    if key in self.alarms and self.alarms[key].active:
                        found[key] = self._still(self.alarms[key])
                    continue
                value = reading.value
                assert value is not None  # a reading is available only with a value
                sample_time = reading.time if reading.time is not None else now
                fired: list[tuple[Priority, float, float]] = []  # priority, started, limit
                for b in bands:
                    onset_key = (key, b.priority)
                    limit = getattr(b, side)
                    if _beyond(value, limit, side):
                        since = self._onsets.setdefault(onset_key, sample_time)
                        if now - since >= b.delay_s and self._allowed(metric, b.priority):
                            fired.append((b.priority, since + b.delay_s, limit))
                    else:
                        self._onsets.pop(onset_key, None)
                label = "PR" if source == "PR" else spec.label
                if fired:
                    priority, _started, limit = max(fired, key=lambda f: RANK[f[0]])
                    found[key] = Condition(
                        "physiological", priority, metric, f"{label} {SIDE_WORD[side]}",
                        started=min(f[1] for f in fired), value=value, limit=limit,
                        unit=spec.unit, latching=priority == "high")
                elif key in self.alarms and self.alarms[key].active:
                    # Hysteresis: back inside the limit, but not by the margin: still on.
                    outer = self.limits.outer(metric, side)
                    assert outer is not None  # ``bands`` has a limit on this side
                    margin = spec.hysteresis
                    inside = value >= outer + margin if side == "below" else value <= outer - margin
                    if not inside and self._allowed(metric, self.alarms[key].priority):
                        found[key] = self._still(self.alarms[key], value)

    def _episodic_alarms(self, session: Session, found: dict[str, Condition]) -> None:
        """NIBP: judged once per cuff reading; stays until a reading inside the limits
        (by the hysteresis margin). Acknowledging it silences it, nothing more."""
        nibp = session.nibp
        if nibp is not None and nibp.taken_at != self._nibp_seen:
            self._nibp_seen = nibp.taken_at
            for metric, value in (("NIBP_SYS", nibp.systolic), ("NIBP_DIA", nibp.diastolic)):
                spec = self.protocol.limits[metric]
                for side in ("below", "above"):
                    key = f"{metric}.{SIDE_WORD[side]}"
                    bands = [b for b in self.limits.bands(metric)
                             if _beyond(value, getattr(b, side), side) and self._allowed(metric, b.priority)]
                    if bands:
                        worst = max(bands, key=lambda b: RANK[b.priority])
                        word = "systolic" if metric == "NIBP_SYS" else "diastolic"
                        self._nibp[key] = Condition(
                            "physiological", worst.priority, metric, f"NIBP {word} {SIDE_WORD[side]}",
                            started=nibp.taken_at, value=value, limit=getattr(worst, side),
                            unit=spec.unit, latching=worst.priority == "high")
                    elif key in self._nibp:
                        outer = self.limits.outer(metric, side)
                        assert outer is not None  # it fired on this side; a limit is never removed
                        inside = (value >= outer + spec.hysteresis if side == "below"
                                  else value <= outer - spec.hysteresis)
                        if inside:
                            del self._nibp[key]
                        else:
                            self._nibp[key].value = value
        found.update(self._nibp)

    def _apnoea(self, session: Session, now: float, found: dict[str, Condition]) -> None:
        """No breath for the apnoea delay: RR = 0, or a capnogram with no breath in it."""
        delay = self.protocol.apnoea.delay_s
        ring = session.waveforms.get("CO2")
        last_sample = ring.last_time if ring is not None else None  # None while the ring is empty
        capnogram_current = last_sample is not None and now - last_sample <= 3.0
        if ring is not None and ring.total > self._co2_scanned:
            new = min(ring.total - self._co2_scanned, ring.count)
            t, v = ring.window(new)
            breaths = t[v >= BREATH_CO2]
            if breaths.size:
                self._last_breath = float(breaths[-1])
            elif self._last_breath is None and len(t):
                self._last_breath = float(t[0])  # no breath seen yet: count from first sample
            self._co2_scanned = ring.total
        rr = session.reading("RR", now)
        if rr.available and rr.value == 0:
            if self._rr_zero_since is None:
                self._rr_zero_since = rr.time if rr.time is not None else now
        elif rr.available:
            self._rr_zero_since = None
        since = None
        if capnogram_current and self._last_breath is not None and now - self._last_breath >= delay:
            since = self._last_breath
        if self._rr_zero_since is not None and now - self._rr_zero_since >= delay:
            since = self._rr_zero_since if since is None else min(since, self._rr_zero_since)
        if since is not None:
            found["APNOEA"] = Condition(
                "physiological", self.protocol.apnoea.priority, "RR",
                f"Apnoea: no breath for {now - since:.0f} s", started=since + delay,
                value=0.0, unit="s", latching=True)

    def _technical(self, session: Session, now: float, found: dict[str, Condition]) -> None:
        tech = self.protocol.technical
        for device, dev in list(session.devices.items()):
            name = dev.label
            if dev.unsupported_protocol is not None:
                found[f"PROTO.{device}"] = Condition(
                    "technical", "high", f"PROTOCOL_{device.upper()}",
                    f"{name} speaks unsupported protocol version {dev.unsupported_protocol}: data ignored",
                    started=now)
            if dev.missing is not None:
                # The pump the plan names is not in the rack: whatever else the rack reports,
                # nothing watches the ketamine pump (issue 14: high).
                found[f"RACK.{device}"] = Condition("technical", "high", f"RACK_{device.upper()}",
                                                    f"{name}: {dev.missing}", started=now)
            link = session.link_shown(device, now)
            # A vitals link that never carried a valid sentence is "no vitals data" (the
            # workflow's alarm, with its reason and priority), not a second alarm for one cause.
            never_heard = device == "vitals" and dev.last_valid_rx is None and self.no_data_owns_vitals
            if link in ("lost", "down") and not never_heard and dev.missing is None:
                if device == "vitals":
                    priority: Priority = "high"
                elif not dev.primary:  # another pump of the rack: it carries no ketamine
                    priority = "medium"
                else:
                    infusing = session.word("PUMP_STATE") in INFUSING_STATES
                    priority = "high" if infusing else "medium"
                why = (f"no valid sentence for {tech.link_lost_s:g} s" if link == "lost"
                       else dev.transport_reason or "disconnected")
                lost_at = (session.heard_since(dev.last_valid_rx) + tech.link_lost_s
                           if dev.last_valid_rx is not None else now)
                found[f"LINK.{device}"] = Condition(
                    "technical", priority, f"LINK_{device.upper()}", f"{name} link lost ({why})",
                    started=min(now, lost_at) if link == "lost" else now)
            self._link_error_rate(session, device, now, found)
        if session.link_shown("vitals", now) == "up":
            for metric in VITALS_METRICS:
                if metric.startswith("NIBP") or metric not in session.seen:
                    continue
                sensor = SENSOR_OF.get(metric)
                if sensor and session.word(sensor) == "OFF":
                    continue  # the probe/leads alarm says it better
                last = session.last_value_rx.get(metric)
                if last is not None:
                    last = session.heard_since(last)  # not the spans the console was deaf
                if last is not None and now - last > tech.metric_stale_s:
                    label = self.protocol.limits[metric].label if metric in self.protocol.limits else metric
                    found[f"STALE.{metric}"] = Condition(
                        "technical", "medium", metric, f"{label}: no value for {now - last:.0f} s",
                        started=last + tech.metric_stale_s)
            if session.word("SPO2_PROBE") == "OFF":
                found["PROBE.SPO2"] = Condition("technical", "medium", "SPO2_PROBE", "SpO2 probe off",
                                                started=session.latest["SPO2_PROBE"].time)
            if session.word("ECG_LEADS") == "OFF":
                found["LEADS.ECG"] = Condition("technical", "medium", "ECG_LEADS", "ECG leads off",
                                               started=session.latest["ECG_LEADS"].time)
            if session.devices["vitals"].signal_quality_low:
                found["SIGNAL.SPO2"] = Condition("technical", "low", "SPO2",
                                                 "SpO2 signal quality low (perfusion or interference)",
                                                 started=now)
        if session.link_shown("pump", now) == "up":
            words = _pump_alarm_words(session.word("PUMP_ALARM"))
            for word in words:
                priority, message = PUMP_WORDS.get(
                    word, ("high", f"Pump alarm {word} (not recognised by the console)"))
                found[f"PUMP.{word}"] = Condition("technical", priority, f"PUMP_{word}", message,
                                                  started=session.latest["PUMP_ALARM"].time)
            if session.word("PUMP_STATE") == "COMPLETE" and "END" not in words:
                found["PUMP.END"] = Condition("technical", "low", "PUMP_END", PUMP_WORDS["END"][1],
                                              started=session.latest["PUMP_STATE"].time)
        for device, dev in session.devices.items():  # a device's own alarms, shown as its own
            if not dev.device_alarms or session.link_shown(device, now) != "up":
                continue
            for code, (alarm, since) in dev.device_alarms.items():
                found[f"{DEVICE_ALARM_PREFIX}{device}.{code}"] = Condition(
                    "physiological" if alarm.kind == "physiological" else "technical",
                    alarm.priority if alarm.priority in ("high", "medium", "low") else "high",  # type: ignore[arg-type]
                    f"DEVICE_{device.upper()}", f"{dev.label}: {alarm.text} (its own alarm)", started=since)
        for dev in session.other_devices():  # the other pumps of a rack: their alarms, in their name
            latest = dev.latest.get("PUMP_ALARM")
            if latest is None or session.link_shown(dev.device, now) != "up":
                continue
            for word in _pump_alarm_words(latest.value):
                priority, message = PUMP_WORDS.get(
                    word, ("high", f"Pump alarm {word} (not recognised by the console)"))
                found[f"PUMP.{dev.device}.{word}"] = Condition(
                    "technical", priority, f"PUMP_{word}", f"{dev.label}: {message}", started=latest.time)

    def _link_error_rate(self, session: Session, device: str, now: float,
                         found: dict[str, Condition]) -> None:
        """More than 5 % of sentences rejected over the last 30 s."""
        tech = self.protocol.technical
        dev = session.devices[device]
        counts = self._link_counts[device]
        rejected = sum(dev.rejected.values())
        counts.append((now, dev.accepted, rejected))
        while len(counts) > 2 and counts[1][0] <= now - tech.link_error_window_s:
            counts.popleft()
        _t0, a0, r0 = counts[0]
        accepted, bad = dev.accepted - a0, rejected - r0
        total = accepted + bad
        if total >= 20 and bad / total > tech.link_error_fraction:
            name = "Vitals monitor" if device == "vitals" else "Pump"
            found[f"LINK_ERRORS.{device}"] = Condition(
                "technical", "low", f"LINK_ERRORS_{device.upper()}",
                f"{name} line errors: {100 * bad / total:.0f} % of sentences rejected",
                started=now, value=round(100 * bad / total, 1), unit="%")

    @staticmethod
    def _still(alarm: Alarm, value: float | None = None) -> Condition:
        return Condition(alarm.kind, alarm.priority, alarm.metric, alarm.message, alarm.started,
                         value if value is not None else alarm.value, alarm.limit, alarm.unit,
                         alarm.latching)

    # ================================================================== bookkeeping
    def _apply(self, found: dict[str, Condition], now: float) -> None:
        for key, cond in found.items():
            alarm = self.alarms.get(key)
            if alarm is None:
                self._episodes += 1
                alarm = Alarm(key, cond.kind, cond.priority, cond.metric, cond.message,
                              started=cond.started, episode=self._episodes, value=cond.value,
                              limit=cond.limit, unit=cond.unit, latching=cond.latching)
                self.alarms[key] = alarm
                self.history.append(alarm)
                self._log(cond.started, "start", alarm)
                continue
            if not alarm.active:  # a latched alarm whose condition came back
                alarm.active, alarm.ended = True, None
                self._log(now, "start", alarm, detail="condition returned while latched")
            priority = cond.priority
            if alarm.latching and not alarm.acknowledged:
                priority = more_urgent(priority, alarm.highest)  # a latched high stays high
            alarm.value, alarm.message = cond.value, cond.message
            alarm.latching = alarm.latching or cond.latching
            if cond.limit is not None and (priority == cond.priority or alarm.limit is None):
                # The alarm states the limit it crossed: a latched high alarm whose value is
                # now only beyond the medium limit still names the high limit (SpO2 85).
                alarm.limit = cond.limit
            if priority != alarm.priority:
                old = alarm.priority
                alarm.priority = priority
                alarm.highest = more_urgent(alarm.highest, priority)
                self._log(now, "priority", alarm, detail=f"{old} -> {priority}")
        for key in [k for k, a in self.alarms.items() if a.active and k not in found]:
            alarm = self.alarms[key]
            alarm.active, alarm.ended = False, now
            self._log(now, "end", alarm)
            if not alarm.latched:
                del self.alarms[key]

    def _timers(self, now: float) -> None:
        sig = self.protocol.signalling
        for alarm in self.alarms.values():
            if (alarm.priority == "high" and not alarm.acknowledged and not alarm.escalated
                    and alarm.shown and now - alarm.started >= sig.escalation_s
                    and not alarm.key.startswith("SELFTEST")):
                alarm.escalated, alarm.escalated_at = True, now
                self._log(now, "escalate", alarm, detail="not acknowledged in "
                          f"{sig.escalation_s:g} s: louder, nurse call")
        if self.audio_paused_until is not None and now >= self.audio_paused_until:
            self._log(now, "audio_resume", detail="audio pause over")
            self.audio_paused_at = self.audio_paused_until = None
        for metric, off in list(self.alarm_off.items()):
            if now >= off.until:
                del self.alarm_off[metric]
                self._log(now, "alarm_on", metric=metric, detail="alarm-off time limit reached")

    def _log(self, t: float, event: LogEvent, alarm: Alarm | None = None, *, metric: str = "",
             user: str = "", detail: str = "", value: float | None = None,
             limit: float | None = None) -> None:
        if alarm is not None:
            entry = LogEntry(t, event, alarm.key, alarm.kind, alarm.priority, alarm.metric,
                             alarm.message, alarm.value if value is None else value,
                             alarm.limit if limit is None else limit, user, detail)
        else:
            entry = LogEntry(t, event, metric=metric, user=user, detail=detail, value=value,
                             limit=limit)
        self.log.append(entry)
        for listener in self.listeners:
            listener(entry)

    # ================================================================== reading
    def shown(self) -> list[Alarm]:
        """Alarms on screen, most urgent first, then newest first."""
        return sorted((a for a in self.alarms.values() if a.shown),
                      key=lambda a: (-RANK[a.priority], -a.started))

    def metric_priority(self, metric: str) -> Priority | None:
        """The most urgent shown physiological alarm of a metric (tiles take its colour)."""
        best: Priority | None = None
        for a in self.alarms.values():
            if a.shown and a.kind == "physiological" and a.metric == metric:
                best = a.priority if best is None else more_urgent(best, a.priority)
        return best

    def sounding(self, now: float) -> list[Alarm]:
        """Alarms whose audio may sound now: shown, and not inside an audio pause unless
        they started after it (a new condition sounds even during a pause). Acknowledged
        ones are included: their audio is the reminder tone."""
        out = []
        for a in self.alarms.values():
            if not a.shown:
                continue
            if self.audio_paused_at is not None and a.started <= self.audio_paused_at:
                continue
            out.append(a)
        return out

    # ================================================================== commands
    def acknowledge(self, key: str, now: float, user: str | None = None) -> None:
        alarm = self.alarms.get(key)
        if alarm is None or alarm.acknowledged:
            return
        alarm.acknowledged_at, alarm.acknowledged_by = now, user or self.user
        self._log(now, "acknowledge", alarm, user=alarm.acknowledged_by)
        # An episodic (NIBP) alarm stays, marked acknowledged, until a reading inside the
        # limits (CLINICAL.md section 4): acknowledging silences its sound only.
        if not alarm.active:
            del self.alarms[key]  # a latched alarm that has ended goes away

    def acknowledge_all(self, now: float, user: str | None = None) -> None:
        for key in [a.key for a in self.shown()]:
            self.acknowledge(key, now, user)

    def pause_audio(self, now: float, user: str | None = None) -> None:
        pause = self.protocol.signalling.audio_pause_s
        self.audio_paused_at, self.audio_paused_until = now, now + pause
        self._log(now, "audio_pause", user=user or self.user, detail=f"all audio silent for {pause:g} s")

    def switch_off(self, metric: str, reason: str, now: float, user: str | None = None) -> AlarmOff:
        """ALARM OFF for one metric's medium (and low) limits, with a reason, for at most the
        protocol's time. High-priority limits stay on; a metric the protocol file lists in
        ``not_switchable_off`` (APNOEA at least) cannot be switched off at all."""
        reason = reason.strip()
        if not reason:
            raise AlarmOffRefused("ALARM OFF needs a reason")
        if metric in self.protocol.signalling.not_switchable_off or metric not in self.protocol.limits:
            raise AlarmOffRefused(f"{metric} alarms cannot be switched off (site protocol)"
                                  if metric in self.protocol.limits else
                                  f"{metric} alarms cannot be switched off")
        if not any(b.priority != "high" for b in self.limits.bands(metric)):
            raise AlarmOffRefused(f"{metric} has only high-priority limits, which stay on")
        minutes = self.protocol.signalling.alarm_off_max_min
        off = AlarmOff(metric, now, now + minutes * 60.0, reason, user or self.user)
        self.alarm_off[metric] = off
        self._log(now, "alarm_off", metric=metric, user=off.user,
                  detail=f"{reason} (medium limits off for at most {minutes:g} min; high limits stay on)")
        return off

    def switch_on(self, metric: str, now: float, user: str | None = None) -> None:
        if self.alarm_off.pop(metric, None) is not None:
            self._log(now, "alarm_on", metric=metric, user=user or self.user)

    def set_limit(self, metric: str, priority: str, side: Side, value: float, now: float,
                  user: str | None = None) -> None:
        """Change one per-patient limit within the protocol's bounds (logged old -> new)."""
        old = self.limits.set(metric, priority, side, value)
        self._onsets.pop((f"{metric}.{SIDE_WORD[side]}", priority), None)
        self._log(now, "limit_change", metric=metric, user=user or self.user, value=value, limit=old,
                  detail=f"{priority} {SIDE_WORD[side]} limit {old:g} -> {value:g}")

    def set_condition(self, key: str, active: bool, *, kind: Kind = "technical",
                      priority: Priority = "high", metric: str = "", message: str = "",
                      now: float = 0.0, latching: bool = False) -> None:
        """Hook for conditions found outside the engine: audio output unavailable, recording
        cannot be written, advisories of the session workflow. Applied at the next evaluate."""
        if active:
            existing = self._external.get(key)
            started = existing.started if existing else now
            self._external[key] = Condition(kind, priority, metric or key, message, started,
                                            latching=latching)
        else:
            self._external.pop(key, None)

    def close_session(self, now: float, reason: str = "session closed") -> None:
        """A clean stop is not a link loss: every open alarm ends now with ``reason`` (logged
        as its end), latched ones included, and nothing is judged after this. Call it before
        the sources stop, so their "monitoring stopped" is never taken for a lost link."""
        for alarm in list(self.alarms.values()):
            if alarm.active:  # a latched one has logged its end already
                alarm.active, alarm.ended = False, now
                alarm.extra["ended_by"] = reason
                self._log(now, "end", alarm, detail=reason)
        self.alarms.clear()
        self._external.clear()
        self.closed = True

    def start_self_test(self, now: float) -> None:
        """Show (and sound) a test alarm of each priority, so a nurse knows the speaker and
        lights work. The caller ends it (after a few seconds of wall time)."""
        for p in ("high", "medium", "low"):
            self.set_condition(f"SELFTEST.{p}", True, kind="technical", priority=p,
                               metric="SELF_TEST", message=f"Alarm self-test: {p} priority", now=now)
        self._log(now, "self_test", detail="start-up self-test: one test alarm of each priority")

    def end_self_test(self) -> None:
        for p in ("high", "medium", "low"):
            self.set_condition(f"SELFTEST.{p}", False)


__all__ = ["AlarmEngine", "AlarmOff", "AlarmOffRefused", "Condition", "LimitError"]
