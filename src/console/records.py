"""What travels from the wire to the session: normalized records, rejections and link events.

Plain data (no Qt, no I/O). Each driver (``console.drivers``) decodes its wire format into
its own records (what ``decode`` prints) and normalizes them into ``Observations``, ``Wave``,
``Identity`` and ``Rejection``, in the console's names and units (``console.metrics``); the
transport wraps each in a ``Received`` with its receive time and reports link changes as
``LinkEvent``. Nothing past the driver knows which wire format a record came from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from console.metrics import NUMERIC_METRICS, PUMP_NUMBERS, VITALS_METRICS, WAVEFORM_CHANNELS, WORD_METRICS

# The metric tables live in console.metrics; these names stay importable from here.
__all__ = ["NUMERIC_METRICS", "PUMP_NUMBERS", "VITALS_METRICS", "WAVEFORM_CHANNELS", "WORD_METRICS"]

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

Value = int | float | str | list[str] | None
# What a device is for: "vitals" (the monitor) or "pump". A driver says which roles it can
# serve; the connection request says which one each device plays.
Role = str


# ---------------------------------------------------------------------------- normalized
# What drivers hand to the session: the console's metric names and units (console.metrics),
# with the device's own time kept beside the receive time (``Received.rx_time``).


@dataclass(slots=True)
class Observations:
    """What one device report said. ``values`` holds console metric names in console units
    (``None``: the device says not available); ``device_ms`` is the report's time on the
    device's own clock (ms), or ``None`` when the device gives none worth using (then the
    receive time stands). A cuff reading carries its own measurement time in NIBP_MS.
    ``demo``: the device marks these values as demo data (a monitor in demo mode): the session
    shows them marked DEMO and never as the patient's (no alarm, discharge check or record)."""

    seq: int | None
    device_ms: int | None
    values: dict[str, Value]
    demo: bool = False

    def to_json(self) -> dict:
        out = {"type": "observations", "seq": self.seq, "device_ms": self.device_ms, "values": self.values}
        if self.demo:  # only when set: every other device's records read as they always did
            out["demo"] = True
        return out


# How the session record keeps a demo report: in its refused data under this reason, with the
# report's JSON, never among the patient's values; a replay reads it back as the demo report.
DEMO_RECORDED_AS = "demo_data"


@dataclass(slots=True)
class Wave:
    """A chunk of one waveform channel: sample i was taken at ``device_ms + i * 1000 / rate``
    and means ``samples[i] * scale`` in ``unit`` (console.metrics.CHANNELS)."""

    seq: int | None
    device_ms: int
    channel: str
    rate: float  # samples per second (IntelliVue's CO2: 62.5)
    samples: list[int]
    scale: float
    unit: str

    def values(self) -> list[float]:
        s = self.scale
        return [x * s for x in self.samples]

    def to_json(self) -> dict:
        return {"type": "wave", "seq": self.seq, "device_ms": self.device_ms, "channel": self.channel,
                "rate": self.rate, "scale": self.scale, "unit": self.unit, "samples": self.samples}


@dataclass(slots=True, frozen=True)
class DeviceAlarm:
    """One alarm the device itself raises (a monitor's patient alarm or INOP): shown in the
    console as the device's, never sounded by the console (the device sounds its own)."""

    code: str  # the device's own identifier of the condition (stable while it lasts)
    text: str  # the device's words
    priority: str  # "high" | "medium" | "low", by the driver's documented mapping
    kind: str  # "physiological" | "technical"


@dataclass(slots=True)
class DeviceAlarms:
    """Every alarm the device has active now (an empty list: none). Each report replaces the last."""

    device_ms: int | None
    alarms: tuple[DeviceAlarm, ...]

    def to_json(self) -> dict:
        return {"type": "device_alarms", "device_ms": self.device_ms,
                "alarms": [{"code": a.code, "text": a.text, "priority": a.priority, "kind": a.kind}
                           for a in self.alarms]}


@dataclass(slots=True)
class Identity:
    """Who the device says it is. ``data`` keeps everything it sent, in its own words."""

    seq: int | None
    device_ms: int | None
    role: str | None
    model: str
    serial: str
    firmware: str
    protocol_version: str
    data: dict

    def to_json(self) -> dict:
        return {"type": "identity", "seq": self.seq, "device_ms": self.device_ms, "role": self.role,
                "model": self.model, "serial": self.serial, "firmware": self.firmware,
                "protocol_version": self.protocol_version, "data": self.data}


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


@dataclass(frozen=True, slots=True)
class RackMember:
    """A normalized record of one device among several behind one link (the pumps of a rack
    behind a B. Braun SpaceStation): ``member`` names it, stable while it is in the rack (e.g.
    "slot3"); "" is the device the link was opened for (the pump that carries the plan). The
    transport delivers it as the record of device ``<role>-<member>`` ("pump-slot3")."""

    member: str
    record: Observations | Wave | Identity | DeviceAlarms | Rejection

    def to_json(self) -> dict:
        return {**self.record.to_json(), "member": self.member}


@dataclass(frozen=True, slots=True)
class MemberMissing:
    """The device the link was opened for is not among the devices behind it (the selected
    pump is not in the rack, or left it): a high technical alarm until it is back."""

    reason: str  # in words, naming how it was selected ("no pump in slot 3 of the rack")

    def to_json(self) -> dict:
        return {"type": "member_missing", "reason": self.reason}


# RackMember leaves the transport unwrapped (console.transport._DeviceFeed): the session never sees one.
Normalized = Observations | Wave | Identity | DeviceAlarms | Rejection | MemberMissing | RackMember


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

    device: Role
    state: LinkState
    reason: str
    rx_time: float  # session clock, seconds


@dataclass(slots=True, frozen=True)
class Received:
    """One decoded item as it left the transport: which device, and when it arrived
    (session clock seconds and wall-clock POSIX seconds)."""

    device: Role
    item: Normalized
    rx_time: float
    rx_wall: float
