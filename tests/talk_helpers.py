"""What the conversation-capture tests share (tests/test_talk_capture.py and
tests/test_protocol_doc.py): a clock that moves each time it is read, a scripted port, and
reading a conversation capture back; and the device end of a pty (tests/test_drivers.py too)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import threading
import tty
from pathlib import Path

import console.drivers as registry
import toy_driver

WALL0 = 1_767_225_600.0


class SteppingClock:
    """A fake session clock that moves 10 ms each time it is read, so every time stamp is
    later than the one before and the toy's twice-a-second poll comes every 50 readings."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            self._n += 1
            return self._n / 100

    def wall(self) -> float:
        with self._lock:
            return WALL0 + self._n / 100


class ScriptedPort:
    """A port that delivers scripted chunks, then is a quiet line (each read waits out the
    read timeout); keeps what is written to it."""

    def __init__(self, chunks: list[bytes], timeout: float) -> None:
        self.chunks = list(chunks)
        self.timeout = timeout
        self.written: list[bytes] = []
        self._cancelled = threading.Event()

    @property
    def in_waiting(self) -> int:
        return len(self.chunks[0]) if self.chunks else 0

    def read(self, size: int = 1) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        self._cancelled.wait(self.timeout)  # nothing on the line until the read times out
        return b""

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        return len(data)

    def cancel_read(self) -> None:
        self._cancelled.set()

    def close(self) -> None:
        self._cancelled.set()


def scripted(*chunks: bytes):
    ports: list[ScriptedPort] = []

    def factory(url, **kwargs):
        ports.append(ScriptedPort(list(chunks), kwargs["timeout"]))
        return ports[-1]

    return factory, ports


def read_talk(path: Path) -> tuple[list[dict], list[dict]]:
    """(headers, chunks) of a conversation capture, chunk hex turned back into bytes."""
    headers, chunks = [], []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if "capture" in obj:
            headers.append(obj)
        else:
            chunks.append({**obj, "data": bytes.fromhex(obj["hex"])})
    return headers, chunks


def use_toy_driver(monkeypatch):
    """Put the toy talking driver (tests/toy_driver.py) into the registry for one test, as
    its author's one registry line would; undone by ``monkeypatch`` and ``forget_toy_driver``."""
    toy_line = registry.Listing("toy", "toy_driver", ("vitals",))
    monkeypatch.setattr(registry, "DRIVER_MODULES", [*registry.DRIVER_MODULES, toy_line])
    registry.all_drivers.cache_clear()
    toy_driver.BAD_SENDER.clear()
    return registry.driver("toy")


def forget_toy_driver() -> None:
    toy_driver.BAD_SENDER.clear()
    registry.all_drivers.cache_clear()


class PtyDevice:
    """The device end of a pty: writes numbered lines (``make(n)``) and keeps every byte it
    wrote and every byte the console sent it."""

    def __init__(self, make) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.make = make
        self.written = b""
        self.heard = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            line = self.make(n)
            os.write(self.master, line)
            self.written += line
            n += 1
            self._read(0.05)
        self._read(0.0)  # whatever the console sent before it stopped

    def _read(self, wait: float) -> None:
        ready, _w, _x = select.select([self.master], [], [], wait)
        if ready:
            with contextlib.suppress(OSError):
                self.heard += os.read(self.master, 4096)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self.slave)
