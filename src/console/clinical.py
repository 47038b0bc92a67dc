"""The clinical protocol in force: alarm limits, delays, guardrails, phase intervals.

Defaults ship in ``resources/clinical_protocol.json`` (CLINICAL.md's numbers); a site may
replace the file. Nothing clinical is hard-coded elsewhere: widgets and the alarm engine
read their limits from here, and the session record keeps a fingerprint of what was in force.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from console.resources import read_text

Priority = Literal["high", "medium", "low"]
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}

# Every metric of CLINICAL.md section 4 must have limits (the alarm engine reads each), and no
# other name is accepted (a misspelt metric would silently have no alarm). The plausible range
# of each: adjustment bounds (and so every limit) must lie inside it, or the alarm can never fire.
PLAUSIBLE = {"HR": (20, 300), "SPO2": (50, 100), "NIBP_SYS": (40, 300), "NIBP_DIA": (20, 200),
             "RR": (1, 100), "ETCO2": (1, 150), "TEMP": (25, 45)}
# Limits that must exist and be on, whatever the site: (metric, priority, sides).
# Every limit of CLINICAL.md section 4's table, (metric, priority) -> sides: a site may move a
# limit within its bounds but not delete one (that would switch an alarm off for every patient;
# ALARM OFF with a reason and a time limit is the only way, and never for high limits).
REQUIRED_SIDES: dict[tuple[str, Priority], tuple[str, ...]] = {
    ("HR", "medium"): ("below", "above"), ("HR", "high"): ("below", "above"),
    ("SPO2", "medium"): ("below",), ("SPO2", "high"): ("below",),
    ("NIBP_SYS", "medium"): ("below", "above"), ("NIBP_SYS", "high"): ("below", "above"),
    ("NIBP_DIA", "medium"): ("below", "above"), ("NIBP_DIA", "high"): ("above",),
    ("RR", "medium"): ("below", "above"), ("RR", "high"): ("below",),
    ("ETCO2", "medium"): ("above",), ("ETCO2", "low"): ("below",),
    ("TEMP", "low"): ("below", "above"),
}
MAX_DELAY_S = {"high": 30.0, "medium": 60.0, "low": 60.0}
# The protocol's only yes/no fields; true/false anywhere else is refused (it would read as 1/0).
YES_NO_FIELDS = frozenset({"episodic", "required", "not_applicable_allowed"})
# The unit each metric is measured and judged in: a limit in another unit would be misread.
METRIC_UNITS = {"HR": "/min", "SPO2": "%", "NIBP_SYS": "mmHg", "NIBP_DIA": "mmHg", "RR": "/min",
                "ETCO2": "mmHg", "TEMP": "\u00b0C"}


class _Strict(BaseModel):
    # allow_inf_nan=False: JSON's NaN/Infinity literals parse, and a NaN limit compares false
    # with everything, which would silently switch its alarm off.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _issues(problems: list[str]) -> None:
    """Raise one error naming every cross-field problem found (not only the first)."""
    if problems:
        raise ValueError("; ".join(problems))


class Band(_Strict):
    """One priority's limits for a metric: alarm when value < below or value > above."""

    priority: Priority
    below: float | None = None
    above: float | None = None
    delay_s: float = Field(ge=0, le=60)  # condition delay; high priority at most 30 s

    @model_validator(mode="after")
    def _one_side_at_least(self) -> Band:
        if self.below is None and self.above is None:
            raise ValueError("a band needs 'below', 'above' or both")
        if self.below is not None and self.above is not None and self.below >= self.above:
            raise ValueError("'below' must be less than 'above'")
        if self.delay_s > MAX_DELAY_S[self.priority]:
            raise ValueError(f"a {self.priority}-priority delay_s must be at most "
                             f"{MAX_DELAY_S[self.priority]:g} s")
        return self

    def violated_by(self, value: float) -> bool:
        return (self.below is not None and value < self.below) or (
            self.above is not None and value > self.above
        )


class MetricLimits(_Strict):
    label: str = Field(min_length=1, max_length=20)
    unit: str = Field(min_length=1, max_length=10)
    hysteresis: float = Field(ge=0)
    adjust_bounds: tuple[float, float]
    episodic: bool = False
    bands: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> MetricLimits:
        problems = []
        lo, hi = self.adjust_bounds
        if not lo < hi:
            problems.append(f"adjust_bounds [{lo:g}, {hi:g}] must be in increasing order")
        priorities = [b.priority for b in self.bands]
        if len(priorities) != len(set(priorities)):
            problems.append("two bands have the same priority")
        for b in self.bands:
            for side in ("below", "above"):
                v = getattr(b, side)
                if v is not None and not lo <= v <= hi:
                    problems.append(f"{b.priority} '{side}' {v:g} lies outside adjust_bounds [{lo:g}, {hi:g}]")
        # Nested bands: a more urgent limit lies further out, so the medium alarm comes first.
        ranked = sorted(self.bands, key=lambda b: PRIORITY_RANK[b.priority])
        for inner, outer in itertools.pairwise(ranked):
            if inner.below is not None and outer.below is not None and not outer.below < inner.below:
                problems.append(f"{outer.priority} 'below' {outer.below:g} must be lower than "
                                f"{inner.priority} 'below' {inner.below:g}")
            if inner.above is not None and outer.above is not None and not outer.above > inner.above:
                problems.append(f"{outer.priority} 'above' {outer.above:g} must be higher than "
                                f"{inner.priority} 'above' {inner.above:g}")
        # Hysteresis: an alarm must be able to clear inside the adjustable range, and clearing
        # one side must not need a value beyond the other side's limit.
        low, high = self.outer_range()
        if low is not None and high is not None and not 2 * self.hysteresis < high - low:
            problems.append(f"hysteresis {self.hysteresis:g} must be less than half the gap "
                            f"between the limits {low:g} and {high:g}")
        if low is not None and low + self.hysteresis > hi:
            problems.append(f"hysteresis {self.hysteresis:g}: a low alarm could never clear")
        if high is not None and high - self.hysteresis < lo:
            problems.append(f"hysteresis {self.hysteresis:g}: a high alarm could never clear")
        _issues(problems)
        return self

    def band(self, priority: Priority) -> Band | None:
        return next((b for b in self.bands if b.priority == priority), None)

    def outer_range(self) -> tuple[float | None, float | None]:
        """The least strict limits (the first band that fires), for showing on a tile."""
        lows = [b.below for b in self.bands if b.below is not None]
        highs = [b.above for b in self.bands if b.above is not None]
        return (max(lows) if lows else None, min(highs) if highs else None)


class Guardrail(_Strict):
    soft_min: float | None = Field(None, gt=0)
    soft_max: float | None = Field(None, gt=0)
    hard_min: float | None = Field(None, gt=0)
    hard_max: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Guardrail:
        named = [(n, getattr(self, n)) for n in ("hard_min", "soft_min", "soft_max", "hard_max")]
        present = [(n, v) for n, v in named if v is not None]
        _issues([f"'{a}' {x:g} must not exceed '{b}' {y:g}"
                 for i, (a, x) in enumerate(present) for b, y in present[i + 1:] if x > y])
        return self


# Per guardrail: the ceiling no value may pass, and the limits that must be present. A
# missing hard maximum would let any dose through. Design choices, documented in
# docs/site-configuration.md: about twice the shipped hard limits.
GUARDRAIL_RANGES: dict[str, tuple[float, tuple[str, ...]]] = {
    "dose_mg_per_kg": (2.0, ("hard_min", "hard_max")),
    "duration_min": (240.0, ("hard_min", "hard_max")),
    "weight_kg": (400.0, ("hard_min", "hard_max")),
    "rate_ml_per_h": (2000.0, ("hard_max",)),
    "dose_rate_mg_per_kg_per_h": (6.0, ("hard_max",)),
    "total_dose_mg": (300.0, ("hard_max",)),
    "concentration_mg_per_ml": (100.0, ("hard_max",)),
    "bag_excess_factor": (10.0, ("soft_max",)),
}


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

    @model_validator(mode="after")
    def _in_range(self) -> DoseGuardrails:
        problems = []
        for name, (ceiling, required) in GUARDRAIL_RANGES.items():
            rail: Guardrail = getattr(self, name)
            for field in required:
                if getattr(rail, field) is None:
                    problems.append(f"{name}: '{field}' is required")
            for field in ("soft_min", "soft_max", "hard_min", "hard_max"):
                v = getattr(rail, field)
                if v is not None and v > ceiling:
                    problems.append(f"{name}.{field} {v:g} is above the ceiling {ceiling:g}")
        if self.bag_excess_factor.soft_max is not None and self.bag_excess_factor.soft_max < 1:
            problems.append("bag_excess_factor.soft_max must be at least 1 (the dose itself)")
        _issues(problems)
        return self


class IdealWeightBase(_Strict):
    male: float = Field(ge=30, le=80)
    female: float = Field(ge=30, le=80)


class WeightBasis(_Strict):
    """Which weight a dose uses (CLINICAL.md section 1): above ``ask_above_bmi`` the plan asks
    (actual, ideal or adjusted). IBW (Devine 1974) = base + kg_per_cm x (height - min height),
    undefined below ``ibw_min_height_cm``; adjusted = IBW + fraction x (actual - IBW)."""

    ask_above_bmi: float = Field(ge=25, le=60)
    ibw_min_height_cm: float = Field(ge=100, le=200)
    ibw_base_kg: IdealWeightBase
    ibw_kg_per_cm: float = Field(ge=0.5, le=1.5)
    adjusted_fraction: float = Field(ge=0, le=1)


class BaselineBp(_Strict):
    systolic: float = Field(ge=100, le=200)
    diastolic: float = Field(ge=60, le=130)


class Discharge(_Strict):
    sbp_within_pct: float = Field(ge=5, le=50)
    hr_within_pct: float = Field(ge=5, le=50)
    spo2_min: float = Field(ge=85, le=100)
    moaas: int = Field(ge=4, le=5)
    cuff_max_age_min: float = Field(ge=5, le=60)  # the cuff reading the check uses is at most this old


class Phases(_Strict):
    baseline_min_spo2_hr_s: float = Field(ge=10, le=600)
    baseline_bp_advisory: BaselineBp
    cuff_interval_baseline_min: float = Field(ge=1, le=60)
    cuff_interval_infusion_min: float = Field(ge=1, le=60)
    cuff_interval_recovery_min: float = Field(ge=1, le=60)
    recovery_min: float = Field(ge=15, le=480)
    # older at the pump's start: "started without a current baseline"
    baseline_cuff_max_age_min: float = Field(ge=5, le=120)
    # "no pump data" turns high this long after the planned start
    no_pump_data_high_after_min: float = Field(gt=0, le=60)
    discharge: Discharge


class Gad7Severity(_Strict):
    """GAD-7 totals at which each severity word starts (below 'mild': minimal)."""

    mild: int = Field(5, ge=1, le=21)
    moderate: int = Field(10, ge=1, le=21)
    severe: int = Field(15, ge=1, le=21)

    @model_validator(mode="after")
    def _ordered(self) -> Gad7Severity:
        if not self.mild < self.moderate < self.severe:
            raise ValueError("GAD-7 severities must increase: mild < moderate < severe")
        return self


class Charting(_Strict):
    """What the nurse charts (CLINICAL.md section 3). Added with the session workflow; the
    defaults keep site files written before it valid."""

    markers: tuple[str, ...] = (
        "patient anxious", "nausea", "bathroom", "cuff re-measured", "physician at bedside")
    cadss_after_start_min: float = Field(40, ge=5, le=240)  # the CADSS "at about 40 min" of the infusion
    early_window_min: float = Field(5, ge=0, le=30)  # an item charted this early still counts as on time
    gad7_severity: Gad7Severity = Gad7Severity()


class ChecklistItem(_Strict):
    """One pre-session check (CLINICAL.md section 8), answered yes / no (/ not applicable).
    ``detail``: what the detail box asks (the medicine and its last dose); ``detail_needed_when``:
    the answer that must come with that detail."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")  # recorded: stable, never translated
    label: str = Field(min_length=1, max_length=120)
    # strict: a 1 or "no" for a yes/no question is refused, never read as true or false
    required: bool = Field(True, strict=True)
    not_applicable_allowed: bool = Field(False, strict=True)
    detail: str | None = Field(None, min_length=1, max_length=80)
    detail_needed_when: Literal["yes", "no"] | None = None

    @model_validator(mode="after")
    def _detail_asked(self) -> ChecklistItem:
        if self.detail_needed_when is not None and self.detail is None:
            raise ValueError(f"{self.key}: 'detail_needed_when' needs 'detail' (what to ask)")
        return self


class InterventionDrug(_Strict):
    """A drug the nurse may give for a side effect, with the units and routes offered for it."""

    name: str = Field(min_length=1, max_length=60)
    units: tuple[Annotated[str, Field(min_length=1, max_length=12)], ...] = Field(min_length=1, max_length=6)
    routes: tuple[Annotated[str, Field(min_length=1, max_length=12)], ...] = Field(min_length=1, max_length=6)


class DischargeScore(_Strict):
    """The discharge score the site uses: modified Aldrete (Aldrete 1995) or PADSS (Chung 1995),
    each of five items scored 0-2; discharge needs a total of at least ``minimum``."""

    scale: Literal["aldrete", "padss"] = "aldrete"
    minimum: int = Field(9, ge=7, le=10)


DEFAULT_CHECKLIST = (
    ChecklistItem(key="consent", label="Consent signed"),
    ChecklistItem(key="fasting", label="Fasting as the site requires", detail="last food and drink"),
    ChecklistItem(key="pregnancy_test", label="Pregnancy test negative (where applicable)",
                  not_applicable_allowed=True, detail="test and time"),
    ChecklistItem(key="interacting_medicines",
                  label="Takes interacting medicines (benzodiazepines, lamotrigine, MAOIs, stimulants)",
                  detail="medicine and its last dose", detail_needed_when="yes"),
    ChecklistItem(key="escort_transport", label="Escort and transport home arranged", detail="who"),
    ChecklistItem(key="suicide_risk_screen", label="Suicide-risk screen done", detail="result"),
)
DEFAULT_INTERVENTION_DRUGS = (
    InterventionDrug(name="ondansetron", units=("mg",), routes=("IV", "PO", "IM")),
    InterventionDrug(name="labetalol", units=("mg",), routes=("IV", "PO")),
    InterventionDrug(name="clonidine", units=("mg", "microgram"), routes=("PO",)),
    InterventionDrug(name="lorazepam", units=("mg",), routes=("IV", "PO", "SL", "IM")),
    InterventionDrug(name="midazolam", units=("mg",), routes=("IV", "IM")),
)


class Documentation(_Strict):
    """What the nurse documents in the console (CLINICAL.md section 8): the pre-session checklist,
    the drugs offered for side effects, the discharge score, the driving restriction. Defaults
    keep site files written before it valid."""

    checklist: tuple[ChecklistItem, ...] = Field(DEFAULT_CHECKLIST, max_length=30)
    intervention_drugs: tuple[InterventionDrug, ...] = Field(DEFAULT_INTERVENTION_DRUGS, max_length=30)
    discharge_score: DischargeScore = DischargeScore()
    driving_restriction_h: float = Field(24, ge=12, le=72)  # no driving or machinery for this long

    @model_validator(mode="after")
    def _unique(self) -> Documentation:
        problems = []
        keys = [i.key for i in self.checklist]
        problems += [f"checklist: '{k}' appears twice" for k in sorted({k for k in keys if keys.count(k) > 1})]
        names = [d.name.casefold() for d in self.intervention_drugs]
        problems += [f"intervention_drugs: '{n}' appears twice" for n in sorted({n for n in names
                                                                                if names.count(n) > 1})]
        _issues(problems)
        return self


class Etco2Sampling(_Strict):
    """EtCO2 low limit by sampling (CLINICAL.md section 4): a nasal cannula under-reads, so its
    low-priority limit is lower. The ETCO2 low band in ``limits`` is the nasal one; a site
    choosing airway sampling gets ``airway_low_below`` (see ``with_etco2_sampling``)."""

    nasal_low_below: float = Field(ge=5, le=40)
    airway_low_below: float = Field(ge=5, le=40)


class Apnoea(_Strict):
    priority: Literal["high"]  # never lower (CLINICAL.md section 4)
    delay_s: float = Field(ge=10, le=30)


class RiseOverBaseline(_Strict):
    priority: Priority
    systolic: float = Field(ge=10, le=80)
    diastolic: float = Field(ge=5, le=50)


class Technical(_Strict):
    link_lost_s: float = Field(ge=1, le=30)
    metric_stale_s: float = Field(ge=2, le=60)
    link_error_fraction: float = Field(gt=0, le=0.5)
    link_error_window_s: float = Field(ge=5, le=300)
    plan_mismatch_fraction: float = Field(gt=0, le=0.5)
    plan_mismatch_delay_s: float = Field(ge=0, le=60)
    overdelivery_fraction: float = Field(gt=0, le=0.5)
    overrun_min: float = Field(ge=0, le=60)


class AudioPattern(_Strict):
    # pulses per group: high (3, 2, 3, 2) is IEC 60601-1-8's 3+2, 3+2
    pulses: tuple[int, ...] = Field(min_length=1, max_length=10)
    repeat_s: float | None = Field(ge=2.5, le=120)
    # Pitch of each pulse (IEC 60601-1-8: 150 Hz to 1 kHz). Missing in older site files:
    # Audio fills the shipped value per priority.
    fundamental_hz: float = Field(ge=150, le=1000)
    # Silence between groups; None: one pulse slot left empty (2 x gap + pulse, IEC's 3+2).
    group_gaps_ms: tuple[Annotated[float, Field(ge=0, le=2000)], ...] | None = None
    # Silence between pulses of a group; None: Audio.gap_ms. IEC 60601-1-8 asks 50-125 ms for
    # high and 125-250 ms for medium priority (CLINICAL.md section 6: 100 and 200 ms).
    gap_ms: float | None = Field(None, ge=50, le=250)

    @model_validator(mode="after")
    def _one_gap_between_groups(self) -> AudioPattern:
        problems = []
        if self.group_gaps_ms is not None and len(self.group_gaps_ms) != len(self.pulses) - 1:
            problems.append("'group_gaps_ms' needs one gap between each pair of groups")
        if any(not 1 <= n <= 10 for n in self.pulses) or sum(self.pulses) > 10:
            problems.append("'pulses': each group 1-10 pulses, at most 10 in all")
        _issues(problems)
        return self


# Shipped pitches, used when a site file written before 'fundamental_hz' existed lacks them.
_DEFAULT_FUNDAMENTAL_HZ = {"high": 523.25, "medium": 440.0, "low": 330.0, "reminder": 392.0}


class Volume(_Strict):
    normal: float = Field(0.6, ge=0.1, le=1)
    escalated: float = Field(1.0, gt=0, le=1)  # an unacknowledged high alarm, escalated

    @model_validator(mode="after")
    def _louder(self) -> Volume:
        if self.escalated < self.normal:
            raise ValueError("'escalated' must not be quieter than 'normal'")
        return self


class Audio(_Strict):
    pulse_ms: float = Field(ge=75, le=200)  # IEC 60601-1-8 pulse duration 75-200 ms
    gap_ms: float = Field(ge=50, le=250)
    high: AudioPattern
    medium: AudioPattern
    low: AudioPattern
    # Added for sound synthesis; the defaults keep site files written before them valid.
    ramp_ms: float = Field(20, ge=0, le=50)  # raised-cosine attack and release of each pulse
    # fundamental first, then at least four harmonics (CLINICAL.md section 6)
    harmonic_levels_db: tuple[Annotated[float, Field(ge=-40, le=0)], ...] = Field(
        (0, -3, -6, -9, -12), min_length=5, max_length=12)
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

    @model_validator(mode="after")
    def _iec_timing(self) -> Audio:
        # IEC 60601-1-8: pulse spacing 50-125 ms for high, 125-250 ms for medium priority;
        # high and medium repeat (burst interval 2.5-15 s high, 2.5-30 s medium).
        problems = []
        for name, (lo, hi), (rlo, rhi) in (("high", (50, 125), (2.5, 15)), ("medium", (125, 250), (2.5, 30))):
            pattern: AudioPattern = getattr(self, name)
            gap = pattern.gap_ms if pattern.gap_ms is not None else self.gap_ms
            if not lo <= gap <= hi:
                problems.append(f"{name}: pulse spacing {gap:g} ms must be {lo}-{hi} ms")
            if pattern.repeat_s is None or not rlo <= pattern.repeat_s <= rhi:
                problems.append(f"{name}.repeat_s must be {rlo:g}-{rhi:g} s")
        if self.ramp_ms * 2 > self.pulse_ms:
            problems.append("ramp_ms must be at most half of pulse_ms")
        _issues(problems)
        return self


FLASH_HZ = {"high": (1.4, 2.8), "medium": (0.4, 0.8), "low": (0.0, 0.0)}  # IEC 60601-1-8
SWITCHABLE_NAMES = ("APNOEA", *PLAUSIBLE)


class Signalling(_Strict):
    flash_hz: dict[Priority, float]
    flash_duty: float = Field(0.5, ge=0.2, le=0.6)  # lit fraction of each flash period (IEC: 20-60 %)
    audio: Audio
    audio_pause_s: float = Field(ge=10, le=300)
    acknowledged_reminder_s: float = Field(ge=30, le=180)
    alarm_off_max_min: float = Field(ge=1, le=30)
    escalation_s: float = Field(ge=10, le=300)
    not_switchable_off: tuple[str, ...]

    @field_validator("flash_hz")
    @classmethod
    def _flash_rates(cls, value: dict[str, float]) -> dict[str, float]:
        problems = []
        for priority, (lo, hi) in FLASH_HZ.items():
            hz = value.get(priority)
            if hz is None:
                problems.append(f"{priority}: missing")
            elif not lo <= hz <= hi:
                problems.append(f"{priority}: {hz:g} Hz must be " + (f"{lo:g}-{hi:g} Hz" if hi else "0 (steady)"))
        _issues(problems)
        return value

    @field_validator("not_switchable_off")
    @classmethod
    def _apnoea_always_on(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        problems = []
        if "APNOEA" not in value:
            problems.append("must list APNOEA (apnoea alarms can never be switched off)")
        problems += [f"{name!r} is not an alarm name (known: {', '.join(SWITCHABLE_NAMES)})"
                     for name in value if name not in SWITCHABLE_NAMES]
        _issues(problems)
        return value


class ClinicalProtocol(_Strict):
    schema_: Literal[1] = Field(alias="schema")
    name: str = Field(min_length=1, max_length=200)
    source: str
    dose_guardrails: DoseGuardrails
    weight_basis: WeightBasis
    phases: Phases
    charting: Charting = Charting()
    documentation: Documentation = Documentation()
    limits: dict[str, MetricLimits]
    etco2_sampling: Etco2Sampling
    apnoea: Apnoea
    rise_over_baseline: RiseOverBaseline
    technical: Technical
    signalling: Signalling

    @model_validator(mode="before")
    @classmethod
    def _no_true_or_false_for_a_number(cls, data: object) -> object:
        """JSON's true/false would pass as 1/0 (a rate hard maximum of 1 mL/h, a hysteresis of
        1): only the fields that are yes/no questions may hold them."""
        problems: list[str] = []

        def walk(node: object, where: str) -> None:
            if isinstance(node, dict):
                for key, sub in node.items():
                    place = f"{where}.{key}" if where else str(key)
                    if isinstance(sub, bool) and key not in YES_NO_FIELDS:
                        problems.append(f"{place}: must be a number, not {str(sub).lower()}")
                    else:
                        walk(sub, place)
            elif isinstance(node, list):
                for i, sub in enumerate(node):
                    if isinstance(sub, bool):
                        problems.append(f"{where}.{i}: must be a number, not {str(sub).lower()}")
                    else:
                        walk(sub, f"{where}.{i}")

        walk(data, "")
        _issues(problems)
        return data

    @field_validator("limits", mode="before")
    @classmethod
    def _every_metric(cls, value: object) -> object:
        if isinstance(value, dict):
            problems = [f"{m}: missing (every metric of CLINICAL.md section 4 needs limits)"
                        for m in PLAUSIBLE if m not in value]
            problems += [f"{m}: not a metric the console measures (known: {', '.join(PLAUSIBLE)})"
                         for m in value if m not in PLAUSIBLE]
            _issues(problems)
        return value

    @field_validator("limits")
    @classmethod
    def _limits_plausible(cls, value: dict[str, MetricLimits]) -> dict[str, MetricLimits]:
        problems = []
        for metric, spec in value.items():
            lo, hi = PLAUSIBLE[metric]
            if not (lo <= spec.adjust_bounds[0] and spec.adjust_bounds[1] <= hi):
                problems.append(f"{metric}.adjust_bounds must lie within {lo:g}-{hi:g} {spec.unit}")
        for metric, unit in METRIC_UNITS.items():
            if value[metric].unit != unit:
                problems.append(f"{metric}.unit must be {unit!r} (the unit the console measures it in), "
                                f"not {value[metric].unit!r}")
        for (metric, priority), sides in REQUIRED_SIDES.items():
            band = value[metric].band(priority)
            for side in sides:
                if band is None or getattr(band, side) is None:
                    problems.append(f"{metric}: the {priority}-priority '{side}' limit must be present and on")
        _issues(problems)
        return value

    @model_validator(mode="after")
    def _etco2_sampling_fits(self) -> ClinicalProtocol:
        etco2 = self.limits["ETCO2"]
        lo, hi = etco2.adjust_bounds
        _, high = etco2.outer_range()
        problems = []
        for name in ("nasal_low_below", "airway_low_below"):
            below = getattr(self.etco2_sampling, name)
            if not lo <= below <= hi:
                problems.append(f"etco2_sampling.{name} {below:g} lies outside ETCO2 adjust_bounds")
            elif high is not None and not 2 * etco2.hysteresis < high - below:
                problems.append(f"etco2_sampling.{name} {below:g} is too close to the ETCO2 high limit {high:g}")
        _issues(problems)
        return self

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


class SettingsFileError(Exception):
    """A settings file (clinical protocol or site configuration) is missing or invalid. The
    message names the file and lists every problem, one per line; ``problems`` holds them."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ProtocolFileError(SettingsFileError):
    """The clinical protocol file is missing or invalid; the message names the file and field."""


def problems_of(exc: ValidationError) -> list[str]:
    """Every problem pydantic found, one line each, named by its place in the file."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = err["msg"].removeprefix("Value error, ")
        for part in msg.split("; "):
            out.append(f"{where}: {part}")
    return out


def describe_problems(what: str, problems: list[str]) -> str:
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return f"{what} ({count}):\n" + "\n".join(f"  - {p}" for p in problems)


def read_json(path: Path, text: str | None = None) -> object:
    """Parse a settings file; every way it can be unreadable raises ValueError or OSError."""
    if text is None:
        text = path.read_text(encoding="utf-8")  # OSError, UnicodeDecodeError (a ValueError)
    try:
        return json.loads(text)
    except RecursionError:  # nested deeper than the parser's stack
        raise ValueError("nested too deeply to be a settings file") from None


DEFAULT_PROTOCOL_FILE = "clinical_protocol.json"
SITE_PROTOCOL_ENV = "INFUSION_CONSOLE_PROTOCOL"  # a site's own protocol file, if set


def load_settings(model: type[BaseModel], error: type[SettingsFileError], what: str, where: str,
                  path: Path | None, text: str | None = None):
    """Read and validate one settings file (the protocol, the site file) the same way: an
    unreadable file is one line, an invalid one lists every problem; never a traceback."""
    try:
        data = read_json(path or Path(), text)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError, UnicodeDecodeError, too deep
        raise error(f"cannot read {what} {where}: {exc}", [str(exc)]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = problems_of(exc)
        raise error(describe_problems(f"invalid {what} {where}", problems), problems) from None
    except RecursionError:
        raise error(f"cannot read {what} {where}: nested too deeply", ["nested too deeply"]) from None


def load_protocol(path: str | Path | None = None) -> ClinicalProtocol:
    """Load a site's protocol file, or the shipped defaults when ``path`` is None."""
    if path:
        return load_settings(ClinicalProtocol, ProtocolFileError, "clinical protocol", str(path), Path(path))
    return load_settings(ClinicalProtocol, ProtocolFileError, "clinical protocol",
                         f"bundled {DEFAULT_PROTOCOL_FILE}", None, read_text(DEFAULT_PROTOCOL_FILE))


def site_protocol() -> ClinicalProtocol:
    """The protocol in force at this site: the file named by $INFUSION_CONSOLE_PROTOCOL, or the
    shipped defaults. Every command (window, record, review) starts from here."""
    import os

    return load_protocol(os.environ.get(SITE_PROTOCOL_ENV) or None)
