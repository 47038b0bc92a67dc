"""The plan and the patient in the workflow: nothing is logged when nothing changed (issue
11), the weight basis and the planned start reach the record and the session clock."""

from __future__ import annotations

import datetime as dt

import pytest

from console.plan_file import check_plan_inputs
from console.workflow import PlanRefused
from workflow_bed import PATIENT, PLAN, Bed


def test_the_same_plan_and_patient_again_log_nothing():
    b = Bed()
    assert b.wf.set_plan(PLAN, now=b.now) is True
    b.wf.identify(PATIENT, now=b.now)
    kinds = [e.kind for e in b.events]
    assert b.wf.set_plan(PLAN.model_copy(), now=b.now) is False
    assert b.wf.identify(PATIENT.model_copy(), now=b.now) is None
    assert [e.kind for e in b.events] == kinds
    assert b.wf.set_plan(PLAN.model_copy(update={"bag_ml": 100}), now=b.now) is True
    assert b.events[-1].text.startswith("Plan replaced")


def test_a_changed_reason_alone_is_a_change():
    b = Bed()
    soft = PLAN.model_copy(update={"duration_min": 25})
    b.wf.set_plan(soft, {"duration_min": "physician's order"}, now=b.now)
    assert b.wf.set_plan(soft, {"duration_min": "physician's order"}, now=b.now) is False
    assert b.wf.set_plan(soft, {"duration_min": "second session, shorter on request"}, now=b.now) is True


def test_the_dosing_weight_and_its_reason_are_recorded():
    b = Bed()
    check = check_plan_inputs({"weight_kg": 120, "height_cm": 165, "sex": "female", "dose_mg_per_kg": 0.5,
                               "duration_min": 40, "bag_mg": 35, "bag_ml": 50, "weight_basis": "ideal",
                               "weight_basis_reason": "clinic protocol above BMI 30"})
    b.wf.set_plan(check.plan, {"weight_kg": "x"} if "weight_kg" in check.messages else {}, now=b.now)
    event = b.events[-1]
    assert event.data["dosing_weight_kg"] == pytest.approx(45.5 + 0.9 * (165 - 152.4))
    assert "ideal body weight (actual 120 kg)" in event.text and "clinic protocol above BMI 30" in event.text


def test_a_basis_the_protocol_does_not_offer_is_refused_by_the_workflow():
    b = Bed()
    wrong = PLAN.model_copy(update={"height_cm": 150, "sex": "male", "weight_basis": "ideal",
                                    "basis_weight_kg": 48.0, "weight_basis_reason": "x"})
    with pytest.raises(PlanRefused, match=r"not defined below 152\.4 cm"):
        b.wf.set_plan(wrong, now=b.now)


def test_the_planned_start_on_the_session_clock():
    b = Bed()
    assert b.wf.planned_start is None and b.wf.planned_start_s is None
    when = dt.datetime.fromtimestamp(b.clock.wall() + 900, tz=dt.UTC)
    b.wf.set_plan(PLAN.model_copy(update={"planned_start": when}), now=b.now)
    assert b.wf.planned_start == when
    assert b.wf.planned_start_s == pytest.approx(b.now + 900)
    assert "planned start" in b.events[-1].text
