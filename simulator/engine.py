"""The in-process simulation: the API the console's training mode and the CLI both use.

Everything runs on a fixed 50 ms tick of session time, independent of how ``advance`` is
called, so the same scenario and seed give the same bytes whatever the step sizes.
Per tick, in this order:

1. waveform chunks whose last sample has fallen due;
2. the pump runs the tick that ends now (so it delivers nothing before its start event);
3. timeline and injected events due by now; a PS sentence if the pump's state, rate or
   alarms changed;
4. on a whole second: PK and patient advance one second, then the vitals ID (every 60 s)
   and VS, the pump ID (every 60 s) and its 1 Hz PS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator import events as ev
from simulator.link import Link
from simulator.monitor import VitalsMonitor
from simulator.patient import Patient
from simulator.pk import KetaminePk, PkParameters
from simulator.pump import Pump, PumpDevice
from simulator.scenario import Scenario, list_scenarios, load_scenario

TICK_MS = 50
ID_INTERVAL_MS = 60_000

__all__ = ["Scenario", "Simulation", "list_scenarios"]


@dataclass(order=True)
class _Pending:
    at_ms: int
    order: int
    name: str
    params: ev._Params


class Simulation:
    """A seeded, deterministic training session: one patient, one pump, two serial lines."""

    DRIVER = "icl"  # the console driver that reads what this simulator sends

    def __init__(self, scenario: str | Scenario, seed: int = 0) -> None:
        self.scenario = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self.seed = seed
        # A sixth stream for the PK leaves the first five (and so every earlier seed's
        # noise, cuff and line errors) as they were.
        streams = np.random.SeedSequence(seed).spawn(6)
        patient_rng, cuff_rng, wave_rng, vitals_line_rng, pump_line_rng, pk_rng = (
            np.random.default_rng(s) for s in streams
        )
        sc = self.scenario
        self.patient = Patient(sc.patient, patient_rng)
        self.pk = KetaminePk(PkParameters.for_weight(sc.patient.weight_kg).varied(pk_rng), step_s=1.0)
        self.pump = Pump(sc.plan)
        self.pump_device = PumpDevice(self.pump)
        self.monitor = VitalsMonitor(sc.baseline_s, cuff_rng, wave_rng)
        rate = sc.line.byte_error_rate
        self.vitals_link = Link(vitals_line_rng, rate if "vitals" in sc.line.devices else 0.0)
        self.pump_link = Link(pump_line_rng, rate if "pump" in sc.line.devices else 0.0)

        self._pending: list[_Pending] = []
        self._order = 0
        self._schedule(round(sc.baseline_s * 1000), "pump_start", ev.NoParams())
        for item in sc.events:
            self._schedule(
                round(item.at * 1000), item.event, ev.validate_event(item.event, item.params)
            )
        self._next_tick_ms = 0
        self._mg_this_second = 0.0
        self._pump_snapshot = self.pump.snapshot()
        self.now = 0.0
        self.vitals = None  # the patient's latest true state (patient.Vitals)

    # -- public API -----------------------------------------------------------------------
    def advance(self, t: float) -> tuple[bytes, bytes]:
        """Run the session up to time ``t`` (s) and return (vitals_bytes, pump_bytes) emitted
        in (previous t, t]; the first call also includes the sentences at time 0."""
        if t < self.now - 1e-9:
            raise ValueError(f"time goes forward only: {t} < {self.now}")
        target_ms = math.floor(t * 1000 + 1e-6)
        vitals_out: list[bytes] = []
        pump_out: list[bytes] = []
        while self._next_tick_ms <= target_ms:
            ms = self._next_tick_ms
            vitals, pump = self._tick(ms)
            if vitals:
                vitals_out.append(self.vitals_link.transmit(ms, vitals))
            if pump:
                pump_out.append(self.pump_link.transmit(ms, pump))
            self._next_tick_ms += TICK_MS
        self.now = max(self.now, t)
        return b"".join(vitals_out), b"".join(pump_out)

    def inject(self, event: str, **params) -> None:
        """Apply a scenario event now (same names and parameters as in scenario files)."""
        self._schedule(self._next_tick_ms, event, ev.validate_event(event, params))

    @property
    def plasma_ng_ml(self) -> float:
        return self.pk.plasma_ng_ml

    @property
    def effect_site_ng_ml(self) -> float:
        return self.pk.effect_ng_ml

    # -- internals ------------------------------------------------------------------------
    def _schedule(self, at_ms: int, name: str, params: ev._Params) -> None:
        at_ms = -(-at_ms // TICK_MS) * TICK_MS  # the first tick at or after the event
        self._pending.append(_Pending(at_ms, self._order, name, params))
        self._order += 1
        self._pending.sort()

    def _tick(self, ms: int) -> tuple[bytes, bytes]:
        vitals: list[bytes] = []
        pump: list[bytes] = []
        if ms > 0:
            vitals += self.monitor.chunks_ending(ms)
        if ms > 0:  # the pump runs the tick that ends now, in the state it had
            ml = self.pump.step(ms / 1000.0, TICK_MS / 1000.0)
            self._mg_this_second += ml * self.pump.plan.conc_mg_per_ml
        while self._pending and self._pending[0].at_ms <= ms:
            item = self._pending.pop(0)
            self._apply(item.name, item.params, ms)
        whole_second = ms % 1000 == 0
        snapshot = self.pump.snapshot()
        changed = snapshot != self._pump_snapshot
        self._pump_snapshot = snapshot
        if whole_second:
            if ms > 0:
                self.pk.step(self._mg_this_second)
                self._mg_this_second = 0.0
            t = ms / 1000.0
            self.vitals = self.patient.step(t, self.pk.effect_ng_ml)
            if ms % ID_INTERVAL_MS == 0:
                vitals.append(self.monitor.identity(ms))
                pump.append(self.pump_device.identity(ms))
            vitals.append(self.monitor.second(ms, self.vitals, self.pump.phase))
        if whole_second or changed:
            pump.append(self.pump_device.status(ms))
        return b"".join(vitals), b"".join(pump)

    def _apply(self, name: str, params: ev._Params, ms: int) -> None:
        t = ms / 1000.0
        if name in Patient.PATIENT_EVENTS:
            self.patient.apply(name, params, t)
        elif name == "nibp":
            self.monitor.cuff.request(t)
        elif isinstance(params, ev.LinkDropout):
            link = self.vitals_link if params.device == "vitals" else self.pump_link
            link.drop_out(ms, params.duration_s)
        elif isinstance(params, ev.LineNoise):
            if params.device in ("vitals", "both"):
                self.vitals_link.byte_error_rate = params.byte_error_rate
            if params.device in ("pump", "both"):
                self.pump_link.byte_error_rate = params.byte_error_rate
        elif name == "pump_start":
            self.pump.start()
        elif name == "pump_pause":
            self.pump.pause()
        elif name == "pump_resume":
            self.pump.resume()
        elif isinstance(params, ev.PumpAlarm):
            self.pump.raise_alarm(params.alarm, params.stops)
        elif isinstance(params, ev.PumpClear):
            self.pump.clear_alarms(params.resume)
        else:  # pragma: no cover - validate_event only lets known names through
            raise ValueError(f"unhandled event {name}")
