"""The pump side of the session (CLINICAL.md sections 2 and 5) where the pump cannot say
everything itself: which concentration the delivered dose uses, "no pump data", the nurse's
recorded start and end, a start the console did not see, and a pump running for a patient
who is not confirmed. Qt-free; every function takes the time it judges at.

Keys (stable, as the alarm log and exports name them)::

    NO_DATA.pump                   no valid pump data while a plan is set   technical  medium; high 5 min after
                                   the planned start (or after the baseline checks were met)
    PUMP.RAN_UNSEEN                pump seen RUNNING after its link was down technical  high (latches)
    ADVISORY.CONC_UNKNOWN          pump infusing without a concentration     advisory   high
    ADVISORY.RUNNING_AFTER_END     pump RUNNING after a manual "infusion ended" advisory high
    ADVISORY.PATIENT_UNCONFIRMED   pump running, patient not confirmed       advisory   high

A declaration "this pump has no interface" turns NO_DATA.pump into a standing notice on the
pump panel (``PumpWatch.notice``): clinics whose pumps cannot be connected are not alarmed all
session, and the panel still says the dose is not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.advisories import Advisory

if TYPE_CHECKING:  # the session imports this module
    from console.dose import DosePlan
    from console.session import Session

NO_PUMP_DATA = "NO_DATA.pump"
RAN_UNSEEN = "PUMP.RAN_UNSEEN"
CONC_UNKNOWN = "ADVISORY.CONC_UNKNOWN"
RUNNING_AFTER_END = "ADVISORY.RUNNING_AFTER_END"
PATIENT_UNCONFIRMED = "ADVISORY.PATIENT_UNCONFIRMED"


def session_clock(t: float) -> str:
    """A session time as the top bar's session clock shows it (mm:ss, h:mm:ss from an hour)."""
    t = max(0, int(t))
    h, m, s = t // 3600, t % 3600 // 60, t % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# ============================================================================ delivered dose
def concentration_used(pump_conc: object, plan: DosePlan | None) -> tuple[float | None, str]:
    """The concentration the delivered dose is computed with, and where it came from:
    ``pump`` (the pump's CONC above 0), ``plan`` (none or 0 from the pump: the plan's bag),
    or ``none`` (neither)."""
    if isinstance(pump_conc, (int, float)) and not isinstance(pump_conc, bool) and pump_conc > 0:
        return float(pump_conc), "pump"
    if plan is not None:
        return plan.concentration_mg_per_ml, "plan"
    return None, "none"


@dataclass(frozen=True)
class DoseFigure:
    """Delivered drug and what the figure rests on, for the pump panel and the advisories."""

    mg: float | None
    volume_ml: float | None
    concentration: float | None
    source: str  # pump, plan (pump VI x plan's concentration), nurse (volume read off the pump), none
    words: str  # what the panel says under the figure ("" when the pump gives both)


@dataclass(frozen=True)
class ManualMark:
    """A nurse's recorded 'Infusion started' / 'Infusion ended' (or the no-interface declaration)."""

    time: float
    user: str
    volume_ml: float | None = None


def delivered(session: Session, manual_end: ManualMark | None = None,
              manual_start: ManualMark | None = None) -> DoseFigure:
    vi = session.word("PUMP_VI")
    conc, source = concentration_used(session.word("PUMP_CONC"), session.plan)
    if isinstance(vi, (int, float)) and not isinstance(vi, bool):
        if conc is None:
            return DoseFigure(None, float(vi), None, "none", "pump reports no concentration and no plan is set")
        words = "" if source == "pump" else f"at the plan's {conc:.3g} mg/mL: the pump reports no concentration"
        return DoseFigure(vi * conc, float(vi), conc, source, words)
    mark = manual_end
    if mark is not None and mark.volume_ml is not None and conc is not None:
        return DoseFigure(mark.volume_ml * conc, mark.volume_ml, conc, "nurse",
                          f"{mark.volume_ml:g} mL read off the pump by {mark.user}, at {conc:.3g} mg/mL")
    if manual_start is not None or manual_end is not None:
        return DoseFigure(None, None, conc, "none", "not measured: no pump data, infusion recorded by the nurse")
    return DoseFigure(None, None, conc, "none", "")


# ============================================================================ start estimate
@dataclass(frozen=True)
class StartEstimate:
    """When a pump first seen RUNNING after a gap really started (CLINICAL.md section 2).
    ``at`` is the best estimate (VI / rate before the link came back, never before
    ``earliest``); with no usable rate, ``at`` is None and only the range is known."""

    earliest: float | None  # the pump last seen not running (None: never seen before)
    latest: float  # the pump seen RUNNING again (the link came back)
    at: float | None

    def words(self) -> str:
        if self.at is not None:
            return f"started about {session_clock(self.at)} (estimated)"
        first = session_clock(self.earliest) if self.earliest is not None else "an unknown time"
        return f"started between {first} and {session_clock(self.latest)} (estimated)"


def estimate_start(earliest: float | None, back: float, vi: object, rate: object) -> StartEstimate:
    if not (isinstance(vi, (int, float)) and isinstance(rate, (int, float)) and rate > 0 and vi >= 0):
        return StartEstimate(earliest, back, None)
    at = back - vi / rate * 3600.0
    if earliest is not None:
        at = max(at, earliest)
    return StartEstimate(earliest, back, min(at, back))


class PumpWatch:
    """State the workflow keeps about the pump beyond what it reports: the nurse's marks, the
    no-interface declaration, and the last state seen (to notice a start nobody saw)."""

    def __init__(self, link_lost_s: float, high_after_min: float) -> None:
        self.link_lost_s = link_lost_s
        self.high_after_s = high_after_min * 60.0
        self.manual_start: ManualMark | None = None
        self.manual_end: ManualMark | None = None
        self.no_interface: ManualMark | None = None
        self.first_start: StartEstimate | None = None  # set when the first start was not seen
        self.ran_unseen: Advisory | None = None  # raised on the frame it is found; the alarm latches
        self._seen: tuple[float, object] | None = None  # (sample time, state) at the last frame

    # ------------------------------------------------------------------ each frame
    def observe(self, session: Session, now: float) -> StartEstimate | None:
        """Look at the pump's latest state; returns an estimate when this frame shows the pump
        RUNNING after a gap longer than the link-lost time since it was last seen not running
        (or the first the console ever hears of it is RUNNING)."""
        self.ran_unseen = None
        latest = session.latest.get("PUMP_STATE")
        if latest is None or session.link_shown("pump", now) != "up":
            return None
        before, self._seen = self._seen, (latest.time, latest.value)
        if latest.value != "RUNNING" or (before is not None and before[1] == "RUNNING"):
            return None
        last_not_running = before[0] if before is not None else None
        if last_not_running is not None and latest.time - last_not_running <= self.link_lost_s:
            return None  # the start was seen
        est = estimate_start(last_not_running, latest.time, session.word("PUMP_VI"), session.word("PUMP_RATE"))
        if self.first_start is None and session.pump_first_running is not None \
                and latest.time <= session.pump_first_running + self.link_lost_s:
            self.first_start = est
        how = (f"VI {session.word('PUMP_VI'):g} mL at {session.word('PUMP_RATE'):g} mL/h" if est.at is not None
               else "no rate to estimate from")
        where = "while its link was down" if last_not_running is not None else "before its data arrived"
        self.ran_unseen = Advisory(RAN_UNSEEN, "high", "PUMP_STATE",
                                   f"Pump ran {where}: {est.words()}, {how}", started=now,
                                   kind="technical", latching=True)
        return est

    def start_time(self, session: Session) -> float | None:
        """When the infusion began by the pump: the estimate when the start was not seen."""
        if self.first_start is not None:
            e = self.first_start
            return e.at if e.at is not None else e.latest
        return session.pump_first_running

    # ------------------------------------------------------------------ conditions
    def no_pump_data(self, session: Session, plan_set: bool, watching: bool, planned_start: float | None,
                     baseline_met_since: float | None, since: float, now: float) -> Advisory | None:
        """No valid pump data now while a plan is set and the phases wait on the pump
        (``watching``: baseline, or an infusion the nurse started by hand). Medium; high
        ``high_after_min`` after the planned start or, without one, after the baseline checks
        were met. Not raised once the pump is declared without an interface (a notice then).
        Like a lost link it waits the link-lost time after ``since`` (the session began), so a
        pump gets a moment to send its first sentence."""
        if not plan_set or not watching or self.no_interface is not None:
            return None
        if session.link_shown("pump", now) == "up" or now - since < self.link_lost_s:
            return None
        last = session.devices["pump"].last_valid_rx
        start = max(since, last if last is not None else since) + self.link_lost_s
        due = planned_start if planned_start is not None else baseline_met_since
        high = self.manual_start is not None or (due is not None and now >= due + self.high_after_s)
        if not high and session.link_shown("pump", now) in ("lost", "down"):
            return None  # the engine's "pump link lost" (medium) already says it; this one escalates
        after = ("" if due is None else
                 f"; high from {session_clock(due + self.high_after_s)}" if not high else "")
        return Advisory(NO_PUMP_DATA, "high" if high else "medium", "NO_DATA_PUMP",
                        f"No pump data ({_why_no_pump(session, now)}): dose and phases not followed{after}",
                        started=start, kind="technical")

    def notice(self, session: Session, now: float) -> str:
        """The standing notice of the pump panel, "" when there is none."""
        if self.no_interface is None:
            return ""
        m = self.no_interface
        return (f"Pump without interface (declared by {m.user} at {session_clock(m.time)}): dose not "
                "measured; record infusion start and end")

    def running_after_end(self, session: Session, now: float) -> Advisory | None:
        if self.manual_end is None or session.link_shown("pump", now) != "up" \
                or session.word("PUMP_STATE") != "RUNNING":
            return None
        t, end = session.latest["PUMP_STATE"].time, self.manual_end
        return Advisory(RUNNING_AFTER_END, "high", "PUMP_STATE",
                        f"Pump is RUNNING after the infusion was recorded ended at {session_clock(end.time)}"
                        f" by {end.user}", started=max(t, end.time))


def _why_no_pump(session: Session, now: float) -> str:
    dev = session.devices["pump"]
    shown = session.link_shown("pump", now)
    if shown == "none":
        return "no pump connected"
    if shown == "lost":
        return "no valid sentence for a while"
    if shown in ("down", "connecting"):
        return dev.transport_reason or "pump port not open"
    refused = sum(dev.rejected.values())
    if refused:
        return f"port open, {refused} sentence{'s' if refused != 1 else ''} refused, none valid"
    return "port open, nothing valid received"


def conc_unknown(session: Session, now: float) -> Advisory | None:
    """Infusing (RUNNING) without a concentration from the pump (none, or 0)."""
    if session.link_shown("pump", now) != "up" or session.word("PUMP_STATE") != "RUNNING":
        return None
    conc, source = concentration_used(session.word("PUMP_CONC"), session.plan)
    if source == "pump":
        return None
    used = f"delivered dose uses the plan's {conc:.3g} mg/mL" if conc is not None else "delivered dose unknown"
    latest = session.latest.get("PUMP_CONC") or session.latest["PUMP_STATE"]
    return Advisory(CONC_UNKNOWN, "high", "PUMP_CONC",
                    f"Pump concentration unknown (pump reports {'0' if latest.value == 0 else 'none'}): {used}",
                    started=min(latest.time, now))


def patient_unconfirmed(session: Session, identified: bool, mismatch: str | None, now: float) -> Advisory | None:
    """The pump runs and nobody is identified, or the wristband differs from the order and the
    difference is not confirmed with a reason."""
    if session.link_shown("pump", now) != "up" or session.word("PUMP_STATE") != "RUNNING":
        return None
    if identified and not mismatch:
        return None
    why = mismatch if mismatch else "no patient identified"
    return Advisory(PATIENT_UNCONFIRMED, "high", "PATIENT",
                    f"Pump running, patient not confirmed: {why}", started=session.latest["PUMP_STATE"].time)
