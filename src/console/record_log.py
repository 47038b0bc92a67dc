"""Interim session log for ``--record PATH``: every item the session ingests, as JSON Lines.

Honest about what it is: an append-only text log flushed once a second (so at most about a
second is lost if the console dies), readable with any JSON tool. The crash-safe SQLite
session store with review and export replaces it (the session-record issue).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TextIO

from console.records import LinkEvent, Received

FLUSH_EVERY_S = 1.0


class RecordLog:
    def __init__(self, path: str | Path, header: dict) -> None:
        self.path = Path(path)
        self.error: str | None = None
        self._file: TextIO | None = None
        self._next_flush = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (held open)
            self.path.chmod(0o600)  # patient data: readable by the user only
            self._write({"kind": "session", **header})
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = f"recording cannot be written to {self.path}: {exc.strerror or exc}"
        self._file = None

    def _write(self, obj: dict) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")
        except OSError as exc:
            self._fail(exc)

    def add(self, item: Received | LinkEvent, now: float) -> None:
        if isinstance(item, LinkEvent):
            self._write({"kind": "link", "device": item.device, "state": item.state,
                         "reason": item.reason, "t": round(item.rx_time, 4)})
        else:
            self._write({"kind": "item", "device": item.device, "t": round(item.rx_time, 4),
                         "wall": round(item.rx_wall, 3), "item": item.item.to_json()})
        if now >= self._next_flush:
            self.flush()
            self._next_flush = now + FLUSH_EVERY_S

    def add_alarm_log(self, entry) -> None:
        """One alarm log line (start, end, acknowledge, pause, alarm off, limit change)."""
        from dataclasses import asdict

        self._write({"kind": "alarm_log", **asdict(entry)})

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
