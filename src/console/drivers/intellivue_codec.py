"""Philips IntelliVue Data Export: the wire-level pieces a driver builds on.

Pure functions and small state machines, written from the "Data Export Interface Programming
Guide, IntelliVue Patient Monitor X2, MP Series, MX Series" (Philips 4535 642 59271, Rev. G.0);
"p.N" below is the page number printed in the guide. This module is not a driver (it is not in
``DRIVER_MODULES``): a future ``intellivue`` driver uses it for

- the MIB/RS232 Fixed Baudrate Protocol's framing (guide chapter 4, p.30-32): ``fcs16``,
  ``frame``, and the incremental ``FrameReader`` (on top of ``Deframer``);
- the FLOAT-Type (chapter 5, p.40-41): ``decode_float`` / ``encode_float``;
- the big-endian primitive types (chapter 5, p.35-40) read with bounds checks by ``Cursor``,
  which raises ``CodecError`` (its ``reason`` is one of ``console.records.REJECT_REASONS``, so
  a decoder turns it into a ``Rejection`` in one line).

No Qt, no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from console.records import Rejection

__all__ = [
    "BOF",
    "EOF",
    "ESC",
    "MAX_PAYLOAD",
    "MSG_TYPE_COMMAND",
    "PROTOCOL_ID_DATA_EXPORT",
    "RELATIVE_TICKS_PER_SECOND",
    "CodecError",
    "Cursor",
    "Deframer",
    "FloatSpecial",
    "Frame",
    "FrameReader",
    "decimal_places",
    "decode_absolute_time",
    "decode_float",
    "encode_absolute_time",
    "encode_float",
    "escape",
    "fcs16",
    "fcs_bytes",
    "float_parts",
    "frame",
    "frame_body",
    "relative_seconds",
]


class CodecError(Exception):
    """A buffer that does not hold what a reader was asked for. ``reason`` is one of
    ``console.records.REJECT_REASONS`` ("truncated": too few bytes; "syntax": bytes that
    cannot be that type; "range": a well-formed value outside what the type allows)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --- MIB/RS232 Fixed Baudrate Protocol: framing (guide p.30-32) -------------------------------

BOF = 0xC0  # Beginning Of Frame (p.30)
EOF = 0xC1  # End Of Frame (p.30)
ESC = 0x7D  # Control Escape (p.31 "Transparency")
_ESC_XOR = 0x20  # "complement bit 5 of the byte (XOR with 0x20)" (p.31)
_RESERVED = frozenset((BOF, EOF, ESC))

PROTOCOL_ID_DATA_EXPORT = 0x11  # FrameHdr.protocol_id for Data Export (p.30)
MSG_TYPE_COMMAND = 0x01  # FrameHdr.msg_type: Association Control or Data Export Command (p.31)
_HEADER_SIZE = 4  # FrameHdr {u_8 protocol_id; u_8 msg_type; u_16 length} (p.30)
_FCS_SIZE = 2

# The largest user data a reader accepts by default. The guide caps the negotiated command size
# at 1000 bytes on MIB/RS232 (p.71), with the session/presentation and remote-operation headers
# on top of it; its UDP messages are at most 1380 bytes (p.29). 1500 leaves room for both.
MAX_PAYLOAD = 1500


def _crc_table() -> tuple[int, ...]:
    # CRC-CCITT as in IrLAP / RFC 1171 (the guide's reference, p.31): the bit-reversed form of
    # x^16 + x^12 + x^5 + 1, i.e. 0x8408, processed least significant bit first.
    table = []
    for n in range(256):
        v = n
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return tuple(table)


_CRC_TABLE = _crc_table()


def fcs16(data: bytes) -> int:
    """The 16-bit CRC-CCITT of ``data`` (Hdr and User Data of a frame), as the guide writes it
    before "building the one's-complement and byte-swapping" (p.31): ``fcs16(b"\\x3a\\x71")`` is
    0xD964. Not the XMODEM variant. What goes on the wire is ``fcs_bytes(data)``."""
    fcs = 0xFFFF
    for b in data:
        fcs = (fcs >> 8) ^ _CRC_TABLE[(fcs ^ b) & 0xFF]
    return fcs


def fcs_bytes(data: bytes) -> bytes:
    """The FCS field as transmitted: the one's complement of ``fcs16(data)``, LSB first (p.31)."""
    inverted = fcs16(data) ^ 0xFFFF
    return bytes((inverted & 0xFF, inverted >> 8))


def escape(data: bytes) -> bytes:
    """Transparency (p.31): each 0xC0, 0xC1 and 0x7D becomes 0x7D followed by the byte XOR 0x20."""
    if not _RESERVED.intersection(data):
        return bytes(data)
    out = bytearray()
    for b in data:
        if b in _RESERVED:
            out.append(ESC)
            out.append(b ^ _ESC_XOR)
        else:
            out.append(b)
    return bytes(out)


def frame_body(body: bytes) -> bytes:
    """BOF, ``body`` and its FCS with transparency applied, EOF: the framing algorithm on bytes
    that already include the header. The guide's worked examples (p.31-32) frame bare data
    this way: ``frame_body(b"\\x3a\\x71")`` is ``c0 3a 71 9b 26 c1``."""
    return bytes((BOF,)) + escape(bytes(body) + fcs_bytes(body)) + bytes((EOF,))


def frame(payload: bytes, protocol_id: int = PROTOCOL_ID_DATA_EXPORT, msg_type: int = MSG_TYPE_COMMAND) -> bytes:
    """One Fixed Baudrate Protocol frame carrying ``payload`` (an Association Control or Data
    Export message): BOF | FrameHdr | User Data | FCS | EOF (p.30). The header's length is that of
    the payload without transparency characters (p.31); the FCS covers header and payload (p.31).

    Transparency is applied to the header as well as to user data and FCS: p.31's transparency
    paragraph names user data and FCS, but the same section and p.280 say to apply the framing
    algorithm to "both the Hdr and User Data part" (a length of 0x00C0 would otherwise put a BOF
    inside the frame)."""
    if not 0 <= protocol_id <= 0xFF or not 0 <= msg_type <= 0xFF:
        raise ValueError(f"protocol_id and msg_type are single bytes, not {protocol_id}, {msg_type}")
    if len(payload) > 0xFFFF:
        raise ValueError(f"a frame's length field is 16 bits; {len(payload)} bytes do not fit")
    header = bytes((protocol_id, msg_type)) + len(payload).to_bytes(2, "big")
    return frame_body(header + bytes(payload))


class Deframer:
    """Incremental receiver for BOF ... EOF frames with transparency and FCS (p.30-32), below
    the header: ``feed`` takes bytes split anyhow and returns, in order, each frame's content
    (header and user data, unescaped, FCS checked and removed) as ``bytes``, or a ``Rejection``.
    It never raises on any input.

    - Bytes outside a frame (before a BOF, or a stray EOF) are counted in ``noise_bytes``.
    - ``7D C1`` inside a frame is the sender's frame abort (p.31): the frame is dropped as a
      Rejection("truncated").
    - A BOF inside a frame starts a new frame; the unfinished one is Rejection("truncated")
      (a lost EOF). A BOF right after a BOF just restarts (the first counts as noise).
    - ``7D`` followed by anything but ``E0``, ``E1``, ``5D`` (an escaped C0, C1, 7D) or the abort
      can come from no sender following the guide's rule: the frame is Rejection("syntax").
    - More than ``max_content`` unescaped bytes (FCS included) without an EOF is
      Rejection("too_long"); the rest, up to the next BOF or EOF, is skipped (p.280: "the received
      message grows larger than your receive buffer").
    - A bad FCS is Rejection("checksum") (p.31: "If the CRC is not correct ... ignore the message").

    A rejection's ``raw`` is the frame as received (escaped, from its BOF), cut at the size limit.
    """

    def __init__(self, max_content: int = _HEADER_SIZE + MAX_PAYLOAD + _FCS_SIZE) -> None:
        if max_content < _FCS_SIZE:
            raise ValueError("a frame holds at least its FCS")
        self.max_content = max_content
        self.noise_bytes = 0
        self._raw_limit = 2 * max_content + 2  # every byte escaped, plus BOF and EOF
        self._in_frame = False
        self._skipping = False  # inside an over-long frame, waiting for its end
        self._content = bytearray()
        self._raw = bytearray()
        self._escaped = False
        self._bad: str | None = None  # why the current frame is already lost (an invalid escape)

    def feed(self, data: bytes) -> list[bytes | Rejection]:
        out: list[bytes | Rejection] = []
        for b in data:
            if b == BOF:
                self._begin(out)
            elif self._skipping:
                if b == EOF:
                    self._skipping = False
            elif not self._in_frame:
                self.noise_bytes += 1
            else:
                self._raw.append(b)
                if b == EOF:
                    out.append(self._end())
                elif self._escaped:
                    self._escaped = False
                    if b ^ _ESC_XOR in _RESERVED:
                        self._content.append(b ^ _ESC_XOR)
                    elif self._bad is None:
                        self._bad = f"0x7D followed by 0x{b:02X} (only 0xE0, 0xE1, 0x5D are escapes)"
                elif b == ESC:
                    self._escaped = True
                else:
                    self._content.append(b)
                if self._in_frame and len(self._content) > self.max_content:
                    out.append(Rejection("too_long", bytes(self._raw[: self._raw_limit]),
                                         f"more than {self.max_content} bytes without an end of frame"))
                    self._reset()
                    self._skipping = True
        return out

    def close(self) -> list[bytes | Rejection]:
        """The end of the stream: an unfinished frame is Rejection("truncated")."""
        out: list[bytes | Rejection] = []
        if self._in_frame:
            out.append(self._unfinished("the stream ended inside a frame"))
        self._skipping = False
        return out

    def _begin(self, out: list[bytes | Rejection]) -> None:
        if self._in_frame:
            if self._content or self._escaped or self._bad is not None:
                out.append(self._unfinished("a new frame began before this one ended"))
            else:
                self.noise_bytes += 1  # BOF BOF: the first opened nothing
        self._reset()
        self._skipping = False
        self._in_frame = True
        self._raw.append(BOF)

    def _unfinished(self, detail: str) -> Rejection:
        rejection = Rejection("truncated", bytes(self._raw[: self._raw_limit]), detail)
        self._reset()
        return rejection

    def _reset(self) -> None:
        self._in_frame = False
        self._content = bytearray()
        self._raw = bytearray()
        self._escaped = False
        self._bad = None

    def _end(self) -> bytes | Rejection:
        raw, content, escaped, bad = bytes(self._raw), bytes(self._content), self._escaped, self._bad
        self._reset()
        if escaped:
            return Rejection("truncated", raw, "frame aborted by the sender (0x7D 0xC1)")
        if bad is not None:
            return Rejection("syntax", raw, bad)
        if len(content) < _FCS_SIZE:
            return Rejection("truncated", raw, f"{len(content)} byte(s) between BOF and EOF, no room for an FCS")
        body, received = content[:-_FCS_SIZE], content[-_FCS_SIZE:]
        expected = fcs_bytes(body)
        if received != expected:
            return Rejection("checksum", raw, f"FCS {received.hex(' ')} received, {expected.hex(' ')} computed")
        return body


@dataclass(frozen=True, slots=True)
class Frame:
    """A received Fixed Baudrate Protocol frame whose FCS, header and length checked out."""

    protocol_id: int
    msg_type: int
    payload: bytes  # the Association Control or Data Export message, unescaped


class FrameReader:
    """Incremental reader of Fixed Baudrate Protocol frames (p.30-32): bytes in any split in,
    ``Frame`` or ``Rejection`` out, in order; never raises. ``Deframer`` handles escapes, abort,
    noise, size and FCS; on top of it the header must name ``protocol_id`` and one of
    ``msg_types`` (else Rejection("unknown_type"); p.31: "it should ignore the message") and its
    length must equal the user data received ("truncated" if fewer bytes came, "syntax" if more)."""

    def __init__(self, max_payload: int = MAX_PAYLOAD, *, protocol_id: int = PROTOCOL_ID_DATA_EXPORT,
                 msg_types: frozenset[int] = frozenset({MSG_TYPE_COMMAND})) -> None:
        self._deframer = Deframer(_HEADER_SIZE + max_payload + _FCS_SIZE)
        self.protocol_id = protocol_id
        self.msg_types = msg_types

    @property
    def noise_bytes(self) -> int:
        """Bytes seen outside any frame."""
        return self._deframer.noise_bytes

    def feed(self, data: bytes) -> list[Frame | Rejection]:
        return [self._check(item) for item in self._deframer.feed(data)]

    def close(self) -> list[Frame | Rejection]:
        return [self._check(item) for item in self._deframer.close()]

    def _check(self, item: bytes | Rejection) -> Frame | Rejection:
        if isinstance(item, Rejection):
            return item
        raw = frame_body(item)  # what a conforming sender put on the wire for this frame
        if len(item) < _HEADER_SIZE:
            return Rejection("truncated", raw, f"{len(item)} byte(s) before the FCS, a frame header needs 4")
        protocol_id, msg_type = item[0], item[1]
        if protocol_id != self.protocol_id or msg_type not in self.msg_types:
            return Rejection("unknown_type", raw, f"protocol_id 0x{protocol_id:02X}, msg_type 0x{msg_type:02X}")
        length = int.from_bytes(item[2:4], "big")
        carried = len(item) - _HEADER_SIZE
        if length != carried:
            reason = "truncated" if carried < length else "syntax"
            return Rejection(reason, raw, f"header says {length} bytes of user data, the frame carries {carried}")
        return Frame(protocol_id, msg_type, item[_HEADER_SIZE:])


# --- FLOAT-Type (guide p.40-41) -----------------------------------------------------------------


class FloatSpecial(enum.Enum):
    """The FLOAT-Type's special values, by their 24-bit mantissa (p.41); the exponent does not
    matter for them."""

    NAN = 0x7FFFFF  # NaN, not a number: +(2^23 - 1)
    NRES = 0x800000  # NRes, not at this resolution: -(2^23)
    PLUS_INFINITY = 0x7FFFFE  # +(2^23 - 2)
    MINUS_INFINITY = 0x800002  # -(2^23 - 2)


_SPECIAL_BY_MANTISSA = {s.value: s for s in FloatSpecial}
_MANTISSA_MAX = (1 << 23) - 3  # normal numbers: -(2^23 - 3) <= mantissa <= +(2^23 - 3) (p.41)
_EXPONENT_MIN, _EXPONENT_MAX = -128, 127


def _check_u32(value: int) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"a FLOAT-Type is 32 bits, not {value}")


def float_parts(value: int) -> tuple[int, int]:
    """(mantissa, exponent) of a FLOAT-Type, both signed: the top byte is the exponent, the low
    24 bits the mantissa, two's complement (p.40). Special values come back as their raw parts."""
    _check_u32(value)
    exponent = value >> 24
    mantissa = value & 0xFFFFFF
    if exponent & 0x80:
        exponent -= 0x100
    if mantissa & 0x800000:
        mantissa -= 0x1000000
    return mantissa, exponent


def decode_float(value: int) -> float | FloatSpecial:
    """A FLOAT-Type (u_32) as mantissa × 10^exponent (p.40), or a ``FloatSpecial`` for NaN, NRes
    and ±infinity (p.41). ``0xFF000140`` (320 × 10^-1) is 32.0."""
    _check_u32(value)
    special = _SPECIAL_BY_MANTISSA.get(value & 0xFFFFFF)
    if special is not None:
        return special
    mantissa, exponent = float_parts(value)
    if exponent >= 0:
        return float(mantissa * 10**exponent)
    return mantissa / 10**-exponent  # int / int: correctly rounded


def decimal_places(value: int) -> int:
    """How many digits after the point the monitor shows for this FLOAT-Type (p.41): minus the
    exponent when it is negative, else none."""
    return max(0, -float_parts(value)[1])


def _pack(mantissa: int, exponent: int) -> int:
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


def encode_float(value: float | FloatSpecial, exponent: int | None = None) -> int:
    """A number as a FLOAT-Type (u_32). ``math.nan`` and ``±math.inf`` become the special values,
    as does a ``FloatSpecial`` (encoded with exponent 0).

    With ``exponent`` given, the mantissa is ``value`` / 10^exponent rounded half-even (so
    ``encode_float(32.0, -1)`` is 0xFF000140, shown as "32.0"); a mantissa outside
    ±(2^23 - 3) is a ValueError. Without it, the shortest decimal that reads back as ``value``
    is used, with no trailing zeros after the point (72.0 → 72 × 10^0, 36.6 → 366 × 10^-1), rounded
    to the nearest representable number when it has more digits than the mantissa holds; a value
    whose exponent would exceed 127 is a ValueError, one below the smallest step becomes 0."""
    if isinstance(value, FloatSpecial):
        return _pack(value.value, 0)
    if math.isnan(value):
        return _pack(FloatSpecial.NAN.value, 0)
    if math.isinf(value):
        return _pack((FloatSpecial.PLUS_INFINITY if value > 0 else FloatSpecial.MINUS_INFINITY).value, 0)
    if exponent is not None:
        if not _EXPONENT_MIN <= exponent <= _EXPONENT_MAX:
            raise ValueError(f"a FLOAT-Type exponent is -128..127, not {exponent}")
        mantissa = int(Decimal(value).scaleb(-exponent).to_integral_value(rounding=ROUND_HALF_EVEN))
        if abs(mantissa) > _MANTISSA_MAX:
            raise ValueError(f"{value!r} needs mantissa {mantissa} at exponent {exponent}, beyond ±{_MANTISSA_MAX}")
        return _pack(mantissa, exponent)
    number = Decimal(repr(float(value)))
    if number == 0:
        return _pack(0, 0)
    sign, digits, exp = number.as_tuple()
    assert isinstance(exp, int)  # finite: NaN and infinities were handled above
    mantissa = int("".join(map(str, digits)))
    while exp < 0 and mantissa % 10 == 0:  # no trailing zeros after the point
        mantissa //= 10
        exp += 1
    # Drop the fewest digits that bring the mantissa into range and the exponent to -128 or
    # more, rounding once from the full digits (half-even), never digit by digit.
    dropped = max(0, _EXPONENT_MIN - exp)
    while (rounded := _round_half_even(mantissa, dropped)) > _MANTISSA_MAX:
        dropped += 1
    exp += dropped
    while exp < 0 and rounded and rounded % 10 == 0:  # rounding may have left zeros (3000000e-7)
        rounded //= 10
        exp += 1
    if exp > _EXPONENT_MAX:
        raise ValueError(f"{value!r} is beyond the FLOAT-Type's range")
    return _pack(-rounded if sign else rounded, exp)


def _round_half_even(mantissa: int, digits: int) -> int:
    """``mantissa`` / 10^digits rounded half-even (mantissa >= 0)."""
    if digits == 0:
        return mantissa
    step = 10**digits
    quotient, rest = divmod(mantissa, step)
    if 2 * rest > step or (2 * rest == step and quotient % 2):
        quotient += 1
    return quotient


# --- Primitive types (guide p.35-40) ---------------------------------------------------------------

RELATIVE_TICKS_PER_SECOND = 8000  # RelativeTime resolution 1/8 ms = 125 µs (p.36)


def relative_seconds(ticks: int) -> float:
    """A RelativeTime (or a difference of two) in seconds (p.36: 1/8 ms per tick)."""
    return ticks / RELATIVE_TICKS_PER_SECOND


def _bcd(byte: int, field: str) -> int:
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:
        raise CodecError("syntax", f"AbsoluteTime {field} 0x{byte:02X} is not BCD")
    return high * 10 + low


def decode_absolute_time(data: bytes) -> dt.datetime | None:
    """An AbsoluteTime (p.36): 8 BCD bytes century, year, month, day, hour, minute, second,
    sec_fractions (unused by the monitor, ignored). All bytes 0xFF is the invalid time: None.
    The result has no time zone (the monitor's clock). Raises ``CodecError``."""
    if len(data) != 8:
        raise CodecError("truncated", f"an AbsoluteTime is 8 bytes, not {len(data)}")
    if all(b == 0xFF for b in data):
        return None
    names = ("century", "year", "month", "day", "hour", "minute", "second")
    century, year, month, day, hour, minute, second = (_bcd(b, n) for b, n in zip(data[:7], names, strict=True))
    try:
        return dt.datetime(century * 100 + year, month, day, hour, minute, second)
    except ValueError as exc:
        raise CodecError("range", f"AbsoluteTime {data.hex(' ')}: {exc}") from None


def encode_absolute_time(when: dt.datetime | None) -> bytes:
    """The 8 AbsoluteTime bytes for ``when`` (sec_fractions 0), or the invalid time (all 0xFF)
    for None (p.36)."""
    if when is None:
        return b"\xff" * 8
    century, year = divmod(when.year, 100)
    fields = (century, year, when.month, when.day, when.hour, when.minute, when.second, 0)
    return bytes((v // 10) << 4 | v % 10 for v in fields)


class Cursor:
    """Reads the guide's big-endian types (p.35) from ``data[start:end]``, in order, checking
    every read against ``end``; reading past it raises ``CodecError("truncated")``. ``sub(n)``
    hands out the next ``n`` bytes as their own cursor, for a structure whose length field says
    how long it is (AttributeList, AVAType, PollInfoList ...): reads inside it cannot run into
    what follows it."""

    __slots__ = ("_data", "_end", "offset")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._end = len(data) if end is None else end
        if not 0 <= start <= self._end <= len(data):
            raise CodecError("truncated", f"cursor bounds {start}..{end} outside a buffer of {len(data)} bytes")
        self.offset = start

    @property
    def remaining(self) -> int:
        return self._end - self.offset

    def _take(self, n: int, what: str) -> int:
        if n < 0:
            raise CodecError("syntax", f"{what}: negative size {n}")
        if n > self.remaining:
            raise CodecError("truncated", f"{what} needs {n} byte(s) at offset {self.offset}, {self.remaining} left")
        at = self.offset
        self.offset += n
        return at

    def raw(self, n: int, what: str = "bytes") -> bytes:
        at = self._take(n, what)
        return self._data[at : at + n]

    def skip(self, n: int, what: str = "bytes") -> None:
        self._take(n, what)

    def sub(self, n: int, what: str = "structure") -> Cursor:
        at = self._take(n, what)
        return Cursor(self._data, at, at + n)

    def u8(self, what: str = "u_8") -> int:
        return self._data[self._take(1, what)]

    def u16(self, what: str = "u_16") -> int:
        at = self._take(2, what)
        return int.from_bytes(self._data[at : at + 2], "big")

    def u32(self, what: str = "u_32") -> int:
        at = self._take(4, what)
        return int.from_bytes(self._data[at : at + 4], "big")

    def i16(self, what: str = "i_16") -> int:
        at = self._take(2, what)
        return int.from_bytes(self._data[at : at + 2], "big", signed=True)

    def oid(self, what: str = "OIDType") -> int:
        """OIDType, u_16 (p.37)."""
        return self.u16(what)

    def type_(self, what: str = "TYPE") -> tuple[int, int]:
        """TYPE = (partition, code) (p.37)."""
        return self.u16(what), self.u16(what)

    def relative_time(self, what: str = "RelativeTime") -> int:
        """RelativeTime, u_32 ticks of 1/8 ms (p.36); ``relative_seconds`` converts."""
        return self.u32(what)

    def absolute_time(self, what: str = "AbsoluteTime") -> dt.datetime | None:
        """AbsoluteTime, 8 BCD bytes (p.36); None for the invalid time (all 0xFF)."""
        return decode_absolute_time(self.raw(8, what))

    def float_type(self, what: str = "FLOAT-Type") -> float | FloatSpecial:
        """FLOAT-Type, u_32 (p.40)."""
        return decode_float(self.u32(what))

    def expect_end(self, what: str = "structure") -> None:
        """The structure must have been read to its last byte (p.285: "Verify that the length
        field of each AVAType is consistent with its value")."""
        if self.remaining:
            raise CodecError("syntax", f"{what} has {self.remaining} byte(s) left over at offset {self.offset}")
