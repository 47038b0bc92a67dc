"""Clocks. Every piece of core logic takes one of these instead of reading the time itself,
so tests drive it with a FakeClock and a simulation can run faster than real time.

``now()`` is session time in seconds on a monotonic scale (never jumps back);
``wall()`` is the matching wall-clock time (POSIX seconds) used only for display and
time stamps in records.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    """Wall clock: the session clock with real devices."""

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = time.time()

    def now(self) -> float:
        return time.monotonic() - self._mono0

    def wall(self) -> float:
        return self._wall0 + self.now()


class ScaledClock:
    """Simulated session clock: runs ``speed`` times faster than the wall clock.

    The speed may change while running (the training instructor can slow a scenario down);
    the session time stays continuous across the change.
    """

    def __init__(self, speed: float = 1.0, start_wall: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._mono_base = time.monotonic()
        self._session_base = 0.0
        self._wall0 = time.time() if start_wall is None else start_wall

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        with self._lock:
            mono = time.monotonic()
            self._session_base += (mono - self._mono_base) * self._speed
            self._mono_base = mono
            self._speed = float(speed)

    def now(self) -> float:
        with self._lock:
            return self._session_base + (time.monotonic() - self._mono_base) * self._speed

    def wall(self) -> float:
        return self._wall0 + self.now()


class FakeClock:
    """A clock that moves only when told to: for tests."""

    def __init__(self, start: float = 0.0, wall0: float = 1_767_225_600.0) -> None:
        self._t = float(start)
        self._wall0 = wall0

    def now(self) -> float:
        return self._t

    def wall(self) -> float:
        return self._wall0 + self._t

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._t += seconds

    def set(self, t: float) -> None:
        if t < self._t:
            raise ValueError("a clock never goes back")
        self._t = float(t)
