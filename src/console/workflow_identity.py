"""Who is at the bedside: the signed-in user (verified against the site's users or not) and the
patient, identified by the nurse and checked against the one the session order names."""

from __future__ import annotations

from collections.abc import Callable

from console.patient import Patient, text_problem
from console.plan_file import SessionOrder
from console.session import Session
from console.users import SiteUsers
from console.workflow_errors import NotSignedIn, SignInRefused, WorkflowError, require_reason
from console.workflow_record import Journal


def same_person(a: Patient, b: Patient) -> list[str]:
    """What differs between two identifications (case and spacing of names ignored)."""
    out = []
    if a.patient_id.strip() != b.patient_id.strip():
        out.append(f"ID {b.patient_id} is not the order's {a.patient_id}")
    if " ".join(a.name.lower().split()) != " ".join(b.name.lower().split()):
        out.append(f"name {b.name} is not the order's {a.name}")
    if a.date_of_birth and b.date_of_birth and a.date_of_birth != b.date_of_birth:
        out.append(f"date of birth {b.date_of_birth} is not the order's {a.date_of_birth}")
    return out


class IdentityDesk:
    """Sign-in and patient identification. ``authenticate(name, pin)``: a site's check of a PIN,
    or a ``SiteUsers`` (None: any name signs in; the PIN is never stored or logged)."""

    def __init__(self, session: Session, journal: Journal,
                 authenticate: Callable[[str, str | None], bool] | None) -> None:
        self.session = session
        self.journal = journal
        self.authenticate = authenticate
        self.user: str | None = None
        self.user_role: str | None = None  # the site role, when the site lists its users
        self.user_verified = False  # the name was checked against the site's users with a PIN
        self.patient: Patient | None = session.patient
        self.expected_patient: Patient | None = None  # who the order names
        self.patient_confirmed = True  # False while an ID mismatch waits for confirmation
        self.mismatch: str | None = None  # the words of that mismatch
        self.order: SessionOrder | None = None

    # ------------------------------------------------------------------ sign-in
    def site_users(self) -> SiteUsers | None:
        return self.authenticate if isinstance(self.authenticate, SiteUsers) else None

    def who(self) -> str:
        """The signed-in user; every action needs one because every action is recorded with it."""
        if not self.user:
            raise NotSignedIn("Sign in first: every action is recorded with the name of who did it.")
        return self.user

    @property
    def sign_in_verified(self) -> bool:
        return self.user is not None and self.user_verified

    @property
    def sign_in_notice(self) -> str | None:
        if self.user is None or self.user_verified:
            return None
        if self.session.simulated:
            return "Training: sign-in not verified"
        users = self.site_users()
        if users is None or not users.configured:
            return "Sign-in not verified: no users are configured for this console"
        return f"Sign-in not verified: {self.user} is not a user of this console"

    def sign_in(self, name: str, pin: str | None, now: float) -> None:
        name = " ".join((name or "").split())
        if not name:
            raise SignInRefused("Enter your name to sign in.")
        problem = text_problem(name)
        if problem:
            raise SignInRefused(f"The name {problem}.")
        users = self.site_users()
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
            self.journal.record(now, "switch_user", f"User switched from {before} to {name}{note}", name,
                                {"from": before, **data})
        elif before != name:
            self.journal.record(now, "sign_in", f"{name} signed in{note}", name, data)

    def sign_out(self, now: float) -> None:
        if self.user:
            self.journal.record(now, "sign_out", f"{self.user} signed out", self.user)
        self.user, self.user_role, self.user_verified = None, None, False

    # ------------------------------------------------------------------ patient
    def expect(self, order: SessionOrder, now: float, who: str) -> None:
        """Take the order's patient as the one the nurse must identify, and record the order."""
        self.order = order
        self.expected_patient = order.patient
        self.journal.record(now, "order", f"Session order for {order.patient.banner()}"
                            + (f" from {order.source}" if order.source else "")
                            + (f", ordered by {order.ordered_by}" if order.ordered_by else ""), who,
                            {"patient": order.patient.model_dump(mode="json"), "source": order.source,
                             "ordered_by": order.ordered_by})

    def identify(self, patient: Patient, now: float, who: str) -> str | None:
        if patient == self.patient:  # the same identification again (the dialog's OK): nothing new
            return self.mismatch
        self.patient = patient
        self.session.set_patient(patient)
        self.journal.record(now, "patient", f"Patient identified: {patient.banner()}", who,
                            {"patient": patient.model_dump(mode="json")})
        return self.check(now, who)

    def check(self, now: float, who: str) -> str | None:
        """Compare the identified patient with the order's: None when they agree (or either is
        missing), else the mismatch words, recorded, and the patient waits for confirmation."""
        if self.expected_patient is None or self.patient is None:
            return None
        differences = same_person(self.expected_patient, self.patient)
        if not differences:
            self.patient_confirmed, self.mismatch = True, None
            return None
        self.patient_confirmed = False
        self.mismatch = "Patient does not match the order: " + "; ".join(differences)
        self.journal.record(now, "patient_mismatch", self.mismatch, who,
                            {"expected": self.expected_patient.model_dump(mode="json"),
                             "identified": self.patient.model_dump(mode="json")})
        return self.mismatch

    def confirm_mismatch(self, reason: str, now: float, who: str) -> None:
        if self.mismatch is None:
            raise WorkflowError("There is no patient mismatch to confirm.")
        why = require_reason(reason, "Confirming a patient who does not match the order")
        self.journal.record(now, "patient_confirmed", f"{who} confirmed the patient despite the mismatch: {why}",
                            who, {"mismatch": self.mismatch, "reason": why})
        self.patient_confirmed, self.mismatch = True, None
