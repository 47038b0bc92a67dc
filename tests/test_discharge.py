"""The baseline's maximum age and the discharge check's rules (CLINICAL.md section 2):
a start without a current baseline cuff is a medium advisory; the rise check uses the latest
valid pre-infusion reading or says it has none; a discharge criterion is never met while an
alarm on its metric is active, BP must be inside the patient's medium limits, the cuff at most
20 min old, and MOAA/S, CADSS and cuff charted after recovery began."""

from __future__ import annotations

from console.workflow import Phase
from workflow_bed import PATIENT, PLAN, Bed

STALE = "NO_CURRENT_BASELINE"
SBP = "SBP within 20 % of baseline"


def prepare(b: Bed) -> None:
    b.wf.set_plan(PLAN, now=b.now)
    b.wf.identify(PATIENT, now=b.now)


# ---------------------------------------------------------------- baseline age
def test_start_with_a_cuff_two_hours_old_is_a_medium_advisory():
    b = Bed()
    prepare(b)
    b.second(5)
    b.cuff(124, 78)
    b.minutes(120)
    checks = {c.name: c for c in b.wf.baseline_checks(b.now)}
    age = checks["Cuff pressure at most 30 min old"]
    assert age.met is False and "2:00:0" in age.detail
    b.start_pump()
    b.second(2)
    alarm = b.advisory(STALE)
    assert alarm is not None and alarm.priority == "medium"
    assert "without a current baseline" in alarm.message and "124/78" in alarm.message
    # The old reading still is the latest valid pre-infusion one: the rise check uses it.
    b.cuff(170, 90)
    assert "124/78" in b.advisory("BP_RISE").message


def test_start_with_a_recent_cuff_raises_nothing():
    b = Bed()
    b.ready_baseline()
    assert {c.name: c for c in b.wf.baseline_checks(b.now)}["Cuff pressure at most 30 min old"].met is True
    b.start_pump()
    b.second(2)
    assert b.advisory(STALE) is None


def test_start_with_no_cuff_says_the_rise_cannot_be_judged():
    b = Bed()
    prepare(b)
    b.second(70)
    b.start_pump()
    b.second(2)
    alarm = b.advisory(STALE)
    assert alarm is not None and alarm.priority == "medium"
    assert "no cuff reading" in alarm.message and "rise over baseline cannot be judged" in alarm.message
    b.cuff(190, 115)
    assert b.advisory("BP_RISE") is None  # nothing to compare with, and the advisory says so


def test_rise_uses_the_latest_valid_pre_infusion_reading():
    b = Bed()
    b.ready_baseline(124, 78)
    # A measurement the cuff could not complete, sent as 0/0/0 (which the protocol's
    # SYS >= MEAN >= DIA allows), is not a baseline.
    b.cuff(0, 0)
    b.second(5)
    b.start_pump()
    b.second(2)
    assert b.wf.baseline(b.now).nibp.diastolic == 78
    b.cuff(166, 90)
    assert "124/78" in b.advisory("BP_RISE").message


# ---------------------------------------------------------------- discharge
def to_discharge_check(b: Bed, systolic: int = 124, diastolic: int = 78, **baseline_vitals) -> None:
    b.vitals.update(baseline_vitals)
    b.ready_baseline(systolic, diastolic)
    if b.wf.bp_reason is None and (systolic >= 140 or diastolic >= 90):
        b.wf.proceed_despite_bp("psychiatrist reviewed", now=b.now)
    b.start_pump()
    b.minutes(40)
    b.set_pump("COMPLETE")
    b.minutes(60)
    b.second(1)
    assert b.wf.phase == Phase.DISCHARGE_CHECK


def crit(b: Bed) -> dict:
    return {c.name: c for c in b.wf.discharge_criteria(b.now)}


def test_178_104_after_a_150_92_baseline_with_nibp_alarms_active_is_not_met():
    b = Bed()
    to_discharge_check(b, 150, 92)
    b.cuff(178, 104)  # +19 %: inside 20 %, but above 160/100 and alarming
    assert "NIBP_SYS.high" in b.alarms()
    c = crit(b)[SBP]
    assert c.met is False and "alarm" in c.detail and "160" in c.detail


def test_bp_must_be_inside_the_patients_medium_limits_even_with_its_alarm_off():
    b = Bed()
    to_discharge_check(b, 150, 92)
    b.engine.switch_off("NIBP_SYS", "cuff artefact, re-measuring", b.now, user="Nurse Kim")
    b.cuff(165, 95)  # +10 %, above the medium 160, but no alarm: its medium limit is off
    assert "NIBP_SYS.high" not in b.alarms()
    c = crit(b)[SBP]
    assert c.met is False and "160" in c.detail
    b.engine.set_limit("NIBP_SYS", "medium", "above", 170, b.now, user="Dr. Rivera")
    assert crit(b)[SBP].met is True  # the limits in force for this patient


def test_cuff_older_than_20_min_is_not_used():
    b = Bed()
    b.ready_baseline(124, 78)
    b.start_pump()
    b.minutes(40)
    b.set_pump("COMPLETE")
    b.minutes(5)
    b.cuff(126, 80)  # taken early in recovery
    b.minutes(56)
    assert b.wf.phase == Phase.DISCHARGE_CHECK
    c = crit(b)[SBP]
    assert c.met is False and "20 min" in c.detail
    b.cuff(126, 80)
    assert crit(b)[SBP].met is True


def test_heart_rate_not_met_while_its_alarm_is_active():
    b = Bed()
    to_discharge_check(b, HR=105, PR=105)
    b.vitals.update(HR=125, PR=125)  # +19 %, above the medium 120 for more than 10 s
    b.second(15)
    assert "HR.high" in b.alarms()
    c = crit(b)["HR within 20 % of baseline"]
    assert c.met is False and "alarm" in c.detail


def test_moaas_and_cadss_charted_before_recovery_do_not_count():
    b = Bed()
    prepare(b)
    b.second(60)
    b.cuff(124, 78)
    b.wf.chart("MOAA/S", 5, now=b.now)  # at baseline
    b.second(60)
    b.start_pump()
    b.minutes(40)
    b.set_pump("COMPLETE")
    b.minutes(60)
    b.second(1)
    b.cuff(126, 80)
    c = crit(b)
    assert c["MOAA/S = 5"].met is None and "since recovery began" in c["MOAA/S = 5"].detail
    b.wf.chart("MOAA/S", 5, now=b.now)
    assert crit(b)["MOAA/S = 5"].met is True


def test_short_recovery_cadss_from_the_infusion_does_not_count():
    from console.clinical import load_protocol

    base = load_protocol()
    protocol = base.model_copy(update={"phases": base.phases.model_copy(update={"recovery_min": 3})})
    b = Bed(protocol)
    b.ready_baseline()
    b.start_pump()
    b.minutes(40)
    b.wf.chart("CADSS", 0, now=b.now)  # at the end of the infusion, before recovery
    b.set_pump("COMPLETE")
    b.minutes(4)
    assert b.wf.phase == Phase.DISCHARGE_CHECK
    b.wf.confirm_dissociation_resolved(now=b.now)
    assert crit(b)["Dissociation resolved"].met is False
