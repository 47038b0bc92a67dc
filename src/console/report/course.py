"""The treatment course: one patient's sessions side by side (CLINICAL.md section 8: "across a
course, clinicians compare per session: dose, peak SBP and HR rise over baseline, highest CADSS,
GAD-7 before and after, side effects"), and the trends a clinician looks for.

``summarize(review)`` is the one per-session summary: the course PDF, the ``course`` command's
table and the review window's course view all show these figures, computed here once, from the
report's own readers (console.report.dosing for the dose, console.report.sessions for the
phases, console.report.events for the documentation). Qt-free.

The trends are described, never overclaimed: first and last value and a least-squares slope per
session; with fewer than three sessions holding a value the words say that is too few."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from console.recording.replay import Review
from console.report.chart import Table
from console.report.dosing import dose_summary
from console.report.events import data_of, first, last, of_kind
from console.report.sessions import session_times
from console.session_checks import valid_cuff

PRIORITIES = ("high", "medium", "low")
MIN_TREND = 3  # fewer sessions than this holding a value: no trend is stated


@dataclass(frozen=True)
class SessionSummary:
    """One session's figures for the course. None where the record does not hold the value."""

    path: Path
    started: dt.datetime  # local wall-clock time of the record's start
    recorded_number: int | None  # the treatment number the nurse or the order recorded
    simulated: bool
    planned_mg: float | None
    delivered_mg: float | None  # console.report.dosing (the pump panel's own figure)
    delivered_mg_per_kg: float | None
    dose_words: str  # what the delivered figure rests on, or why it is not known
    baseline_sbp: float | None
    peak_sbp: float | None  # the highest valid cuff systolic from the infusion's start to the record's end
    baseline_hr: float | None
    peak_hr: float | None  # the highest recorded HR (or PR) value in the same span
    cadss_max: int | None
    moaas_min: int | None
    gad7_before: int | None  # the last charted before the infusion started
    gad7_after: int | None  # the last charted after the infusion ended
    side_effects: tuple[str, ...]
    interventions: tuple[str, ...]
    alarms: dict[str, int]  # episodes by highest priority (the start-up self-test left out)
    discharged: bool
    problems: tuple[str, ...]  # a crash, damage: the figures rest on what was readable

    @property
    def sbp_rise(self) -> float | None:
        return None if self.peak_sbp is None or self.baseline_sbp is None else self.peak_sbp - self.baseline_sbp

    @property
    def hr_rise(self) -> float | None:
        return None if self.peak_hr is None or self.baseline_hr is None else self.peak_hr - self.baseline_hr


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _scores(review: Review, item: str) -> list[tuple[float, int]]:
    out = []
    for ev in of_kind(review, "chart"):
        d = data_of(ev)
        value = _number(d.get("value"))
        if d.get("item") == item and value is not None:
            out.append((ev.time, int(value)))
    return out


def _peak_hr(review: Review, metric: str, start: float) -> float | None:
    trend = review.session.trends.get(metric)
    if trend is None or not trend.count:
        return None
    t, v = trend.data()
    after = v[(t >= start) & np.isfinite(v)]
    return float(after.max()) if after.size else None


def _side_effect_words(review: Review) -> tuple[str, ...]:
    out = []
    for ev in of_kind(review, "side_effect"):
        d = data_of(ev)
        label = d.get("description") if d.get("kind") == "other" else d.get("label")
        out.append(f"{label} ({d['severity']})" if label and d.get("severity") else ev.text)
    return tuple(out)


def _intervention_words(review: Review) -> tuple[str, ...]:
    out = []
    for ev in of_kind(review, "intervention"):
        d = data_of(ev)
        dose = _number(d.get("dose"))
        out.append(f"{d['drug']} {dose:g} {d.get('unit', '')} {d.get('route', '')}".strip()
                   if d.get("drug") and dose is not None else ev.text)
    return tuple(out)


def summarize(review: Review) -> SessionSummary:
    times = session_times(review)
    dose = dose_summary(review)
    baseline = first(review, "baseline")
    b = data_of(baseline) if baseline else {}
    start = times.infusion_start
    base_sbp = _number(b.get("systolic"))
    peaks = [r.systolic for r in review.session.nibp_history
             if start is not None and r.taken_at >= start and valid_cuff(r)]
    base_hr = _number(b.get("hr"))
    gad7 = _scores(review, "gad7")
    before = [v for t, v in gad7 if start is None or t <= start]
    after = [v for t, v in gad7 if times.infusion_end is not None and t >= times.infusion_end]
    cadss, moaas = _scores(review, "cadss"), _scores(review, "moaas")
    number = last(review, "treatment_number")
    recorded = _number(data_of(number).get("number")) if number else None
    alarms: Counter[str] = Counter(str(a.highest) for a in review.episodes if not a.key.startswith("SELFTEST"))
    problems = (("the record was never closed (the console stopped)",) if review.crashed else ()) + tuple(
        f"damaged: {d}" for d in review.damage)
    return SessionSummary(
        review.path, review.wall(review.start), int(recorded) if recorded is not None else None,
        bool(review.meta.get("simulated")), dose.planned_mg, dose.figure.mg, dose.delivered_mg_per_kg,
        dose.figure.words, base_sbp, float(max(peaks)) if peaks and base_sbp is not None else None, base_hr,
        _peak_hr(review, str(b.get("hr_metric") or "HR"), start) if start is not None and base_hr is not None
        else None,
        max(v for _, v in cadss) if cadss else None, min(v for _, v in moaas) if moaas else None,
        before[-1] if before else None, after[-1] if after else None,
        _side_effect_words(review), _intervention_words(review),
        {p: alarms.get(p, 0) for p in PRIORITIES}, times.discharged is not None, problems)


# ------------------------------------------------------------------------------ the course
@dataclass(frozen=True)
class Refused:
    path: Path
    why: str  # in words, naming the person the file holds


@dataclass(frozen=True)
class CourseSession:
    number: int  # the treatment number: recorded, else the session's place in the course
    numbered_by_order: bool
    summary: SessionSummary


@dataclass(frozen=True)
class Trend:
    key: str
    label: str
    unit: str
    values: tuple[float | None, ...]  # one per session, in the course's order
    words: str


@dataclass(frozen=True)
class Course:
    patient_id: str
    patient: str  # the patient as the accepted sessions name them
    sessions: tuple[CourseSession, ...]
    searched: tuple[str, ...]  # the directories searched, or the course file, in words
    refused: tuple[Refused, ...] = ()
    damaged: tuple[Refused, ...] = ()  # files that could not be read at all
    trends: tuple[Trend, ...] = field(default=())

    @property
    def simulated(self) -> bool:
        return any(s.summary.simulated for s in self.sessions)


def number_sessions(summaries: list[SessionSummary]) -> tuple[CourseSession, ...]:
    """In the order of their start; a session without a recorded number is counted by its place."""
    ordered = sorted(summaries, key=lambda s: s.started)
    return tuple(CourseSession(s.recorded_number if s.recorded_number is not None else i + 1,
                               s.recorded_number is None, s) for i, s in enumerate(ordered))


def _fmt(value: float | None, unit: str = "") -> str:
    return "not recorded" if value is None else f"{value:.3g}{(' ' + unit) if unit else ''}"


def trend_words(label: str, unit: str, values: tuple[float | None, ...], falling: str, rising: str,
                steady_within: float) -> str:
    """First against last and the least-squares slope per session, over the sessions holding a
    value; "too few" under MIN_TREND of them. ``steady_within``: a slope smaller than this per
    session is called no clear change. A description of these sessions, not a statistical test."""
    held = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(held) < MIN_TREND:
        shown = ", ".join(_fmt(v, unit) for _, v in held) or "none recorded"
        return (f"{label}: {len(held)} session{'s' if len(held) != 1 else ''} with a value ({shown}); "
                f"too few to speak of a trend (at least {MIN_TREND} needed).")
    x = np.array([i for i, _ in held], dtype=float)
    y = np.array([v for _, v in held], dtype=float)
    slope = float(np.polyfit(x, y, 1)[0])
    first_v, last_v = held[0][1], held[-1][1]
    if slope <= -steady_within and last_v < first_v:
        verdict = falling
    elif slope >= steady_within and last_v > first_v:
        verdict = rising
    else:
        verdict = "no clear change"
    return (f"{label}: {_fmt(first_v, unit)} at the first session with a value, {_fmt(last_v, unit)} at the last; "
            f"least-squares slope {slope:+.2g}{(' ' + unit) if unit else ''} per session over {len(held)} sessions: "
            f"{verdict}.")


# (key, label, unit, value of a summary, words when falling, when rising, a steady slope per session)
TRENDS = (
    ("gad7_before", "GAD-7 before the infusion", "", lambda s: s.gad7_before, "falling", "rising", 0.5),
    ("gad7_after", "GAD-7 after the infusion", "", lambda s: s.gad7_after, "falling", "rising", 0.5),
    ("sbp_rise", "Peak systolic rise over baseline (BP response)", "mmHg", lambda s: s.sbp_rise,
     "settling", "growing", 1.0),
    ("dose", "Dose delivered", "mg/kg", lambda s: s.delivered_mg_per_kg, "lower", "higher", 0.01),
)


def course_trends(sessions: tuple[CourseSession, ...]) -> tuple[Trend, ...]:
    out = []
    for key, label, unit, value, falling, rising, steady in TRENDS:
        values = tuple(None if (v := value(s.summary)) is None else float(v) for s in sessions)
        out.append(Trend(key, label, unit, values, trend_words(label, unit, values, falling, rising, steady)))
    return tuple(out)


# ------------------------------------------------------------------------------ the table all views show
HEADINGS = ("Treatment", "Date", "Dose delivered", "SBP peak (rise)", "HR peak (rise)", "CADSS highest",
            "MOAA/S lowest", "GAD-7 before / after", "Side effects and interventions", "Alarms high / med. / low")
NUMBERED_BY_ORDER = "numbered by its place in the course: the record holds no treatment number"


def session_cells(cs: CourseSession) -> tuple[str, ...]:
    s = cs.summary
    if s.delivered_mg is None:
        dose = f"not known ({s.dose_words or 'no pump volume in the record'})"
    else:
        dose = f"{s.delivered_mg:.1f} mg" + (f" ({s.delivered_mg_per_kg:.2f} mg/kg)"
                                             if s.delivered_mg_per_kg is not None else "")
    sbp = "not recorded" if s.sbp_rise is None else f"{s.peak_sbp:.0f} ({s.sbp_rise:+.0f})"
    hr = "not recorded" if s.hr_rise is None or s.peak_hr is None else f"{s.peak_hr:.0f} ({s.hr_rise:+.0f})"
    gad = " / ".join("-" if v is None else str(v) for v in (s.gad7_before, s.gad7_after))
    effects = "; ".join(s.side_effects + tuple(f"given {i}" for i in s.interventions)) or "none recorded"
    number = f"{cs.number}" + (" *" if cs.numbered_by_order else "")
    date = s.started.strftime("%Y-%m-%d %H:%M") + ("" if s.discharged else " (not discharged)")
    return (number, date, dose, sbp, hr, "-" if s.cadss_max is None else str(s.cadss_max),
            "-" if s.moaas_min is None else str(s.moaas_min), gad, effects,
            " / ".join(str(s.alarms.get(p, 0)) for p in PRIORITIES))


def course_table(course: Course) -> Table:
    return Table(HEADINGS, tuple(session_cells(cs) for cs in course.sessions),
                 f"Sessions of {course.patient}", empty="no session of this patient found",
                 widths=(9, 9, 11, 8, 8, 7, 7, 8, 21, 12))  # the side effects' words get the room


def left_out(course: Course) -> tuple[str, ...]:
    """The files not in the course and why: another person under the same ID, or not readable.
    Shown first, where a reader cannot miss them."""
    return tuple([f"REFUSED (not this patient): {r.path}: {r.why}." for r in course.refused]
                 + [f"Damaged, not read: {r.path}: {r.why}." for r in course.damaged])


def course_notes(course: Course) -> tuple[str, ...]:
    """What a reader needs beside the table: where it was looked for, what was refused or
    unreadable, what the figures rest on."""
    out = [f"Searched: {'; '.join(course.searched)}.", *left_out(course)]
    if any(cs.numbered_by_order for cs in course.sessions):
        out.append(f"* {NUMBERED_BY_ORDER}.")
    for cs in course.sessions:
        out += [f"Treatment {cs.number} ({cs.summary.path.name}): {p}." for p in cs.summary.problems]
    out.append("Rise over baseline: the highest valid cuff systolic and the highest recorded heart rate from the "
               "infusion's start to the end of the record, less the baseline fixed when the pump first ran. "
               "GAD-7 before: the last charted before the infusion; after: the last charted after it ended.")
    return tuple(out)
