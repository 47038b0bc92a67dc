"""The session order file and the dialog's plan checks: the worked example, every guardrail
edge, and a message (never a traceback) for every bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.clinical import load_protocol
from console.plan_file import (
    SessionOrderError,
    check_plan_inputs,
    load_session_order,
    validate_plan_inputs,
)

RAILS = load_protocol().dose_guardrails
PLAN = dict(weight_kg=70, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50)
PATIENT = dict(patient_id="MRN-1234", name="Alex Morgan", date_of_birth="1986-04-12")


def write(tmp_path, data, name="order.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def order(**kw):
    data = {"patient": dict(PATIENT), "plan": dict(PLAN), "ordered_by": "Dr. Rivera"}
    data.update(kw)
    return data


# ---------------------------------------------------------------- worked example
@pytest.mark.parametrize(("bag_ml", "conc", "rate"), [(50, 0.70, 75), (100, 0.35, 150)])
def test_worked_example_from_a_file(tmp_path, bag_ml, conc, rate):
    o = load_session_order(write(tmp_path, order(plan={**PLAN, "bag_ml": bag_ml})))
    p = o.plan
    assert p.total_mg == pytest.approx(35) and p.dose_rate_mg_per_kg_per_h == pytest.approx(0.75)
    assert p.dose_rate_ug_per_kg_per_min == pytest.approx(12.5)
    assert p.concentration_mg_per_ml == pytest.approx(conc) and p.rate_ml_per_h == pytest.approx(rate)
    assert o.patient.patient_id == "MRN-1234" and o.ordered_by == "Dr. Rivera" and o.overrides == {}


def test_worked_example_typed_in_the_dialog():
    plan, messages = validate_plan_inputs({"weight_kg": "70", "dose_mg_per_kg": "0,5", "duration_min": " 40 ",
                                           "bag_mg": "35", "bag_ml": "50"}, RAILS)
    assert messages == {} and plan.rate_ml_per_h == pytest.approx(75) and plan.total_mg == pytest.approx(35)


# ---------------------------------------------------------------- guardrail edges
# (change to the worked example, the field a finding names, severity or None)
EDGES = [
    ({"dose_mg_per_kg": 0.1}, "dose_mg_per_kg", None),
    ({"dose_mg_per_kg": 0.75, "bag_mg": 100}, "dose_mg_per_kg", None),
    ({"dose_mg_per_kg": 0.09}, "dose_mg_per_kg", "soft"),
    ({"dose_mg_per_kg": 0.76, "bag_mg": 100}, "dose_mg_per_kg", "soft"),
    ({"dose_mg_per_kg": 0.05}, "dose_mg_per_kg", "soft"),
    ({"dose_mg_per_kg": 0.049}, "dose_mg_per_kg", "hard"),
    ({"dose_mg_per_kg": 1.0, "bag_mg": 100}, "dose_mg_per_kg", "soft"),
    ({"dose_mg_per_kg": 1.01, "bag_mg": 100}, "dose_mg_per_kg", "hard"),
    ({"duration_min": 30}, "duration_min", None),
    ({"duration_min": 60}, "duration_min", None),
    ({"duration_min": 29}, "duration_min", "soft"),
    ({"duration_min": 61}, "duration_min", "soft"),
    ({"duration_min": 2, "bag_ml": 35}, "duration_min", "soft"),
    ({"duration_min": 1.9, "bag_ml": 35}, "duration_min", "hard"),
    ({"duration_min": 100}, "duration_min", "soft"),
    ({"duration_min": 101}, "duration_min", "hard"),
    ({"weight_kg": 20}, "weight_kg", None),
    ({"weight_kg": 19.9}, "weight_kg", "hard"),
    ({"weight_kg": 150, "bag_mg": 100}, "weight_kg", None),
    ({"weight_kg": 151, "bag_mg": 100}, "weight_kg", "soft"),
    ({"weight_kg": 250, "bag_mg": 200}, "weight_kg", "soft"),
    ({"weight_kg": 251, "bag_mg": 200}, "weight_kg", "hard"),
    ({"bag_ml": 800}, "rate_ml_per_h", None),  # 800 mL over 40 min: exactly 1200 mL/h
    ({"bag_ml": 801}, "rate_ml_per_h", "hard"),
]
WHERE = {"rate_ml_per_h": "(rate computed from the plan)"}


@pytest.mark.parametrize(("change", "field", "severity"), EDGES)
def test_guardrail_edges_in_the_dialog(change, field, severity):
    raw = {**PLAN, **change}
    check = check_plan_inputs(raw, RAILS)
    assert check.plan is not None
    if severity is None:
        assert check.messages == {} and check.acceptable
        return
    assert [f.severity for f in check.findings] == [severity]
    assert field in check.messages
    assert ("not allowed" if severity == "hard" else "give a reason") in check.messages[field]
    with_reason = check_plan_inputs(raw, RAILS, {field: "physician's order after review"})
    assert with_reason.acceptable is (severity == "soft")


@pytest.mark.parametrize(("change", "field", "severity"), EDGES)
def test_guardrail_edges_in_the_file(tmp_path, change, field, severity):
    path = write(tmp_path, order(plan={**PLAN, **change}))
    if severity is None:
        assert load_session_order(path).plan.model_dump()["weight_kg"] == change.get("weight_kg", 70)
        return
    with pytest.raises(SessionOrderError) as refused:
        load_session_order(path)
    text = str(refused.value)
    assert str(path) in text and WHERE.get(field, f"(plan.{field})") in text
    assert ("not allowed" if severity == "hard" else "give a reason to override") in text
    with_reason = write(tmp_path, order(plan={**PLAN, **change}, overrides={field: "physician's order"}), "r.json")
    if severity == "soft":
        loaded = load_session_order(with_reason)
        assert loaded.overrides == {field: "physician's order"}
    else:
        with pytest.raises(SessionOrderError, match="not allowed"):
            load_session_order(with_reason)


def test_a_blank_reason_is_no_reason(tmp_path):
    path = write(tmp_path, order(plan={**PLAN, "duration_min": 20}, overrides={"duration_min": "  "}))
    with pytest.raises(SessionOrderError, match="Duration 20 min is below the usual 30 min: give a reason"):
        load_session_order(path)


def test_a_bag_holding_less_than_the_dose_is_refused():
    _plan, messages = validate_plan_inputs({**PLAN, "bag_mg": 30}, RAILS)
    assert "the pump could not deliver it" in messages["bag_mg"]


# ---------------------------------------------------------------- bad inputs: words, never a crash
@pytest.mark.parametrize(("value", "words"), [
    (None, "Enter the weight (kg)."), ("", "Enter the weight (kg)."), ("  ", "Enter the weight (kg)."),
    ("seventy", "Weight must be a number in kg, not 'seventy'."), ("7O", "not '7O'"),
    (0, "Weight must be more than 0 kg (it is 0)."), ("-70", "more than 0 kg (it is -70)"),
    ("nan", "must be a number"), ("inf", "must be a number"), (True, "must be a number"),
    ([70], "must be a number")])
def test_each_bad_input_gets_a_message_beside_its_field(value, words):
    raw = {**PLAN, "weight_kg": value}
    plan, messages = validate_plan_inputs(raw, RAILS)
    assert plan is None and list(messages) == ["weight_kg"] and words in messages["weight_kg"]


def test_every_field_missing_is_named():
    plan, messages = validate_plan_inputs({}, RAILS)
    assert plan is None
    assert messages == {
        "weight_kg": "Enter the weight (kg).", "dose_mg_per_kg": "Enter the dose (mg/kg).",
        "duration_min": "Enter the duration (min).", "bag_mg": "Enter the drug in the bag (mg).",
        "bag_ml": "Enter the bag volume (mL)."}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*PLAN, "drug", "x"]),
                       st.one_of(st.none(), st.text(max_size=8), st.floats(allow_nan=True), st.integers(),
                                 st.booleans(), st.lists(st.integers(), max_size=2))))
def test_validate_plan_inputs_never_raises(raw):
    plan, messages = validate_plan_inputs(raw, RAILS)
    assert plan is not None or messages


@pytest.mark.parametrize(("text", "words"), [
    ("{not json", "not valid JSON (line 1"),
    ("[1, 2]", "one JSON object"),
    (json.dumps(order(patient=None)), "The patient (patient ID, name, date of birth) is missing."),
    (json.dumps(order(patient={**PATIENT, "patient_id": ""})), "Patient ID (patient.patient_id) is empty."),
    (json.dumps(order(patient={"name": "A"})), "Patient ID (patient.patient_id) is missing."),
    (json.dumps(order(patient={**PATIENT, "date_of_birth": "12/04/86"})), "must be a date like 1986-04-12"),
    (json.dumps(order(patient={**PATIENT, "date_of_birth": "2999-01-01"})), "is in the future"),
    (json.dumps(order(patient={**PATIENT, "mrn": "x"})), "'patient.mrn' is not a patient field"),
    (json.dumps(order(plan=None)), "The dose plan (plan) is missing."),
    (json.dumps(order(plan={**PLAN, "wieght_kg": 70})), "'wieght_kg' is not part of a dose plan"),
    (json.dumps(order(plan={**PLAN, "bag_ml": "fifty"})),
     "Bag volume must be a number in mL, not 'fifty' (plan.bag_ml)."),
    (json.dumps(order(overrides={"dose": "x"})), "Override 'dose' names no guardrail"),
    (json.dumps(order(overrides=["x"])), "'overrides' must map a field"),
    (json.dumps(order(ordered_by=5)), "'ordered_by' must be the name"),
    (json.dumps(order(comment="x")), "'comment' is not part of a session order"),
])
def test_bad_files_are_refused_in_words(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(SessionOrderError) as refused:
        load_session_order(path)
    message = str(refused.value)
    assert message.startswith(f"Session order {path} cannot be used:") and words in message
    assert "Traceback" not in message and "pydantic" not in message.lower()


def test_every_problem_of_a_file_is_listed_at_once(tmp_path):
    path = write(tmp_path, order(patient={**PATIENT, "name": ""}, plan={**PLAN, "weight_kg": 0, "bag_mg": "x"}))
    with pytest.raises(SessionOrderError) as refused:
        load_session_order(path)
    assert len(refused.value.problems) == 3


def test_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(SessionOrderError, match="does not exist"):
        load_session_order(tmp_path / "nope.json")
    with pytest.raises(SessionOrderError, match="cannot be read"):
        load_session_order(tmp_path)
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(SessionOrderError):
        load_session_order(bad)
