"""The clinical protocol in force: alarm limits, delays, guardrails, phase intervals.

Defaults ship in ``resources/clinical_protocol.json`` (CLINICAL.md's numbers); a site may
replace the file. Nothing clinical is hard-coded elsewhere: widgets and the alarm engine
read their limits from here, and the session record keeps a fingerprint of what was in force.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from console.resources import read_text

Priority = Literal["high", "medium", "low"]
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """One priority's limits for a metric: alarm when value < below or value > above."""

    priority: Priority
    below: float | None = None
    above: float | None = None
    delay_s: float = Field(ge=0)

    @model_validator(mode="after")
    def _one_side_at_least(self) -> Band:
        if self.below is None and self.above is None:
            raise ValueError("a band needs 'below', 'above' or both")
        if self.below is not None and self.above is not None and self.below >= self.above:
            raise ValueError("'below' must be less than 'above'")
        return self

    def violated_by(self, value: float) -> bool:
        return (self.below is not None and value < self.below) or (
            self.above is not None and value > self.above
        )


class MetricLimits(_Strict):
    label: str
    unit: str
    hysteresis: float = Field(ge=0)
    adjust_bounds: tuple[float, float]
    episodic: bool = False
    bands: tuple[Band, ...]

    def band(self, priority: Priority) -> Band | None:
        return next((b for b in self.bands if b.priority == priority), None)

    def outer_range(self) -> tuple[float | None, float | None]:
        """The least strict limits (the first band that fires), for showing on a tile."""
        lows = [b.below for b in self.bands if b.below is not None]
        highs = [b.above for b in self.bands if b.above is not None]
        return (max(lows) if lows else None, min(highs) if highs else None)


class Guardrail(_Strict):
    soft_min: float | None = None
    soft_max: float | None = None
    hard_min: float | None = None
    hard_max: float | None = None


class DoseGuardrails(_Strict):
    dose_mg_per_kg: Guardrail
    duration_min: Guardrail
    weight_kg: Guardrail
    rate_ml_per_h: Guardrail
    dose_rate_mg_per_kg_per_h: Guardrail
    total_dose_mg: Guardrail
    concentration_mg_per_ml: Guardrail
    # Drug in the bag over the planned dose (soft_max 1.5: more than 1.5 x the dose needs a
    # reason; a wrong VTBI or free flow would deliver the rest).
    bag_excess_factor: Guardrail


class IdealWeightBase(_Strict):
    male: float
    female: float


class WeightBasis(_Strict):
    """Which weight a dose uses (CLINICAL.md section 1): above ``ask_above_bmi`` the plan asks
    (actual, ideal or adjusted). IBW (Devine 1974) = base + kg_per_cm x (height - min height),
    undefined below ``ibw_min_height_cm``; adjusted = IBW + fraction x (actual - IBW)."""

    ask_above_bmi: float
    ibw_min_height_cm: float
    ibw_base_kg: IdealWeightBase
    ibw_kg_per_cm: float
    adjusted_fraction: float


class BaselineBp(_Strict):
    systolic: float
    diastolic: float


class Discharge(_Strict):
    sbp_within_pct: float
    hr_within_pct: float
    spo2_min: float
    moaas: int
    cuff_max_age_min: float  # the cuff reading the check uses is at most this old


class Phases(_Strict):
    baseline_min_spo2_hr_s: float
    baseline_bp_advisory: BaselineBp
    cuff_interval_baseline_min: float
    cuff_interval_infusion_min: float
    cuff_interval_recovery_min: float
    recovery_min: float
    baseline_cuff_max_age_min: float  # older at the pump's start: "started without a current baseline"
    no_pump_data_high_after_min: float  # "no pump data" turns high this long after the planned start
    discharge: Discharge


class Gad7Severity(_Strict):
    """GAD-7 totals at which each severity word starts (below 'mild': minimal)."""

    mild: int = 5
    moderate: int = 10
    severe: int = 15


class Charting(_Strict):
    """What the nurse charts (CLINICAL.md section 3). Added with the session workflow; the
    defaults keep site files written before it valid."""

    markers: tuple[str, ...] = (
        "patient anxious", "nausea", "bathroom", "cuff re-measured", "physician at bedside")
    cadss_after_start_min: float = Field(40, gt=0)  # the CADSS "at about 40 min" of the infusion
    early_window_min: float = Field(5, ge=0)  # an item charted this early still counts as on time
    gad7_severity: Gad7Severity = Gad7Severity()


class Etco2Sampling(_Strict):
    """EtCO2 low limit by sampling (CLINICAL.md section 4): a nasal cannula under-reads, so its
    low-priority limit is lower. The ETCO2 low band in ``limits`` is the nasal one; a site
    choosing airway sampling gets ``airway_low_below`` (see ``with_etco2_sampling``)."""

    nasal_low_below: float
    airway_low_below: float


class Apnoea(_Strict):
    priority: Priority
    delay_s: float


class RiseOverBaseline(_Strict):
    priority: Priority
    systolic: float
    diastolic: float


class Technical(_Strict):
    link_lost_s: float
    metric_stale_s: float
    link_error_fraction: float
    link_error_window_s: float
    plan_mismatch_fraction: float
    plan_mismatch_delay_s: float
    overdelivery_fraction: float
    overrun_min: float


class AudioPattern(_Strict):
    pulses: tuple[int, ...]  # pulses per group: high (3, 2, 3, 2) is IEC 60601-1-8's 3+2, 3+2
    repeat_s: float | None
    # Pitch of each pulse (IEC 60601-1-8: 150 Hz to 1 kHz). Missing in older site files:
    # Audio fills the shipped value per priority.
    fundamental_hz: float = Field(ge=150, le=1000)
    # Silence between groups; None: one pulse slot left empty (2 x gap + pulse, IEC's 3+2).
    group_gaps_ms: tuple[float, ...] | None = None
    # Silence between pulses of a group; None: Audio.gap_ms. IEC 60601-1-8 asks 50-125 ms for
    # high and 125-250 ms for medium priority (CLINICAL.md section 6: 100 and 200 ms).
    gap_ms: float | None = None

    @model_validator(mode="after")
    def _one_gap_between_groups(self) -> AudioPattern:
        if self.group_gaps_ms is not None and len(self.group_gaps_ms) != len(self.pulses) - 1:
            raise ValueError("'group_gaps_ms' needs one gap between each pair of groups")
        return self


# Shipped pitches, used when a site file written before 'fundamental_hz' existed lacks them.
_DEFAULT_FUNDAMENTAL_HZ = {"high": 523.25, "medium": 440.0, "low": 330.0, "reminder": 392.0}


class Volume(_Strict):
    normal: float = Field(0.6, gt=0, le=1)
    escalated: float = Field(1.0, gt=0, le=1)  # an unacknowledged high alarm, escalated


class Audio(_Strict):
    pulse_ms: float
    gap_ms: float
    high: AudioPattern
    medium: AudioPattern
    low: AudioPattern
    # Added for sound synthesis; the defaults keep site files written before them valid.
    ramp_ms: float = Field(20, ge=0)  # raised-cosine attack and release of each pulse
    harmonic_levels_db: tuple[float, ...] = (0, -3, -6, -9, -12)  # fundamental first
    volume: Volume = Volume()
    reminder: AudioPattern = AudioPattern(
        pulses=(1,), repeat_s=None, fundamental_hz=_DEFAULT_FUNDAMENTAL_HZ["reminder"]
    )  # the tone of an acknowledged alarm; it repeats every acknowledged_reminder_s

    @model_validator(mode="before")
    @classmethod
    def _default_pitches(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, hz in _DEFAULT_FUNDAMENTAL_HZ.items():
            pattern = data.get(name)
            if isinstance(pattern, dict) and "fundamental_hz" not in pattern:
                data[name] = {**pattern, "fundamental_hz": hz}
        return data


class Signalling(_Strict):
    flash_hz: dict[Priority, float]
    flash_duty: float = Field(0.5, gt=0, lt=1)  # lit fraction of each flash period
    audio: Audio
    audio_pause_s: float
    acknowledged_reminder_s: float
    alarm_off_max_min: float
    escalation_s: float
    not_switchable_off: tuple[str, ...]


class ClinicalProtocol(_Strict):
    schema_: int = Field(alias="schema")
    name: str
    source: str
    dose_guardrails: DoseGuardrails
    weight_basis: WeightBasis
    phases: Phases
    charting: Charting = Charting()
    limits: dict[str, MetricLimits]
    etco2_sampling: Etco2Sampling
    apnoea: Apnoea
    rise_over_baseline: RiseOverBaseline
    technical: Technical
    signalling: Signalling

    def with_etco2_sampling(self, sampling: Literal["nasal", "airway"]) -> ClinicalProtocol:
        """This protocol with the ETCO2 low limit for the site's sampling (nasal or airway)."""
        below = (self.etco2_sampling.nasal_low_below if sampling == "nasal"
                 else self.etco2_sampling.airway_low_below)
        etco2 = self.limits["ETCO2"]
        bands = tuple(b.model_copy(update={"below": below}) if b.below is not None else b
                      for b in etco2.bands)
        limits = {**self.limits, "ETCO2": etco2.model_copy(update={"bands": bands})}
        return self.model_copy(update={"limits": limits})

    def fingerprint(self) -> str:
        """Short hash of the settings in force, recorded with each session."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class ProtocolFileError(Exception):
    """The clinical protocol file is missing or invalid; the message names the file and field."""


DEFAULT_PROTOCOL_FILE = "clinical_protocol.json"
SITE_PROTOCOL_ENV = "INFUSION_CONSOLE_PROTOCOL"  # a site's own protocol file, if set


def load_protocol(path: str | Path | None = None) -> ClinicalProtocol:
    """Load a site's protocol file, or the shipped defaults when ``path`` is None."""
    where = str(path) if path else f"bundled {DEFAULT_PROTOCOL_FILE}"
    try:
        text = Path(path).read_text(encoding="utf-8") if path else read_text(DEFAULT_PROTOCOL_FILE)
        return ClinicalProtocol.model_validate(json.loads(text))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProtocolFileError(f"cannot read clinical protocol {where}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ProtocolFileError(f"invalid clinical protocol {where}: {problems}") from exc


def site_protocol() -> ClinicalProtocol:
    """The protocol in force at this site: the file named by $INFUSION_CONSOLE_PROTOCOL, or the
    shipped defaults. Every command (window, record, review) starts from here."""
    import os

    return load_protocol(os.environ.get(SITE_PROTOCOL_ENV) or None)
