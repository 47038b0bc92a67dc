"""The workflow's record: each thing people did (``WorkflowEvent``) goes on the timeline, to the
listeners (the recorder, the window), and, for the kinds in ``ON_TRENDS``, onto the trends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from console.session import Session

# The workflow actions drawn on the trends, with the kind the trends colour them by. The replay
# of a recorded session draws the same ones from this table.
ON_TRENDS = {"phase": "phase", "chart": "chart", "note": "note", "marker": "marker",
             "titration": "note", "proceed_despite_bp": "note",
             "infusion_start_manual": "note", "infusion_end_manual": "note",
             # What the patient went through and what was given: beside the vitals it explains.
             "side_effect": "note", "intervention": "note"}


@dataclass(frozen=True)
class WorkflowEvent:
    """One thing that happened in the session workflow, for the timeline and the record.

    ``kind``: sign_in, sign_out, switch_user, order, patient, patient_mismatch,
    patient_confirmed, plan, titration, phase, baseline, proceed_despite_bp, end_infusion,
    chart, note, marker, escort, dissociation_resolved, sign_off, infusion_start_manual,
    infusion_end_manual, pump_no_interface; the nurse's documentation (workflow_documentation,
    docs/recording.md "Documentation events"): checklist_answer, checklist_at_start,
    checklist_proceed, side_effect, intervention, discharge_score, driving_restriction,
    written_instructions, pump_checked, treatment_number. ``data`` holds the values
    (plan fields, overrides with reasons, score and item, ...), JSON-ready.
    """

    time: float
    kind: str
    text: str
    user: str
    data: dict = field(default_factory=dict)


class Journal:
    """The timeline of workflow events and who listens to it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.timeline: list[WorkflowEvent] = []
        self.listeners: list[Callable[[WorkflowEvent], None]] = []

    def record(self, now: float, kind: str, text: str, user: str, data: dict | None = None,
               *, on_trends: bool = False) -> WorkflowEvent:
        event = WorkflowEvent(now, kind, text, user, data or {})
        self.timeline.append(event)
        if on_trends:  # the trends view draws session events as vertical lines; the session writes them
            self.session.add_event(now, ON_TRENDS[kind], text)
        for listener in self.listeners:
            listener(event)
        return event


def fmt_time(seconds: float) -> str:
    """A duration as the banner and the record show it: mm:ss, or h:mm:ss from an hour."""
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
