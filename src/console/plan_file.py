"""The session order: patient, dose plan and guardrail overrides, as a clinic's order system
can write it (``infusion-console --session FILE.json``), and the checks the new-session dialog
runs on what a nurse types.

File shape (every key but ``overrides`` and ``ordered_by`` required)::

    {
      "patient": {"patient_id": "MRN-1234", "name": "Alex Morgan", "date_of_birth": "1986-04-12"},
      "plan": {"weight_kg": 70, "dose_mg_per_kg": 0.5, "duration_min": 40,
               "bag_mg": 35, "bag_ml": 50},
      "overrides": {"dose_mg_per_kg": "reason a soft limit is crossed"},
      "ordered_by": "Dr. Rivera",
      "treatment_number": 3
    }

``treatment_number`` (optional): this session's place in the patient's course, 1-99.

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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from console.clinical import ClinicalProtocol, DoseGuardrails, WeightBasis, load_protocol
from console.dose import (
    BASIS_WORDS,
    Basis,
    DosePlan,
    GuardrailFinding,
    basis_choices,
    basis_question_due,
    check_guardrails,
)
from console.patient import Patient, text_problem

# The numbers a nurse types, with the words and unit the messages use.
PLAN_INPUTS: dict[str, tuple[str, str]] = {
    "weight_kg": ("Weight", "kg"),
    "dose_mg_per_kg": ("Dose", "mg/kg"),
    "duration_min": ("Duration", "min"),
    "bag_mg": ("Drug in the bag", "mg"),
    "bag_ml": ("Bag volume", "mL"),
}
# Optional inputs of the plan: the weight basis (CLINICAL.md section 1) and the planned start.
OPTIONAL_INPUTS = ("drug", "height_cm", "sex", "weight_basis", "weight_basis_reason", "planned_start",
                   "basis_weight_kg")  # the last is computed; a plan's own dump may carry it
# Fields a guardrail can name (the rate, dose rate, total, concentration and the bag's excess
# are computed, not typed, but have limits of their own).
GUARDRAIL_FIELDS = ("weight_kg", "dose_mg_per_kg", "duration_min", "rate_ml_per_h",
                    "dose_rate_mg_per_kg_per_h", "total_dose_mg", "concentration_mg_per_ml",
                    "bag_excess_factor")
COMPUTED_WORDS = {"rate_ml_per_h": "rate", "dose_rate_mg_per_kg_per_h": "dose rate",
                  "total_dose_mg": "total dose", "concentration_mg_per_ml": "concentration",
                  "bag_excess_factor": "drug in the bag over the dose"}
PATIENT_WORDS = {"patient_id": "Patient ID", "name": "Patient name", "date_of_birth": "Date of birth"}
ORDER_KEYS = ("patient", "plan", "overrides", "ordered_by", "treatment_number")
MAX_TREATMENT_NUMBER = 99  # a course is typically six; 99 catches a typed date or ID


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
    treatment_number: int | None = None  # within the patient's course, from the order
    source: str = ""  # the file it came from

    @property
    def planned_start(self) -> dt.datetime | None:
        return self.plan.planned_start


@dataclass
class PlanCheck:
    """What the dialog shows beside its fields.

    ``plan``: the computed plan, or None when an input is not a usable number.
    ``messages``: field -> text for every bad input, hard limit, too-small bag and soft limit
    still lacking a reason (empty: the plan may be used).
    ``findings``: every guardrail the plan crosses (soft ones too, reason given or not), so
    the dialog can offer a reason box beside each soft one.
    ``basis_choices``: the weights the dose may use (basis -> kg); ``ask_basis``: the BMI is
    above the threshold, so the weight basis and its reason must be given.
    """

    plan: DosePlan | None
    messages: dict[str, str] = field(default_factory=dict)
    findings: list[GuardrailFinding] = field(default_factory=list)
    basis_choices: dict[Basis, float] = field(default_factory=dict)
    ask_basis: bool = False

    @property
    def acceptable(self) -> bool:
        return self.plan is not None and not self.messages


# ----------------------------------------------------------------------------- typed numbers
_PLAIN = re.compile(r"([+-]?)([0-9]*)(?:([.,])([0-9]*))?")
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(?:[.,' _\u00a0\u202f][0-9]{3})+(?:[.,][0-9]+)?")


def read_number(raw: str, label: str, unit: str) -> tuple[float | None, str | None]:
    """A number as a person types it (CLINICAL.md section 1, "Numbers"), or why not.

    Plain digits with at most one decimal mark, a point or a comma (``0,5`` is 0.5). A mark
    followed by exactly three digits in a number of 1 or more (``1,000``, ``1.000``) is
    refused as ambiguous: a thousands separator in one locale, a decimal mark in another.
    Thousands separators, exponents and non-ASCII digits are never read. Used by the dialog
    and by the order file's text values (a JSON number is not typed text: its point is a
    decimal point by the JSON standard)."""
    text = raw.strip()
    m = _PLAIN.fullmatch(text)
    if m is None or not (m.group(2) or m.group(4)):
        if _GROUPED.fullmatch(text):
            return None, (f"{label} '{text}' has a thousands separator: write the number without one "
                          f"({unit}).")
        return None, f"{label} must be a number in {unit}, not '{text}'."
    sign, whole, mark, frac = m.groups()
    if mark and len(frac) == 3 and whole and int(whole) >= 1:
        return None, (f"{label} '{text}' is ambiguous (a thousands separator or a decimal mark?): "
                      f"write {int(whole)}{frac} or {int(whole)}.{frac.rstrip('0') or '0'} without the "
                      f"three-digit group, e.g. {whole}.{frac}0 if you mean the decimal.")
    value = float(f"{sign}{whole or '0'}.{frac or '0'}")
    return value, None


def number_text(value: float) -> str:
    """A number as the dialog shows it so that ``read_number`` reads it back exactly: the
    shortest text of the float, with a trailing 0 where three decimals would be ambiguous."""
    text = f"{value:g}"
    if float(text) != value:
        text = repr(float(value))
    if "e" in text.lower():
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    m = _PLAIN.fullmatch(text)
    if m and m.group(3) and len(m.group(4)) == 3 and m.group(2) and int(m.group(2)) >= 1:
        text += "0"
    return text


def _number(name: str, raw: object) -> tuple[float | None, str | None]:
    """A typed or loaded value as a positive number, or the words saying why not."""
    label, unit = PLAN_INPUTS.get(name) or OPTIONAL_WORDS[name]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, f"Enter the {label.lower()} ({unit})."
    if isinstance(raw, bool):
        return None, f"{label} must be a number in {unit}."
    if isinstance(raw, str):
        value, problem = read_number(raw, label, unit)
        if value is None:  # read_number gives a value or the problem
            return None, problem
    elif isinstance(raw, (int, float)):
        value = float(raw)
    else:
        return None, f"{label} must be a number in {unit}."
    if not math.isfinite(value):
        return None, f"{label} must be a number in {unit}."
    if value <= 0:
        return None, f"{label} must be more than 0 {unit} (it is {value:g})."
    return value, None


OPTIONAL_WORDS = {"height_cm": ("Height", "cm")}


def read_planned_start(raw: object, today: dt.date | None = None) -> tuple[dt.datetime | None, str | None]:
    """The planned start as a wall-clock time with its zone, or why not. Accepted: an ISO
    date and time (``2026-12-02T09:30``, ``2026-12-02 09:30+01:00``) or, when ``today`` is
    given (the dialog), a time of day ``09:30``. A time without a zone is local time."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if not isinstance(raw, str):
        return None, "Planned start must be a date and time like 2026-12-02T09:30."
    text = raw.strip()
    when: dt.datetime | None = None
    if today is not None and re.fullmatch(r"[0-9]{1,2}:[0-9]{2}", text):
        try:
            when = dt.datetime.combine(today, dt.time.fromisoformat(text.zfill(5)))
        except ValueError:
            when = None
    elif re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}.*", text):
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            when = None
    if when is None:
        hint = "a time like 09:30 or " if today is not None else ""
        return None, f"Planned start '{text}' is not {hint}a date and time like 2026-12-02T09:30."
    if when.tzinfo is None:
        when = when.astimezone()  # local time, as the clinic's clock shows it
    return when, None


def _bag_too_small(plan: DosePlan) -> str | None:
    # A small relative margin so 35 mg of a 35 mg bag is not refused for rounding.
    if plan.total_mg > plan.bag_mg * (1 + 1e-9):
        return (f"The bag holds {plan.bag_mg:g} mg but the dose is {plan.total_mg:g} mg: "
                f"the pump could not deliver it.")
    return None


def _not_offered(basis: str, height_cm: float | None, sex: str | None, wb: WeightBasis) -> str:
    if height_cm is None or sex is None:
        why = "it needs the height and sex"
    elif height_cm < wb.ibw_min_height_cm:
        why = f"ideal body weight is not defined below {wb.ibw_min_height_cm:g} cm"
    else:
        why = "the ideal body weight is not below the actual weight"
    return f"The dose cannot use the {BASIS_WORDS[basis]}: {why}."


def _basis_problems(plan: DosePlan, wb: WeightBasis) -> dict[str, str]:
    """The weight basis of a plan against the protocol in force: asked above the BMI
    threshold (with a reason), IBW only where it is defined, the weight used as computed."""
    out: dict[str, str] = {}
    if basis_question_due(plan.weight_kg, plan.height_cm, wb):
        if plan.weight_basis_reason is None or not plan.weight_basis_reason.strip():
            out["weight_basis"] = (f"BMI {plan.bmi:.1f} is above {wb.ask_above_bmi:g}: choose which weight the "
                                   f"dose uses (actual, ideal or adjusted) and say why.")
    elif plan.weight_basis != "actual" and not (plan.weight_basis_reason or "").strip():
        out["weight_basis"] = f"Say why the dose uses the {BASIS_WORDS[plan.weight_basis]}."
    if plan.weight_basis != "actual":
        choices = basis_choices(plan.weight_kg, plan.height_cm, plan.sex, wb)
        if plan.weight_basis not in choices:
            out["weight_basis"] = _not_offered(plan.weight_basis, plan.height_cm, plan.sex, wb)
        elif plan.basis_weight_kg is None or abs(plan.basis_weight_kg - choices[plan.weight_basis]) > 1e-6:
            words, kg = BASIS_WORDS[plan.weight_basis], choices[plan.weight_basis]
            given = plan.basis_weight_kg
            out["weight_basis"] = f"The {words} is {kg:.1f} kg by the protocol in force, not {given:g} kg."
    return out


def plan_problems(plan: DosePlan, rails: DoseGuardrails,
                  overrides: Mapping[str, str] | None = None, *,
                  weight_basis: WeightBasis | None = None) -> tuple[dict[str, str], list[GuardrailFinding]]:
    """Why a well-formed plan may not be used (field -> words), and every guardrail finding.

    Hard limits and a too-small bag always refuse; a soft limit refuses until ``overrides``
    holds a non-blank reason for its field; the weight basis is checked when ``weight_basis``
    (the protocol's) is given.
    """
    overrides = overrides or {}
    messages: dict[str, str] = {}
    findings = check_guardrails(plan, rails)
    for f in findings:
        if f.severity == "hard":
            messages.setdefault(f.field, f"{f.message}: not allowed.")
        elif not str(overrides.get(f.field) or "").strip():
            messages.setdefault(f.field, f"{f.message}: give a reason to override.")
    bag = _bag_too_small(plan)
    if bag and "bag_mg" not in messages:
        messages["bag_mg"] = bag
    if weight_basis is not None:
        messages.update(_basis_problems(plan, weight_basis))
    return messages, findings


def check_plan_inputs(raw: Mapping[str, object], rails: DoseGuardrails | None = None,
                      overrides: Mapping[str, str] | None = None, *,
                      weight_basis: WeightBasis | None = None, today: dt.date | None = None) -> PlanCheck:
    """Check what was typed (strings or numbers) for the five plan inputs and the optional
    ones (``drug``, ``height_cm``, ``sex``, ``weight_basis``, ``weight_basis_reason``,
    ``planned_start``). ``today``: the dialog's date, so a bare time of day is read."""
    if rails is None or weight_basis is None:
        protocol = load_protocol()
        rails, weight_basis = rails or protocol.dose_guardrails, weight_basis or protocol.weight_basis
    messages: dict[str, str] = {}
    values: dict[str, Any] = {}  # DosePlan's keyword arguments (it validates them)
    for name in PLAN_INPUTS:
        value, problem = _number(name, raw.get(name))
        if problem:
            messages[name] = problem
        else:
            values[name] = value
    for name in raw:
        if name not in PLAN_INPUTS and name not in OPTIONAL_INPUTS:
            messages[name] = f"'{name}' is not part of a dose plan (misspelt?)."
    drug = raw.get("drug")
    if drug is not None and (not isinstance(drug, str) or not drug.strip()):
        messages["drug"] = "Drug name must be text."
    elif drug:
        values["drug"] = drug.strip()
    if raw.get("height_cm") not in (None, ""):
        value, problem = _number("height_cm", raw.get("height_cm"))
        if problem:
            messages["height_cm"] = problem
        elif value is not None and 50 <= value <= 250:
            values["height_cm"] = value
        else:  # a height in metres or inches is a slip, not a person
            messages["height_cm"] = f"Height {value:g} cm is not a height in centimetres."
    sex = raw.get("sex")
    if sex not in (None, ""):
        if sex not in ("male", "female"):
            messages["sex"] = "Sex (for the ideal body weight) must be 'male' or 'female'."
        else:
            values["sex"] = sex
    basis = raw.get("weight_basis")
    weight_basis_reason = raw.get("weight_basis_reason")
    if basis not in (None, "") and basis not in BASIS_WORDS:
        messages["weight_basis"] = "Weight basis must be 'actual', 'ideal' or 'adjusted'."
    elif weight_basis_reason is not None and not isinstance(weight_basis_reason, str):
        messages["weight_basis"] = "The reason for the weight basis must be text."
    elif weight_basis_reason and text_problem(weight_basis_reason):
        messages["weight_basis"] = f"The reason for the weight basis {text_problem(weight_basis_reason)}."
    else:
        values["weight_basis"] = basis or "actual"
        if weight_basis_reason and weight_basis_reason.strip():
            values["weight_basis_reason"] = weight_basis_reason.strip()
    when, problem = read_planned_start(raw.get("planned_start"), today)
    if problem:
        messages["planned_start"] = problem
    elif when is not None:
        values["planned_start"] = when
    if any(k in messages for k in PLAN_INPUTS) or "drug" in messages:
        return PlanCheck(None, messages)
    choices = basis_choices(values["weight_kg"], values.get("height_cm"), values.get("sex"), weight_basis)
    ask = basis_question_due(values["weight_kg"], values.get("height_cm"), weight_basis)
    chosen = values.get("weight_basis", "actual")
    if chosen != "actual" and chosen in choices:
        values["basis_weight_kg"] = choices[chosen]
        given = raw.get("basis_weight_kg")
        if isinstance(given, (int, float)) and abs(given - choices[chosen]) > 1e-6:
            messages["weight_basis"] = (f"The {BASIS_WORDS[chosen]} is {choices[chosen]:.1f} kg by the protocol in "
                                        f"force, not {given:g} kg.")
    elif chosen != "actual":
        # Refused by name; the plan is still computed (on the actual weight) for the display.
        values["weight_basis"] = "actual"
        messages["weight_basis"] = _not_offered(chosen, values.get("height_cm"), values.get("sex"), weight_basis)
    plan = DosePlan(**values)
    problems, findings = plan_problems(plan, rails, overrides, weight_basis=weight_basis)
    return PlanCheck(plan, {**problems, **messages}, findings, dict(choices), ask)


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
    if name in COMPUTED_WORDS:
        return f"{COMPUTED_WORDS[name]} computed from the plan"
    return f"plan.{name}"


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
            elif kind == "value_error" and key in ("patient_id", "name"):
                out.append(f"{label} (patient.{key}) {str(err['msg']).removeprefix('Value error, ')}.")
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
        elif text_problem(reason):
            problems.append(f"The override reason for {name} {text_problem(reason)}.")
        else:
            out[name] = reason
    return out, problems


def parse_session_order(data: object, source: str = "",
                        protocol: ClinicalProtocol | None = None) -> SessionOrder:
    """Check an already-loaded order (a scenario can carry one). Raises SessionOrderError."""
    protocol = protocol or load_protocol()
    rails = protocol.dose_guardrails
    where = source or "(no file)"
    if not isinstance(data, dict):
        raise SessionOrderError(where, ["The file must hold one JSON object with 'patient' and 'plan'."])
    problems: list[str] = [f"'{k}' is not part of a session order (misspelt?)." for k in data
                           if k not in ORDER_KEYS]
    patient, found = _patient_problems(data.get("patient"))
    problems += found
    overrides, found = _overrides(data.get("overrides"))
    problems += found
    ordered_by = data.get("ordered_by")
    if ordered_by is not None and not isinstance(ordered_by, str):
        problems.append("'ordered_by' must be the name of who ordered the session.")
    elif ordered_by is not None and text_problem(ordered_by):
        problems.append(f"'ordered_by' {text_problem(ordered_by)}.")
    treatment = data.get("treatment_number")
    if treatment is not None and (isinstance(treatment, bool) or not isinstance(treatment, int)
                                  or not 1 <= treatment <= MAX_TREATMENT_NUMBER):
        problems.append(f"'treatment_number' must be a whole number from 1 to {MAX_TREATMENT_NUMBER} "
                        f"(not {json.dumps(treatment)}).")
        treatment = None
    raw_plan = data.get("plan")
    check: PlanCheck | None = None
    if raw_plan is None:
        problems.append("The dose plan (plan) is missing.")
    elif not isinstance(raw_plan, dict):
        problems.append("'plan' must hold weight_kg, dose_mg_per_kg, duration_min, bag_mg and bag_ml.")
    else:
        check = check_plan_inputs(raw_plan, rails, overrides, weight_basis=protocol.weight_basis)
        # Each message already starts with the field's words; the key helps whoever
        # maintains the order system.
        problems += [f"{text.rstrip('.')} ({_where(name)})." for name, text in check.messages.items()]
    if problems or check is None or check.plan is None or patient is None:
        raise SessionOrderError(where, problems)
    return SessionOrder(patient=patient, plan=check.plan, overrides=overrides,
                        ordered_by=ordered_by.strip() if ordered_by else None, treatment_number=treatment,
                        source=source)


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
    except RecursionError:  # nested deeper than any order: not an order, and never a traceback
        raise SessionOrderError(where, ["The file is nested too deeply to be a session order."]) from None
    return parse_session_order(data, where, protocol)


__all__ = [
    "GUARDRAIL_FIELDS", "OPTIONAL_INPUTS", "PLAN_INPUTS", "PlanCheck", "SessionOrder", "SessionOrderError",
    "check_plan_inputs", "load_session_order", "number_text", "parse_session_order", "plan_problems",
    "read_number", "read_planned_start", "validate_plan_inputs",
]
