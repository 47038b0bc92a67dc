"""The advisory alarms the workflow raises and clears on the engine each frame (CLINICAL.md
section 5): plan mismatch, over-delivery, overrun, baseline BP, rise over baseline, cuff due,
no vitals data, no current baseline, required pre-session checks unanswered at the start, and
the pump rows console.pump_watch judges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console import advisories as adv
from console.clinical import ClinicalProtocol
from console.pump_watch import conc_unknown, patient_unconfirmed
from console.session_checks import kind_of, no_current_baseline, no_vitals_data
from console.workflow_documentation import name_some
from console.workflow_due import cuff_due_since
from console.workflow_phases import Phase

if TYPE_CHECKING:
    from console.workflow import SessionWorkflow

CHECKLIST_UNANSWERED = "ADVISORY.CHECKLIST_UNANSWERED"


def checklist_unanswered(wf: SessionWorkflow) -> adv.Advisory | None:
    """A required pre-session check still unanswered once the infusion has started (CLINICAL.md
    section 5, medium): it stands until the checks are answered or a reason to proceed is
    recorded (``proceed_despite_checklist``). Not raised once the patient is discharged."""
    started = wf.infusion_started
    if started is None or wf.phase == Phase.DISCHARGED or wf.checklist_reason is not None:
        return None
    missing = wf.unanswered_checks()
    if not missing:
        return None
    return adv.Advisory(CHECKLIST_UNANSWERED, "medium", "CHECKLIST",
                        # What first, short enough for its alarm row at 1280x800; the names after the colon.
                        f"{len(missing)} pre-session check{'s' if len(missing) > 1 else ''} unanswered at "
                        f"pump start: {name_some([i.label for i in missing], 1)}",
                        started=started)


class AdvisoryRaiser:
    """Which advisories are raised now, so the ones no longer found are cleared."""

    def __init__(self, protocol: ClinicalProtocol) -> None:
        self._mismatch = adv.PlanMismatch(protocol.technical.plan_mismatch_fraction,
                                          protocol.technical.plan_mismatch_delay_s)
        self._raised: set[str] = set()
        self.baseline_met_at: float | None = None  # first time every baseline check was met

    def update(self, wf: SessionWorkflow, now: float) -> None:
        s, p, tech = wf.session, wf.protocol, wf.protocol.technical
        b = wf.baseline(now)
        found: list[adv.Advisory | None] = list(self._mismatch.check(s, wf.plan, now))
        found.append(adv.overdelivery(s, wf.plan, tech.overdelivery_fraction, now, wf.delivered_mg))
        running = s.word("PUMP_STATE") == "RUNNING" and wf.infusion_started is not None
        found.append(adv.overrun(running, wf.running_s, wf.planned_running_s, tech.overrun_min, now))
        found.append(adv.baseline_bp(b.nibp, p, started=wf.infusion_started is not None,
                                     reason_recorded=wf.bp_reason is not None))
        if b.fixed:
            found.append(adv.rise_over_baseline(b.nibp, s.nibp, p))
        found.append(adv.cuff_due(cuff_due_since(wf), now))
        found.append(no_vitals_data(s, wf.created, s.link_timeout("vitals"), wf.infusion_started is not None, now)
                     if wf.phase != Phase.DISCHARGED else None)
        if wf.phase == Phase.INFUSION:
            found.append(no_current_baseline(b.nibp, wf.infusion_started, p.phases.baseline_cuff_max_age_min))
        found.append(checklist_unanswered(wf))
        found.extend(self._pump_advisories(wf, now))
        present = {a.key: a for a in found if a is not None}
        for a in present.values():
            wf.engine.set_condition(a.key, True, kind=a.kind or kind_of(a.key), priority=a.priority,
                                    metric=a.metric, message=a.message, now=a.started, latching=a.latching)
        for key in self._raised - present.keys():
            wf.engine.set_condition(key, False)
        self._raised = set(present)

    def _pump_advisories(self, wf: SessionWorkflow, now: float) -> list[adv.Advisory | None]:
        s, w = wf.session, wf.pump_watch
        manual = w.manual_start is not None and w.manual_end is None
        watching = wf.phase == Phase.BASELINE or (wf.phase == Phase.INFUSION and manual)
        if wf.phase == Phase.BASELINE and self.baseline_met_at is None and wf.plan is not None \
                and s.link_shown("pump", now) != "up" and all(c.met for c in wf.baseline_checks(now)):
            self.baseline_met_at = now
        return [w.ran_unseen,
                w.no_pump_data(s, wf.plan is not None, watching, wf.planned_start_s, self.baseline_met_at,
                               wf.created, now),
                conc_unknown(s, now), w.running_after_end(s, now),
                patient_unconfirmed(s, wf.patient is not None,
                                    None if wf.patient_confirmed else wf.mismatch, now)]
