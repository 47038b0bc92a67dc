"""The dose plan in force: set or replaced (soft limits crossed need reasons, hard limits refuse)
and titrated (same total dose, a new rate), with what the infusion is now expected to take.

Titration: the total dose, bag and weight stay; the rate changes. The amended plan's
``duration_min`` becomes the time the whole volume would take at the new rate, so the plan's
formulas still hold (rate = volume / duration) and the pump panel shows the new rate and dose
rate. ``planned_running_s`` is the running time so far plus the volume still to go at the new
rate; the overrun advisory and the banner's "of mm:ss" use it.
"""

from __future__ import annotations

import math

from console.clinical import ClinicalProtocol
from console.clock import Clock
from console.dose import DosePlan, check_guardrails, session_time_of
from console.patient import text_problem
from console.plan_file import SessionOrder, plan_problems
from console.session import Session
from console.workflow_errors import PlanRefused, WorkflowError, require_reason
from console.workflow_record import Journal, fmt_time


class PlanKeeper:
    """The plan, its override reasons, and the running time it is expected to take."""

    def __init__(self, protocol: ClinicalProtocol, session: Session, journal: Journal) -> None:
        self.protocol = protocol
        self.session = session
        self.journal = journal
        self.plan: DosePlan | None = session.plan
        self.overrides: dict[str, str] = {}  # field -> reason for each soft limit crossed
        self.planned_running_s: float | None = self.plan.duration_min * 60 if self.plan else None

    @property
    def planned_start(self):
        return self.plan.planned_start if self.plan is not None else None

    def planned_start_s(self, clock: Clock) -> float | None:
        when = self.planned_start
        return None if when is None else session_time_of(when, clock.now(), clock.wall())

    def check_order(self, order: SessionOrder) -> None:
        """Refuse an order whose plan was checked against another protocol than the one in force."""
        problems, _ = plan_problems(order.plan, self.protocol.dose_guardrails, order.overrides,
                                    weight_basis=self.protocol.weight_basis)
        if problems:
            raise PlanRefused("The order's plan cannot be used: " + " ".join(problems.values()), problems)

    def apply(self, plan: DosePlan, overrides: dict[str, str], now: float, who: str, kind: str) -> bool:
        """Put ``plan`` in force; False (nothing recorded) when it and its reasons already are."""
        problems, findings = plan_problems(plan, self.protocol.dose_guardrails, overrides,
                                           weight_basis=self.protocol.weight_basis)
        for f in findings:
            bad = text_problem(str(overrides.get(f.field) or ""))
            if bad and f.field not in problems:
                problems[f.field] = f"The reason {bad}."
        if problems:
            raise PlanRefused("The plan cannot be used: " + " ".join(problems.values()), problems)
        used = {f.field: {"finding": f.message, "reason": overrides[f.field].strip()}
                for f in findings if f.severity == "soft"}
        if plan == self.plan and {k: v["reason"] for k, v in used.items()} == self.overrides:
            return False
        replaced = self.plan is not None
        self.plan = plan
        self.session.set_plan(plan)
        self.overrides = {k: v["reason"] for k, v in used.items()}
        self.planned_running_s = plan.duration_min * 60.0
        text = (f"Plan {'replaced' if replaced else 'set'}: {plan.weight_words()} x {plan.dose_mg_per_kg:g} mg/kg"
                f" = {plan.total_mg:.4g} mg over {plan.duration_min:g} min, {plan.bag_mg:g} mg in {plan.bag_ml:g} mL"
                f" ({plan.concentration_mg_per_ml:.3g} mg/mL), {plan.volume_ml:.3g} mL"
                f" at {plan.rate_ml_per_h:.4g} mL/h")
        if plan.weight_basis_reason:
            text += f"; weight basis: {plan.weight_basis} ({plan.weight_basis_reason})"
        if plan.planned_start is not None:
            text += f"; planned start {plan.planned_start.strftime('%Y-%m-%d %H:%M %Z').strip()}"
        if used:
            text += "; overrides: " + "; ".join(f"{v['finding']} ({v['reason']})" for v in used.values())
        self.journal.record(now, kind, text, who, {"plan": plan.model_dump(mode="json"), "overrides": used,
                                                   "dosing_weight_kg": plan.dosing_weight_kg,
                                                   "protocol": self.protocol.fingerprint()})
        return True

    def titrate(self, new_rate_ml_h: float, reason: str, now: float, who: str, running_s: float) -> DosePlan:
        """``running_s``: how long the pump has run so far (the phase machine counts it)."""
        if self.plan is None:
            raise WorkflowError("Set a plan before titrating.")
        why = require_reason(reason, "A titration")
        if isinstance(new_rate_ml_h, bool) or not isinstance(new_rate_ml_h, (int, float)) \
                or not math.isfinite(new_rate_ml_h) or new_rate_ml_h <= 0:
            raise WorkflowError("The new rate must be a number above 0 mL/h.")
        old = self.plan
        amended = old.model_copy(update={"duration_min": old.volume_ml / new_rate_ml_h * 60.0})
        hard = [f for f in check_guardrails(amended, self.protocol.dose_guardrails) if f.severity == "hard"]
        if hard:
            raise PlanRefused("The titration cannot be used: " + " ".join(f.message + "." for f in hard),
                              {f.field: f.message for f in hard})
        delivered_ml = self.session.word("PUMP_VI")
        if not isinstance(delivered_ml, (int, float)):  # no pump volume: what the old rate would have put in
            delivered_ml = old.rate_ml_per_h * running_s / 3600.0
        remaining_ml = max(0.0, old.volume_ml - delivered_ml)
        self.planned_running_s = running_s + remaining_ml / new_rate_ml_h * 3600.0
        self.plan = amended
        self.session.set_plan(amended)
        self.journal.record(now, "titration", f"Titration by {who}: rate {old.rate_ml_per_h:.4g} -> "
                            f"{new_rate_ml_h:.4g} mL/h ({why}); expected to run {fmt_time(self.planned_running_s)}"
                            " in all", who,
                            {"old_rate_ml_h": old.rate_ml_per_h, "new_rate_ml_h": new_rate_ml_h, "reason": why,
                             "plan": amended.model_dump(mode="json"), "planned_running_s": self.planned_running_s},
                            on_trends=True)
        return amended
