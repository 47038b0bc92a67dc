"""Reading the record's events (the workflow's journal) for the chart, and the words for what
the record does not hold.

The nurse's documentation (checklist, side effects and interventions, discharge score, the
second check of the pump programme, the treatment number) is recorded only by console versions
that have it. A record holding none of its events was made by a version without it: the chart
says "not recorded by this console version". A record holding some of them was made by one
that has it: an item missing there was not documented in this session, and the chart says that
instead (a console with the documentation records the checklist's state when the pump starts,
so a session that reached its infusion holds at least that)."""

from __future__ import annotations

from console.recording.replay import RecordedEvent, Review

NOT_RECORDED = "not recorded by this console version"
NOT_DOCUMENTED = "not documented in this session"
# Every event kind of the nurse's documentation (issue 17), as the workflow records them.
DOCUMENTATION_KINDS = frozenset({
    "checklist_answer", "checklist_at_start", "checklist_proceed", "side_effect", "intervention",
    "discharge_score", "driving_restriction", "written_instructions", "pump_checked", "treatment_number"})


def data_of(ev: RecordedEvent) -> dict:
    """An event's recorded values; an older or foreign record's non-object data reads as none."""
    return ev.data if isinstance(ev.data, dict) else {}


def first(review: Review, kind: str, **data: str) -> RecordedEvent | None:
    """The first event of ``kind`` whose data holds every ``data`` item."""
    for ev in review.events:
        if ev.kind == kind and all(data_of(ev).get(k) == v for k, v in data.items()):
            return ev
    return None


def last(review: Review, kind: str) -> RecordedEvent | None:
    found = of_kind(review, kind)
    return found[-1] if found else None


def of_kind(review: Review, *kinds: str) -> list[RecordedEvent]:
    return [ev for ev in review.events if ev.kind in kinds]


def records_documentation(review: Review) -> bool:
    return any(ev.kind in DOCUMENTATION_KINDS for ev in review.events)


def absent(review: Review) -> str:
    """Why a documentation item is not on the chart, with the console version that made the record."""
    if records_documentation(review):
        return NOT_DOCUMENTED
    return f"{NOT_RECORDED} (infusion-console {review.meta.get('console_version') or 'version unknown'})"
