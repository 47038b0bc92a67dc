"""The phase machine: BASELINE -> INFUSION -> RECOVERY -> DISCHARGE_CHECK -> DISCHARGED, moved on
by the pump's state and the session clock, or by the nurse's recorded start and end when the
pump cannot say; it also counts how long the pump has run.

::

    BASELINE --pump first RUNNING--> INFUSION --pump COMPLETE or KVO, or STOPPED with the
    planned volume in (within plan_mismatch_fraction), or end_infusion(reason)--> RECOVERY
    --recovery_min--> DISCHARGE_CHECK --sign_off(clinician)--> DISCHARGED

A pump STOPPED, PAUSED or in ALARM before the planned volume is a pause, not the end: the phase
stays INFUSION (the timer runs on, the overrun count does not). A start the console did not see
(the pump RUNNING when its link came back) is estimated (console.pump_watch).
"""

from __future__ import annotations

import math
from enum import StrEnum

from console.clinical import ClinicalProtocol
from console.pump_watch import ManualMark, PumpWatch, session_clock
from console.session import Session
from console.workflow_baseline import BaselineKeeper
from console.workflow_errors import WorkflowError, require_reason
from console.workflow_identity import IdentityDesk
from console.workflow_plan import PlanKeeper
from console.workflow_record import Journal, fmt_time


class Phase(StrEnum):
    BASELINE = "baseline"
    INFUSION = "infusion"
    RECOVERY = "recovery"
    DISCHARGE_CHECK = "discharge check"
    DISCHARGED = "discharged"


PHASE_ORDER = list(Phase)


def _volume(volume_ml: float | None) -> float | None:
    if volume_ml is None:
        return None
    if isinstance(volume_ml, bool) or not isinstance(volume_ml, (int, float)) \
            or not math.isfinite(volume_ml) or volume_ml < 0:
        raise WorkflowError("The volume read off the pump must be a number of mL, 0 or more.")
    return float(volume_ml)


class PhaseMachine:
    """The phase, when each phase began, and the pump's running time. ``created``: the session
    clock when the workflow began (no recorded time may be earlier)."""

    def __init__(self, protocol: ClinicalProtocol, session: Session, journal: Journal, identity: IdentityDesk,
                 plans: PlanKeeper, baselines: BaselineKeeper, created: float) -> None:
        self.protocol = protocol
        self.session = session
        self.journal = journal
        self.identity = identity  # phase changes are recorded under the signed-in user, if any
        self.plans = plans
        self.baselines = baselines
        self.created = created
        self.phase = Phase.BASELINE
        self.phase_started = created
        self.infusion_started: float | None = None
        self.recovery_started: float | None = None
        self.running_s = 0.0
        self.monitoring_since: float | None = None  # first vitals seen: a cuff reading is due from then
        self._last_update: float | None = None
        self._was_running = False
        self.pump_watch = PumpWatch(protocol.technical.link_lost_s, protocol.phases.no_pump_data_high_after_min)

    def _actor(self) -> str:
        return self.identity.user or "console"

    # ------------------------------------------------------------------ driven by the pump and the clock
    def update(self, now: float) -> None:
        s = self.session
        if self.monitoring_since is None and (s.seen & {"HR", "PR", "SPO2", "NIBP_SYS"}):
            self.monitoring_since = now
        state = s.word("PUMP_STATE")
        pump_up = s.link_shown("pump", now) == "up"
        if self._last_update is not None and self._was_running:
            self.running_s += max(0.0, now - self._last_update)
        self._last_update = now
        self._was_running = pump_up and state == "RUNNING"

        self.pump_watch.observe(s, now)  # a start the console did not see gets an estimate
        start = self.pump_watch.start_time(s)
        if self.phase == Phase.BASELINE and start is not None:
            est = self.pump_watch.first_start
            if est is not None and est.at is not None:
                self.running_s += est.latest - est.at  # it ran unseen: the overrun count knows
            self._start_infusion(start, "Infusion started (pump first running)" if est is None
                                 else f"Infusion started (pump seen running after a gap, {est.words()})")
        if self.phase == Phase.INFUSION and pump_up and self._infusion_over(state):
            t = s.latest["PUMP_STATE"].time if "PUMP_STATE" in s.latest else now
            self._enter_recovery(min(t, now), f"Infusion complete (pump {state}): recovery")
        if self.phase == Phase.RECOVERY and self.recovery_started is not None:
            end = self.recovery_started + self.protocol.phases.recovery_min * 60.0
            if now >= end:
                self.enter(Phase.DISCHARGE_CHECK, end, "Recovery observation over: discharge check")

    def _infusion_over(self, state: object) -> bool:
        if state in ("COMPLETE", "KVO"):
            return True
        plan = self.plans.plan
        if state == "STOPPED" and plan is not None:
            vi = self.session.word("PUMP_VI")
            frac = self.protocol.technical.plan_mismatch_fraction
            return isinstance(vi, (int, float)) and vi >= plan.volume_ml * (1 - frac)
        return False

    def _start_infusion(self, t: float, text: str) -> None:
        """BASELINE -> INFUSION at ``t``: the baseline is fixed as it stood then."""
        self.infusion_started = t
        fixed = self.baselines.fix(t)
        self.enter(Phase.INFUSION, t, text)
        self.baselines.record(fixed, self._actor())

    def enter(self, phase: Phase, t: float, text: str) -> None:
        self.phase, self.phase_started = phase, t
        self.journal.record(t, "phase", text, self._actor(), {"phase": phase.value}, on_trends=True)

    def _enter_recovery(self, t: float, text: str) -> None:
        self.recovery_started = t
        self.enter(Phase.RECOVERY, t, text)

    # ------------------------------------------------------------------ when the pump cannot say
    def _pump_reporting(self, now: float) -> bool:
        return self.session.link_shown("pump", now) == "up" and "PUMP_STATE" in self.session.latest

    def _manual_time(self, at: float | None, now: float) -> float:
        t = now if at is None else float(at)
        if t > now:
            raise WorkflowError("The time recorded cannot be in the future.")
        if t < self.created:
            raise WorkflowError("The time recorded is before this session began.")
        return t

    def record_infusion_start(self, volume_ml: float | None, at: float | None, now: float, who: str) -> None:
        if self._pump_reporting(now):
            raise WorkflowError("The pump is connected and reporting: the phases follow the pump.")
        if self.phase != Phase.BASELINE:
            raise WorkflowError(f"An infusion start can be recorded before the infusion (now: {self.phase.value}).")
        t, vol = self._manual_time(at, now), _volume(volume_ml)
        self.pump_watch.manual_start = ManualMark(t, who, vol)
        self.journal.record(now, "infusion_start_manual", f"Infusion started at {session_clock(t)} "
                            f"(recorded by {who}" + (f", pump showed {vol:g} mL" if vol is not None else "") + ")",
                            who, {"time": t, "volume_ml": vol}, on_trends=True)
        self._start_infusion(t, f"Infusion started (recorded by {who})")

    def record_infusion_end(self, volume_ml: float | None, at: float | None, now: float, who: str) -> None:
        if self._pump_reporting(now):
            raise WorkflowError("The pump is connected and reporting: the phases follow the pump.")
        if self.phase != Phase.INFUSION:
            raise WorkflowError(f"An infusion end can be recorded during the infusion (now: {self.phase.value}).")
        t, vol = self._manual_time(at, now), _volume(volume_ml)
        if self.infusion_started is not None and t < self.infusion_started:
            raise WorkflowError("The infusion cannot end before it started.")
        self.pump_watch.manual_end = ManualMark(t, who, vol)
        self.journal.record(now, "infusion_end_manual", f"Infusion ended at {session_clock(t)} "
                            f"(recorded by {who}" + (f", pump showed {vol:g} mL" if vol is not None else "") + ")",
                            who, {"time": t, "volume_ml": vol}, on_trends=True)
        self._enter_recovery(t, f"Recovery (infusion ended, recorded by {who})")

    def declare_pump_without_interface(self, now: float, who: str) -> None:
        if self._pump_reporting(now):
            raise WorkflowError("The pump is connected and reporting: it has an interface.")
        self.pump_watch.no_interface = ManualMark(now, who)
        self.journal.record(now, "pump_no_interface", f"Pump declared without an interface by {who}", who, {})

    def end_infusion(self, reason: str, now: float, who: str) -> None:
        if self.phase != Phase.INFUSION:
            raise WorkflowError(f"The infusion can be ended only during the infusion (now: {self.phase.value}).")
        why = require_reason(reason, "Ending the infusion early")
        self.journal.record(now, "end_infusion", f"Infusion ended by {who}: {why}", who, {"reason": why})
        self._enter_recovery(now, "Recovery (infusion ended by the nurse)")

    # ------------------------------------------------------------------ the banner
    def length(self) -> float | None:
        """How long this phase is planned to last (s), or None when it has no set length."""
        if self.phase == Phase.INFUSION:
            return self.plans.planned_running_s
        if self.phase == Phase.RECOVERY:
            return self.protocol.phases.recovery_min * 60.0
        return None

    def banner(self, now: float, signed_off_by: str | None) -> str:
        if self.phase == Phase.DISCHARGED:
            return f"DISCHARGED (signed off by {signed_off_by})"
        text = f"{self.phase.value.upper()} {fmt_time(now - self.phase_started)}"
        length = self.length()
        if length is not None:
            text += f" of {fmt_time(length)}"
        return text
