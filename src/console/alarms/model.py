"""What an alarm is, as the engine, the signalling, the views and the record see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["physiological", "technical", "advisory"]
Priority = Literal["high", "medium", "low"]
RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3}


def more_urgent(a: Priority, b: Priority) -> Priority:
    return a if RANK[a] >= RANK[b] else b


@dataclass
class Alarm:
    """One episode of one alarm condition, from its start to its end (and acknowledgement).

    ``key`` names the condition stably ("SPO2.low", "HR.high", "APNOEA", "LINK.vitals",
    "STALE.SPO2", "PUMP.OCCLUSION", ...); ``metric`` is a record name (SPO2) or the technical
    condition's name (LINK_VITALS) as exports use it.
    """

    key: str
    kind: Kind
    priority: Priority  # what it signals now
    metric: str
    message: str  # words for the alarm bar: "SpO2 low"
    started: float  # session time the condition met its delay
    episode: int  # running number, unique in the session
    value: float | None = None  # the value that decided it (latest while active)
    limit: float | None = None
    unit: str = ""
    highest: Priority = "low"  # the highest priority this episode reached
    active: bool = True  # the condition is present now
    ended: float | None = None
    latching: bool = False  # stays shown after the condition ends, until acknowledged
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    escalated: bool = False  # high priority, not acknowledged within the escalation time
    escalated_at: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.highest = more_urgent(self.highest, self.priority)

    @property
    def latched(self) -> bool:
        """Ended, but still shown because it latches and nobody has acknowledged it."""
        return not self.active and self.latching and self.acknowledged_at is None

    @property
    def shown(self) -> bool:
        return self.active or self.latched

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


LogEvent = Literal[
    "start", "end", "priority", "acknowledge", "escalate", "audio_pause", "audio_resume",
    "alarm_off", "alarm_on", "limit_change", "self_test",
]


@dataclass(frozen=True)
class LogEntry:
    """One line of the alarm log (kept in the session record)."""

    time: float  # session time
    event: LogEvent
    key: str = ""
    kind: str = ""
    priority: str = ""
    metric: str = ""
    message: str = ""
    value: float | None = None
    limit: float | None = None
    user: str = ""  # who acted, when a person did
    detail: str = ""  # reason, old and new values, ...
