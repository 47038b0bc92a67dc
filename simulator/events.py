"""Scenario events: their names and validated parameters.

The same events appear in scenario files (``{"at": 300, "event": "desaturation", ...}``)
and in ``Simulation.inject(event, **params)`` for a training instructor, so both go through
``validate_event``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Excursion(_Params):
    """A temporary change: ramps in over onset_s, holds for hold_s, ramps out over recovery_s."""

    onset_s: float = Field(60.0, ge=0)
    hold_s: float = Field(120.0, ge=0)
    recovery_s: float = Field(60.0, ge=0)


class Desaturation(_Excursion):
    spo2: float = Field(86.0, ge=50, le=100, description="SpO2 (%) reached")


class Tachycardia(_Excursion):
    hr: float = Field(135.0, ge=30, le=250, description="heart rate (1/min) reached")


class Bradycardia(_Excursion):
    hr: float = Field(42.0, ge=25, le=120, description="heart rate (1/min) reached")


class HypertensiveSurge(_Excursion):
    sbp_rise: float = Field(45.0, ge=0, le=150, description="extra systolic rise (mmHg)")
    dbp_rise: float = Field(28.0, ge=0, le=100, description="extra diastolic rise (mmHg)")
    hr_rise: float = Field(10.0, ge=0, le=100, description="extra heart-rate rise (1/min)")
    ce50_ng_ml: float = Field(
        20.0, gt=0, le=1000,
        description="the patient's sensitivity: effect-site ketamine (ng/mL) giving half the surge")


class RespiratoryDepression(_Excursion):
    rr: float = Field(6.0, ge=1, le=60, description="respiration rate (1/min) reached")
    etco2: float = Field(56.0, ge=0, le=120, description="EtCO2 (mmHg) reached")
    spo2: float | None = Field(None, ge=50, le=100, description="SpO2 (%) reached, if any")
    ce50_ng_ml: float = Field(
        8.0, gt=0, le=1000,
        description="the patient's sensitivity: effect-site ketamine (ng/mL) giving half the depression")


class Apnoea(_Params):
    duration_s: float = Field(30.0, gt=0)


class ProbeOff(_Params):
    duration_s: float | None = Field(60.0, gt=0, description="None: until probe_on")


class LeadsOff(_Params):
    duration_s: float | None = Field(30.0, gt=0, description="None: until leads_on")


class NoParams(_Params):
    pass


class LinkDropout(_Params):
    device: Literal["vitals", "pump"] = "vitals"
    duration_s: float = Field(20.0, gt=0)


class LineNoise(_Params):
    device: Literal["vitals", "pump", "both"] = "both"
    byte_error_rate: float = Field(0.01, ge=0, le=0.5)


class PumpAlarm(_Params):
    alarm: str = Field("OCCLUSION", pattern=r"^[A-Z_]{1,24}$")
    stops: bool | None = Field(
        None, description="does the pump stop? None: yes for OCCLUSION, AIR and DOOR"
    )


class PumpClear(_Params):
    resume: bool = Field(True, description="restart the infusion after clearing")


EVENTS: dict[str, type[_Params]] = {
    "desaturation": Desaturation,
    "tachycardia": Tachycardia,
    "bradycardia": Bradycardia,
    "hypertensive_surge": HypertensiveSurge,
    "respiratory_depression": RespiratoryDepression,
    "apnoea": Apnoea,
    "probe_off": ProbeOff,
    "probe_on": NoParams,
    "leads_off": LeadsOff,
    "leads_on": NoParams,
    "nibp": NoParams,  # an on-demand cuff measurement
    "link_dropout": LinkDropout,
    "line_noise": LineNoise,
    "pump_start": NoParams,
    "pump_pause": NoParams,
    "pump_resume": NoParams,
    "pump_alarm": PumpAlarm,
    "pump_clear": PumpClear,
}


class EventError(ValueError):
    """An unknown event name or bad parameters; the message names the offending field."""


def validate_event(name: str, params: dict) -> _Params:
    """Return the validated parameters of event ``name``."""
    model = EVENTS.get(name)
    if model is None:
        raise EventError(f"unknown event {name!r}; known: {', '.join(sorted(EVENTS))}")
    try:
        return model(**params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or name}: {err['msg']}" for err in exc.errors()
        )
        raise EventError(f"event {name!r}: {problems}") from None
