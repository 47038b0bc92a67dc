"""A session's HL7 outbox read without touching the file, and written as an HL7 batch file
(``infusion-console export SESSION --format hl7 --out FILE``, docs/hl7-backfill.md).

The outbox is two tables of the session file (console.hl7.outbox). ``Outbox(path)`` would create
them, and tighten the folder, so here the file is opened the way every export opens it
(``store.connect_readonly``) and the table is only read.

The file form is HL7 v2's batch file (HL7 v2.6 chapter 2, "batch protocol"): one FHS, one BHS, the
messages as stored (MSH-10 unchanged, so an engine that de-duplicates takes each once), BTS with
the message count, FTS with the batch count; every segment ends with a carriage return; UTF-8,
as every message's MSH-18 says. python-hl7 reads it back with ``hl7.parse_file``. Qt-free.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from console.hl7.messages import dtm, escape
from console.hl7.mllp import ENCODING, control_id_of
from console.hl7.outbox import QUEUES
from console.private_files import describe, open_private_fd
from console.recording import store

SEGMENT_END = "\r"
# Characters that end a line for Python's str.splitlines (which python-hl7's batch and file parsers
# use) but that HL7 does not escape: a message holding one could not be read back from the file.
_LINE_BREAKS = ("\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


class NoHl7Messages(Exception):
    """The session holds no HL7 message (no outbox, or an empty one): nothing to export or send."""


class Hl7ExportRefused(Exception):
    """The file cannot be written (exists, a link, a folder that is not there...): in words."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    queue: str
    control_id: str
    message: str
    state: str
    engine_text: str | None


@dataclass
class OutboxContents:
    """What the outbox of a session file holds, in the order it was stored, and what could not
    be read (a damaged file)."""

    rows: list[OutboxRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    origin: str = ""  # the store's name (the first part of every MSH-10)
    simulated: bool = False

    def count(self, state: str | None = None, queue: str | None = None) -> int:
        return sum(1 for r in self.rows if (state is None or r.state == state) and (queue is None or r.queue == queue))


def _row_problem(row: tuple, for_batch: bool) -> str | None:
    """Why a row of the outbox cannot be used (None: it can); ``for_batch``: in a batch file."""
    _seq, queue, control_id, message, state, _text = row
    if not isinstance(message, str) or not message.startswith("MSH"):
        return "not an HL7 message"
    if queue not in QUEUES:
        return f"an unknown queue {str(queue)[:20]!r}"
    if state not in ("waiting", "delivered", "rejected"):
        return f"an unknown state {str(state)[:20]!r}"
    try:
        written = control_id_of(message)
    except ValueError as exc:
        return str(exc)
    if written != control_id:
        return f"its MSH-10 {written[:40]!r} is not the stored control id {str(control_id)[:40]!r}"
    if for_batch and any(ch in message for ch in _LINE_BREAKS):
        return "it holds a line-break character that a batch file cannot carry"
    return None


def read_outbox(session_file: str | Path, *, for_batch: bool = False) -> OutboxContents:
    """Every message of the session's outbox, oldest first (the order of storing, which is each
    queue's order of sending); ``for_batch``: only those a batch file can carry. Reads only.
    Raises store.NotASessionFile (not a session) and
    NoHl7Messages (no outbox table, or nothing readable in it and nothing skipped)."""
    conn = store.connect_readonly(session_file)
    try:
        return _read(conn, session_file, for_batch)
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, session_file: str | Path, for_batch: bool) -> OutboxContents:
    contents = OutboxContents()
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'simulated'").fetchone()
        contents.simulated = bool(json.loads(row[0])) if row else False
    except (sqlite3.DatabaseError, ValueError, TypeError):
        contents.skipped.append("meta not readable: whether the session was simulated is not known")
    try:
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise NoHl7Messages(f"{session_file}: its list of tables cannot be read ({exc}); no HL7 message "
                            "can be found in it") from None
    if "outbox" not in tables:
        raise NoHl7Messages(f"{session_file} holds no HL7 messages: it has no outbox (the console had no "
                            "hospital interface during this session)")
    try:
        row = conn.execute("SELECT value FROM outbox_meta WHERE key = 'origin'").fetchone()
        contents.origin = str(row[0]) if row else ""
    except sqlite3.DatabaseError:
        pass  # only the batch's control id uses it
    bad: dict[str, int] = {}
    try:
        cursor = conn.execute("SELECT seq, queue, control_id, message, state, engine_text FROM outbox ORDER BY seq")
        for r in cursor:
            problem = _row_problem(r, for_batch)
            if problem is None:
                contents.rows.append(OutboxRow(*r))
            else:
                bad[problem] = bad.get(problem, 0) + 1
    except sqlite3.DatabaseError as exc:
        contents.skipped.append(f"the outbox: read stopped after {len(contents.rows)} messages ({exc})")
    for problem, n in bad.items():
        contents.skipped.append(f"{n} damaged message{'s' if n != 1 else ''} skipped: {problem}")
    if not contents.rows and not contents.skipped:
        raise NoHl7Messages(f"{session_file} holds no HL7 messages: its outbox is empty (nothing was "
                            "reported to the hospital in this session)")
    return contents


def _msh_fields(message: str) -> list[str]:
    first = message.split(SEGMENT_END, 1)[0]
    return first.split(first[3])


def batch_file(messages: list[str], *, created: dt.datetime, origin: str, file_name: str, comment: str) -> str:
    """``messages`` as one HL7 batch file: FHS, BHS, the messages, BTS (the message count), FTS
    (one batch). Sender and receiver (FHS-3..6, BHS-3..6) and the encoding characters are the
    first message's; FHS-9 names the file, BHS-10 says what it holds, FHS-11/BHS-11 are the
    store's name with the creation time (20 characters at most, as ST allows there)."""
    if not messages:
        raise ValueError("a batch file needs at least one message")
    msh = _msh_fields(messages[0])
    sep = messages[0][3]
    encoding = msh[1]
    parties = [msh[i] if len(msh) > i else "" for i in (2, 3, 4, 5)]  # MSH-3..6, already escaped
    when = dtm(created)
    stamp = f"{int(created.timestamp()) & 0xFFFFFFFF:08X}"
    name = origin or "CONSOLE"

    def header(segment: str, control_id: str, name_field: str, comment_field: str) -> str:
        return sep.join([segment, encoding, *parties, when, "", name_field, comment_field, control_id])

    lines = [header("FHS", f"{name[:10]}-F{stamp}", escape(file_name), ""),
             header("BHS", f"{name[:10]}-B{stamp}", "", escape(comment))]
    body = [m.rstrip(SEGMENT_END) for m in messages]
    trailer = [f"BTS{sep}{len(messages)}", f"FTS{sep}1"]
    return SEGMENT_END.join([*lines, *body, *trailer]) + SEGMENT_END


@dataclass
class Hl7ExportResult:
    written: int
    by_queue: dict[str, int]
    by_state: dict[str, int]
    skipped: list[str]

    @property
    def partial(self) -> bool:
        return bool(self.skipped)


def export_hl7(session_file: str | Path, out_file: str | Path, *, force: bool = False,
               now: dt.datetime | None = None) -> Hl7ExportResult:
    """Write every message of the session's outbox into ``out_file`` as one HL7 batch file
    (0600, never through a link, never over an existing file unless ``force``; nothing is left
    behind when nothing can be written). Raises store.NotASessionFile, NoHl7Messages (then no file
    is made) and Hl7ExportRefused."""
    contents = read_outbox(session_file, for_batch=True)
    if not contents.rows:
        raise NoHl7Messages(f"{session_file}: no HL7 message of its outbox could be read ("
                            + "; ".join(contents.skipped) + "); nothing exported")
    out = Path(out_file)
    by_queue: dict[str, int] = {q: contents.count(queue=q) for q in QUEUES}
    by_state = {s: contents.count(state=s) for s in ("delivered", "waiting", "rejected")}
    held = ", ".join(f"{q} {n}" for q, n in by_queue.items() if n)
    comment = (f"{Path(session_file).name}: {len(contents.rows)} messages ({held}) in the order stored"
               + ("; training session (MSH-11 T)" if contents.simulated else ""))
    text = batch_file([r.message for r in contents.rows], created=now or dt.datetime.now().astimezone(),
                      origin=contents.origin, file_name=out.name, comment=comment)
    _write(out, text.encode(ENCODING), force)
    return Hl7ExportResult(len(contents.rows), by_queue, by_state, contents.skipped)


def _write(out: Path, data: bytes, force: bool) -> None:
    try:
        fd = open_private_fd(out, force=force)
    except OSError as exc:
        raise Hl7ExportRefused(describe(out, exc)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        # A file cut short is worse than none: an engine would import half a session.
        with contextlib.suppress(OSError):
            os.unlink(out)
        raise Hl7ExportRefused(f"{describe(out, exc)}; the incomplete file was removed") from None


__all__ = ["Hl7ExportRefused", "Hl7ExportResult", "NoHl7Messages", "OutboxContents", "OutboxRow", "batch_file",
           "export_hl7", "read_outbox"]
