"""Weight-based dose plan (CLINICAL.md section 1) and its guardrails.

total mg = dosing weight x dose; volume mL = total / concentration; rate mL/h = volume / (min / 60);
dose rate mg/kg/h = dose / (min / 60). Soft limits can be overridden with a recorded reason;
hard limits cannot.

Weight basis: ``weight_kg`` is always the patient's actual weight (the weight guardrails and
the BMI use it). ``dosing_weight_kg`` is the weight the dose is multiplied by: the actual
weight, or the ideal or adjusted body weight chosen for an obese patient (``weight_basis``, with
``basis_weight_kg`` the value computed when the plan was made, so a record shows the number
that was used, and ``weight_basis_reason`` why). Use ``dosing_weight_kg`` wherever a dose per kg is
turned into mg (and back), and for the comparison with the pump's WEIGHT.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from console.clinical import DoseGuardrails, Guardrail, WeightBasis

Sex = Literal["male", "female"]
Basis = Literal["actual", "ideal", "adjusted"]
BASIS_WORDS = {"actual": "actual weight", "ideal": "ideal body weight", "adjusted": "adjusted body weight"}


class DosePlan(BaseModel):
    """What the physician ordered for this session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight_kg: float = Field(gt=0, description="the patient's actual weight")
    dose_mg_per_kg: float = Field(gt=0)
    duration_min: float = Field(gt=0)
    bag_mg: float = Field(gt=0, description="drug in the bag")
    bag_ml: float = Field(gt=0, description="bag volume")
    drug: str = "KETAMINE"
    height_cm: float | None = Field(None, gt=0)
    sex: Sex | None = None
    weight_basis: Basis = "actual"
    basis_weight_kg: float | None = Field(None, gt=0, description="IBW or adjusted weight used")
    weight_basis_reason: str | None = None
    # When the infusion is meant to begin: wall-clock time with its zone (see session_time_of).
    planned_start: dt.datetime | None = None

    @model_validator(mode="after")
    def _basis_is_complete(self) -> DosePlan:
        if self.weight_basis != "actual" and self.basis_weight_kg is None:
            raise ValueError(f"a plan on {BASIS_WORDS[self.weight_basis]} needs basis_weight_kg")
        if self.weight_basis == "actual" and self.basis_weight_kg is not None:
            raise ValueError("basis_weight_kg belongs to an ideal or adjusted weight basis")
        if self.planned_start is not None and self.planned_start.tzinfo is None:
            raise ValueError("planned_start needs its time zone")
        return self

    @property
    def dosing_weight_kg(self) -> float:
        """The weight the dose (mg/kg) is multiplied by."""
        return self.basis_weight_kg if self.basis_weight_kg is not None else self.weight_kg

    @property
    def bmi(self) -> float | None:
        if self.height_cm is None:
            return None
        return self.weight_kg / (self.height_cm / 100.0) ** 2

    @property
    def total_mg(self) -> float:
        return self.dosing_weight_kg * self.dose_mg_per_kg

    @property
    def concentration_mg_per_ml(self) -> float:
        return self.bag_mg / self.bag_ml

    @property
    def volume_ml(self) -> float:
        return self.total_mg / self.concentration_mg_per_ml

    @property
    def rate_ml_per_h(self) -> float:
        return self.volume_ml / (self.duration_min / 60.0)

    @property
    def dose_rate_mg_per_kg_per_h(self) -> float:
        return self.dose_mg_per_kg / (self.duration_min / 60.0)

    @property
    def dose_rate_ug_per_kg_per_min(self) -> float:
        return self.dose_mg_per_kg * 1000.0 / self.duration_min

    @property
    def bag_excess_factor(self) -> float:
        """Drug in the bag over the planned dose (1.0: the bag holds exactly the dose)."""
        return self.bag_mg / self.total_mg

    def weight_words(self) -> str:
        """Both weights, as the plan line and the record show them."""
        if self.weight_basis == "actual":
            return f"{self.weight_kg:g} kg"
        return (f"{self.dosing_weight_kg:.1f} kg {BASIS_WORDS[self.weight_basis]} (actual {self.weight_kg:g} kg)")


def session_time_of(when: dt.datetime, now: float, wall: float) -> float:
    """A wall-clock moment on the session clock, given the clock's ``now()`` and ``wall()``
    read together (a training clock runs faster than the wall: its own wall() is used)."""
    return now + (when.timestamp() - wall)


# ----------------------------------------------------------------------------- weight basis
def ideal_body_weight(height_cm: float | None, sex: Sex | None, wb: WeightBasis) -> float | None:
    """Devine (1974): base + kg_per_cm x (height - min height); None where it is not defined
    (no height or sex, or shorter than the formula's minimum height)."""
    if height_cm is None or sex is None or height_cm < wb.ibw_min_height_cm:
        return None
    base = wb.ibw_base_kg.male if sex == "male" else wb.ibw_base_kg.female
    return base + wb.ibw_kg_per_cm * (height_cm - wb.ibw_min_height_cm)


def adjusted_body_weight(actual_kg: float, ibw_kg: float, wb: WeightBasis) -> float:
    return ibw_kg + wb.adjusted_fraction * (actual_kg - ibw_kg)


def basis_formula(basis: Basis, sex: Sex | None, wb: WeightBasis) -> str:
    """The formula in words, shown beside the choice."""
    if basis == "actual":
        return "the weight on the scale"
    base = wb.ibw_base_kg.male if sex == "male" else wb.ibw_base_kg.female
    ibw = f"{base:g} kg + {wb.ibw_kg_per_cm:g} kg per cm above {wb.ibw_min_height_cm:g} cm"
    if basis == "ideal":
        return f"IBW (Devine) = {ibw}"
    return f"IBW + {wb.adjusted_fraction:g} x (actual - IBW), IBW = {ibw}"


def basis_choices(weight_kg: float, height_cm: float | None, sex: Sex | None,
                  wb: WeightBasis) -> dict[Basis, float]:
    """The weights a plan may use: actual always; ideal and adjusted where IBW is defined
    and below the actual weight (an IBW above it would raise the dose)."""
    out: dict[Basis, float] = {"actual": weight_kg}
    ibw = ideal_body_weight(height_cm, sex, wb)
    if ibw is not None and ibw < weight_kg:
        out["ideal"] = ibw
        out["adjusted"] = adjusted_body_weight(weight_kg, ibw, wb)
    return out


def basis_question_due(weight_kg: float, height_cm: float | None, wb: WeightBasis) -> bool:
    """Above the BMI threshold the plan must say which weight the dose uses."""
    return height_cm is not None and weight_kg / (height_cm / 100.0) ** 2 > wb.ask_above_bmi


# ----------------------------------------------------------------------------- guardrails
Severity = Literal["soft", "hard"]


@dataclass(frozen=True, slots=True)
class GuardrailFinding:
    # weight_kg, dose_mg_per_kg, duration_min, rate_ml_per_h, dose_rate_mg_per_kg_per_h,
    # total_dose_mg, concentration_mg_per_ml, bag_excess_factor
    field: str
    severity: Severity
    message: str


def _num(value: float) -> str:
    """4 significant digits, never an exponent (1201, 0.75, 33.33)."""
    return f"{float(f'{value:.4g}'):g}" if abs(value) < 1e6 else f"{value:.0f}"


def _check(field: str, label: str, unit: str, value: float, g: Guardrail) -> GuardrailFinding | None:
    said = f"{label} {_num(value)} {unit}".rstrip() + " is"
    if g.hard_min is not None and value < g.hard_min:
        return GuardrailFinding(field, "hard", f"{said} below the hard limit {g.hard_min:g} {unit}".rstrip())
    if g.hard_max is not None and value > g.hard_max:
        return GuardrailFinding(field, "hard", f"{said} above the hard limit {g.hard_max:g} {unit}".rstrip())
    if g.soft_min is not None and value < g.soft_min:
        return GuardrailFinding(field, "soft", f"{said} below the usual {g.soft_min:g} {unit}".rstrip())
    if g.soft_max is not None and value > g.soft_max:
        return GuardrailFinding(field, "soft", f"{said} above the usual {g.soft_max:g} {unit}".rstrip())
    return None


def check_guardrails(plan: DosePlan, rails: DoseGuardrails) -> list[GuardrailFinding]:
    """Every guardrail the plan crosses, hard ones first. The weight guardrails judge the
    actual weight; the total dose uses the dosing weight."""
    found = [
        _check("weight_kg", "Weight", "kg", plan.weight_kg, rails.weight_kg),
        _check("dose_mg_per_kg", "Dose", "mg/kg", plan.dose_mg_per_kg, rails.dose_mg_per_kg),
        _check("duration_min", "Duration", "min", plan.duration_min, rails.duration_min),
        _check("rate_ml_per_h", "Rate", "mL/h", round(plan.rate_ml_per_h, 6), rails.rate_ml_per_h),
        _check("dose_rate_mg_per_kg_per_h", "Dose rate", "mg/kg/h", round(plan.dose_rate_mg_per_kg_per_h, 9),
               rails.dose_rate_mg_per_kg_per_h),
        _check("total_dose_mg", "Total dose", "mg", round(plan.total_mg, 9), rails.total_dose_mg),
        _check("concentration_mg_per_ml", "Concentration", "mg/mL", round(plan.concentration_mg_per_ml, 9),
               rails.concentration_mg_per_ml),
    ]
    excess = _check("bag_excess_factor", "The bag's drug", "times the dose", round(plan.bag_excess_factor, 9),
                    rails.bag_excess_factor)
    if excess is not None:
        # Said in mg: a nurse checks the bag against the dose, not a ratio.
        found.append(GuardrailFinding(
            "bag_excess_factor", excess.severity,
            f"The bag holds {plan.bag_mg:g} mg for a dose of {plan.total_mg:.3g} mg "
            f"({plan.bag_excess_factor:.2g} x; usual at most {rails.bag_excess_factor.soft_max:g} x): "
            f"set the pump's VTBI to {plan.volume_ml:.3g} mL"))
    return sorted((f for f in found if f), key=lambda f: f.severity != "hard")
