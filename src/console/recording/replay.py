"""Read a session file back: everything at once for review, or paced in real (scaled) time for
replay through the live window. Qt-free.

The recorder split what the session ingested across tables (``samples``/``states`` per value,
``waveforms``, ``identities``, ``rejected``, ``link_events``). ``iter_stream`` joins them
back into the ``Received`` / ``LinkEvent`` items the session ingested, in stream order, with
their receive times: a sentence's numbers and words are rejoined by (receive time, device,
device time), so a ``Session`` fed with them makes the same ``DeviceTimebase`` calls as the
live one and plots the same trends. Each table is read in ``rowid`` (arrival) order, which
keeps every device's own order; tables are merged by receive time.

All times are file time (see store.py): seconds on the file's timeline, ``meta.anchor_wall``
being the wall time of 0. A crash gap (the console was not running) is replayed as a link
``down`` for both devices at its start, as the console was then blind: lines break there
and device clocks re-anchor, as they did in the resumed run.

Errors: ``load_review`` and ``ReplaySource`` raise only ``NotASessionFile`` (missing file,
not SQLite, not a session, or a session file too damaged to read), with a message a person
can act on.
"""

from __future__ import annotations

import array
import collections
import contextlib
import datetime as dt
import heapq
import itertools
import json
import logging
import queue
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from console.alarms.model import Alarm, LogEntry
from console.clinical import ClinicalProtocol, load_protocol
from console.clock import FakeClock, ScaledClock
from console.dose import DosePlan
from console.drivers import legacy_wave_scale, upgrade_recorded
from console.metrics import CHANNELS
from console.patient import Patient
from console.recording import store
from console.records import (
    DEMO_RECORDED_AS,
    DecoderStats,
    DeviceAlarm,
    DeviceAlarms,
    Identity,
    LinkEvent,
    Observations,
    Received,
    Rejection,
    Role,
    Wave,
)
from console.session import Session
from console.workflow import ON_TRENDS

log = logging.getLogger(__name__)

DEVICES: tuple[Role, Role] = ("vitals", "pump")
REPLAY_TICK_S = 0.02  # wall seconds between pushes, as the simulator's thread
STOP_JOIN_S = 2.0
# Order of items sharing one receive time: a link coming up before the data it brings,
# going down after the last data it delivered (the decoder's flush on disconnect).
_RANK_UP, _RANK_DATA, _RANK_DOWN = 0, 1, 2
# Session timeline events a Session re-creates by itself from the items (not added twice).
_REGENERATED = frozenset({"link", "pump"})
_LE = sys.byteorder == "little"


def _unreadable(path: str | Path, exc: BaseException) -> store.NotASessionFile:
    return store.NotASessionFile(f"{path}: the session file cannot be read ({exc})")


# ---------------------------------------------------------------------- the item stream
def _samples_of(blob: bytes) -> list[int]:
    a = array.array("h")
    a.frombytes(blob)
    if not _LE:
        a.byteswap()
    return a.tolist()


def _word(metric: str, value: str | None) -> Any:
    if value is not None and metric == "PUMP_ALARM":
        return [] if value == "NONE" else value.split("|")
    return value


def _sentence_groups(conn: sqlite3.Connection) -> Iterator[tuple[tuple[Any, Any, Any], dict]]:
    """Consecutive rows of one sentence, per table: (rx, first rowid, key, values)."""

    def groups(table: str, numeric: bool):
        try:
            yield from _groups(table, numeric)
        except sqlite3.DatabaseError as exc:  # a damaged file: what was read so far stays
            _note(conn, f"{table}: read stopped ({exc})")

    def _groups(table: str, numeric: bool) -> Iterator[tuple[tuple[Any, Any, Any], dict]]:
        rows = conn.execute(f"SELECT rx, device, device_ms, metric, value, t FROM {table} ORDER BY rowid")
        for key, grp in itertools.groupby(rows, key=lambda r: (r[0], r[1], r[2])):
            values: dict = {}
            for _rx, _dev, _ms, metric, value, _t in grp:
                if numeric and metric == "NIBP_MS" and value is not None:
                    value = int(value)  # a device clock reading: the session maps ints only
                values[metric] = value if numeric else _word(metric, value)
            yield key, values

    # Both tables hold the sentences in ingest order; a sentence with no number (or no
    # word) is missing from one of them, so heads that differ are taken by receive time.
    nums, words = groups("samples", True), groups("states", False)
    a, b = next(nums, None), next(words, None)
    while a is not None or b is not None:
        if a is not None and b is not None and a[0] == b[0]:
            yield a[0], {**a[1], **b[1]}
            a, b = next(nums, None), next(words, None)
        elif a is not None and (b is None or a[0][0] <= b[0][0]):
            yield a
            a = next(nums, None)
        elif b is not None:
            yield b
            b = next(words, None)


def _sentences(conn: sqlite3.Connection, anchor: float) -> Iterator[tuple[tuple, Received]]:
    """Each recorded report back as the observations the session ingested (device_ms None:
    the device gave no time worth using, and the session stamped it on receipt)."""
    for (rx, device, ms), values in _sentence_groups(conn):
        alarms = values.pop("DEVICE_ALARMS", None)
        if alarms is not None:  # the device's own alarms, recorded as one word
            yield (rx, _RANK_DATA), Received(device, _device_alarms(alarms, ms), rx, anchor + rx)
            if not values:
                continue
        rec = Observations(None, None if ms is None else int(ms), upgrade_recorded(values))
        yield (rx, _RANK_DATA), Received(device, rec, rx, anchor + rx)


def _device_alarms(text: str, ms: Any) -> DeviceAlarms:
    try:
        rows = json.loads(text)
        alarms = tuple(DeviceAlarm(str(c), str(t), str(p), str(k)) for c, t, p, k in rows)
    except (ValueError, TypeError):
        alarms = ()  # a damaged word: no alarm read back rather than a wrong one
    return DeviceAlarms(None if ms is None else int(ms), alarms)


def chunk_ok(rate: Any, n: Any, blob: Any) -> bool:
    """A waveform chunk whose rate and length can be trusted (a damaged one is skipped)."""
    return (isinstance(rate, (int, float)) and rate > 0 and isinstance(blob, bytes) and isinstance(n, int)
            and len(blob) == 2 * n)


# Damage met while reading a file, per connection (review shows it, export lists it).
_NOTES: dict[int, list[str]] = {}


def _note(conn: sqlite3.Connection, text: str) -> None:
    notes = _NOTES.setdefault(id(conn), [])
    if text not in notes:
        notes.append(text)


def _guarded(conn: sqlite3.Connection, name: str, gen: Iterator) -> Iterator:
    try:
        yield from gen
    except sqlite3.DatabaseError as exc:
        _note(conn, f"{name}: read stopped ({exc})")


def wave_scales(conn: sqlite3.Connection) -> dict[str, tuple[float, str]]:
    """What each channel's recorded integers mean: (scale, unit). Files written before the
    scale was recorded hold the default driver's waveforms."""
    recorded: dict = {}
    with contextlib.suppress(sqlite3.DatabaseError, ValueError, TypeError):
        row = conn.execute("SELECT value FROM meta WHERE key = 'wave_scales'").fetchone()
        recorded = json.loads(row[0]) if row else {}
    scales = {}
    for channel, spec in CHANNELS.items():
        got = recorded.get(channel) if isinstance(recorded, dict) else None
        if isinstance(got, list) and len(got) == 2 and isinstance(got[0], (int, float)):
            scales[channel] = (float(got[0]), str(got[1]))
        else:
            scales[channel] = (legacy_wave_scale(channel), spec.unit)
    return scales


def _waveforms(conn: sqlite3.Connection, anchor: float) -> Iterator[tuple[tuple, Received]]:
    scales = wave_scales(conn)
    bad = 0
    for rx, ms, seq, channel, rate, n, blob in conn.execute(
            "SELECT rx, device_ms, seq, channel, rate, n, samples FROM waveforms ORDER BY rowid"):
        if not chunk_ok(rate, n, blob):
            bad += 1
            _note(conn, f"waveforms: {bad} damaged chunks skipped")
            continue
        scale, unit = scales.get(channel, (1.0, ""))
        yield (rx, _RANK_DATA), Received("vitals", Wave(seq, ms, channel, rate, _samples_of(blob), scale, unit),
                                         rx, anchor + rx)


def _identities(conn: sqlite3.Connection, anchor: float) -> Iterator[tuple[tuple, Received]]:
    for rx, ms, seq, device, role, model, serial, fw, proto, data in conn.execute(
            "SELECT rx, device_ms, seq, device, role, model, serial, fw, proto, data FROM identities ORDER BY rowid"):
        rec = Identity(seq, ms, str(role).lower() if role else None, model or "", serial or "", fw or "",
                       proto or "", json.loads(data))
        yield (rx, _RANK_DATA), Received(device, rec, rx, anchor + rx)


def _rejections(conn: sqlite3.Connection, anchor: float) -> Iterator[tuple[tuple, Received]]:
    for rx, device, reason, detail, raw, unsupported in conn.execute(
            "SELECT rx, device, reason, detail, raw, unsupported_protocol FROM rejected ORDER BY rowid"):
        demo = _demo_report(raw) if reason == DEMO_RECORDED_AS else None
        if demo is not None:  # a demo report, kept apart from the patient's values: ingested as it was
            yield (rx, _RANK_DATA), Received(device, demo, rx, anchor + rx)
            continue
        yield (rx, _RANK_DATA), Received(device, Rejection(reason, bytes(raw), detail, unsupported), rx, anchor + rx)


def _demo_report(raw: Any) -> Observations | None:
    try:
        rec = json.loads(bytes(raw))
        values, ms, seq = rec["values"], rec["device_ms"], rec["seq"]
    except (ValueError, TypeError, KeyError):
        return None  # a damaged row: replayed as the refused data it is stored as
    if not isinstance(values, dict):
        return None
    return Observations(seq if isinstance(seq, int) else None, ms if isinstance(ms, int) else None, values, demo=True)


def _links(conn: sqlite3.Connection) -> Iterator[tuple[tuple, LinkEvent]]:
    for t, device, state, reason in conn.execute("SELECT t, device, state, reason FROM link_events ORDER BY rowid"):
        yield (t, _RANK_DOWN if state == "down" else _RANK_UP), LinkEvent(device, state, reason, t)


def recorded_devices(conn: sqlite3.Connection) -> list[str]:
    """The monitor and the plan's pump, and any other pump the record holds ("pump-2"...)."""
    found = list(DEVICES)
    with contextlib.suppress(sqlite3.DatabaseError):
        for (device,) in conn.execute("SELECT DISTINCT device FROM link_events ORDER BY device"):
            if isinstance(device, str) and device not in found:
                found.append(device)
    return found


def _gap_downs(conn: sqlite3.Connection) -> Iterator[tuple[tuple, LinkEvent]]:
    """The console was not running over a crash gap: every link was down from its start."""
    devices = recorded_devices(conn)
    for start, reason in conn.execute('SELECT start, reason FROM gaps WHERE reason NOT LIKE '
                                      "'waveforms discarded%' ORDER BY start"):
        for device in devices:
            yield (start, _RANK_DOWN), LinkEvent(device, "down", f"not recorded: {reason}", start)


def iter_stream(conn: sqlite3.Connection, anchor_wall: float = 0.0, *,
                waveforms: bool = True) -> Iterator[Received | LinkEvent]:
    """Every item the session ingested, rebuilt from the file, in stream order. Items carry
    file time as their receive time (``rx_wall`` = ``anchor_wall`` + it). ``waveforms=False``
    leaves the waveform chunks out (most of a file: a chart or a course reads none of them)."""
    streams = tuple(_guarded(conn, name, gen) for name, gen in (
        ("link_events", _links(conn)), ("samples", _sentences(conn, anchor_wall)),
        *((("waveforms", _waveforms(conn, anchor_wall)),) if waveforms else ()),
        ("identities", _identities(conn, anchor_wall)),
        ("rejected", _rejections(conn, anchor_wall)), ("gaps", _gap_downs(conn))))
    for _key, item in heapq.merge(*streams, key=lambda pair: pair[0]):
        yield item


# ---------------------------------------------------------------------- review
def recorded_priority(ev: RecordedEvent) -> str | None:
    """An alarm event's priority: recorded with it since typed events; files written before
    that hold it only in the words ("high alarm: ..."), read here and nowhere else."""
    if ev.kind != "alarm":
        return None
    if isinstance(ev.data, dict) and ev.data.get("priority"):
        return str(ev.data["priority"])
    first = ev.text.split(" ", 1)[0]
    return first if first in ("high", "medium", "low") else None


@dataclass(frozen=True)
class RecordedEvent:
    """One row of the ``events`` table: an event, note, chart entry or user action."""

    time: float  # file time
    kind: str
    text: str
    user: str | None
    data: dict | None


@dataclass(frozen=True)
class Gap:
    start: float
    end: float
    reason: str


class ReplaySession(Session):
    """A Session rebuilt from a record: views can tell it is not live (``replay_of``)."""

    def __init__(self, *args: Any, replay_of: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replay_of = Path(replay_of)


@dataclass
class Review:
    """A whole session file, read at once, for the review screen. Times are file time."""

    path: Path
    meta: dict
    session: ReplaySession  # fed with every recorded item; its FakeClock stands at ``end``
    log: list[LogEntry]
    episodes: list[Alarm]
    events: list[RecordedEvent]
    gaps: list[Gap]
    patient: Patient | dict | None
    plan: DosePlan | dict | None
    limits: dict | None
    identities: list[dict]
    start: float
    end: float
    items: int  # items ingested (the count a replay delivers)
    counts: dict[str, int] = field(default_factory=dict)  # rows per table
    damage: list[str] = field(default_factory=list)  # what of a damaged file could not be read

    @property
    def anchor_wall(self) -> float:
        return anchor_of(self.meta)[0]

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def crashed(self) -> bool:
        """The file was never closed: the console stopped unexpectedly (or still records)."""
        return self.meta.get("state") != "closed"

    def wall(self, t: float) -> dt.datetime:
        """File time as local wall-clock time."""
        return dt.datetime.fromtimestamp(self.anchor_wall + t).astimezone()

    def waveforms(self, t0: float, t1: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every channel's samples between file times ``t0`` and ``t1``, read from the file on
        demand (the live rings hold only seconds). Missing samples are NaN breaks, so a gap
        is drawn as a gap. Values as recorded (CO2 in mmHg x 10)."""
        return read_waveforms(self.path, t0, t1)


def anchor_of(meta: dict) -> tuple[float, str | None]:
    """``meta.anchor_wall`` and, when it is damaged, 0.0 and why (times then read as elapsed)."""
    value = meta.get("anchor_wall", 0.0)
    try:
        anchor = float(value)
        if anchor == anchor and abs(anchor) < 1e11:
            return anchor, None
    except (TypeError, ValueError):
        pass
    return 0.0, f"meta anchor_wall is not a time ({value!r}): clock times are wrong, elapsed times hold"


def _meta(conn: sqlite3.Connection) -> dict:
    meta = {}
    for k, v in conn.execute("SELECT key, value FROM meta"):
        try:
            meta[k] = json.loads(v)
        except (ValueError, TypeError):
            _note(conn, f"meta {k} not readable")
    return meta


def _try(conn: sqlite3.Connection, name: str, read, default):
    try:
        return read()
    except (sqlite3.DatabaseError, ValueError, TypeError, KeyError) as exc:
        _note(conn, f"{name}: not readable ({exc})")
        return default


def _conn(path: str | Path) -> sqlite3.Connection:
    try:
        return store.connect_readonly(path)
    except OSError as exc:
        raise _unreadable(path, exc) from None


def read_waveforms(path: str | Path, t0: float, t1: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each channel's samples between t0 and t1 (file time), in the channel's unit."""
    conn = _conn(path)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        scales = wave_scales(conn)
        rows = conn.execute(
            # A chunk is well under 5 s long; the index on (channel, t) keeps this a range scan.
            "SELECT channel, t, rate, n, samples FROM waveforms WHERE t >= ? AND t <= ? "
            "ORDER BY channel, t, rowid",
            (t0 - 5.0, t1)).fetchall()
    except sqlite3.Error as exc:
        raise _unreadable(path, exc) from None
    finally:
        conn.close()
    for channel, grp in itertools.groupby(rows, key=lambda r: r[0]):
        ts: list[np.ndarray] = []
        vs: list[np.ndarray] = []
        last: float | None = None
        scale = scales.get(channel, (1.0, ""))[0]
        for _ch, t, rate, n, blob in grp:
            if not chunk_ok(rate, n, blob):
                continue  # damaged: its samples are missing, so the line breaks there
            step = 1.0 / rate
            values = np.asarray(_samples_of(blob), dtype=np.float64) * scale
            times = t + np.arange(len(values)) * step
            if last is not None and t > last + 2.5 * step:
                ts.append(np.array([last + step]))  # samples are missing: break the line
                vs.append(np.array([np.nan]))
            ts.append(times)
            vs.append(values)
            last = float(times[-1]) if len(times) else last
        if not ts:
            continue
        t_all, v_all = np.concatenate(ts), np.concatenate(vs)
        keep = (t_all >= t0) & (t_all <= t1)
        out[channel] = (t_all[keep], v_all[keep])
    return out


def _model(cls, data: Any):
    """The pydantic model when the record's JSON still fits it, else the plain data."""
    if data is None:
        return None
    try:
        return cls.model_validate(data)
    except Exception:  # an older or foreign record: show what it holds
        return data


def apply_limits(limits: Any, snapshot: dict) -> None:
    """Put recorded limits (``limits_snapshot`` data) into an engine's PatientLimits. They
    were valid when recorded, so they are set as they are, not re-checked one by one."""
    for metric, bands in snapshot.items():
        for b in bands:
            live = limits.band(metric, b["priority"])
            if live is not None:
                live.below, live.above, live.delay_s = b["below"], b["above"], b["delay_s"]


def _latest(conn: sqlite3.Connection, table: str) -> Any:
    row = conn.execute(f"SELECT data FROM {table} ORDER BY t DESC, rowid DESC LIMIT 1").fetchone()
    return json.loads(row[0]) if row else None


def load_review(path: str | Path, protocol: ClinicalProtocol | None = None, *, waveforms: bool = True) -> Review:
    """Read a finished or crashed session file for review. Raises only NotASessionFile.
    ``waveforms=False``: without the waveform chunks (the chart and the course: 4x faster)."""
    path = Path(path)
    conn = _conn(path)
    try:
        return _load(path, conn, protocol or load_protocol(), waveforms)
    except store.NotASessionFile:
        raise
    except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
        raise _unreadable(path, exc) from None
    finally:
        _NOTES.pop(id(conn), None)
        conn.close()


def _load(path: Path, conn: sqlite3.Connection, protocol: ClinicalProtocol, waveforms: bool = True) -> Review:
    meta = _meta(conn)
    anchor, why = anchor_of(meta)
    if why:
        _note(conn, why)
    end = _try(conn, "end time", lambda: store.last_time(conn), None) or 0.0
    patient = _model(Patient, _try(conn, "patient", lambda: _latest(conn, "patient"), None))
    plan = _model(DosePlan, _try(conn, "plan", lambda: _latest(conn, "plan"), None))
    clock = FakeClock(0.0, wall0=anchor)
    session = ReplaySession(protocol, clock, plan=plan if isinstance(plan, DosePlan) else None,
                            patient=patient if isinstance(patient, Patient) else None,
                            simulated=bool(meta.get("simulated")), scenario=meta.get("scenario"), replay_of=path)
    start: float | None = None
    n = 0
    for item in iter_stream(conn, anchor, waveforms=waveforms):
        t = item.rx_time
        if start is None:
            start = t
        if t > clock.now():
            clock.set(t)
        session.ingest(item)
        n += 1
    events = _try(conn, "events", lambda: [RecordedEvent(t, kind, text, user, json.loads(data) if data else None)
                                            for t, kind, text, user, data in conn.execute(
                                                "SELECT t, kind, text, user, data FROM events ORDER BY t, rowid")],
                  [])
    # The live timeline also held alarms and workflow actions (not items): put them back.
    for ev in events:
        from_session = isinstance(ev.data, dict) and ev.data.get("source") == "session"
        if from_session and ev.kind not in _REGENERATED:
            session.add_event(ev.time, ev.kind, ev.text, priority=recorded_priority(ev))
        elif not from_session and ev.kind in ON_TRENDS:
            session.add_event(ev.time, ON_TRENDS[ev.kind], ev.text)
    session.events.sort(key=lambda e: e.time)
    log_entries = _try(conn, "alarm_log", lambda: [
        LogEntry(t, event, key, kind, priority, metric, message, value, limit, user, detail)
        for t, event, key, kind, priority, metric, message, value, limit, user, detail in conn.execute(
            'SELECT t, event, key, kind, priority, metric, message, value, "limit", user, detail '
            "FROM alarm_log ORDER BY t, rowid")], [])
    episodes = _try(conn, "alarm_episodes", lambda: _episodes(conn), [])
    gaps = _try(conn, "gaps", lambda: [Gap(s, e, r) for s, e, r in conn.execute(
        'SELECT start, "end", reason FROM gaps ORDER BY start')], [])
    identities = _try(conn, "identities", lambda: [
        json.loads(d) | {"device": dev, "time": t} for t, dev, d in
        conn.execute("SELECT t, device, data FROM identities GROUP BY device, serial, model, fw")], [])
    counts = {table: _try(conn, table, lambda table=table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                          0)
              for table in store.TABLES if table != "meta"}
    end = max(end, clock.now())
    clock.set(end)
    return Review(path, meta, session, log_entries, episodes, events, gaps, patient, plan,
                  _try(conn, "limits", lambda: _latest(conn, "limits"), None), identities,
                  0.0 if start is None else min(0.0, start), end, n, counts, list(_NOTES.get(id(conn), [])))


def _episodes(conn: sqlite3.Connection) -> list[Alarm]:
    episodes = []
    for row in conn.execute('SELECT key, kind, priority, metric, message, started, episode, value, "limit", unit, '
                            "highest, active, ended, latching, acknowledged_by, acknowledged_at, escalated, "
                            "escalated_at, extra FROM alarm_episodes ORDER BY started, run, episode"):
        (key, kind, priority, metric, message, started, episode, value, limit, unit, highest, active, ended,
         latching, ack_by, ack_at, escalated, escalated_at, extra) = row
        episodes.append(Alarm(key, kind, priority, metric, message, started, episode, value, limit, unit,
                              highest, bool(active), ended, bool(latching), ack_by, ack_at, bool(escalated),
                              escalated_at, json.loads(extra) if extra else {}))
    return episodes


# ---------------------------------------------------------------------- replay
class ReplayClock(ScaledClock):
    """The replay's session clock: file time, running ``speed`` times faster than the wall
    clock from ``start`` (so the window's clock reads the recorded session's time)."""

    def __init__(self, speed: float = 1.0, start: float = 0.0, anchor_wall: float = 0.0) -> None:
        super().__init__(speed, start_wall=anchor_wall)
        with self._lock:
            self._session_base = float(start)  # ScaledClock always starts at 0; a replay may not


@dataclass(frozen=True)
class ReplayRequest:
    """What the window shows of where the data comes from (as ``Sources.request``)."""

    path: Path
    speed: float
    start: float
    simulate: str | None = None
    simulated: bool = False


class ReplaySource:
    """A recorded session as an in-process source for the live window, like SimulatedDevices:
    a daemon thread ``replay-source`` pushes the recorded items into ``out`` (``queue``)
    when the replay clock (``clock``, file time, ``speed`` x) reaches their receive time.
    Items before ``start`` are pushed at once, so the window's trends hold the session up to
    there. After the last item (or on ``stop()``) each device gets a ``down`` link event,
    "replay ended" (or "replay stopped"), as a live link ends.

    Offers what MainWindow and Console read of ``Sources``: ``queue``, ``clock``,
    ``request``, ``simulation`` (None: no instructor), ``scenario``, ``stats()``, ``url()``,
    ``start()``, ``stop()``. Raises NotASessionFile at construction for an unreadable file.
    """

    def __init__(self, path: str | Path, out: queue.SimpleQueue | None = None, speed: float = 1.0, *,
                 start: float = 0.0, tick: float = REPLAY_TICK_S) -> None:
        self.path = Path(path)
        conn = _conn(self.path)
        try:
            self.meta = _meta(conn)
            self.end = _try(conn, "end time", lambda: store.last_time(conn), None) or 0.0
            # for the window's session bar
            self.patient = _model(Patient, _try(conn, "patient", lambda: _latest(conn, "patient"), None))
            self.plan = _model(DosePlan, _try(conn, "plan", lambda: _latest(conn, "plan"), None))
            # The alarm limits in force over time (one snapshot at the start and one after
            # each change), so a replay judges alarms as the console did then.
            self.limit_snapshots = _try(conn, "limits", lambda: [
                (t, json.loads(d)) for t, d in conn.execute("SELECT t, data FROM limits ORDER BY t, rowid")], [])
        except (sqlite3.Error, ValueError) as exc:
            raise _unreadable(self.path, exc) from None
        finally:
            self.damage = _NOTES.pop(id(conn), [])
            conn.close()
        self.queue: queue.SimpleQueue = out if out is not None else queue.SimpleQueue()
        self.anchor_wall = anchor_of(self.meta)[0]
        self.clock = ReplayClock(speed, start, self.anchor_wall)
        self.start_time = float(start)
        self.request = ReplayRequest(self.path, speed, self.start_time)
        self.simulation = None  # nothing to inject into: the instructor stays closed
        self.links: dict = {}
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stats: dict[str, DecoderStats] = collections.defaultdict(DecoderStats)
        self.delivered = 0  # recorded items pushed (the closing link events not counted)
        self.finished = False  # every recorded item has been pushed
        self.error: str | None = None

    # -- what the window reads ------------------------------------------------------------
    @property
    def scenario(self) -> Any:
        return None

    @property
    def speed(self) -> float:
        return self.clock.speed

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)

    def stats(self) -> dict[Role, DecoderStats]:
        with self._lock:
            return {d: DecoderStats(s.accepted, Counter(s.rejected)) for d, s in self._stats.items()}

    def url(self, device: Role) -> str:
        return f"replay of {self.path.name}"

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- running --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("ReplaySource starts once")
        self._thread = threading.Thread(target=self._run, name="replay-source", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_JOIN_S) -> bool:
        """Stop promptly (within one tick); True when the thread has ended."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _push(self, item: Received | LinkEvent) -> None:
        self.queue.put(item)
        self.delivered += 1
        if isinstance(item, Received):
            with self._lock:
                s = self._stats[item.device]
                if isinstance(item.item, Rejection):
                    s.rejected[item.item.reason] += 1
                else:
                    s.accepted += 1

    def _run(self) -> None:
        reason = "replay stopped"
        conn = None
        try:
            conn = store.connect_readonly(self.path)
            items = iter_stream(conn, self.anchor_wall)
            pending = next(items, None)
            # History before the start point at once: the window's trends hold it.
            while pending is not None and pending.rx_time < self.start_time and not self._stop.is_set():
                self._push(pending)
                pending = next(items, None)
            while pending is not None and not self._stop.wait(self._tick):
                now = self.clock.now()
                while pending is not None and pending.rx_time <= now:
                    self._push(pending)
                    pending = next(items, None)
            if pending is None:
                self.finished, reason = True, "replay ended"
        except Exception as exc:  # show it, do not die silently
            log.exception("replay of %s failed", self.path)
            self.error = reason = f"replay failed: {exc}"
        finally:
            if conn is not None:
                _NOTES.pop(id(conn), None)
                conn.close()
            now = self.clock.now()
            for device in dict.fromkeys([*DEVICES, *self._stats]):  # every device replayed
                self.queue.put(LinkEvent(device, "down", reason, now))


def replay_items(path: str | Path) -> list[Received | LinkEvent]:
    """Every recorded item at once (tools, tests): what a replay delivers, without pacing."""
    conn = _conn(path)
    try:
        return list(iter_stream(conn, anchor_of(_meta(conn))[0]))
    except (sqlite3.Error, ValueError, KeyError) as exc:
        raise _unreadable(path, exc) from None
    finally:
        conn.close()


__all__ = ["Gap", "RecordedEvent", "ReplayClock", "ReplayRequest", "ReplaySession", "ReplaySource", "Review",
           "iter_stream", "load_review", "read_waveforms", "replay_items"]
