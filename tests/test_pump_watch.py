"""The pump's blind spots (issue 9, CLINICAL.md sections 2 and 5), on a real Session and
AlarmEngine with a fake clock: a pump without a concentration, a programme that differs from
the plan before the start, no pump data at all, the nurse's recorded start and end, a start
the console did not see, and a pump running for a patient who is not confirmed."""

from __future__ import annotations

import datetime as dt

import pytest

from console.patient import Patient
from console.plan_file import SessionOrder
from console.records import LinkEvent
from console.workflow import Phase, WorkflowError
from workflow_bed import PATIENT, PLAN, Bed


def vitals_only(b: Bed, n: int = 1, *, pump_flows: bool = True) -> None:
    """n seconds in which the vitals monitor speaks and the pump does not (its VI still moves
    when it runs: a pump does not stop because its cable is out)."""
    for _ in range(n):
        b.clock.advance(1)
        b.send("vitals", **b.vitals)
        if pump_flows and b.pump["PUMP_STATE"] == "RUNNING":
            b.pump["PUMP_RATE"] = b.programmed_rate
            b.pump["PUMP_VI"] = round(b.pump["PUMP_VI"] + b.programmed_rate / 3600.0, 6)
        b.frame()


def ready_without_pump(b: Bed, plan=PLAN) -> None:
    """Plan, patient, GAD-7, 2 min of vitals and a cuff: every baseline check met, no pump."""
    b.wf.set_plan(plan, now=b.now)
    b.wf.identify(PATIENT, now=b.now)
    b.wf.chart("GAD-7", 9, now=b.now)
    vitals_only(b, 60)
    b.cuff(124, 78)
    vitals_only(b, 60)


# ---------------------------------------------------------------- 1. no concentration
@pytest.mark.parametrize("conc", [0.0, None])
def test_pump_without_concentration_uses_the_plans_and_raises_high(conc):
    b = Bed()
    b.ready_baseline()
    b.pump["PUMP_CONC"] = conc  # mL/h mode ("-") or CONC=0
    b.start_pump()
    b.second(3)
    alarm = b.advisory("CONC_UNKNOWN")
    assert alarm is not None and alarm.priority == "high"
    assert "Pump concentration unknown" in alarm.message and "0.7 mg/mL" in alarm.message
    b.pump["PUMP_VI"], b.flow = 75.0, False  # 75 mL against a 50 mL plan
    b.second(1)
    figure = b.wf.dose_figure()
    assert figure.source == "plan" and figure.mg == pytest.approx(75 * 0.7)
    assert "plan's 0.7 mg/mL" in figure.words
    assert b.wf.dose_status(b.now).delivered_mg == pytest.approx(52.5)
    assert b.advisory("OVERDELIVERY") is not None and b.advisory("OVERDELIVERY").priority == "high"


def test_a_pump_with_its_concentration_raises_no_concentration_advisory():
    b = Bed()
    b.ready_baseline()
    b.start_pump()
    b.second(30)
    assert b.advisory("CONC_UNKNOWN") is None
    assert b.wf.dose_figure().source == "pump"


# ---------------------------------------------------------------- 2. programme vs plan
def test_vtbi_above_the_dose_volume_is_high_after_10_s_before_the_start():
    b = Bed()
    b.ready_baseline()
    b.pump["PUMP_VTBI"] = 100.0  # the plan's dose volume is 50 mL
    b.second(9)
    assert b.advisory("PLAN_VTBI") is None  # 10 s of difference first
    b.second(2)
    alarm = b.advisory("PLAN_VTBI")
    assert alarm is not None and alarm.priority == "high" and "VTBI 100 mL" in alarm.message
    assert b.wf.phase == Phase.BASELINE  # judged while not running
    b.pump["PUMP_VTBI"] = 50.0
    b.second(1)
    assert b.advisory("PLAN_VTBI") is None


def test_vtbi_is_judged_against_the_dose_volume_not_the_bag():
    b = Bed()
    plan = PLAN.model_copy(update={"bag_mg": 70, "bag_ml": 100})  # 0.7 mg/mL; 35 mg is 50 mL of 100
    b.ready_baseline()
    b.wf.set_plan(plan, overrides={"bag_excess_factor": "second dose drawn from the same bag"}, now=b.now)
    b.pump["PUMP_VTBI"] = 100.0  # the whole bag programmed
    b.second(11)
    assert b.advisory("PLAN_VTBI") is not None


def test_programmed_dose_rate_differing_from_the_plan_is_high():
    b = Bed()
    b.ready_baseline()
    b.pump["PUMP_DOSE_RATE"] = 1.5  # plan 0.75 mg/kg/h
    b.second(11)
    alarm = b.advisory("PLAN_DOSE_RATE")
    assert alarm is not None and alarm.priority == "high" and "dose rate 1.5 mg/kg/h" in alarm.message


# ---------------------------------------------------------------- 3. no pump data
KEY = "NO_DATA.pump"


def test_never_connected_is_medium_then_high_5_min_after_the_baseline_checks_are_met():
    b = Bed()
    ready_without_pump(b)
    assert all(c.met for c in b.wf.baseline_checks(b.now))
    alarm = b.alarms()[KEY]
    assert (alarm.kind, alarm.priority) == ("technical", "medium")
    assert "No pump data (no pump connected)" in alarm.message
    met = b.wf.baseline_met_at
    assert met is not None
    vitals_only(b, round(met + 5 * 60 - 5 - b.now))
    assert b.alarms()[KEY].priority == "medium"
    vitals_only(b, 10)
    assert b.alarms()[KEY].priority == "high"


def test_port_open_with_nothing_valid_turns_high_5_min_after_the_planned_start():
    b = Bed()
    start_wall = b.clock.wall() + 10 * 60  # the infusion is meant to begin in 10 min
    plan = PLAN.model_copy(update={"planned_start": dt.datetime.fromtimestamp(start_wall, dt.UTC)})
    b.session.ingest(LinkEvent("pump", "up", "connected to /dev/ttyUSB1", b.now))
    ready_without_pump(b, plan)  # 2 min
    alarm = b.alarms()[KEY]
    assert alarm.priority == "medium" and "port open, nothing valid received" in alarm.message
    vitals_only(b, 12 * 60)  # baseline met long ago, but the planned start rules: 10 + 5 min
    assert b.alarms()[KEY].priority == "medium"
    vitals_only(b, 70)
    assert b.alarms()[KEY].priority == "high"


def test_a_pump_port_that_cannot_open_is_one_alarm_until_it_escalates():
    b = Bed()
    b.session.ingest(LinkEvent("pump", "down", "port /dev/ttyUSB1 not found (unplugged or wrong name)", b.now))
    ready_without_pump(b)
    assert "LINK.pump" in b.alarms() and KEY not in b.alarms()  # one cause, one medium alarm
    vitals_only(b, round(b.wf.baseline_met_at + 5 * 60 + 1 - b.now))
    alarm = b.alarms()[KEY]
    assert alarm.priority == "high" and "not found" in alarm.message


def test_no_pump_data_needs_a_plan_and_ends_when_the_pump_speaks():
    b = Bed()
    b.wf.identify(PATIENT, now=b.now)
    vitals_only(b, 30)
    assert KEY not in b.alarms()  # no plan: nothing to follow
    b.wf.set_plan(PLAN, now=b.now)
    vitals_only(b, 1)
    assert KEY in b.alarms()
    b.second(1)  # the pump's first sentence
    assert KEY not in b.alarms()


def test_before_the_fix_a_session_without_pump_stayed_silent_in_baseline():
    """The hazard as reported: hours in BASELINE with no alarm. Now the alarm is high."""
    b = Bed()
    ready_without_pump(b)
    vitals_only(b, 10 * 60)
    assert b.wf.phase == Phase.BASELINE
    assert b.alarms()[KEY].priority == "high"


# ---------------------------------------------------------------- 4. manual start and end
def test_manual_start_and_end_drive_the_phases_and_the_dose_shows_the_nurses_volume():
    b = Bed()
    ready_without_pump(b)
    started = b.now - 30
    b.wf.record_infusion_start(volume_ml=0, at=started, now=b.now)
    assert b.wf.phase == Phase.INFUSION and b.wf.infusion_started == started
    assert b.wf.baseline(b.now).fixed
    vitals_only(b, 1)
    assert b.alarms()[KEY].priority == "high"  # started by hand, nothing follows the dose
    assert b.wf.dose_figure().mg is None and "not measured" in b.wf.dose_figure().words
    vitals_only(b, 40 * 60)
    with pytest.raises(WorkflowError, match="mL"):
        b.wf.record_infusion_end(volume_ml=-3, now=b.now)
    ended = b.now
    b.wf.record_infusion_end(volume_ml=50, now=b.now)
    assert b.wf.phase == Phase.RECOVERY and b.wf.recovery_started == ended
    figure = b.wf.dose_figure()
    assert figure.source == "nurse" and figure.mg == pytest.approx(35.0) and "Nurse Kim" in figure.words
    kinds = [e.kind for e in b.events]
    assert "infusion_start_manual" in kinds and "infusion_end_manual" in kinds
    end = next(e for e in b.events if e.kind == "infusion_end_manual")
    assert end.user == "Nurse Kim" and end.data["volume_ml"] == 50
    vitals_only(b, 1)
    assert KEY not in b.alarms()  # recovery: no longer waiting on the pump


def test_a_volume_read_off_the_pump_above_the_plan_is_over_delivery():
    b = Bed()
    ready_without_pump(b)
    b.wf.record_infusion_start(now=b.now)
    vitals_only(b, 60)
    b.wf.record_infusion_end(volume_ml=75, now=b.now)  # 52.5 mg against 35 mg
    vitals_only(b, 1)
    alarm = b.advisory("OVERDELIVERY")
    assert alarm is not None and alarm.priority == "high" and "52.5 mg" in alarm.message


def test_manual_start_is_refused_while_the_pump_reports():
    b = Bed()
    b.ready_baseline()
    with pytest.raises(WorkflowError, match="reporting"):
        b.wf.record_infusion_start(now=b.now)
    with pytest.raises(WorkflowError, match="reporting"):
        b.wf.declare_pump_without_interface(now=b.now)
    assert b.wf.phase == Phase.BASELINE


def test_manual_start_refuses_a_time_in_the_future_and_needs_a_sign_in():
    b = Bed()
    ready_without_pump(b)
    with pytest.raises(WorkflowError, match="future"):
        b.wf.record_infusion_start(at=b.now + 60, now=b.now)
    b.wf.sign_out(now=b.now)
    with pytest.raises(WorkflowError, match="Sign in"):
        b.wf.record_infusion_start(now=b.now)


def test_pump_seen_running_after_a_manual_end_is_high():
    b = Bed()
    ready_without_pump(b)
    b.wf.record_infusion_start(now=b.now)
    vitals_only(b, 60)
    b.wf.record_infusion_end(volume_ml=1.2, now=b.now)
    b.start_pump()  # the pump is connected later, still running
    b.second(2)
    alarm = b.advisory("RUNNING_AFTER_END")
    assert alarm is not None and alarm.priority == "high" and "recorded ended" in alarm.message
    b.set_pump("STOPPED")
    b.second(1)
    assert b.advisory("RUNNING_AFTER_END") is None


def test_declaring_a_pump_without_interface_turns_the_alarm_into_a_notice():
    b = Bed()
    ready_without_pump(b)
    assert KEY in b.alarms()
    b.wf.declare_pump_without_interface(now=b.now)
    vitals_only(b, 10 * 60)
    assert KEY not in b.alarms()
    assert "Pump without interface (declared by Nurse Kim" in b.session.pump_watch.notice(b.session, b.now)
    b.wf.record_infusion_start(now=b.now)
    vitals_only(b, 60)
    assert KEY not in b.alarms()


# ---------------------------------------------------------------- 5. started while the link was down
def test_pump_started_during_a_link_gap_gets_an_estimated_start_and_a_high_alarm():
    b = Bed()
    b.ready_baseline()
    last_stopped = b.now
    b.start_pump()  # starts now, but its link is out for 160 s
    vitals_only(b, 160)
    assert b.wf.phase == Phase.BASELINE
    b.second(1)  # the link is back: RUNNING with 3.35 mL in
    back = b.now
    vi = b.pump["PUMP_VI"]
    assert vi == pytest.approx(161 * 75 / 3600, abs=0.01)
    alarm = b.alarms()["PUMP.RAN_UNSEEN"]
    assert (alarm.kind, alarm.priority) == ("technical", "high")
    assert "Pump ran while its link was down" in alarm.message and "estimated" in alarm.message
    expected = back - vi / 75 * 3600
    assert b.wf.phase == Phase.INFUSION
    assert b.wf.infusion_started == pytest.approx(expected, abs=0.01)
    assert b.wf.infusion_started >= last_stopped
    assert b.wf.running_s == pytest.approx(back - expected, abs=1.5)  # the overrun count knows
    assert "estimated" in next(e.text for e in b.events if e.kind == "phase")
    b.second(5)
    assert b.alarms()["PUMP.RAN_UNSEEN"].shown  # latched until acknowledged
    b.engine.acknowledge("PUMP.RAN_UNSEEN", b.now)
    b.second(1)
    assert "PUMP.RAN_UNSEEN" not in b.alarms()


def test_estimate_is_never_before_the_pump_was_last_seen_not_running():
    b = Bed()
    b.ready_baseline()
    last_stopped = b.now
    b.start_pump()
    vitals_only(b, 20)
    b.pump["PUMP_VI"] = 10.0  # more than 20 s at 75 mL/h could give
    b.second(1)
    assert b.wf.infusion_started == pytest.approx(last_stopped)


def test_without_a_rate_the_start_is_a_range():
    b = Bed()
    b.ready_baseline()
    b.start_pump()
    vitals_only(b, 100)
    b.programmed_rate = 0.0  # the pump reports RUNNING at 0 mL/h
    b.second(1)
    est = b.session.pump_watch.first_start
    assert est is not None and est.at is None
    assert "started between" in b.alarms()["PUMP.RAN_UNSEEN"].message


def test_a_start_seen_live_raises_no_link_gap_alarm():
    b = Bed()
    b.ready_baseline()
    b.start_pump()
    b.second(10)
    assert "PUMP.RAN_UNSEEN" not in b.alarms()
    assert b.wf.infusion_started == b.session.pump_first_running


# ---------------------------------------------------------------- 6. patient not confirmed
def test_pump_running_with_no_patient_identified_is_high():
    b = Bed()
    b.wf.set_plan(PLAN, now=b.now)
    b.second(60)
    assert b.advisory("PATIENT_UNCONFIRMED") is None  # not while the pump stands
    b.start_pump()
    b.second(1)
    alarm = b.advisory("PATIENT_UNCONFIRMED")
    assert alarm is not None and alarm.priority == "high" and "no patient identified" in alarm.message
    b.wf.identify(PATIENT, now=b.now)
    b.second(1)
    assert b.advisory("PATIENT_UNCONFIRMED") is None


def test_pump_running_with_a_wristband_that_differs_from_the_order_is_high_until_confirmed():
    b = Bed()
    b.wf.load_order(SessionOrder(patient=PATIENT, plan=PLAN), now=b.now)
    b.wf.identify(Patient(patient_id="MRN-9999", name="Alex Morgan", date_of_birth="1986-04-12"), now=b.now)
    b.start_pump()
    b.second(2)
    alarm = b.advisory("PATIENT_UNCONFIRMED")
    assert alarm is not None and alarm.priority == "high" and "MRN-9999" in alarm.message
    b.wf.confirm_mismatch("order typed with an old MRN, checked with the physician", now=b.now)
    b.second(1)
    assert b.advisory("PATIENT_UNCONFIRMED") is None
