"""What travels from the wire to the session: decoded records, rejections and link events.

These are plain data (no Qt, no I/O). The decoders in ``console.protocol`` produce
``Sentence``, ``WaveformChunk``, ``MasimoReading`` and ``Rejection``; the transport wraps
each in a ``Received`` with its receive time, and reports link changes as ``LinkEvent``.
Metric names are those of PROTOCOL.md ("Decoded record names").
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

# PROTOCOL.md: "When several reasons apply, report the first of" this order.
REJECT_REASONS: tuple[str, ...] = (
    "too_long",
    "truncated",
    "encoding",
    "checksum",
    "unknown_type",
    "syntax",
    "range",
)

VITALS_METRICS = ("HR", "PR", "SPO2", "PI", "RR", "ETCO2", "TEMP", "NIBP_SYS", "NIBP_DIA", "NIBP_MEAN")
PUMP_NUMBERS = (
    "PUMP_RATE", "PUMP_VTBI", "PUMP_VI", "PUMP_CONC", "PUMP_WEIGHT", "PUMP_DOSE_RATE", "PUMP_BATT",
)
WORD_METRICS = ("PUMP_STATE", "PUMP_ALARM", "PUMP_DRUG", "SPO2_PROBE", "ECG_LEADS")
WAVEFORM_CHANNELS = ("ECG", "PLETH", "CO2", "RESP")

Value = int | float | str | list[str] | None
Device = Literal["vitals", "pump"]


@dataclass(slots=True)
class Sentence:
    """An accepted ICL/1 VS, PS or ID sentence. ``values`` uses decoded record names;
    ``None`` means the device sent ``-`` (not available)."""

    type: str  # "VS" | "PS" | "ID"
    seq: int
    ms: int
    values: dict[str, Value]

    def to_json(self) -> dict:
        return {"type": self.type, "seq": self.seq, "ms": self.ms, "values": self.values}


@dataclass(slots=True)
class WaveformChunk:
    """An accepted ICL/1 WF sentence: sample i was taken at ``ms + i * 1000 / rate``."""

    seq: int
    ms: int
    channel: str  # ECG | PLETH | CO2 | RESP
    rate: int  # samples per second
    samples: list[int]
    type: str = "WF"

    def to_json(self) -> dict:
        return {
            "type": "WF", "seq": self.seq, "ms": self.ms,
            "channel": self.channel, "rate": self.rate, "samples": self.samples,
        }


@dataclass(slots=True)
class MasimoReading:
    """An accepted Masimo ASCII 1 line. ``values`` holds SPO2, PR, PI (``None`` when dashed),
    EXC and ALARM as integers from their hex fields, and any other key raw as text."""

    time: _dt.datetime  # device clock, no zone
    values: dict[str, Value]
    type: str = "MASIMO"

    def to_json(self) -> dict:
        return {"type": "MASIMO", "time": self.time.isoformat(), "values": self.values}


@dataclass(slots=True)
class Rejection:
    """A sentence or line the decoder refused, with the first reason that applies."""

    reason: str  # one of REJECT_REASONS
    raw: bytes
    detail: str = ""
    # Set when an ID sentence announced a PROTO other than "1": the console ignores the
    # device's data and raises the "unsupported protocol version" technical alarm.
    unsupported_protocol: str | None = None

    def to_json(self) -> dict:
        out: dict = {"error": self.reason, "detail": self.detail,
                     "raw": self.raw.decode("latin-1")}
        if self.unsupported_protocol is not None:
            out["unsupported_protocol"] = self.unsupported_protocol
        return out


Record = Sentence | WaveformChunk | MasimoReading
Decoded = Record | Rejection


@dataclass(slots=True)
class DecoderStats:
    """Running counts a decoder keeps (shown in the devices panel and by ``decode``)."""

    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count
    lost: int = 0  # sentences lost, from sequence gaps (a gap of k means k-1 lost)
    noise_bytes: int = 0  # bytes outside any sentence
    unknown_keys: int = 0  # KEY=VALUE fields with a KEY this console does not know
    restarts: int = 0  # device restarts seen (SEQ jumped back by 32768 or more)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def summary(self) -> str:
        reasons = ", ".join(f"{r}={self.rejected[r]}" for r in REJECT_REASONS if self.rejected[r])
        return (
            f"accepted {self.accepted}, rejected {self.rejected_total}"
            f" ({reasons or 'none'}), lost by sequence gaps {self.lost},"
            f" noise bytes {self.noise_bytes}, unknown keys {self.unknown_keys},"
            f" device restarts {self.restarts}"
        )


LinkState = Literal["connecting", "up", "down"]


@dataclass(slots=True, frozen=True)
class LinkEvent:
    """A device link changed state. ``reason`` says why in words a nurse can read
    (for example "port /dev/ttyUSB0 vanished" or "connection refused")."""

    device: Device
    state: LinkState
    reason: str
    rx_time: float  # session clock, seconds


@dataclass(slots=True, frozen=True)
class Received:
    """One decoded item as it left the transport: which device, and when it arrived
    (session clock seconds and wall-clock POSIX seconds)."""

    device: Device
    item: Decoded
    rx_time: float
    rx_wall: float
