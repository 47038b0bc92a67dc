"""A treatment course for the course tests and bench: several whole simulated sessions of one
patient (tests/report_bed.py's session, documented as a nurse would), a week apart, each with
its own dose, BP and HR response, scores and documentation, so every per-session figure differs.

``SESSIONS`` says what each one was given; the tests derive the expected figures from the
recorded files themselves, not from these numbers."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from report_bed import WALL0, Bed, _scenario, whole_session

DAY = 86_400.0


@dataclass(frozen=True)
class CourseSession:
    dose_mg_per_kg: float
    sbp_rise: float  # the simulated patient's peak response (the recorded peak also has noise)
    hr_rise: float
    scores: dict[str, int]
    treatment_number: int | None  # entered by the nurse, or None (the course counts by order)
    nausea: bool = False  # a side effect and the drug given for it
    desaturation: bool = False  # raises SpO2 alarms in recovery


SESSIONS = (
    CourseSession(0.5, 34, 14, {"moaas_infusion": 3, "cadss_infusion": 26, "gad7_baseline": 16, "gad7_after": 9},
                  1, nausea=True, desaturation=True),
    CourseSession(0.6, 22, 9, {"moaas_infusion": 4, "cadss_infusion": 19, "gad7_baseline": 13, "gad7_after": 7},
                  None),
    CourseSession(0.75, 12, 5, {"moaas_infusion": 4, "cadss_infusion": 11, "gad7_baseline": 10, "gad7_after": 5},
                  3),
)
OTHER_NAME = "Alexa Morgan"  # the same patient ID, another person: refused


def scenario_of(spec: CourseSession):
    sc = _scenario()
    patient = sc.patient.model_copy(update={
        "response": sc.patient.response.model_copy(update={"sbp_rise": spec.sbp_rise, "hr_rise": spec.hr_rise})})
    return sc.model_copy(update={"plan": sc.plan.model_copy(update={"dose_mg_per_kg": spec.dose_mg_per_kg}),
                                 "patient": patient})


def course_session(path: Path, index: int, spec: CourseSession) -> Path:
    """Session ``index`` (0-based) of the course, ``index`` weeks after the first."""

    def document(b: Bed) -> None:
        if spec.treatment_number is not None:
            b.wf.set_treatment_number(spec.treatment_number, now=b.clock.now())
        if spec.nausea:
            b.wf.record_side_effect("nausea", "moderate", now=b.clock.now())
            b.wf.record_intervention("ondansetron", 4, "mg", "IV", indication="nausea", now=b.clock.now())

    return whole_session(path, wall0=WALL0 + index * 7 * DAY, scenario=scenario_of(spec), scores=spec.scores,
                         desaturation=spec.desaturation, during=document)


def record_course(directory: Path, sessions: tuple[CourseSession, ...] = SESSIONS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [course_session(directory / f"session-{i + 1:02d}.sqlite", i, spec) for i, spec in enumerate(sessions)]


def other_person(path: Path, into: Path, name: str = OTHER_NAME) -> Path:
    """A copy of a session file whose patient has the same ID and another name (a mix-up at the
    order): the course must refuse it, and name it."""
    shutil.copyfile(path, into)
    conn = sqlite3.connect(into)
    with conn:
        for rowid, data in conn.execute("SELECT rowid, data FROM patient").fetchall():
            conn.execute("UPDATE patient SET data = ? WHERE rowid = ?",
                         (json.dumps(json.loads(data) | {"name": name}), rowid))
    conn.close()
    return into


def shared_course(tmp_path_factory) -> Path:
    """The course's directory, recorded once per test run (the model and the window tests share
    it): the three sessions, one of another person under the same ID, and a damaged file."""
    directory = tmp_path_factory.getbasetemp() / "course"
    if (directory / "done").exists():
        return directory
    paths = record_course(directory)
    other_person(paths[1], directory / "session-other.sqlite")
    (directory / "session-broken.sqlite").write_bytes(b"not a session file at all" * 10)
    (directory / "done").write_text("")
    return directory
