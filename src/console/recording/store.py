"""The session file: one SQLite database per session, WAL mode, readable by the user only.

This module owns the schema and the low-level file operations (create with mode 0600, open,
read meta, find sessions left open by a crash). It knows nothing of the live data path:
``recorder.py`` turns items into rows, ``export.py`` turns rows into CSV.

Times: every time column holds **file time**, seconds on the session clock of the file's
first run (``meta.anchor_wall`` is the wall-clock POSIX time of file time 0). A resumed run
has its own session clock; the recorder shifts its times onto the file's timeline, so one
file is one timeline. See docs/recording.md for the tables and units.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from console.private_files import open_private_fd, private_dir

FORMAT = "infusion-console-session"
FORMAT_VERSION = 1
APP_NAME = "infusion-console"

# One statement per table. Indices: time lookups for review (samples by metric and time,
# waveforms by channel and time); the rest is read whole.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patient (t REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plan (t REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS limits (t REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    t REAL NOT NULL, rx REAL NOT NULL, device_ms INTEGER, device TEXT NOT NULL,
    metric TEXT NOT NULL, value REAL);
CREATE INDEX IF NOT EXISTS samples_metric_t ON samples (metric, t);
CREATE TABLE IF NOT EXISTS states (
    t REAL NOT NULL, rx REAL NOT NULL, device_ms INTEGER, device TEXT NOT NULL,
    metric TEXT NOT NULL, value TEXT);
CREATE INDEX IF NOT EXISTS states_metric_t ON states (metric, t);
CREATE TABLE IF NOT EXISTS waveforms (
    t REAL NOT NULL, rx REAL NOT NULL, device_ms INTEGER NOT NULL, seq INTEGER NOT NULL,
    channel TEXT NOT NULL, rate INTEGER NOT NULL, n INTEGER NOT NULL, samples BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS waveforms_channel_t ON waveforms (channel, t);
CREATE TABLE IF NOT EXISTS link_events (
    t REAL NOT NULL, device TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    rx REAL NOT NULL, device TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    raw BLOB NOT NULL, unsupported_protocol TEXT);
CREATE TABLE IF NOT EXISTS identities (
    t REAL NOT NULL, rx REAL NOT NULL, device_ms INTEGER NOT NULL, seq INTEGER NOT NULL,
    device TEXT NOT NULL, role TEXT, model TEXT, serial TEXT, fw TEXT, proto TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarm_log (
    t REAL NOT NULL, run INTEGER NOT NULL, event TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,
    priority TEXT NOT NULL, metric TEXT NOT NULL, message TEXT NOT NULL, value REAL, "limit" REAL,
    user TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarm_episodes (
    run INTEGER NOT NULL, episode INTEGER NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,
    metric TEXT NOT NULL, message TEXT NOT NULL, priority TEXT NOT NULL, highest TEXT NOT NULL,
    started REAL NOT NULL, ended REAL, active INTEGER NOT NULL, value REAL, "limit" REAL,
    unit TEXT NOT NULL, latching INTEGER NOT NULL, acknowledged_by TEXT, acknowledged_at REAL,
    escalated INTEGER NOT NULL, escalated_at REAL, extra TEXT NOT NULL,
    PRIMARY KEY (run, episode));
CREATE TABLE IF NOT EXISTS events (
    t REAL NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, user TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS events_t ON events (t);
CREATE TABLE IF NOT EXISTS gaps (start REAL NOT NULL, "end" REAL NOT NULL, reason TEXT NOT NULL);
"""

# Insert statements, by table; the recorder batches rows per table in this order.
INSERTS: dict[str, str] = {
    "patient": "INSERT INTO patient VALUES (?, ?)",
    "plan": "INSERT INTO plan VALUES (?, ?)",
    "limits": "INSERT INTO limits VALUES (?, ?)",
    "samples": "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)",
    "states": "INSERT INTO states VALUES (?, ?, ?, ?, ?, ?)",
    "waveforms": "INSERT INTO waveforms VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "link_events": "INSERT INTO link_events VALUES (?, ?, ?, ?)",
    "rejected": "INSERT INTO rejected VALUES (?, ?, ?, ?, ?, ?)",
    "identities": "INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "alarm_log": "INSERT INTO alarm_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    # An episode is one row, replaced when it ends, is acknowledged or escalates.
    "alarm_episodes": "INSERT OR REPLACE INTO alarm_episodes VALUES "
                      "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "events": "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
    "gaps": "INSERT INTO gaps VALUES (?, ?, ?)",
    "meta": "INSERT OR REPLACE INTO meta VALUES (?, ?)",
}
TABLES = tuple(INSERTS)
# Tables whose time column says how far the record goes (for a crash gap's start).
TIMED = {"samples": "t", "states": "t", "waveforms": "t", "link_events": "t", "rejected": "rx",
         "identities": "t", "alarm_log": "t", "events": "t"}


class NotASessionFile(Exception):
    """The file is missing, unreadable, not SQLite, or not an infusion-console session."""


def default_session_dir() -> Path:
    """Where sessions go unless told otherwise: the platform's user data directory."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "sessions"


def new_session_path(directory: str | Path, start_wall: float) -> Path:
    """``session-YYYYmmdd-HHMMSS.sqlite`` from the local start time; ``-2``, ``-3`` ... when taken."""
    stamp = dt.datetime.fromtimestamp(start_wall).strftime("%Y%m%d-%H%M%S")
    base = Path(directory) / f"session-{stamp}"
    path, n = base.with_suffix(".sqlite"), 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}.sqlite")
    return path


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed flush survives power loss, not only a killed process. The commit
    # runs once a second on the writer thread, so its fsync never holds the display.
    conn.execute("PRAGMA synchronous=FULL")
    # The HL7 outbox (console.hl7.outbox) writes its own two tables of this file on a connection
    # of its own: a commit that meets one of its writes waits for it instead of failing.
    conn.execute("PRAGMA busy_timeout=2000")


def create(path: str | Path) -> sqlite3.Connection:
    """Create a new, empty session file with mode 0600 before any byte of data is written.

    SQLite gives the -wal and -shm files the database file's permissions, so they are
    0600 too. Raises OSError / sqlite3.Error; a file (or a link, even a dangling one) already
    there is never overwritten: FileExistsError.
    """
    path = Path(path)
    # The 0700 directory (owner and mode checked) protects the -wal/-shm files SQLite makes.
    private_dir(path.parent)
    os.close(open_private_fd(path))  # 0600, O_EXCL|O_NOFOLLOW: never over a file or a link
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        _configure(conn)
        conn.executescript(SCHEMA)
    except sqlite3.Error:
        conn.close()
        raise
    return conn


class DamagedSessionFile(NotASessionFile):
    """A session file with damage: it can be reviewed and exported (what is readable), never
    resumed into (new data would be mixed into a file that cannot be trusted)."""


def damage(conn: sqlite3.Connection) -> list[str]:
    """What is wrong with an open session file, in words (empty: intact). Checks SQLite's own
    page structure, that every table of the schema is there, the meta values the timeline
    needs, and the waveform chunks' rate and length."""
    problems: list[str] = []
    try:
        bad = [r[0] for r in conn.execute("PRAGMA quick_check(5)") if r[0] != "ok"]
        if bad:
            problems.append("damaged pages (" + "; ".join(bad[:2]) + ")")
    except sqlite3.DatabaseError as exc:
        return [f"damaged pages ({exc})"]
    try:
        have = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in (*TABLES, "gaps") if t not in have]
        if missing:
            problems.append(f"tables missing: {', '.join(sorted(set(missing)))}")
        meta = _meta_from(conn)
        for key in ("anchor_wall", "created_wall"):
            value = meta.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
                problems.append(f"meta {key} is not a time ({value!r})")
        if "waveforms" in have:
            (n,) = conn.execute("SELECT count(*) FROM waveforms WHERE typeof(rate) != 'integer' OR rate <= 0 "
                                "OR typeof(samples) != 'blob' OR length(samples) != 2 * n").fetchone()
            if n:
                problems.append(f"{n} damaged waveform chunks (rate or length)")
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        problems.append(f"unreadable ({exc})")
    return problems


def resume_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be resumed into (not a session, damaged, being recorded by
    another console), in one line; None when it can."""
    try:
        conn = connect_readonly(path)
    except NotASessionFile as exc:
        return str(exc)
    try:
        problems = damage(conn)
    finally:
        conn.close()
    if problems:
        return (f"{path} is damaged ({'; '.join(problems)}); it is never resumed into: review or export "
                "what it holds, and record into a new file")
    if is_in_use(path):
        return f"{path} is being recorded by another running console; it is not a crashed session"
    return None


def open_existing(path: str | Path) -> sqlite3.Connection:
    """Open a session file for writing (resume). Raises NotASessionFile, DamagedSessionFile."""
    check = connect_readonly(path)  # checks it is one
    try:
        problems = damage(check)
    finally:
        check.close()
    if problems:
        raise DamagedSessionFile(f"{path} is damaged ({'; '.join(problems)}); it is never resumed into: "
                                 "review or export what it holds, and record into a new file")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    _configure(conn)
    conn.executescript(SCHEMA)  # tables a newer recorder adds are created, none dropped
    return conn


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open for reading (export, review). A crashed file's WAL is read, not replayed away.

    Raises NotASessionFile with a message a person can act on.
    """
    path = Path(path)
    if not path.exists():
        raise NotASessionFile(f"{path}: no such file")
    if not path.is_file():
        raise NotASessionFile(f"{path}: not a file")
    # The file itself is never opened outside SQLite (that would drop a live recorder's
    # POSIX locks in this process); SQLite says "file is not a database" for other files.
    conn = None
    try:
        # Not mode=ro: a crashed file's WAL must be readable, which needs the -shm file;
        # read-only URI opening fails when the -shm is missing. Nothing is written here.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, check_same_thread=False)
        conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        if "not a database" in str(exc):
            raise NotASessionFile(f"{path}: not an SQLite file, so not a session record") from None
        if "no such table" in str(exc):
            raise NotASessionFile(f"{path}: an SQLite file, but not an infusion-console session") from None
        try:  # a read-only copy (an archive) is still exportable
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.Error as exc2:
            raise NotASessionFile(f"{path}: cannot read the session file: {exc2}") from None
    try:
        meta = _meta_from(conn)
    except (sqlite3.Error, ValueError):
        meta = {}
    if meta.get("format") != FORMAT:
        conn.close()
        raise NotASessionFile(f"{path}: an SQLite file, but not an infusion-console session")
    return conn


def _meta_from(conn: sqlite3.Connection) -> dict:
    return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def read_meta(path: str | Path) -> dict:
    conn = connect_readonly(path)
    try:
        return _meta_from(conn)
    finally:
        conn.close()


def meta_rows(meta: dict) -> list[tuple[str, str]]:
    return [(k, json.dumps(v)) for k, v in meta.items()]


def last_time(conn: sqlite3.Connection) -> float | None:
    """The latest time anything was recorded (the start of a crash gap)."""
    best: float | None = None
    for table, col in TIMED.items():
        (t,) = conn.execute(f'SELECT max("{col}") FROM {table}').fetchone()
        if t is not None and (best is None or t > best):
            best = t
    (g,) = conn.execute('SELECT max("end") FROM gaps').fetchone()
    if g is not None and (best is None or g > best):
        best = g
    return best


@dataclass(frozen=True)
class SessionInfo:
    """A session file found on disk (for the "resume the open session?" question)."""

    path: Path
    created_wall: float
    last_wall: float | None  # wall time of the last thing recorded
    simulated: bool
    scenario: str | None
    patient: dict | None
    state: str  # "open" (never closed: the console stopped unexpectedly) or "closed"
    in_use: bool = False  # a running recorder holds it (not a crash: do not resume)


def session_info(path: str | Path) -> SessionInfo:
    conn = connect_readonly(path)
    try:
        meta = _meta_from(conn)
        last = last_time(conn)
        row = conn.execute("SELECT data FROM patient ORDER BY rowid DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    anchor = float(meta.get("anchor_wall", 0.0))
    return SessionInfo(Path(path), float(meta.get("created_wall", anchor)),
                       None if last is None else anchor + last, bool(meta.get("simulated", False)),
                       meta.get("scenario"), json.loads(row[0]) if row else None,
                       str(meta.get("state", "open")), is_in_use(path))


def lock_path(path: str | Path) -> Path:
    return Path(f"{path}.lock")


def hold_lock(path: str | Path):
    """An advisory lock a live recorder holds for its whole life, so another console does
    not take a file being written for a crashed one. It is a side file (``PATH.lock``): a
    process that opens and closes the database file itself drops SQLite's own POSIX locks on
    it, so nothing here touches the database file outside SQLite. Returns the open lock file
    (keep it; closing releases the lock, and so does the process dying) or None where
    advisory locks do not exist (then the open state alone decides). Raises OSError when
    another process holds it."""
    try:
        import fcntl
    except ImportError:
        return None
    # A crash leaves the lock file behind: it is reopened (append), never through a link.
    fd = open_private_fd(lock_path(path), append=True, read=True)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def release_lock(lock, path: str | Path) -> None:
    if lock is None:
        return
    with contextlib.suppress(OSError):
        lock_path(path).unlink()
    lock.close()


def is_in_use(path: str | Path) -> bool:
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return False  # no lock file: nobody holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def find_open_sessions(directory: str | Path | None = None, *, include_in_use: bool = False) -> list[SessionInfo]:
    """Session files in ``directory`` (default: ``default_session_dir()``) still marked open,
    newest first: sessions a crash left behind. Files that are not sessions, or cannot be
    read, are skipped; so are files a running recorder holds, unless ``include_in_use``."""
    directory = Path(directory) if directory is not None else default_session_dir()
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob("*.sqlite"):
        try:
            info = session_info(path)
        except (NotASessionFile, sqlite3.Error, OSError, ValueError):
            continue
        if info.state == "open" and (include_in_use or not info.in_use):
            found.append(info)
    return sorted(found, key=lambda i: i.created_wall, reverse=True)
