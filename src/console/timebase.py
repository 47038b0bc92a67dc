"""Map a device's clock (a report's ``device_ms``, milliseconds since the device started) onto the
console's session clock.

Host receive times jitter with load and with how reads are batched, so samples are plotted
on device time. The offset is the smallest (receive - device) difference seen: a sentence
can arrive late but never before it was sent, so the minimum is the tightest estimate.
The device clock is re-anchored when it goes back (restart, 32-bit wrap) or jumps far
ahead of what the receive times allow (a clock the device reset while we were away).
"""

from __future__ import annotations

MS_WRAP = 2**32
REANCHOR_LAG_S = 10.0  # device time this far behind arrival: the device clock jumped


def lag_tolerance_for(clock: object) -> float:
    """How far behind arrival device time may fall before it counts as a clock jump. A
    simulation at speed X delivers X times more session time per wall-clock hiccup (at 600x
    one 20 ms read carries 12 s of data), so the tolerance grows with the speed."""
    speed = float(getattr(clock, "speed", 1.0) or 1.0)
    return REANCHOR_LAG_S * max(1.0, speed / 10.0)


class DeviceTimebase:
    def __init__(self, lag_tolerance_s: float = REANCHOR_LAG_S) -> None:
        self.lag_tolerance_s = lag_tolerance_s
        self.offset: float | None = None  # session seconds at device ms == 0
        self._last_ms: int | None = None
        self.reanchors = 0

    def reset(self) -> None:
        """Forget the anchor (the link was lost: the device may come back restarted)."""
        self.offset = None
        self._last_ms = None

    def to_session(self, ms: int, rx_time: float) -> float:
        device_s = ms / 1000.0
        lag = rx_time - device_s
        if self.offset is None:
            self.offset = lag
        elif self._last_ms is not None and ms < self._last_ms and (
            self._last_ms - ms > MS_WRAP // 2 or self._last_ms - ms > 1000
        ):
            # Device restarted or its counter wrapped: it is a new clock.
            self.offset = lag
            self.reanchors += 1
        elif lag < self.offset:
            self.offset = lag
        elif lag - self.offset > self.lag_tolerance_s:
            self.offset = lag
            self.reanchors += 1
        self._last_ms = ms
        return self.offset + device_s
