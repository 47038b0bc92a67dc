"""Training debrief: each alarm of the session and how long the trainee took to acknowledge
it, from the alarm engine's history (the self-test is left out)."""

from __future__ import annotations

from dataclasses import dataclass

from console.alarms.engine import AlarmEngine


@dataclass(frozen=True)
class DebriefRow:
    message: str
    priority: str  # the highest the episode reached
    kind: str  # physiological, technical, advisory
    key: str
    started: float  # session time
    ended: float | None
    acknowledged_at: float | None
    acknowledged_by: str | None
    seconds_to_acknowledge: float | None  # None: never acknowledged


def debrief(engine: AlarmEngine) -> list[DebriefRow]:
    """One row per alarm episode, in start order."""
    return [
        DebriefRow(a.message, a.highest, a.kind, a.key, a.started, a.ended, a.acknowledged_at, a.acknowledged_by,
                   a.acknowledged_at - a.started if a.acknowledged_at is not None else None)
        for a in engine.history if not a.key.startswith("SELFTEST")
    ]
