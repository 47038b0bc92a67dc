"""The advisory alarms of CLINICAL.md section 5: the session checked against its plan and its
baseline. Each check is a small function of what the session knows; the workflow calls them
every frame and hands what it finds to the alarm engine (``set_condition(kind="advisory")``).

Keys (stable, as the alarm log and exports name them)::

    ADVISORY.PLAN_RATE / PLAN_CONC / PLAN_WEIGHT / PLAN_VTBI / PLAN_DOSE_RATE
                            pump differs from the plan > 5 % for 10 s                       high
    ADVISORY.OVERDELIVERY   delivered VI x CONC above the planned total by > 5 %            high
    ADVISORY.OVERRUN        pump running beyond the planned time + 10 min                   medium
    ADVISORY.BASELINE_BP    baseline BP >= 140/90 before the start (no reason recorded)      medium
    ADVISORY.BP_RISE        a cuff reading >= +40 systolic or >= +25 diastolic over baseline medium
    ADVISORY.CUFF_DUE       the phase's cuff interval has passed                             low

Numbers come from the protocol file (``technical``, ``phases``, ``rise_over_baseline``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

from console.alarms.model import Kind, Priority
from console.clinical import ClinicalProtocol
from console.dose import DosePlan

if TYPE_CHECKING:  # the session imports console.pump_watch, which builds on Advisory
    from console.session import NibpReading, Session

PLAN_RATE, PLAN_CONC, PLAN_WEIGHT = "ADVISORY.PLAN_RATE", "ADVISORY.PLAN_CONC", "ADVISORY.PLAN_WEIGHT"
OVERDELIVERY, OVERRUN = "ADVISORY.OVERDELIVERY", "ADVISORY.OVERRUN"
BASELINE_BP, BP_RISE, CUFF_DUE = "ADVISORY.BASELINE_BP", "ADVISORY.BP_RISE", "ADVISORY.CUFF_DUE"
PLAN_VTBI, PLAN_DOSE_RATE = "ADVISORY.PLAN_VTBI", "ADVISORY.PLAN_DOSE_RATE"
ALL_KEYS = (PLAN_RATE, PLAN_CONC, PLAN_WEIGHT, PLAN_VTBI, PLAN_DOSE_RATE, OVERDELIVERY, OVERRUN,
            BASELINE_BP, BP_RISE, CUFF_DUE)


@dataclass(frozen=True)
class Advisory:
    """An advisory condition present now."""

    key: str
    priority: Priority
    metric: str
    message: str
    started: float
    kind: Kind | None = None  # None: as console.session_checks.kind_of says (advisory, mostly)
    latching: bool = False


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60)} min"


class PlanMismatch:
    """Pump rate, concentration or weight differing from the plan by more than the fraction,
    for the delay, counted from the first differing sample (the pump's own time).

    The rate is compared only while the pump is RUNNING (a paused pump reports 0 and KVO is a
    deliberate trickle); concentration, weight (the plan's dosing weight), VTBI (against the
    dose volume, total mg / concentration, not the bag's volume) and the programmed dose rate
    whenever the pump reports a value above 0, so a mis-programmed pump is caught before it
    starts. While the pump link is lost the last
    judgement stands (the link alarm says why there is no value).
    """

    FIELDS = (
        (PLAN_RATE, "PUMP_RATE", "rate", "mL/h", lambda p: p.rate_ml_per_h),
        (PLAN_CONC, "PUMP_CONC", "concentration", "mg/mL", lambda p: p.concentration_mg_per_ml),
        (PLAN_WEIGHT, "PUMP_WEIGHT", "weight", "kg", lambda p: p.dosing_weight_kg),
        (PLAN_VTBI, "PUMP_VTBI", "VTBI", "mL", lambda p: p.volume_ml),
        (PLAN_DOSE_RATE, "PUMP_DOSE_RATE", "dose rate", "mg/kg/h", lambda p: p.dose_rate_mg_per_kg_per_h),
    )

    def __init__(self, fraction: float, delay_s: float) -> None:
        self.fraction = fraction
        self.delay_s = delay_s
        self._onsets: dict[str, float] = {}
        self._shown: dict[str, Advisory] = {}

    def check(self, session: Session, plan: DosePlan | None, now: float) -> list[Advisory]:
        if plan is None:
            self._onsets.clear()
            self._shown.clear()
            return []
        if session.link_shown("pump", now) != "up":
            return list(self._shown.values())
        running = session.word("PUMP_STATE") == "RUNNING"
        for key, metric, word, unit, planned_of in self.FIELDS:
            latest = session.latest.get(metric)
            value = latest.value if latest is not None else None
            judged = isinstance(value, (int, float)) and (running if metric == "PUMP_RATE" else value > 0)
            planned = planned_of(plan)
            if latest is None or not judged or abs(value - planned) <= self.fraction * planned:
                self._onsets.pop(key, None)
                self._shown.pop(key, None)
                continue
            onset = self._onsets.setdefault(key, min(latest.time, now))
            if now - onset >= self.delay_s:
                pct = 100.0 * (value - planned) / planned
                self._shown[key] = Advisory(
                    key, "high", metric,
                    f"Pump {word} {value:g} {unit} differs from the plan's {planned:.3g} {unit} ({pct:+.0f} %)",
                    started=onset + self.delay_s)
        return list(self._shown.values())


def overdelivery(session: Session, plan: DosePlan | None, fraction: float, now: float,
                 delivered: float | None = None) -> Advisory | None:
    """VI x concentration (the plan's when the pump reports none or 0, as the panel says);
    ``delivered``: the workflow's figure (it also knows the volume a nurse read off the pump)."""
    delivered = session.delivered_mg() if delivered is None else delivered
    if plan is None or delivered is None or delivered <= plan.total_mg * (1 + fraction):
        return None
    pct = 100.0 * (delivered - plan.total_mg) / plan.total_mg
    return Advisory(OVERDELIVERY, "high", "DOSE_MG",
                    f"Delivered {delivered:.1f} mg is {pct:.0f} % above the planned {plan.total_mg:g} mg", now)


def overrun(pump_running: bool, running_s: float, planned_running_s: float | None, overrun_min: float,
            now: float) -> Advisory | None:
    """Running time (pauses and pump alarms stop the count: the question is whether the pump
    delivers for longer than planned) beyond the planned time plus the allowance."""
    if not pump_running or planned_running_s is None:
        return None
    allowed = planned_running_s + overrun_min * 60.0
    if running_s <= allowed:
        return None
    return Advisory(OVERRUN, "medium", "INFUSION_TIME",
                    f"Pump still running after {_mmss(running_s)}: planned {_mmss(planned_running_s)}"
                    f" (+{overrun_min:g} min allowed)", started=now - (running_s - allowed))


def bp_at_or_above(nibp: NibpReading | None, protocol: ClinicalProtocol) -> TypeGuard[NibpReading]:
    """Baseline BP >= 140/90 means systolic >= 140 OR diastolic >= 90 (CLINICAL.md section 4)."""
    limit = protocol.phases.baseline_bp_advisory
    return nibp is not None and (nibp.systolic >= limit.systolic or nibp.diastolic >= limit.diastolic)


def baseline_bp(nibp: NibpReading | None, protocol: ClinicalProtocol, *, started: bool,
                reason_recorded: bool) -> Advisory | None:
    """Before the start: "consider delaying". After a start without a recorded reason the
    advisory stays, asking for the reason, until one is recorded."""
    if reason_recorded or not bp_at_or_above(nibp, protocol):
        return None
    limit = protocol.phases.baseline_bp_advisory
    bp = f"{nibp.systolic}/{nibp.diastolic}"
    at = f"{limit.systolic:g}/{limit.diastolic:g}"
    if started:
        message = f"Infusion started despite baseline BP {bp} (at or above {at}): record the reason"
    else:
        message = f"Baseline BP {bp} is at or above {at}: consider delaying (proceeding needs a reason)"
    return Advisory(BASELINE_BP, "medium", "NIBP_BASELINE", message, started=nibp.taken_at)


def rise_over_baseline(baseline: NibpReading | None, latest: NibpReading | None,
                       protocol: ClinicalProtocol) -> Advisory | None:
    """Judged once per cuff reading taken after the baseline, like any episodic value: it
    stays until the next reading is back under the rise."""
    if baseline is None or latest is None or latest.taken_at <= baseline.taken_at:
        return None
    rise = protocol.rise_over_baseline
    d_sys, d_dia = latest.systolic - baseline.systolic, latest.diastolic - baseline.diastolic
    if d_sys < rise.systolic and d_dia < rise.diastolic:
        return None
    return Advisory(BP_RISE, rise.priority, "NIBP_RISE",
                    f"BP {latest.systolic}/{latest.diastolic} is {d_sys:+d}/{d_dia:+d} mmHg over the baseline "
                    f"{baseline.systolic}/{baseline.diastolic}", started=latest.taken_at)


def cuff_due(due_since: float | None, now: float) -> Advisory | None:
    if due_since is None or now < due_since:
        return None
    return Advisory(CUFF_DUE, "low", "NIBP_DUE", "Cuff pressure due", started=due_since)
