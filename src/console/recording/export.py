"""Session file -> CSV directory (issue 6's export format). Reads only; works on a file a
crash left open (its WAL is read as SQLite reads it).

Times are file time mapped to the wall clock through ``meta.anchor_wall`` (the device time
mapped onto the console's clock, as the console plotted it), written as ISO 8601 with
milliseconds and the UTC offset of the console's local zone at the session's start (one
offset for the whole file, so times sort as text; the instants are exact either way).
Beside every clock time is its elapsed session time in seconds (``elapsed_s``: file time),
which needs no clock and survives a damaged ``anchor_wall``. Waveform files name their unit
in the value column's header. Of a damaged file, whatever is readable is exported and the
result lists what was skipped.
"""

from __future__ import annotations

import array
import csv
import datetime as dt
import json
import math
import os
import re
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.metrics import UNITS  # the console's units, by metric name (PROTOCOL.md's spelling)
from console.private_files import describe, open_private, private_dir
from console.recording import store


class Timestamps:
    """File time (s) -> ISO 8601 text with milliseconds and a fixed UTC offset."""

    def __init__(self, anchor_wall: float, tz: dt.tzinfo | None = None) -> None:
        self.anchor = anchor_wall
        if tz is None:
            offset = dt.datetime.fromtimestamp(anchor_wall).astimezone().utcoffset() or dt.timedelta(0)
            tz = dt.timezone(offset)
        self.tz = tz
        self._epoch = dt.datetime.fromtimestamp(0, tz)

    def iso(self, t: float | None) -> str:
        if t is None:
            return ""
        # Round to the millisecond first so .999 never rounds up past the second in text.
        ms = round((self.anchor + t) * 1000)
        return (self._epoch + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")


def _number(value: float) -> str:
    """Integers as integers (SPO2 98, not 98.0); decimals as the shortest exact text."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _latest(conn, table: str):
    row = conn.execute(f"SELECT data FROM {table} ORDER BY t DESC, rowid DESC LIMIT 1").fetchone()
    return json.loads(row[0]) if row else None


CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_]{1,32}$")  # a channel name becomes a file name
FIXED_FILES = ("samples.csv", "states.csv", "alarms.csv", "alarm_log.csv", "events.csv", "rejected.csv",
               "session.json")


class ExportRefused(Exception):
    """The export cannot start (the folder holds an export already, or cannot be written)."""


@dataclass
class ExportResult:
    """What an export wrote (rows per file) and what it had to skip (damaged parts)."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.skipped)


def _elapsed(t: float | None) -> str:
    """Elapsed session seconds (file time), to the millisecond."""
    return "" if t is None else f"{float(t):.3f}"


def _meta(conn) -> tuple[dict, list[str]]:
    meta, bad = {}, []
    for key, value in conn.execute("SELECT key, value FROM meta"):
        try:
            meta[key] = json.loads(value)
        except (ValueError, TypeError):
            bad.append(key)
    return meta, bad


class _Export:
    def __init__(self, conn, out: Path, tz: dt.tzinfo | None, force: bool) -> None:
        self.conn, self.out, self.force = conn, out, force
        self.result = ExportResult()
        meta, bad = _meta(conn)
        self.meta = meta
        if bad:
            self.result.skipped.append(f"session.json: meta entries not readable: {', '.join(sorted(bad))}")
        anchor: Any = meta.get("anchor_wall")  # whatever the file holds (or None): float() judges it
        try:
            anchor = float(anchor)
            if not math.isfinite(anchor):
                raise ValueError
        except (TypeError, ValueError):
            self.result.skipped.append(f"clock times: meta anchor_wall is not a time ({anchor!r}); "
                                       "every CSV has its elapsed_s column, the time columns are empty")
            anchor = None
        self.ts = Timestamps(anchor, tz) if anchor is not None else None

    def iso(self, t: float | None) -> str:
        return "" if self.ts is None or t is None else self.ts.iso(t)

    def file(self, name: str, header: list[str], query: str, convert, params: tuple = ()) -> None:
        """One CSV: rows of ``query`` through ``convert(row) -> list of CSV rows``. A row that
        cannot be converted is skipped and counted; a table that cannot be read (missing,
        damaged) stops that file, and the export says so."""
        try:
            cursor = self.conn.execute(query, params)
        except sqlite3.DatabaseError as exc:
            self.result.skipped.append(f"{name}: not exported ({exc})")
            return
        n = bad = 0
        with open_private(self.out / name, "w", force=self.force, newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            try:
                for row in cursor:
                    try:
                        lines = convert(row)
                    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
                        bad += 1
                        continue
                    w.writerows(lines)
                    n += len(lines)
            except sqlite3.DatabaseError as exc:
                self.result.skipped.append(f"{name}: incomplete, stopped after {n} rows ({exc})")
        if bad:
            self.result.skipped.append(f"{name}: {bad} damaged rows skipped")
        self.result.counts[name] = n

    def doc(self, table: str):
        try:
            return _latest(self.conn, table)
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            self.result.skipped.append(f"session.json: {table} not readable ({exc})")
            return None

    def rows(self, name: str, query: str) -> list[tuple]:
        try:
            return self.conn.execute(query).fetchall()
        except sqlite3.DatabaseError as exc:
            self.result.skipped.append(f"{name}: {query.split(' FROM ')[1].split()[0]} not readable ({exc})")
            return []


def _check_target(out: Path, force: bool) -> None:
    """An export never writes over an earlier one unless asked (--force)."""
    try:
        private_dir(out, tighten=False)
        private_dir(out / "waveforms", tighten=False)
    except OSError as exc:
        raise ExportRefused(describe(out, exc)) from None
    if force:
        return
    taken = [n for n in FIXED_FILES if os.path.lexists(out / n)]
    taken += [f"waveforms/{p.name}" for p in sorted((out / "waveforms").iterdir())]
    if taken:
        raise ExportRefused(f"{out} already holds {', '.join(taken[:4])}{' ...' if len(taken) > 4 else ''}; "
                            "an export is never written over files (choose an empty folder, or --force)")


def export_csv(session_file: str | Path, out_dir: str | Path, tz: dt.tzinfo | None = None, *,
               force: bool = False) -> dict[str, int]:
    """Write the CSV export into ``out_dir``; returns row counts per file (see export_session)."""
    return export_session(session_file, out_dir, tz, force=force).counts


def export_session(session_file: str | Path, out_dir: str | Path, tz: dt.tzinfo | None = None, *,
                   force: bool = False) -> ExportResult:
    """Write the CSV export into ``out_dir`` (files 0600, a new folder 0700, never through a
    link, never over an existing file unless ``force``). Of a damaged file, everything
    readable is exported and ``skipped`` says what was not. Raises store.NotASessionFile
    when the file cannot be read as a session, ExportRefused when ``out_dir`` cannot take it."""
    conn = store.connect_readonly(session_file)
    try:
        out = Path(out_dir)
        _check_target(out, force)
        try:
            return _export(_Export(conn, out, tz, force))
        except OSError as exc:
            raise ExportRefused(describe(getattr(exc, "filename", None) or out, exc)) from None
    finally:
        conn.close()


def _export(x: _Export) -> ExportResult:
    iso, result = x.iso, x.result
    x.file("samples.csv", ["time", "elapsed_s", "metric", "value", "unit", "source"],
           "SELECT t, metric, value, device FROM samples WHERE value IS NOT NULL ORDER BY t, rowid",
           lambda r: [[iso(r[0]), _elapsed(r[0]), r[1], _number(r[2]), UNITS.get(r[1], ""), r[3]]])
    x.file("states.csv", ["time", "elapsed_s", "metric", "value"],
           "SELECT t, metric, value FROM states WHERE value IS NOT NULL ORDER BY t, rowid",
           lambda r: [[iso(r[0]), _elapsed(r[0]), r[1], r[2]]])

    from console.recording.replay import wave_scales

    scales = wave_scales(x.conn)
    channels = [c for (c,) in x.rows("waveforms", "SELECT DISTINCT channel FROM waveforms ORDER BY channel")]
    for channel in channels:
        if not isinstance(channel, str) or not CHANNEL_NAME.match(channel):
            result.skipped.append(f"waveforms: a channel named {channel!r} (not a channel name) skipped")
            continue

        scale, unit = scales.get(channel, (1.0, ""))

        def chunk(r, scale=scale):
            t, rate, n, blob = r
            if not rate or rate <= 0 or not isinstance(blob, bytes) or len(blob) % 2 or len(blob) != 2 * n:
                raise ValueError("damaged chunk")
            samples = array.array("h")
            samples.frombytes(blob)
            if sys.byteorder != "little":
                samples.byteswap()
            step = 1.0 / rate
            if scale == 1.0:
                return [[iso(t + i * step), _elapsed(t + i * step), v] for i, v in enumerate(samples)]
            # In the channel's unit (ECG mV, CO2 mmHg), as exact as the device's resolution.
            return [[iso(t + i * step), _elapsed(t + i * step), _number(round(v * scale, 6))]
                    for i, v in enumerate(samples)]

        unit = unit or "unitless"
        x.file(f"waveforms/{channel}.csv", ["time", "elapsed_s", f"value ({unit})"],
               "SELECT t, rate, n, samples FROM waveforms WHERE channel = ? ORDER BY t, rowid", chunk, (channel,))

    def alarm(r):
        (started, ended, active, kind, metric, highest, message, ack_by, ack_at, esc, key, value, limit, unit) = r
        end = None if active else ended
        return [[iso(started), _elapsed(started), iso(end), _elapsed(end), kind, metric, highest, message,
                 ack_by or "", iso(ack_at), _elapsed(ack_at), "yes" if esc else "", key,
                 "" if value is None else _number(value), "" if limit is None else _number(limit), unit]]

    x.file("alarms.csv", ["start", "start_elapsed_s", "end", "end_elapsed_s", "kind", "metric", "priority",
                          "message", "acknowledged_by", "acknowledged_at", "acknowledged_at_elapsed_s",
                          "escalated", "key", "value", "limit", "unit"],
           'SELECT started, ended, active, kind, metric, highest, message, acknowledged_by, '
           'acknowledged_at, escalated, key, value, "limit", unit FROM alarm_episodes '
           "ORDER BY started, run, episode", alarm)

    def log_line(r):
        t, *rest = r
        rest[6] = "" if rest[6] is None else _number(rest[6])
        rest[7] = "" if rest[7] is None else _number(rest[7])
        return [[iso(t), _elapsed(t), *rest]]

    x.file("alarm_log.csv", ["time", "elapsed_s", "event", "key", "kind", "priority", "metric", "message",
                             "value", "limit", "user", "detail"],
           'SELECT t, event, key, kind, priority, metric, message, value, "limit", user, detail '
           "FROM alarm_log ORDER BY t, rowid", log_line)

    # events.csv: events, notes and user actions, link changes and gaps, in time order.
    rows: list[tuple] = []
    for t, kind, text, user, data in x.rows("events.csv", "SELECT t, kind, text, user, data FROM events"):
        rows.append((t, kind, text, user or "", data or ""))
    for t, device, state, reason in x.rows("events.csv", "SELECT t, device, state, reason FROM link_events"):
        rows.append((t, "link_event", f"{device} link {state}" + (f": {reason}" if reason else ""), "",
                     json.dumps({"device": device, "state": state})))
    gap_rows = x.rows("events.csv", 'SELECT start, "end", reason FROM gaps ORDER BY start')
    for start, end, reason in gap_rows:
        rows.append((start, "gap", reason, "", json.dumps({"end": iso(end), "end_elapsed_s": _elapsed(end)})))
    timed = [r for r in rows if isinstance(r[0], (int, float))]
    if len(timed) < len(rows):
        result.skipped.append(f"events.csv: {len(rows) - len(timed)} damaged rows skipped")
    timed.sort(key=lambda r: r[0])
    with open_private(x.out / "events.csv", "w", force=x.force, newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "elapsed_s", "kind", "text", "user", "data"])
        w.writerows([iso(t), _elapsed(t), *rest] for t, *rest in timed)
    result.counts["events.csv"] = len(timed)

    x.file("rejected.csv", ["time", "elapsed_s", "device", "reason", "detail", "raw"],
           "SELECT rx, device, reason, detail, raw FROM rejected ORDER BY rx, rowid",
           lambda r: [[iso(r[0]), _elapsed(r[0]), r[1], r[2], r[3], bytes(r[4]).decode("latin-1")]])

    meta = x.meta
    identities = []
    for t, dev, d in x.rows("session.json", "SELECT t, device, data FROM identities "
                                            "GROUP BY device, serial, model, fw"):
        try:
            identities.append(json.loads(d) | {"device": dev, "time": iso(t), "elapsed_s": _elapsed(t)})
        except (ValueError, TypeError):
            result.skipped.append("session.json: a damaged device identity skipped")
    created_wall: Any = meta.get("created_wall")  # whatever the file holds (or None): float() judges it
    try:
        created = float(created_wall)
        created_text = x.ts.iso(created - x.ts.anchor) if x.ts is not None else ""
    except (TypeError, ValueError):
        created_text = ""
    session = {
        "console_version": meta.get("console_version"),
        "format_version": meta.get("format_version"),
        "protocol_fingerprint": meta.get("protocol_fingerprint"),
        "settings": meta.get("settings"),
        "created": created_text,
        "state": meta.get("state"),
        "simulated": meta.get("simulated"),
        "scenario": meta.get("scenario"),
        "runs": meta.get("runs"),
        "rescue_of": meta.get("rescue_of"),
        "patient": x.doc("patient"),
        "plan": x.doc("plan"),
        "limits": x.doc("limits"),
        "devices": identities,
        "gaps": [{"start": iso(s), "start_elapsed_s": _elapsed(s), "end": iso(e), "end_elapsed_s": _elapsed(e),
                  "reason": r} for s, e, r in gap_rows if isinstance(s, (int, float))],
        "skipped": result.skipped,
    }
    with open_private(x.out / "session.json", "w", force=x.force) as f:
        f.write(json.dumps(session, indent=2) + "\n")
    result.counts["session.json"] = 1
    return result
