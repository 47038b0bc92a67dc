"""What nurses chart during the session: scores (MOAA/S, CADSS, GAD-7, HAM-A), free-text notes
and the site's one-key event markers, each recorded with who and put on the trends."""

from __future__ import annotations

from console.charting import ChartEntry, ChartValueRefused, parse_score, scale_for, score_words
from console.clinical import ClinicalProtocol
from console.session import Session
from console.workflow_errors import ChartRefused, WorkflowError
from console.workflow_record import Journal, WorkflowEvent


class ChartBook:
    """The charted scores, oldest first, and the notes and markers (on the journal)."""

    def __init__(self, protocol: ClinicalProtocol, session: Session, journal: Journal) -> None:
        self.protocol = protocol
        self.session = session
        self.journal = journal
        self.charts: list[ChartEntry] = []

    def last(self, item: str, *, after: float | None = None, before: float | None = None) -> ChartEntry | None:
        """The latest entry of ``item`` charted within [after, before] (either end open)."""
        for entry in reversed(self.charts):
            if entry.item == item and (after is None or entry.time >= after) \
                    and (before is None or entry.time <= before):
                return entry
        return None

    def chart(self, item: str, value: object, now: float, who: str, phase: str) -> ChartEntry:
        try:
            scale = scale_for(item)
            score = parse_score(scale, value)
        except ChartValueRefused as exc:
            raise ChartRefused(str(exc)) from None
        # A MOAA/S goes with the cuff reading it was scored at (the due item asks per reading).
        cuff = self.session.nibp.taken_at if scale.key == "moaas" and self.session.nibp else None
        entry = ChartEntry(now, scale.key, score, who, phase,
                           score_words(scale, score, self.protocol.charting.gad7_severity), cuff)
        self.charts.append(entry)
        self.journal.record(now, "chart", entry.text(), who,
                            {"item": scale.key, "label": scale.label, "value": score, "words": entry.words,
                             "phase": phase, "cuff_time": cuff}, on_trends=True)
        return entry

    def note(self, text: str, now: float, who: str) -> WorkflowEvent:
        body = (text or "").strip()
        if not body:
            raise WorkflowError("A note needs some text.")
        return self.journal.record(now, "note", body, who, {"text": body}, on_trends=True)

    @property
    def marker_labels(self) -> tuple[str, ...]:
        return self.protocol.charting.markers

    def marker(self, label: str, now: float, who: str) -> WorkflowEvent:
        match = next((m for m in self.marker_labels if m.lower() == (label or "").strip().lower()), None)
        if match is None:
            raise WorkflowError(f"'{label}' is not one of the event markers ({', '.join(self.marker_labels)});"
                                " write a note instead.")
        return self.journal.record(now, "marker", match, who, {"label": match}, on_trends=True)
