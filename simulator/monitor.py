"""The simulated vitals monitor: numerics (VS), waveforms (WF), cuff pressure, ID.

Numerics are sent at 1 Hz. Waveforms are synthesised one second ahead (``waveforms.py``)
and sent in chunks of 25 samples as their last sample falls due: ECG (250 Hz) 10 chunks/s,
pleth (100 Hz) 4/s, capnogram (25 Hz) 1/s. A chunk never spans two seconds, so every
sample of a chunk shares the rates shown in one VS sentence.

Cuff (NIBP) schedule, following the session phases of CLINICAL.md section 2: one reading
60 s before the pump is due to start (or half-way through a baseline shorter than 2 min),
every 10 min from the pump's first start while the infusion lasts, one when the infusion
ends (unless a reading was taken in the last minute), then every 15 min; plus any
on-demand reading (the ``nibp`` event). A reading appears in the VS sentence of the second
it completes, with NIBP_MS half a second earlier.
"""

from __future__ import annotations

import numpy as np

from simulator import waveforms as wf
from simulator.encoder import DeviceEncoder, fmt_decimal
from simulator.patient import Vitals

CHUNK = 25
INFUSION_INTERVAL_S = 600
RECOVERY_INTERVAL_S = 900


class CuffSchedule:
    def __init__(self, baseline_s: float) -> None:
        first = baseline_s - 60 if baseline_s >= 120 else baseline_s / 2
        self.next_due = float(int(first))
        self.last_reading: float | None = None
        self._phase = "baseline"

    def request(self, t: float) -> None:
        """An on-demand reading, taken in the current second."""
        self.next_due = t

    def due(self, t: float, phase: str) -> bool:
        """Is a reading due at second ``t``? Also advances the schedule."""
        if phase != self._phase:
            if phase == "infusion" and self._phase == "baseline":
                self.next_due = t + INFUSION_INTERVAL_S
            elif phase == "recovery":
                recent = self.last_reading is not None and t - self.last_reading < 60
                self.next_due = t + RECOVERY_INTERVAL_S if recent else t
            self._phase = phase
        if t + 1e-9 < self.next_due:
            return False
        self.last_reading = t
        self.next_due = t + (INFUSION_INTERVAL_S if phase == "infusion" else RECOVERY_INTERVAL_S)
        if phase == "baseline":
            self.next_due = float("inf")  # the next one comes with the pump's start
        return True


class VitalsMonitor:
    MODEL = "SIM-VM1"
    FIRMWARE = "1.0"

    def __init__(
        self,
        baseline_s: float,
        cuff_rng: np.random.Generator,
        wave_rng: np.random.Generator,
        serial: str = "A100",
    ) -> None:
        self.serial = serial
        self.encoder = DeviceEncoder()
        self.cuff = CuffSchedule(baseline_s)
        self._cuff_rng = cuff_rng
        self._wave_rng = wave_rng
        self._cardiac_phase = 0.0
        self._breath_phase = 0.0
        self._second_ms = 0
        self._ecg = np.zeros(wf.ECG_RATE, dtype=np.int64)
        self._pleth = np.zeros(wf.PLETH_RATE, dtype=np.int64)
        self._co2 = np.zeros(wf.CO2_RATE, dtype=np.int64)
        self.shown: dict[str, int | float | None] = {}

    def identity(self, ms: int) -> bytes:
        return self.encoder.identity(ms, "VITALS", self.MODEL, self.serial, self.FIRMWARE)

    # -- once a second ------------------------------------------------------------------
    def second(self, ms: int, v: Vitals, phase: str) -> bytes:
        """The VS sentence for the second starting at ``ms``; prepares its waveforms."""
        t = ms / 1000.0
        hr = round(v.hr)
        rr = 0 if v.apnoeic else round(v.rr)
        fields = [
            f"HR={hr}" if v.leads_on else "HR=-",
            f"PR={round(v.hr + self._cuff_rng.normal(0, 0.4))}" if v.probe_on else "PR=-",
            f"SPO2={round(v.spo2)}" if v.probe_on else "SPO2=-",
            f"PI={fmt_decimal(v.pi, 2)}" if v.probe_on else "PI=-",
            f"RR={rr}",
            f"ETCO2={round(v.etco2) if rr > 0 else 0}",
            f"TEMP={fmt_decimal(v.temp, 1)}",
            f"SPO2_PROBE={'OK' if v.probe_on else 'OFF'}",
            f"ECG_LEADS={'OK' if v.leads_on else 'OFF'}",
        ]
        self.shown = {"HR": hr, "RR": rr, "SPO2": round(v.spo2), "ETCO2": round(v.etco2)}
        if self.cuff.due(t, phase):
            fields += [f"NIBP={self._measure(v)}", f"NIBP_MS={ms - 500}"]
        self._synthesise(ms, v, hr, rr)
        return self.encoder.sentence("VS", ms, fields)

    def _measure(self, v: Vitals) -> str:
        sys_ = round(v.sbp + self._cuff_rng.normal(0, 3.0))
        dia = round(v.dbp + self._cuff_rng.normal(0, 2.5))
        dia = min(max(dia, 20), sys_ - 10)
        mean = round(dia + (sys_ - dia) / 3)
        self.shown["NIBP"] = (sys_, dia, mean)
        return f"{sys_}/{dia}/{mean}"

    def _synthesise(self, ms: int, v: Vitals, hr: int, rr: int) -> None:
        self._second_ms = ms
        rng = self._wave_rng
        if v.leads_on:
            breath = wf.breath_wave(self._breath_phase, rr, wf.ECG_RATE)
            self._ecg = wf.ecg_second(self._cardiac_phase, hr, breath, rng)
        else:
            self._ecg = np.zeros(wf.ECG_RATE, dtype=np.int64)  # leads off: a flat line
        if v.probe_on:
            breath = wf.breath_wave(self._breath_phase, rr, wf.PLETH_RATE)
            self._pleth = wf.pleth_second(self._cardiac_phase, hr, v.pi, breath, rng)
        else:
            self._pleth = np.zeros(wf.PLETH_RATE, dtype=np.int64)  # probe off: a flat line
        self._co2 = wf.co2_second(self._breath_phase, rr, v.etco2)
        self._cardiac_phase = (self._cardiac_phase + hr / 60.0) % 1.0
        # An apnoea ends with a fresh breath, starting from inspiration.
        self._breath_phase = (self._breath_phase + rr / 60.0) % 1.0 if rr > 0 else 0.0

    def second_waves(self) -> tuple[int, dict[str, np.ndarray]]:
        """The waveforms synthesised for the second being played out: (its start in ms,
        {"ECG": microvolts at ECG_RATE, "PLETH": 0-4095 at PLETH_RATE, "CO2": mmHg x 10 at
        CO2_RATE}), copies. For emulators that need samples without the ICL/1 bytes."""
        return self._second_ms, {"ECG": self._ecg.copy(), "PLETH": self._pleth.copy(), "CO2": self._co2.copy()}

    # -- every tick ---------------------------------------------------------------------
    def chunks_ending(self, ms: int) -> list[bytes]:
        """Waveform chunks whose last sample is due before ``ms`` (multiple of 50)."""
        out = []
        offset = ms - self._second_ms  # 50..1000 into the second being played out
        if ms % 100 == 0:
            start = (offset - 100) * wf.ECG_RATE // 1000
            out.append(self._chunk(ms - 100, "ECG", wf.ECG_RATE, self._ecg, start))
        if ms % 250 == 0:
            start = (offset - 250) * wf.PLETH_RATE // 1000
            out.append(self._chunk(ms - 250, "PLETH", wf.PLETH_RATE, self._pleth, start))
        if ms % 1000 == 0:
            out.append(self._chunk(ms - 1000, "CO2", wf.CO2_RATE, self._co2, 0))
        return out

    def _chunk(self, ms: int, channel: str, rate: int, buffer: np.ndarray, start: int) -> bytes:
        return self.encoder.waveform(ms, channel, rate, buffer[start : start + CHUNK].tolist())
