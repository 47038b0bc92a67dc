"""One patient's ketamine session from baseline to discharge (CLINICAL.md sections 1-3, 5).

``SessionWorkflow`` sits beside the ``Session`` (what the devices say) and the ``AlarmEngine``
(what must be signalled). It holds what people do and decide: who is signed in, which patient,
which plan (and its amendments), the phase, the charted scores, notes and markers, the
discharge sign-off. It never changes what the devices said, and it never discharges anyone:
only ``sign_off`` by a named clinician ends the session.

Driving it: call ``update(now)`` every display frame *before* ``engine.evaluate``; it moves the
phase on from the pump's state and the session clock, fixes the baseline at the pump's first
RUNNING, and raises or clears the advisory alarms on the engine. People's actions are methods
that record who did what (``user``) and raise ``WorkflowError`` (or a subclass) with words a
nurse can read when they cannot be done. Monitoring never waits for any of it: vitals and
alarms run with no one signed in, no patient and no plan.

Phases::

    BASELINE --pump first RUNNING--> INFUSION --pump COMPLETE or KVO, or STOPPED with the
    planned volume in (within plan_mismatch_fraction), or end_infusion(reason)--> RECOVERY
    --recovery_min--> DISCHARGE_CHECK --sign_off(clinician)--> DISCHARGED

When the pump cannot say (no pump data, a pump without an interface) the nurse's recorded
"Infusion started" / "Infusion ended" (``record_infusion_start`` / ``record_infusion_end``)
drive the same transitions; a start the console did not see (the pump RUNNING when its link
came back) is estimated (console.pump_watch).

A pump STOPPED, PAUSED or in ALARM before the planned volume is a pause, not the end: the
phase stays INFUSION (the timer runs on, the overrun count does not) until the pump completes
or a nurse ends the infusion early with a reason (``end_infusion``).

Titration (``titrate``): the total dose, bag and weight stay; the rate changes. The amended
plan's ``duration_min`` becomes the time the whole volume would take at the new rate, so the
plan's formulas still hold (rate = volume / duration) and the pump panel shows the new rate and
dose rate. The time the infusion is now expected to run, ``planned_running_s``, is the running
time so far plus the volume still to go at the new rate; the overrun advisory and the banner's
"of mm:ss" use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from console import advisories as adv
from console.alarms.engine import AlarmEngine
from console.charting import (
    SCALES,
    ChartEntry,
    ChartValueRefused,
    parse_score,
    scale_for,
    score_words,
)
from console.clinical import ClinicalProtocol
from console.clock import Clock
from console.debrief import DebriefRow, debrief
from console.discharge import Criterion
from console.discharge import criteria as discharge_criteria_of
from console.dose import DosePlan, check_guardrails, session_time_of
from console.patient import Patient, text_problem
from console.plan_file import SessionOrder, plan_problems
from console.pump_watch import ManualMark, PumpWatch, conc_unknown, delivered, patient_unconfirmed, session_clock
from console.session import NibpReading, Session, SessionEvent
from console.session_checks import kind_of, latest_valid_cuff, no_current_baseline, no_vitals_data
from console.sign_off import reason_problem, reason_text
from console.users import SiteUsers

# ============================================================================ vocabulary
# The workflow actions drawn on the trends, with the kind the trends colour them by. The replay
# of a recorded session draws the same ones from this table.
ON_TRENDS = {"phase": "phase", "chart": "chart", "note": "note", "marker": "marker",
             "titration": "note", "proceed_despite_bp": "note",
             "infusion_start_manual": "note", "infusion_end_manual": "note"}


class Phase(StrEnum):
    BASELINE = "baseline"
    INFUSION = "infusion"
    RECOVERY = "recovery"
    DISCHARGE_CHECK = "discharge check"
    DISCHARGED = "discharged"


PHASE_ORDER = list(Phase)


class WorkflowError(ValueError):
    """An action that cannot be done now; the message says why, in a nurse's words."""


class NotSignedIn(WorkflowError):
    pass


class SignInRefused(WorkflowError):
    pass


class ChartRefused(WorkflowError):
    """A charted value was refused; the message gives the allowed range."""


class PlanRefused(WorkflowError):
    """``problems``: field -> words (as ``validate_plan_inputs`` gives them)."""

    def __init__(self, message: str, problems: dict[str, str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class WorkflowEvent:
    """One thing that happened in the session workflow, for the timeline and the record.

    ``kind``: sign_in, sign_out, switch_user, order, patient, patient_mismatch,
    patient_confirmed, plan, titration, phase, baseline, proceed_despite_bp, end_infusion,
    chart, note, marker, escort, dissociation_resolved, sign_off, infusion_start_manual,
    infusion_end_manual, pump_no_interface. ``data`` holds the values
    (plan fields, overrides with reasons, score and item, ...), JSON-ready.
    """

    time: float
    kind: str
    text: str
    user: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DueItem:
    """A prompt: something a nurse should do now. ``since``: session time it fell due."""

    key: str  # cuff, moaas, cadss_infusion, cadss_recovery, gad7_baseline, gad7_discharge,
    #           baseline_bp_reason, patient, patient_mismatch, plan
    text: str
    since: float


@dataclass(frozen=True)
class Baseline:
    """The last cuff reading before the pump first runs and the mean HR/SpO2 of the minute
    before (CLINICAL.md section 4). ``fixed`` once the pump has run; before that it is what
    the baseline would be if the pump started now."""

    nibp: NibpReading | None
    hr: float | None
    spo2: float | None
    hr_metric: str  # "HR", or "PR" when there is no ECG
    at: float  # the end of the window (the pump's first RUNNING once fixed)
    hr_covered: bool  # a full minute of values
    spo2_covered: bool
    fixed: bool


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


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _same_person(a: Patient, b: Patient) -> list[str]:
    """What differs between two identifications (case and spacing of names ignored)."""
    out = []
    if a.patient_id.strip() != b.patient_id.strip():
        out.append(f"ID {b.patient_id} is not the order's {a.patient_id}")
    if " ".join(a.name.lower().split()) != " ".join(b.name.lower().split()):
        out.append(f"name {b.name} is not the order's {a.name}")
    if a.date_of_birth and b.date_of_birth and a.date_of_birth != b.date_of_birth:
        out.append(f"date of birth {b.date_of_birth} is not the order's {a.date_of_birth}")
    return out


def _mean_window(session: Session, metric: str, t_end: float, window_s: float) -> tuple[float | None, bool]:
    """Mean of a trend's values in (t_end - window, t_end], and whether they cover the window
    (first value within 2 s of its start, no gap longer than the stale time)."""
    series = session.trends.get(metric)
    if series is None or series.count == 0:
        return None, False
    t, v = series.data()
    lo = int(np.searchsorted(t, t_end - window_s, side="right"))
    hi = int(np.searchsorted(t, t_end, side="right"))
    t, v = t[lo:hi], v[lo:hi]
    ok = ~np.isnan(v)
    t, v = t[ok], v[ok]
    if not len(v):
        return None, False
    gaps = np.diff(np.concatenate(([t_end - window_s], t, [t_end])))
    covered = bool(t[0] <= t_end - window_s + 2.0 and gaps.max() <= session.stale_s)
    return float(v.mean()), covered


# ============================================================================ the workflow
class SessionWorkflow:
    """The ketamine session from sign-in to discharge sign-off, on a Session and an AlarmEngine."""

    def __init__(self, protocol: ClinicalProtocol, session: Session, engine: AlarmEngine,
                 clock: Clock | None = None, *,
                 authenticate: Callable[[str, str | None], bool] | None = None) -> None:
        """``authenticate(name, pin)``: a site's check of a PIN (None: any name signs in;
        the PIN is never stored or logged)."""
        self.protocol = protocol
        self.session = session
        self.engine = engine
        engine.no_data_owns_vitals = True  # our "no vitals data" covers a link never heard from
        self.clock = clock or session.clock
        self.authenticate = authenticate
        self.listeners: list[Callable[[WorkflowEvent], None]] = []
        self.timeline: list[WorkflowEvent] = []
        self.charts: list[ChartEntry] = []
        self.user: str | None = None
        self.patient: Patient | None = session.patient
        self.expected_patient: Patient | None = None  # who the order names
        self.patient_confirmed = True  # False while an ID mismatch waits for confirmation
        self.mismatch: str | None = None  # the words of that mismatch
        self.order: SessionOrder | None = None
        self.plan: DosePlan | None = session.plan
        self.overrides: dict[str, str] = {}  # field -> reason for each soft limit crossed
        self.created = self.clock.now()
        self.phase = Phase.BASELINE
        self.phase_started = self.created
        self.infusion_started: float | None = None
        self.recovery_started: float | None = None
        self.running_s = 0.0
        self.planned_running_s: float | None = self.plan.duration_min * 60 if self.plan else None
        self.bp_reason: str | None = None  # why the session proceeded despite baseline BP
        self.escort_confirmed_by: str | None = None
        self.dissociation_confirmed_by: str | None = None
        self.signed_off_by: str | None = None
        self._fixed_baseline: Baseline | None = None
        self._monitoring_since: float | None = None
        self._last_update: float | None = None
        self._was_running = False
        self._mismatch = adv.PlanMismatch(protocol.technical.plan_mismatch_fraction,
                                          protocol.technical.plan_mismatch_delay_s)
        self._raised: set[str] = set()
        self.pump_watch = PumpWatch(protocol.technical.link_lost_s, protocol.phases.no_pump_data_high_after_min)
        session.pump_watch = self.pump_watch  # the pump panel reads the nurse's marks and the estimate
        self.baseline_met_at: float | None = None  # first time every baseline check was met

    # ------------------------------------------------------------------ plumbing
    def _now(self, now: float | None) -> float:
        return self.clock.now() if now is None else now

    def _who(self) -> str:
        if not self.user:
            raise NotSignedIn("Sign in first: every action is recorded with the name of who did it.")
        return self.user

    def _record(self, now: float, kind: str, text: str, user: str, data: dict | None = None,
                *, on_trends: bool = False) -> WorkflowEvent:
        event = WorkflowEvent(now, kind, text, user, data or {})
        self.timeline.append(event)
        if on_trends:  # the trends view draws session events as vertical lines
            self.session.events.append(SessionEvent(now, ON_TRENDS[kind], text))
        for listener in self.listeners:
            listener(event)
        return event

    @staticmethod
    def _reason(reason: str | None, what: str) -> str:
        text = (reason or "").strip()
        if not text:
            raise WorkflowError(f"{what} needs a reason.")
        return text

    # ------------------------------------------------------------------ sign-in
    # Who is signed in beyond the name (class defaults; sign_in sets them): the site role,
    # and whether the name was verified against the site's users with a PIN.
    user_role: str | None = None
    user_verified: bool = False

    def _users(self) -> SiteUsers | None:
        return self.authenticate if isinstance(self.authenticate, SiteUsers) else None

    @property
    def sign_in_verified(self) -> bool:
        """True while the signed-in user was checked against the site's users with a PIN."""
        return self.user is not None and self.user_verified

    @property
    def sign_in_notice(self) -> str | None:
        """The permanent notice the window shows while a sign-in is not verified, or None."""
        if self.user is None or self.user_verified:
            return None
        if self.session.simulated:
            return "Training: sign-in not verified"
        users = self._users()
        if users is None or not users.configured:
            return "Sign-in not verified: no users are configured for this console"
        return f"Sign-in not verified: {self.user} is not a user of this console"

    def sign_in(self, name: str, pin: str | None = None, now: float | None = None) -> None:
        """Sign a nurse in; a second sign-in while someone is signed in switches the user.
        With site users (``authenticate`` a ``SiteUsers``) a listed name needs its PIN and an
        unlisted one is refused when the site requires users, else signed in unverified.
        Raises SignInRefused (blank name, PIN refused). The record says whether the sign-in
        was verified; the PIN is never stored or logged."""
        now = self._now(now)
        name = " ".join((name or "").split())
        if not name:
            raise SignInRefused("Enter your name to sign in.")
        problem = text_problem(name)
        if problem:
            raise SignInRefused(f"The name {problem}.")
        users = self._users()
        role: str | None = None
        if users is not None:
            try:
                person = users.check(name, pin)
            except ValueError as exc:
                raise SignInRefused(str(exc)) from None
            name, role, verified = person.name, person.role, person.verified
        elif self.authenticate is not None:
            if not self.authenticate(name, pin):
                raise SignInRefused(f"The PIN for {name} was not accepted.")
            verified = True
        else:
            verified = False
        before = self.user
        self.user, self.user_role, self.user_verified = name, role, verified
        data = {"verified": verified, "role": role, "pin_checked": verified, "simulated": self.session.simulated}
        note = "" if verified else f" ({(self.sign_in_notice or 'sign-in not verified').lower()})"
        if before and before != name:
            self._record(now, "switch_user", f"User switched from {before} to {name}{note}", name,
                         {"from": before, **data})
        elif before != name:
            self._record(now, "sign_in", f"{name} signed in{note}", name, data)

    def sign_out(self, now: float | None = None) -> None:
        now = self._now(now)
        if self.user:
            self._record(now, "sign_out", f"{self.user} signed out", self.user)
        self.user, self.user_role, self.user_verified = None, None, False

    # ------------------------------------------------------------------ order, patient, plan
    def load_order(self, order: SessionOrder, now: float | None = None) -> str | None:
        """Take a checked session order (``--session FILE.json``, or a scenario's own): the
        plan with its override reasons, and the patient it names (who the nurse must then
        identify). Needs no sign-in: the order carries who ordered it. Returns the patient
        mismatch text if a patient is already identified and differs, else None."""
        now = self._now(now)
        who = order.ordered_by or self.user or "session order"
        problems, _ = plan_problems(order.plan, self.protocol.dose_guardrails, order.overrides,
                                    weight_basis=self.protocol.weight_basis)
        if problems:  # checked against another protocol than the one in force here
            raise PlanRefused("The order's plan cannot be used: " + " ".join(problems.values()), problems)
        self.order = order
        self.expected_patient = order.patient
        self._record(now, "order", f"Session order for {order.patient.banner()}"
                     + (f" from {order.source}" if order.source else "")
                     + (f", ordered by {order.ordered_by}" if order.ordered_by else ""), who,
                     {"patient": order.patient.model_dump(mode="json"), "source": order.source,
                      "ordered_by": order.ordered_by})
        self._apply_plan(order.plan, dict(order.overrides), now, who, "plan")
        if self.patient is None:
            return None
        return self._check_identity(now, who)

    def identify(self, patient: Patient, now: float | None = None) -> str | None:
        """The nurse identifies the patient (typed, or a wristband scanned into the ID field).
        Returns None when it agrees with the order (or there is none), or the words of the
        mismatch: the session then waits for ``confirm_mismatch(reason)`` (``patient_confirmed``
        is False and a due item says so). ``patient`` is shown either way."""
        now = self._now(now)
        who = self._who()
        if patient == self.patient:  # the same identification again (the dialog's OK): nothing new
            return self.mismatch
        self.patient = patient
        self.session.patient = patient
        self._record(now, "patient", f"Patient identified: {patient.banner()}", who,
                     {"patient": patient.model_dump(mode="json")})
        return self._check_identity(now, who)

    def _check_identity(self, now: float, who: str) -> str | None:
        if self.expected_patient is None or self.patient is None:
            return None
        differences = _same_person(self.expected_patient, self.patient)
        if not differences:
            self.patient_confirmed, self.mismatch = True, None
            return None
        self.patient_confirmed = False
        self.mismatch = "Patient does not match the order: " + "; ".join(differences)
        self._record(now, "patient_mismatch", self.mismatch, who,
                     {"expected": self.expected_patient.model_dump(mode="json"),
                      "identified": self.patient.model_dump(mode="json")})
        return self.mismatch

    def confirm_mismatch(self, reason: str, now: float | None = None) -> None:
        """Proceed with the identified patient despite the order's ID: who and why recorded."""
        now = self._now(now)
        who = self._who()
        if self.mismatch is None:
            raise WorkflowError("There is no patient mismatch to confirm.")
        why = self._reason(reason, "Confirming a patient who does not match the order")
        self._record(now, "patient_confirmed", f"{who} confirmed the patient despite the mismatch: {why}",
                     who, {"mismatch": self.mismatch, "reason": why})
        self.patient_confirmed, self.mismatch = True, None

    def set_plan(self, plan: DosePlan, overrides: dict[str, str] | None = None, now: float | None = None) -> bool:
        """Set (or replace) the dose plan. Hard limits, a too-small bag and a weight basis the
        protocol does not allow refuse; each soft limit crossed needs a reason in
        ``overrides`` (field -> reason), recorded with the user. Raises PlanRefused with
        per-field problems. Allowed while monitoring runs. Returns False (and records
        nothing) when the plan and its reasons are the ones already in force."""
        now = self._now(now)
        who = self._who()
        return self._apply_plan(plan, overrides or {}, now, who, "plan")

    @property
    def planned_start(self):
        """The plan's planned start (wall-clock ``datetime`` with zone), or None."""
        return self.plan.planned_start if self.plan is not None else None

    @property
    def planned_start_s(self) -> float | None:
        """The planned start on the session clock, or None when the plan gives none."""
        when = self.planned_start
        return None if when is None else session_time_of(when, self.clock.now(), self.clock.wall())

    def _apply_plan(self, plan: DosePlan, overrides: dict[str, str], now: float, who: str, kind: str) -> bool:
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
        self.session.plan = plan
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
        self._record(now, kind, text, who, {"plan": plan.model_dump(mode="json"), "overrides": used,
                                            "dosing_weight_kg": plan.dosing_weight_kg,
                                            "protocol": self.protocol.fingerprint()})
        return True

    def titrate(self, new_rate_ml_h: float, reason: str, now: float | None = None) -> DosePlan:
        """A planned rate change, with who and why. Same total dose; the plan's rate becomes
        the new rate (see the module notes for duration and expected end). Refused without a
        plan, without a reason, or when the amended plan crosses a hard limit. Returns the
        amended plan."""
        now = self._now(now)
        who = self._who()
        if self.plan is None:
            raise WorkflowError("Set a plan before titrating.")
        why = self._reason(reason, "A titration")
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
        if not isinstance(delivered_ml, (int, float)):
            delivered_ml = old.rate_ml_per_h * self.running_s / 3600.0
        remaining_ml = max(0.0, old.volume_ml - delivered_ml)
        self.planned_running_s = self.running_s + remaining_ml / new_rate_ml_h * 3600.0
        self.plan = amended
        self.session.plan = amended
        self._record(now, "titration", f"Titration by {who}: rate {old.rate_ml_per_h:.4g} -> {new_rate_ml_h:.4g} mL/h"
                     f" ({why}); expected to run {_fmt_time(self.planned_running_s)} in all", who,
                     {"old_rate_ml_h": old.rate_ml_per_h, "new_rate_ml_h": new_rate_ml_h, "reason": why,
                      "plan": amended.model_dump(mode="json"), "planned_running_s": self.planned_running_s},
                     on_trends=True)
        return amended

    # ------------------------------------------------------------------ phases
    def update(self, now: float | None = None) -> None:
        """Every display frame, before ``engine.evaluate``: phase, baseline, advisories."""
        now = self._now(now)
        s = self.session
        if self._monitoring_since is None and (s.seen & {"HR", "PR", "SPO2", "NIBP_SYS"}):
            self._monitoring_since = now
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
                self._enter(Phase.DISCHARGE_CHECK, end, "Recovery observation over: discharge check")
        self._advisories(now)

    def _start_infusion(self, t: float, text: str) -> None:
        """BASELINE -> INFUSION at ``t``: the baseline is fixed as it stood then."""
        self.infusion_started = t
        self._fixed_baseline = self._baseline_at(t, fixed=True)
        self._enter(Phase.INFUSION, t, text)
        b = self._fixed_baseline
        self._record(t, "baseline", self._baseline_text(b), self.user or "console",
                     {"systolic": b.nibp.systolic if b.nibp else None,
                      "diastolic": b.nibp.diastolic if b.nibp else None,
                      "hr": b.hr, "hr_metric": b.hr_metric, "spo2": b.spo2})

    # ------------------------------------------------------------------ manual start and end
    def _pump_reporting(self, now: float) -> bool:
        return self.session.link_shown("pump", now) == "up" and "PUMP_STATE" in self.session.latest

    def _manual_time(self, at: float | None, now: float) -> float:
        t = now if at is None else float(at)
        if t > now:
            raise WorkflowError("The time recorded cannot be in the future.")
        if t < self.created:
            raise WorkflowError("The time recorded is before this session began.")
        return t

    @staticmethod
    def _volume(volume_ml: float | None) -> float | None:
        if volume_ml is None:
            return None
        if isinstance(volume_ml, bool) or not isinstance(volume_ml, (int, float)) \
                or not math.isfinite(volume_ml) or volume_ml < 0:
            raise WorkflowError("The volume read off the pump must be a number of mL, 0 or more.")
        return float(volume_ml)

    def record_infusion_start(self, volume_ml: float | None = None, at: float | None = None,
                              now: float | None = None) -> None:
        """The nurse records 'Infusion started' (time, who, the volume the pump shows) when the
        pump cannot say; it starts the infusion phase. Refused while the pump reports."""
        now = self._now(now)
        who = self._who()
        if self._pump_reporting(now):
            raise WorkflowError("The pump is connected and reporting: the phases follow the pump.")
        if self.phase != Phase.BASELINE:
            raise WorkflowError(f"An infusion start can be recorded before the infusion (now: {self.phase.value}).")
        t, vol = self._manual_time(at, now), self._volume(volume_ml)
        self.pump_watch.manual_start = ManualMark(t, who, vol)
        self._record(now, "infusion_start_manual", f"Infusion started at {session_clock(t)} "
                     f"(recorded by {who}" + (f", pump showed {vol:g} mL" if vol is not None else "") + ")", who,
                     {"time": t, "volume_ml": vol}, on_trends=True)
        self._start_infusion(t, f"Infusion started (recorded by {who})")

    def record_infusion_end(self, volume_ml: float | None = None, at: float | None = None,
                            now: float | None = None) -> None:
        """The nurse records 'Infusion ended' with the volume read off the pump: recovery
        starts. Refused while the pump reports; a pump seen RUNNING afterwards is an advisory."""
        now = self._now(now)
        who = self._who()
        if self._pump_reporting(now):
            raise WorkflowError("The pump is connected and reporting: the phases follow the pump.")
        if self.phase != Phase.INFUSION:
            raise WorkflowError(f"An infusion end can be recorded during the infusion (now: {self.phase.value}).")
        t, vol = self._manual_time(at, now), self._volume(volume_ml)
        if self.infusion_started is not None and t < self.infusion_started:
            raise WorkflowError("The infusion cannot end before it started.")
        self.pump_watch.manual_end = ManualMark(t, who, vol)
        self._record(now, "infusion_end_manual", f"Infusion ended at {session_clock(t)} "
                     f"(recorded by {who}" + (f", pump showed {vol:g} mL" if vol is not None else "") + ")", who,
                     {"time": t, "volume_ml": vol}, on_trends=True)
        self._enter_recovery(t, f"Recovery (infusion ended, recorded by {who})")

    def declare_pump_without_interface(self, now: float | None = None) -> None:
        """'This pump has no interface': 'no pump data' becomes a standing notice."""
        now = self._now(now)
        who = self._who()
        if self._pump_reporting(now):
            raise WorkflowError("The pump is connected and reporting: it has an interface.")
        self.pump_watch.no_interface = ManualMark(now, who)
        self._record(now, "pump_no_interface", f"Pump declared without an interface by {who}", who, {})

    def _infusion_over(self, state: object) -> bool:
        if state in ("COMPLETE", "KVO"):
            return True
        if state == "STOPPED" and self.plan is not None:
            vi = self.session.word("PUMP_VI")
            frac = self.protocol.technical.plan_mismatch_fraction
            return isinstance(vi, (int, float)) and vi >= self.plan.volume_ml * (1 - frac)
        return False

    def _enter(self, phase: Phase, t: float, text: str) -> None:
        self.phase, self.phase_started = phase, t
        self._record(t, "phase", text, self.user or "console", {"phase": phase.value}, on_trends=True)

    def _enter_recovery(self, t: float, text: str) -> None:
        self.recovery_started = t
        self._enter(Phase.RECOVERY, t, text)

    def end_infusion(self, reason: str, now: float | None = None) -> None:
        """A nurse ends the infusion before the pump completes (stopped for side effects,
        bag finished by hand): recovery starts now. Needs a reason."""
        now = self._now(now)
        who = self._who()
        if self.phase != Phase.INFUSION:
            raise WorkflowError(f"The infusion can be ended only during the infusion (now: {self.phase.value}).")
        why = self._reason(reason, "Ending the infusion early")
        self._record(now, "end_infusion", f"Infusion ended by {who}: {why}", who, {"reason": why})
        self._enter_recovery(now, "Recovery (infusion ended by the nurse)")

    def phase_elapsed(self, now: float | None = None) -> float:
        return self._now(now) - self.phase_started

    def phase_length(self) -> float | None:
        """How long this phase is planned to last (s), or None when it has no set length."""
        if self.phase == Phase.INFUSION:
            return self.planned_running_s
        if self.phase == Phase.RECOVERY:
            return self.protocol.phases.recovery_min * 60.0
        return None

    def banner(self, now: float | None = None) -> str:
        """The phase banner's text with its timer: "INFUSION 12:04 of 40:00"."""
        now = self._now(now)
        if self.phase == Phase.DISCHARGED:
            return f"DISCHARGED (signed off by {self.signed_off_by})"
        text = f"{self.phase.value.upper()} {_fmt_time(self.phase_elapsed(now))}"
        length = self.phase_length()
        if length is not None:
            text += f" of {_fmt_time(length)}"
        return text

    # ------------------------------------------------------------------ baseline
    def _baseline_at(self, t_end: float, fixed: bool) -> Baseline:
        s = self.session
        window = self.protocol.phases.baseline_min_spo2_hr_s
        cuff = latest_valid_cuff(s, t_end)  # a cuff that could not finish is no baseline
        hr_metric = s.heart_rate_source()
        hr, hr_ok = _mean_window(s, hr_metric, t_end, window)
        spo2, spo2_ok = _mean_window(s, "SPO2", t_end, window)
        return Baseline(cuff, hr, spo2, hr_metric, t_end, hr_ok, spo2_ok, fixed)

    def baseline(self, now: float | None = None) -> Baseline:
        """The fixed baseline once the pump has run; before that, the baseline as of now."""
        if self._fixed_baseline is not None:
            return self._fixed_baseline
        return self._baseline_at(self._now(now), fixed=False)

    @staticmethod
    def _baseline_text(b: Baseline) -> str:
        bp = f"BP {b.nibp.systolic}/{b.nibp.diastolic}" if b.nibp else "no cuff reading"
        hr = f"{b.hr_metric} {b.hr:.0f}" if b.hr is not None else f"no {b.hr_metric}"
        spo2 = f"SpO2 {b.spo2:.0f} %" if b.spo2 is not None else "no SpO2"
        return f"Baseline: {bp}, {hr}, {spo2}"

    def baseline_checks(self, now: float | None = None) -> list[Criterion]:
        """Before the start (CLINICAL.md section 2): a cuff pressure, a minute of SpO2 and HR,
        BP below 140/90 or a recorded reason, baseline GAD-7."""
        now = self._now(now)
        b = self.baseline(now)
        window = self.protocol.phases.baseline_min_spo2_hr_s
        limit = self.protocol.phases.baseline_bp_advisory
        out = [Criterion("Cuff pressure taken", b.nibp is not None,
                         f"{b.nibp.systolic}/{b.nibp.diastolic} mmHg, {_fmt_time(now - b.nibp.taken_at)} ago"
                         if b.nibp else "no cuff reading yet")]
        max_age = self.protocol.phases.baseline_cuff_max_age_min
        age = (b.at - b.nibp.taken_at) if b.nibp else None
        out.append(Criterion(f"Cuff pressure at most {max_age:g} min old", None if age is None else age <= max_age * 60,
                             "no cuff reading yet" if age is None else f"{_fmt_time(age)} old at "
                             + ("the start" if b.fixed else "this moment")
                             + ("" if age <= max_age * 60 else ": take a new one before the start")))
        for label, value, ok, unit in ((b.hr_metric, b.hr, b.hr_covered, "/min"),
                                       ("SpO2", b.spo2, b.spo2_covered, "%")):
            detail = f"mean {value:.0f} {unit}" if value is not None else "no values"
            out.append(Criterion(f"{window:g} s of {label}", ok,
                                 detail + ("" if ok else f" (needs {window:g} s without a gap)")))
        if b.nibp is None:
            out.append(Criterion(f"BP below {limit.systolic:g}/{limit.diastolic:g}", None, "no cuff reading yet"))
        elif adv.bp_at_or_above(b.nibp, self.protocol):
            out.append(Criterion(f"BP below {limit.systolic:g}/{limit.diastolic:g}", self.bp_reason is not None,
                                 f"{b.nibp.systolic}/{b.nibp.diastolic}: "
                                 + (f"proceeding because {self.bp_reason}" if self.bp_reason
                                    else "consider delaying; proceeding needs a reason")))
        else:
            out.append(Criterion(f"BP below {limit.systolic:g}/{limit.diastolic:g}", True,
                                 f"{b.nibp.systolic}/{b.nibp.diastolic}"))
        gad = self._last_chart("gad7", before=self.infusion_started)
        out.append(Criterion("Baseline GAD-7", gad is not None, gad.text() if gad else "not charted"))
        return out

    def proceed_despite_bp(self, reason: str, now: float | None = None) -> None:
        """Record why the session goes ahead with a baseline BP at or above 140/90; this
        clears the "consider delaying" advisory."""
        now = self._now(now)
        who = self._who()
        why = self._reason(reason, "Proceeding despite a raised baseline BP")
        self.bp_reason = why
        b = self.baseline(now)
        bp = f"{b.nibp.systolic}/{b.nibp.diastolic}" if b.nibp else "unknown"
        self._record(now, "proceed_despite_bp", f"Proceeding despite baseline BP {bp}: {why}", who,
                     {"reason": why, "bp": bp}, on_trends=True)

    # ------------------------------------------------------------------ dose tracking
    def dose_status(self, now: float | None = None) -> DoseStatus:
        now = self._now(now)
        delivered = self.delivered_mg
        rate = self.session.word("PUMP_RATE")
        plan = self.plan
        return DoseStatus(
            planned_total_mg=plan.total_mg if plan else None,
            delivered_mg=delivered,
            delivered_mg_per_kg=delivered / plan.dosing_weight_kg if plan and delivered is not None else None,
            delivered_fraction=delivered / plan.total_mg if plan and delivered is not None else None,
            planned_rate_ml_h=plan.rate_ml_per_h if plan else None,
            actual_rate_ml_h=float(rate) if isinstance(rate, (int, float)) else None,
            elapsed_s=now - self.infusion_started if self.infusion_started is not None else None,
            running_s=self.running_s,
            planned_running_s=self.planned_running_s,
        )

    def dose_figure(self):
        """Delivered drug with what it rests on (pump CONC, the plan's, the nurse's volume)."""
        w = self.pump_watch
        return delivered(self.session, w.manual_end, w.manual_start)

    @property
    def delivered_mg(self) -> float | None:
        return self.dose_figure().mg

    @property
    def delivered_mg_per_kg(self) -> float | None:
        d = self.delivered_mg
        return d / self.plan.dosing_weight_kg if d is not None and self.plan else None

    @property
    def planned_rate_ml_h(self) -> float | None:
        return self.plan.rate_ml_per_h if self.plan else None

    @property
    def actual_rate_ml_h(self) -> float | None:
        rate = self.session.word("PUMP_RATE")
        return float(rate) if isinstance(rate, (int, float)) else None

    # ------------------------------------------------------------------ advisories
    def cuff_due_since(self, now: float | None = None) -> float | None:
        """Session time a cuff reading fell (or will fall) due by the phase's interval; None
        when none is expected (discharged, or nothing monitored yet)."""
        ph = self.protocol.phases
        if self.phase == Phase.DISCHARGED or self._monitoring_since is None:
            return None
        interval = {Phase.BASELINE: ph.cuff_interval_baseline_min,
                    Phase.INFUSION: ph.cuff_interval_infusion_min}.get(self.phase, ph.cuff_interval_recovery_min)
        last = self.session.nibp
        if last is None:
            return self._monitoring_since  # the baseline needs a cuff pressure from the start
        return last.taken_at + interval * 60.0

    def _advisories(self, now: float) -> None:
        s, p, tech = self.session, self.protocol, self.protocol.technical
        b = self.baseline(now)
        found: list[adv.Advisory | None] = list(self._mismatch.check(s, self.plan, now))
        found.append(adv.overdelivery(s, self.plan, tech.overdelivery_fraction, now, self.delivered_mg))
        running = s.word("PUMP_STATE") == "RUNNING" and self.infusion_started is not None
        found.append(adv.overrun(running, self.running_s, self.planned_running_s, tech.overrun_min, now))
        found.append(adv.baseline_bp(b.nibp, p, started=self.infusion_started is not None,
                                     reason_recorded=self.bp_reason is not None))
        if b.fixed:
            found.append(adv.rise_over_baseline(b.nibp, s.nibp, p))
        found.append(adv.cuff_due(self.cuff_due_since(now), now))
        found.append(no_vitals_data(s, self.created, tech.link_lost_s, self.infusion_started is not None, now)
                     if self.phase != Phase.DISCHARGED else None)
        if self.phase == Phase.INFUSION:
            found.append(no_current_baseline(b.nibp, self.infusion_started, p.phases.baseline_cuff_max_age_min))
        found.extend(self._pump_advisories(now))
        present = {a.key: a for a in found if a is not None}
        for a in present.values():
            self.engine.set_condition(a.key, True, kind=a.kind or kind_of(a.key), priority=a.priority,
                                      metric=a.metric, message=a.message, now=a.started, latching=a.latching)
        for key in self._raised - present.keys():
            self.engine.set_condition(key, False)
        self._raised = set(present)

    def _pump_advisories(self, now: float) -> list[adv.Advisory | None]:
        """CLINICAL.md section 5, the pump rows console.pump_watch judges."""
        s, w = self.session, self.pump_watch
        manual = w.manual_start is not None and w.manual_end is None
        watching = self.phase == Phase.BASELINE or (self.phase == Phase.INFUSION and manual)
        if self.phase == Phase.BASELINE and self.baseline_met_at is None and self.plan is not None \
                and s.link_shown("pump", now) != "up" and all(c.met for c in self.baseline_checks(now)):
            self.baseline_met_at = now
        return [w.ran_unseen,
                w.no_pump_data(s, self.plan is not None, watching, self.planned_start_s, self.baseline_met_at,
                               self.created, now),
                conc_unknown(s, now), w.running_after_end(s, now),
                patient_unconfirmed(s, self.patient is not None,
                                    None if self.patient_confirmed else self.mismatch, now)]

    # ------------------------------------------------------------------ charting
    def _last_chart(self, item: str, *, after: float | None = None, before: float | None = None) -> ChartEntry | None:
        for entry in reversed(self.charts):
            if entry.item == item and (after is None or entry.time >= after) \
                    and (before is None or entry.time <= before):
                return entry
        return None

    def chart(self, item: str, value: object, now: float | None = None) -> ChartEntry:
        """Chart a score: MOAA/S (0-5, goes with the latest cuff reading), CADSS total (0-92),
        GAD-7 total (0-21, with its severity word), HAM-A total (0-56). Typed text is
        accepted; anything else raises ChartValueRefused (a WorkflowError) with the range."""
        now = self._now(now)
        who = self._who()
        try:
            scale = scale_for(item)
            score = parse_score(scale, value)
        except ChartValueRefused as exc:
            raise ChartRefused(str(exc)) from None
        cuff = self.session.nibp.taken_at if scale.key == "moaas" and self.session.nibp else None
        entry = ChartEntry(now, scale.key, score, who, self.phase.value,
                           score_words(scale, score, self.protocol.charting.gad7_severity), cuff)
        self.charts.append(entry)
        self._record(now, "chart", entry.text(), who,
                     {"item": scale.key, "label": scale.label, "value": score, "words": entry.words,
                      "phase": self.phase.value, "cuff_time": cuff}, on_trends=True)
        return entry

    def note(self, text: str, now: float | None = None) -> WorkflowEvent:
        now = self._now(now)
        who = self._who()
        body = (text or "").strip()
        if not body:
            raise WorkflowError("A note needs some text.")
        return self._record(now, "note", body, who, {"text": body}, on_trends=True)

    @property
    def marker_labels(self) -> tuple[str, ...]:
        """The one-key event markers this site offers (protocol file, charting.markers)."""
        return self.protocol.charting.markers

    def marker(self, label: str, now: float | None = None) -> WorkflowEvent:
        now = self._now(now)
        who = self._who()
        match = next((m for m in self.marker_labels if m.lower() == (label or "").strip().lower()), None)
        if match is None:
            raise WorkflowError(f"'{label}' is not one of the event markers ({', '.join(self.marker_labels)});"
                                " write a note instead.")
        return self._record(now, "marker", match, who, {"label": match}, on_trends=True)

    def due_items(self, now: float | None = None) -> list[DueItem]:
        """What is due now, oldest first: prompts for the nurse (none while DISCHARGED)."""
        now = self._now(now)
        if self.phase == Phase.DISCHARGED:
            return []
        ch, early = self.protocol.charting, self.protocol.charting.early_window_min * 60.0
        out: list[DueItem] = []
        if self.patient is None:
            out.append(DueItem("patient", "Identify the patient (ID, name, date of birth)", self.created))
        if self.mismatch:
            out.append(DueItem("patient_mismatch", self.mismatch + ": confirm with a reason", self.created))
        if self.plan is None:
            out.append(DueItem("plan", "No plan set: enter the dose plan", self.created))
        due = self.cuff_due_since(now)
        if due is not None and now >= due:
            out.append(DueItem("cuff", "Cuff pressure due", due))
        nibp = self.session.nibp
        if nibp is not None and not any(c.item == "moaas" and c.cuff_time == nibp.taken_at for c in self.charts):
            out.append(DueItem("moaas", f"MOAA/S for the cuff reading {nibp.systolic}/{nibp.diastolic}",
                               nibp.taken_at))
        b = self.baseline(now)
        if adv.bp_at_or_above(b.nibp, self.protocol) and self.bp_reason is None:
            out.append(DueItem("baseline_bp_reason", f"Baseline BP {b.nibp.systolic}/{b.nibp.diastolic}: "
                               "consider delaying, or record why the session proceeds", b.nibp.taken_at))
        if self.phase == Phase.BASELINE and self._last_chart("gad7") is None:
            out.append(DueItem("gad7_baseline", "GAD-7 before the session", self.created))
        if self.infusion_started is not None and self.phase in (Phase.INFUSION, Phase.RECOVERY):
            at = self.infusion_started + ch.cadss_after_start_min * 60.0
            if now >= at and self._last_chart("cadss", after=at - early) is None:
                out.append(DueItem("cadss_infusion", f"CADSS at about {ch.cadss_after_start_min:g} min", at))
        if self.recovery_started is not None:
            at = self.recovery_started + self.protocol.phases.recovery_min * 60.0
            if now >= at - early and self._last_chart("cadss", after=at - early) is None:
                out.append(DueItem("cadss_recovery", "CADSS at the end of recovery", at - early))
        if self.phase == Phase.DISCHARGE_CHECK and self._last_chart("gad7", after=self.phase_started - early) is None:
            out.append(DueItem("gad7_discharge", "GAD-7 at discharge", self.phase_started))
        return sorted(out, key=lambda d: d.since)

    # ------------------------------------------------------------------ discharge
    def confirm_escort(self, now: float | None = None) -> None:
        now = self._now(now)
        who = self._who()
        self.escort_confirmed_by = who
        self._record(now, "escort", f"Escort confirmed by {who}", who)

    def confirm_dissociation_resolved(self, now: float | None = None) -> None:
        """The nurse's judgement that dissociation has resolved (with the end-of-recovery CADSS)."""
        now = self._now(now)
        who = self._who()
        self.dissociation_confirmed_by = who
        self._record(now, "dissociation_resolved", f"Dissociation resolved, confirmed by {who}", who)

    def discharge_criteria(self, now: float | None = None) -> list[Criterion]:
        """CLINICAL.md section 2, each met or not with the values behind it (console.discharge).
        A person decides."""
        return discharge_criteria_of(self, self._now(now))

    def _clinician(self, name: str, pin: str | None) -> tuple[str, bool]:
        """Who signs the discharge off, and whether that was verified. With site users: a
        user whose role is clinician, with the PIN. Without: a name other than the signed-in
        nurse's (one person cannot be both)."""
        users = self._users()
        if users is not None and users.configured:
            user = users.find(name)
            if user is None or user.role != "clinician":
                raise WorkflowError(f"{name} is not a clinician of this console: discharge sign-off needs a "
                                    "clinician's name and PIN.")
            try:
                person = users.check(user.name, pin)
            except ValueError as exc:
                raise WorkflowError(str(exc)) from None
            return person.name, True
        if " ".join(name.split()).casefold() == " ".join((self.user or "").split()).casefold():
            raise WorkflowError(f"{name} is signed in as the nurse: the discharge sign-off needs another "
                                "person, the clinician.")
        return name, False

    def sign_off(self, clinician_name: str, now: float | None = None, reason: str | None = None, *,
                 reason_code: str | None = None, pin: str | None = None) -> None:
        """The clinician's discharge decision: the only way to DISCHARGED. Allowed in the
        discharge-check phase. With any criterion not met (or not judged) it needs a reason
        of substance: ``reason_code`` from ``SIGN_OFF_REASONS`` and free text of a few words
        (console.sign_off). The clinician is checked by ``_clinician`` (site users: role and
        PIN). The criteria as they stood are recorded with it."""
        now = self._now(now)
        who = self._who()
        clinician = " ".join((clinician_name or "").split())
        if not clinician:
            raise WorkflowError("Sign-off needs the clinician's name.")
        if text_problem(clinician):
            raise WorkflowError(f"The clinician's name {text_problem(clinician)}.")
        if self.phase != Phase.DISCHARGE_CHECK:
            raise WorkflowError(f"Discharge sign-off is possible in the discharge check (now: {self.phase.value}).")
        criteria = [c for c in self.discharge_criteria(now) if c.name != "Clinician sign-off"]
        unmet = [c for c in criteria if c.met is not True]
        why = None
        if unmet:
            what = "Discharge with criteria not met (" + ", ".join(c.name for c in unmet) + ")"
            problem = reason_problem(reason_code, reason)
            if problem:
                raise WorkflowError(f"{what} needs a reason: {problem}.")
            why = reason_text(reason_code, reason or "")
        clinician, verified = self._clinician(clinician, pin)
        self.signed_off_by = clinician
        self._record(now, "sign_off", f"Discharge signed off by {clinician}"
                     + ("" if verified else " (clinician not verified)")
                     + (f" despite unmet criteria: {why}" if why else ""), who,
                     {"clinician": clinician, "clinician_verified": verified, "reason": why,
                      "reason_code": reason_code if unmet else None,
                      "criteria": [{"name": c.name, "met": c.met, "detail": c.detail} for c in criteria]})
        self._enter(Phase.DISCHARGED, now, f"Discharged (signed off by {clinician})")

    # ------------------------------------------------------------------ training
    def debrief(self, engine: AlarmEngine | None = None) -> list[DebriefRow]:
        return debrief(engine or self.engine)


__all__ = [
    "SCALES", "Baseline", "ChartEntry", "ChartRefused", "Criterion", "DebriefRow", "DoseStatus", "DueItem",
    "NotSignedIn", "Phase", "PlanRefused", "SessionWorkflow", "SignInRefused", "WorkflowError",
    "WorkflowEvent", "debrief",
]
