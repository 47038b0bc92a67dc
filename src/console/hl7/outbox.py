"""Store and forward for the HL7 interface: every outbound message is written to a file before it
is sent and marked when the engine acknowledges it, so an engine that is down for an hour, or a
console that crashes, loses nothing (issue 15).

- One queue per transaction (``PCD-01``, ``PCD-04``, ``PCD-10``), each drained by its own
  ``Forwarder`` to its own destination: alarms never wait behind a backlog of numerics.
- Order is kept per queue: only the oldest waiting message of a queue is ever in flight.
- Delivery is at least once: a message sent but not acknowledged (the engine's ACK lost, the
  console killed) is sent again, with the same MSH-10, which docs/hl7.md asks the engine to
  de-duplicate on.
- AA (or CA): delivered. AE (or CE): tried again after a back-off, at most ``max_retries`` times,
  then handled as AR. AR (or CR): not tried again, kept as rejected with the engine's text.
- ``backlog_age`` and ``Forwarder.problem`` say, in words, what the technical alarm shows.

The store is two tables of the session file (SQLite, 0600 in a 0700 directory; or a file of its
own), so the record and what is owed to the hospital are kept, copied and resumed together. Times kept
in it are wall-clock (``clock.wall()``), since they must mean the same after a restart; back-off
deadlines are session-clock (``clock.now()``) and kept in memory only (after a restart the backlog
is tried at once). Qt-free.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import secrets
import sqlite3
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from console.clock import Clock
from console.hl7.mllp import Ack, MllpError, control_id_of
from console.private_files import FILE_MODE, PrivateFileError, open_private_fd, private_dir

log = logging.getLogger(__name__)

Queue = Literal["PCD-01", "PCD-04", "PCD-10"]
QUEUES: tuple[Queue, ...] = ("PCD-01", "PCD-04", "PCD-10")
MAX_RETRIES = 3  # AE retries before the message is handled as AR (a site setting; issue 15)
BUSY_TIMEOUT_MS = 1000  # how long a store waits for the recorder's commit before it counts as failed
BACKLOG_LIMIT_S = 300.0  # the oldest unsent message older than this raises the alarm (site setting)

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- order of writing: the order of sending, per queue
    queue TEXT NOT NULL,
    control_id TEXT NOT NULL UNIQUE,        -- MSH-10, the same on every resend
    message TEXT NOT NULL,
    queued_wall REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'delivered', 'rejected')),
    sends INTEGER NOT NULL DEFAULT 0,       -- times it went on the wire
    errors INTEGER NOT NULL DEFAULT 0,      -- AE/CE answers so far
    engine_text TEXT,                       -- the engine's words with the last AE/AR
    done_wall REAL
);
CREATE INDEX IF NOT EXISTS outbox_waiting ON outbox (queue, state, seq);
"""


@dataclass(frozen=True, slots=True)
class Stored:
    seq: int
    queue: str
    control_id: str
    message: str
    queued_wall: float
    state: str
    sends: int
    errors: int
    engine_text: str | None


class Outbox:
    """The persistent queues. Thread-safe: producers and the forwarders share one instance."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = self._connect()
        with self._lock:
            row = self._db.execute("SELECT value FROM outbox_meta WHERE key='origin'").fetchone()
            if row is None:
                # MSH-10 must be unique across sessions and consoles, or an engine that de-duplicates
                # would drop a new session's first messages as repeats of an old one's: 10 random
                # characters (about 52 bits) name this store.
                self.origin = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
                self._db.execute("INSERT INTO outbox_meta VALUES ('origin', ?), ('next_id', '1')", (self.origin,))
            else:
                self.origin = row[0]

    def _connect(self) -> sqlite3.Connection:
        """Open the store: in normal use the session file itself (its two tables beside the
        record's), so the record and what is owed to the hospital live and travel together.

        An existing file is never opened outside SQLite: closing any descriptor of a file drops
        every POSIX lock this process holds on it, the live recorder's included. It is checked by
        name instead (a regular file, not a link, private). A new file is created 0600 first, so
        the -wal/-shm files SQLite gives the same mode are never readable by others."""
        private_dir(self.path.parent)
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            os.close(open_private_fd(self.path))
        else:
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
                raise PrivateFileError(errno.EINVAL, f"{self.path} is not a regular file; the HL7 outbox is not "
                                       "written through a link")
            if stat.S_IMODE(st.st_mode) != FILE_MODE:
                os.chmod(self.path, FILE_MODE)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # The recorder commits on its own connection once a second: wait for it rather than fail.
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a message counts as stored once on the disk
        db.executescript(_SCHEMA)
        self._ino = os.stat(self.path).st_ino
        return db

    def _follow_file(self) -> None:
        """Make sure the connection writes to the file now at ``path`` (called under the lock
        before every write). The recorder re-creates a session file that was removed
        (console.recording), copying the whole database, outbox included: the store then reopens
        on the new file. While the file is missing, writes fail (a removed file still takes
        writes, which would be lost), so the sink keeps its reports held until the file is back."""
        try:
            ino = os.stat(self.path).st_ino
        except FileNotFoundError:
            raise OSError(errno.ENOENT, f"the session file {self.path} was removed; the HL7 messages wait until "
                          "it is restored") from None
        if ino == self._ino:
            return
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        self._db = self._connect()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ producers
    def new_control_id(self) -> str:
        """A fresh MSH-10 for the next message to build (unique in this store and beyond it).

        18 characters: PCD-01 also uses it as OBR-3, which IHE limits to 20 (TF-2 C.5), and PCD-10
        appends ".1"/".2" for a rate change's two messages."""
        with self._lock:
            self._follow_file()
            self._db.execute("BEGIN IMMEDIATE")
            (n,) = self._db.execute("SELECT CAST(value AS INTEGER) FROM outbox_meta WHERE key='next_id'").fetchone()
            self._db.execute("UPDATE outbox_meta SET value=? WHERE key='next_id'", (str(n + 1),))
            self._db.execute("COMMIT")
        return f"{self.origin}-{n:07d}"

    def put(self, queue: Queue, message: str, wall: float) -> str:
        """Store ``message`` at the end of ``queue``; returns its MSH-10. Once this returns it is on
        the disk. Raises ValueError for an unknown queue, a message without MSH-10 or one whose
        MSH-10 is already stored."""
        if queue not in QUEUES:
            raise ValueError(f"no HL7 queue {queue!r} (one of {', '.join(QUEUES)})")
        control_id = control_id_of(message)
        insert = ("INSERT INTO outbox (queue, control_id, message, queued_wall) VALUES (?, ?, ?, ?)",
                  (queue, control_id, message, wall))
        try:
            with self._lock:
                self._follow_file()
                self._db.execute(*insert)
        except sqlite3.IntegrityError:
            raise ValueError(f"a message with control id {control_id!r} is already stored") from None
        return control_id

    # ------------------------------------------------------------------ the forwarders
    def _rows(self, sql: str, args: tuple) -> list[Stored]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, queue, control_id, message, queued_wall, state, sends, errors, engine_text "
                f"FROM outbox WHERE {sql}", args).fetchall()
        return [Stored(*r) for r in rows]

    def next_waiting(self, queue: Queue) -> Stored | None:
        found = self._rows("queue=? AND state='waiting' ORDER BY seq LIMIT 1", (queue,))
        return found[0] if found else None

    def _update(self, sql: str, args: tuple) -> None:
        with self._lock:
            self._follow_file()
            self._db.execute(f"UPDATE outbox SET {sql}", args)

    def mark_sent(self, seq: int) -> None:
        self._update("sends = sends + 1 WHERE seq=?", (seq,))

    def mark_delivered(self, seq: int, wall: float) -> None:
        self._update("state='delivered', done_wall=? WHERE seq=?", (wall, seq))

    def mark_error(self, seq: int, text: str) -> int:
        """One more AE for the message; returns how many it has had."""
        self._update("errors = errors + 1, engine_text=? WHERE seq=?", (text, seq))
        with self._lock:
            (errors,) = self._db.execute("SELECT errors FROM outbox WHERE seq=?", (seq,)).fetchone()
        return int(errors)

    def mark_rejected(self, seq: int, text: str, wall: float) -> None:
        self._update("state='rejected', engine_text=?, done_wall=? WHERE seq=?", (text, wall, seq))

    # ------------------------------------------------------------------ what the nurse is told
    def waiting(self, queue: Queue | None = None) -> int:
        return self._count("waiting", queue)

    def delivered(self, queue: Queue | None = None) -> int:
        return self._count("delivered", queue)

    def _count(self, state: str, queue: Queue | None) -> int:
        with self._lock:
            if queue is None:
                (n,) = self._db.execute("SELECT count(*) FROM outbox WHERE state=?", (state,)).fetchone()
            else:
                (n,) = self._db.execute("SELECT count(*) FROM outbox WHERE state=? AND queue=?",
                                        (state, queue)).fetchone()
        return int(n)

    def rejected(self, queue: Queue | None = None) -> list[Stored]:
        if queue is None:
            return self._rows("state='rejected' ORDER BY seq", ())
        return self._rows("state='rejected' AND queue=? ORDER BY seq", (queue,))

    def backlog_age(self, wall: float, queue: Queue | None = None) -> float | None:
        """Seconds the oldest unsent message (of ``queue``, or of any) has waited at wall time
        ``wall``; None when nothing waits."""
        with self._lock:
            if queue is None:
                (oldest,) = self._db.execute("SELECT min(queued_wall) FROM outbox WHERE state='waiting'").fetchone()
            else:
                (oldest,) = self._db.execute("SELECT min(queued_wall) FROM outbox WHERE state='waiting' AND queue=?",
                                             (queue,)).fetchone()
        return None if oldest is None else max(0.0, wall - oldest)


class Client(Protocol):
    """What a Forwarder needs of its connection (console.hl7.mllp.MllpClient)."""

    @property
    def destination(self) -> str: ...

    def send(self, message: str) -> Ack: ...

    def close(self) -> None: ...


Outcome = Literal["delivered", "error", "rejected", "unreachable"]


def _clock_time(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall).strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class Forwarder:
    """Drains one queue of an Outbox to one engine, one message at a time, on its own thread.

    ``step()`` makes one attempt when one is due (the thread calls it; a test may call it
    directly instead of starting the thread). Back-off after an AE or an unreachable engine is
    ``retry_s`` doubled per attempt up to ``max_retry_s``, on ``clock.now()``."""

    def __init__(self, outbox: Outbox, queue: Queue, client: Client, *, clock: Clock, max_retries: int = MAX_RETRIES,
                 retry_s: float = 5.0, max_retry_s: float = 300.0, backlog_limit_s: float = BACKLOG_LIMIT_S,
                 idle_s: float = 0.2) -> None:
        if queue not in QUEUES:
            raise ValueError(f"no HL7 queue {queue!r} (one of {', '.join(QUEUES)})")
        self.outbox = outbox
        self.queue: Queue = queue
        self.client = client
        self.clock = clock
        self.max_retries = max_retries
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.backlog_limit_s = backlog_limit_s
        self.idle_s = idle_s  # real seconds the thread waits before looking for new work again
        self._due = 0.0  # clock.now() before which no attempt is made (back-off)
        self._failures = 0  # consecutive attempts the engine did not answer
        self.unreachable_since: float | None = None  # wall time of the first of them
        self.last_error: str | None = None
        self.delivered = 0  # by this forwarder
        # What the queue holds, kept in memory so the display thread (the technical alarm, the
        # devices tab) never waits for the file: read once here, then kept by the forwarder's own
        # thread after each attempt and by the producer's ``note_stored``.
        self._picture = threading.Lock()
        self.waiting = outbox.waiting(queue)
        self.delivered_total = outbox.delivered(queue)
        rejected = outbox.rejected(queue)
        self.rejected_count = len(rejected)
        self.last_rejection = rejected[-1].engine_text if rejected else None
        first = outbox.next_waiting(queue)
        self.oldest_wall: float | None = first.queued_wall if first is not None else None
        self._wake = threading.Condition()
        self._woken = False
        self._stop = False
        self._thread: threading.Thread | None = None

    def _backoff(self, attempts: int) -> float:
        return min(self.retry_s * 2 ** max(attempts - 1, 0), self.max_retry_s)

    # ------------------------------------------------------------------ one attempt
    def note_stored(self, wall: float) -> None:
        """A producer stored a message in this queue at wall time ``wall`` (then wakes us)."""
        with self._picture:
            self.waiting += 1
            if self.oldest_wall is None:
                self.oldest_wall = wall

    def _look(self) -> None:
        """Bring the in-memory picture up to date with the file (the forwarder's thread)."""
        waiting = self.outbox.waiting(self.queue)
        first = self.outbox.next_waiting(self.queue)
        with self._picture:
            self.waiting = waiting
            self.oldest_wall = first.queued_wall if first is not None else None

    def step(self) -> Outcome | None:
        """Send the oldest waiting message if an attempt is due; None when there was nothing to do."""
        if self.clock.now() < self._due:
            return None
        item = self.outbox.next_waiting(self.queue)
        if item is None:
            return None
        try:
            return self._attempt(item)
        finally:
            self._look()

    def _attempt(self, item: Stored) -> Outcome:
        self.outbox.mark_sent(item.seq)
        try:
            ack = self.client.send(item.message)
        except MllpError as exc:
            self._failures += 1
            if self.unreachable_since is None:
                self.unreachable_since = self.clock.wall()
            self.last_error = exc.reason
            self._due = self.clock.now() + self._backoff(self._failures)
            return "unreachable"
        self._failures = 0
        self.unreachable_since = None
        wall = self.clock.wall()
        if ack.accepted:
            self.outbox.mark_delivered(item.seq, wall)
            self.delivered += 1
            self.delivered_total += 1
            self.last_error = None
            return "delivered"
        text = ack.text or f"the engine answered {ack.code} without a reason"
        if ack.error:
            errors = self.outbox.mark_error(item.seq, text)
            if errors <= self.max_retries:
                self.last_error = f"{item.control_id}: {ack.code} ({text}), try {errors + 1} of {self.max_retries + 1}"
                self._due = self.clock.now() + self._backoff(errors)
                return "error"
            text = f"{text} (still {ack.code} after {self.max_retries} retries)"
        self.outbox.mark_rejected(item.seq, text, wall)
        self.rejected_count += 1
        self.last_rejection = text
        self.last_error = f"{item.control_id} rejected: {text}"
        log.warning("HL7 %s message %s rejected by %s: %s", self.queue, item.control_id, self.client.destination, text)
        return "rejected"

    # ------------------------------------------------------------------ the thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"hl7-{self.queue}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look again now: a new message, or the clock moved (a test's fake clock)."""
        with self._wake:
            self._woken = True
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stop:
                    return
                self._woken = False
            try:
                done = self.step()
            except Exception as exc:  # the store failed (disk full...): reported, tried again later
                log.exception("HL7 %s forwarder failed", self.queue)
                self.last_error = f"the outbox failed: {type(exc).__name__}: {exc}"
                done = None
            if done is not None:
                continue
            with self._wake:
                if not self._woken and not self._stop:
                    self._wake.wait(self.idle_s)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread (a send in progress ends first, within the client's timeout) and close
        the connection. True when the thread has ended."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(Exception):
            self.client.close()
        return self._thread is None or not self._thread.is_alive()

    # ------------------------------------------------------------------ the technical alarm
    def backlog_age(self, wall: float) -> float | None:
        """Seconds the oldest waiting message has waited at wall time ``wall`` (None: none waits)."""
        with self._picture:
            oldest = self.oldest_wall
        return None if oldest is None else max(0.0, wall - oldest)

    def problem(self, wall: float) -> str | None:
        """What the nurse must know about this queue at wall time ``wall``, in words; None if nothing.
        From memory only: it runs on the display thread.

        An engine that is briefly away is not an alarm: store and forward is for that, and the
        devices tab shows it at once. The alarm is for a backlog older than ``backlog_limit_s``
        (with the engine's state, the likely reason) and for messages the engine rejected."""
        parts: list[str] = []
        age = self.backlog_age(wall)
        if age is not None and age > self.backlog_limit_s:
            waiting = self.waiting
            text = f"{waiting} message{'s' if waiting != 1 else ''} waiting, the oldest {_duration(age)} old"
            if self.unreachable_since is not None:
                text += (f" (engine {self.client.destination} unreachable since "
                         f"{_clock_time(self.unreachable_since)}: {self.last_error})")
            parts.append(text)
        if self.rejected_count:
            parts.append(f"{self.rejected_count} message{'s' if self.rejected_count != 1 else ''} rejected by the "
                         f"engine, the last: {self.last_rejection}")
        if not parts:
            return None
        return f"HL7 {self.queue}: " + "; ".join(parts)


__all__ = ["BACKLOG_LIMIT_S", "MAX_RETRIES", "QUEUES", "Forwarder", "Outbox", "Stored"]
