"""The nurse's documentation in the workflow (CLINICAL.md section 8, issue 17), on a fake clock:
the pre-session checklist and its advisory at the pump's start, side effects and drugs given,
the discharge score and its criterion, the driving restriction and written instructions, who
checked the pump, the treatment number. Each rule has a test that fails if it broke."""

from __future__ import annotations

import json

import pytest

from console.clinical import ProtocolFileError, load_protocol
from console.plan_file import SessionOrderError, parse_session_order
from console.workflow import WorkflowError
from console.workflow_advisories import CHECKLIST_UNANSWERED
from workflow_bed import PATIENT, PLAN, Bed

ALDRETE_9 = {"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 1, "spo2": 2}


def answer_all(b: Bed) -> None:
    for item in b.wf.checklist:
        if item.detail_needed_when == "yes":
            b.wf.answer_check(item.key, "no", now=b.now)
        else:
            b.wf.answer_check(item.key, "yes", now=b.now)


def kinds(b: Bed, kind: str):
    return [e for e in b.events if e.kind == kind]


def to_recovery(b: Bed) -> None:
    b.ready_baseline()
    b.start_pump()
    b.minutes(1)
    b.set_pump("COMPLETE")
    b.second(2)
    assert b.wf.recovery_started is not None


# ---------------------------------------------------------------- the protocol file
def test_the_shipped_defaults_are_clinical_md_section_8():
    doc = load_protocol().documentation
    assert [i.key for i in doc.checklist] == ["consent", "fasting", "pregnancy_test", "interacting_medicines",
                                              "escort_transport", "suicide_risk_screen"]
    assert all(i.required for i in doc.checklist)
    assert [d.name for d in doc.intervention_drugs] == ["ondansetron", "labetalol", "clonidine", "lorazepam",
                                                        "midazolam"]
    assert (doc.discharge_score.scale, doc.discharge_score.minimum, doc.driving_restriction_h) == ("aldrete", 9, 24)


@pytest.mark.parametrize("change, words", [
    (lambda d: d["discharge_score"].update(minimum=11), "discharge_score.minimum"),
    (lambda d: d["discharge_score"].update(scale="bromage"), "discharge_score.scale"),
    (lambda d: d.update(driving_restriction_h=6), "driving_restriction_h"),
    (lambda d: d["checklist"].append(dict(d["checklist"][0])), "'consent' appears twice"),
    (lambda d: d["checklist"][0].update(key="Consent signed"), "checklist.0.key"),
    (lambda d: d["checklist"][0].update(detail_needed_when="yes"), "needs 'detail'"),
    (lambda d: d["intervention_drugs"][0].update(units=[]), "intervention_drugs.0.units"),
    (lambda d: d["checklist"][0].update(required=1), "checklist.0.required"),
])
def test_a_bad_documentation_section_is_refused_by_name(tmp_path, change, words):
    from console.resources import read_text

    data = json.loads(read_text("clinical_protocol.json"))
    change(data["documentation"])
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProtocolFileError, match=words.replace(".", r"\.").replace("(", r"\(")):
        load_protocol(path)


def test_a_site_file_without_the_section_gets_the_defaults(tmp_path):
    from console.resources import read_text

    data = json.loads(read_text("clinical_protocol.json"))
    del data["documentation"]
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(data))
    assert load_protocol(path).documentation == load_protocol().documentation


# ---------------------------------------------------------------- checklist
def test_each_answer_is_recorded_with_who_and_when():
    b = Bed()
    b.clock.advance(30)
    b.wf.answer_check("consent", "yes", now=b.now)
    ev = kinds(b, "checklist_answer")[-1]
    assert (ev.user, ev.time) == ("Nurse Kim", b.now)
    assert ev.data == {"item": "consent", "label": "Consent signed", "answer": "yes", "detail": None,
                       "required": True}
    b.wf.answer_check("interacting_medicines", "yes", "lorazepam 1 mg at 22:00 yesterday", now=b.now)
    assert kinds(b, "checklist_answer")[-1].data["detail"] == "lorazepam 1 mg at 22:00 yesterday"
    assert b.wf.checklist_answers["interacting_medicines"].user == "Nurse Kim"


def test_answers_are_checked():
    b = Bed()
    with pytest.raises(WorkflowError, match="medicine and its last dose is needed"):
        b.wf.answer_check("interacting_medicines", "yes", "  ", now=b.now)
    with pytest.raises(WorkflowError, match=r"not applicable.*not an answer"):
        b.wf.answer_check("consent", "not_applicable", now=b.now)
    b.wf.answer_check("pregnancy_test", "not_applicable", now=b.now)  # allowed there
    with pytest.raises(WorkflowError, match="yes, no or not applicable"):
        b.wf.answer_check("consent", "maybe", now=b.now)
    with pytest.raises(WorkflowError, match="not one of this site's pre-session checks"):
        b.wf.answer_check("blood_group", "yes", now=b.now)
    b.wf.sign_out(now=b.now)
    with pytest.raises(WorkflowError, match="Sign in"):
        b.wf.answer_check("consent", "yes", now=b.now)
    assert [e.data["item"] for e in kinds(b, "checklist_answer")] == ["pregnancy_test"]


def test_a_required_check_unanswered_at_the_pump_start_is_a_medium_advisory_until_answered():
    b = Bed()
    answer_all(b)
    del b.wf.checklist_answers["suicide_risk_screen"]  # as if never answered
    b.ready_baseline()
    assert b.advisory("CHECKLIST_UNANSWERED") is None  # not before the pump starts
    b.start_pump()
    b.second(2)
    alarm = b.advisory("CHECKLIST_UNANSWERED")
    assert alarm is not None and alarm.priority == "medium" and alarm.kind == "advisory"
    assert "Suicide-risk screen" in alarm.message and alarm.key == CHECKLIST_UNANSWERED
    # what first, in words short enough for its alarm row (tests/test_ui_alarms.py), then the names
    assert alarm.message == "1 pre-session check unanswered at pump start: Suicide-risk screen done"
    start = kinds(b, "checklist_at_start")
    assert len(start) == 1 and start[0].data["unanswered"] == ["suicide_risk_screen"]
    b.wf.answer_check("suicide_risk_screen", "yes", "low risk", now=b.now)
    b.second(1)
    assert b.advisory("CHECKLIST_UNANSWERED") is None
    assert len(kinds(b, "checklist_at_start")) == 1  # the moment is recorded once


def test_every_check_answered_raises_nothing_at_the_start():
    b = Bed()
    answer_all(b)
    b.ready_baseline()
    b.start_pump()
    b.second(2)
    assert b.advisory("CHECKLIST_UNANSWERED") is None
    assert kinds(b, "checklist_at_start")[0].data["unanswered"] == []


def test_proceeding_with_checks_unanswered_needs_a_recorded_reason():
    b = Bed()
    b.ready_baseline()
    b.start_pump()
    b.second(2)
    assert b.advisory("CHECKLIST_UNANSWERED") is not None
    with pytest.raises(WorkflowError, match="needs a reason"):
        b.wf.proceed_despite_checklist("  ", now=b.now)
    b.second(1)
    assert b.advisory("CHECKLIST_UNANSWERED") is not None  # a refused reason clears nothing
    b.wf.proceed_despite_checklist("consent form in the paper chart, seen by Dr. Rivera", now=b.now)
    b.second(1)
    assert b.advisory("CHECKLIST_UNANSWERED") is None
    ev = kinds(b, "checklist_proceed")[0]
    assert ev.user == "Nurse Kim" and ev.data["reason"] == "consent form in the paper chart, seen by Dr. Rivera"
    assert len(ev.data["unanswered"]) == 6


def test_no_reason_is_asked_when_every_check_is_answered():
    b = Bed()
    answer_all(b)
    with pytest.raises(WorkflowError, match="no reason is needed"):
        b.wf.proceed_despite_checklist("because", now=b.now)


def test_unanswered_checks_show_on_the_discharge_check():
    b = Bed()
    b.wf.answer_check("consent", "yes", now=b.now)
    b.wf.answer_check("escort_transport", "no", now=b.now)
    crit = {c.name: c for c in b.wf.documentation_criteria(b.now)}["Pre-session checks answered"]
    assert crit.met is False and "Fasting as the site requires" in crit.detail and "Consent" not in crit.detail
    assert "answered no: Escort and transport home arranged" in crit.detail
    answer_all(b)
    assert {c.name: c for c in b.wf.documentation_criteria(b.now)}["Pre-session checks answered"].met is True


# ---------------------------------------------------------------- side effects and interventions
def test_a_side_effect_is_recorded_with_kind_severity_time_and_who():
    b = Bed()
    b.clock.advance(600)
    b.wf.record_side_effect("nausea", "moderate", at=b.now - 120, now=b.now)
    ev = kinds(b, "side_effect")[0]
    assert (ev.user, ev.time) == ("Nurse Kim", b.now)
    assert ev.data == {"kind": "nausea", "label": "nausea", "severity": "moderate", "at": b.now - 120,
                       "description": None}
    assert "nausea, moderate, 02:00 ago" in ev.text and ev in b.wf.timeline
    with pytest.raises(WorkflowError, match="needed"):
        b.wf.record_side_effect("other", "mild", now=b.now)
    b.wf.record_side_effect("other", "mild", description="tingling lips", now=b.now)
    with pytest.raises(WorkflowError, match="mild, moderate or severe"):
        b.wf.record_side_effect("headache", "awful", now=b.now)
    with pytest.raises(WorkflowError, match="not a side effect kind"):
        b.wf.record_side_effect("rash", "mild", now=b.now)
    with pytest.raises(WorkflowError, match="in the future"):
        b.wf.record_side_effect("headache", "mild", at=b.now + 300, now=b.now)
    assert [s.kind for s in b.wf.side_effects] == ["nausea", "other"]


def test_a_drug_given_is_recorded_with_dose_unit_route_time_and_who():
    b = Bed()
    b.clock.advance(900)
    b.wf.record_intervention("Ondansetron", "4", "mg", "IV", at=b.now - 60, indication="nausea", now=b.now)
    ev = kinds(b, "intervention")[0]
    assert ev.user == "Nurse Kim" and ev.time == b.now
    assert ev.data == {"drug": "ondansetron", "dose": 4.0, "unit": "mg", "route": "IV", "at": b.now - 60,
                       "given_by": "Nurse Kim", "indication": "nausea"}
    b.wf.record_intervention("clonidine", "0,1", "mg", "PO", given_by="Dr. Rivera", now=b.now)
    assert b.wf.interventions[-1].dose == pytest.approx(0.1) and b.wf.interventions[-1].given_by == "Dr. Rivera"


@pytest.mark.parametrize("args, words", [
    (("ketorolac", "30", "mg", "IV"), "not on this site's list"),
    (("ondansetron", "1,000", "mg", "IV"), "ambiguous|thousands"),
    (("ondansetron", "0", "mg", "IV"), "above zero"),
    (("ondansetron", "four", "mg", "IV"), "dose"),
    (("ondansetron", "4", "g", "IV"), "unit is one of mg"),
    (("clonidine", "0.1", "mg", "IV"), "route is one of PO"),
])
def test_a_drug_entry_that_cannot_be_right_is_refused(args, words):
    b = Bed()
    with pytest.raises(WorkflowError, match=words):
        b.wf.record_intervention(*args, now=b.now)
    assert kinds(b, "intervention") == []


# ---------------------------------------------------------------- discharge score
def test_the_aldrete_score_meets_the_criterion_at_9_not_8():
    b = Bed()
    to_recovery(b)
    crit = {c.name: c for c in b.wf.documentation_criteria(b.now)}
    assert crit["Modified Aldrete score \u2265 9"].met is None
    b.wf.score_discharge({**ALDRETE_9, "consciousness": 0}, now=b.now)  # 8
    assert {c.name: c for c in b.wf.documentation_criteria(b.now)}["Modified Aldrete score \u2265 9"].met is False
    b.wf.score_discharge(ALDRETE_9, now=b.now)  # 9
    crit = {c.name: c for c in b.wf.documentation_criteria(b.now)}["Modified Aldrete score \u2265 9"]
    assert crit.met is True and "9/10" in crit.detail
    ev = kinds(b, "discharge_score")[-1]
    assert ev.data == {"scale": "aldrete", "items": ALDRETE_9, "total": 9, "minimum": 9, "met": True}
    assert ev.user == "Nurse Kim"


def test_a_score_from_before_recovery_does_not_count():
    b = Bed()
    b.ready_baseline()
    b.wf.score_discharge(ALDRETE_9, now=b.now)
    b.start_pump()
    b.minutes(1)
    b.set_pump("COMPLETE")
    b.second(2)
    assert {c.name: c for c in b.wf.documentation_criteria(b.now)}["Modified Aldrete score \u2265 9"].met is None


@pytest.mark.parametrize("items, words", [
    ({**ALDRETE_9, "spo2": 3}, "SpO. must be 0, 1 or 2 \\(not 3\\)"),
    ({**ALDRETE_9, "activity": -1}, "Activity must be 0, 1 or 2"),
    ({**ALDRETE_9, "activity": "1.5"}, "Activity must be 0, 1 or 2"),
    ({k: v for k, v in ALDRETE_9.items() if k != "respiration"}, "Respiration is not scored"),
    ({**ALDRETE_9, "pain": 2}, "pain is not part of"),
])
def test_score_items_outside_0_to_2_or_missing_are_refused(items, words):
    b = Bed()
    with pytest.raises(WorkflowError, match=words):
        b.wf.score_discharge(items, now=b.now)
    assert b.wf.discharge_scores == []


def test_padss_by_protocol_setting():
    base = load_protocol()
    doc = base.documentation.model_copy(update={"discharge_score": base.documentation.discharge_score.model_copy(
        update={"scale": "padss"})})
    b = Bed(base.model_copy(update={"documentation": doc}))
    assert b.wf.score_scale.key == "padss"
    entry = b.wf.score_discharge({"vital_signs": 2, "ambulation": 2, "nausea_vomiting": 2, "pain": 2,
                                  "bleeding": 2}, now=b.now)
    assert entry.total == 10 and kinds(b, "discharge_score")[0].data["scale"] == "padss"
    with pytest.raises(WorkflowError, match="not part of the PADSS"):
        b.wf.score_discharge(ALDRETE_9, now=b.now)


def test_driving_restriction_and_written_instructions_are_criteria():
    b = Bed()
    crit = {c.name: c for c in b.wf.documentation_criteria(b.now)}
    assert crit["No driving or machinery for 24 h: told"].met is False
    assert crit["Written instructions given"].met is False
    b.wf.acknowledge_driving_restriction(now=b.now)
    b.wf.acknowledge_written_instructions(now=b.now)
    crit = {c.name: c for c in b.wf.documentation_criteria(b.now)}
    assert crit["No driving or machinery for 24 h: told"].met is True and "Nurse Kim" in crit[
        "Written instructions given"].detail
    assert kinds(b, "driving_restriction")[0].data == {"hours": 24}
    assert kinds(b, "written_instructions")[0].user == "Nurse Kim"


def test_the_sign_off_records_the_documentation_criteria_as_they_stood():
    base = load_protocol()
    b = Bed(base.model_copy(update={"phases": base.phases.model_copy(update={"recovery_min": 15})}))
    to_recovery(b)
    b.wf.score_discharge(ALDRETE_9, now=b.now)
    b.minutes(15)
    b.second(1)
    b.wf.sign_off("Dr. Rivera", now=b.now, reason="reviewed at the bedside", reason_code="assessed")
    signed = kinds(b, "sign_off")[0]
    shown = {c["name"]: c["met"] for c in signed.data["documentation"]}
    assert shown == {"Pre-session checks answered": False, "Modified Aldrete score \u2265 9": True,
                     "No driving or machinery for 24 h: told": False, "Written instructions given": False}


# ---------------------------------------------------------------- pump check and treatment number
def test_the_pump_check_is_recorded_with_the_second_person_and_the_plan():
    b = Bed()
    with pytest.raises(WorkflowError, match="Set the plan first"):
        b.wf.pump_checked("Nurse Lee", now=b.now)
    b.wf.set_plan(PLAN, now=b.now)
    with pytest.raises(WorkflowError, match="second person"):
        b.wf.pump_checked(" nurse kim ", now=b.now)
    with pytest.raises(WorkflowError, match="is needed"):
        b.wf.pump_checked("   ", now=b.now)
    b.clock.advance(5)
    assert b.wf.pump_checked("Nurse  Lee", now=b.now) == "Nurse Lee"
    assert (b.wf.pump_checked_by, b.wf.pump_checked_at) == ("Nurse Lee", b.now)
    ev = kinds(b, "pump_checked")[0]
    assert ev.user == "Nurse Kim" and ev.data["checked_by"] == "Nurse Lee" and ev.data["site_user"] is False
    assert ev.data["plan"]["rate_ml_per_h"] == pytest.approx(75.0) and ev.data["plan"]["total_mg"] == 35.0


def test_the_pump_checker_is_named_as_the_site_spells_a_user():
    from console.site import User
    from console.users import SiteUsers, hash_pin

    users = SiteUsers([User(name="Nurse Kim", role="nurse", pin_hash=hash_pin("1234")),
                       User(name="Nurse Lee", role="nurse", pin_hash=hash_pin("5678"))])
    b = Bed(sign_in=False)
    b.wf.authenticate = users
    b.wf.sign_in("Nurse Kim", "1234", now=b.now)
    b.wf.set_plan(PLAN, now=b.now)
    assert b.wf.pump_checked("nurse lee", now=b.now) == "Nurse Lee"
    assert kinds(b, "pump_checked")[0].data["site_user"] is True


def test_the_treatment_number_comes_from_the_order_or_is_entered():
    protocol = load_protocol()
    raw = {"patient": PATIENT.model_dump(mode="json"), "plan": PLAN.model_dump(mode="json"),
           "ordered_by": "Dr. Rivera", "treatment_number": 3}
    order = parse_session_order(raw, "order.json", protocol)
    assert order.treatment_number == 3
    b = Bed()
    b.wf.load_order(order, now=b.now)
    assert b.wf.treatment_number == 3
    assert kinds(b, "treatment_number")[0].data == {"number": 3, "source": "order"}
    b.wf.set_treatment_number("4", now=b.now)
    assert b.wf.treatment_number == 4 and kinds(b, "treatment_number")[-1].data == {"number": 4, "source": "entered"}
    for bad in ("0", "100", "2.5", "three", "\u00b2"):
        with pytest.raises(WorkflowError, match="1 to 99"):
            b.wf.set_treatment_number(bad, now=b.now)
    for bad in (0, 2.5, "3", True):
        with pytest.raises(SessionOrderError, match="treatment_number"):
            parse_session_order({**raw, "treatment_number": bad}, "order.json", protocol)


def test_a_typed_time_of_day_is_session_time():
    b = Bed()
    import datetime as dt

    wall = dt.datetime.fromtimestamp(b.clock.wall())
    ten_min_ago = (wall - dt.timedelta(minutes=10)).strftime("%H:%M")
    at = b.wf.session_time_of(ten_min_ago, now=b.now)
    assert b.now - at == pytest.approx(600 + wall.second + wall.microsecond / 1e6, abs=1)
    assert b.wf.session_time_of("", now=b.now) == b.now
    with pytest.raises(WorkflowError, match="HH:MM"):
        b.wf.session_time_of("25:00", now=b.now)


# ---------------------------------------------------------------- the record
def test_every_documentation_event_reaches_the_session_record_with_its_fields(tmp_path):
    """Through the recorder as the console attaches it: the events table holds each kind with
    its user and its data, as docs/recording.md ("Documentation events") gives them."""
    import sqlite3

    from console.recording.recorder import Recorder

    b = Bed()
    rec = Recorder(tmp_path / "session.sqlite", b.clock, background=False)  # written on tick, not a thread
    rec.attach(b.session, b.engine)
    rec.attach_workflow(b.wf)
    answer_all(b)
    b.wf.set_plan(PLAN, now=b.now)
    b.wf.pump_checked("Nurse Lee", now=b.now)
    b.wf.set_treatment_number(2, now=b.now)
    b.wf.record_side_effect("vomiting", "mild", now=b.now)
    b.wf.record_intervention("ondansetron", 4, "mg", "IV", now=b.now)
    b.wf.score_discharge(ALDRETE_9, now=b.now)
    b.wf.acknowledge_driving_restriction(now=b.now)
    b.wf.acknowledge_written_instructions(now=b.now)
    b.clock.advance(1.5)
    rec.tick(b.clock.now())
    assert rec.close()
    with sqlite3.connect(tmp_path / "session.sqlite") as conn:
        rows = conn.execute("SELECT kind, user, data FROM events").fetchall()
    got = {kind: (user, json.loads(data)) for kind, user, data in rows}
    for kind in ("checklist_answer", "pump_checked", "treatment_number", "side_effect", "intervention",
                 "discharge_score", "driving_restriction", "written_instructions"):
        assert got[kind][0] == "Nurse Kim", kind
    assert got["intervention"][1]["drug"] == "ondansetron" and got["intervention"][1]["route"] == "IV"
    assert got["discharge_score"][1]["items"] == ALDRETE_9 and got["discharge_score"][1]["met"] is True
    assert got["pump_checked"][1]["checked_by"] == "Nurse Lee"
    assert sum(1 for kind, _, _ in rows if kind == "checklist_answer") == 6


def test_side_effects_and_drugs_given_are_drawn_on_the_trends():
    """Beside the vitals they explain: the session's events (the trends' lines) hold them."""
    b = Bed()
    b.clock.advance(600)
    b.wf.record_side_effect("nausea", "moderate", now=b.now)
    texts = [e.text for e in b.wf.session.events if e.kind == "note"]
    assert any(text.startswith("Side effect: nausea") for text in texts), texts
