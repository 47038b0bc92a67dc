"""Dose tracking against the plan, for the pump panel: what was planned, what went in (and what
that figure rests on), the rates, and the running time against the expected one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.pump_watch import delivered

if TYPE_CHECKING:
    from console.workflow import SessionWorkflow


@dataclass(frozen=True)
class DoseStatus:
    """Dose tracking against the plan, for the pump panel. None: not known (no plan, no pump)."""

    planned_total_mg: float | None
    delivered_mg: float | None
    delivered_mg_per_kg: float | None
    delivered_fraction: float | None  # of the planned total
    planned_rate_ml_h: float | None
    actual_rate_ml_h: float | None
    elapsed_s: float | None  # since the pump first ran (pauses included)
    running_s: float  # time the pump spent RUNNING
    planned_running_s: float | None


def dose_figure(wf: SessionWorkflow):
    """Delivered drug with what it rests on (pump CONC, the plan's, the nurse's volume)."""
    w = wf.pump_watch
    return delivered(wf.session, w.manual_end, w.manual_start)


def actual_rate_ml_h(wf: SessionWorkflow) -> float | None:
    rate = wf.session.word("PUMP_RATE")
    return float(rate) if isinstance(rate, (int, float)) else None


def dose_status(wf: SessionWorkflow, now: float) -> DoseStatus:
    mg = wf.delivered_mg
    plan = wf.plan
    return DoseStatus(
        planned_total_mg=plan.total_mg if plan else None,
        delivered_mg=mg,
        delivered_mg_per_kg=mg / plan.dosing_weight_kg if plan and mg is not None else None,
        delivered_fraction=mg / plan.total_mg if plan and mg is not None else None,
        planned_rate_ml_h=plan.rate_ml_per_h if plan else None,
        actual_rate_ml_h=actual_rate_ml_h(wf),
        elapsed_s=now - wf.infusion_started if wf.infusion_started is not None else None,
        running_s=wf.running_s,
        planned_running_s=wf.planned_running_s,
    )
