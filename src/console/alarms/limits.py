"""Per-patient alarm limits: a copy of the protocol's, changeable only within its bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from console.clinical import ClinicalProtocol, Priority

Side = Literal["below", "above"]


class LimitError(ValueError):
    """A limit change refused; the message says why in a nurse's words."""


@dataclass
class LiveBand:
    priority: Priority
    below: float | None
    above: float | None
    delay_s: float

    def violated_by(self, value: float) -> bool:
        return (self.below is not None and value < self.below) or (
            self.above is not None and value > self.above
        )


class PatientLimits:
    def __init__(self, protocol: ClinicalProtocol) -> None:
        self.protocol = protocol
        self._bands: dict[str, list[LiveBand]] = {
            metric: [LiveBand(b.priority, b.below, b.above, b.delay_s) for b in m.bands]
            for metric, m in protocol.limits.items()
        }

    def metrics(self) -> list[str]:
        return list(self._bands)

    def bands(self, metric: str) -> list[LiveBand]:
        return self._bands.get(metric, [])

    def band(self, metric: str, priority: str) -> LiveBand | None:
        return next((b for b in self.bands(metric) if b.priority == priority), None)

    def outer(self, metric: str, side: Side) -> float | None:
        """The first limit to fire on that side (the least strict): what clears an alarm."""
        values = [getattr(b, side) for b in self.bands(metric) if getattr(b, side) is not None]
        if not values:
            return None
        return max(values) if side == "below" else min(values)

    def outer_range(self, metric: str) -> tuple[float | None, float | None]:
        return self.outer(metric, "below"), self.outer(metric, "above")

    def set(self, metric: str, priority: str, side: Side, value: float) -> float:
        """Change one limit; returns the old value. Refuses values outside the protocol's
        adjustment bounds, and changes that would put a high-priority limit inside the
        medium one (the high alarm must never fire before the medium)."""
        spec = self.protocol.limits.get(metric)
        band = self.band(metric, priority)
        if spec is None or band is None or getattr(band, side) is None:
            raise LimitError(f"{metric} has no {priority} limit {'below' if side == 'below' else 'above'}")
        lo, hi = spec.adjust_bounds
        if not lo <= value <= hi:
            raise LimitError(f"{spec.label} limit must stay within {lo:g}-{hi:g} {spec.unit}")
        # Nested bands: the high-priority limit lies beyond the medium one on each side.
        medium, high = self.band(metric, "medium"), self.band(metric, "high")
        if priority == "high" and medium is not None and getattr(medium, side) is not None:
            m = getattr(medium, side)
            if (side == "below" and value > m) or (side == "above" and value < m):
                raise LimitError(f"{spec.label}: the high-priority limit must lie beyond the "
                                 f"medium one ({m:g} {spec.unit})")
        if priority == "medium" and high is not None and getattr(high, side) is not None:
            h = getattr(high, side)
            if (side == "below" and value < h) or (side == "above" and value > h):
                raise LimitError(f"{spec.label}: the medium limit must lie inside the "
                                 f"high-priority one ({h:g} {spec.unit})")
        opposite = band.above if side == "below" else band.below
        if opposite is not None and (value >= opposite if side == "below" else value <= opposite):
            raise LimitError(f"{spec.label}: the lower limit must stay below the upper limit")
        old = getattr(band, side)
        setattr(band, side, float(value))
        return old
