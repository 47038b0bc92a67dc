"""The treatment course (console.report.course, course_find, course_cmd): three whole simulated
sessions of one patient a week apart (tests/course_bed.py: the dose, the BP and HR response, the
scores and the documentation differ), a copy under the same patient ID with another name, and a
file that is not a session.

Every per-session figure is checked against values read straight from each session file with
sqlite3 (the samples, events and alarm_episodes tables), not through the code under test. The
course PDF is read back with pdftotext: every session's row is in it."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections import Counter
from pathlib import Path

import pytest

from console import course_cmd
from console.report.course import MIN_TREND, course_table, trend_words
from console.report.course_find import CourseRefused, find_course, read_course_file
from course_bed import OTHER_NAME, shared_course
from test_report import info, text_of

PATIENT = "SIM-0001"


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory) -> Path:
    return shared_course(tmp_path_factory)


@pytest.fixture(scope="module")
def course(course_dir):
    return find_course(PATIENT, [course_dir, course_dir / "not-there"])


def recorded(path: Path) -> dict:
    """The figures of one session, read from the file with plain SQL."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        events = [(t, kind, json.loads(d) if d else {}) for t, kind, d in
                  conn.execute("SELECT t, kind, data FROM events ORDER BY t, rowid")]
        start = next(t for t, kind, d in events if kind == "phase" and d["phase"] == "infusion")
        end = next(t for t, kind, d in events if kind == "phase" and d["phase"] == "recovery")
        baseline = next(d for _t, kind, d in events if kind == "baseline")

        def peak(metric: str) -> float:
            return conn.execute("SELECT max(value) FROM samples WHERE metric = ? AND t >= ?",
                                (metric, start)).fetchone()[0]

        def scores(item: str) -> list[tuple[float, int]]:
            return [(t, d["value"]) for t, kind, d in events if kind == "chart" and d["item"] == item]

        def last(metric: str) -> float:
            return conn.execute("SELECT value FROM samples WHERE metric = ? ORDER BY t DESC LIMIT 1",
                                (metric,)).fetchone()[0]

        vi, conc = last("PUMP_VI"), last("PUMP_CONC")
        plan = json.loads(conn.execute("SELECT data FROM plan ORDER BY rowid DESC LIMIT 1").fetchone()[0])
        alarms = Counter(h for k, h in conn.execute("SELECT key, highest FROM alarm_episodes")
                         if not k.startswith("SELFTEST"))
        peak_sbp, peak_hr = peak("NIBP_SYS"), peak("HR")
    finally:
        conn.close()
    gad7 = scores("gad7")
    return {"sbp_rise": peak_sbp - baseline["systolic"], "peak_sbp": peak_sbp, "hr_rise": peak_hr - baseline["hr"],
            "mg": vi * conc, "mg_per_kg": vi * conc / plan["weight_kg"],
            "cadss": max(v for _, v in scores("cadss")), "moaas": min(v for _, v in scores("moaas")),
            "gad7_before": [v for t, v in gad7 if t <= start][-1], "gad7_after": [v for t, v in gad7 if t >= end][-1],
            "alarms": {p: alarms.get(p, 0) for p in ("high", "medium", "low")}}


def test_the_course_holds_the_patients_sessions_in_order_with_their_numbers(course, course_dir):
    assert course.patient == "Alex Morgan (ID SIM-0001, born 1986-04-12)"
    assert [cs.summary.path.name for cs in course.sessions] == ["session-01.sqlite", "session-02.sqlite",
                                                                 "session-03.sqlite"]
    # 1 and 3 entered by the nurse; 2 was not recorded, so it is counted by its place
    assert [(cs.number, cs.numbered_by_order) for cs in course.sessions] == [(1, False), (2, True), (3, False)]
    assert [cs.summary.started.strftime("%Y-%m-%d") for cs in course.sessions] == \
        ["2026-01-01", "2026-01-08", "2026-01-15"]
    assert course.simulated
    assert course.searched == (f"{course_dir} (5 session files)", f"{course_dir / 'not-there'} (no such directory)")


def test_each_sessions_figures_are_the_recorded_ones(course):
    for cs in course.sessions:
        s, want = cs.summary, recorded(cs.summary.path)
        assert s.delivered_mg == pytest.approx(want["mg"]) and s.delivered_mg_per_kg == pytest.approx(want["mg_per_kg"])
        assert s.peak_sbp == want["peak_sbp"] and s.sbp_rise == want["sbp_rise"]
        assert s.hr_rise == pytest.approx(want["hr_rise"])
        assert (s.cadss_max, s.moaas_min, s.gad7_before, s.gad7_after) == \
            (want["cadss"], want["moaas"], want["gad7_before"], want["gad7_after"])
        assert s.alarms == want["alarms"] and s.discharged
    # and the doses are the ones each session was given (0.5, 0.6, 0.75 mg/kg of 70 kg)
    assert [round(cs.summary.delivered_mg, 1) for cs in course.sessions] == [35.0, 42.0, 52.5]
    assert [cs.summary.gad7_before for cs in course.sessions] == [16, 13, 10]
    first = course.sessions[0].summary
    assert first.side_effects == ("nausea (moderate)",) and first.interventions == ("ondansetron 4 mg IV",)
    assert first.alarms["high"] == 1  # the desaturation in recovery
    assert course.sessions[1].summary.side_effects == () and course.sessions[1].summary.alarms["high"] == 0


def test_the_table_shows_every_figure(course):
    rows = course_table(course).rows
    for cs, row in zip(course.sessions, rows, strict=True):
        want = recorded(cs.summary.path)
        assert row[2] == f"{want['mg']:.1f} mg ({want['mg_per_kg']:.2f} mg/kg)"
        assert row[3] == f"{want['peak_sbp']:.0f} ({want['sbp_rise']:+.0f})"
        assert row[5:8] == (str(want["cadss"]), str(want["moaas"]), f"{want['gad7_before']} / {want['gad7_after']}")
        assert row[9] == " / ".join(str(want["alarms"][p]) for p in ("high", "medium", "low"))
    assert rows[0][0] == "1" and rows[1][0] == "2 *"
    assert rows[0][8] == "nausea (moderate); given ondansetron 4 mg IV" and rows[1][8] == "none recorded"


def test_another_person_under_the_same_id_is_refused_and_named_and_a_damaged_file_listed(course, course_dir):
    assert [r.path.name for r in course.refused] == ["session-other.sqlite"]
    why = course.refused[0].why
    assert OTHER_NAME in why and "born 1986-04-12" in why and "not merged" in why
    assert [r.path.name for r in course.damaged] == ["session-broken.sqlite"]
    assert len(course.sessions) == 3  # nothing of the other person's session in the course


def test_the_trends_are_stated_from_first_last_and_slope_and_never_from_too_few(course):
    words = {t.key: t.words for t in course.trends}
    assert "16 at the first" in words["gad7_before"] and "10 at the last" in words["gad7_before"]
    assert "slope -3 per session over 3 sessions: falling" in words["gad7_before"]
    assert "slope -2 per session over 3 sessions: falling" in words["gad7_after"]
    rises = [cs.summary.sbp_rise for cs in course.sessions]
    assert rises[0] > rises[-1] and words["sbp_rise"].endswith("settling.")
    assert "higher" in words["dose"]
    few = trend_words("GAD-7", "", (14.0, None, 6.0), "falling", "rising", 0.5)
    assert "too few to speak of a trend" in few and "falling" not in few and MIN_TREND == 3
    assert "no clear change" in trend_words("GAD-7", "", (10.0, 12.0, 10.0), "falling", "rising", 0.5)


def test_a_course_file_lists_the_sessions(course_dir, tmp_path):
    listed = tmp_path / "course.json"
    listed.write_text(json.dumps({"format": "infusion-console-course", "patient_id": PATIENT,
                                  "sessions": [str(course_dir / "session-03.sqlite"), "missing.sqlite"]}))
    assert read_course_file(listed, PATIENT)[1] == tmp_path / "missing.sqlite"  # relative to the course file
    c = find_course(PATIENT, course_file=listed)
    assert [cs.number for cs in c.sessions] == [3] and [r.path.name for r in c.damaged] == ["missing.sqlite"]
    assert c.searched == (f"course file {listed} (2 session files listed)",)
    assert "1 session with a value (10)" in c.trends[0].words  # one session: no trend claimed
    with pytest.raises(CourseRefused, match="patient OTHER-1, not SIM-0001"):
        listed.write_text(json.dumps({"format": "infusion-console-course", "patient_id": "OTHER-1", "sessions": []}))
        read_course_file(listed, PATIENT)
    listed.write_text("[1, 2]")
    assert course_cmd.main([PATIENT, "--course-file", str(listed)]) == 2


def test_the_command_prints_the_course(course_dir, capsys):
    assert course_cmd.main([PATIENT, "--dir", str(course_dir)]) == 1  # 1: a file was refused, one damaged
    out, err = capsys.readouterr()
    assert "Treatment course of Alex Morgan" in out and "Searched:" in out
    for line in ("1          2026-01-01 09:00  35.0 mg (0.50 mg/kg)",
                 "2 *        2026-01-08 09:00  42.0 mg (0.60 mg/kg)",
                 "3          2026-01-15 09:00  52.5 mg (0.75 mg/kg)"):
        assert line in out
    assert "refused" in err and OTHER_NAME in err and "session-broken.sqlite" in err
    assert "Traceback" not in err


def test_the_command_refuses_in_one_line(course_dir, tmp_path, capsys):
    assert course_cmd.main(["NOBODY", "--dir", str(course_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("course: no session of patient NOBODY found; searched:") and err.count("\n") == 1
    out = tmp_path / "exists.pdf"
    out.write_text("keep")
    assert course_cmd.main([PATIENT, "--dir", str(course_dir), "--out", str(out)]) == 2
    link = tmp_path / "link.pdf"
    link.symlink_to(tmp_path / "elsewhere.pdf")
    assert course_cmd.main([PATIENT, "--dir", str(course_dir), "--out", str(link), "--force"]) == 2
    assert out.read_text() == "keep" and not (tmp_path / "elsewhere.pdf").exists()
    assert course_cmd.main([PATIENT, "--bogus"]) == 2


def test_the_course_pdf_holds_every_session_row(course_dir, course, tmp_path, artifacts_dir):
    from test_report import pages_png

    pdf = tmp_path / "course.pdf"
    assert course_cmd.main([PATIENT, "--dir", str(course_dir), "--out", str(pdf), "--paper", "letter"]) == 1
    assert stat.S_IMODE(os.stat(pdf).st_mode) == 0o600
    text = text_of(pdf)
    for row in course_table(course).rows:
        for cell in row:
            assert " ".join(cell.split()) in text, cell
    assert "TRAINING SIMULATION" in text and "Trends across the course" in text
    assert "falling" in text and "settling" in text and OTHER_NAME in text and "session-broken.sqlite" in text
    pages = int(info(pdf)["Pages"])
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "612 x 792" in info(pdf)["Page size"]  # Letter
    pngs = pages_png(pdf, artifacts_dir / "course")
    assert len(pngs) == pages


def test_the_course_pdf_is_drawn_with_no_display_and_carries_the_watermark(course_dir, tmp_path):
    # A fresh interpreter with no display and no Qt platform named; a course file of one session
    # (quick to read); the training session's pages carry the SIMULATION watermark.
    import subprocess
    import sys

    from test_report import pages_png, reddish_pixels

    listed = tmp_path / "one.json"
    listed.write_text(json.dumps({"format": "infusion-console-course",
                                  "sessions": [str(course_dir / "session-01.sqlite")]}))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = tmp_path / "headless.pdf"
    done = subprocess.run([sys.executable, "-c", "import sys; from console.course_cmd import main; "
                           "sys.exit(main(sys.argv[1:]))", PATIENT, "--course-file", str(listed), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"course: wrote {out} (1 session") and done.stderr.count("\n") == 1
    text = text_of(out)
    assert "35.0 mg (0.50 mg/kg)" in text and "too few to speak of a trend" in text
    assert reddish_pixels(pages_png(out, tmp_path / "pages")[0]) > 500
