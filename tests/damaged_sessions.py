"""A corpus of damaged session files (issue 10), built from one real recording.

``good_session(path)`` records a small real session (numerics, waveforms, an alarm, events)
with the real Recorder and closes it as a crash would leave it (state open), so it is a
candidate for --resume. ``damaged_corpus(dir)`` returns {name: path} of damaged copies.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from console.alarms.model import Alarm, LogEntry
from console.clock import FakeClock
from console.recording.recorder import Recorder
from console.records import LinkEvent, Received
from wire_records import Sentence, WaveformChunk

WALL0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def good_session(path: Path, seconds: int = 120, *, close: bool = False) -> Path:
    clock = FakeClock(wall0=WALL0)
    rec = Recorder(path, clock, background=False,
                   meta={"protocol_fingerprint": "f00d", "simulated": True, "scenario": "normal"})
    rec.set_patient({"patient_id": "P1", "name": "Test Patient", "date_of_birth": "1970-01-01"})
    rec.add_item(LinkEvent("vitals", "up", "connected", 0.0))
    for s in range(seconds):
        t = s + 0.25
        rec.add_item(Received("vitals", Sentence("VS", s, s * 1000, {"HR": 70 + s % 5, "SPO2": 97, "RR": 14}),
                              t, WALL0 + t))
        rec.add_item(Received("vitals", WaveformChunk(s, s * 1000, "PLETH", 100, list(range(100))), t, WALL0 + t))
        if s == 10:
            rec.add_log_entry(LogEntry(10.0, "start", "SPO2.low", "physiological", "medium", "SPO2",
                                       "SpO2 low", 88, 90))
            rec.update_episodes([Alarm("SPO2.low", "physiological", "medium", "SPO2", "SpO2 low", 10.0, 1)])
        clock.set(s + 1.0)
        rec.tick()
    rec.add_event(clock.now(), "note", "patient asleep", user="ann")
    if close:
        rec.close()
    else:
        rec.flush()
        rec._writer.abandon()  # as a kill -9 leaves it: state open, lock free
        rec.lock_file.close()
    return path


def _edit(path: Path, sql: str) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def _overwrite_pages(path: Path) -> Path:
    _edit(path, "")  # fold the WAL in first, so the pages are in the main file
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    pages = len(data) // page
    for n in range(pages // 2, pages - 1, 2):  # every other page of the second half
        data[n * page:(n + 1) * page] = b"\xa5" * page
    path.write_bytes(bytes(data))
    return path


DAMAGES = {
    "overwritten_pages": _overwrite_pages,
    "dropped_samples": lambda p: _edit(p, "DROP TABLE samples;"),
    "anchor_abc": lambda p: _edit(p, "UPDATE meta SET value = '\"abc\"' WHERE key = 'anchor_wall';"),
    "blob_3_bytes": lambda p: _edit(p, "UPDATE waveforms SET samples = x'010203' WHERE rowid = 5;"),
    "rate_0": lambda p: _edit(p, "UPDATE waveforms SET rate = 0 WHERE rowid = 5;"),
}


def damaged_corpus(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    template = good_session(directory / "template.sqlite")
    _edit(template, "")
    out = {}
    for name, damage in DAMAGES.items():
        copy = directory / f"{name}.sqlite"
        shutil.copyfile(template, copy)
        out[name] = damage(copy)
    return out
