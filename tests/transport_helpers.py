"""What the transport tests share: waiting for a condition with a deadline, a collector of
the queue the reader threads write to, and the list of reader threads still alive."""

from __future__ import annotations

import queue
import threading
import time

from console.records import LinkEvent, Received, Rejection


def wait_for(predicate, timeout: float) -> bool:
    """Poll until ``predicate()`` holds or the (generous) deadline passes: a condition that
    eventually arrives, never a performance check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class Collector:
    """Drains a SimpleQueue into a list (the GUI's display timer does the same)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.items: list = []
        self.timeout = timeout

    def drain(self) -> list:
        while True:
            try:
                self.items.append(self.q.get_nowait())
            except queue.Empty:
                return self.items

    def records(self) -> list[Received]:
        return [i for i in self.drain() if isinstance(i, Received)]

    def events(self) -> list[LinkEvent]:
        return [i for i in self.drain() if isinstance(i, LinkEvent)]

    def accepted(self) -> list:
        return [r.item for r in self.records() if not isinstance(r.item, Rejection)]

    def wait(self, predicate, timeout: float | None = None) -> bool:
        return wait_for(lambda: predicate(self.drain()), self.timeout if timeout is None else timeout)


def transport_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("transport-")]
