"""The session chart's content (console.report, no Qt), computed from real session files: a whole
simulated session documented as a nurse would, one that crashed and was resumed, and one the
crash left open. Every figure is checked against what the session did, and what is missing is
said."""

from __future__ import annotations

import dataclasses

import pytest

from console.recording.replay import RecordedEvent, load_review
from console.report import build_report
from console.report.dosing import dose_summary
from console.report.events import DOCUMENTATION_KINDS, NOT_DOCUMENTED, NOT_RECORDED, absent
from console.report.sessions import session_times
from console.vitals_table import row_cells, vitals_rows
from report_bed import CLINICIAN, NOTE, NURSE, OVERRIDE_REASON, at, crashed_and_resumed, shared, whole_session


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return load_review(shared(tmp_path_factory, "whole", whole_session))


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    return load_review(shared(tmp_path_factory, "resumed", crashed_and_resumed))


def facts(section) -> dict[str, str]:
    return {f.label: f.value for f in section.facts}


def test_session_times_are_the_phases_the_workflow_recorded(whole):
    times = session_times(whole)
    # normal scenario: pump at 5 min, complete at 45 min, 60 min recovery; signed off 100 s later
    assert (times.infusion_start, times.infusion_end, times.discharge_check, times.discharged) == \
        (300.0, 2700.0, 6300.0, 6400.0)
    assert times.baseline_fixed == 300.0 and times.monitoring == pytest.approx(1.0)
    assert times.infusion_s == 2400.0
    shown = facts(build_report(whole).section("times"))
    assert shown["Infusion started"] == at(300) and at(300).endswith(" (0:05:00)")
    assert shown["Discharged (signed off)"] == at(6400)
    assert shown["Infusion lasted"] == "40:00"


def test_dose_delivered_against_the_plan(whole):
    dose = dose_summary(whole)
    assert dose.planned_mg == pytest.approx(35.0) and dose.planned_mg_per_kg == 0.5
    assert dose.figure.mg == pytest.approx(35.0, abs=0.05)  # VI 17.5 mL x 2 mg/mL, from the pump
    assert dose.figure.source == "pump"
    assert dose.delivered_mg_per_kg == pytest.approx(0.5, abs=0.001)
    shown = facts(build_report(whole).section("dose"))
    assert shown["Delivered"] == "35.0 mg = 0.50 mg/kg (17.5 mL x 2 mg/mL)"
    assert shown["Planned"] == "35 mg = 0.5 mg/kg" and shown["Delivered of planned"] == "100 %"


def test_plan_pump_programme_and_the_override_with_its_reason(whole):
    plan = build_report(whole).section("plan")
    shown = facts(plan)
    assert shown["Bag"] == "100 mg in 50 mL (2 mg/mL)"
    assert shown["Volume and rate"] == "17.5 mL at 26.25 mL/h"
    assert shown["Programme checked by (second person)"] == absent(whole)  # no second check in this session
    programme = {row[0]: row[1:] for row in plan.tables[0].rows}
    assert programme["Rate"] == ("26.25 mL/h", "26.2 mL/h")  # the pump reports one decimal
    assert programme["Concentration"] == ("2 mg/mL", "2 mg/mL")
    assert programme["Volume to be infused"] == ("17.5 mL", "17.5 mL")
    assert programme["Drug"] == ("KETAMINE", "KETAMINE")
    overrides = plan.tables[1]
    assert len(overrides.rows) == 1
    _when, finding, reason, by = overrides.rows[0]
    assert "The bag holds 100 mg for a dose of 35 mg" in finding
    assert (reason, by) == (OVERRIDE_REASON, CLINICIAN)


def test_the_vitals_table_is_the_one_vitals_table_computes(whole):
    table = build_report(whole).section("vitals").tables[0]
    assert table.rows == tuple(row_cells(r) for r in vitals_rows(whole.session, whole.end))
    cuffs = [r for r in table.rows if r[2] == "cuff"]
    assert len(cuffs) == len(whole.session.nibp_history) >= 9  # every cuff reading has its row
    assert len(table.rows) - len(cuffs) == 6400 // 300  # and a row every 5 minutes


def test_charting_alarms_discharge_and_people(whole):
    report = build_report(whole)
    scores = report.section("charting").tables[0].rows
    by_score = {}
    for _when, label, value, _words, phase, who in scores:
        by_score.setdefault(label, []).append((value, phase))
        assert who == NURSE
    assert by_score["GAD-7"] == [("13", "baseline"), ("6", "discharge check")]
    assert by_score["CADSS"] == [("18", "recovery"), ("1", "recovery")]
    assert ("4", "infusion") in by_score["MOAA/S"] and ("5", "recovery") in by_score["MOAA/S"]
    notes = report.section("charting").tables[1].rows
    assert [n[1] for n in notes] == ["[marker] patient anxious", NOTE]
    assert not report.section("charting").notes  # nothing lacking

    alarms = {row[3]: row for row in report.section("alarms").tables[0].rows}
    spo2 = alarms["SpO2 low"]
    assert spo2[1:3] == ("high", "physiological")  # the highest priority it reached
    assert spo2[5].startswith(f"{NURSE} at ") and spo2[5].endswith("(after 00:20)")
    assert "Cuff pressure due" in alarms and "Pump near end of infusion" in alarms

    discharge = report.section("discharge")
    assert facts(discharge)["Signed off by"].startswith(CLINICIAN)
    criteria = {row[0]: row[1] for row in discharge.tables[0].rows}
    clinical = ("SBP within 20 % of baseline", "HR within 20 % of baseline", "SpO2 \u2265 94 %", "MOAA/S = 5",
                "Dissociation resolved", "Escort confirmed")  # console.discharge.criteria, all met here
    assert all(criteria[name] == "met" for name in clinical), criteria

    people = {row[0]: row for row in report.section("people").tables[0].rows}
    assert set(people) == {NURSE, CLINICIAN}
    assert "acknowledged alarms" in people[NURSE][2] and "charted (13)" in people[NURSE][2]
    assert "signed the discharge off" in people[CLINICIAN][2]


def test_a_complete_session_misses_only_the_documentation_it_does_not_hold(whole):
    # The bed's nurse answers the checklist and scores the discharge, but records no side effect:
    # the chart shows what was documented and says why the rest is absent, in the words that fit
    # the console that made the record (console.report.events.absent).
    report = build_report(whole)
    assert report.simulated and report.title.startswith("TRAINING SIMULATION")
    words = absent(whole)
    assert report.missing[0] == "Clinic: not recorded by this console version."
    assert all(m.endswith(f": {words}.") for m in report.missing[1:]), report.missing
    assert {m.split(":")[0] for m in report.missing[1:]} <= {
        "Treatment number in the course", "Pump programme checked by a second person", "Pre-session checklist",
        "Side effects and interventions", "Discharge score and instructions"}
    assert report.section("side_effects").absent == words
    for key in ("checklist", "discharge_score"):
        assert report.section(key).absent is None, key
    assert not any(m.startswith(("Pre-session checklist", "Discharge score")) for m in report.missing)
    assert [p.key for p in report.trends] == ["hr", "spo2", "bp", "resp", "pump"]
    assert all(p.series for p in report.trends)


def test_documentation_recorded_by_a_later_version_is_listed_in_its_section(whole):
    # The sections are ready for the nurse's documentation: events of its kind are shown, not
    # "not recorded".
    event = RecordedEvent(3000.0, "side_effect", "Nausea, mild", NURSE, {"kind": "nausea", "severity": "mild"})
    report = build_report(dataclasses.replace(whole, events=[*whole.events, event]))
    section = report.section("side_effects")
    assert section.absent is None
    assert section.tables[0].rows == ((at(3000), "Nausea, mild", NURSE),)
    assert not any(m.startswith("Side effects") for m in report.missing)


def test_a_crashed_and_resumed_session_says_what_is_missing(resumed):
    report = build_report(resumed)
    missing = " | ".join(report.missing)
    assert "Recording resumed (run 2): console stopped unexpectedly." in missing
    assert f"Not recorded from {at(900)} to {at(1080)} (03:00): console stopped unexpectedly." in missing
    assert "No discharge: the clinician's sign-off is not in the record." in missing
    assert "The infusion's end is not in the record" in missing and "CADSS not charted." in missing
    assert report.section("discharge").absent.startswith("Not signed off")
    assert report.gaps == ((900.0, 1080.0),)
    dose = dose_summary(resumed)
    assert dose.figure.mg is not None and dose.fraction < 0.6  # a part of the dose, as the pump said


def test_a_file_the_crash_left_open_is_said_to_be_never_closed(tmp_path):
    review = load_review(crashed_and_resumed(tmp_path / "open.sqlite", resumed=False))
    report = build_report(review)
    assert report.missing[0].startswith("The record was never closed")
    assert session_times(review).infusion_end is None


def test_alarm_actions_titration_and_odd_older_data_are_shown_not_fatal(whole):
    from console.alarms.model import LogEntry

    limit = LogEntry(3100.0, "limit_change", metric="SPO2", message="", value=88, limit=90, user="Dr. Rivera",
                     detail="SPO2 medium below 90 -> 88")
    odd = [RecordedEvent(3200.0, "chart", "MOAA/S 5", NURSE, ["not", "an", "object"]),  # type: ignore[arg-type]
           RecordedEvent(3300.0, "plan", "Plan set", CLINICIAN, {"overrides": {"dose_mg_per_kg": "typed reason"}}),
           RecordedEvent(1200.0, "titration", "Titration by Nurse Kim: rate 26.25 -> 20 mL/h (nausea)", NURSE,
                         {"old_rate_ml_h": 26.25, "new_rate_ml_h": 20.0, "reason": "nausea"})]
    report = build_report(dataclasses.replace(whole, log=[*whole.log, limit], events=[*whole.events, *odd]))
    actions = report.section("alarms").tables[1].rows
    assert actions == ((at(3100), "limit change", "SPO2", "SPO2 medium below 90 -> 88", "Dr. Rivera"),)
    people = {row[0]: row[2] for row in report.section("people").tables[0].rows}
    assert "changed alarm limits" in people["Dr. Rivera"] and "titrated" in people[NURSE]
    plan = report.section("plan")
    assert (at(3300), "dose_mg_per_kg", "typed reason", CLINICIAN) in plan.tables[1].rows
    assert any("Titration by Nurse Kim" in row[1] for row in plan.tables[2].rows)
    assert (at(3200), "MOAA/S 5", "", "", "", NURSE) in report.section("charting").tables[0].rows


def test_an_alarm_still_active_at_the_end_says_so(whole):
    # A crash can leave an episode open (active, no end): the chart says so, never a duration.
    spo2 = next(a for a in whole.episodes if a.key == "SPO2.low")
    still = dataclasses.replace(spo2, active=True, ended=None, acknowledged_at=None, acknowledged_by=None)
    rows = build_report(dataclasses.replace(whole, episodes=[still])).section("alarms").tables[0].rows
    assert rows == ((at(spo2.started), "high", "physiological", "SpO2 low", "still active at the end of the record",
                     "not acknowledged", "no"),)


def test_a_trend_axis_widens_to_hold_every_value():
    import numpy as np

    from console.report.chart import Series
    from console.report.observations import axis_range

    hr = [Series("HR", np.array([0.0, 1.0, 2.0]), np.array([70.0, 181.0, np.nan]))]
    assert axis_range(hr, 40.0, 160.0) == (40.0, 190.0)  # in steps of a quarter of the range (30)
    assert axis_range([Series("SpO2", np.array([0.0]), np.array([72.0]))], 80.0, 100.0) == (70.0, 100.0)
    assert axis_range([], 0.0, None) == (0.0, 10.0)
    assert axis_range([Series("rate", np.array([0.0]), np.array([26.25]))], 0.0, None) == (0.0, 40.0)


def test_absent_documentation_is_worded_after_the_console_that_made_the_record(whole):
    older = dataclasses.replace(whole, events=[e for e in whole.events if e.kind not in DOCUMENTATION_KINDS])
    assert absent(older) == f"{NOT_RECORDED} (infusion-console 0.1.0)"
    assert build_report(older).section("checklist").absent == absent(older)
    # A console that documents: one documented item, and the others were not documented.
    checked = RecordedEvent(290.0, "pump_checked", "Pump programme checked against the plan by Sam Lee", NURSE,
                            {"checked_by": "Sam Lee"})
    newer = dataclasses.replace(older, events=[*older.events, checked])
    assert absent(newer) == NOT_DOCUMENTED
    report = build_report(newer)
    assert facts(report.section("plan"))["Programme checked by (second person)"] == f"Sam Lee ({at(290)})"
    assert report.section("checklist").absent == NOT_DOCUMENTED
    assert "Pre-session checklist: not documented in this session." in report.missing
    assert not any(m.startswith("Pump programme checked") for m in report.missing)


def test_every_list_of_criteria_the_sign_off_recorded_is_shown(whole):
    sign_off = next(e for e in whole.events if e.kind == "sign_off")
    extra = {**sign_off.data, "documentation_criteria": [{"name": "Modified Aldrete score \u2265 9", "met": False,
                                                          "detail": "not scored since recovery began"}]}
    events = [dataclasses.replace(e, data=extra) if e is sign_off else e for e in whole.events]
    tables = build_report(dataclasses.replace(whole, events=events)).section("discharge").tables
    assert tables[-1].caption == "Documentation criteria at the sign-off"
    assert tables[-1].rows == (("Modified Aldrete score \u2265 9", "NOT met", "not scored since recovery began"),)


def test_the_chart_names_the_clinic_and_chair_the_site_file_gives(tmp_path):
    """The console writes the site's name and chair into the record; the chart's header shows them."""
    from console.bedside import Console
    from console.clinical import load_protocol
    from console.recording.replay import load_review
    from console.report.sessions import header
    from console.site import SiteConfig
    from console.sources import ConnectionRequest

    path = tmp_path / "s.sqlite"
    console = Console(load_protocol(), str(path), site=SiteConfig(site_name="Day unit", chair="Chair 3"))
    console.connect(ConnectionRequest(simulate="normal", speed=10.0))
    for _ in range(5):
        console.tick()
    console.stop()
    review = load_review(path)
    assert (review.meta["site_name"], review.meta["chair"]) == ("Day unit", "Chair 3")
    assert {f.label: f.value for f in header(review)}["Clinic"] == "Day unit, Chair 3"


def test_the_chart_read_without_waveforms_is_the_same_chart(whole):
    """report and course read files with load_review(waveforms=False): 4x faster, same chart."""
    lean = build_report(load_review(whole.path, waveforms=False))
    full = build_report(whole)
    assert lean.sections == full.sections and lean.missing == full.missing and lean.header == full.header
    def points(report):
        return [len(s.times) for p in report.trends for s in p.series]

    assert points(lean) == points(full)
