"""The simulated patient as the IntelliVue emulator sees it: numerics and wave samples at a
session time, read from the running ``Simulation`` (its true state and what its monitor
shows), never from the ICL/1 bytes.

``PatientSource`` is what ``simulator.intellivue.IntelliVueMonitor`` asks; ``SimulationSource``
answers from a ``Simulation`` (stepped a whole second at a time, so every second's waveform
buffers are seen), ``FixedSource`` from fixed values (tests).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from simulator import waveforms as wf
from simulator.engine import Simulation

__all__ = ["WAVE_CHANNELS", "FixedSource", "Nibp", "Numerics", "PatientSource", "PumpView", "SimulationSource"]

WAVE_CHANNELS = ("ECG", "PLETH", "CO2")  # ECG in mV, PLETH in 0-4095 units, CO2 in mmHg
_RATES = {"ECG": wf.ECG_RATE, "PLETH": wf.PLETH_RATE, "CO2": wf.CO2_RATE}
_TO_PHYSICAL = {"ECG": 1e-3, "PLETH": 1.0, "CO2": 0.1}  # simulator units -> the emulator's
_KEEP_SECONDS = 8


@dataclass(frozen=True)
class Nibp:
    sys: int
    dia: int
    mean: int
    measured_at: float  # session seconds


@dataclass(frozen=True)
class Numerics:
    """What the monitor shows at a moment; None = the sensor is off (no valid value)."""

    hr: int | None
    pr: int | None
    spo2: int | None
    rr: int | None
    etco2: int | None  # None also while apnoeic: no end-tidal value on a flat capnogram
    temp: float | None
    nibp: Nibp | None  # the latest reading, if any
    leads_on: bool = True
    probe_on: bool = True


@dataclass(frozen=True)
class PumpView:
    """The simulated pump as a pump emulator reports it (its true state, in its own words:
    simulator.pump's states STOPPED, RUNNING, PAUSED, ALARM, COMPLETE and alarm words OCCLUSION,
    AIR, DOOR, NEAR_END, END, BATTERY, or any other a scenario raises)."""

    state: str
    rate_ml_h: float
    vtbi_ml: float  # programmed
    remaining_ml: float
    infused_ml: float
    alarms: tuple[str, ...]
    battery_percent: float
    drug: str
    conc_mg_ml: float
    weight_kg: float
    dose_rate_mg_kg_h: float


class PatientSource(Protocol):
    def numerics(self, now: float) -> Numerics: ...

    def wave(self, channel: str, start: float, count: int, period: float) -> tuple[list[float], bool]:
        """``count`` samples of ``channel`` at ``start + k * period`` (session seconds), in
        physical units, and whether the signal is valid (sensor on, data available)."""
        ...


@dataclass
class _Second:
    numerics: Numerics
    waves: dict[str, np.ndarray]


class SimulationSource:
    """A ``Simulation`` seen through an emulated device: the one place that advances the
    simulation (forward only), to the times it is asked about, whoever asks: an emulator's
    thread wanting values, or the training loop wanting the pump's bytes (``advance``).
    Thread-safe: the simulation is not, and an emulator and the training loop share one."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self._seconds: dict[int, _Second] = {}
        self._last = -1
        self._nibp: Nibp | None = None
        self._lock = threading.Lock()
        # The ICL/1 bytes every advance produced, until ``advance`` hands them over: an
        # emulator's request may advance the simulation, and the pump's sentences of that
        # stretch must still reach the console.
        self._vitals_bytes: list[bytes] = []
        self._pump_bytes: list[bytes] = []

    def advance(self, t: float) -> tuple[bytes, bytes]:
        """Run the simulation to session time ``t`` (if it is not there already) and return
        the (vitals, pump) ICL/1 bytes produced since the last call."""
        with self._lock:
            self._advance_to(t)
            if t > self.sim.now:  # the part-second, so the pump's sentences are not held back
                self._keep(self.sim.advance(t))
            vitals, pump = b"".join(self._vitals_bytes), b"".join(self._pump_bytes)
            self._vitals_bytes.clear()
            self._pump_bytes.clear()
            return vitals, pump

    def pump(self, now: float) -> PumpView:
        """The pump at session time ``now`` (the simulation advanced there first)."""
        with self._lock:
            self._advance_to(max(now, 0.0))
            p = self.sim.pump
            plan = p.plan
            return PumpView(p.state, p.rate_ml_h, plan.volume_ml, p.remaining_ml, p.volume_infused_ml,
                            tuple(p.alarms), p.battery, "KETAMINE", plan.conc_mg_per_ml, plan.weight_kg,
                            plan.dose_rate_mg_per_kg_h)

    def inject(self, event: str, **params: object) -> None:
        """An instructor's event, applied between two steps of the simulation."""
        with self._lock:
            self.sim.inject(event, **params)

    def _keep(self, produced: tuple[bytes, bytes]) -> None:
        vitals, pump = produced
        if vitals:
            self._vitals_bytes.append(vitals)
        if pump:
            self._pump_bytes.append(pump)

    def _advance_to(self, t: float) -> None:
        target = math.floor(t + 1e-9)
        while self._last < target:
            s = self._last + 1
            self._keep(self.sim.advance(float(s)))
            second_ms, waves = self.sim.monitor.second_waves()
            assert second_ms == s * 1000
            v = self.sim.vitals
            assert v is not None
            shown = self.sim.monitor.shown
            if "NIBP" in shown:  # only in the second a reading completes (NIBP_MS half a second earlier)
                sys_, dia, mean = shown["NIBP"]  # type: ignore[misc]
                self._nibp = Nibp(sys_, dia, mean, s - 0.5)
            rr = int(shown["RR"])  # type: ignore[arg-type]
            numerics = Numerics(
                hr=int(shown["HR"]) if v.leads_on else None,  # type: ignore[arg-type]
                pr=round(v.hr) if v.probe_on else None,
                spo2=int(shown["SPO2"]) if v.probe_on else None,  # type: ignore[arg-type]
                rr=rr,
                etco2=int(shown["ETCO2"]) if rr > 0 else None,  # type: ignore[arg-type]
                temp=round(v.temp, 1),
                nibp=self._nibp,
                leads_on=v.leads_on,
                probe_on=v.probe_on,
            )
            self._seconds[s] = _Second(numerics, waves)
            self._seconds.pop(s - _KEEP_SECONDS, None)
            self._last = s

    def numerics(self, now: float) -> Numerics:
        with self._lock:
            self._advance_to(max(now, 0.0))
            return self._seconds[self._last if now < 0 else math.floor(now + 1e-9)].numerics

    def wave(self, channel: str, start: float, count: int, period: float) -> tuple[list[float], bool]:
        rate = _RATES[channel]
        with self._lock:
            self._advance_to(max(start + count * period, 0.0))
            out: list[float] = []
            valid = True
            for k in range(count):
                t = start + k * period
                s = math.floor(t + 1e-9)
                second = self._seconds.get(s)
                if second is None:
                    out.append(0.0)
                    valid = False
                    continue
                if channel == "ECG" and not second.numerics.leads_on:
                    valid = False
                if channel == "PLETH" and not second.numerics.probe_on:
                    valid = False
                buf = second.waves[channel]
                x = max(0.0, (t - s) * rate)
                i = min(int(x), rate - 1)
                a = float(buf[i])
                if i + 1 < rate:
                    b = float(buf[i + 1])
                else:  # across the second's end: the next second's first sample, if synthesised
                    nxt = self._seconds.get(s + 1)
                    b = float(nxt.waves[channel][0]) if nxt is not None else a
                out.append((a + (b - a) * (x - i)) * _TO_PHYSICAL[channel])
            return out, valid


@dataclass
class FixedSource:
    """Fixed numerics and simple waves (tests): ECG a 1 mV square wave at 1 Hz, pleth a ramp,
    CO2 a constant; ``wave_valid`` says whether the wave sensors are on."""

    values: Numerics = field(
        default_factory=lambda: Numerics(hr=72, pr=71, spo2=97, rr=14, etco2=38, temp=36.6,
                                         nibp=Nibp(120, 80, 93, 0.0))
    )
    wave_valid: bool = True

    def numerics(self, now: float) -> Numerics:
        return self.values

    def wave(self, channel: str, start: float, count: int, period: float) -> tuple[list[float], bool]:
        times = [start + k * period for k in range(count)]
        if channel == "ECG":
            return [1.0 if (t % 1.0) < 0.5 else 0.0 for t in times], self.wave_valid
        if channel == "PLETH":
            return [float(round((t % 1.0) * 4000)) for t in times], self.wave_valid
        return [38.0 for _ in times], self.wave_valid
