"""The simulated infusion pump, programmed from a dose plan (CLINICAL.md section 1).

States follow PROTOCOL.md's PS sentence: STOPPED (programmed, not started), RUNNING,
PAUSED, ALARM (flow stopped by OCCLUSION, AIR or DOOR), COMPLETE (VTBI reached).
The volume the pump delivers is what enters the patient's PK model, so an occlusion
really stops the rise in plasma concentration.

Alarm words: NEAR_END when 5 min or less remain at the programmed rate; at the VTBI the
pump goes COMPLETE with ALARM=END, which clears (as a nurse would acknowledge it) after
120 s. BATTERY does not stop the flow; an unknown word stops it only if asked to.
"""

from __future__ import annotations

from simulator.encoder import DeviceEncoder, fmt_decimal
from simulator.scenario import DosePlan

NEAR_END_S = 300.0
END_ALARM_CLEARS_AFTER_S = 120.0
STOPPING_ALARMS = frozenset({"OCCLUSION", "AIR", "DOOR"})
BATTERY_DRAIN_PER_H = 4.0  # % per hour of running, so a session barely dents it
LOW_BATTERY_PERCENT = 9


class Pump:
    """Pump mechanics: state, flow and alarms. Time is session time in seconds."""

    def __init__(self, plan: DosePlan, battery_percent: float = 96.0) -> None:
        self.plan = plan
        self.state = "STOPPED"
        self.volume_infused_ml = 0.0
        self.battery = battery_percent
        self.alarms: list[str] = []
        self.started = False  # has it ever run (the infusion phase has begun)
        self._end_alarm_at: float | None = None
        self._resume_state = "RUNNING"

    # -- what the PS sentence reports ---------------------------------------------------
    @property
    def rate_ml_h(self) -> float:
        """Current flow rate: the programmed rate while running, otherwise zero."""
        return self.plan.rate_ml_per_h if self.state == "RUNNING" else 0.0

    @property
    def remaining_ml(self) -> float:
        return max(0.0, self.plan.volume_ml - self.volume_infused_ml)

    @property
    def phase(self) -> str:
        """Session phase as the pump defines it: baseline, infusion or recovery."""
        if not self.started:
            return "baseline"
        return "recovery" if self.state == "COMPLETE" else "infusion"

    def snapshot(self) -> tuple:
        """What counts as a change worth an immediate PS sentence."""
        return (self.state, self.rate_ml_h, tuple(self.alarms))

    # -- controls (scenario events) -----------------------------------------------------
    def start(self) -> None:
        if self.state in ("STOPPED", "PAUSED"):
            self.state = "RUNNING"
            self.started = True

    def pause(self) -> None:
        if self.state == "RUNNING":
            self.state = "PAUSED"

    def resume(self) -> None:
        if self.state == "PAUSED":
            self.state = "RUNNING"

    def raise_alarm(self, word: str, stops: bool | None) -> None:
        if word not in self.alarms:
            self.alarms.append(word)
        if word == "BATTERY":
            self.battery = min(self.battery, LOW_BATTERY_PERCENT)
        if stops is None:
            stops = word in STOPPING_ALARMS
        if stops and self.state in ("RUNNING", "PAUSED", "STOPPED"):
            self._resume_state = "RUNNING" if self.state == "RUNNING" else self.state
            self.state = "ALARM"

    def clear_alarms(self, resume: bool) -> None:
        """The nurse fixes the cause (clears the line, closes the door) and acknowledges."""
        self.alarms = [a for a in self.alarms if a == "NEAR_END"]
        self._end_alarm_at = None
        if self.state == "ALARM":
            self.state = self._resume_state if resume else "PAUSED"

    # -- mechanics ----------------------------------------------------------------------
    def step(self, t: float, dt: float) -> float:
        """Run the interval ending at session time ``t``; returns the mL delivered in it."""
        delivered = 0.0
        if self.state == "RUNNING":
            delivered = min(self.plan.rate_ml_per_h * dt / 3600.0, self.remaining_ml)
            self.volume_infused_ml += delivered
            self.battery = max(0.0, self.battery - BATTERY_DRAIN_PER_H * dt / 3600.0)
            if self.remaining_ml <= 1e-9:
                self.volume_infused_ml = self.plan.volume_ml
                self.state = "COMPLETE"
                self.alarms = [a for a in self.alarms if a != "NEAR_END"] + ["END"]
                self._end_alarm_at = t
            elif (
                self.remaining_ml / self.plan.rate_ml_per_h * 3600.0 <= NEAR_END_S + 1e-9
                and "NEAR_END" not in self.alarms
            ):
                self.alarms.append("NEAR_END")
        if self._end_alarm_at is not None and t - self._end_alarm_at >= END_ALARM_CLEARS_AFTER_S:
            self.alarms = [a for a in self.alarms if a != "END"]
            self._end_alarm_at = None
        return delivered


class PumpDevice:
    """The pump as seen on its serial line: ID and PS sentences."""

    MODEL = "SIM-PUMP1"
    FIRMWARE = "1.0"

    def __init__(self, pump: Pump, serial: str = "P200") -> None:
        self.pump = pump
        self.serial = serial
        self.encoder = DeviceEncoder()

    def identity(self, ms: int) -> bytes:
        return self.encoder.identity(ms, "PUMP", self.MODEL, self.serial, self.FIRMWARE)

    def status(self, ms: int) -> bytes:
        p, plan = self.pump, self.pump.plan
        return self.encoder.sentence(
            "PS",
            ms,
            [
                f"STATE={p.state}",
                "DRUG=KETAMINE",
                f"CONC={fmt_decimal(plan.conc_mg_per_ml, 3)}",
                f"RATE={fmt_decimal(p.rate_ml_h, 1)}",
                f"VTBI={fmt_decimal(plan.volume_ml, 2)}",
                f"VI={fmt_decimal(p.volume_infused_ml, 2)}",
                f"WEIGHT={fmt_decimal(plan.weight_kg, 1)}",
                f"DOSE_RATE={fmt_decimal(plan.dose_rate_mg_per_kg_h, 3)}",
                f"ALARM={'|'.join(p.alarms) if p.alarms else 'NONE'}",
                f"BATT={round(p.battery)}",
            ],
        )
