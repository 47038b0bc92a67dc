"""What is due now: the prompts the session panel lists for the nurse (identify the patient, set
the plan, a cuff pressure, the MOAA/S for it, CADSS and GAD-7 at their times, a BP reason)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from console import advisories as adv
from console.workflow_phases import Phase

if TYPE_CHECKING:
    from console.workflow import SessionWorkflow


@dataclass(frozen=True)
class DueItem:
    """A prompt: something a nurse should do now. ``since``: session time it fell due."""

    key: str  # cuff, moaas, cadss_infusion, cadss_recovery, gad7_baseline, gad7_discharge,
    #           baseline_bp_reason, patient, patient_mismatch, plan
    text: str
    since: float


def cuff_due_since(wf: SessionWorkflow) -> float | None:
    """Session time a cuff reading fell (or will fall) due by the phase's interval; None when
    none is expected (discharged, or nothing monitored yet)."""
    ph = wf.protocol.phases
    since = wf.phases.monitoring_since
    if wf.phase == Phase.DISCHARGED or since is None:
        return None
    interval = {Phase.BASELINE: ph.cuff_interval_baseline_min,
                Phase.INFUSION: ph.cuff_interval_infusion_min}.get(wf.phase, ph.cuff_interval_recovery_min)
    last = wf.session.nibp
    if last is None:
        return since  # the baseline needs a cuff pressure from the start
    return last.taken_at + interval * 60.0


def due_items(wf: SessionWorkflow, now: float) -> list[DueItem]:
    """What is due at ``now``, oldest first (none while DISCHARGED)."""
    if wf.phase == Phase.DISCHARGED:
        return []
    ch, early = wf.protocol.charting, wf.protocol.charting.early_window_min * 60.0
    last_chart = wf.chartbook.last
    out: list[DueItem] = []
    if wf.patient is None:
        out.append(DueItem("patient", "Identify the patient (ID, name, date of birth)", wf.created))
    if wf.mismatch:
        out.append(DueItem("patient_mismatch", wf.mismatch + ": confirm with a reason", wf.created))
    if wf.plan is None:
        out.append(DueItem("plan", "No plan set: enter the dose plan", wf.created))
    due = cuff_due_since(wf)
    if due is not None and now >= due:
        out.append(DueItem("cuff", "Cuff pressure due", due))
    nibp = wf.session.nibp
    if nibp is not None and not any(c.item == "moaas" and c.cuff_time == nibp.taken_at for c in wf.charts):
        out.append(DueItem("moaas", f"MOAA/S for the cuff reading {nibp.systolic}/{nibp.diastolic}",
                           nibp.taken_at))
    b = wf.baseline(now)
    if adv.bp_at_or_above(b.nibp, wf.protocol) and wf.bp_reason is None:
        out.append(DueItem("baseline_bp_reason", f"Baseline BP {b.nibp.systolic}/{b.nibp.diastolic}: "
                           "consider delaying, or record why the session proceeds", b.nibp.taken_at))
    if wf.phase == Phase.BASELINE and last_chart("gad7") is None:
        out.append(DueItem("gad7_baseline", "GAD-7 before the session", wf.created))
    if wf.infusion_started is not None and wf.phase in (Phase.INFUSION, Phase.RECOVERY):
        at = wf.infusion_started + ch.cadss_after_start_min * 60.0
        if now >= at and last_chart("cadss", after=at - early) is None:
            out.append(DueItem("cadss_infusion", f"CADSS at about {ch.cadss_after_start_min:g} min", at))
    if wf.recovery_started is not None:
        at = wf.recovery_started + wf.protocol.phases.recovery_min * 60.0
        if now >= at - early and last_chart("cadss", after=at - early) is None:
            out.append(DueItem("cadss_recovery", "CADSS at the end of recovery", at - early))
    if wf.phase == Phase.DISCHARGE_CHECK and last_chart("gad7", after=wf.phase_started - early) is None:
        out.append(DueItem("gad7_discharge", "GAD-7 at discharge", wf.phase_started))
    return sorted(out, key=lambda d: d.since)
