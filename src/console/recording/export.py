"""Session file -> CSV directory (issue 6's export format). Reads only; works on a file a
crash left open (its WAL is read as SQLite reads it).

Times are file time mapped to the wall clock through ``meta.anchor_wall`` (the device time
mapped onto the console's clock, as the console plotted it), written as ISO 8601 with
milliseconds and the UTC offset of the console's local zone at the session's start (one
offset for the whole file, so times sort as text; the instants are exact either way).
"""

from __future__ import annotations

import array
import csv
import datetime as dt
import json
import os
import sys
from pathlib import Path

from console.recording import store

# Units as spelled in PROTOCOL.md's tables, by decoded record name.
UNITS: dict[str, str] = {
    "HR": "1/min", "PR": "1/min", "SPO2": "%", "PI": "%", "RR": "1/min", "ETCO2": "mmHg",
    "TEMP": "degC", "NIBP_SYS": "mmHg", "NIBP_DIA": "mmHg", "NIBP_MEAN": "mmHg", "NIBP_MS": "ms",
    "PUMP_RATE": "mL/h", "PUMP_VTBI": "mL", "PUMP_VI": "mL", "PUMP_CONC": "mg/mL", "PUMP_WEIGHT": "kg",
    "PUMP_DOSE_RATE": "mg/kg/h", "PUMP_BATT": "%",
}
# Waveform units (PROTOCOL.md WF): documented in docs/recording.md, values exported as sent.
WAVEFORM_UNITS = {"ECG": "uV", "PLETH": "", "CO2": "mmHg x 10", "RESP": ""}


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


def _private(path: Path):
    """Exports hold patient data too: readable by the user only, like the session file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return open(fd, "w", newline="", encoding="utf-8")


def _writer(path: Path, header: list[str]):
    f = _private(path)
    w = csv.writer(f)
    w.writerow(header)
    return f, w


def _latest(conn, table: str):
    row = conn.execute(f"SELECT data FROM {table} ORDER BY t DESC, rowid DESC LIMIT 1").fetchone()
    return json.loads(row[0]) if row else None


def export_csv(session_file: str | Path, out_dir: str | Path, tz: dt.tzinfo | None = None) -> dict[str, int]:
    """Write the CSV export into ``out_dir``; returns row counts per file.
    Raises store.NotASessionFile when the file cannot be read as a session."""
    conn = store.connect_readonly(session_file)
    try:
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        ts = Timestamps(float(meta["anchor_wall"]), tz)
        out = Path(out_dir)
        (out / "waveforms").mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}

        f, w = _writer(out / "samples.csv", ["time", "metric", "value", "unit", "source"])
        n = 0
        with f:
            for t, metric, value, device in conn.execute(
                    "SELECT t, metric, value, device FROM samples WHERE value IS NOT NULL ORDER BY t, rowid"):
                w.writerow([ts.iso(t), metric, _number(value), UNITS.get(metric, ""), device])
                n += 1
        counts["samples.csv"] = n

        f, w = _writer(out / "states.csv", ["time", "metric", "value"])
        n = 0
        with f:
            for t, metric, value in conn.execute(
                    "SELECT t, metric, value FROM states WHERE value IS NOT NULL ORDER BY t, rowid"):
                w.writerow([ts.iso(t), metric, value])
                n += 1
        counts["states.csv"] = n

        channels = [c for (c,) in conn.execute("SELECT DISTINCT channel FROM waveforms ORDER BY channel")]
        for channel in channels:
            f, w = _writer(out / "waveforms" / f"{channel}.csv", ["time", "value"])
            n = 0
            with f:
                for t, rate, blob in conn.execute(
                        "SELECT t, rate, samples FROM waveforms WHERE channel = ? ORDER BY t, rowid", (channel,)):
                    samples = array.array("h")
                    samples.frombytes(blob)
                    if sys.byteorder != "little":
                        samples.byteswap()
                    step = 1.0 / rate
                    w.writerows([ts.iso(t + i * step), v] for i, v in enumerate(samples))
                    n += len(samples)
            counts[f"waveforms/{channel}.csv"] = n

        f, w = _writer(out / "alarms.csv", ["start", "end", "kind", "metric", "priority", "message",
                                             "acknowledged_by", "acknowledged_at", "escalated", "key",
                                             "value", "limit", "unit"])
        n = 0
        with f:
            for row in conn.execute(
                    'SELECT started, ended, active, kind, metric, highest, message, acknowledged_by, '
                    'acknowledged_at, escalated, key, value, "limit", unit FROM alarm_episodes '
                    "ORDER BY started, run, episode"):
                (started, ended, active, kind, metric, highest, message, ack_by, ack_at, esc, key,
                 value, limit, unit) = row
                w.writerow([ts.iso(started), "" if active else ts.iso(ended), kind, metric, highest,
                            message, ack_by or "", ts.iso(ack_at), "yes" if esc else "", key,
                            "" if value is None else _number(value),
                            "" if limit is None else _number(limit), unit])
                n += 1
        counts["alarms.csv"] = n

        f, w = _writer(out / "alarm_log.csv", ["time", "event", "key", "kind", "priority", "metric",
                                                "message", "value", "limit", "user", "detail"])
        n = 0
        with f:
            for row in conn.execute('SELECT t, event, key, kind, priority, metric, message, value, "limit", '
                                    "user, detail FROM alarm_log ORDER BY t, rowid"):
                t, *rest = row
                rest[6] = "" if rest[6] is None else _number(rest[6])
                rest[7] = "" if rest[7] is None else _number(rest[7])
                w.writerow([ts.iso(t), *rest])
                n += 1
        counts["alarm_log.csv"] = n

        # events.csv: events, notes and user actions, link changes and gaps, in time order.
        rows: list[tuple[float, str, str, str, str]] = []
        for t, kind, text, user, data in conn.execute("SELECT t, kind, text, user, data FROM events"):
            rows.append((t, kind, text, user or "", data or ""))
        for t, device, state, reason in conn.execute("SELECT t, device, state, reason FROM link_events"):
            rows.append((t, "link_event", f"{device} link {state}" + (f": {reason}" if reason else ""), "",
                         json.dumps({"device": device, "state": state})))
        for start, end, reason in conn.execute('SELECT start, "end", reason FROM gaps'):
            rows.append((start, "gap", reason, "", json.dumps({"end": ts.iso(end)})))
        rows.sort(key=lambda r: r[0])
        f, w = _writer(out / "events.csv", ["time", "kind", "text", "user", "data"])
        with f:
            w.writerows([ts.iso(t), *rest] for t, *rest in rows)
        counts["events.csv"] = len(rows)

        f, w = _writer(out / "rejected.csv", ["time", "device", "reason", "detail", "raw"])
        n = 0
        with f:
            for rx, device, reason, detail, raw in conn.execute(
                    "SELECT rx, device, reason, detail, raw FROM rejected ORDER BY rx, rowid"):
                w.writerow([ts.iso(rx), device, reason, detail, bytes(raw).decode("latin-1")])
                n += 1
        counts["rejected.csv"] = n

        gaps = [{"start": ts.iso(s), "end": ts.iso(e), "reason": r}
                for s, e, r in conn.execute('SELECT start, "end", reason FROM gaps ORDER BY start')]
        identities = [json.loads(d) | {"device": dev, "time": ts.iso(t)} for t, dev, d in
                      conn.execute("SELECT t, device, data FROM identities GROUP BY device, serial, model, fw")]
        session = {
            "console_version": meta.get("console_version"),
            "format_version": meta.get("format_version"),
            "protocol_fingerprint": meta.get("protocol_fingerprint"),
            "settings": meta.get("settings"),
            "created": ts.iso(float(meta.get("created_wall", ts.anchor)) - ts.anchor),
            "state": meta.get("state"),
            "simulated": meta.get("simulated"),
            "scenario": meta.get("scenario"),
            "runs": meta.get("runs"),
            "patient": _latest(conn, "patient"),
            "plan": _latest(conn, "plan"),
            "limits": _latest(conn, "limits"),
            "devices": identities,
            "gaps": gaps,
        }
        with _private(out / "session.json") as f:
            f.write(json.dumps(session, indent=2) + "\n")
        counts["session.json"] = 1
        return counts
    finally:
        conn.close()
