"""What a device driver is: the one seam between a wire format and the rest of the console.

A ``Driver`` names a wire format and says everything the console needs to use it:
the roles it can serve, its serial line settings and URL schemes, how to decode a byte
stream into its own records (what ``infusion-console decode`` prints), how to normalize
those into the console's records (``console.records``: observations, waves, identity,
rejections), and, for devices that must be polled or answered, its talking side.

The console monitors; it never controls. A driver that talks lists, in ``may_send``, the
exact messages it may send (patterns over the whole message, arguments included: a rate
query and a rate change can share a command word). The transport refuses to send anything
else, and a test sends every scenario through each driver and checks every byte sent.

No Qt, no I/O: the transport owns the ports and calls these pieces on its reader thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from console.records import DecoderStats, Normalized, Rejection


@dataclass(frozen=True, slots=True)
class LineSettings:
    """Serial line settings (pyserial's values: bytesize 8, parity "N", stopbits 1)."""

    baudrate: int
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1


class WireDecoder(Protocol):
    """A driver's own decoder for one byte stream (never raises on any input)."""

    stats: DecoderStats

    def feed(self, data: bytes) -> list[Any]: ...

    def close(self) -> list[Any]: ...


class LinkLost(Exception):
    """Raised by a talker when the device stopped answering as its protocol requires (no
    answer within the time-out, an association aborted or refused): the transport closes the
    port, reports the link down with this reason, and opens a new connection (and a new
    talker) after its back-off."""


class Talker(Protocol):
    """The talking side of a driver, for one connection: what to send when the link comes
    up, what to send as time passes (polls, keep-alives), how to answer what arrived, and
    what to say before the connection closes (a release). ``now`` is session-clock seconds.
    Everything returned is checked against ``may_send``. Raise ``LinkLost`` when the device
    no longer answers as it must."""

    def on_connect(self, now: float) -> list[bytes]: ...

    def on_tick(self, now: float) -> list[bytes]: ...

    def on_received(self, records: Sequence[Any], now: float) -> list[bytes]:
        """``records``: what the driver's own decoder made of the bytes just read (its wire
        records, protocol messages and rejections included), not the normalized ones."""
        ...


@dataclass(frozen=True, slots=True)
class Link:
    """What a driver's decoder and talker are told about the connection they serve."""

    url: str
    datagrams: bool  # one message per read (UDP), or a byte stream (serial, TCP)


@dataclass(frozen=True)
class Driver:
    name: str  # as typed after --vitals-protocol / --pump-protocol, and in the picker's data
    title: str  # what the picker shows
    roles: frozenset[str]  # the roles it can serve ("vitals", "pump")
    line: LineSettings  # serial defaults; a URL's own options or the picker override the speed
    decoder: Callable[..., WireDecoder]  # a fresh decoder per byte stream (given the Link: needs_link)
    # a decoded record -> the console's record(s): None, one, or a list (values and alarms of one
    # report; a rack's pumps as RackMember records)
    normalize: Callable[[Any], Normalized | list[Normalized] | None]
    description: str = ""  # one line for --help and docs
    schemes: tuple[str, ...] = ()  # URL schemes beyond serial paths and socket:// (e.g. "udp")
    talker: Callable[..., Talker] | None = None  # None: a read-only device
    # The decoder and talker take the Link (datagrams or a stream) when this is set.
    needs_link: bool = False
    default_udp_port: int | None = None  # "<name>+udp://host" means udp://host:<this port>
    default_tcp_port: int | None = None  # "<name>+tcp://host" means socket://host:<this port>
    # What is wrong with the driver's own options in a URL (its query: ``?slot=3``), in words, or
    # None; checked before anything is opened. None here: the driver takes no options.
    url_problem: Callable[[str], str | None] | None = None
    may_send: tuple[re.Pattern[bytes], ...] = ()  # the whole of what it may ever send
    # A source that reports in batches (a gateway, once a minute): its interval in seconds, from
    # the URL; the session stretches its stale and link-lost times by it, and tiles show ages.
    report_interval: Callable[[str], float | None] | None = None
    # Told the confirmed patient's ID (None: none, or the session ended) with the device's URL:
    # a source that carries a patient ID (HL7's PID) refuses another patient's data.
    patient_hook: Callable[[str, str | None], None] | None = None
    # Files written before normalized records: the recorded words of this driver's devices
    # turned into today's normalized ones (e.g. a raw status field into a signal-quality word).
    upgrade_recorded: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Waveform scale of files written before the scale was recorded, by channel.
    legacy_wave_scales: dict[str, float] = field(default_factory=dict)

    def permits(self, message: bytes) -> bool:
        """Whether ``message`` is, whole, one of the messages this driver may send."""
        return any(p.fullmatch(message) for p in self.may_send)

    def open_decoder(self, link: Link | None = None) -> NormalizingDecoder:
        """What the transport feeds: decodes and normalizes in one step."""
        wire = self.decoder(link) if self.needs_link else self.decoder()
        return NormalizingDecoder(wire, self.normalize)

    def open_talker(self, link: Link) -> Talker | None:
        if self.talker is None:
            return None
        return self.talker(link) if self.needs_link else self.talker()


class NormalizingDecoder:
    """A driver's decoder whose output is the console's records. Rejections pass unchanged;
    a record the driver does not turn into anything (returns None) is dropped here, and
    counted by the driver's own stats as accepted."""

    def __init__(self, wire: WireDecoder,
                 normalize: Callable[[Any], Normalized | list[Normalized] | None]) -> None:
        self.wire = wire
        self._normalize = normalize
        self.last_wire: list[Any] = []  # the wire records of the last feed (for the talker)

    @property
    def stats(self) -> DecoderStats:
        return self.wire.stats

    def _out(self, decoded: Iterable[Any]) -> list[Normalized]:
        out: list[Normalized] = []
        for item in decoded:
            record = item if isinstance(item, Rejection) else self._normalize(item)
            if isinstance(record, list):  # one wire record may say several things (values and alarms)
                out.extend(record)
            elif record is not None:
                out.append(record)
        return out

    def feed(self, data: bytes) -> list[Normalized]:
        self.last_wire = self.wire.feed(data)
        return self._out(self.last_wire)

    def close(self) -> list[Normalized]:
        return self._out(self.wire.close())
