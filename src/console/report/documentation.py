"""The nurse's documentation the chart has a place for but this console version does not yet
record (issue 17): the pre-session checklist, side effects and interventions, the discharge
score (modified Aldrete or PADSS) with the driving restriction and written instructions.

Each is one ``DocumentationItem`` naming the event kinds the workflow records it with: the
events found are listed as recorded (time, what, who); none, and the section says why
(console.report.events.absent: "not recorded by this console version", or "not documented in
this session"). An item that wants a richer table gets a builder of its own (``build``); nothing
else of the chart changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from console.recording.replay import Review
from console.report.chart import Section, Table
from console.report.events import absent, of_kind
from console.report.when import stamp


@dataclass(frozen=True)
class DocumentationItem:
    key: str
    title: str
    kinds: tuple[str, ...]  # the event kinds that will hold it in the record
    build: Callable[[Review], Section] | None = None  # a section of its own, once it has one

    def section(self, review: Review) -> Section:
        if self.build is not None:
            return self.build(review)
        events = of_kind(review, *self.kinds)
        if not events:
            return Section(self.key, self.title, absent=absent(review))
        rows = tuple((stamp(review, e.time), e.text, e.user or "") for e in events)
        return Section(self.key, self.title, tables=(Table(("Time", "Recorded", "By"), rows),))


ITEMS = (
    DocumentationItem("checklist", "Pre-session checklist", ("checklist_answer", "checklist_at_start",
                                                             "checklist_proceed")),
    DocumentationItem("side_effects", "Side effects and interventions", ("side_effect", "intervention")),
    DocumentationItem("discharge_score", "Discharge score and instructions",
                      ("discharge_score", "driving_restriction", "written_instructions")),
)


def documentation_sections(review: Review) -> tuple[Section, ...]:
    return tuple(item.section(review) for item in ITEMS)
