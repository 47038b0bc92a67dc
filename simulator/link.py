"""The serial line between a simulated device and the console: dropouts and line noise.

A device keeps running (and counting SEQ) while its link drops out; the bytes are simply
lost, as with a pulled cable, so the console sees a silence and then a SEQ gap.
Noise corrupts bytes of the encoded stream: each byte is hit with probability
``byte_error_rate`` and XOR-ed with a random non-zero value, so its length never changes.
The draws come from the link's own random stream, one per tick, so the physiology and the
bytes of an uncorrupted run stay the same whatever the noise setting.
"""

from __future__ import annotations

import numpy as np


class Link:
    def __init__(self, rng: np.random.Generator, byte_error_rate: float = 0.0) -> None:
        self._rng = rng
        self.byte_error_rate = byte_error_rate
        self._silent_until_ms = -1
        self.bytes_lost = 0
        self.bytes_corrupted = 0

    def drop_out(self, now_ms: int, duration_s: float) -> None:
        self._silent_until_ms = max(self._silent_until_ms, now_ms + round(duration_s * 1000))

    def silent(self, ms: int) -> bool:
        return ms < self._silent_until_ms

    def transmit(self, ms: int, data: bytes) -> bytes:
        """What reaches the far end of the line of the bytes the device sent at ``ms``."""
        if not data:
            return data
        if self.silent(ms):
            self.bytes_lost += len(data)
            return b""
        if self.byte_error_rate <= 0.0:
            return data
        hits = np.flatnonzero(self._rng.random(len(data)) < self.byte_error_rate)
        if hits.size == 0:
            return data
        corrupted = np.frombuffer(data, dtype=np.uint8).copy()
        corrupted[hits] ^= self._rng.integers(1, 256, hits.size, dtype=np.uint8)
        self.bytes_corrupted += int(hits.size)
        return corrupted.tobytes()
