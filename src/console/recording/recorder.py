"""The recorder: turns what the session and the alarm engine see into rows of the session file.

Threads. Everything public (``add_*``, ``set_*``, ``tick``, ``close``) runs on the caller's
thread (the GUI's display timer, or the headless loop) and only appends rows to an
in-memory batch: no I/O. When ``tick(now)`` finds ``flush_interval_s`` of session time has
passed since the last flush it hands the batch to the writer, which does the SQLite work in
one transaction per flush. With ``background=True`` (the default) the writer is a thread fed
by a queue, so a slow disk (an fsync, a stalled network drive) never holds the display;
``background=False`` writes inline in ``tick`` (deterministic: tests, tools). The callbacks
``on_failure`` / ``on_recovered`` always run on the caller's thread, inside ``tick``.

Failure. A flush that fails (disk full, file removed or replaced, permission denied) keeps
its rows; every later due tick retries everything waiting, in order, in one transaction, so
once writing works again nothing is lost. Waiting rows are bounded (``max_waiting_bytes``):
past the bound the oldest waveform chunks are discarded first (numerics, alarms and events
are small and kept), a gap row says what was lost, and the failure message says so.
A file removed while open is restored from the open connection (SQLite's backup API copies
everything already written into a new file at the same path) as soon as that is possible.
"""

from __future__ import annotations

import array
import collections
import contextlib
import json
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from console import __version__
from console.clock import Clock
from console.metrics import NUMERIC_METRICS
from console.private_files import private_dir
from console.recording import store
from console.records import (
    DEMO_RECORDED_AS,
    DeviceAlarms,
    Identity,
    LinkEvent,
    Observations,
    Received,
    Rejection,
    Wave,
)
from console.timebase import REANCHOR_LAG_S, DeviceTimebase, lag_tolerance_for

log = logging.getLogger(__name__)

DEFAULT_MAX_WAITING_BYTES = 256 * 1024 * 1024  # about 20 h of waveforms, or days of numerics
CRASH_REASON = "console stopped unexpectedly"
# Half a second: with the loop's tick and the commit's fsync on top, a kill -9 loses under the
# promised 1 s (bench/bench_kill9.py; at 1.0 s, 2 of 11 runs lost more than 1 s).
FLUSH_INTERVAL_S = 0.5
MIN_CRASH_GAP_S = 1.0  # a resumed run whose clocks say no time passed still starts after a gap
CLOSE_RETRY_S = 5.0  # how long close() keeps trying a failing disk before the rescue file
CLOSE_RETRY_STEP_S = 0.5
_LE = sys.byteorder == "little"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _plain(obj: Any) -> Any:
    """A pydantic model, dataclass or dict as JSON-ready data."""
    if obj is None:
        return None
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return obj


def limits_snapshot(limits: Any) -> dict:
    """The alarm limits in force, from an engine's ``PatientLimits``, as JSON-ready data:
    ``{metric: [{"priority", "below", "above", "delay_s"}, ...]}``."""
    return {m: [{"priority": b.priority, "below": b.below, "above": b.above, "delay_s": b.delay_s}
                for b in limits.bands(m)] for m in limits.metrics()}


@dataclass
class Batch:
    """Rows waiting to be written, per table, in arrival order."""

    rows: dict[str, list[tuple]] = field(default_factory=dict)
    nbytes: int = 0
    upto: float | None = None  # the latest data time in it (file time)

    def add(self, table: str, row: tuple, size: int = 96, t: float | None = None) -> None:
        self.rows.setdefault(table, []).append(row)
        self.nbytes += size
        if t is not None and (self.upto is None or t > self.upto):
            self.upto = t

    def __len__(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def merge(self, other: Batch) -> None:
        for table, rows in other.rows.items():
            self.rows.setdefault(table, []).extend(rows)
        self.nbytes += other.nbytes
        if other.upto is not None and (self.upto is None or other.upto > self.upto):
            self.upto = other.upto


@dataclass(frozen=True)
class FlushInfo:
    """What one confirmed (committed) flush made durable."""

    flushes: int  # confirmed flushes so far
    rows: dict[str, int]  # rows written so far, per table (cumulative)
    upto: float | None  # latest data time written so far (file time)


class _Mapper:
    """Device time -> session time, mirroring ``Session`` call for call (same DeviceTimebase,
    same calls in the same order, reset on link down), so the record holds exactly the times
    the console plotted. Also tracks a device refused for an unsupported protocol."""

    def __init__(self, lag_tolerance_s: float = REANCHOR_LAG_S) -> None:
        # The same tolerance as the session's (it depends on the clock's speed).
        self.timebase: dict[str, DeviceTimebase] = collections.defaultdict(lambda: DeviceTimebase(lag_tolerance_s))
        self.unsupported: dict[str, str | None] = collections.defaultdict(lambda: None)


class _Writer:
    """Owns the SQLite connection; writes batches; keeps what it could not write."""

    def __init__(self, path: Path, conn: sqlite3.Connection | None, max_waiting_bytes: int,
                 on_flushed: Callable[[FlushInfo], None] | None) -> None:
        self.path = path
        self.conn = conn
        self.ino = self._ino() if conn is not None else None
        self.max_waiting_bytes = max_waiting_bytes
        self.on_flushed = on_flushed
        self.waiting: list[Batch] = []
        self.waiting_bytes = 0
        self.lock = threading.Lock()
        self.error: str | None = None
        self.discarded_chunks = 0
        self.flushes = 0
        self.written: dict[str, int] = dict.fromkeys(store.TABLES, 0)
        self.upto: float | None = None
        self.create_meta: list[tuple[str, str]] = []  # written first if the file had to be created
        self.fault: Callable[[], None] | None = None  # test hook: raise to simulate a failing disk

    def _ino(self) -> int | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino

    # ------------------------------------------------------------------ the file
    def _ensure_file(self) -> None:
        """Make sure writes go to the file at ``path``: create it if it never could be, or
        restore it from the open connection if it was removed or replaced."""
        if self.conn is None:
            self.conn = store.create(self.path)
            self.ino = self._ino()
            with self.conn:
                self.conn.executemany(store.INSERTS["meta"], self.create_meta)
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_ino == self.ino:
            return
        if st is not None:
            raise OSError(f"{self.path} is no longer the session file (something replaced it)")
        # Removed: everything written so far still lives in the open connection (SQLite
        # refuses to write to an unlinked file, but reads it). Copy it to memory, drop the
        # old connection and its -wal/-shm (they belong to the removed file: a new database
        # must never open them), then copy into a new file at the same path.
        if not self.path.parent.is_dir() or not os.access(self.path.parent, os.W_OK):
            raise OSError(f"the session file {self.path} was removed and its directory cannot be written")
        saved = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            self.conn.backup(saved)
            self.conn.close()
            self.conn = saved  # from here on the data lives in memory until the new file holds it
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.path}{suffix}")
            new = store.create(self.path)
            try:
                saved.backup(new)
                new.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error:
                new.close()
                os.unlink(self.path)
                raise
        except (OSError, sqlite3.Error) as exc:
            raise OSError(f"the session file {self.path} was removed and cannot be recreated: "
                          f"{getattr(exc, 'strerror', None) or exc}") from exc
        saved.close()
        self.conn, self.ino = new, self._ino()
        log.warning("session file %s was removed; restored from the open connection", self.path)

    # ------------------------------------------------------------------ writing
    def submit(self, batch: Batch | None) -> None:
        """Queue a batch (None: just retry what waits) and try to write everything."""
        with self.lock:
            if batch is not None and len(batch):
                self.waiting.append(batch)
                self.waiting_bytes += batch.nbytes
        if not self.waiting:
            return
        try:
            self._ensure_file()
            if self.fault is not None:
                self.fault()
            self._commit(self.waiting)
        except (OSError, sqlite3.Error) as exc:
            with self.lock:
                self.error = self._describe(exc)
                self._bound()
            return
        with self.lock:
            for b in self.waiting:
                for table, rows in b.rows.items():
                    self.written[table] += len(rows)
                if b.upto is not None and (self.upto is None or b.upto > self.upto):
                    self.upto = b.upto
            self.waiting, self.waiting_bytes = [], 0
            self.error = None
            self.flushes += 1
            info = FlushInfo(self.flushes, dict(self.written), self.upto)
        if self.on_flushed is not None:
            self.on_flushed(info)

    def _commit(self, batches: list[Batch], conn: sqlite3.Connection | None = None) -> None:
        conn = conn or self.conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            for b in batches:
                for table in store.TABLES:  # a fixed order: episodes after the log, meta last
                    rows = b.rows.get(table)
                    if rows:
                        conn.executemany(store.INSERTS[table], rows)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _describe(self, exc: BaseException) -> str:
        text = getattr(exc, "strerror", None) or str(exc)
        msg = (f"recording cannot be written to {self.path}: {text}; monitoring goes on and the data "
               f"waits in memory (up to {self.max_waiting_bytes // (1024 * 1024)} MB, then the oldest "
               "waveforms are discarded)")
        if self.discarded_chunks:
            msg += (f"; memory bound reached, {self.discarded_chunks} oldest waveform chunks "
                    "discarded (numerics, alarms and events are kept)")
        return msg

    def _bound(self) -> None:
        """Past the memory bound, drop the oldest waveform chunks (the bulk of the data)."""
        if self.waiting_bytes <= self.max_waiting_bytes:
            return
        target = self.max_waiting_bytes * 9 // 10
        dropped: list[tuple] = []
        for b in self.waiting:
            rows = b.rows.get("waveforms")
            while rows and self.waiting_bytes > target:
                row = rows.pop(0)
                size = len(row[7]) + 96
                b.nbytes -= size
                self.waiting_bytes -= size
                dropped.append(row)
            if self.waiting_bytes <= target:
                break
        if dropped:
            self.discarded_chunks += len(dropped)
            start, end = min(r[0] for r in dropped), max(r[0] for r in dropped)
            self.waiting[-1].add("gaps", (start, end, f"waveforms discarded ({len(dropped)} chunks): "
                                                      "the recording could not be written and the "
                                                      "memory bound was reached"))
            self.error = (self.error or "") + (
                f"; memory bound reached, {self.discarded_chunks} oldest waveform chunks "
                "discarded (numerics, alarms and events are kept)")

    def close(self, meta: list[tuple[str, str]]) -> bool:
        """Final write: mark the file closed and fold the WAL back into it."""
        final = Batch()
        for row in meta:
            final.add("meta", row)
        self.submit(final)
        if self.waiting or self.conn is None:
            return False
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()
        except sqlite3.Error as exc:
            log.warning("closing %s: %s", self.path, exc)
        self.conn = None
        return True

    def rescue(self, directory: Path) -> Path:
        """Write everything (what the file holds, as far as the open connection still reads
        it, and everything waiting) into a new session file in ``directory``: a rescue file
        that review and export open like any session. Raises OSError / sqlite3.Error."""
        private_dir(directory)
        stem = f"rescue-{self.path.stem}"
        path, n = Path(directory) / f"{stem}.sqlite", 1
        while os.path.lexists(path):
            n += 1
            path = Path(directory) / f"{stem}-{n}.sqlite"
        conn = store.create(path)
        try:
            copied = False
            if self.conn is not None:
                try:
                    self.conn.backup(conn)  # everything already written, schema included
                    conn.execute("PRAGMA journal_mode=WAL")
                    copied = True
                except sqlite3.Error as exc:
                    log.error("rescue: cannot copy %s: %s", self.path, exc)
            if not copied:
                with conn:
                    conn.executemany(store.INSERTS["meta"], self.create_meta)
            note = Batch()
            for row in store.meta_rows({"rescue_of": str(self.path), "state": "open"}):
                note.add("meta", row)
            self._commit([*self.waiting, note], conn)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except BaseException:
            conn.close()
            raise
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
        self.conn = conn  # the rescue file now holds it all; closed by abandon()
        self.path = path
        with self.lock:
            self.waiting, self.waiting_bytes = [], 0
        return path

    def abandon(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None


class Recorder:
    """Records one session into one file. See the module docstring for threads and failure.

    ``clock`` gives session time (``now()``) and its wall-clock pairing (``wall()``);
    ``meta`` holds at least ``protocol_fingerprint``, ``simulated``, ``scenario`` (and any
    ``settings``). ``on_failure(message)`` / ``on_recovered()`` run inside ``tick``.
    ``on_flushed(FlushInfo)`` runs on the writer thread after each commit.
    """

    def __init__(self, path: str | Path, clock: Clock, *, meta: dict | None = None,
                 flush_interval_s: float = FLUSH_INTERVAL_S, background: bool = True,
                 on_failure: Callable[[str], None] | None = None,
                 on_recovered: Callable[[], None] | None = None,
                 on_flushed: Callable[[FlushInfo], None] | None = None,
                 max_waiting_bytes: int = DEFAULT_MAX_WAITING_BYTES,
                 close_retry_s: float = CLOSE_RETRY_S, rescue_dir: str | Path | None = None,
                 _resume: tuple[sqlite3.Connection, dict] | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self.flush_interval_s = flush_interval_s
        self.on_failure = on_failure
        self.on_recovered = on_recovered
        self._batch = Batch()
        self._map = _Mapper(lag_tolerance_for(clock))
        self._engine: Any = None
        self._session: Any = None
        self._session_events_seen = 0
        self._workflow_kinds: frozenset[str] = frozenset()
        self._episodes: dict[int, tuple] = {}
        self._wave_scales: dict[str, list] = {}  # channel -> [scale, unit], as written to meta
        self._reported: str | None = None  # the failure message last reported
        self._closed = False
        self.lock_file = None
        self.close_retry_s = close_retry_s
        self.rescue_dir = rescue_dir
        self.rescued_to: Path | None = None  # where close() saved what the file could not take
        self.rescue_error: str | None = None
        now = clock.now()
        self._last_flush = now
        if _resume is None:
            conn = None
            anchor = clock.wall() - now
            self.meta = {"format": store.FORMAT, "format_version": store.FORMAT_VERSION,
                         "console_version": __version__, "protocol_fingerprint": "",
                         "simulated": False, "scenario": None, "settings": {},
                         **(meta or {}),
                         "created_wall": clock.wall(), "anchor_wall": anchor, "state": "open",
                         "runs": [{"run": 1, "started_wall": clock.wall(), "reason": "new session"}]}
            self.run = 1
            self.offset = 0.0  # file time = session time + offset
            try:
                conn = store.create(self.path)
            except FileExistsError:
                raise  # never overwrite a session: the caller chose a taken name
            except (OSError, sqlite3.Error) as exc:
                # Monitoring goes on; the data waits and every flush tries to create it again.
                log.error("cannot create session file %s: %s", self.path, exc)
        else:
            conn, self.meta = _resume
            self.run = len(self.meta.get("runs", []))  # resume() has appended this run
            self.offset = 0.0
        self._writer = _Writer(self.path, conn, max_waiting_bytes, on_flushed)
        self._writer.create_meta = store.meta_rows(self.meta)
        self._wave_scales = dict(self.meta.get("wave_scales") or {})  # a resumed file keeps its own
        if conn is not None:
            try:
                self.lock_file = store.hold_lock(self.path)
            except OSError as exc:
                log.warning("cannot lock %s: %s", self.path, exc)
        if _resume is None:
            for row in store.meta_rows(self.meta):
                self._batch.add("meta", row)
            if conn is None:
                self._writer.error = f"recording cannot be written to {self.path}: cannot create the file"
            else:
                self._writer.submit(self._take())  # meta durable before the first sample
        self._queue: queue.SimpleQueue | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ wiring helpers
    def attach(self, session: Any = None, engine: Any = None, *, listen: bool = True) -> None:
        """Follow a session (its timeline events; with ``listen``, every ingested item) and an
        alarm engine (its episodes, its limits; with ``listen``, its log). Call once per
        session/engine. ``listen=False``: the items and log entries come from the monitor,
        step by step (console.sinks.RecorderSink)."""
        if session is not None:
            self._session = session
            self._session_events_seen = len(session.events)
            if listen:
                session.listeners.append(self.add_item)
            if session.patient is not None:
                self.set_patient(session.patient)
            if session.plan is not None:
                self.set_plan(session.plan)
        if engine is not None:
            self._engine = engine
            self._episodes = {}
            if listen:
                engine.listeners.append(self.add_log_entry)
            self.set_limits(limits_snapshot(engine.limits))

    def attach_workflow(self, workflow: Any) -> None:
        """Record every workflow action (sign-in, patient, plan, titration, charting, notes,
        markers, sign-off) with the user who did it and its values. The workflow mirrors some
        of them onto the session timeline; those copies are not recorded twice."""
        def on_event(ev: Any) -> None:
            self.add_event(ev.time, ev.kind, ev.text, user=ev.user, data=ev.data)
            # The patient and the plan in force follow the workflow (identification,
            # a new plan, a titration): the record keeps the current ones.
            if ev.kind in ("patient", "patient_confirmed") and workflow.patient is not None:
                self.set_patient(workflow.patient, t=ev.time)
            if ev.kind in ("plan", "titration") and workflow.plan is not None:
                self.set_plan(workflow.plan, t=ev.time)

        workflow.listeners.append(on_event)
        self._workflow_kinds = frozenset({"chart", "note", "marker", "phase"})

    def file_time(self, session_time: float) -> float:
        return session_time + self.offset

    # ------------------------------------------------------------------ data in
    def add_item(self, item: Received | LinkEvent) -> None:
        """One item as the session ingests it (``session.listeners.append(recorder.add_item)``)."""
        b = self._batch
        off = self.offset
        if isinstance(item, LinkEvent):
            t = item.rx_time + off
            b.add("link_events", (t, item.device, item.state, item.reason), 64 + len(item.reason), t)
            if item.state == "down":
                self._map.timebase[item.device].reset()  # as the session does
            return
        dev, rec, rx = item.device, item.item, item.rx_time
        frx = rx + off
        if isinstance(rec, Rejection):
            if rec.unsupported_protocol is not None:
                self._map.unsupported[dev] = rec.unsupported_protocol
            b.add("rejected", (frx, dev, rec.reason, rec.detail, bytes(rec.raw), rec.unsupported_protocol),
                  96 + len(rec.raw), frx)
            return
        if self._map.unsupported[dev] is not None and not isinstance(rec, Identity):
            # The console ignores this device's data (unsupported protocol); keep it as refused.
            raw = _json(rec.to_json()).encode()
            b.add("rejected", (frx, dev, "unsupported_protocol",
                               f"data of a device speaking protocol {self._map.unsupported[dev]}", raw, None),
                  96 + len(raw), frx)
            return
        tb = self._map.timebase[dev]
        if isinstance(rec, Wave):
            t = tb.to_session(rec.device_ms, rx) + off
            if self._wave_scales.get(rec.channel) != [rec.scale, rec.unit]:
                # The file says what its integers mean, channel by channel (review, export).
                self._wave_scales[rec.channel] = [rec.scale, rec.unit]
                self.set_meta(wave_scales=dict(self._wave_scales))
            samples = array.array("h", rec.samples)
            if not _LE:
                samples.byteswap()
            blob = samples.tobytes()
            b.add("waveforms", (t, frx, rec.device_ms, rec.seq if rec.seq is not None else -1, rec.channel,
                                rec.rate, len(rec.samples), blob), 96 + len(blob), t)
        elif isinstance(rec, Identity):
            self._map.unsupported[dev] = None
            b.add("identities", (frx, frx, rec.device_ms if rec.device_ms is not None else 0,
                                 rec.seq if rec.seq is not None else -1, dev,
                                 rec.data.get("ROLE", rec.role.upper() if rec.role else None), rec.model,
                                 rec.serial, rec.firmware, rec.protocol_version, _json(rec.data)), 200, frx)
        elif isinstance(rec, DeviceAlarms):  # the device's own alarms, as one word: replay reads it back
            text = _json([[a.code, a.text, a.priority, a.kind] for a in rec.alarms])
            b.add("states", (frx, frx, rec.device_ms, dev, "DEVICE_ALARMS", text), 80 + len(text), frx)
        elif isinstance(rec, Observations):
            if rec.demo:  # what the device sent, kept as such, never among the patient's values
                raw = _json(rec.to_json()).encode()
                b.add("rejected", (frx, dev, DEMO_RECORDED_AS, "demo data (the device's demo mode): not the "
                                   "patient's values", raw, None), 96 + len(raw), frx)
                return
            if rec.device_ms is None:  # no device time worth using: the session used the receive time
                self._values(dev, rec.values, frx, frx, None, None, rx)
            else:
                t = tb.to_session(rec.device_ms, rx) + off
                self._values(dev, rec.values, t, frx, rec.device_ms, tb, rx)

    def _values(self, dev: str, values: dict, t: float, frx: float, ms: int | None,
                tb: DeviceTimebase | None, rx: float) -> None:
        b = self._batch
        nibp_t = t
        if values.get("NIBP_SYS") is not None and isinstance(values.get("NIBP_MS"), int) and tb is not None:
            nibp_t = tb.to_session(values["NIBP_MS"], rx) + self.offset  # when the cuff measured
        for metric, value in values.items():
            at = nibp_t if metric.startswith("NIBP_") and metric != "NIBP_MS" else t
            if metric in NUMERIC_METRICS and not isinstance(value, (str, list)):
                b.add("samples", (at, frx, ms, dev, metric, value), 80, at)
            else:
                if isinstance(value, list):
                    value = "|".join(value) if value else "NONE"
                b.add("states", (at, frx, ms, dev, metric, None if value is None else str(value)), 80, at)

    def add_log_entry(self, entry: Any) -> None:
        """One alarm log line (``engine.listeners.append(recorder.add_log_entry)``)."""
        t = entry.time + self.offset
        self._batch.add("alarm_log", (t, self.run, entry.event, entry.key, entry.kind, entry.priority,
                                      entry.metric, entry.message, entry.value, entry.limit, entry.user,
                                      entry.detail), 160, t)
        if entry.event == "limit_change" and self._engine is not None:
            self.set_limits(limits_snapshot(self._engine.limits), t=entry.time)

    def update_episodes(self, history: Iterable[Any]) -> None:
        """Write the episodes that are new or changed since the last call (one row per
        episode, replaced as it ends, is acknowledged, escalates). ``tick`` calls it with the
        attached engine's history."""
        off = self.offset
        for a in history:
            sig = (a.priority, a.highest, a.active, a.ended, a.acknowledged_at, a.escalated, a.message)
            if self._episodes.get(a.episode) == sig:
                continue
            self._episodes[a.episode] = sig

            def ft(x: float | None) -> float | None:
                return None if x is None else x + off

            self._batch.add("alarm_episodes", (
                self.run, a.episode, a.key, a.kind, a.metric, a.message, a.priority, a.highest,
                a.started + off, ft(a.ended), int(a.active), a.value, a.limit, a.unit, int(a.latching),
                a.acknowledged_by, ft(a.acknowledged_at), int(a.escalated), ft(a.escalated_at),
                _json(a.extra)), 200)

    def set_patient(self, patient: Any, t: float | None = None) -> None:
        self._doc("patient", patient, t)

    def set_plan(self, plan: Any, t: float | None = None) -> None:
        self._doc("plan", plan, t)

    def set_limits(self, limits: dict, t: float | None = None) -> None:
        self._doc("limits", limits, t)

    def _doc(self, table: str, obj: Any, t: float | None) -> None:
        t = (self.clock.now() if t is None else t) + self.offset
        data = _json(_plain(obj))
        self._batch.add(table, (t, data), 64 + len(data))

    def add_event(self, time: float, kind: str, text: str, user: str | None = None,
                  data: Any = None) -> None:
        """An event, note, chart entry or user action, at session time ``time``."""
        t = time + self.offset
        self._batch.add("events", (t, kind, text, user, None if data is None else _json(data)),
                        96 + len(text), t)

    def set_meta(self, **values: Any) -> None:
        """Change meta entries (settings in force, scenario ...)."""
        self.meta.update(values)
        for row in store.meta_rows(values):
            self._batch.add("meta", row)

    # ------------------------------------------------------------------ flushing
    def _take(self) -> Batch:
        batch, self._batch = self._batch, Batch()
        return batch

    def _collect(self) -> None:
        """Pull what the attached session and engine have that does not come by listener."""
        if self._session is not None:
            events = self._session.events
            for ev in events[self._session_events_seen:]:
                if ev.kind == "link" and ev.link_state is not None:
                    continue  # the link_events table holds these already
                if ev.kind in self._workflow_kinds:
                    continue  # recorded from the workflow itself, with the user
                data = {"source": "session"}
                if ev.priority is not None:
                    data["priority"] = ev.priority  # replay reads it back, never from the words
                self.add_event(ev.time, ev.kind, ev.text, data=data)
            self._session_events_seen = len(events)
        if self._engine is not None:
            self.update_episodes(self._engine.history)

    def tick(self, now: float | None = None) -> None:
        """Call regularly (every display frame or loop turn). Flushes when ``flush_interval_s``
        of session time has passed since the last flush, so at most one interval of data is
        in memory only; reports failure and recovery."""
        if self._closed:
            return
        now = self.clock.now() if now is None else now
        if now - self._last_flush >= self.flush_interval_s:
            self._last_flush = now
            self.flush()
        self._report()

    def flush(self) -> None:
        """Hand everything gathered to the writer now (also retries what waits)."""
        self._collect()
        batch = self._take()
        if self._queue is not None:
            self._queue.put(("batch", batch))
        else:
            self._writer.submit(batch)

    def _report(self) -> None:
        with self._writer.lock:
            error = self._writer.error
        if error is not None and error != self._reported:
            self._reported = error
            if self.on_failure is not None:
                self.on_failure(error)
        elif error is None and self._reported is not None:
            self._reported = None
            if self.on_recovered is not None:
                self.on_recovered()

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            kind, arg = self._queue.get()
            # Coalesce whatever queued up meanwhile into one transaction.
            jobs = [(kind, arg)]
            while True:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            merged: Batch | None = None
            for k, a in jobs:
                if k == "batch":
                    if merged is None:
                        merged = a
                    else:
                        merged.merge(a)
            try:
                self._writer.submit(merged)
            except Exception:  # never let the writer die silently
                log.exception("recording writer")
                with self._writer.lock:
                    self._writer.error = f"recording cannot be written to {self.path}: internal error"
            for k, a in jobs:
                if k in ("sync", "stop"):
                    a.set()
                if k == "stop":
                    return

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until the writer has handled everything handed to it (tests, shutdown)."""
        if self._queue is None:
            return True
        done = threading.Event()
        self._queue.put(("sync", done))
        return done.wait(timeout)

    # ------------------------------------------------------------------ status
    @property
    def error(self) -> str | None:
        """Why the record cannot be written now, or None."""
        with self._writer.lock:
            return self._writer.error

    @property
    def waiting_records(self) -> int:
        with self._writer.lock:
            return sum(len(b) for b in self._writer.waiting) + len(self._batch)

    @property
    def written(self) -> dict[str, int]:
        with self._writer.lock:
            return dict(self._writer.written)

    @property
    def flushes(self) -> int:
        return self._writer.flushes

    def set_fault(self, fault: Callable[[], None] | None) -> None:
        """Test hook: ``fault()`` runs before each commit; raise OSError/sqlite3.Error from it
        to simulate a failing disk."""
        self._writer.fault = fault

    # ------------------------------------------------------------------ end
    def close(self, timeout: float = 10.0) -> bool:
        """Flush everything, mark the file closed, fold the WAL into it. Returns False (and
        leaves the file open, so it can be resumed) if the last data could not be written."""
        if self._closed:
            return True
        self._collect()
        self.flush()
        if self._thread is not None:
            assert self._queue is not None
            done = threading.Event()
            self._queue.put(("stop", done))
            done.wait(timeout)
            self._thread.join(timeout)
        self._closed = True
        closed_meta = store.meta_rows({"state": "closed", "closed_wall": self.clock.wall()})
        ok = self._writer.close(closed_meta)
        # The disk may come back (a full disk freed, a remount): keep trying for a bounded
        # time, then save everything to a rescue file elsewhere rather than drop it.
        deadline = time.monotonic() + self.close_retry_s
        while not ok and time.monotonic() < deadline:
            time.sleep(CLOSE_RETRY_STEP_S)
            ok = self._writer.close(closed_meta)
        if not ok:
            log.error("session file %s could not be closed cleanly: %s", self.path, self._writer.error)
            if self._writer.waiting or self._writer.conn is None:
                directory = self.rescue_dir or store.default_session_dir().parent / "rescue"
                try:
                    self.rescued_to = self._writer.rescue(Path(directory))
                except (OSError, sqlite3.Error) as exc:
                    self.rescue_error = f"no rescue file could be written in {directory}: " \
                                        f"{getattr(exc, 'strerror', None) or exc}"
                    log.error("%s", self.rescue_error)
            self._writer.abandon()
        store.release_lock(self.lock_file, self.path)
        self.lock_file = None
        self._report()
        return ok


def resume(path: str | Path, clock: Clock, *, reason: str | None = None, **kwargs: Any) -> Recorder:
    """Reopen a session file and go on recording into it. A gap is recorded from the last
    thing the file holds to now (``reason`` default: "console stopped unexpectedly" for a
    file still open, "recording resumed" for one closed cleanly). The new run's session
    clock is shifted onto the file's timeline through the wall clock; it never goes back
    before what the file holds. Raises store.NotASessionFile, or OSError if another process
    is recording into it."""
    path = Path(path)
    if store.is_in_use(path):
        raise OSError(f"{path} is being recorded by another running console")
    conn = store.open_existing(path)
    meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    was_open = meta.get("state") == "open"
    last = store.last_time(conn)
    anchor = float(meta["anchor_wall"])
    now = clock.now()
    offset = (clock.wall() - now) - anchor
    if last is not None and now + offset <= last:
        # The wall clock went back, or a simulation ran ahead of it: keep one forward
        # timeline, and give the crash gap a length so it is drawn and replayed as one.
        offset = last - now + MIN_CRASH_GAP_S
    start = last if last is not None else now + offset
    resumed_at = now + offset
    reason = reason or (CRASH_REASON if was_open else "recording resumed")
    runs = [*meta.get("runs", []), {"run": len(meta.get("runs", [])) + 1, "started_wall": clock.wall(),
                                    "reason": reason}]
    meta.update({"state": "open", "runs": runs})
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        # Always marked, even when the clocks say no time passed (a simulated session runs
        # ahead of the wall clock, so its resume point is clamped to the file's end).
        conn.execute(store.INSERTS["gaps"], (start, max(start, resumed_at), reason))
        conn.executemany(store.INSERTS["meta"], store.meta_rows({"state": "open", "runs": runs}))
    rec = Recorder(path, clock, _resume=(conn, meta), **kwargs)
    rec.offset = offset
    return rec


__all__ = ["Batch", "FlushInfo", "Recorder", "limits_snapshot", "resume"]
