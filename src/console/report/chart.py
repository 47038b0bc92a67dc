"""The chart's building blocks: a section is facts (label and value), tables and notes, or,
when the record holds nothing for it, the words saying so. The PDF draws these generically,
so a new kind of documentation is a new section builder, not new drawing code."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Table:
    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    empty: str = "none recorded"  # what the chart says instead of an empty table
    last_column_below: bool = False  # a wide table: its last column is printed under each row
    widths: tuple[int, ...] = ()  # percent of the page per column, where the words need room


@dataclass(frozen=True)
class Section:
    key: str  # stable name, for tests and for the order of the chart
    title: str
    facts: tuple[Fact, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()
    absent: str | None = None  # the record holds nothing for this section: why, in words


@dataclass(frozen=True)
class Series:
    label: str
    times: np.ndarray  # session time, s
    values: np.ndarray  # NaN where the value was missing (the line breaks)
    points: bool = False  # episodic values (cuff readings): drawn as marks, not a line


@dataclass(frozen=True)
class TrendPlot:
    key: str
    title: str
    unit: str
    series: tuple[Series, ...]
    low: float  # fixed axis range, as the trends view keeps it (no auto-range surprises)
    high: float


@dataclass(frozen=True)
class ChartReport:
    title: str
    simulated: bool  # a training session: every page carries the SIMULATION watermark
    header: tuple[Fact, ...]  # what each page's first lines identify: patient, date, file
    sections: tuple[Section, ...]
    trends: tuple[TrendPlot, ...]
    marks: tuple[tuple[float, str], ...]  # (session time, label): phase changes drawn on the plots
    span: tuple[float, float]  # session time the plots cover
    missing: tuple[str, ...] = field(default=())  # what the record does not hold, in words
    gaps: tuple[tuple[float, float], ...] = ()  # session time spans not recorded (a crash)

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)
