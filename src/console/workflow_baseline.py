"""The baseline (CLINICAL.md sections 2 and 4): the last cuff reading before the pump first runs
and the mean HR/SpO2 of the minute before, the checks before the start, and the recorded reason
for going ahead despite a raised baseline BP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from console import advisories as adv
from console.charting import ChartEntry
from console.clinical import ClinicalProtocol
from console.clock import Clock
from console.discharge import Criterion
from console.session import NibpReading, Session
from console.session_checks import latest_valid_cuff
from console.workflow_errors import require_reason
from console.workflow_record import Journal, fmt_time


@dataclass(frozen=True)
class Baseline:
    """The last cuff reading before the pump first runs and the mean HR/SpO2 of the minute
    before (CLINICAL.md section 4). ``fixed`` once the pump has run; before that it is what
    the baseline would be if the pump started now."""

    nibp: NibpReading | None
    hr: float | None
    spo2: float | None
    hr_metric: str  # "HR", or "PR" when there is no ECG
    at: float  # the end of the window (the pump's first RUNNING once fixed)
    hr_covered: bool  # a full minute of values
    spo2_covered: bool
    fixed: bool


def mean_window(session: Session, metric: str, t_end: float, window_s: float) -> tuple[float | None, bool]:
    """Mean of a trend's values in (t_end - window, t_end], and whether they cover the window
    (first value within 2 s of its start, no gap longer than the stale time)."""
    series = session.trends.get(metric)
    if series is None or series.count == 0:
        return None, False
    t, v = series.data()
    lo = int(np.searchsorted(t, t_end - window_s, side="right"))
    hi = int(np.searchsorted(t, t_end, side="right"))
    t, v = t[lo:hi], v[lo:hi]
    ok = ~np.isnan(v)
    t, v = t[ok], v[ok]
    if not len(v):
        return None, False
    gaps = np.diff(np.concatenate(([t_end - window_s], t, [t_end])))
    covered = bool(t[0] <= t_end - window_s + 2.0 and gaps.max() <= session.stale_after("vitals"))
    return float(v.mean()), covered


def baseline_text(b: Baseline) -> str:
    bp = f"BP {b.nibp.systolic}/{b.nibp.diastolic}" if b.nibp else "no cuff reading"
    hr = f"{b.hr_metric} {b.hr:.0f}" if b.hr is not None else f"no {b.hr_metric}"
    spo2 = f"SpO2 {b.spo2:.0f} %" if b.spo2 is not None else "no SpO2"
    return f"Baseline: {bp}, {hr}, {spo2}"


class BaselineKeeper:
    """The baseline as it stands (until fixed at the infusion's start) and the BP reason."""

    def __init__(self, protocol: ClinicalProtocol, session: Session, journal: Journal, clock: Clock) -> None:
        self.protocol = protocol
        self.session = session
        self.journal = journal
        self.clock = clock
        self.fixed: Baseline | None = None
        self.bp_reason: str | None = None  # why the session proceeded despite baseline BP

    def at(self, t_end: float, fixed: bool) -> Baseline:
        s = self.session
        window = self.protocol.phases.baseline_min_spo2_hr_s
        cuff = latest_valid_cuff(s, t_end)  # a cuff that could not finish is no baseline
        hr_metric = s.heart_rate_source()
        hr, hr_ok = mean_window(s, hr_metric, t_end, window)
        spo2, spo2_ok = mean_window(s, "SPO2", t_end, window)
        return Baseline(cuff, hr, spo2, hr_metric, t_end, hr_ok, spo2_ok, fixed)

    def current(self, now: float | None) -> Baseline:
        """The fixed baseline once the pump has run; before that, the baseline as of now."""
        if self.fixed is not None:
            return self.fixed
        return self.at(self.clock.now() if now is None else now, fixed=False)

    def fix(self, t: float) -> Baseline:
        """The infusion started at ``t``: the baseline stays as it stood then."""
        self.fixed = self.at(t, fixed=True)
        return self.fixed

    def record(self, b: Baseline, user: str) -> None:
        """The baseline goes on the record at the end of its window (the infusion's start)."""
        self.journal.record(b.at, "baseline", baseline_text(b), user,
                            {"systolic": b.nibp.systolic if b.nibp else None,
                             "diastolic": b.nibp.diastolic if b.nibp else None,
                             "hr": b.hr, "hr_metric": b.hr_metric, "spo2": b.spo2})

    def checks(self, now: float, gad7: ChartEntry | None) -> list[Criterion]:
        """Before the start (CLINICAL.md section 2): a cuff pressure, a minute of SpO2 and HR,
        BP below 140/90 or a recorded reason, baseline GAD-7 (``gad7``: the one charted before
        the start, if any)."""
        b = self.current(now)
        window = self.protocol.phases.baseline_min_spo2_hr_s
        limit = self.protocol.phases.baseline_bp_advisory
        out = [Criterion("Cuff pressure taken", b.nibp is not None,
                         f"{b.nibp.systolic}/{b.nibp.diastolic} mmHg, {fmt_time(now - b.nibp.taken_at)} ago"
                         if b.nibp else "no cuff reading yet")]
        max_age = self.protocol.phases.baseline_cuff_max_age_min
        age = (b.at - b.nibp.taken_at) if b.nibp else None
        out.append(Criterion(f"Cuff pressure at most {max_age:g} min old", None if age is None else age <= max_age * 60,
                             "no cuff reading yet" if age is None else f"{fmt_time(age)} old at "
                             + ("the start" if b.fixed else "this moment")
                             + ("" if age <= max_age * 60 else ": take a new one before the start")))
        for label, value, ok, unit in ((b.hr_metric, b.hr, b.hr_covered, "/min"),
                                       ("SpO2", b.spo2, b.spo2_covered, "%")):
            detail = f"mean {value:.0f} {unit}" if value is not None else "no values"
            out.append(Criterion(f"{window:g} s of {label}", ok,
                                 detail + ("" if ok else f" (needs {window:g} s without a gap)")))
        if b.nibp is None:
            out.append(Criterion(f"BP below {limit.systolic:g}/{limit.diastolic:g}", None, "no cuff reading yet"))
        elif adv.bp_at_or_above(b.nibp, self.protocol):
            out.append(Criterion(f"BP below {limit.systolic:g}/{limit.diastolic:g}", self.bp_reason is not None,
                                 f"{b.nibp.systolic}/{b.nibp.diastolic}: "
                                 + (f"proceeding because {self.bp_reason}" if self.bp_reason
                                    else "consider delaying; proceeding needs a reason")))
        else:
            out.append(Criterion(f"BP below {limit.systolic:g}/{limit.diastolic:g}", True,
                                 f"{b.nibp.systolic}/{b.nibp.diastolic}"))
        out.append(Criterion("Baseline GAD-7", gad7 is not None, gad7.text() if gad7 else "not charted"))
        return out

    def proceed_despite_bp(self, reason: str, now: float, who: str) -> None:
        why = require_reason(reason, "Proceeding despite a raised baseline BP")
        self.bp_reason = why
        b = self.current(now)
        bp = f"{b.nibp.systolic}/{b.nibp.diastolic}" if b.nibp else "unknown"
        self.journal.record(now, "proceed_despite_bp", f"Proceeding despite baseline BP {bp}: {why}", who,
                            {"reason": why, "bp": bp}, on_trends=True)
