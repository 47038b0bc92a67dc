"""Sample stores for drawing: a fixed ring for waveforms, a growing series for trends.

Both hand out numpy views, never copies per frame, and never grow with np.append in the
hot path (ARCHITECTURE.md, "Drawing fast").
"""

from __future__ import annotations

import numpy as np


class Ring:
    """The last ``capacity`` (time, value) pairs, readable as one contiguous slice.

    Every sample is written twice, at ``i`` and ``i + capacity``, so the most recent n
    samples always sit side by side in memory: ``window`` is a view, not a copy.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._t = np.full(2 * capacity, np.nan)
        self._v = np.full(2 * capacity, np.nan)
        self._head = 0  # next write position in [0, capacity)
        self.count = 0  # samples held, at most capacity
        self.total = 0  # samples ever written (tells a view whether anything changed)

    def extend(self, t: np.ndarray, v: np.ndarray) -> None:
        n = len(t)
        if n == 0:
            return
        if n > self.capacity:  # only the newest fit
            t, v, n = t[-self.capacity:], v[-self.capacity:], self.capacity
        cap, head = self.capacity, self._head
        first = min(n, cap - head)
        for dst in (head, head + cap):
            self._t[dst:dst + first] = t[:first]
            self._v[dst:dst + first] = v[:first]
        rest = n - first
        if rest:
            for dst in (0, cap):
                self._t[dst:dst + rest] = t[first:]
                self._v[dst:dst + rest] = v[first:]
        self._head = (head + n) % cap
        self.count = min(cap, self.count + n)
        self.total += n

    def window(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Views of the newest ``n`` samples (all held when None), oldest first."""
        n = self.count if n is None else min(n, self.count)
        end = self._head + self.capacity
        return self._t[end - n:end], self._v[end - n:end]

    def since(self, t0: float) -> tuple[np.ndarray, np.ndarray]:
        """Views of the samples with time >= t0 (times are non-decreasing)."""
        t, v = self.window()
        # NaN gap markers carry a real time too, so searchsorted stays valid.
        i = int(np.searchsorted(t, t0, side="left"))
        return t[i:], v[i:]

    @property
    def last_time(self) -> float | None:
        if self.count == 0:
            return None
        return float(self._t[self._head + self.capacity - 1])


class Series:
    """A whole session of one numeric: appended at about 1 Hz, kept compactly.

    Storage doubles when full (amortised O(1) per append); float32 values halve the memory
    of a long session. Times stay float64 (seconds of session time need the precision).
    """

    def __init__(self, initial: int = 1024) -> None:
        self._t = np.empty(initial, dtype=np.float64)
        self._v = np.empty(initial, dtype=np.float32)
        self.count = 0
        self.version = 0  # bumps on every change, so views redraw only what changed

    def append(self, t: float, v: float) -> None:
        if self.count == len(self._t):
            self._t = np.resize(self._t, 2 * len(self._t))
            self._v = np.resize(self._v, 2 * len(self._v))
        self._t[self.count] = t
        self._v[self.count] = v
        self.count += 1
        self.version += 1

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self._t[:self.count], self._v[:self.count]

    def last(self) -> tuple[float, float] | None:
        if self.count == 0:
            return None
        return float(self._t[self.count - 1]), float(self._v[self.count - 1])

    def value_at(self, t: float) -> float | None:
        """The latest value at or before ``t`` (None before the first, or for a gap)."""
        i = int(np.searchsorted(self._t[:self.count], t, side="right")) - 1
        if i < 0:
            return None
        v = float(self._v[i])
        return None if np.isnan(v) else v

    @property
    def nbytes(self) -> int:
        return self._t.nbytes + self._v.nbytes
