"""Two checks of CLINICAL.md sections 2 and 5 the workflow runs every frame beside the
advisories: "no vitals data" (technical) and "started without a current baseline" (advisory).

Keys (stable, as the alarm log and exports name them)::

    NO_DATA.vitals                 no valid vitals value yet (port open or not)  medium; high once the pump ran
    ADVISORY.NO_CURRENT_BASELINE   the infusion started with no cuff, or one older than
                                   phases.baseline_cuff_max_age_min                      medium

"No vitals data" is the silence *before* the monitor ever said anything: once values have
flowed, a silent monitor is the engine's "vitals link lost". Like a lost link, it waits the
link-lost time after monitoring began, so a device gets a moment to send its first sentence.
"""

from __future__ import annotations

import math

from console.advisories import Advisory
from console.alarms.model import Kind, Priority
from console.records import VITALS_METRICS
from console.session import NibpReading, Session

NO_VITALS = "NO_DATA.vitals"
NO_CURRENT_BASELINE = "ADVISORY.NO_CURRENT_BASELINE"
TECHNICAL_KEYS = frozenset({NO_VITALS})  # the rest the workflow raises are advisories


def kind_of(key: str) -> Kind:
    """The alarm kind of a condition the workflow raises (CLINICAL.md section 5)."""
    return "technical" if key in TECHNICAL_KEYS else "advisory"


def valid_cuff(r: NibpReading) -> bool:
    """A complete, plausible cuff reading: both pressures measured, systolic above diastolic.
    A cuff that could not finish ("-" for a value) is no baseline and no discharge BP."""
    return (_pressure(r.systolic) and _pressure(r.diastolic)
            and 0 < r.diastolic < r.systolic)


def _pressure(value: object) -> bool:
    # A number, whole or not (IntelliVue sends FLOAT-Type values: 121.0), never a word or a flag.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def latest_valid_cuff(session: Session, at_or_before: float) -> NibpReading | None:
    return next((r for r in reversed(session.nibp_history) if r.taken_at <= at_or_before and valid_cuff(r)),
                None)


def _why_no_vitals(session: Session, now: float) -> str:
    dev = session.devices["vitals"]
    shown = session.link_shown("vitals", now)
    refused = sum(dev.rejected.values())
    if shown == "none":
        return "no vitals monitor connected"
    if shown == "down":
        return dev.transport_reason or "vitals port not open"
    if shown == "connecting":
        return "vitals port not open yet" + (f" ({dev.transport_reason})" if dev.transport_reason else "")
    if refused:
        return f"port open, {refused} sentence{'s' if refused != 1 else ''} refused, none valid"
    return "port open, nothing valid received"


def no_vitals_data(session: Session, since: float, link_lost_s: float, pump_has_run: bool,
                   now: float) -> Advisory | None:
    """No vitals value received in this session, ``link_lost_s`` after ``since`` (when the
    session began). Medium before the pump runs, high once it has run: the patient then has
    drug on board and nothing watches the vitals."""
    if session.seen & set(VITALS_METRICS):
        return None
    if now - since < link_lost_s:
        return None
    priority: Priority = "high" if pump_has_run else "medium"
    return Advisory(NO_VITALS, priority, "NO_DATA_VITALS",
                    f"No vitals data: {_why_no_vitals(session, now)}", started=since + link_lost_s)


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def no_current_baseline(cuff: NibpReading | None, started: float | None, max_age_min: float) -> Advisory | None:
    """At the pump's start the baseline cuff was missing or older than the maximum age. The
    message says what the rise-over-baseline check then uses, or that it cannot judge."""
    if started is None:
        return None
    if cuff is None:
        return Advisory(NO_CURRENT_BASELINE, "medium", "NIBP_BASELINE",
                        "Infusion started without a current baseline: no cuff reading before the start; "
                        "rise over baseline cannot be judged", started=started)
    age = started - cuff.taken_at
    if age <= max_age_min * 60.0:
        return None
    return Advisory(NO_CURRENT_BASELINE, "medium", "NIBP_BASELINE",
                    f"Infusion started without a current baseline: cuff {cuff.systolic}/{cuff.diastolic} was "
                    f"{_age(age)} old (at most {max_age_min:g} min); rise over baseline judged against it",
                    started=started)
