"""What the nurse documents in the console beyond the scores (CLINICAL.md section 8): the
pre-session checklist, side effects and the drugs given for them, the discharge score, the
driving restriction and written instructions, who checked the pump programme, and the
treatment number within the course.

Each action is recorded on the journal with who and when, as one event of a stable shape
(docs/recording.md, "Documentation events"): the PDF report reads them back. Nothing here
raises or clears an alarm; ``unanswered_required`` feeds the advisory raised at the pump's
start (console.workflow_advisories) and the discharge criteria (console.discharge).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from console.clinical import ChecklistItem, ClinicalProtocol, InterventionDrug
from console.discharge_score import SCALES, ScoreScale, score_items
from console.patient import text_problem
from console.plan_file import MAX_TREATMENT_NUMBER as MAX_TREATMENT
from console.plan_file import read_number
from console.workflow_errors import WorkflowError, require_reason
from console.workflow_identity import IdentityDesk
from console.workflow_record import Journal, fmt_time

ANSWERS = {"yes": "yes", "no": "no", "not_applicable": "not applicable"}
SIDE_EFFECTS = {"nausea": "nausea", "vomiting": "vomiting", "headache": "headache", "dizziness": "dizziness",
                "anxiety_panic": "anxiety or panic", "hypertension": "hypertension", "other": "other"}
SEVERITIES = ("mild", "moderate", "severe")
MAX_TEXT = 200  # a detail or a description: a line of the chart, not a letter


@dataclass(frozen=True)
class ChecklistAnswer:
    key: str
    answer: str  # a key of ANSWERS
    detail: str | None
    user: str
    time: float


@dataclass(frozen=True)
class SideEffect:
    kind: str  # a key of SIDE_EFFECTS
    severity: str
    at: float  # when it happened (session s); recorded at the event's own time
    description: str | None
    user: str


@dataclass(frozen=True)
class Intervention:
    drug: str
    dose: float
    unit: str
    route: str
    at: float
    given_by: str
    indication: str | None
    user: str


@dataclass(frozen=True)
class DischargeScoreEntry:
    scale: str
    items: dict[str, int]
    total: int
    minimum: int
    time: float
    user: str

    @property
    def met(self) -> bool:
        return self.total >= self.minimum


def _text(value: str | None, what: str, *, required: bool = False) -> str | None:
    """Typed text as it is recorded: trimmed, one line, of a chart's length; blank is None."""
    body = " ".join((value or "").split())
    if not body:
        if required:
            raise WorkflowError(f"{what} is needed.")
        return None
    if text_problem(body):
        raise WorkflowError(f"{what} {text_problem(body)}.")
    if len(body) > MAX_TEXT:
        raise WorkflowError(f"{what} is too long ({len(body)} characters, at most {MAX_TEXT}).")
    return body


def name_some(labels: list[str], most: int = 2) -> str:
    """A few labels by name and how many more: a line of the screen, not a paragraph (the
    checklist dialog lists them all)."""
    shown = ", ".join(labels[:most])
    return shown + (f" and {len(labels) - most} more" if len(labels) > most else "")


def session_time_of(clock_text: str, now: float, wall_now: float) -> float:
    """A time of day the nurse typed (HH:MM, today) as session time; blank is now. A time
    later than now is refused here, by the caller's checks (never silently moved to now)."""
    text = (clock_text or "").strip()
    if not text:
        return now
    try:
        hh, mm = (int(part) for part in text.replace(".", ":").split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError
    except ValueError:
        raise WorkflowError(f"Time '{text}': write it as HH:MM, e.g. 09:40 (blank: now).") from None
    wall = dt.datetime.fromtimestamp(wall_now)
    when = wall.replace(hour=hh, minute=mm, second=0, microsecond=0)
    return now - (wall - when).total_seconds()


class DocumentationDesk:
    """The nurse's documentation of one session, each entry with who and when."""

    def __init__(self, protocol: ClinicalProtocol, journal: Journal, identity: IdentityDesk) -> None:
        self.doc = protocol.documentation
        self.journal = journal
        self.identity = identity
        self.answers: dict[str, ChecklistAnswer] = {}
        self.checklist_reason: str | None = None  # why the pump ran with required checks unanswered
        self.unanswered_at_start: tuple[str, ...] | None = None  # None until the infusion starts
        self.side_effects: list[SideEffect] = []
        self.interventions: list[Intervention] = []
        self.scores: list[DischargeScoreEntry] = []
        self.driving_acknowledged_by: str | None = None
        self.instructions_acknowledged_by: str | None = None
        self.pump_checked_by: str | None = None
        self.pump_checked_at: float | None = None
        self.treatment_number: int | None = None
        self.treatment_source: str | None = None  # "order" or "entered"

    # ------------------------------------------------------------------ checklist
    @property
    def checklist(self) -> tuple[ChecklistItem, ...]:
        return self.doc.checklist

    def item(self, key: str) -> ChecklistItem:
        found = next((i for i in self.checklist if i.key == key), None)
        if found is None:
            raise WorkflowError(f"'{key}' is not one of this site's pre-session checks "
                                f"({', '.join(i.key for i in self.checklist)}).")
        return found

    def answer(self, key: str, answer: str, detail: str | None, now: float, who: str) -> ChecklistAnswer:
        """Answer (or change the answer to) one check; the record keeps every answer given."""
        item = self.item(key)
        if answer not in ANSWERS:
            raise WorkflowError(f"{item.label}: answer yes, no or not applicable (not '{answer}').")
        if answer == "not_applicable" and not item.not_applicable_allowed:
            raise WorkflowError(f"{item.label}: 'not applicable' is not an answer this site allows; "
                                "answer yes or no.")
        words = _text(detail, f"{item.label}: {item.detail or 'the detail'}",
                      required=item.detail_needed_when == answer)
        entry = ChecklistAnswer(key, answer, words, who, now)
        self.answers[key] = entry
        self.journal.record(now, "checklist_answer",
                            f"Check: {item.label}: {ANSWERS[answer]}" + (f" ({words})" if words else ""), who,
                            {"item": key, "label": item.label, "answer": answer, "detail": words,
                             "required": item.required})
        return entry

    def unanswered_required(self) -> list[ChecklistItem]:
        return [i for i in self.checklist if i.required and i.key not in self.answers]

    def note_infusion_start(self, now: float) -> None:
        """At the infusion's start, once: which required checks were still unanswered (the
        advisory follows from them; the record keeps the moment)."""
        if self.unanswered_at_start is not None:
            return
        missing = self.unanswered_required()
        self.unanswered_at_start = tuple(i.key for i in missing)
        text = ("Infusion started with every required check answered" if not missing else
                "Infusion started with required checks unanswered: " + ", ".join(i.label for i in missing))
        self.journal.record(now, "checklist_at_start", text, self.identity.user or "console",
                            {"unanswered": [i.key for i in missing], "labels": [i.label for i in missing]})

    def proceed_despite_checklist(self, reason: str, now: float, who: str) -> None:
        """Why the infusion goes on with required checks unanswered; clears the advisory."""
        missing = self.unanswered_required()
        if not missing:
            raise WorkflowError("Every required pre-session check is answered: no reason is needed.")
        why = require_reason(reason, "Proceeding with pre-session checks unanswered")
        why = _text(why, "The reason") or why
        self.checklist_reason = why
        self.journal.record(now, "checklist_proceed",
                            "Proceeding with checks unanswered (" + ", ".join(i.label for i in missing)
                            + f"): {why}", who, {"reason": why, "unanswered": [i.key for i in missing]})

    # ------------------------------------------------------------------ side effects and drugs
    def side_effect(self, kind: str, severity: str, at: float, description: str | None, now: float,
                    who: str) -> SideEffect:
        if kind not in SIDE_EFFECTS:
            raise WorkflowError(f"'{kind}' is not a side effect kind ({', '.join(SIDE_EFFECTS.values())}).")
        if severity not in SEVERITIES:
            raise WorkflowError(f"Severity: mild, moderate or severe (not '{severity}').")
        self._not_future(at, now)
        words = _text(description, "What the side effect was", required=kind == "other")
        entry = SideEffect(kind, severity, at, words, who)
        self.side_effects.append(entry)
        label = SIDE_EFFECTS[kind] if kind != "other" else words
        self.journal.record(now, "side_effect", f"Side effect: {label}, {severity}{self._at(at, now)}"
                            + (f" ({words})" if words and kind != "other" else ""), who,
                            {"kind": kind, "label": SIDE_EFFECTS[kind], "severity": severity, "at": at,
                             "description": words}, on_trends=True)
        return entry

    def drug(self, name: str) -> InterventionDrug:
        found = next((d for d in self.doc.intervention_drugs if d.name.casefold() == (name or "").strip().casefold()),
                     None)
        if found is None:
            raise WorkflowError(f"'{name}' is not on this site's list of drugs "
                                f"({', '.join(d.name for d in self.doc.intervention_drugs)}); write a note instead.")
        return found

    def intervention(self, drug: str, dose: object, unit: str, route: str, at: float, given_by: str | None,
                     indication: str | None, now: float, who: str) -> Intervention:
        d = self.drug(drug)
        value = self._dose(dose, d.name)
        if unit not in d.units:
            raise WorkflowError(f"{d.name}: the unit is one of {', '.join(d.units)} (not '{unit}').")
        if route not in d.routes:
            raise WorkflowError(f"{d.name}: the route is one of {', '.join(d.routes)} (not '{route}').")
        self._not_future(at, now)
        giver = _text(given_by, "Who gave it") or who
        why = _text(indication, "What it was given for")
        entry = Intervention(d.name, value, unit, route, at, giver, why, who)
        self.interventions.append(entry)
        self.journal.record(now, "intervention",
                            f"Given: {d.name} {value:g} {unit} {route}{self._at(at, now)} by {giver}"
                            + (f" for {why}" if why else ""), who,
                            {"drug": d.name, "dose": value, "unit": unit, "route": route, "at": at,
                             "given_by": giver, "indication": why}, on_trends=True)
        return entry

    @staticmethod
    def _dose(dose: object, drug: str) -> float:
        value: float | None
        problem: str | None = None
        if isinstance(dose, (int, float)) and not isinstance(dose, bool):
            value = float(dose) if math.isfinite(dose) else None
        else:
            value, problem = read_number(str(dose or ""), f"The {drug} dose", "")
        if problem:
            raise WorkflowError(problem)
        if value is None or value <= 0:
            raise WorkflowError(f"The {drug} dose must be a number above zero.")
        return value

    @staticmethod
    def _not_future(at: float, now: float) -> None:
        if at > now + 0.5:  # half a second: the clock read twice within one action
            raise WorkflowError(f"That time is {fmt_time(at - now)} in the future: give when it happened.")

    @staticmethod
    def _at(at: float, now: float) -> str:
        return f", {fmt_time(now - at)} ago" if now - at >= 60 else ""

    # ------------------------------------------------------------------ discharge score and acknowledgements
    @property
    def scale(self) -> ScoreScale:
        return SCALES[self.doc.discharge_score.scale]

    def score(self, items: dict[str, object], now: float, who: str) -> DischargeScoreEntry:
        scale, minimum = self.scale, self.doc.discharge_score.minimum
        scored = score_items(scale, items)
        total = sum(scored.values())
        entry = DischargeScoreEntry(scale.key, scored, total, minimum, now, who)
        self.scores.append(entry)
        self.journal.record(now, "discharge_score",
                            f"{scale.label} {total}/10 ({'meets' if entry.met else 'below'} the {minimum} "
                            "needed): " + ", ".join(f"{i.label} {scored[i.key]}" for i in scale.items), who,
                            {"scale": scale.key, "items": scored, "total": total, "minimum": minimum,
                             "met": entry.met})
        return entry

    def last_score(self, after: float | None) -> DischargeScoreEntry | None:
        return next((s for s in reversed(self.scores) if after is None or s.time >= after), None)

    def acknowledge_driving(self, now: float, who: str) -> None:
        hours = self.doc.driving_restriction_h
        self.driving_acknowledged_by = who
        self.journal.record(now, "driving_restriction", f"Told: no driving or machinery for {hours:g} h "
                            f"(acknowledged, {who})", who, {"hours": hours})

    def acknowledge_instructions(self, now: float, who: str) -> None:
        self.instructions_acknowledged_by = who
        self.journal.record(now, "written_instructions", f"Written discharge instructions given ({who})", who, {})

    # ------------------------------------------------------------------ pump check and treatment number
    def check_pump(self, checker: str, plan: dict | None, now: float, who: str) -> str:
        """The second person who checked the pump's programme against the plan. A site user's
        name is taken as the site spells it; any other typed name is recorded as typed."""
        if plan is None:
            raise WorkflowError("Set the plan first: the pump programme is checked against it.")
        name = _text(checker, "The name of who checked the pump", required=True) or ""
        users = self.identity.site_users()
        person = users.find(name) if users is not None and users.configured else None
        if person is not None:
            name = person.name
        if name.casefold() == who.casefold():
            raise WorkflowError(f"{name} is signed in: the pump programme is checked by a second person.")
        self.pump_checked_by, self.pump_checked_at = name, now
        self.journal.record(now, "pump_checked", f"Pump programme checked against the plan by {name}", who,
                            {"checked_by": name, "site_user": person is not None, "plan": plan})
        return name

    def set_treatment_number(self, number: object, source: str, now: float, who: str) -> int:
        text = str(number).strip() if number is not None else ""
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_TREATMENT:
            raise WorkflowError(f"Treatment number: a whole number from 1 to {MAX_TREATMENT} (not '{text}').")
        value = int(text)
        self.treatment_number, self.treatment_source = value, source
        self.journal.record(now, "treatment_number", f"Treatment {value} of the course"
                            + (" (from the order)" if source == "order" else ""), who,
                            {"number": value, "source": source})
        return value
