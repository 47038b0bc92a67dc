"""The nurse's documentation the chart has a place for but this console version does not yet
record (issue 17): the pre-session checklist, side effects and interventions, the discharge
score (modified Aldrete or PADSS) with the driving restriction and written instructions.

Each is one ``DocumentationItem``: its section says "not recorded by this console version"
until the record holds events of its kinds, which are then listed as recorded (time, what,
who). When the documentation lands, the item names its event kinds here, or gets a builder of
its own (``build``) for a richer table; nothing else of the chart changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from console.recording.replay import Review
from console.report.chart import Section, Table
from console.report.sessions import NOT_RECORDED, of_kind
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
            version = review.meta.get("console_version") or "unknown"
            return Section(self.key, self.title, absent=f"{NOT_RECORDED} (infusion-console {version})")
        rows = tuple((stamp(review, e.time), e.text, e.user or "") for e in events)
        return Section(self.key, self.title, tables=(Table(("Time", "Recorded", "By"), rows),))


ITEMS = (
    DocumentationItem("checklist", "Pre-session checklist", ("checklist",)),
    DocumentationItem("side_effects", "Side effects and interventions", ("side_effect", "intervention")),
    DocumentationItem("discharge_score", "Discharge score and instructions", ("discharge_score", "instructions")),
)


def documentation_sections(review: Review) -> tuple[Section, ...]:
    return tuple(item.section(review) for item in ITEMS)
