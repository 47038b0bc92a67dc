"""The way out: the escort and the resolved dissociation confirmed by the nurse, and the
clinician's discharge sign-off, the only way to DISCHARGED. The criteria themselves are judged
in console.discharge; a person decides."""

from __future__ import annotations

from collections.abc import Callable

from console.discharge import Criterion
from console.patient import text_problem
from console.sign_off import reason_problem, reason_text
from console.workflow_errors import WorkflowError
from console.workflow_identity import IdentityDesk
from console.workflow_phases import Phase, PhaseMachine
from console.workflow_record import Journal


class DischargeDesk:
    """Who confirmed the escort and the dissociation, and who signed the discharge off.
    ``criteria(now)``: the discharge criteria as they stand (console.discharge)."""

    def __init__(self, journal: Journal, identity: IdentityDesk, phases: PhaseMachine,
                 criteria: Callable[[float], list[Criterion]],
                 documentation: Callable[[float], list[Criterion]] | None = None) -> None:
        self.journal = journal
        self.identity = identity
        self.phases = phases
        self.criteria = criteria
        # The nurse's documentation criteria: recorded with the sign-off as they stood.
        self.documentation = documentation or (lambda _now: [])
        self.escort_confirmed_by: str | None = None
        self.dissociation_confirmed_by: str | None = None
        self.signed_off_by: str | None = None

    def confirm_escort(self, now: float, who: str) -> None:
        self.escort_confirmed_by = who
        self.journal.record(now, "escort", f"Escort confirmed by {who}", who)

    def confirm_dissociation_resolved(self, now: float, who: str) -> None:
        self.dissociation_confirmed_by = who
        self.journal.record(now, "dissociation_resolved", f"Dissociation resolved, confirmed by {who}", who)

    def _clinician(self, name: str, pin: str | None) -> tuple[str, bool]:
        """Who signs the discharge off, and whether that was verified. With site users: a
        user whose role is clinician, with the PIN. Without: a name other than the signed-in
        nurse's (one person cannot be both)."""
        users = self.identity.site_users()
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
        if " ".join(name.split()).casefold() == " ".join((self.identity.user or "").split()).casefold():
            raise WorkflowError(f"{name} is signed in as the nurse: the discharge sign-off needs another "
                                "person, the clinician.")
        return name, False

    def sign_off(self, clinician_name: str, now: float, who: str, reason: str | None,
                 reason_code: str | None, pin: str | None) -> None:
        clinician = " ".join((clinician_name or "").split())
        if not clinician:
            raise WorkflowError("Sign-off needs the clinician's name.")
        if text_problem(clinician):
            raise WorkflowError(f"The clinician's name {text_problem(clinician)}.")
        if self.phases.phase != Phase.DISCHARGE_CHECK:
            raise WorkflowError(f"Discharge sign-off is possible in the discharge check (now: "
                                f"{self.phases.phase.value}).")
        criteria = [c for c in self.criteria(now) if c.name != "Clinician sign-off"]
        documentation = self.documentation(now)
        # The documentation's criteria (score, driving restriction, instructions, checks) count as
        # the clinical ones do: a discharge without them is against the criteria, and says why.
        unmet = [c for c in (*criteria, *documentation) if c.met is not True]
        why = None
        if unmet:  # a discharge against the criteria needs a reason of substance (console.sign_off)
            what = "Discharge with criteria not met (" + ", ".join(c.name for c in unmet) + ")"
            problem = reason_problem(reason_code, reason)
            if problem:
                raise WorkflowError(f"{what} needs a reason: {problem}.")
            assert reason_code is not None  # reason_problem refuses a missing code
            why = reason_text(reason_code, reason or "")
        clinician, verified = self._clinician(clinician, pin)
        self.signed_off_by = clinician
        self.journal.record(now, "sign_off", f"Discharge signed off by {clinician}"
                            + ("" if verified else " (clinician not verified)")
                            + (f" despite unmet criteria: {why}" if why else ""), who,
                            {"clinician": clinician, "clinician_verified": verified, "reason": why,
                             "reason_code": reason_code if unmet else None,
                             "criteria": [{"name": c.name, "met": c.met, "detail": c.detail} for c in criteria],
                             "documentation": [{"name": c.name, "met": c.met, "detail": c.detail}
                                               for c in documentation]})
        self.phases.enter(Phase.DISCHARGED, now, f"Discharged (signed off by {clinician})")
