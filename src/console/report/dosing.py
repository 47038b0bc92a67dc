"""The plan and the pump programme, every guardrail override with its reason, titrations, and
the dose delivered against the plan. The plan and its overrides are what the workflow recorded
when the plan was put in force; the delivered dose is console.pump_watch.delivered on the
session rebuilt from the file, the same figure the pump panel showed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from console.dose import DosePlan
from console.pump_watch import DoseFigure, ManualMark, delivered
from console.recording.replay import RecordedEvent, Review
from console.report.chart import Fact, Section, Table
from console.report.events import absent, data_of, first, last, of_kind
from console.report.sessions import SessionTimes
from console.report.when import stamp

# What the pump reported of its programme, each beside the plan's value for it.
PUMP_PROGRAMME = (("PUMP_RATE", "Rate", "mL/h", lambda p: p.rate_ml_per_h),
                  ("PUMP_CONC", "Concentration", "mg/mL", lambda p: p.concentration_mg_per_ml),
                  ("PUMP_VTBI", "Volume to be infused", "mL", lambda p: p.volume_ml),
                  ("PUMP_WEIGHT", "Weight", "kg", lambda p: p.dosing_weight_kg),
                  ("PUMP_DOSE_RATE", "Dose rate", "mg/kg/h", lambda p: p.dose_rate_mg_per_kg_per_h))


@dataclass(frozen=True)
class DoseSummary:
    planned_mg: float | None
    planned_mg_per_kg: float | None
    figure: DoseFigure  # delivered mg, the volume and concentration it rests on, and the words
    dosing_weight_kg: float | None

    @property
    def delivered_mg_per_kg(self) -> float | None:
        if self.figure.mg is None or not self.dosing_weight_kg:
            return None
        return self.figure.mg / self.dosing_weight_kg

    @property
    def fraction(self) -> float | None:
        if self.figure.mg is None or not self.planned_mg:
            return None
        return self.figure.mg / self.planned_mg


def _mark(ev: RecordedEvent | None) -> ManualMark | None:
    if ev is None:
        return None
    t, volume = data_of(ev).get("time"), data_of(ev).get("volume_ml")
    return ManualMark(float(t) if isinstance(t, (int, float)) else ev.time, ev.user or "",
                      float(volume) if isinstance(volume, (int, float)) else None)


def dose_summary(review: Review) -> DoseSummary:
    plan = review.plan if isinstance(review.plan, DosePlan) else None
    figure = delivered(review.session, _mark(first(review, "infusion_end_manual")),
                       _mark(first(review, "infusion_start_manual")))
    return DoseSummary(plan.total_mg if plan else None, plan.dose_mg_per_kg if plan else None, figure,
                       plan.dosing_weight_kg if plan else None)


def plan_facts(plan: DosePlan) -> tuple[Fact, ...]:
    facts = [Fact("Drug", plan.drug), Fact("Weight", plan.weight_words()),
             Fact("Dose", f"{plan.dose_mg_per_kg:g} mg/kg = {plan.total_mg:.4g} mg"),
             Fact("Duration", f"{plan.duration_min:g} min"),
             Fact("Bag", f"{plan.bag_mg:g} mg in {plan.bag_ml:g} mL ({plan.concentration_mg_per_ml:.3g} mg/mL)"),
             Fact("Volume and rate", f"{plan.volume_ml:.3g} mL at {plan.rate_ml_per_h:.4g} mL/h"),
             Fact("Dose rate", f"{plan.dose_rate_mg_per_kg_per_h:.3g} mg/kg/h "
                               f"({plan.dose_rate_ug_per_kg_per_min:.3g} \u00b5g/kg/min)")]
    if plan.weight_basis_reason:
        facts.append(Fact("Weight basis", f"{plan.weight_basis}: {plan.weight_basis_reason}"))
    if plan.planned_start is not None:
        facts.append(Fact("Planned start", plan.planned_start.isoformat(timespec="minutes")))
    return tuple(facts)


def pump_programme(review: Review, plan: DosePlan, start: float | None) -> tuple[Table, tuple[Fact, ...]]:
    """What the pump said it was running with, beside the plan: its first report with a rate
    above 0 from the infusion's start (a pump reports its programme; the console only reads it)."""
    check = last(review, "pump_checked")
    checked = (Fact("Programme checked by (second person)",
                    f"{data_of(check).get('checked_by') or check.text} ({stamp(review, check.time)})" if check
                    else absent(review)),)
    headings = ("Programme", "Plan", "Pump reported")
    trends = review.session.trends
    rate = trends.get("PUMP_RATE")
    t = None
    if start is not None and rate is not None and rate.count:
        times, values = rate.data()
        running = np.flatnonzero((times >= start) & (values > 0))
        t = float(times[running[0]]) if running.size else None
    if t is None:
        return Table(headings, (), "Pump programme",
                     empty="no pump report of a running infusion in the record"), checked
    rows = []
    for metric, label, unit, planned in PUMP_PROGRAMME:
        series = trends.get(metric)
        value = series.value_at(t) if series is not None else None
        said = f"{value:.4g} {unit}" if value is not None else "not reported"
        rows.append((label, f"{planned(plan):.4g} {unit}", said))
    drug = review.session.word("PUMP_DRUG")
    rows.append(("Drug", plan.drug, str(drug) if drug is not None else "not reported"))
    return Table(headings, tuple(rows), f"Pump programme as the pump reported it at {stamp(review, t)}"), checked


def overrides_table(review: Review) -> Table:
    rows = []
    for ev in of_kind(review, "plan"):
        overrides = data_of(ev).get("overrides")
        for field, o in (overrides.items() if isinstance(overrides, dict) else ()):
            said = o if isinstance(o, dict) else {"reason": o}
            rows.append((stamp(review, ev.time), str(said.get("finding", field)), str(said.get("reason", "")),
                         ev.user or ""))
    return Table(("Time", "Guardrail crossed (soft limit)", "Reason recorded", "By"), tuple(rows),
                 "Guardrail overrides", empty="no guardrail was overridden")


def plan_section(review: Review, times: SessionTimes) -> Section:
    plan = review.plan if isinstance(review.plan, DosePlan) else None
    if plan is None:
        absent = "no dose plan recorded" if review.plan is None else f"plan recorded in an older form: {review.plan}"
        return Section("plan", "Plan and pump programme", absent=absent)
    changes = Table(("Time", "What was recorded", "By"),
                    tuple((stamp(review, e.time), e.text, e.user or "") for e in of_kind(review, "plan", "titration")),
                    "Plan set, replaced and titrated")
    programme, checked = pump_programme(review, plan, times.infusion_start)
    return Section("plan", "Plan and pump programme", plan_facts(plan) + checked,
                   (programme, overrides_table(review), changes))


def dose_section(review: Review, dose: DoseSummary) -> Section:
    fig = dose.figure
    if fig.mg is None:
        delivered_words = f"not known: {fig.words or 'no pump volume in the record'}"
    else:
        per_kg = dose.delivered_mg_per_kg
        delivered_words = f"{fig.mg:.1f} mg" + (f" = {per_kg:.2f} mg/kg" if per_kg is not None else "")
        if fig.volume_ml is not None and fig.concentration is not None:
            delivered_words += f" ({fig.volume_ml:.3g} mL x {fig.concentration:.3g} mg/mL)"
    facts = [Fact("Planned", f"{dose.planned_mg:.4g} mg = {dose.planned_mg_per_kg:g} mg/kg"
                  if dose.planned_mg is not None and dose.planned_mg_per_kg is not None else "no plan recorded"),
             Fact("Delivered", delivered_words)]
    if dose.fraction is not None:
        facts.append(Fact("Delivered of planned", f"{100 * dose.fraction:.0f} %"))
    notes = (fig.words,) if fig.words and fig.mg is not None else ()
    extra = of_kind(review, "end_infusion", "infusion_start_manual", "infusion_end_manual", "pump_no_interface")
    table = Table(("Time", "Recorded", "By"), tuple((stamp(review, e.time), e.text, e.user or "") for e in extra),
                  "Infusion recorded by hand or ended early", empty="none: the pump's own reports drove the phases")
    return Section("dose", "Dose delivered", tuple(facts), (table,), notes)
