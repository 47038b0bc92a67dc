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
    number_text,
    read_number,
    read_planned_start,
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
# (change to the worked example, the field a finding names, its severity or None). The bag is
# fitted to the dose at 0.7 mg/mL unless the change names it, so other guardrails stay quiet
# where they can (a 2 min infusion is a high dose rate whatever the bag).
EDGES = [
    ({"dose_mg_per_kg": 0.1}, "dose_mg_per_kg", None),
    ({"dose_mg_per_kg": 0.75}, "dose_mg_per_kg", None),
    ({"dose_mg_per_kg": 0.09}, "dose_mg_per_kg", "soft"),
    ({"dose_mg_per_kg": 0.76}, "dose_mg_per_kg", "soft"),
    ({"dose_mg_per_kg": 0.05}, "dose_mg_per_kg", "soft"),
    ({"dose_mg_per_kg": 0.049}, "dose_mg_per_kg", "hard"),
    ({"dose_mg_per_kg": 1.0}, "dose_mg_per_kg", "soft"),
    ({"dose_mg_per_kg": 1.01}, "dose_mg_per_kg", "hard"),
    ({"duration_min": 30}, "duration_min", None),
    ({"duration_min": 60}, "duration_min", None),
    ({"duration_min": 29}, "duration_min", "soft"),
    ({"duration_min": 61}, "duration_min", "soft"),
    ({"duration_min": 2, "dose_mg_per_kg": 0.1}, "duration_min", "soft"),  # 3.0 mg/kg/h: soft too
    ({"duration_min": 1.9, "dose_mg_per_kg": 0.1}, "duration_min", "hard"),
    ({"duration_min": 100}, "duration_min", "soft"),
    ({"duration_min": 101}, "duration_min", "hard"),
    ({"weight_kg": 20}, "weight_kg", None),
    ({"weight_kg": 19.9}, "weight_kg", "hard"),
    ({"weight_kg": 150}, "weight_kg", None),
    ({"weight_kg": 151}, "weight_kg", "soft"),
    ({"weight_kg": 250, "dose_mg_per_kg": 0.3}, "weight_kg", "soft"),
    ({"weight_kg": 251, "dose_mg_per_kg": 0.3}, "weight_kg", "hard"),
    ({"bag_mg": 35, "bag_ml": 350, "duration_min": 17.5}, "rate_ml_per_h", None),  # exactly 1200 mL/h
    ({"bag_mg": 35, "bag_ml": 350, "duration_min": 17.4}, "rate_ml_per_h", "hard"),
    ({"dose_mg_per_kg": 1.0, "duration_min": 40}, "dose_rate_mg_per_kg_per_h", None),  # 1.5
    ({"dose_mg_per_kg": 1.0, "duration_min": 20}, "dose_rate_mg_per_kg_per_h", "soft"),  # 3.0
    ({"dose_mg_per_kg": 1.0, "duration_min": 2}, "dose_rate_mg_per_kg_per_h", "hard"),  # the plan
    ({"weight_kg": 200}, "total_dose_mg", None),  # 100 mg
    ({"weight_kg": 202}, "total_dose_mg", "soft"),
    ({"weight_kg": 151, "dose_mg_per_kg": 1.0}, "total_dose_mg", "hard"),
    ({"bag_mg": 35, "bag_ml": 351}, "concentration_mg_per_ml", "soft"),
    ({"bag_mg": 50, "bag_ml": 5}, "concentration_mg_per_ml", "soft"),  # a 10 mg/mL vial: with a reason
    ({"bag_mg": 50, "bag_ml": 1}, "concentration_mg_per_ml", "hard"),  # undiluted 50 mg/mL
    ({"bag_mg": 52.5, "bag_ml": 75}, "bag_excess_factor", None),
    ({"bag_mg": 53, "bag_ml": 75}, "bag_excess_factor", "soft"),
]
COMPUTED = {"rate_ml_per_h": "(rate computed from the plan)",
            "dose_rate_mg_per_kg_per_h": "(dose rate computed from the plan)",
            "total_dose_mg": "(total dose computed from the plan)",
            "concentration_mg_per_ml": "(concentration computed from the plan)",
            "bag_excess_factor": "(drug in the bag over the dose computed from the plan)"}


def fitted(change):
    raw = {**PLAN, **change}
    if "bag_mg" not in change:
        raw["bag_mg"] = raw["weight_kg"] * raw["dose_mg_per_kg"]
        raw["bag_ml"] = raw["bag_mg"] / 0.7
    return raw


@pytest.mark.parametrize(("change", "field", "severity"), EDGES)
def test_guardrail_edges_in_the_dialog(change, field, severity):
    raw = fitted(change)
    check = check_plan_inputs(raw, RAILS)
    assert check.plan is not None
    mine = [f.severity for f in check.findings if f.field == field]
    if severity is None:
        assert mine == [] and field not in check.messages
        return
    assert mine == [severity]
    assert ("not allowed" if severity == "hard" else "give a reason") in check.messages[field]
    reasons = {f.field: "physician's order after review" for f in check.findings}
    with_reason = check_plan_inputs(raw, RAILS, reasons)
    assert with_reason.acceptable is all(f.severity == "soft" for f in check.findings)
    assert with_reason.acceptable is (severity == "soft") or change.get("duration_min") == 1.9


@pytest.mark.parametrize(("change", "field", "severity"), EDGES)
def test_guardrail_edges_in_the_file(tmp_path, change, field, severity):
    raw = fitted(change)
    others = {f.field: "ordered" for f in check_plan_inputs(raw, RAILS).findings
              if f.field != field and f.severity == "soft"}
    path = write(tmp_path, order(plan=raw, **({"overrides": others} if others else {})))
    if severity is None:
        assert load_session_order(path).plan.weight_kg == raw["weight_kg"]
        return
    with pytest.raises(SessionOrderError) as refused:
        load_session_order(path)
    text = str(refused.value)
    assert str(path) in text and COMPUTED.get(field, f"(plan.{field})") in text
    assert ("not allowed" if severity == "hard" else "give a reason to override") in text
    with_reason = write(tmp_path, order(plan=raw, overrides={**others, field: "physician's order"}), "r.json")
    if severity == "soft":
        loaded = load_session_order(with_reason)
        assert loaded.overrides[field] == "physician's order"
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


# ---------------------------------------------------------------- ambiguous numbers (CLINICAL.md section 1)
@pytest.mark.parametrize("text", ["1,000", "1.000", "12,500", "70.125", "2,000"])
def test_a_three_digit_group_after_a_mark_is_refused_as_ambiguous(text):
    plan, messages = validate_plan_inputs({**PLAN, "dose_mg_per_kg": text}, RAILS)
    assert plan is None and "ambiguous" in messages["dose_mg_per_kg"]


@pytest.mark.parametrize("text", ["1,000.5", "1.000,5", "1 000", "1_000", "12,345,678", "1'000"])
def test_thousands_separators_are_never_read(text):
    plan, messages = validate_plan_inputs({**PLAN, "bag_ml": text}, RAILS)
    assert plan is None and "bag_ml" in messages
    assert "thousands separator" in messages["bag_ml"] or "must be a number" in messages["bag_ml"]


@pytest.mark.parametrize(("text", "value"), [("0,5", 0.5), ("0.5", 0.5), ("0,125", 0.125), ("1.5", 1.5),
                                             ("1,25", 1.25), ("1.0000", 1.0), (".5", 0.5), ("40", 40.0)])
def test_unambiguous_numbers_are_read(text, value):
    assert read_number(text, "Dose", "mg/kg") == (value, None)


@pytest.mark.parametrize("text", ["1e3", "\uff17\uff10", "\u0667\u0660", "0x10", "inf"])
def test_exponents_and_other_digits_are_not_read(text):
    value, problem = read_number(text, "Weight", "kg")
    assert value is None and "Weight" in problem


def test_the_order_file_refuses_an_ambiguous_text_number(tmp_path):
    path = write(tmp_path, order(plan={**PLAN, "bag_ml": "1,000"}))
    with pytest.raises(SessionOrderError, match=r"ambiguous.*\(plan\.bag_ml\)"):
        load_session_order(path)


@pytest.mark.parametrize("value", [0.5, 70.125, 1.0, 35, 0.1 + 0.2, 123456.5, 1e-7])
def test_the_dialog_shows_numbers_it_reads_back_exactly(value):
    assert read_number(number_text(value), "x", "u") == (pytest.approx(value, rel=1e-12), None)


# ---------------------------------------------------------------- weight basis in the order and the dialog
OBESE = {**PLAN, "weight_kg": 120, "height_cm": 165, "sex": "female", "bag_mg": 60, "bag_ml": 100}


def test_above_the_bmi_threshold_the_plan_asks_which_weight():
    check = check_plan_inputs(OBESE, RAILS)
    assert check.ask_basis and set(check.basis_choices) == {"actual", "ideal", "adjusted"}
    assert "BMI 44.1 is above 30" in check.messages["weight_basis"]
    ok = check_plan_inputs({**OBESE, "weight_basis": "actual", "weight_basis_reason": "site protocol"}, RAILS)
    assert ok.acceptable and ok.plan.dosing_weight_kg == 120 and ok.plan.weight_basis_reason == "site protocol"


def test_ideal_weight_is_used_for_the_dose_and_recorded():
    check = check_plan_inputs({**OBESE, "weight_basis": "ideal", "weight_basis_reason": "IBW per protocol",
                               "bag_mg": 35, "bag_ml": 50}, RAILS)
    ibw = 45.5 + 0.9 * (165 - 152.4)
    assert check.acceptable, check.messages
    assert check.plan.dosing_weight_kg == pytest.approx(ibw) and check.plan.weight_kg == 120
    assert check.plan.total_mg == pytest.approx(ibw * 0.5)
    assert check.plan.model_dump()["basis_weight_kg"] == pytest.approx(ibw)


def test_ibw_is_not_offered_below_its_height(tmp_path):
    short = {**OBESE, "height_cm": 150, "weight_kg": 90, "bag_mg": 45}
    check = check_plan_inputs({**short, "weight_basis": "ideal", "weight_basis_reason": "x"}, RAILS)
    assert set(check.basis_choices) == {"actual"}
    assert "not defined below 152.4 cm" in check.messages["weight_basis"]
    path = write(tmp_path, order(plan={**short, "weight_basis": "adjusted", "weight_basis_reason": "x"}))
    with pytest.raises(SessionOrderError, match=r"not defined below 152.4 cm \(plan.weight_basis\)"):
        load_session_order(path)


def test_an_order_above_the_bmi_threshold_without_a_basis_is_refused(tmp_path):
    with pytest.raises(SessionOrderError, match=r"BMI 44.1 is above 30.*\(plan.weight_basis\)"):
        load_session_order(write(tmp_path, order(plan=OBESE)))
    loaded = load_session_order(write(tmp_path, order(plan={**OBESE, "weight_basis": "adjusted",
                                                            "weight_basis_reason": "site protocol"}), "b.json"))
    assert loaded.plan.weight_basis == "adjusted" and loaded.plan.dosing_weight_kg < 120


def test_a_plan_made_by_hand_with_a_wrong_basis_weight_is_refused():
    from console.dose import DosePlan
    from console.plan_file import plan_problems

    wb = load_protocol().weight_basis
    bad = DosePlan(weight_kg=120, dose_mg_per_kg=0.5, duration_min=40, bag_mg=35, bag_ml=50, height_cm=165,
                   sex="female", weight_basis="ideal", basis_weight_kg=40, weight_basis_reason="x")
    problems, _ = plan_problems(bad, RAILS, {}, weight_basis=wb)
    assert "not 40 kg" in problems["weight_basis"]


# ---------------------------------------------------------------- planned start
def test_a_planned_start_in_the_order_is_kept_with_its_zone(tmp_path):
    import datetime as dt

    o = load_session_order(write(tmp_path, order(plan={**PLAN, "planned_start": "2026-12-02T09:30:00+01:00"})))
    assert o.planned_start == dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC)
    assert o.plan.planned_start.utcoffset() is not None
    with pytest.raises(SessionOrderError, match="Planned start 'soon' is not a date and time"):
        load_session_order(write(tmp_path, order(plan={**PLAN, "planned_start": "soon"}), "b.json"))
    with pytest.raises(SessionOrderError, match="Planned start '09:30' is not a date and time"):
        load_session_order(write(tmp_path, order(plan={**PLAN, "planned_start": "09:30"}), "c.json"))


def test_the_dialog_reads_a_time_of_day_as_today():
    import datetime as dt

    when, problem = read_planned_start("9:45", today=dt.date(2026, 12, 2))
    assert problem is None and (when.date(), when.hour, when.minute) == (dt.date(2026, 12, 2), 9, 45)
    assert when.tzinfo is not None
    assert read_planned_start("25:00", today=dt.date(2026, 12, 2))[1]


def test_planned_start_on_the_session_clock():
    import datetime as dt

    from console.clock import FakeClock
    from console.dose import session_time_of

    clock = FakeClock(start=1000.0)  # wall 1_767_225_600 at session time 1000
    when = dt.datetime.fromtimestamp(clock.wall() + 600, tz=dt.UTC)
    assert session_time_of(when, clock.now(), clock.wall()) == pytest.approx(1600.0)


# ---------------------------------------------------------------- hostile files
def test_json_nested_deeper_than_python_recurses_is_refused_in_words(tmp_path):
    path = write(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(SessionOrderError, match="nested too deeply"):
        load_session_order(path)


@pytest.mark.parametrize("name", ["Alex \u202eMorgan", "Alex\x00Morgan", "Alex\nMorgan", "\u2066Alex"])
def test_invisible_control_characters_in_a_name_are_refused(tmp_path, name):
    path = write(tmp_path, order(patient={**PATIENT, "name": name}))
    with pytest.raises(SessionOrderError, match=r"Patient name \(patient.name\) contains an invisible control"):
        load_session_order(path)


def test_a_persian_name_with_a_joiner_is_accepted(tmp_path):
    o = load_session_order(write(tmp_path, order(patient={**PATIENT, "name": "\u0645\u06cc\u200c\u0646\u0627"})))
    assert "\u200c" in o.patient.name


def test_control_characters_in_the_orderer_or_a_reason_are_refused(tmp_path):
    with pytest.raises(SessionOrderError, match="'ordered_by' contains an invisible control"):
        load_session_order(write(tmp_path, order(ordered_by="Dr.\u202e Rivera")))
    with pytest.raises(SessionOrderError, match="override reason for duration_min contains an invisible"):
        load_session_order(write(tmp_path, order(plan={**PLAN, "duration_min": 20},
                                                 overrides={"duration_min": "ok\x00"}), "b.json"))


@pytest.mark.parametrize("content", ["[" * 100_000 + "]" * 100_000, None])
def test_the_real_command_refuses_a_hostile_order_with_exit_2(tmp_path, content):
    import os
    import subprocess
    import sys

    path = tmp_path / "order.json"
    if content is None:
        path.write_text(json.dumps(order(patient={**PATIENT, "name": "Alex \u202eMorgan\u0000"})), encoding="utf-8")
    else:
        path.write_text(content, encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("INFUSION_CONSOLE_SITE", None)
    done = subprocess.run([sys.executable, "-m", "console", "--session", str(path), "--quit-after", "1",
                           "--record", str(tmp_path / "rec.sqlite")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr
    assert f"Session order {path} cannot be used" in done.stderr and "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("- ")]) == 1


def test_a_plan_reads_back_from_its_own_record():
    check = check_plan_inputs({**OBESE, "weight_basis": "adjusted", "weight_basis_reason": "protocol",
                               "planned_start": "2026-12-02T09:30:00+00:00"}, RAILS)
    assert check.acceptable, check.messages
    again = check_plan_inputs(check.plan.model_dump(mode="json"), RAILS)
    assert again.acceptable and again.plan == check.plan
