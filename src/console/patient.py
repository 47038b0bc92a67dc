"""Who the session is for. Shown on screen at all times."""

from __future__ import annotations

import datetime as dt
import unicodedata

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Characters that change how the text around them is shown, or end it, without being seen:
# a right-to-left override can make "Alex Morgan" display as another name; a NUL or a line
# break cuts a banner or a record line. Unicode categories Cc (controls), Cs (lone
# surrogates, which cannot be written as UTF-8), Zl/Zp (line and paragraph separators), and
# the bidirectional embeddings, overrides, isolates and marks. Joiners (U+200C/U+200D) stay:
# names in Persian and other scripts need them.
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}


def text_problem(text: str) -> str | None:
    """Why a name or an ID cannot be shown and recorded as it is, or None."""
    for ch in text:
        if ch in _BIDI or unicodedata.category(ch) in _REFUSED_CATEGORIES or ch == "\ufeff":
            name = unicodedata.name(ch, f"U+{ord(ch):04X}")
            return f"contains an invisible control character ({name}, U+{ord(ch):04X}): retype it"
    return None


class Patient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    date_of_birth: dt.date | None = None

    @field_validator("patient_id", "name")
    @classmethod
    def _visible_text(cls, value: str) -> str:
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
        if not value.strip():
            raise ValueError("is blank")
        return value

    def banner(self) -> str:
        dob = f", born {self.date_of_birth.isoformat()}" if self.date_of_birth else ""
        return f"{self.name} (ID {self.patient_id}{dob})"
