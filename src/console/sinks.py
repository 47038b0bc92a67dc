"""Sinks: where the monitor's data goes (the session record; the hospital interface and the
central station next), behind one interface, each isolated from the loop and from the others.

Every step the monitor hands each sink a ``StepBatch``: the step's session time, the records
the session ingested in it and the alarm log entries the engine wrote. ``publish`` runs on
the monitor's thread and must return at once; a sink that does I/O does it on a thread of
its own (``ThreadedSink``). ``problem(wall)`` says, in words, what the nurse must know (it
failed, or it falls behind); the monitor shows it as the sink's technical alarm
(``SINK.<name>``, docs/alarms.md), and one sink's failure never stops monitoring, the
alarms or the other sinks.

Each sink says what happens when it cannot keep up (``ThreadedSink.policy``):
- ``keep_all``: nothing is ever dropped; the backlog waits in memory (the record: its own
  writer keeps data in memory and falls back to the rescue file);
- ``drop_oldest``: past ``capacity`` waiting items the oldest droppable ones (numerics,
  waveforms) go first; alarm log entries are never dropped (the central station);
- ``own_store``: the sink keeps its backlog in a store of its own and takes everything at
  once (the hospital interface's outbound queue).
No Qt.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from console.alarms.model import Priority
from console.records import LinkEvent, Received

log = logging.getLogger(__name__)

Policy = Literal["keep_all", "drop_oldest", "own_store"]
BEHIND_S = 5.0  # a sink whose oldest waiting item is older than this (wall time) falls behind


@dataclass(frozen=True, slots=True)
class StepBatch:
    now: float  # session time of the step
    records: tuple[Received | LinkEvent, ...]
    alarm_entries: tuple[Any, ...]  # console.alarms.model.LogEntry


class Sink(Protocol):
    name: str
    priority: Priority  # of its technical alarm

    def publish(self, batch: StepBatch) -> None: ...

    def problem(self, wall: float) -> str | None: ...

    def close(self, now: float) -> bool: ...


class ThreadedSink:
    """A sink whose work (``handle(item)``) runs on a daemon thread of its own, fed through a
    queue the monitor's thread only appends to. Items are the batch's records, its alarm log
    entries and one ``("tick", now)`` per step, in order."""

    def __init__(self, name: str, handle: Callable[[Any], Any], *, policy: Policy = "keep_all",
                 capacity: int = 100_000, priority: Priority = "medium", wall: Callable[[], float] = time.monotonic,
                 behind_s: float = BEHIND_S) -> None:
        self.name = name
        self.priority = priority
        self.policy = policy
        self.capacity = capacity
        self.behind_s = behind_s
        self._handle = handle
        self._wall = wall
        self._items: collections.deque = collections.deque()  # (wall time queued, droppable, item)
        self._ready = threading.Condition()
        self._stop = False
        self.error: str | None = None
        self.failures = 0
        self.handled = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"sink-{name}", daemon=True)
        self._thread.start()

    # -------------------------------------------------------- the monitor's thread
    def publish(self, batch: StepBatch) -> None:
        wall = self._wall()
        with self._ready:
            items = self._items
            for record in batch.records:
                items.append((wall, True, record))
            for entry in batch.alarm_entries:
                items.append((wall, False, entry))  # an alarm event is never dropped
            items.append((wall, True, ("tick", batch.now)))
            if self.policy == "drop_oldest" and len(items) > self.capacity:
                self._drop_oldest(len(items) - self.capacity)
            self._ready.notify()

    def _drop_oldest(self, excess: int) -> None:
        kept: collections.deque = collections.deque()
        for queued in self._items:
            if excess and queued[1]:
                excess -= 1
                self.dropped += 1
                continue
            kept.append(queued)
        self._items = kept

    @property
    def waiting(self) -> int:
        return len(self._items)

    def problem(self, wall: float | None = None) -> str | None:
        wall = self._wall() if wall is None else wall
        if self.error is not None:
            return f"{self.name} failed: {self.error}"
        with self._ready:
            oldest = self._items[0][0] if self._items else None
        if oldest is not None and wall - oldest > self.behind_s:
            lost = f"; {self.dropped} items dropped" if self.dropped else ""
            return f"{self.name} falls behind: {wall - oldest:.0f} s of data waiting{lost}"
        return None

    # -------------------------------------------------------- the sink's thread
    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._items and not self._stop:
                    self._ready.wait(0.5)
                if not self._items and self._stop:
                    return
                _wall, _droppable, item = self._items[0]
            try:
                self._handle(item)
                self.handled += 1
                self.error = None
            except Exception as exc:  # the sink's bug or I/O error: reported, the next items still go
                self.failures += 1
                if self.error is None:
                    log.exception("sink %s failed", self.name)
                self.error = f"{type(exc).__name__}: {exc}"
            with self._ready:
                if self._items and self._items[0][2] is item:
                    self._items.popleft()  # taken off only once handled: "waiting" counts it

    def close(self, now: float, timeout: float = 5.0) -> bool:
        """Let the thread finish what waits (up to ``timeout`` s). False if it could not."""
        with self._ready:
            self._stop = True
            self._ready.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive() and not self._items


class RecorderSink:
    """The session record as a sink: its rows are built on the monitor's thread (cheap
    appends) and written by the recorder's own writer thread, which never drops: data waits
    in memory while the disk fails and goes to the rescue file at the end if it must. The
    recorder's failures are the RECORDING alarm it raises itself (high)."""

    priority: Priority = "high"

    def __init__(self, recorder: Any, name: str = "session record") -> None:
        self.recorder = recorder
        self.name = name
        self.closed_cleanly: bool | None = None  # after close(): False when data went to a rescue file

    def publish(self, batch: StepBatch) -> None:
        add_item, add_entry = self.recorder.add_item, self.recorder.add_log_entry
        for record in batch.records:
            add_item(record)
        for entry in batch.alarm_entries:
            add_entry(entry)
        self.recorder.tick(batch.now)

    def problem(self, wall: float) -> str | None:
        return None  # the recorder raises RECORDING itself, with what it could not write

    def close(self, now: float) -> bool:
        self.recorder.tick(now)
        self.closed_cleanly = bool(self.recorder.close())
        return self.closed_cleanly
