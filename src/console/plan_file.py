"""The session order: patient, dose plan and guardrail overrides, as a clinic's order system
can write it (``infusion-console --session FILE.json``), and the checks the new-session dialog
runs on what a nurse types.

File shape (every key but ``overrides`` and ``ordered_by`` required)::

    {
      "patient": {"patient_id": "MRN-1234", "name": "Alex Morgan", "date_of_birth": "1986-04-12"},
      "plan": {"weight_kg": 70, "dose_mg_per_kg": 0.5, "duration_min": 40,
               "bag_mg": 35, "bag_ml": 50},
      "overrides": {"dose_mg_per_kg": "reason a soft limit is crossed"},
      "ordered_by": "Dr. Rivera"
    }

One rule for file and dialog (``check_plan_inputs``): every input must be a number above
zero; hard guardrails refuse; a bag holding less drug than the dose refuses (the pump could
not deliver it); a soft guardrail needs a reason in ``overrides``. Problems are worded for a
nurse and keyed by field, never a traceback: ``load_session_order`` raises only
``SessionOrderError``; ``validate_plan_inputs`` never raises.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from console.clinical import ClinicalProtocol, DoseGuardrails, load_protocol
from console.dose import DosePlan, GuardrailFinding, check_guardrails
from console.patient import Patient

# The numbers a nurse types, with the words and unit the messages use.
PLAN_INPUTS: dict[str, tuple[str, str]] = {
    "weight_kg": ("Weight", "kg"),
    "dose_mg_per_kg": ("Dose", "mg/kg"),
    "duration_min": ("Duration", "min"),
    "bag_mg": ("Drug in the bag", "mg"),
    "bag_ml": ("Bag volume", "mL"),
}
# Fields a guardrail can name (the rate is computed, not typed, but has a hard limit).
GUARDRAIL_FIELDS = ("weight_kg", "dose_mg_per_kg", "duration_min", "rate_ml_per_h")
PATIENT_WORDS = {"patient_id": "Patient ID", "name": "Patient name", "date_of_birth": "Date of birth"}


class SessionOrderError(Exception):
    """A session order file cannot be used. ``str(exc)`` names the file and every problem in
    words a nurse understands; ``problems`` lists them one per line."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(f"Session order {path} cannot be used:\n{lines}")


class SessionOrder(BaseModel):
    """A checked order: the plan is within its hard limits and every soft limit it crosses
    has a reason in ``overrides`` (field -> reason)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient: Patient
    plan: DosePlan
    overrides: dict[str, str] = {}
    ordered_by: str | None = None
    source: str = ""  # the file it came from


@dataclass
class PlanCheck:
    """What the dialog shows beside its fields.

    ``plan``: the computed plan, or None when an input is not a usable number.
    ``messages``: field -> text for every bad input, hard limit, too-small bag and soft limit
    still lacking a reason (empty: the plan may be used).
    ``findings``: every guardrail the plan crosses (soft ones too, reason given or not), so
    the dialog can offer a reason box beside each soft one.
    """

    plan: DosePlan | None
    messages: dict[str, str] = field(default_factory=dict)
    findings: list[GuardrailFinding] = field(default_factory=list)

    @property
    def acceptable(self) -> bool:
        return self.plan is not None and not self.messages


def _number(name: str, raw: object) -> tuple[float | None, str | None]:
    """A typed or loaded value as a positive number, or the words saying why not."""
    label, unit = PLAN_INPUTS[name]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, f"Enter the {label.lower()} ({unit})."
    if isinstance(raw, bool):
        return None, f"{label} must be a number in {unit}."
    if isinstance(raw, str):
        text = raw.strip()
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # a decimal comma, as many keyboards type it
        try:
            value = float(text)
        except ValueError:
            return None, f"{label} must be a number in {unit}, not '{raw.strip()}'."
    elif isinstance(raw, (int, float)):
        value = float(raw)
    else:
        return None, f"{label} must be a number in {unit}."
    if not math.isfinite(value):
        return None, f"{label} must be a number in {unit}."
    if value <= 0:
        return None, f"{label} must be more than 0 {unit} (it is {value:g})."
    return value, None


def _bag_too_small(plan: DosePlan) -> str | None:
    # A small relative margin so 35 mg of a 35 mg bag is not refused for rounding.
    if plan.total_mg > plan.bag_mg * (1 + 1e-9):
        return (f"The bag holds {plan.bag_mg:g} mg but the dose is {plan.total_mg:g} mg: "
                f"the pump could not deliver it.")
    return None


def plan_problems(plan: DosePlan, rails: DoseGuardrails,
                  overrides: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[GuardrailFinding]]:
    """Why a well-formed plan may not be used (field -> words), and every guardrail finding.

    Hard limits and a too-small bag always refuse; a soft limit refuses until ``overrides``
    holds a non-blank reason for its field.
    """
    overrides = overrides or {}
    messages: dict[str, str] = {}
    findings = check_guardrails(plan, rails)
    for f in findings:
        if f.severity == "hard":
            messages[f.field] = f"{f.message}: not allowed."
        elif not str(overrides.get(f.field) or "").strip():
            messages[f.field] = f"{f.message}: give a reason to override."
    bag = _bag_too_small(plan)
    if bag and "bag_mg" not in messages:
        messages["bag_mg"] = bag
    return messages, findings


def check_plan_inputs(raw: Mapping[str, object], rails: DoseGuardrails | None = None,
                      overrides: Mapping[str, str] | None = None) -> PlanCheck:
    """Check what was typed (strings or numbers) for the five plan inputs (and ``drug``)."""
    rails = rails or load_protocol().dose_guardrails
    messages: dict[str, str] = {}
    values: dict[str, float] = {}
    for name in PLAN_INPUTS:
        value, problem = _number(name, raw.get(name))
        if problem:
            messages[name] = problem
        else:
            values[name] = value
    for name in raw:
        if name not in PLAN_INPUTS and name != "drug":
            messages[name] = f"'{name}' is not part of a dose plan (misspelt?)."
    drug = raw.get("drug")
    if drug is not None and (not isinstance(drug, str) or not drug.strip()):
        messages["drug"] = "Drug name must be text."
    if messages:
        return PlanCheck(None, messages)
    plan = DosePlan(**values, **({"drug": drug.strip()} if drug else {}))
    problems, findings = plan_problems(plan, rails, overrides)
    return PlanCheck(plan, problems, findings)


def validate_plan_inputs(raw: Mapping[str, object], rails: DoseGuardrails | None = None,
                         overrides: Mapping[str, str] | None = None) -> tuple[DosePlan | None, dict[str, str]]:
    """For the new-session dialog: ``(plan, messages)``.

    ``plan`` is the computed plan when every input is a number above zero (so the dialog can
    show total mg, concentration, volume, rate live) and None otherwise. ``messages`` maps a
    field (an input, or ``rate_ml_per_h``) to the text to show beside it. The plan may be
    used when ``plan is not None and not messages``. Never raises.
    """
    check = check_plan_inputs(raw, rails, overrides)
    return check.plan, check.messages


# ----------------------------------------------------------------------------- the file
def _where(name: str) -> str:
    return "rate computed from the plan" if name == "rate_ml_per_h" else f"plan.{name}"


def _patient_problems(raw: object) -> tuple[Patient | None, list[str]]:
    if raw is None:
        return None, ["The patient (patient ID, name, date of birth) is missing."]
    if not isinstance(raw, dict):
        return None, ["'patient' must hold patient_id, name and date_of_birth."]
    try:
        patient = Patient.model_validate(raw)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "patient"
            label = PATIENT_WORDS.get(key, f"'{key}'")
            kind = err["type"]
            if kind == "missing":
                out.append(f"{label} (patient.{key}) is missing.")
            elif kind == "extra_forbidden":
                out.append(f"'patient.{key}' is not a patient field (misspelt?).")
            elif kind == "string_too_short":
                out.append(f"{label} (patient.{key}) is empty.")
            elif kind == "string_too_long":
                out.append(f"{label} (patient.{key}) is too long.")
            elif key == "date_of_birth":
                out.append("Date of birth (patient.date_of_birth) must be a date like 1986-04-12.")
            else:
                out.append(f"{label} (patient.{key}) must be text.")
        return None, out
    if patient.date_of_birth is not None and patient.date_of_birth > dt.date.today():
        return None, ["Date of birth (patient.date_of_birth) is in the future."]
    return patient, []


def _overrides(raw: object) -> tuple[dict[str, str], list[str]]:
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, ["'overrides' must map a field to the reason its soft limit is overridden."]
    out, problems = {}, []
    for name, reason in raw.items():
        if name not in GUARDRAIL_FIELDS:
            problems.append(f"Override '{name}' names no guardrail (one of {', '.join(GUARDRAIL_FIELDS)}).")
        elif not isinstance(reason, str):
            problems.append(f"The override reason for {name} must be text.")
        else:
            out[name] = reason
    return out, problems


def parse_session_order(data: object, source: str = "",
                        protocol: ClinicalProtocol | None = None) -> SessionOrder:
    """Check an already-loaded order (a scenario can carry one). Raises SessionOrderError."""
    rails = (protocol or load_protocol()).dose_guardrails
    where = source or "(no file)"
    if not isinstance(data, dict):
        raise SessionOrderError(where, ["The file must hold one JSON object with 'patient' and 'plan'."])
    problems: list[str] = [f"'{k}' is not part of a session order (misspelt?)." for k in data
                           if k not in ("patient", "plan", "overrides", "ordered_by")]
    patient, found = _patient_problems(data.get("patient"))
    problems += found
    overrides, found = _overrides(data.get("overrides"))
    problems += found
    ordered_by = data.get("ordered_by")
    if ordered_by is not None and not isinstance(ordered_by, str):
        problems.append("'ordered_by' must be the name of who ordered the session.")
    raw_plan = data.get("plan")
    check: PlanCheck | None = None
    if raw_plan is None:
        problems.append("The dose plan (plan) is missing.")
    elif not isinstance(raw_plan, dict):
        problems.append("'plan' must hold weight_kg, dose_mg_per_kg, duration_min, bag_mg and bag_ml.")
    else:
        check = check_plan_inputs(raw_plan, rails, overrides)
        # Each message already starts with the field's words; the key helps whoever
        # maintains the order system.
        problems += [f"{text.rstrip('.')} ({_where(name)})." for name, text in check.messages.items()]
    if problems or check is None or check.plan is None or patient is None:
        raise SessionOrderError(where, problems)
    return SessionOrder(patient=patient, plan=check.plan, overrides=overrides,
                        ordered_by=ordered_by.strip() if ordered_by else None, source=source)


def load_session_order(path: str | Path, protocol: ClinicalProtocol | None = None) -> SessionOrder:
    """Read and check a session order file. Raises only SessionOrderError (message names the
    file and every problem); never returns an order that crosses a hard limit, or a soft one
    without its reason."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionOrderError(where, ["The file does not exist."]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionOrderError(where, [f"The file cannot be read ({exc})."]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionOrderError(where, [f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                        f"{exc.msg})."]) from None
    return parse_session_order(data, where, protocol)


__all__ = [
    "GUARDRAIL_FIELDS", "PLAN_INPUTS", "PlanCheck", "SessionOrder", "SessionOrderError",
    "check_plan_inputs", "load_session_order", "parse_session_order", "plan_problems",
    "validate_plan_inputs",
]
