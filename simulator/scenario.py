"""Named, seeded training scenarios, kept as JSON data files in ``simulator/scenarios``.

A scenario holds its own patient, its own dose plan, the baseline period before the pump
starts, line settings, and a timeline of events (see ``events.py`` for their names and
parameters). Files are validated with pydantic; a bad file raises ``ScenarioError`` naming
the file and the field.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.events import EventError, validate_event


class ScenarioError(ValueError):
    """A scenario that cannot be found or does not validate."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineVitals(_Model):
    """The patient's resting values before any drug (means; noise is added around them)."""

    hr: float = Field(72, ge=30, le=200)
    sbp: float = Field(124, ge=60, le=250)
    dbp: float = Field(78, ge=30, le=150)
    spo2: float = Field(98, ge=70, le=100)
    rr: float = Field(14, ge=4, le=60)
    etco2: float = Field(38, ge=10, le=80)
    temp: float = Field(36.8, ge=30, le=42)
    pi: float = Field(3.0, ge=0.1, le=20)

    @model_validator(mode="after")
    def _sys_above_dia(self) -> BaselineVitals:
        if self.sbp <= self.dbp:
            raise ValueError("sbp must be above dbp")
        return self


class KetamineResponse(_Model):
    """Peak haemodynamic rise over baseline for the standard regimen (0.5 mg/kg over 40 min).

    A field left out is drawn from the seed: SBP N(16, 11), DBP N(11, 8) mmHg (Yale
    2,342-infusion series, CLINICAL.md section 2), HR N(8, 5) /min (a design choice).
    """

    sbp_rise: float | None = Field(None, ge=-20, le=120)
    dbp_rise: float | None = Field(None, ge=-20, le=80)
    hr_rise: float | None = Field(None, ge=-20, le=80)


class PatientSpec(_Model):
    id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=80)
    date_of_birth: date
    weight_kg: float = Field(ge=20, le=250)
    baseline: BaselineVitals = BaselineVitals()
    response: KetamineResponse = KetamineResponse()


class DosePlan(_Model):
    """CLINICAL.md section 1: a weight-based dose from a bag of known strength."""

    weight_kg: float = Field(70.0, ge=20, le=250)
    dose_mg_per_kg: float = Field(0.5, ge=0.05, le=1.0)
    duration_min: float = Field(40.0, ge=2, le=100)
    bag_mg: float = Field(35.0, gt=0)
    bag_ml: float = Field(50.0, gt=0, le=5000)

    @property
    def total_mg(self) -> float:
        return self.weight_kg * self.dose_mg_per_kg

    @property
    def conc_mg_per_ml(self) -> float:
        return self.bag_mg / self.bag_ml

    @property
    def volume_ml(self) -> float:
        """The volume to be infused (VTBI): the planned dose at the bag's concentration."""
        return self.total_mg / self.conc_mg_per_ml

    @property
    def rate_ml_per_h(self) -> float:
        return self.volume_ml / (self.duration_min / 60.0)

    @property
    def dose_rate_mg_per_kg_h(self) -> float:
        return self.dose_mg_per_kg / (self.duration_min / 60.0)

    @model_validator(mode="after")
    def _deliverable(self) -> DosePlan:
        if self.total_mg > self.bag_mg + 1e-9:
            raise ValueError(f"dose {self.total_mg:g} mg exceeds the bag's {self.bag_mg:g} mg")
        if self.rate_ml_per_h > 1200:
            raise ValueError(f"rate {self.rate_ml_per_h:g} mL/h exceeds the pump's 1200 mL/h")
        return self


class LineSettings(_Model):
    """Byte corruption on the encoded stream, deterministic by seed."""

    byte_error_rate: float = Field(0.0, ge=0, le=0.5)
    devices: list[Literal["vitals", "pump"]] = ["vitals", "pump"]


class TimelineEvent(_Model):
    model_config = ConfigDict(extra="allow", frozen=True)

    at: float = Field(ge=0, description="session time (s)")
    event: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _known_event(self) -> TimelineEvent:
        try:
            validate_event(self.event, self.params)
        except EventError as exc:
            raise ValueError(str(exc)) from None
        return self


class Scenario(_Model):
    name: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    description: str = Field(min_length=1, max_length=200, description="one line")
    patient: PatientSpec
    plan: DosePlan = DosePlan()
    baseline_s: float = Field(300.0, ge=0, le=3600, description="session time the pump starts")
    duration_s: float = Field(5400.0, gt=0, description="suggested session length")
    line: LineSettings = LineSettings()
    events: list[TimelineEvent] = []
    notes: str = ""
    # A rare event (CLINICAL.md section 2): how rare, with the source. Shown by --list, so
    # nobody trains on it as what a ketamine session usually looks like.
    rare_event: str | None = Field(None, min_length=1, max_length=200)


def scenario_dir() -> Path:
    return Path(str(resources.files("simulator") / "scenarios"))


def load_scenario_file(path: Path) -> Scenario:
    """Load and validate one scenario file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScenarioError(f"{path}: {problems}") from None


def load_scenario(name: str) -> Scenario:
    """Load a bundled scenario by name (``normal``) or from a path to a JSON file."""
    candidate = Path(name)
    if candidate.suffix == ".json" and candidate.is_file():
        return load_scenario_file(candidate)
    path = scenario_dir() / f"{name}.json"
    if not path.is_file():
        known = ", ".join(n for n, _ in list_scenarios())
        raise ScenarioError(f"unknown scenario {name!r}; known: {known}")
    scenario = load_scenario_file(path)
    if scenario.name != name:
        raise ScenarioError(f"{path}: name: {scenario.name!r} does not match the file name")
    return scenario


def list_scenarios() -> list[tuple[str, str]]:
    """(name, one-line description) of every bundled scenario, sorted by name."""
    return [
        (scenario.name, scenario.description)
        for scenario in (load_scenario_file(p) for p in sorted(scenario_dir().glob("*.json")))
    ]
