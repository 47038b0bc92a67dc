"""The emulated IntelliVue monitor's own low-level encoding, written from the "Data Export
Interface Programming Guide" (Philips 4535 642 59271, Rev. G.0; "p.N" is the page printed in
the guide) and from nothing else: MIB/RS232 Fixed Baudrate framing (p.30-32), FLOAT-Type
(p.40-41), AbsoluteTime (p.36), a big-endian reader for the client's requests (p.35: network
byte order) and the serial frame budget (p.30).

It shares no code with the console's codec (the driver's ``intellivue_codec``) on purpose: the
emulator is the device the console's driver is tested against, so a mistake in one
implementation must not be hidden by the same mistake in the other.
tests/test_intellivue_primitives.py checks this module against the guide's printed examples
and against the console's codec.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "BOF",
    "CONTROL_ESCAPE",
    "DATA_EXPORT_PROTOCOL_ID",
    "EOF",
    "MSG_TYPE_COMMAND",
    "Damaged",
    "FloatSpecial",
    "Frame",
    "FrameBudget",
    "FrameReader",
    "PacedQueue",
    "Truncated",
    "WireError",
    "WireReader",
    "decode_float",
    "encode_absolute_time",
    "encode_float",
    "escape",
    "fcs",
    "fcs_field",
    "frame",
    "frame_header",
    "wrap",
]

# --- MIB/RS232 Fixed Baudrate framing (p.30-32) ---------------------------------------------------
BOF = 0xC0  # Beginning Of Frame
EOF = 0xC1  # End Of Frame
CONTROL_ESCAPE = 0x7D  # precedes a reserved byte, which is then sent XOR 0x20 (p.31)
ESCAPE_XOR = 0x20
RESERVED = frozenset((BOF, EOF, CONTROL_ESCAPE))
DATA_EXPORT_PROTOCOL_ID = 0x11  # FrameHdr.protocol_id of Data Export (p.30)
MSG_TYPE_COMMAND = 0x01  # FrameHdr.msg_type: Association Control or Data Export Command (p.31)
HEADER_LEN = 4  # FrameHdr: u_8 protocol_id, u_8 msg_type, u_16 length (p.30)
FCS_LEN = 2
MAX_USER_DATA = 0xFFFF  # FrameHdr.length is a u_16


def fcs(data: bytes) -> int:
    """The CRC-CCITT of IrLAP 1.1 / RFC 1171 (p.31; "not the XMODEM variation"): reflected
    polynomial x^16 + x^12 + x^5 + 1 (0x8408 shifting right), register preset to 0xFFFF. This is
    the register before the one's complement; the guide's example 1 prints it as 0xD964 for
    "0x3a 0x71"."""
    register = 0xFFFF
    for byte in data:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ 0x8408 if register & 1 else register >> 1
    return register


def fcs_field(data: bytes) -> bytes:
    """The FCS field as transmitted (p.31): the one's complement of ``fcs(data)``, LSB first."""
    sent = fcs(data) ^ 0xFFFF
    return bytes((sent & 0xFF, sent >> 8))


def escape(data: bytes) -> bytes:
    """Transparency (p.31): each BOF, EOF or control escape becomes 0x7D and the byte XOR 0x20."""
    out = bytearray()
    for byte in data:
        if byte in RESERVED:
            out += bytes((CONTROL_ESCAPE, byte ^ ESCAPE_XOR))
        else:
            out.append(byte)
    return bytes(out)


def wrap(content: bytes) -> bytes:
    """BOF, ``content`` (Hdr, User Data and FCS) made transparent, EOF. Used as is only to build
    deliberately damaged frames; ``frame`` builds a correct one."""
    return bytes((BOF,)) + escape(content) + bytes((EOF,))


def frame_header(user_data: bytes, protocol_id: int = DATA_EXPORT_PROTOCOL_ID,
                 msg_type: int = MSG_TYPE_COMMAND) -> bytes:
    """FrameHdr (p.30): the length counts the user data without transparency bytes (p.31)."""
    if len(user_data) > MAX_USER_DATA:
        raise ValueError(f"{len(user_data)} bytes of user data do not fit a frame (at most {MAX_USER_DATA})")
    return bytes((protocol_id, msg_type)) + len(user_data).to_bytes(2, "big")


def frame(user_data: bytes, protocol_id: int = DATA_EXPORT_PROTOCOL_ID, msg_type: int = MSG_TYPE_COMMAND) -> bytes:
    """One complete Fixed Baudrate frame around ``user_data`` (an Association Control or Data
    Export message): the FCS is computed over Hdr and User Data (p.31)."""
    content = frame_header(user_data, protocol_id, msg_type) + user_data
    return wrap(content + fcs_field(content))


@dataclass(frozen=True)
class Frame:
    """A frame whose FCS and length field are correct. The caller decides what to do with an
    unknown ``protocol_id`` or ``msg_type`` (the guide says: ignore it, p.31)."""

    protocol_id: int
    msg_type: int
    payload: bytes


@dataclass(frozen=True)
class Damaged:
    """A frame that was started (BOF seen) but cannot be used: ``reason`` says why."""

    reason: str
    size: int  # bytes between BOF and the end of the frame, after undoing transparency


class FrameReader:
    """A streaming reader of Fixed Baudrate frames, e.g. what the console writes to the
    monitor's serial port. ``feed(data)`` returns the frames (``Frame``) and the damaged frames
    (``Damaged``) completed by ``data``, in order; bytes may arrive split anywhere.

    Bytes outside a frame are line noise: they are counted (``noise_bytes``) and skipped. A BOF
    always starts a new frame (it never occurs inside one, p.31), so an unfinished frame before
    it is reported damaged. ``7D C1`` is the sender's frame abort (p.31): the frame is dropped
    and counted in ``aborted``, not reported as damaged."""

    def __init__(self, max_user_data: int = MAX_USER_DATA) -> None:
        self.max_user_data = max_user_data
        self.noise_bytes = 0
        self.aborted = 0
        self._buffer: bytearray | None = None  # None: hunting for a BOF
        self._escaped = False
        self._overflow = False

    @property
    def in_frame(self) -> bool:
        return self._buffer is not None

    def feed(self, data: bytes) -> list[Frame | Damaged]:
        out: list[Frame | Damaged] = []
        limit = HEADER_LEN + self.max_user_data + FCS_LEN
        for byte in data:
            if byte == BOF:
                if self._buffer is not None:
                    out.append(Damaged("a new frame began before this one's EOF", len(self._buffer)))
                self._start()
                continue
            buffer = self._buffer
            if buffer is None:
                self.noise_bytes += 1
                continue
            if byte == EOF:
                if self._escaped:
                    self.aborted += 1  # 7D C1: aborted by the sender, nothing to report
                else:
                    out.append(self._finish(buffer))
                self._buffer, self._escaped = None, False
                continue
            if self._escaped:
                self._escaped = False
                byte ^= ESCAPE_XOR
            elif byte == CONTROL_ESCAPE:
                self._escaped = True
                continue
            if self._overflow:
                continue
            if len(buffer) >= limit:
                self._overflow = True  # too long: the rest is skipped up to its EOF (or the next BOF)
                continue
            buffer.append(byte)
        return out

    def _start(self) -> None:
        self._buffer, self._escaped, self._overflow = bytearray(), False, False

    def _finish(self, content: bytearray) -> Frame | Damaged:
        if self._overflow:
            return Damaged(f"longer than a header, {self.max_user_data} bytes of user data and an FCS",
                           len(content))
        if len(content) < HEADER_LEN + FCS_LEN:
            return Damaged(f"{len(content)} bytes: too short for a header and an FCS", len(content))
        body, check = bytes(content[:-FCS_LEN]), bytes(content[-FCS_LEN:])
        if fcs_field(body) != check:
            return Damaged("FCS does not match", len(content))
        length = int.from_bytes(body[2:4], "big")
        if length != len(body) - HEADER_LEN:
            return Damaged(f"header length {length} but {len(body) - HEADER_LEN} bytes of user data",
                           len(content))
        return Frame(body[0], body[1], body[HEADER_LEN:])


# --- FLOAT-Type (p.40-41) ------------------------------------------------------------------------------
class FloatSpecial(enum.Enum):
    """The special FLOAT-Type mantissas (p.41); the exponent does not matter for them."""

    NAN = 0x7FFFFF  # Not a Number: +(2^23 - 1)
    NRES = 0x800000  # Not at this resolution: -(2^23)
    POS_INFINITY = 0x7FFFFE  # +(2^23 - 2)
    NEG_INFINITY = 0x800002  # -(2^23 - 2)


MANTISSA_MAX = (1 << 23) - 3  # the largest normal mantissa (p.41)
EXPONENT_MIN, EXPONENT_MAX = -128, 127


def _pack(exponent: int, mantissa: int) -> int:
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


def encode_float(value: float | FloatSpecial, exponent: int | None = None) -> int:
    """A FLOAT-Type (p.40): bits 31-24 the signed exponent, bits 23-0 the signed mantissa,
    value = mantissa * 10^exponent, two's complement both.

    ``exponent`` fixes the resolution, as a monitor does for each numeric (p.41: a negative
    exponent is the number of digits shown after the point): the value is rounded to it, and a
    value too large for the mantissa at that resolution is NRes ("not at this resolution").
    Without ``exponent`` the shortest exact decimal form is used (an integer keeps exponent 0),
    rounded to fit the mantissa. NaN and the infinities map to their special values."""
    if isinstance(value, FloatSpecial):
        return _pack(0, value.value)
    if math.isnan(value):
        return _pack(0, FloatSpecial.NAN.value)
    if math.isinf(value):
        return _pack(0, (FloatSpecial.POS_INFINITY if value > 0 else FloatSpecial.NEG_INFINITY).value)
    if exponent is not None:
        if not EXPONENT_MIN <= exponent <= EXPONENT_MAX:
            raise ValueError(f"FLOAT-Type exponent {exponent} outside {EXPONENT_MIN}..{EXPONENT_MAX}")
        mantissa = int(Decimal(repr(float(value))).scaleb(-exponent).to_integral_value())
        if abs(mantissa) > MANTISSA_MAX:
            return _pack(exponent, FloatSpecial.NRES.value)
        return _pack(exponent, mantissa)
    if value == int(value) and abs(int(value)) <= MANTISSA_MAX:
        return _pack(0, int(value))
    sign, digits, exp = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exp, int)
    mantissa = int("".join(map(str, digits)))
    while mantissa > MANTISSA_MAX:  # too many digits: drop the last one, rounding half to even
        quotient, rest = divmod(mantissa, 10)
        if rest > 5 or (rest == 5 and quotient % 2):
            quotient += 1
        mantissa, exp = quotient, exp + 1
    while exp < EXPONENT_MIN:  # finer than 10^-128: lose digits (all of them: zero)
        mantissa, exp = mantissa // 10, exp + 1
        if not mantissa:
            return _pack(0, 0)
    if exp > EXPONENT_MAX:
        return _pack(EXPONENT_MAX, FloatSpecial.NRES.value)
    return _pack(exp, -mantissa if sign else mantissa)


def decode_float(raw: int) -> float | FloatSpecial:
    """The value of a FLOAT-Type (p.40-41): a float, or the special value it marks."""
    exponent = (raw >> 24) & 0xFF
    mantissa = raw & 0xFFFFFF
    for special in FloatSpecial:
        if mantissa == special.value:
            return special
    if exponent >= 0x80:
        exponent -= 0x100
    if mantissa >= 0x800000:
        mantissa -= 0x1000000
    return float(Decimal(mantissa).scaleb(exponent))


# --- AbsoluteTime (p.36) ---------------------------------------------------------------------------------
def _bcd(n: int) -> int:
    return ((n // 10) << 4) | (n % 10)


def encode_absolute_time(when: dt.datetime | None) -> bytes:
    """AbsoluteTime (p.36): century, year, month, day, hour, minute, second, sec_fractions, each
    a BCD byte (year 99 is 0x99). ``None`` is the invalid time, 0xFF in every byte. The monitor's
    resolution is one second and sec_fractions is not used: it is sent as 0x00."""
    if when is None:
        return b"\xff" * 8
    fields = (when.year // 100, when.year % 100, when.month, when.day, when.hour, when.minute, when.second)
    return bytes(_bcd(n) for n in fields) + b"\x00"


# --- reading the client's requests (network byte order, p.35) -------------------------------------------
class WireError(ValueError):
    """A request that does not have the structure it claims."""


class Truncated(WireError):
    """A field runs past the end of the message (or of the length-counted part it is in)."""


class WireReader:
    """Reads big-endian fields from ``data`` starting at ``offset``. Every read names what it
    reads (``what``) so that an error says which field was missing. ``sub(n)`` returns a reader
    over the next ``n`` bytes: a length-counted structure cannot read into what follows it."""

    def __init__(self, data: bytes, offset: int = 0, context: str = "message") -> None:
        if not 0 <= offset <= len(data):
            raise Truncated(f"{context}: offset {offset} outside its {len(data)} bytes")
        self._data = bytes(data)
        self._at = offset
        self._context = context

    @property
    def offset(self) -> int:
        return self._at

    @property
    def remaining(self) -> int:
        return len(self._data) - self._at

    def raw(self, n: int, what: str = "bytes") -> bytes:
        if n < 0 or n > self.remaining:
            raise Truncated(f"{self._context}: {what} needs {n} bytes at offset {self._at}, "
                            f"{self.remaining} left")
        out = self._data[self._at : self._at + n]
        self._at += n
        return out

    def u8(self, what: str = "u_8") -> int:
        return self.raw(1, what)[0]

    def u16(self, what: str = "u_16") -> int:
        return int.from_bytes(self.raw(2, what), "big")

    def u32(self, what: str = "u_32") -> int:
        return int.from_bytes(self.raw(4, what), "big")

    def skip(self, n: int, what: str = "bytes") -> None:
        self.raw(n, what)

    def sub(self, n: int, what: str = "structure") -> WireReader:
        return WireReader(self.raw(n, what), context=f"{self._context}/{what}")

    def expect_end(self, what: str | None = None) -> None:
        if self.remaining:
            raise WireError(f"{what or self._context}: {self.remaining} bytes left over at offset {self._at}")


# --- the serial frame budget (p.30) ------------------------------------------------------------------
SERIAL_FRAMES_PER_WINDOW = 4  # "The monitor will process up to 4 frames within 128ms" (p.30)
SERIAL_WINDOW_S = 0.128


class FrameBudget:
    """At most ``frames`` frame starts in any ``window`` seconds (sliding). The guide sets this
    limit on what the monitor processes from a client (p.30: 4 frames within 128 ms, the monitor
    itself tolerating 5 for jitter); the emulator also applies it to what it sends. Times are the
    caller's (a monotonic timer), so this is testable without sleeping."""

    def __init__(self, frames: int = SERIAL_FRAMES_PER_WINDOW, window: float = SERIAL_WINDOW_S) -> None:
        if frames < 1 or window <= 0:
            raise ValueError("a frame budget needs at least one frame in a positive window")
        self.frames = frames
        self.window = window
        self._starts: deque[float] = deque()

    def _forget(self, now: float) -> None:
        # The same comparison as the check a test makes on recorded starts: now - start >= window.
        while self._starts and now - self._starts[0] >= self.window:
            self._starts.popleft()

    def wait(self, now: float) -> float:
        """Seconds until a frame may start (0.0: now)."""
        self._forget(now)
        if len(self._starts) < self.frames:
            return 0.0
        return max(self._starts[0] + self.window - now, 1e-6)

    def take(self, now: float) -> bool:
        """Count a frame starting at ``now`` if the budget allows it; False (not counted) if not."""
        if self.wait(now) > 0.0:
            return False
        self._starts.append(now)
        return True


class PacedQueue:
    """Frames waiting for the serial line, sent no faster than ``budget`` allows. A full queue
    (``max_frames``) refuses the newest frame, as a device's full transmit buffer would, and
    counts it in ``dropped``: nothing is lost without being counted. ``started`` keeps the start
    time of the last ``history`` frames sent (for tests and the bench)."""

    def __init__(self, budget: FrameBudget | None = None, max_frames: int = 256, history: int = 4096) -> None:
        self.budget = budget or FrameBudget()
        self.max_frames = max_frames
        self.dropped = 0
        self.sent = 0
        self.started: deque[float] = deque(maxlen=history)
        self._queue: deque[bytes] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, data: bytes) -> bool:
        if len(self._queue) >= self.max_frames:
            self.dropped += 1
            return False
        self._queue.append(data)
        return True

    def wait(self, now: float) -> float | None:
        """Seconds until the next frame may go (0.0: now); None when nothing is waiting."""
        return self.budget.wait(now) if self._queue else None

    def next_frame(self, now: float) -> bytes | None:
        """The next frame if it may start at ``now`` (its start is then recorded), else None."""
        if not self._queue or not self.budget.take(now):
            return None
        data = self._queue.popleft()  # before counting it: sent + queued never counts it twice
        self.started.append(now)
        self.sent += 1
        return data
