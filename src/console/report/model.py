"""``build_report``: the whole chart of one session from its file read back, in the order a
clinic's session chart lists it (CLINICAL.md section 8), with the list of what is missing.

Missing is said, never papered over: a record never closed or resumed after a crash, gaps, a
phase the session never reached, a score not charted, a sign-off not given, and the nurse's
documentation the record does not hold (console.report.events says why)."""

from __future__ import annotations

from console.recording.replay import Review
from console.report.alarms import alarms_section
from console.report.chart import ChartReport, Fact, Section, Table, TrendPlot
from console.report.documentation import documentation_sections
from console.report.dosing import dose_section, dose_summary, plan_section
from console.report.events import NOT_RECORDED, absent, first
from console.report.observations import (
    baseline_section,
    charting_section,
    phase_marks,
    trend_plots,
    vitals_section,
)
from console.report.sessions import (
    SessionTimes,
    header,
    identity_section,
    people_section,
    record_problems,
    session_times,
    times_section,
)
from console.report.signoff import discharge_section

__all__ = ["ChartReport", "Fact", "Section", "Table", "TrendPlot", "build_report"]

PHASE_WORDS = (("infusion_start", "The infusion never started in this record."),
               ("infusion_end", "The infusion's end is not in the record (recovery never began)."),
               ("discharge_check", "The recovery observation did not reach its end (no discharge check)."),
               ("discharged", "No discharge: the clinician's sign-off is not in the record."))


def missing(review: Review, times: SessionTimes, sections: tuple[Section, ...]) -> tuple[str, ...]:
    out = record_problems(review)
    out += [words for attr, words in PHASE_WORDS if getattr(times, attr) is None]
    if not review.meta.get("site_name"):
        out.append(f"Clinic: {NOT_RECORDED}.")
    for what, kind in (("Treatment number in the course", "treatment_number"),
                       ("Pump programme checked by a second person", "pump_checked")):
        if first(review, kind) is None:
            out.append(f"{what}: {absent(review)}.")
    if review.patient is None:
        out.append("No patient identified in the record.")
    for s in sections:
        if s.key == "charting":
            out += [f"{n}." for n in s.notes]
        elif s.absent and s.key != "discharge":  # the discharge's absence is said with the phases above
            out.append(f"{s.title}: {s.absent}.")
    return tuple(out)


def build_report(review: Review) -> ChartReport:
    times = session_times(review)
    dose = dose_summary(review)
    sections = (identity_section(review), times_section(review, times), plan_section(review, times),
                dose_section(review, dose), baseline_section(review), vitals_section(review),
                charting_section(review), alarms_section(review), discharge_section(review),
                *documentation_sections(review), people_section(review))
    simulated = bool(review.meta.get("simulated"))
    title = ("TRAINING SIMULATION: " if simulated else "") + "Ketamine infusion session chart"
    return ChartReport(title, simulated, header(review), sections, trend_plots(review), phase_marks(review),
                       (review.start, review.end), missing(review, times, sections),
                       tuple((g.start, g.end) for g in review.gaps))
