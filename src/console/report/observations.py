"""What was observed and charted: the baseline, the vitals table (console.vitals_table, the
very rows the trends view shows and exports), the charted scores, notes and markers, and the
trend series the plots draw."""

from __future__ import annotations

import math

import numpy as np

from console.charting import SCALES
from console.recording.replay import Review
from console.report.chart import Fact, Section, Series, Table, TrendPlot
from console.report.events import data_of, of_kind
from console.report.when import stamp
from console.vitals_table import HEADINGS, row_cells, vitals_rows


def baseline_section(review: Review) -> Section:
    # A resumed run's workflow fixes a baseline of its own: every one recorded is shown.
    fixed = of_kind(review, "baseline")
    facts = [Fact("Baseline (when the pump first ran)", f"{ev.text} ({stamp(review, ev.time)}, {ev.user})")
             for ev in fixed] or [Fact("Baseline", "no baseline recorded: the infusion did not start in this record")]
    facts += [Fact("Proceeded despite baseline BP", f"{e.text} ({e.user}, {stamp(review, e.time)})")
              for e in of_kind(review, "proceed_despite_bp")]
    return Section("baseline", "Baseline", tuple(facts))


def vitals_section(review: Review) -> Section:
    rows = vitals_rows(review.session, review.end)
    table = Table(HEADINGS, tuple(row_cells(r) for r in rows),
                  "Every cuff reading, and the numerics every 5 minutes (a value older than its stale time "
                  "is left empty, never carried)", empty="no vital signs in the record", last_column_below=True)
    return Section("vitals", "Vital signs", tables=(table,))


def charting_section(review: Review) -> Section:
    charts = of_kind(review, "chart")
    scores = Table(("Time", "Score", "Value", "Meaning", "Phase", "By"),
                   tuple((stamp(review, e.time), str(data_of(e).get("label", e.text)),
                          str(data_of(e).get("value", "")), str(data_of(e).get("words", "")),
                          str(data_of(e).get("phase", "")), e.user or "") for e in charts),
                   "Scores charted", empty="no score charted")
    notes = Table(("Time", "Note or marker", "By"),
                  tuple((stamp(review, e.time), e.text if e.kind == "note" else f"[marker] {e.text}", e.user or "")
                        for e in of_kind(review, "note", "marker")),
                  "Notes and event markers", empty="no note or marker")
    charted = {str(data_of(e).get("item")) for e in charts}
    lacking = [f"{s.label} not charted" for key, s in SCALES.items() if key not in charted and key != "hama"]
    return Section("charting", "Charting", tables=(scores, notes), notes=tuple(lacking))


# (key, title, unit, [(metric, label)], axis low, axis high): the plots the chart holds
PLOTS = (("hr", "Heart rate", "/min", (("HR", "HR"), ("PR", "PR")), 40.0, 160.0),
         ("spo2", "SpO\u2082", "%", (("SPO2", "SpO\u2082"),), 80.0, 100.0),
         ("bp", "Blood pressure (cuff)", "mmHg", (), 40.0, 200.0),
         ("resp", "Respiration", "/min, mmHg", (("RR", "RR /min"), ("ETCO2", "EtCO\u2082 mmHg")), 0.0, 60.0),
         ("pump", "Pump rate", "mL/h", (("PUMP_RATE", "rate mL/h"),), 0.0, None))


def trend_plots(review: Review) -> tuple[TrendPlot, ...]:
    s = review.session
    out = []
    for key, title, unit, metrics, low, high in PLOTS:
        series: list[Series] = []
        for metric, label in metrics:
            trend = s.trends.get(metric)
            if trend is not None and trend.count:
                t, v = trend.data()
                series.append(Series(label, np.asarray(t, dtype=float), np.asarray(v, dtype=float)))
        if key == "bp" and s.nibp_history:
            t = np.array([n.taken_at for n in s.nibp_history], dtype=float)
            for label, attr in (("systolic", "systolic"), ("diastolic", "diastolic"), ("mean", "mean")):
                series.append(Series(label, t, np.array([getattr(n, attr) for n in s.nibp_history], dtype=float),
                                     points=True))
        out.append(TrendPlot(key, title, unit, tuple(series), *axis_range(series, low, high)))
    return tuple(out)


def axis_range(series: list[Series], low: float, high: float | None) -> tuple[float, float]:
    """The plot's fixed range, widened (in round steps) to hold every value: a heart rate of 180
    is drawn at 180, never flattened against the top of a 40-160 axis. ``high`` None: the
    pump's range follows its programme (a syringe at 2 mL/h is not a line along 0)."""
    finite = [x.values[np.isfinite(x.values)] for x in series]
    values = np.concatenate(finite) if finite else np.empty(0)
    peak = float(values.max()) if values.size else 0.0
    floor = float(values.min()) if values.size else low
    if high is None:
        return low, float(max(10, math.ceil(peak * 1.2 / 10) * 10))  # a round top: ticks at quarters
    step = (high - low) / 4
    while peak > high:
        high += step
    while floor < low:
        low -= step
    return low, high


def phase_marks(review: Review) -> tuple[tuple[float, str], ...]:
    return tuple((e.time, str(data_of(e).get("phase", ""))) for e in of_kind(review, "phase"))
