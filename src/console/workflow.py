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

This class is the one door other modules use; the work is done by one part per seam, each in
the module named for it:

- ``workflow_identity``   sign-in and patient identification against the order (``IdentityDesk``)
- ``workflow_plan``       the plan set, replaced and titrated (``PlanKeeper``)
- ``workflow_phases``     the phase machine and the nurse's start/end marks (``PhaseMachine``)
- ``workflow_baseline``   the baseline, its checks and the BP reason (``BaselineKeeper``)
- ``workflow_charting``   scores, notes and markers (``ChartBook``)
- ``workflow_documentation`` the pre-session checklist, side effects and drugs given, the
                          discharge score, driving and written instructions, the pump check,
                          the treatment number (``DocumentationDesk``)
- ``workflow_due``        what is due now (``due_items``)
- ``workflow_dose``       dose tracking for the pump panel (``dose_status``)
- ``workflow_advisories`` the advisories raised on the engine (``AdvisoryRaiser``)
- ``workflow_discharge``  escort, dissociation and the clinician's sign-off (``DischargeDesk``)
- ``workflow_record``     the timeline of ``WorkflowEvent``s and its listeners (``Journal``)
- ``workflow_errors``     ``WorkflowError`` and its kinds

Parts that change state own it; parts that only read (due items, dose, advisories, the
discharge criteria) take the workflow. Each action here takes the time (``now``, default the
clock) and the signed-in user, then hands over to its part. The session's own fields (its
timeline, patient and plan) are written only through the session's writer methods.
"""

from __future__ import annotations

from collections.abc import Callable

from console.alarms.engine import AlarmEngine
from console.charting import SCALES, ChartEntry
from console.clinical import ClinicalProtocol
from console.clock import Clock
from console.debrief import DebriefRow, debrief
from console.discharge import Criterion
from console.discharge import criteria as discharge_criteria_of
from console.discharge import documentation_criteria as documentation_criteria_of
from console.dose import DosePlan
from console.patient import Patient
from console.plan_file import SessionOrder
from console.session import Session
from console.workflow_advisories import AdvisoryRaiser
from console.workflow_baseline import Baseline, BaselineKeeper
from console.workflow_charting import ChartBook
from console.workflow_discharge import DischargeDesk
from console.workflow_documentation import DocumentationDesk, session_time_of
from console.workflow_dose import DoseStatus, actual_rate_ml_h, dose_figure, dose_status
from console.workflow_due import DueItem, cuff_due_since, due_items
from console.workflow_errors import ChartRefused, NotSignedIn, PlanRefused, SignInRefused, WorkflowError
from console.workflow_identity import IdentityDesk
from console.workflow_phases import PHASE_ORDER, Phase, PhaseMachine  # noqa: F401  PHASE_ORDER: re-exported
from console.workflow_plan import PlanKeeper
from console.workflow_record import ON_TRENDS, Journal, WorkflowEvent  # noqa: F401  ON_TRENDS: the replay's


class _HeldBy:
    """A workflow attribute that one part holds: ``wf.phase`` reads (and writes) the phase
    machine's ``phase``, so the names other modules use stay while each part owns its state."""

    def __init__(self, part: str, name: str | None = None) -> None:
        self.part = part
        self.held_as = name  # the part's own name for it, when the workflow's differs

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.held_as or name

    def __get__(self, obj: object, owner: type | None = None):
        if obj is None:
            return self
        return getattr(getattr(obj, self.part), self.name)

    def __set__(self, obj: object, value: object) -> None:
        setattr(getattr(obj, self.part), self.name, value)


class SessionWorkflow:
    """The ketamine session from sign-in to discharge sign-off, on a Session and an AlarmEngine."""

    # What the parts hold, under the names other modules read.
    timeline = _HeldBy("journal")
    listeners = _HeldBy("journal")
    authenticate = _HeldBy("identity")
    user = _HeldBy("identity")
    user_role = _HeldBy("identity")
    user_verified = _HeldBy("identity")
    patient = _HeldBy("identity")
    expected_patient = _HeldBy("identity")
    patient_confirmed = _HeldBy("identity")
    mismatch = _HeldBy("identity")
    order = _HeldBy("identity")
    plan = _HeldBy("plans")
    overrides = _HeldBy("plans")
    planned_running_s = _HeldBy("plans")
    phase = _HeldBy("phases")
    phase_started = _HeldBy("phases")
    infusion_started = _HeldBy("phases")
    recovery_started = _HeldBy("phases")
    running_s = _HeldBy("phases")
    pump_watch = _HeldBy("phases")
    bp_reason = _HeldBy("baselines")
    charts = _HeldBy("chartbook")
    baseline_met_at = _HeldBy("advisories")
    escort_confirmed_by = _HeldBy("discharging")
    dissociation_confirmed_by = _HeldBy("discharging")
    signed_off_by = _HeldBy("discharging")
    checklist_answers = _HeldBy("documentation", "answers")
    checklist_reason = _HeldBy("documentation")
    side_effects = _HeldBy("documentation")
    interventions = _HeldBy("documentation")
    discharge_scores = _HeldBy("documentation", "scores")
    driving_acknowledged_by = _HeldBy("documentation")
    instructions_acknowledged_by = _HeldBy("documentation")
    pump_checked_by = _HeldBy("documentation")
    pump_checked_at = _HeldBy("documentation")
    treatment_number = _HeldBy("documentation")

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
        self.journal = Journal(session)
        self.identity = IdentityDesk(session, self.journal, authenticate)
        self.plans = PlanKeeper(protocol, session, self.journal)
        self.created = self.clock.now()
        self.baselines = BaselineKeeper(protocol, session, self.journal, self.clock)
        self.chartbook = ChartBook(protocol, session, self.journal)
        self.phases = PhaseMachine(protocol, session, self.journal, self.identity, self.plans, self.baselines,
                                   self.created)
        self.advisories = AdvisoryRaiser(protocol)
        self.documentation = DocumentationDesk(protocol, self.journal, self.identity)
        self.discharging = DischargeDesk(self.journal, self.identity, self.phases, self.discharge_criteria,
                                         self.documentation_criteria)
        # The pump panel reads the nurse's marks and the estimate. (Session has no writer for
        # this yet: the one direct write left.)
        session.set_pump_watch(self.pump_watch)

    def _now(self, now: float | None) -> float:
        return self.clock.now() if now is None else now

    # ------------------------------------------------------------------ sign-in (workflow_identity)
    @property
    def sign_in_verified(self) -> bool:
        """True while the signed-in user was checked against the site's users with a PIN."""
        return self.identity.sign_in_verified

    @property
    def sign_in_notice(self) -> str | None:
        """The permanent notice the window shows while a sign-in is not verified, or None."""
        return self.identity.sign_in_notice

    def sign_in(self, name: str, pin: str | None = None, now: float | None = None) -> None:
        """Sign a nurse in; a second sign-in while someone is signed in switches the user.
        With site users (``authenticate`` a ``SiteUsers``) a listed name needs its PIN and an
        unlisted one is refused when the site requires users, else signed in unverified.
        Raises SignInRefused (blank name, PIN refused). The record says whether the sign-in
        was verified; the PIN is never stored or logged."""
        self.identity.sign_in(name, pin, self._now(now))

    def sign_out(self, now: float | None = None) -> None:
        self.identity.sign_out(self._now(now))

    # ------------------------------------------------------------------ order, patient, plan
    def load_order(self, order: SessionOrder, now: float | None = None) -> str | None:
        """Take a checked session order (``--session FILE.json``, or a scenario's own): the
        plan with its override reasons, and the patient it names (who the nurse must then
        identify). Needs no sign-in: the order carries who ordered it. Returns the patient
        mismatch text if a patient is already identified and differs, else None."""
        now = self._now(now)
        who = order.ordered_by or self.user or "session order"
        self.plans.check_order(order)
        self.identity.expect(order, now, who)
        self.plans.apply(order.plan, dict(order.overrides), now, who, "plan")
        if order.treatment_number is not None:
            self.documentation.set_treatment_number(order.treatment_number, "order", now, who)
        if self.patient is None:
            return None
        return self.identity.check(now, who)

    def identify(self, patient: Patient, now: float | None = None) -> str | None:
        """The nurse identifies the patient (typed, or a wristband scanned into the ID field).
        Returns None when it agrees with the order (or there is none), or the words of the
        mismatch: the session then waits for ``confirm_mismatch(reason)`` (``patient_confirmed``
        is False and a due item says so). ``patient`` is shown either way."""
        now = self._now(now)
        return self.identity.identify(patient, now, self.identity.who())

    def confirm_mismatch(self, reason: str, now: float | None = None) -> None:
        """Proceed with the identified patient despite the order's ID: who and why recorded."""
        now = self._now(now)
        self.identity.confirm_mismatch(reason, now, self.identity.who())

    def set_plan(self, plan: DosePlan, overrides: dict[str, str] | None = None, now: float | None = None) -> bool:
        """Set (or replace) the dose plan. Hard limits, a too-small bag and a weight basis the
        protocol does not allow refuse; each soft limit crossed needs a reason in
        ``overrides`` (field -> reason), recorded with the user. Raises PlanRefused with
        per-field problems. Allowed while monitoring runs. Returns False (and records
        nothing) when the plan and its reasons are the ones already in force."""
        now = self._now(now)
        return self.plans.apply(plan, overrides or {}, now, self.identity.who(), "plan")

    @property
    def planned_start(self):
        """The plan's planned start (wall-clock ``datetime`` with zone), or None."""
        return self.plans.planned_start

    @property
    def planned_start_s(self) -> float | None:
        """The planned start on the session clock, or None when the plan gives none."""
        return self.plans.planned_start_s(self.clock)

    def titrate(self, new_rate_ml_h: float, reason: str, now: float | None = None) -> DosePlan:
        """A planned rate change, with who and why. Same total dose; the plan's rate becomes
        the new rate (see console.workflow_plan for duration and expected end). Refused without
        a plan, without a reason, or when the amended plan crosses a hard limit. Returns the
        amended plan."""
        now = self._now(now)
        return self.plans.titrate(new_rate_ml_h, reason, now, self.identity.who(), self.running_s)

    # ------------------------------------------------------------------ phases (workflow_phases)
    def update(self, now: float | None = None) -> None:
        """Every display frame, before ``engine.evaluate``: phase, baseline, advisories."""
        now = self._now(now)
        self.phases.update(now)
        if self.infusion_started is not None:
            self.documentation.note_infusion_start(now)
        self.advisories.update(self, now)

    def record_infusion_start(self, volume_ml: float | None = None, at: float | None = None,
                              now: float | None = None) -> None:
        """The nurse records 'Infusion started' (time, who, the volume the pump shows) when the
        pump cannot say; it starts the infusion phase. Refused while the pump reports."""
        now = self._now(now)
        self.phases.record_infusion_start(volume_ml, at, now, self.identity.who())

    def record_infusion_end(self, volume_ml: float | None = None, at: float | None = None,
                            now: float | None = None) -> None:
        """The nurse records 'Infusion ended' with the volume read off the pump: recovery
        starts. Refused while the pump reports; a pump seen RUNNING afterwards is an advisory."""
        now = self._now(now)
        self.phases.record_infusion_end(volume_ml, at, now, self.identity.who())

    def declare_pump_without_interface(self, now: float | None = None) -> None:
        """'This pump has no interface': 'no pump data' becomes a standing notice."""
        now = self._now(now)
        self.phases.declare_pump_without_interface(now, self.identity.who())

    def end_infusion(self, reason: str, now: float | None = None) -> None:
        """A nurse ends the infusion before the pump completes (stopped for side effects,
        bag finished by hand): recovery starts now. Needs a reason."""
        now = self._now(now)
        self.phases.end_infusion(reason, now, self.identity.who())

    def phase_elapsed(self, now: float | None = None) -> float:
        return self._now(now) - self.phase_started

    def phase_length(self) -> float | None:
        """How long this phase is planned to last (s), or None when it has no set length."""
        return self.phases.length()

    def banner(self, now: float | None = None) -> str:
        """The phase banner's text with its timer: "INFUSION 12:04 of 40:00"."""
        return self.phases.banner(self._now(now), self.signed_off_by)

    # ------------------------------------------------------------------ baseline (workflow_baseline)
    def baseline(self, now: float | None = None) -> Baseline:
        """The fixed baseline once the pump has run; before that, the baseline as of now."""
        return self.baselines.current(now)

    def baseline_checks(self, now: float | None = None) -> list[Criterion]:
        """Before the start (CLINICAL.md section 2): a cuff pressure, a minute of SpO2 and HR,
        BP below 140/90 or a recorded reason, baseline GAD-7."""
        now = self._now(now)
        return self.baselines.checks(now, self.chartbook.last("gad7", before=self.infusion_started))

    def proceed_despite_bp(self, reason: str, now: float | None = None) -> None:
        """Record why the session goes ahead with a baseline BP at or above 140/90; this
        clears the "consider delaying" advisory."""
        now = self._now(now)
        self.baselines.proceed_despite_bp(reason, now, self.identity.who())

    # ------------------------------------------------------------------ dose tracking (workflow_dose)
    def dose_status(self, now: float | None = None) -> DoseStatus:
        return dose_status(self, self._now(now))

    def dose_figure(self):
        """Delivered drug with what it rests on (pump CONC, the plan's, the nurse's volume)."""
        return dose_figure(self)

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
        return actual_rate_ml_h(self)

    # ------------------------------------------------------------------ charting and due items
    def cuff_due_since(self, now: float | None = None) -> float | None:
        """Session time a cuff reading fell (or will fall) due by the phase's interval; None
        when none is expected (discharged, or nothing monitored yet)."""
        return cuff_due_since(self)

    def due_items(self, now: float | None = None) -> list[DueItem]:
        """What is due now, oldest first: prompts for the nurse (none while DISCHARGED)."""
        return due_items(self, self._now(now))

    def _last_chart(self, item: str, *, after: float | None = None, before: float | None = None) -> ChartEntry | None:
        # console.discharge reads the charted MOAA/S and CADSS through this name.
        return self.chartbook.last(item, after=after, before=before)

    def chart(self, item: str, value: object, now: float | None = None) -> ChartEntry:
        """Chart a score: MOAA/S (0-5, goes with the latest cuff reading), CADSS total (0-92),
        GAD-7 total (0-21, with its severity word), HAM-A total (0-56). Typed text is
        accepted; anything else raises ChartValueRefused (a WorkflowError) with the range."""
        now = self._now(now)
        return self.chartbook.chart(item, value, now, self.identity.who(), self.phase.value)

    def note(self, text: str, now: float | None = None) -> WorkflowEvent:
        now = self._now(now)
        return self.chartbook.note(text, now, self.identity.who())

    @property
    def marker_labels(self) -> tuple[str, ...]:
        """The one-key event markers this site offers (protocol file, charting.markers)."""
        return self.chartbook.marker_labels

    def marker(self, label: str, now: float | None = None) -> WorkflowEvent:
        now = self._now(now)
        return self.chartbook.marker(label, now, self.identity.who())

    # ------------------------------------------------------------------ documentation (workflow_documentation)
    def session_time_of(self, clock_text: str, now: float | None = None) -> float:
        """A time of day the nurse typed (HH:MM, blank: now) on the session clock."""
        now = self._now(now)
        return session_time_of(clock_text, now, self.clock.wall() - self.clock.now() + now)

    @property
    def checklist(self):
        """The site's pre-session checks (protocol file, documentation.checklist)."""
        return self.documentation.checklist

    def answer_check(self, item: str, answer: str, detail: str | None = None, now: float | None = None):
        """Answer one pre-session check: ``answer`` yes, no or not_applicable (where the site
        allows it); ``detail`` as the item asks (required with the answer it names)."""
        now = self._now(now)
        return self.documentation.answer(item, answer, detail, now, self.identity.who())

    def unanswered_checks(self):
        """Required pre-session checks with no answer yet."""
        return self.documentation.unanswered_required()

    def proceed_despite_checklist(self, reason: str, now: float | None = None) -> None:
        """Why the infusion runs with required checks unanswered: clears that advisory."""
        now = self._now(now)
        self.documentation.proceed_despite_checklist(reason, now, self.identity.who())

    def record_side_effect(self, kind: str, severity: str, at: float | None = None, description: str | None = None,
                           now: float | None = None):
        """A side effect (console.workflow_documentation.SIDE_EFFECTS) with its severity and
        when it began (session time, default now); "other" needs a description."""
        now = self._now(now)
        return self.documentation.side_effect(kind, severity, now if at is None else at, description, now,
                                              self.identity.who())

    @property
    def intervention_drugs(self):
        return self.documentation.doc.intervention_drugs

    def record_intervention(self, drug: str, dose: object, unit: str, route: str, at: float | None = None,
                            given_by: str | None = None, indication: str | None = None, now: float | None = None):
        """A drug given (from the site's list) with dose, unit, route, when and who gave it
        (default: the signed-in user)."""
        now = self._now(now)
        return self.documentation.intervention(drug, dose, unit, route, now if at is None else at, given_by,
                                               indication, now, self.identity.who())

    @property
    def score_scale(self):
        """The discharge score in force (modified Aldrete or PADSS, by the protocol)."""
        return self.documentation.scale

    def score_discharge(self, items: dict[str, object], now: float | None = None):
        """Every item of the discharge score, each 0-2; the total is judged against the
        protocol's minimum in the discharge check."""
        now = self._now(now)
        return self.documentation.score(items, now, self.identity.who())

    def acknowledge_driving_restriction(self, now: float | None = None) -> None:
        now = self._now(now)
        self.documentation.acknowledge_driving(now, self.identity.who())

    def acknowledge_written_instructions(self, now: float | None = None) -> None:
        now = self._now(now)
        self.documentation.acknowledge_instructions(now, self.identity.who())

    def pump_checked(self, checker: str, now: float | None = None) -> str:
        """The second person who checked the pump programme against the plan (a site user or
        a typed name, never the signed-in nurse). Returns the name recorded."""
        now = self._now(now)
        plan = self.plan
        summary = None if plan is None else {
            "rate_ml_per_h": round(plan.rate_ml_per_h, 3), "volume_ml": round(plan.volume_ml, 3),
            "total_mg": round(plan.total_mg, 3), "concentration_mg_per_ml": round(plan.concentration_mg_per_ml, 4),
            "duration_min": plan.duration_min}
        return self.documentation.check_pump(checker, summary, now, self.identity.who())

    def set_treatment_number(self, number: object, now: float | None = None) -> int:
        """The treatment number within the course, entered by the nurse (1-99)."""
        now = self._now(now)
        return self.documentation.set_treatment_number(number, "entered", now, self.identity.who())

    # ------------------------------------------------------------------ discharge (workflow_discharge)
    def confirm_escort(self, now: float | None = None) -> None:
        now = self._now(now)
        self.discharging.confirm_escort(now, self.identity.who())

    def confirm_dissociation_resolved(self, now: float | None = None) -> None:
        """The nurse's judgement that dissociation has resolved (with the end-of-recovery CADSS)."""
        now = self._now(now)
        self.discharging.confirm_dissociation_resolved(now, self.identity.who())

    def discharge_criteria(self, now: float | None = None) -> list[Criterion]:
        """CLINICAL.md section 2, each met or not with the values behind it (console.discharge).
        A person decides."""
        return discharge_criteria_of(self, self._now(now))

    def documentation_criteria(self, now: float | None = None) -> list[Criterion]:
        """The documentation's discharge criteria (console.discharge): checks answered, the
        discharge score, driving restriction and written instructions acknowledged."""
        return documentation_criteria_of(self, self._now(now))

    def sign_off(self, clinician_name: str, now: float | None = None, reason: str | None = None, *,
                 reason_code: str | None = None, pin: str | None = None) -> None:
        """The clinician's discharge decision: the only way to DISCHARGED. Allowed in the
        discharge-check phase. With any criterion not met (or not judged) it needs a reason
        of substance: ``reason_code`` from ``SIGN_OFF_REASONS`` and free text of a few words
        (console.sign_off). The clinician is checked against the site's users (role and PIN)
        when there are any. The criteria as they stood are recorded with it."""
        now = self._now(now)
        self.discharging.sign_off(clinician_name, now, self.identity.who(), reason, reason_code, pin)

    # ------------------------------------------------------------------ training
    def debrief(self, engine: AlarmEngine | None = None) -> list[DebriefRow]:
        return debrief(engine or self.engine)


__all__ = [
    "SCALES", "Baseline", "ChartEntry", "ChartRefused", "Criterion", "DebriefRow", "DoseStatus", "DueItem",
    "NotSignedIn", "Phase", "PlanRefused", "SessionWorkflow", "SignInRefused", "WorkflowError",
    "WorkflowEvent", "debrief",
]
