"""The tabular vital-signs view nurses chart from, and how every value is written. Qt-free.

One row per cuff reading and one every five minutes of session time, each with every value
the console had at that moment (a value older than the stale time is not carried into a
row: an empty cell, never an old value as if current), plus the events since the previous
row. The rows are computed here once, from the session, so the screen's table, its CSV
export and the later PDF report all show the same thing.

``value_text`` is the one place a value is turned into text, as the live tiles show it
(a replayed session stores floats: "121/77 (92)", never "121.0/77.0 (92.0)").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from console.session import DOSE_SERIES, METRIC_DEVICE, NibpReading, Session

EVERY_S = 300.0  # a row every five minutes of session time, as nurses chart a sedation
# (column heading, metric) in the order a sedation chart lists them
COLUMNS: tuple[tuple[str, str], ...] = (
    ("HR /min", "HR"), ("SpO\u2082 %", "SPO2"), ("PR /min", "PR"), ("PI", "PI"),
    ("NIBP mmHg", "NIBP"), ("MAP", "NIBP_MEAN"), ("RR /min", "RR"), ("EtCO\u2082 mmHg", "ETCO2"),
    ("Temp \u00b0C", "TEMP"), ("Pump mL/h", "PUMP_RATE"), ("Dose mg", DOSE_SERIES),
)
DECIMALS = {"PI": 1, "TEMP": 1, "PUMP_RATE": 1, DOSE_SERIES: 1}  # every other value: whole numbers


def value_text(metric: str, value: float | int | None) -> str:
    """A value as the live screen shows it ("" for none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.{DECIMALS.get(metric, 0)}f}"


def nibp_text(systolic: float, diastolic: float) -> str:
    return f"{value_text('NIBP_SYS', systolic)}/{value_text('NIBP_DIA', diastolic)}"


@dataclass(frozen=True, slots=True)
class VitalsRow:
    time: float  # session time
    wall: float  # wall-clock time of the row (POSIX seconds), for the chart's clock column
    cuff: bool  # a cuff reading's row (NIBP taken then) or a five-minute row
    values: dict[str, str]  # metric -> displayed text ("" when there was no current value)
    events: tuple[str, ...]  # what happened since the previous row

    @property
    def kind(self) -> str:
        return "cuff" if self.cuff else "5 min"


def _current(session: Session, metric: str, t: float) -> float | None:
    """The latest value at or before ``t`` if it is not older than the stale time."""
    series = session.trends.get(metric)
    if series is None or series.count == 0:
        return None
    times, values = series.data()
    i = int(np.searchsorted(times, t, side="right")) - 1
    if i < 0 or t - float(times[i]) > session.stale_after(METRIC_DEVICE.get(metric, "vitals")):
        return None
    v = float(values[i])
    return None if math.isnan(v) else v


def vitals_rows(session: Session, now: float, every_s: float = EVERY_S) -> list[VitalsRow]:
    """Every row of the session up to ``now``, oldest first."""
    starts = [float(s.data()[0][0]) for s in session.trends.values() if s.count]
    if not starts and not session.nibp_history:
        return []
    first = min(starts + [n.taken_at for n in session.nibp_history])
    wall_offset = session.clock.wall() - session.clock.now()
    moments: list[tuple[float, NibpReading | None]] = [
        (n.taken_at, n) for n in session.nibp_history if n.taken_at <= now]
    t = math.ceil(first / every_s) * every_s
    while t <= now:
        moments.append((t, None))
        t += every_s
    moments.sort(key=lambda m: (m[0], m[1] is None))
    rows: list[VitalsRow] = []
    events = sorted(session.events, key=lambda e: e.time)
    e = 0
    for t, cuff in moments:
        values = {metric: value_text(metric, _current(session, metric, t)) for _h, metric in COLUMNS
                  if metric not in ("NIBP", "NIBP_MEAN")}
        # NIBP only on the row of its reading: a five-minute row never repeats an old cuff.
        values["NIBP"] = nibp_text(cuff.systolic, cuff.diastolic) if cuff else ""
        values["NIBP_MEAN"] = value_text("NIBP_MEAN", cuff.mean) if cuff else ""
        since: list[str] = []
        while e < len(events) and events[e].time <= t:
            if not events[e].training_link:
                since.append(events[e].text)
            e += 1
        rows.append(VitalsRow(t, wall_offset + t, cuff is not None, values, tuple(since)))
    return rows


def clock_of_day(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall).strftime("%H:%M:%S")


def session_time(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


# the last column: the events since the row before
HEADINGS = ("Session time", "Clock", "Row", *(h for h, _m in COLUMNS), "Events")


def row_cells(row: VitalsRow) -> tuple[str, ...]:
    """The row as the table and the CSV show it, in HEADINGS order."""
    return (session_time(row.time), clock_of_day(row.wall), row.kind,
            *(row.values.get(metric, "") for _h, metric in COLUMNS), "; ".join(row.events))


def csv_text(rows: list[VitalsRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADINGS)
    writer.writerows(row_cells(r) for r in rows)
    return out.getvalue()


def write_csv(rows: list[VitalsRow], path: str | Path) -> int:
    """Write the rows to a NEW file, 0600, never through a symlink nor over an existing file
    (FileExistsError / OSError say why). Returns the number of rows written."""
    data = csv_text(rows).encode("utf-8")
    try:
        from console.private_files import write_private  # the project's one writer of patient files
    except ImportError:
        write_private = None  # type: ignore[assignment]  # a copy without private_files: plain os.open below
    if write_private is not None:
        write_private(path, data)
        return len(rows)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(rows)
