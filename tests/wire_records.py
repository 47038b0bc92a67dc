"""Records as a device's driver hands them to the session: ``Sentence("VS", ...)`` builds
the ICL/1 sentence and normalizes it through the ICL driver (``console.drivers.icl``), so
a test written in a device's terms feeds the session what the live path feeds it."""

from __future__ import annotations

import datetime as dt

from console.drivers import icl, masimo
from console.records import Identity, Observations, Value, Wave


def Sentence(kind: str, seq: int, ms: int, values: dict[str, Value]) -> Observations | Identity:
    return icl.normalize(icl.Sentence(kind, seq, ms, values))  # type: ignore[return-value]


def WaveformChunk(seq: int, ms: int, channel: str, rate: int, samples: list[int]) -> Wave:
    return icl.normalize(icl.WaveformChunk(seq, ms, channel, rate, samples))  # type: ignore[return-value]


def MasimoReading(time: dt.datetime, values: dict[str, Value]) -> Observations:
    return masimo.normalize(masimo.MasimoReading(time, values))
