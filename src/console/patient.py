"""Who the session is for. Shown on screen at all times."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class Patient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    date_of_birth: dt.date | None = None

    def banner(self) -> str:
        dob = f", born {self.date_of_birth.isoformat()}" if self.date_of_birth else ""
        return f"{self.name} (ID {self.patient_id}{dob})"
