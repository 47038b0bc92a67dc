"""Waveform synthesis, one second at a time, vectorised with numpy.

A waveform's beat or breath timing comes from a phase accumulator advanced by the rate the
monitor shows for that second (HR for ECG and pleth, RR for the capnogram), so the number
of beats in the ECG is the HR on screen and the number of breaths in the capnogram is the
RR on screen. The pleth shares the ECG's cardiac phase, delayed by the pulse transit time.
"""

from __future__ import annotations

import numpy as np

ECG_RATE = 250
PLETH_RATE = 100
CO2_RATE = 25
PULSE_TRANSIT_S = 0.2  # R wave to the foot of the finger pulse

# PQRST as Gaussian bumps: (amplitude uV, centre s, width s); P and T centres scale with
# sqrt(RR interval) (Bazett) so the complex still fits inside one beat at high rates.
_ECG_WAVES = (
    (120.0, -0.17, 0.025, True),  # P
    (-110.0, -0.035, 0.010, False),  # Q
    (1150.0, 0.0, 0.011, False),  # R
    (-260.0, 0.035, 0.012, False),  # S
    (300.0, 0.28, 0.055, True),  # T
)


def _sample_phases(phase0: float, cycles_per_s: float, rate: int) -> np.ndarray:
    return phase0 + cycles_per_s * (np.arange(rate) / rate)


def ecg_second(
    cardiac_phase0: float, hr: int, breath_wave: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One second of ECG in microvolts (250 samples) starting at cardiac phase ``phase0``.

    ``breath_wave`` (250 values in -1..1) adds a small respiratory baseline wander.
    """
    period = 60.0 / hr
    phase = _sample_phases(cardiac_phase0, hr / 60.0, ECG_RATE)
    # Time from the nearest R wave, the beat window running from -0.35 to +0.65 of a period.
    tau = (np.mod(phase + 0.35, 1.0) - 0.35) * period
    stretch = np.sqrt(period)
    signal = np.zeros(ECG_RATE)
    for amplitude, centre, width, scales in _ECG_WAVES:
        c = centre * stretch if scales else centre
        w = width * stretch if scales else width
        signal += amplitude * np.exp(-(((tau - c) / w) ** 2))
    signal += 40.0 * breath_wave + rng.normal(0.0, 8.0, ECG_RATE)
    return np.rint(signal).astype(np.int64)


def pleth_second(
    cardiac_phase0: float,
    hr: int,
    perfusion_index: float,
    breath_wave: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One second of plethysmogram (100 samples, 0-4095), amplitude tied to the PI."""
    phase = _sample_phases(cardiac_phase0, hr / 60.0, PLETH_RATE) - PULSE_TRANSIT_S * hr / 60.0
    f = np.mod(phase, 1.0)
    # Systolic peak, dicrotic notch near f = 0.38, diastolic (reflected) wave after it.
    shape = np.exp(-(((f - 0.2) / 0.1) ** 2)) + 0.4 * np.exp(-(((f - 0.5) / 0.1) ** 2))
    amplitude = min(1800.0, 350.0 * perfusion_index)
    signal = 2048.0 + amplitude * (shape - 0.4) + 0.06 * amplitude * breath_wave
    signal += rng.normal(0.0, 4.0, PLETH_RATE)
    return np.clip(np.rint(signal), 0, 4095).astype(np.int64)


def breath_wave(breath_phase0: float, rr: int, rate: int) -> np.ndarray:
    """A smooth -1..1 respiratory signal (baseline wander, pleth modulation)."""
    return np.sin(2 * np.pi * _sample_phases(breath_phase0, rr / 60.0, rate))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def co2_second(breath_phase0: float, rr: int, etco2: float) -> np.ndarray:
    """One second of capnogram in mmHg x 10 (25 samples); zero when ``rr`` is 0 (apnoea).

    Each breath: inspiration (CO2 near zero) for the first 35 %, a steep expiratory upstroke,
    an alveolar plateau rising slowly to the end-tidal value, and a sharp inspiratory
    downstroke at the end.
    """
    if rr <= 0:
        return np.zeros(CO2_RATE, dtype=np.int64)
    b = np.mod(_sample_phases(breath_phase0, rr / 60.0, CO2_RATE), 1.0)
    up = _smoothstep((b - 0.35) / 0.08)
    down = 1.0 - _smoothstep((b - 0.94) / 0.05)
    plateau = etco2 * (0.9 + 0.1 * np.clip((b - 0.43) / 0.51, 0.0, 1.0))
    return np.rint(10.0 * up * down * plateau).astype(np.int64)
