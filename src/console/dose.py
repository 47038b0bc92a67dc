"""Weight-based dose plan (CLINICAL.md section 1) and its guardrails.

total mg = weight x dose; volume mL = total / concentration; rate mL/h = volume / (min / 60);
dose rate mg/kg/h = dose / (min / 60). Soft limits can be overridden with a recorded reason;
hard limits cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from console.clinical import DoseGuardrails, Guardrail


class DosePlan(BaseModel):
    """What the physician ordered for this session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight_kg: float = Field(gt=0, description="patient weight")
    dose_mg_per_kg: float = Field(gt=0)
    duration_min: float = Field(gt=0)
    bag_mg: float = Field(gt=0, description="drug in the bag")
    bag_ml: float = Field(gt=0, description="bag volume")
    drug: str = "KETAMINE"

    @property
    def total_mg(self) -> float:
        return self.weight_kg * self.dose_mg_per_kg

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


Severity = Literal["soft", "hard"]


@dataclass(frozen=True, slots=True)
class GuardrailFinding:
    field: str  # weight_kg, dose_mg_per_kg, duration_min, rate_ml_per_h
    severity: Severity
    message: str


def _check(field: str, label: str, unit: str, value: float, g: Guardrail) -> GuardrailFinding | None:
    said = f"{label} {value:g} {unit} is"
    if g.hard_min is not None and value < g.hard_min:
        return GuardrailFinding(field, "hard", f"{said} below the hard limit {g.hard_min:g} {unit}")
    if g.hard_max is not None and value > g.hard_max:
        return GuardrailFinding(field, "hard", f"{said} above the hard limit {g.hard_max:g} {unit}")
    if g.soft_min is not None and value < g.soft_min:
        return GuardrailFinding(field, "soft", f"{said} below the usual {g.soft_min:g} {unit}")
    if g.soft_max is not None and value > g.soft_max:
        return GuardrailFinding(field, "soft", f"{said} above the usual {g.soft_max:g} {unit}")
    return None


def check_guardrails(plan: DosePlan, rails: DoseGuardrails) -> list[GuardrailFinding]:
    """Every guardrail the plan crosses, hard ones first."""
    found = [
        _check("weight_kg", "Weight", "kg", plan.weight_kg, rails.weight_kg),
        _check("dose_mg_per_kg", "Dose", "mg/kg", plan.dose_mg_per_kg, rails.dose_mg_per_kg),
        _check("duration_min", "Duration", "min", plan.duration_min, rails.duration_min),
        _check("rate_ml_per_h", "Rate", "mL/h", round(plan.rate_ml_per_h, 6), rails.rate_ml_per_h),
    ]
    return sorted((f for f in found if f), key=lambda f: f.severity != "hard")
