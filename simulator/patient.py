"""The simulated patient: vital signs driven by the ketamine effect-site concentration.

Haemodynamics: SBP, DBP and HR rise with a sigmoid (Hill) function of the effect-site
concentration Ce, scaled so that the rise at the effect-site peak of the standard regimen
(0.5 mg/kg over 40 min, Ce peak about 164 ng/mL at 41 min with ``pk.py``) equals the
patient's own peak rise. Each patient's peak rises are drawn from the seed around the
published means: SBP +16 (SD 11), DBP +11 (SD 8) mmHg over 2,342 infusions (Yale, Gen Hosp
Psychiatry 2024, CLINICAL.md section 2). The HR rise, N(8, 5) /min, is a design choice.

The Hill parameters (EC50 130 ng/mL, steepness 5) are chosen, not fitted: the steep
curve keeps the effect small at the 80 ng/mL left 50 min after a 40-min infusion, so
BP and HR are back near baseline about 90 min after the start as CLINICAL.md describes,
and they put the midpoint inside the 100-250 ng/mL where dissociation is seen (Krystal
1994). Physiological noise is an Ornstein-Uhlenbeck process per metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import events as ev
from simulator.scenario import PatientSpec

EC50_NG_ML = 130.0
HILL = 5.0
REFERENCE_CE_NG_ML = 164.0  # effect-site peak of 0.5 mg/kg over 40 min, 70 kg (pk.py)

SBP_RISE_MEAN, SBP_RISE_SD = 16.0, 11.0
DBP_RISE_MEAN, DBP_RISE_SD = 11.0, 8.0
HR_RISE_MEAN, HR_RISE_SD = 8.0, 5.0
RISE_CORRELATION = 0.7  # systolic and diastolic rises go together

# Rare events of a sensitive patient (CLINICAL.md section 2): the surge and the respiratory
# depression are an Emax function of the effect-site concentration with the patient's own
# EC50 (the event's ``ce50_ng_ml``), so they grow with the drug and fade as it leaves: stopping
# the pump helps. A Hill coefficient of 2 is a design choice (a graded, not all-or-none, response).
SENSITIVITY_HILL = 2.0

APNOEA_DESAT_DELAY_S = 15.0  # oxygen stores last a while before SpO2 falls
APNOEA_DESAT_PER_S = 0.25
HYPOXIA_RECOVERY_TAU_S = 20.0


def drug_effect(ce_ng_ml: float) -> float:
    """Fraction of the patient's peak rise at effect-site concentration ``ce_ng_ml``."""

    def hill(c: float) -> float:
        c = max(c, 0.0)
        return c**HILL / (EC50_NG_ML**HILL + c**HILL)

    return hill(ce_ng_ml) / hill(REFERENCE_CE_NG_ML)


@dataclass(frozen=True)
class Vitals:
    """What the patient's body is doing this second (true values, before any display)."""

    hr: float
    sbp: float
    dbp: float
    spo2: float
    pi: float
    rr: float
    etco2: float
    temp: float
    probe_on: bool
    leads_on: bool
    apnoeic: bool


class _Noise:
    """Ornstein-Uhlenbeck noise: standard deviation ``sd``, correlation time ``tau_s``."""

    def __init__(self, sd: float, tau_s: float) -> None:
        self.sd, self.tau_s, self.value = sd, tau_s, 0.0

    def step(self, dt: float, normal: float) -> float:
        a = dt / self.tau_s
        self.value += -self.value * a + self.sd * np.sqrt(2 * a) * normal
        return self.value


def sensitivity(ce_ng_ml: float, ce50_ng_ml: float) -> float:
    """Fraction (0-1) of a rare event expressed at effect-site concentration ``ce_ng_ml``."""
    c = max(ce_ng_ml, 0.0) ** SENSITIVITY_HILL
    return c / (ce50_ng_ml**SENSITIVITY_HILL + c)


@dataclass
class _Excursion:
    """Blends a metric towards a target (or adds a delta) with ramp, hold and recovery.

    With ``ce50`` set (a rare event of a sensitive patient) the blend is further scaled by
    ``sensitivity(Ce, ce50)``: the clock gives only the window in which the patient reacts
    so; how much shows is the drug's doing."""

    metric: str
    start: float
    amount: float
    is_target: bool
    timing: ev._Excursion
    ce50: float | None = None
    ce: float = 0.0  # effect-site concentration this second, set by Patient.step

    def weight(self, t: float) -> float:
        p = self.timing
        x = t - self.start
        if x < 0:
            return 0.0
        if x < p.onset_s:
            return _smooth(x / p.onset_s)
        x -= p.onset_s
        if x < p.hold_s:
            return 1.0
        x -= p.hold_s
        if x < p.recovery_s:
            return 1.0 - _smooth(x / p.recovery_s)
        return 0.0

    def finished(self, t: float) -> bool:
        p = self.timing
        return t - self.start >= p.onset_s + p.hold_s + p.recovery_s

    def apply(self, value: float, t: float) -> float:
        w = self.weight(t)
        if self.ce50 is not None:
            w *= sensitivity(self.ce, self.ce50)
        return value + w * (self.amount - value) if self.is_target else value + w * self.amount


def _smooth(x: float) -> float:
    return x * x * (3 - 2 * x)


class Patient:
    PATIENT_EVENTS = frozenset(
        {
            "desaturation",
            "tachycardia",
            "bradycardia",
            "hypertensive_surge",
            "respiratory_depression",
            "apnoea",
            "probe_off",
            "probe_on",
            "leads_off",
            "leads_on",
        }
    )

    def __init__(self, spec: PatientSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.baseline = spec.baseline
        self._rng = rng
        # The patient's own response, drawn first so it depends only on the seed.
        z = rng.standard_normal(3)
        z_dbp = RISE_CORRELATION * z[0] + np.sqrt(1 - RISE_CORRELATION**2) * z[1]
        r = spec.response
        drawn = (
            SBP_RISE_MEAN + SBP_RISE_SD * z[0],
            DBP_RISE_MEAN + DBP_RISE_SD * z_dbp,
            HR_RISE_MEAN + HR_RISE_SD * z[2],
        )
        self.sbp_rise = float(drawn[0] if r.sbp_rise is None else r.sbp_rise)
        self.dbp_rise = float(drawn[1] if r.dbp_rise is None else r.dbp_rise)
        self.hr_rise = float(drawn[2] if r.hr_rise is None else r.hr_rise)
        self._noise = {
            "hr": _Noise(2.0, 20.0),
            "bp": _Noise(3.0, 60.0),
            "spo2": _Noise(0.6, 10.0),
            "rr": _Noise(0.8, 30.0),
            "etco2": _Noise(1.0, 30.0),
            "temp": _Noise(0.05, 300.0),
            "pi": _Noise(0.3, 30.0),
        }
        self._excursions: list[_Excursion] = []
        self._apnoea_until = -1.0
        self._apnoea_start = -1.0
        self._probe_off_until: float | None = -1.0  # None: until probe_on
        self._leads_off_until: float | None = -1.0
        self._hypoxia = 0.0  # SpO2 points lost to apnoea, recovering afterwards

    # -- events -------------------------------------------------------------------------
    def apply(self, name: str, params: ev._Params, t: float) -> None:
        """Start a patient event at session time ``t`` (seconds)."""
        add = self._excursions.append
        if isinstance(params, ev.Desaturation):
            add(_Excursion("spo2", t, params.spo2, True, params))
        elif isinstance(params, ev.Tachycardia | ev.Bradycardia):
            add(_Excursion("hr", t, params.hr, True, params))
        elif isinstance(params, ev.HypertensiveSurge):
            ce50 = params.ce50_ng_ml
            add(_Excursion("sbp", t, params.sbp_rise, False, params, ce50))
            add(_Excursion("dbp", t, params.dbp_rise, False, params, ce50))
            add(_Excursion("hr", t, params.hr_rise, False, params, ce50))
        elif isinstance(params, ev.RespiratoryDepression):
            ce50 = params.ce50_ng_ml
            add(_Excursion("rr", t, params.rr, True, params, ce50))
            add(_Excursion("etco2", t, params.etco2, True, params, ce50))
            if params.spo2 is not None:
                add(_Excursion("spo2", t, params.spo2, True, params, ce50))
        elif isinstance(params, ev.Apnoea):
            self._apnoea_start, self._apnoea_until = t, t + params.duration_s
        elif isinstance(params, ev.ProbeOff):
            self._probe_off_until = None if params.duration_s is None else t + params.duration_s
        elif isinstance(params, ev.LeadsOff):
            self._leads_off_until = None if params.duration_s is None else t + params.duration_s
        elif name == "probe_on":
            self._probe_off_until = -1.0
        elif name == "leads_on":
            self._leads_off_until = -1.0
        else:
            raise ValueError(f"not a patient event: {name}")

    # -- one second of physiology -------------------------------------------------------
    def step(self, t: float, ce_ng_ml: float, dt: float = 1.0) -> Vitals:
        """The patient's state for the second starting at ``t``."""
        normals = self._rng.standard_normal(len(self._noise))
        n = {
            key: noise.step(dt, z)
            for (key, noise), z in zip(self._noise.items(), normals, strict=True)
        }
        b = self.baseline
        effect = drug_effect(ce_ng_ml)
        # Means first (baseline, drug, scenario excursions), then noise on top, so that a
        # patient held at a target (SpO2 84 %) still shows physiological variation.
        values = {
            "hr": b.hr + self.hr_rise * effect,
            "sbp": b.sbp + self.sbp_rise * effect,
            "dbp": b.dbp + self.dbp_rise * effect,
            "spo2": b.spo2,
            "rr": b.rr,
            "etco2": b.etco2,
            "temp": b.temp,
            "pi": b.pi,
        }
        for excursion in self._excursions:
            excursion.ce = ce_ng_ml
            values[excursion.metric] = excursion.apply(values[excursion.metric], t)
        self._excursions = [e for e in self._excursions if not e.finished(t)]
        values["hr"] += n["hr"]
        values["sbp"] += n["bp"]
        values["dbp"] += 0.6 * n["bp"]
        values["spo2"] += n["spo2"]
        values["rr"] += n["rr"] * values["rr"] / max(b.rr, 1.0)  # slow breathing varies less
        values["etco2"] += n["etco2"]
        values["temp"] += n["temp"]
        values["pi"] *= float(np.exp(n["pi"] / 3.0))

        apnoeic = t < self._apnoea_until
        if apnoeic and t - self._apnoea_start >= APNOEA_DESAT_DELAY_S:
            self._hypoxia += APNOEA_DESAT_PER_S * dt
        elif not apnoeic:
            self._hypoxia *= float(np.exp(-dt / HYPOXIA_RECOVERY_TAU_S))
        if apnoeic:
            values["rr"] = 0.0
        values["spo2"] -= self._hypoxia

        return Vitals(
            hr=float(np.clip(values["hr"], 25, 250)),
            sbp=float(np.clip(values["sbp"], 50, 300)),
            dbp=float(np.clip(values["dbp"], 25, 200)),
            spo2=float(np.clip(values["spo2"], 50, 100)),
            pi=float(np.clip(values["pi"], 0.05, 20)),
            rr=float(np.clip(values["rr"], 0, 60)),
            etco2=float(np.clip(values["etco2"], 0, 120)),
            temp=float(np.clip(values["temp"], 30, 42)),
            probe_on=not _active(self._probe_off_until, t),
            leads_on=not _active(self._leads_off_until, t),
            apnoeic=apnoeic,
        )


def _active(until: float | None, t: float) -> bool:
    return until is None or t < until
