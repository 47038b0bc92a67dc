"""A bed's trends at the central station: every numeric since the central started, in bounded
memory. Qt-free.

A central station runs for days, so a plain growing series would grow without end, and a ring
would forget the start of a session. Instead, when the store is full every other row is dropped
and from then on only every second sample is kept (then every fourth...): the whole span since
the start stays, at a resolution that halves each time it fills. ``capacity`` rows of
``len(metrics)`` float32 values and a float64 time each: 7200 rows of 12 metrics are under
0.5 MB per bed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class Trend:
    def __init__(self, metrics: tuple[str, ...], capacity: int = 7200) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4")
        self.metrics = metrics
        self.capacity = capacity
        self._column = {m: i for i, m in enumerate(metrics)}
        self._t = np.full(capacity, np.nan)
        self._v = np.full((capacity, len(metrics)), np.nan, dtype=np.float32)
        self.count = 0
        self.stride = 1  # keep one sample in ``stride``
        self._since_kept = 0
        self.total = 0  # samples offered (tells a view whether anything changed)

    def add(self, t: float, values: Mapping[str, float | None]) -> None:
        self.total += 1
        self._since_kept += 1
        if self._since_kept < self.stride:
            return
        self._since_kept = 0
        self._row(t, [values.get(m) for m in self.metrics])

    def gap(self, t: float) -> None:
        """A row of NaN: the plot breaks here (the bed had no data) instead of joining across."""
        if self.count and not np.isnan(self._v[self.count - 1]).all():
            self._row(t, [None] * len(self.metrics))

    def _row(self, t: float, row: list[float | None]) -> None:
        if self.count == self.capacity:
            half = self.capacity // 2
            self._t[:half] = self._t[0:self.capacity:2][:half]
            self._v[:half] = self._v[0:self.capacity:2][:half]
            self._t[half:] = np.nan
            self._v[half:] = np.nan
            self.count = half
            self.stride *= 2
        self._t[self.count] = t
        self._v[self.count] = [np.nan if x is None else x for x in row]
        self.count += 1

    def series(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) of one metric: views, valid until the next ``add``."""
        column = self._column[metric]
        return self._t[:self.count], self._v[:self.count, column]

    @property
    def nbytes(self) -> int:
        return int(self._t.nbytes + self._v.nbytes)
