"""The session workflow's people side: sign-in, patient identification, plan, charting and
its prompts, notes and markers, the discharge check and sign-off, the training debrief."""

from __future__ import annotations

import pytest

from console.dose import DosePlan
from console.patient import Patient
from console.plan_file import parse_session_order
from console.workflow import (
    ChartRefused,
    NotSignedIn,
    Phase,
    PlanRefused,
    SessionWorkflow,
    SignInRefused,
    WorkflowError,
)
from workflow_bed import PATIENT, PLAN, Bed, answer_checklist, document_discharge


# ---------------------------------------------------------------- sign-in
def test_every_action_needs_a_signed_in_user_and_carries_the_name():
    b = Bed(sign_in=False)
    b.second(3)  # monitoring runs with no one signed in
    with pytest.raises(NotSignedIn, match="Sign in"):
        b.wf.set_plan(PLAN, now=b.now)
    with pytest.raises(SignInRefused):
        b.wf.sign_in("   ", now=b.now)
    b.wf.sign_in("Nurse Kim", now=b.now)
    b.wf.set_plan(PLAN, now=b.now)
    b.wf.sign_in("Nurse Lee", now=b.now)
    b.wf.note("handover", now=b.now)
    b.wf.sign_out(now=b.now)
    assert [(e.kind, e.user) for e in b.events] == [
        ("sign_in", "Nurse Kim"), ("plan", "Nurse Kim"), ("switch_user", "Nurse Lee"),
        ("note", "Nurse Lee"), ("sign_out", "Nurse Lee")]
    assert b.wf.user is None and b.wf.timeline == b.events


def test_pin_is_checked_by_the_site_and_never_recorded():
    b = Bed(sign_in=False)
    wf = SessionWorkflow(b.protocol, b.session, b.engine, b.clock,
                         authenticate=lambda name, pin: pin == "4321")
    with pytest.raises(SignInRefused, match="PIN"):
        wf.sign_in("Nurse Kim", "1111", now=b.now)
    wf.sign_in("Nurse Kim", "4321", now=b.now)
    assert wf.user == "Nurse Kim" and "4321" not in repr(wf.timeline)


# ---------------------------------------------------------------- patient and plan
def order(patient_id="MRN-1234", **plan):
    return parse_session_order({
        "patient": {"patient_id": patient_id, "name": "Alex Morgan", "date_of_birth": "1986-04-12"},
        "plan": {"weight_kg": 70, "dose_mg_per_kg": 0.5, "duration_min": 40, "bag_mg": 35, "bag_ml": 50, **plan},
        "ordered_by": "Dr. Rivera"}, "order.json")


def test_patient_matching_the_order_is_identified():
    b = Bed()
    b.wf.load_order(order(), now=b.now)
    assert b.wf.plan == PLAN and b.session.plan == PLAN
    assert b.wf.identify(PATIENT, now=b.now) is None
    assert b.wf.patient == PATIENT and b.session.patient == PATIENT and b.wf.patient_confirmed


def test_patient_id_differing_from_the_order_needs_confirmation():
    b = Bed()
    b.wf.load_order(order("MRN-9999"), now=b.now)
    mismatch = b.wf.identify(PATIENT, now=b.now)
    assert "MRN-1234" in mismatch and "MRN-9999" in mismatch
    assert not b.wf.patient_confirmed and b.wf.patient == PATIENT  # shown all the same
    assert "patient_mismatch" in {d.key for d in b.wf.due_items(b.now)}
    with pytest.raises(WorkflowError, match="reason"):
        b.wf.confirm_mismatch("", now=b.now)
    b.wf.sign_in("Nurse Lee", now=b.now)
    b.wf.confirm_mismatch("order system had the old MRN; wristband checked with the patient", now=b.now)
    assert b.wf.patient_confirmed and b.wf.mismatch is None
    confirmed = b.events[-1]
    assert confirmed.kind == "patient_confirmed" and confirmed.user == "Nurse Lee"
    with pytest.raises(WorkflowError, match="no patient mismatch"):
        b.wf.confirm_mismatch("again", now=b.now)


def test_an_order_loaded_after_identification_is_checked_too():
    b = Bed()
    b.wf.identify(Patient(patient_id="MRN-1234", name="Sam Other"), now=b.now)
    assert "name" in b.wf.load_order(order(), now=b.now)


def test_set_plan_refuses_hard_limits_and_needs_reasons_for_soft_ones():
    b = Bed()
    with pytest.raises(PlanRefused) as hard:
        b.wf.set_plan(PLAN.model_copy(update={"dose_mg_per_kg": 1.2, "bag_mg": 84, "duration_min": 60}), now=b.now)
    assert set(hard.value.problems) == {"dose_mg_per_kg"} and "hard limit" in str(hard.value)
    soft = PLAN.model_copy(update={"dose_mg_per_kg": 0.8, "bag_mg": 56})
    with pytest.raises(PlanRefused, match="give a reason"):
        b.wf.set_plan(soft, now=b.now)
    assert b.wf.plan is None and b.session.plan is None
    b.wf.set_plan(soft, {"dose_mg_per_kg": "second session, 0.5 ineffective"}, now=b.now)
    assert b.session.plan == soft
    assert b.wf.overrides == {"dose_mg_per_kg": "second session, 0.5 ineffective"}
    assert b.events[-1].data["overrides"]["dose_mg_per_kg"]["reason"].startswith("second session")


def test_plan_set_while_the_infusion_runs():
    b = Bed()
    b.second(5)
    b.start_pump()
    b.minutes(1)
    assert "plan" in {d.key for d in b.wf.due_items(b.now)}
    b.wf.set_plan(PLAN, now=b.now)
    b.second(1)
    assert b.session.plan == PLAN and b.wf.dose_status(b.now).planned_rate_ml_h == pytest.approx(75)


# ---------------------------------------------------------------- charting
@pytest.mark.parametrize(("item", "value"), [
    ("MOAA/S", 6), ("MOAA/S", -1), ("MOAA/S", "abc"), ("MOAA/S", 2.5), ("MOAA/S", ""), ("MOAA/S", None),
    ("MOAA/S", True), ("CADSS", 93), ("GAD-7", 22), ("HAM-A", 57), ("BIS", 3)])
def test_bad_chart_values_are_refused_with_the_range(item, value):
    b = Bed()
    with pytest.raises(ChartRefused) as exc:
        b.wf.chart(item, value, now=b.now)
    assert "must be a whole number" in str(exc.value) or "not a charted score" in str(exc.value)
    assert b.wf.charts == []


@pytest.mark.parametrize(("total", "words"), [(4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
                                              (15, "severe"), (21, "severe")])
def test_gad7_severity_words(total, words):
    b = Bed()
    entry = b.wf.chart("gad7", str(total), now=b.now)
    assert entry.value == total and entry.words == f"{words} anxiety"


def test_charts_notes_and_markers_are_on_the_timeline_and_the_trends():
    b = Bed()
    b.second(2)
    b.wf.chart("MOAA/S", "5", now=b.now)
    b.wf.chart("CADSS", 0, now=b.now)
    b.wf.chart("HAM-A", 18, now=b.now)
    b.wf.note("patient asked for music", now=b.now)
    b.wf.marker("Nausea", now=b.now)
    with pytest.raises(WorkflowError, match="note instead"):
        b.wf.marker("dancing", now=b.now)
    with pytest.raises(WorkflowError):
        b.wf.note("   ", now=b.now)
    assert b.wf.marker_labels == ("patient anxious", "nausea", "bathroom", "cuff re-measured",
                                  "physician at bedside")
    trend_events = [(e.kind, e.text) for e in b.session.events if e.kind in ("chart", "note", "marker")]
    assert trend_events == [
        ("chart", "MOAA/S 5 (responds readily to name in a normal tone)"), ("chart", "CADSS 0"),
        ("chart", "HAM-A 18"), ("note", "patient asked for music"), ("marker", "nausea")]
    assert all(e.user == "Nurse Kim" and e.time == b.now for e in b.events[-5:])


def test_moaas_prompt_with_each_cuff_reading():
    b = Bed()
    b.second(2)
    assert "moaas" not in {d.key for d in b.wf.due_items(b.now)}
    b.cuff(124, 78)
    due = {d.key: d for d in b.wf.due_items(b.now)}
    assert due["moaas"].since == b.session.nibp.taken_at and "124/78" in due["moaas"].text
    b.wf.chart("MOAA/S", 5, now=b.now)
    assert "moaas" not in {d.key for d in b.wf.due_items(b.now)}
    b.second(30)
    b.cuff(130, 80)
    assert "moaas" in {d.key for d in b.wf.due_items(b.now)}


def test_gad7_before_the_session_cadss_at_40_min_and_at_the_end_of_recovery_gad7_at_discharge():
    b = Bed()
    b.ready_baseline()
    assert "gad7_baseline" in {d.key for d in b.wf.due_items(b.now)}
    b.wf.chart("GAD-7", 14, now=b.now)
    assert "gad7_baseline" not in {d.key for d in b.wf.due_items(b.now)}
    b.start_pump()
    b.second(1)
    b.minutes(39.9)
    assert "cadss_infusion" not in {d.key for d in b.wf.due_items(b.now)}
    b.minutes(0.2)
    due = {d.key: d for d in b.wf.due_items(b.now)}
    assert due["cadss_infusion"].since == pytest.approx(b.wf.infusion_started + 2400)
    b.wf.chart("CADSS", 22, now=b.now)
    assert "cadss_infusion" not in {d.key for d in b.wf.due_items(b.now)}
    b.minutes(1)
    b.set_pump("COMPLETE")
    b.second(1)
    b.minutes(54)
    assert "cadss_recovery" not in {d.key for d in b.wf.due_items(b.now)}
    b.minutes(1.1)  # 5 min before the end of recovery: charting it now counts
    assert "cadss_recovery" in {d.key for d in b.wf.due_items(b.now)}
    b.wf.chart("CADSS", 1, now=b.now)
    b.minutes(5)
    assert b.wf.phase == Phase.DISCHARGE_CHECK
    keys = {d.key for d in b.wf.due_items(b.now)}
    assert "gad7_discharge" in keys and "cadss_recovery" not in keys
    b.wf.chart("GAD-7", 6, now=b.now)
    assert "gad7_discharge" not in {d.key for d in b.wf.due_items(b.now)}


# ---------------------------------------------------------------- discharge
def run_to_discharge_check(b: Bed):
    b.ready_baseline(124, 78)
    b.start_pump()
    b.minutes(40)
    b.set_pump("COMPLETE")
    b.minutes(60)
    b.second(1)
    assert b.wf.phase == Phase.DISCHARGE_CHECK


def test_discharge_criteria_with_their_values():
    b = Bed()
    run_to_discharge_check(b)
    crit = {c.name: c for c in b.wf.discharge_criteria(b.now)}
    assert crit["SBP within 20 % of baseline"].met is None  # no cuff since the infusion ended
    assert crit["MOAA/S = 5"].met is None and crit["Escort confirmed"].met is False
    b.vitals.update(HR=90, SPO2=93)
    b.second(2)
    b.cuff(150, 90)
    b.wf.chart("MOAA/S", 4, now=b.now)
    crit = {c.name: c for c in b.wf.discharge_criteria(b.now)}
    assert crit["SBP within 20 % of baseline"].met is False  # 150 vs 124: +21 %
    assert "150" in crit["SBP within 20 % of baseline"].detail and "+21 %" in crit["SBP within 20 % of baseline"].detail
    assert crit["HR within 20 % of baseline"].met is False and "90" in crit["HR within 20 % of baseline"].detail
    assert crit["SpO2 ≥ 94 %"].met is False and crit["MOAA/S = 5"].met is False
    with pytest.raises(WorkflowError, match="criteria not met"):
        b.wf.sign_off("Dr. Rivera", now=b.now)
    b.vitals.update(HR=86, SPO2=96)  # 86 vs 72: +19 %
    b.second(2)
    b.cuff(148, 88)  # +19 %
    b.wf.chart("MOAA/S", 5, now=b.now)
    b.wf.chart("CADSS", 0, now=b.now)
    b.wf.confirm_dissociation_resolved(now=b.now)
    b.wf.confirm_escort(now=b.now)
    crit = {c.name: c for c in b.wf.discharge_criteria(b.now)}
    assert all(c.met for name, c in crit.items() if name != "Clinician sign-off")
    assert crit["Clinician sign-off"].met is False
    assert b.wf.phase == Phase.DISCHARGE_CHECK
    # The documentation's criteria count too (CLINICAL.md section 8: Aldrete >= 9 to discharge).
    with pytest.raises(WorkflowError, match=r"criteria not met.*Modified Aldrete score"):
        b.wf.sign_off("Dr. Rivera", now=b.now)
    answer_checklist(b.wf, b.now)
    document_discharge(b.wf, b.now)
    with pytest.raises(WorkflowError, match="clinician"):
        b.wf.sign_off(" ", now=b.now)
    b.wf.sign_off("Dr. Rivera", now=b.now)
    assert b.wf.phase == Phase.DISCHARGED and b.wf.banner(b.now) == "DISCHARGED (signed off by Dr. Rivera)"
    assert {c.name: c.met for c in b.wf.discharge_criteria(b.now)}["Clinician sign-off"] is True
    signed = next(e for e in b.events if e.kind == "sign_off")
    assert signed.user == "Nurse Kim" and signed.data["clinician"] == "Dr. Rivera"
    assert len(signed.data["criteria"]) == 6
    assert b.wf.due_items(b.now) == []


def test_dissociation_needs_the_end_of_recovery_cadss_and_the_nurse():
    b = Bed()
    run_to_discharge_check(b)
    b.wf.confirm_dissociation_resolved(now=b.now)
    crit = {c.name: c for c in b.wf.discharge_criteria(b.now)}["Dissociation resolved"]
    assert crit.met is False and "not charted" in crit.detail
    b.wf.chart("CADSS", 3, now=b.now)
    crit = {c.name: c for c in b.wf.discharge_criteria(b.now)}["Dissociation resolved"]
    assert crit.met is True and "CADSS 3" in crit.detail and "Nurse Kim" in crit.detail


def test_sign_off_only_in_the_discharge_check():
    b = Bed()
    b.ready_baseline()
    with pytest.raises(WorkflowError, match="discharge check"):
        b.wf.sign_off("Dr. Rivera", now=b.now, reason="x")


# ---------------------------------------------------------------- debrief
def test_debrief_lists_each_alarm_and_time_to_acknowledge():
    b = Bed()
    b.engine.start_self_test(b.now)
    b.second(2)
    b.engine.end_self_test()
    b.ready_baseline()
    b.second(16, SPO2=88)
    b.second(7, SPO2=88)
    b.engine.acknowledge("SPO2.low", b.now, user="Nurse Kim")
    rows = {r.key: r for r in b.wf.debrief()}
    assert not any(k.startswith("SELFTEST") for k in rows)
    spo2 = rows["SPO2.low"]
    assert (spo2.message, spo2.priority, spo2.acknowledged_by) == ("SpO2 low", "medium", "Nurse Kim")
    assert spo2.seconds_to_acknowledge == pytest.approx(8, abs=1)
    assert rows["ADVISORY.CUFF_DUE"].seconds_to_acknowledge is None


def test_a_plan_given_at_construction_is_kept():
    b = Bed()
    b.session.plan = DosePlan(weight_kg=80, dose_mg_per_kg=0.5, duration_min=40, bag_mg=40, bag_ml=50)
    wf = SessionWorkflow(b.protocol, b.session, b.engine)
    assert wf.plan is b.session.plan and wf.planned_running_s == 2400
