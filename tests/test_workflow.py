"""The session workflow: phases, baseline, and each advisory row of CLINICAL.md section 5
raised and cleared on a real Session and AlarmEngine (fake clock)."""

from __future__ import annotations

import pytest

from console.workflow import Phase, PlanRefused, WorkflowError
from workflow_bed import PLAN, Bed


@pytest.fixture
def bed():
    b = Bed()
    b.ready_baseline()
    return b


# ---------------------------------------------------------------- phases
def test_phases_from_baseline_to_discharge(bed):
    assert bed.wf.phase == Phase.BASELINE
    assert bed.wf.banner(bed.now).startswith("BASELINE 02:0")
    bed.start_pump()
    bed.second(1)
    assert bed.wf.phase == Phase.INFUSION
    assert bed.wf.phase_started == bed.session.pump_first_running
    bed.minutes(10)
    assert bed.wf.banner(bed.now) == "INFUSION 10:00 of 40:00"
    bed.set_pump("PAUSED")  # a pause is not the end
    bed.minutes(2)
    bed.set_pump("STOPPED")  # nor is a stop before the planned volume
    bed.minutes(1)
    assert bed.wf.phase == Phase.INFUSION
    bed.start_pump()
    bed.minutes(30)
    bed.set_pump("COMPLETE")
    bed.second(1)
    assert bed.wf.phase == Phase.RECOVERY
    bed.minutes(59)
    assert bed.wf.phase == Phase.RECOVERY and bed.wf.banner(bed.now) == "RECOVERY 59:00 of 1:00:00"
    bed.minutes(1)
    assert bed.wf.phase == Phase.DISCHARGE_CHECK
    bed.minutes(30)
    assert bed.wf.phase == Phase.DISCHARGE_CHECK  # the console never discharges by itself
    bed.wf.sign_off("Dr. Rivera", now=bed.now, reason="criteria reviewed at the bedside", reason_code="assessed")
    assert bed.wf.phase == Phase.DISCHARGED
    phases = [e.data["phase"] for e in bed.events if e.kind == "phase"]
    assert phases == ["infusion", "recovery", "discharge check", "discharged"]
    assert [e.kind for e in bed.session.events].count("phase") == 4


def test_stopped_at_the_planned_volume_is_the_end(bed):
    bed.start_pump()
    bed.minutes(40)
    bed.set_pump("STOPPED")
    bed.second(1)
    assert bed.wf.phase == Phase.RECOVERY


@pytest.mark.parametrize("state", ["COMPLETE", "KVO"])
def test_complete_or_kvo_ends_the_infusion(bed, state):
    bed.start_pump()
    bed.minutes(5)
    bed.set_pump(state)
    bed.second(1)
    assert bed.wf.phase == Phase.RECOVERY


def test_ending_the_infusion_early_needs_a_reason(bed):
    with pytest.raises(WorkflowError, match="infusion"):
        bed.wf.end_infusion("nausea", now=bed.now)  # still baseline
    bed.start_pump()
    bed.minutes(20)
    bed.set_pump("STOPPED")
    bed.minutes(1)
    assert bed.wf.phase == Phase.INFUSION
    with pytest.raises(WorkflowError, match="reason"):
        bed.wf.end_infusion("  ", now=bed.now)
    bed.wf.end_infusion("severe nausea, physician stopped the infusion", now=bed.now)
    assert bed.wf.phase == Phase.RECOVERY
    assert bed.events[-2].kind == "end_infusion" and bed.events[-2].user == "Nurse Kim"


# ---------------------------------------------------------------- baseline
def test_baseline_is_the_last_cuff_and_the_minute_before_the_start():
    b = Bed()
    b.wf.set_plan(PLAN, now=b.now)
    checks = {c.name: c.met for c in b.wf.baseline_checks(b.now)}
    assert checks["Cuff pressure taken"] is False and checks["60 s of HR"] is False
    b.second(30)
    b.cuff(150, 95)
    b.second(30, HR=70, SPO2=97)
    b.cuff(128, 80)
    b.second(30, HR=80, SPO2=99)
    checks = {c.name: c for c in b.wf.baseline_checks(b.now)}
    assert checks["Cuff pressure taken"].met and checks["60 s of HR"].met and checks["60 s of SpO2"].met
    assert checks["BP below 140/90"].met is True
    assert checks["Baseline GAD-7"].met is False
    b.wf.chart("GAD-7", 12, now=b.now)
    assert {c.name: c.met for c in b.wf.baseline_checks(b.now)}["Baseline GAD-7"] is True
    b.start_pump()
    b.second(1)
    base = b.wf.baseline()
    assert base.fixed and (base.nibp.systolic, base.nibp.diastolic) == (128, 80)
    assert base.hr == pytest.approx(75, abs=0.5)  # 30 s at 70, 30 s at 80
    assert base.spo2 == pytest.approx(98, abs=0.5)
    b.cuff(170, 100)  # a reading after the start never becomes the baseline
    assert b.wf.baseline().nibp.systolic == 128
    assert any(e.kind == "baseline" and "BP 128/80" in e.text for e in b.events)


def test_a_gap_in_the_minute_fails_the_spo2_check():
    b = Bed()
    b.second(20)
    b.second(20, SPO2=None)
    b.second(25)
    checks = {c.name: c for c in b.wf.baseline_checks(b.now)}
    assert checks["60 s of HR"].met is True
    assert checks["60 s of SpO2"].met is False and "without a gap" in checks["60 s of SpO2"].detail


# ---------------------------------------------------------------- baseline BP advisory
@pytest.mark.parametrize(("bp", "raised"), [((140, 80), True), ((120, 90), True), ((139, 89), False)])
def test_baseline_bp_at_or_above_140_90(bp, raised):
    b = Bed()
    b.ready_baseline(*bp)
    alarm = b.advisory("BASELINE_BP")
    assert (alarm is not None) is raised
    if raised:
        assert (alarm.kind, alarm.priority) == ("advisory", "medium")
        assert "consider delaying" in alarm.message


def test_proceeding_despite_baseline_bp_needs_a_reason():
    b = Bed()
    b.ready_baseline(152, 94)
    assert b.advisory("BASELINE_BP")
    assert "baseline_bp_reason" in {d.key for d in b.wf.due_items(b.now)}
    with pytest.raises(WorkflowError, match="reason"):
        b.wf.proceed_despite_bp("", now=b.now)
    b.wf.proceed_despite_bp("white-coat hypertension, physician agrees", now=b.now)
    b.second(1)
    assert b.advisory("BASELINE_BP") is None
    assert {c.name: c.met for c in b.wf.baseline_checks(b.now)}["BP below 140/90"] is True
    assert b.events[-1].kind == "proceed_despite_bp" and b.events[-1].user == "Nurse Kim"


def test_baseline_bp_clears_with_a_lower_reading_and_asks_for_a_reason_after_a_start():
    b = Bed()
    b.ready_baseline(150, 85)
    b.cuff(132, 84)
    assert b.advisory("BASELINE_BP") is None
    b.cuff(148, 80)
    b.start_pump()
    b.second(2)
    alarm = b.advisory("BASELINE_BP")
    assert alarm is not None and "record the reason" in alarm.message


# ---------------------------------------------------------------- rise over baseline
@pytest.mark.parametrize(("bp", "raised"), [((164, 80), True), ((130, 103), True), ((163, 102), False)])
def test_rise_over_baseline(bed, bp, raised):
    bed.start_pump()  # baseline 124/78
    bed.minutes(5)
    bed.cuff(*bp)
    bed.second(1)
    alarm = bed.advisory("BP_RISE")
    assert (alarm is not None) is raised
    if raised:
        assert (alarm.kind, alarm.priority) == ("advisory", "medium")
        bed.cuff(140, 88)  # the next reading under the rise clears it
        assert bed.advisory("BP_RISE") is None


# ---------------------------------------------------------------- pump differs from plan
def test_pump_rate_differing_from_plan_for_10_s_is_high(bed):
    bed.start_pump()
    bed.minutes(2)
    bed.programmed_rate = 90  # an unexplained change
    bed.second(10)
    assert bed.advisory("PLAN_RATE") is None  # first differing sample at +1 s: 9 s so far
    bed.second(1)
    alarm = bed.advisory("PLAN_RATE")
    assert (alarm.kind, alarm.priority) == ("advisory", "high")
    assert "90 mL/h" in alarm.message and "75" in alarm.message
    bed.programmed_rate = 75
    bed.second(1)
    assert bed.advisory("PLAN_RATE") is None


@pytest.mark.parametrize(("rate", "raised"), [(78.75, False), (71.25, False), (79.0, True), (71.0, True)])
def test_plan_mismatch_edge_five_percent(bed, rate, raised):
    bed.start_pump()
    bed.programmed_rate = rate
    bed.second(15)
    assert (bed.advisory("PLAN_RATE") is not None) is raised


@pytest.mark.parametrize(("field", "value", "key"),
                         [("PUMP_CONC", 0.35, "PLAN_CONC"), ("PUMP_WEIGHT", 80.0, "PLAN_WEIGHT")])
def test_concentration_or_weight_differing_is_caught_before_the_start(bed, field, value, key):
    bed.pump[field] = value
    bed.second(10)
    assert bed.advisory(key) is None
    bed.second(1)
    assert bed.advisory(key).priority == "high"
    bed.pump[field] = 0.7 if field == "PUMP_CONC" else 70.0
    bed.second(1)
    assert bed.advisory(key) is None


def test_recorded_titration_raises_nothing(bed):
    bed.start_pump()
    bed.minutes(10)
    amended = bed.wf.titrate(100, "well tolerated, physician asked to speed up", now=bed.now)
    assert amended.rate_ml_per_h == pytest.approx(100)
    assert amended.total_mg == pytest.approx(PLAN.total_mg)  # same dose
    assert bed.session.plan is amended and bed.wf.plan is amended
    bed.second(3)  # the nurse reprograms the pump a few seconds later
    bed.programmed_rate = 100
    bed.minutes(5)
    assert bed.advisory("PLAN_RATE") is None
    assert not any(e.key == "ADVISORY.PLAN_RATE" for e in bed.engine.log)
    # 12.5 mL in over 10 min, 37.5 mL to go at 100 mL/h: 22.5 min more
    assert bed.wf.planned_running_s == pytest.approx(600 + 22.5 * 60, abs=5)
    titration = next(e for e in bed.events if e.kind == "titration")
    assert titration.user == "Nurse Kim" and titration.data["reason"].startswith("well tolerated")
    assert any(e.kind == "note" and "Titration" in e.text for e in bed.session.events)


def test_titration_after_an_unexplained_change_clears_it(bed):
    bed.start_pump()
    bed.programmed_rate = 100
    bed.second(12)
    assert bed.advisory("PLAN_RATE")
    bed.wf.titrate(100, "physician order by phone", now=bed.now)
    bed.second(1)
    assert bed.advisory("PLAN_RATE") is None


def test_titration_refusals(bed):
    with pytest.raises(WorkflowError, match="reason"):
        bed.wf.titrate(90, " ", now=bed.now)
    with pytest.raises(WorkflowError, match="above 0"):
        bed.wf.titrate(-5, "x", now=bed.now)
    with pytest.raises(PlanRefused, match="hard limit"):
        bed.wf.titrate(1500, "typo", now=bed.now)
    assert bed.wf.plan == PLAN


# ---------------------------------------------------------------- over-delivery, overrun
def test_delivered_dose_above_plan_by_more_than_5_percent(bed):
    bed.start_pump()
    bed.second(1)
    bed.pump["PUMP_VI"] = 52.5  # 36.75 mg: exactly +5 %
    bed.flow = False
    bed.second(2)
    assert bed.advisory("OVERDELIVERY") is None
    bed.pump["PUMP_VI"] = 52.6
    bed.second(1)
    alarm = bed.advisory("OVERDELIVERY")
    assert (alarm.kind, alarm.priority) == ("advisory", "high")
    status = bed.wf.dose_status(bed.now)
    assert status.delivered_mg == pytest.approx(36.82) and status.delivered_mg_per_kg == pytest.approx(0.526)
    bed.pump["PUMP_VI"] = 10.0  # the pump reprogrammed: the count starts again
    bed.second(1)
    assert bed.advisory("OVERDELIVERY") is None


def test_pump_running_beyond_planned_time_plus_10_min(bed):
    bed.start_pump()
    bed.flow = False  # a pump that runs without getting anywhere (wrong VTBI)
    bed.minutes(20)
    bed.set_pump("PAUSED")  # a pause does not count towards the overrun
    bed.minutes(5)
    bed.start_pump()
    bed.minutes(30)
    assert bed.advisory("OVERRUN") is None  # 50 min of running = 40 + 10
    bed.second(2)
    alarm = bed.advisory("OVERRUN")
    assert (alarm.kind, alarm.priority) == ("advisory", "medium")
    status = bed.wf.dose_status(bed.now)
    assert status.elapsed_s == pytest.approx(55 * 60 + 2, abs=2) and status.planned_running_s == 2400
    bed.set_pump("STOPPED")
    bed.second(1)
    assert bed.advisory("OVERRUN") is None


# ---------------------------------------------------------------- cuff due
def test_cuff_due_per_phase():
    b = Bed()
    b.wf.set_plan(PLAN, now=b.now)
    b.second(1)
    alarm = b.advisory("CUFF_DUE")  # the baseline needs a cuff pressure from the start
    assert (alarm.kind, alarm.priority, alarm.latching) == ("advisory", "low", False)
    b.cuff(124, 78)
    b.second(1)
    assert b.advisory("CUFF_DUE") is None
    b.minutes(9)
    b.start_pump()
    b.second(58)  # infusion interval 10 min from the last cuff (9 min 59 s ago)
    assert b.advisory("CUFF_DUE") is None
    b.second(2)
    assert b.advisory("CUFF_DUE") and "cuff" in {d.key for d in b.wf.due_items(b.now)}
    b.cuff(130, 80)
    b.set_pump("COMPLETE")
    b.second(1)
    assert b.wf.phase == Phase.RECOVERY
    b.minutes(14.9)
    assert b.advisory("CUFF_DUE") is None  # recovery interval: 15 min
    b.minutes(0.2)
    assert b.advisory("CUFF_DUE")


def test_no_plan_means_no_plan_advisories_and_a_prompt():
    b = Bed()
    b.pump["PUMP_CONC"] = 5.0
    b.start_pump()
    b.minutes(2)
    assert b.wf.phase == Phase.INFUSION  # monitoring and phases never wait for paperwork
    assert not any(k.startswith("ADVISORY.PLAN") for k in b.alarms())
    assert "plan" in {d.key for d in b.wf.due_items(b.now)}
