"""Times as the chart writes them: the clock time of day with the session time beside it, so a
reader can match the chart to the screen's session clock and to the clinic's wall clock."""

from __future__ import annotations

from console.recording.replay import Review
from console.vitals_table import session_time
from console.workflow_record import fmt_time


def clock(review: Review, t: float) -> str:
    return review.wall(t).strftime("%H:%M:%S")


def stamp(review: Review, t: float | None) -> str:
    """``09:05:00 (0:05:00)``: clock time (session time); "" for none."""
    if t is None:
        return ""
    return f"{clock(review, t)} ({session_time(t)})"


def duration(seconds: float | None) -> str:
    return "" if seconds is None else fmt_time(seconds)
