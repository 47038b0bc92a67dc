"""The discharge check (CLINICAL.md section 2): each criterion met, not met, or not judged,
with the values behind it. A person decides; the console only shows.

Rules beyond "within 20 % of baseline" (design choices of section 2):

- a criterion is never met while an alarm on its metric is shown (active, or latched and not
  yet acknowledged): BP -> NIBP systolic/diastolic and the rise over baseline; heart rate ->
  HR/PR, ECG leads; SpO2 -> SpO2, its probe;
- BP must also lie inside the medium limits in force for this patient (the engine's
  per-patient limits, 160/100 by default);
- the cuff reading used is at most ``discharge.cuff_max_age_min`` old, and taken after
  recovery began; MOAA/S and the end-of-recovery CADSS count only when charted after
  recovery began.

The nurse's documentation (CLINICAL.md section 8) gives four more, ``documentation_criteria``:
the pre-session checks answered, the discharge score (modified Aldrete or PADSS, scored after
recovery began) at or above the protocol's minimum, the driving restriction and the written
instructions acknowledged. They are shown with the others and recorded with the sign-off; they
are kept out of ``criteria`` (the list whose unmet items need a sign-off reason) until the
clinic decides they gate the sign-off too (docs/user-guide.md, "Discharge").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.session_checks import valid_cuff
from console.workflow_documentation import name_some

if TYPE_CHECKING:
    from console.workflow import SessionWorkflow

# Which alarms (by the metric the engine gives them) speak against a criterion.
BP_METRICS = frozenset({"NIBP_SYS", "NIBP_DIA", "NIBP_RISE"})
HR_METRICS = frozenset({"HR", "PR", "ECG_LEADS"})
SPO2_METRICS = frozenset({"SPO2", "SPO2_PROBE"})


@dataclass(frozen=True)
class Criterion:
    """A baseline or discharge criterion: ``met`` True, False, or None when it cannot be
    judged yet (no value); ``detail`` gives the values behind it."""

    name: str
    met: bool | None
    detail: str


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def alarms_on(wf: SessionWorkflow, metrics: frozenset[str]) -> list[str]:
    """Messages of the alarms shown now on any of these metrics."""
    return [a.message for a in wf.engine.alarms.values() if a.shown and a.metric in metrics]


def outside_medium(wf: SessionWorkflow, metric: str, value: float) -> str | None:
    """Words when ``value`` lies beyond this patient's medium (or any) limit of ``metric``."""
    for band in wf.engine.limits.bands(metric):
        if band.below is not None and value < band.below:
            return f"below the {band.priority} limit {band.below:g}"
        if band.above is not None and value > band.above:
            return f"above the {band.priority} limit {band.above:g}"
    return None


def _with_alarms(met: bool, detail: str, alarms: list[str]) -> tuple[bool, str]:
    if alarms:
        return False, detail + "; alarm active: " + ", ".join(alarms)
    return met, detail


def _bp(wf: SessionWorkflow, now: float) -> Criterion:
    d = wf.protocol.phases.discharge
    b = wf.baseline(now)
    name = f"SBP within {d.sbp_within_pct:g} % of baseline"
    if b.nibp is None:
        return Criterion(name, None, "no baseline cuff reading")
    if wf.recovery_started is None:
        return Criterion(name, None, f"baseline {b.nibp.systolic}; waiting for recovery")
    cuff = next((r for r in reversed(wf.session.nibp_history)
                 if r.taken_at >= wf.recovery_started and valid_cuff(r)), None)
    if cuff is None:
        return Criterion(name, None, f"baseline {b.nibp.systolic}; no cuff reading since the infusion ended")
    age = now - cuff.taken_at
    pct = 100.0 * (cuff.systolic - b.nibp.systolic) / b.nibp.systolic
    detail = (f"{cuff.systolic}/{cuff.diastolic} mmHg vs baseline {b.nibp.systolic} ({pct:+.0f} %), "
              f"cuff {_ago(age)} ago")
    met = abs(pct) <= d.sbp_within_pct
    if age > d.cuff_max_age_min * 60.0:
        met, detail = False, detail + f": older than {d.cuff_max_age_min:g} min, take a new one"
    for metric, value, word in (("NIBP_SYS", cuff.systolic, "systolic"), ("NIBP_DIA", cuff.diastolic, "diastolic")):
        beyond = outside_medium(wf, metric, value)
        if beyond:
            met, detail = False, detail + f"; {word} {beyond}"
    met, detail = _with_alarms(met, detail, alarms_on(wf, BP_METRICS))
    return Criterion(name, met, detail)


def _hr(wf: SessionWorkflow, now: float) -> Criterion:
    d = wf.protocol.phases.discharge
    b = wf.baseline(now)
    metric = wf.session.heart_rate_source()
    reading = wf.session.reading(metric, now)
    name = f"{metric} within {d.hr_within_pct:g} % of baseline"
    if b.hr is None:
        return Criterion(name, None, "no baseline heart rate")
    if not reading.available:
        return Criterion(name, None, f"baseline {b.hr:.0f}; now {reading.reason}")
    assert reading.value is not None  # an available reading has a value
    pct = 100.0 * (reading.value - b.hr) / b.hr
    met, detail = _with_alarms(abs(pct) <= d.hr_within_pct,
                               f"{reading.value:.0f} /min vs baseline {b.hr:.0f} ({pct:+.0f} %)",
                               alarms_on(wf, HR_METRICS))
    return Criterion(name, met, detail)


def _spo2(wf: SessionWorkflow, now: float) -> Criterion:
    d = wf.protocol.phases.discharge
    reading = wf.session.reading("SPO2", now)
    name = f"SpO2 \u2265 {d.spo2_min:g} %"
    if not reading.available:
        return Criterion(name, None, reading.reason)
    assert reading.value is not None  # an available reading has a value
    met, detail = _with_alarms(reading.value >= d.spo2_min, f"{reading.value:.0f} %", alarms_on(wf, SPO2_METRICS))
    return Criterion(name, met, detail)


def criteria(wf: SessionWorkflow, now: float) -> list[Criterion]:
    """Every discharge criterion of CLINICAL.md section 2, in the order the screen shows them."""
    d = wf.protocol.phases.discharge
    rec = wf.recovery_started
    out = [_bp(wf, now), _hr(wf, now), _spo2(wf, now)]
    moaas = wf._last_chart("moaas", after=rec) if rec is not None else None
    out.append(Criterion(f"MOAA/S = {d.moaas}", moaas.value == d.moaas if moaas else None,
                         f"{moaas.value} ({_ago(now - moaas.time)} ago)" if moaas
                         else "not charted since recovery began"))
    early = wf.protocol.charting.early_window_min * 60.0
    cadss = None
    if rec is not None:
        end = rec + wf.protocol.phases.recovery_min * 60.0
        cadss = wf._last_chart("cadss", after=max(rec, end - early))
    bits = [f"CADSS {cadss.value} at the end of recovery" if cadss else "end-of-recovery CADSS not charted",
            f"confirmed by {wf.dissociation_confirmed_by}" if wf.dissociation_confirmed_by
            else "nurse has not confirmed"]
    out.append(Criterion("Dissociation resolved", cadss is not None and wf.dissociation_confirmed_by is not None,
                         "; ".join(bits)))
    out.append(Criterion("Escort confirmed", wf.escort_confirmed_by is not None,
                         f"by {wf.escort_confirmed_by}" if wf.escort_confirmed_by else "not confirmed"))
    out.append(Criterion("Clinician sign-off", wf.signed_off_by is not None,
                         f"by {wf.signed_off_by}" if wf.signed_off_by else "not signed off"))
    return out


def documentation_criteria(wf: SessionWorkflow, now: float) -> list[Criterion]:
    """The documentation's discharge criteria, in the order the screen shows them."""
    doc = wf.documentation
    missing = doc.unanswered_required()
    declined = [i.label for i in doc.checklist if i.key in doc.answers and doc.answers[i.key].answer == "no"
                and i.detail_needed_when != "yes"]  # a "no" to a check (not to "takes medicines") is worth a look
    detail = (f"{len(missing)} unanswered: " + name_some([i.label for i in missing])) if missing \
        else "every required check answered"
    if doc.checklist_reason and missing:
        detail += f"; proceeded because: {doc.checklist_reason}"
    if declined:
        detail += "; answered no: " + name_some(declined)
    out = [Criterion("Pre-session checks answered", not missing, detail)]
    scale, minimum = doc.scale, doc.doc.discharge_score.minimum
    rec = wf.recovery_started
    score = doc.last_score(after=rec) if rec is not None else None
    out.append(Criterion(f"{scale.label} \u2265 {minimum}", score.met if score else None,
                         f"{score.total}/10 ({_ago(now - score.time)} ago, {score.user})" if score
                         else "not scored since recovery began"))
    hours = doc.doc.driving_restriction_h
    out.append(Criterion(f"No driving or machinery for {hours:g} h: told", doc.driving_acknowledged_by is not None,
                         f"by {doc.driving_acknowledged_by}" if doc.driving_acknowledged_by else "not acknowledged"))
    out.append(Criterion("Written instructions given", doc.instructions_acknowledged_by is not None,
                         f"by {doc.instructions_acknowledged_by}" if doc.instructions_acknowledged_by
                         else "not acknowledged"))
    return out
