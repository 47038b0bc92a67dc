"""The scores a nurse charts during a ketamine session (CLINICAL.md section 3).

A scale's range is part of the instrument (MOAA/S is 0-5 wherever it is used), so it lives
here; what a site may change (the GAD-7 severity cut-offs, the event-marker list, when CADSS
is due) lives in the protocol file's ``charting`` section.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from console.clinical import Gad7Severity


class ChartValueRefused(ValueError):
    """A charted value cannot be recorded; the message says what is allowed."""


@dataclass(frozen=True)
class Scale:
    key: str  # how the workflow and the record name it
    label: str  # how the screen names it
    low: int
    high: int
    what: str


SCALES: dict[str, Scale] = {
    "moaas": Scale("moaas", "MOAA/S", 0, 5, "sedation, with each cuff reading"),
    "cadss": Scale("cadss", "CADSS", 0, 92, "dissociation total (23 items, 0-4 each)"),
    "gad7": Scale("gad7", "GAD-7", 0, 21, "anxiety total (7 items, 0-3 each)"),
    "hama": Scale("hama", "HAM-A", 0, 56, "anxiety total (14 items, 0-4 each), optional"),
}

# CLINICAL.md section 3, word for word: what each MOAA/S score means.
MOAAS_WORDS = {
    5: "responds readily to name in a normal tone",
    4: "lethargic response to name in a normal tone",
    3: "responds only after the name is called loudly or repeatedly",
    2: "responds only after mild prodding or shaking",
    1: "responds only after a painful stimulus",
    0: "no response to a painful stimulus",
}


def scale_for(item: str) -> Scale:
    """The scale an item names: "MOAA/S", "moaas", "GAD-7", "gad7", "CADSS", "HAM-A" ..."""
    key = re.sub(r"[^a-z0-9]", "", str(item).lower())
    scale = SCALES.get(key)
    if scale is None:
        names = ", ".join(s.label for s in SCALES.values())
        raise ChartValueRefused(f"'{item}' is not a charted score (one of {names}).")
    return scale


def parse_score(scale: Scale, value: object) -> int:
    """A whole number within the scale, typed or given; anything else is refused with words."""
    allowed = f"{scale.label} must be a whole number from {scale.low} to {scale.high}"
    if isinstance(value, bool) or value is None:
        raise ChartValueRefused(f"{allowed}.")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ChartValueRefused(f"{allowed}, not '{text}'." if text else f"{allowed}.")
        number = int(text)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    else:
        raise ChartValueRefused(f"{allowed}, not {value!r}.")
    if not scale.low <= number <= scale.high:
        raise ChartValueRefused(f"{allowed} (got {number}).")
    return number


def gad7_severity(total: int, cut: Gad7Severity) -> str:
    if total >= cut.severe:
        return "severe"
    if total >= cut.moderate:
        return "moderate"
    if total >= cut.mild:
        return "mild"
    return "minimal"


def score_words(scale: Scale, value: int, gad7_cut: Gad7Severity) -> str:
    """What a score means, for the timeline and the record."""
    if scale.key == "moaas":
        return MOAAS_WORDS[value]
    if scale.key == "gad7":
        return f"{gad7_severity(value, gad7_cut)} anxiety"
    return ""


@dataclass(frozen=True)
class ChartEntry:
    """One charted score, with when, who and in which phase."""

    time: float
    item: str  # a SCALES key
    value: int
    user: str
    phase: str
    words: str = ""
    cuff_time: float | None = None  # MOAA/S: the cuff reading it goes with

    @property
    def label(self) -> str:
        return SCALES[self.item].label

    def text(self) -> str:
        extra = f" ({self.words})" if self.words else ""
        return f"{self.label} {self.value}{extra}"
