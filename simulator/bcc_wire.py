"""The BCC wire format as the SpaceStation emulator (``simulator.bcc``) writes and reads it,
written from B. Braun's "Technical Interface Specification BCC" (document I0022_000030,
Version 4.0, 2019-03-20; "p.N" = its page header "Page N of 50", "3.x" = its sections).

It shares nothing with the console's codec on purpose: the two are written separately from
the same specification, so a mistake in one shows up as a disagreement with the other.

Link layer (3.2.3, CS-7099, p.8)::

    <SOH> length <STX> bedId "/1/1>" information <ETB> check <EOT>   (more blocks follow)
    <SOH> length <STX> bedId "/1/1>" information <ETX> check <EOT>   (the last block)

``length`` is the length of the whole message, SOH to EOT inclusive, as 5 ASCII digits;
``check`` is the byte sum, modulo 256, of everything from SOH to ETX/ETB inclusive, as
5 ASCII digits. Both describe the message *before* character stuffing (3.2.3.1, p.8), which
replaces D by EX, E by EE, d by ex and e by ee over the complete message just before it is
sent, and is undone strictly left to right (p.9: "EEX" is "EX").

A response's information is one or more quadruples ``time,address,parameter,value``
separated by RS (3.2.5.3, CS-7104, pp.10-11); an address is ``501xy``, x the pillar 1..3 and
y the slot counted bottom-up, 1..9 then A..O (p.11); ``50100`` is the SpaceStation itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACK", "COMDEVICE_ADDRESS", "EOT", "ETB", "ETX", "NAK", "NO_VALUE", "RS", "SOH", "STX",
    "Control", "Frame", "Noise", "RawFrame", "StreamReader", "WireError",
    "build_frame", "checksum", "destuff", "parse_frame", "parse_quadruples", "pump_address",
    "quadruple", "slot_char", "slot_number", "stuff",
]

SOH = 0x01  # start of header (p.8)
STX = 0x02  # start of text
ETX = 0x03  # end of text: this block is the last one
EOT = 0x04  # end of transmission
ACK = 0x06  # host: block received without error (p.8)
NAK = 0x15  # host: block received with an error, send it again
ETB = 0x17  # end of text block: more blocks follow
RS = 0x1E  # record separator between quadruples (p.11)

BED_SUFFIX = b"/1/1>"  # follows every bed id "to be compatible with older BCC versions" (3.2.4, p.9)
COMDEVICE_ADDRESS = "50100"  # the SpaceStation's own parameters (pp.12-16)
NO_VALUE = "_NV"  # "this is not to be interpreted as zero" (3.2.6, p.11)
MAX_BED_ID = 15  # characters, "/1/1>" not counted (3.2.4, p.9; history v1.4, p.49)
# Overhead of a frame besides bed id and information: SOH, 5 length digits, STX, "/1/1>",
# ETX/ETB, 5 checksum digits, EOT.
FRAME_OVERHEAD = 1 + 5 + 1 + len(BED_SUFFIX) + 1 + 5 + 1
_SLOTS = "123456789ABCDEFGHIJKLMNO"  # slot 1..24 (p.11)
_STUFF = {ord("D"): b"EX", ord("E"): b"EE", ord("d"): b"ex", ord("e"): b"ee"}
_UNSTUFF = {b"EX": b"D", b"EE": b"E", b"ex": b"d", b"ee": b"e"}


class WireError(ValueError):
    """Bytes that are not a BCC frame (wrong length, checksum, structure or stuffing)."""


def valid_bed_id(bed_id: str) -> bool:
    """At most 15 characters, each ASCII 47-57 or 65-122 (3.2.4, p.9)."""
    return 0 < len(bed_id) <= MAX_BED_ID and all(47 <= ord(c) <= 57 or 65 <= ord(c) <= 122 for c in bed_id)


def checksum(head: bytes) -> int:
    """The byte sum modulo 256 of ``head``, which runs from SOH to ETX/ETB inclusive (p.8)."""
    return sum(head) % 256


def build_frame(bed_id: str, information: str | bytes, *, last: bool = True) -> bytes:
    """One frame, not stuffed: information is text (sent as UTF-8, 3.2.5.3 p.11) or bytes."""
    body = bed_id.encode("ascii") + BED_SUFFIX + (information.encode("utf-8") if isinstance(information, str)
                                                   else information)
    length = FRAME_OVERHEAD - len(BED_SUFFIX) + len(body)
    if length > 99999:
        raise WireError(f"a frame of {length} bytes does not fit the 5-digit length field")
    head = bytes([SOH]) + b"%05d" % length + bytes([STX]) + body + bytes([ETX if last else ETB])
    return head + b"%05d" % checksum(head) + bytes([EOT])


def stuff(message: bytes) -> bytes:
    """Replace D, E, d, e over the complete message (3.2.3.1, CS-7100, p.8)."""
    out = bytearray()
    for b in message:
        out += _STUFF.get(b, bytes([b]))
    return bytes(out)


def destuff(message: bytes) -> bytes:
    """Undo ``stuff`` left to right, never by search and replace (p.9). A stuffed message
    never contains D or d, and every E or e starts a pair; anything else is a WireError."""
    out = bytearray()
    i = 0
    while i < len(message):
        b = message[i]
        if b in (ord("D"), ord("d")):
            raise WireError(f"{chr(b)!r} at byte {i}: a stuffed message never contains it")
        if b in (ord("E"), ord("e")):
            pair = message[i:i + 2]
            if pair not in _UNSTUFF:
                raise WireError(f"{pair!r} at byte {i} is not a stuffed pair")
            out += _UNSTUFF[pair]
            i += 2
            continue
        out.append(b)
        i += 1
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    """A checked, destuffed frame."""

    bed_id: str
    information: bytes
    last: bool  # ETX: the last block; ETB: more follow

    @property
    def text(self) -> str:
        return self.information.decode("utf-8", errors="replace")


def parse_frame(message: bytes) -> Frame:
    """A whole destuffed message, SOH to EOT, checked against its length and checksum."""
    if len(message) < FRAME_OVERHEAD - len(BED_SUFFIX) or message[0] != SOH or message[-1] != EOT:
        raise WireError("not framed by SOH ... EOT")
    if message[6] != STX:
        raise WireError("no STX after the length field")
    digits = message[1:6]
    if not digits.isdigit():
        raise WireError(f"length field {digits!r} is not 5 digits")
    if int(digits) != len(message):
        raise WireError(f"length field says {int(digits)}, the message has {len(message)} bytes")
    end = message[-7]
    if end not in (ETX, ETB):
        raise WireError("no ETX or ETB before the checksum")
    check = message[-6:-1]
    if not check.isdigit():
        raise WireError(f"checksum field {check!r} is not 5 digits")
    if int(check) != checksum(message[:-6]):
        raise WireError(f"checksum field says {int(check)}, the bytes sum to {checksum(message[:-6])}")
    body = message[7:-7]
    # '>' is never part of a bed id (ASCII 47-57, 65-122, p.9): the first one ends the header.
    end_of_header = body.find(b">") + 1
    if end_of_header < len(BED_SUFFIX) + 1 or body[end_of_header - len(BED_SUFFIX):end_of_header] != BED_SUFFIX:
        raise WireError("no bedId/1/1> header")
    bed_id = body[:end_of_header - len(BED_SUFFIX)].decode("ascii", errors="replace")
    return Frame(bed_id, body[end_of_header:], end == ETX)


# --- the byte stream --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Control:
    """An ACK or NAK byte outside a frame (p.8: sent unframed, one byte)."""

    byte: int

    @property
    def name(self) -> str:
        return "ACK" if self.byte == ACK else "NAK"


@dataclass(frozen=True)
class RawFrame:
    """SOH ... EOT as it came on the wire (stuffed when stuffing is on)."""

    raw: bytes


@dataclass(frozen=True)
class Noise:
    """Bytes that belong to no frame: line noise, or a frame cut short by the next SOH."""

    raw: bytes


class StreamReader:
    """Splits a byte stream into ACK/NAK bytes, frames (SOH to the next EOT) and noise.
    EOT ends a frame: it is neither a stuffed character nor a digit, and a value is text."""

    MAX_FRAME = 100_000  # a 5-digit length field cannot describe more

    def __init__(self) -> None:
        self._frame: bytearray | None = None
        self._noise = bytearray()

    def feed(self, data: bytes) -> list[Control | RawFrame | Noise]:
        out: list[Control | RawFrame | Noise] = []

        def flush_noise() -> None:
            if self._noise:
                out.append(Noise(bytes(self._noise)))
                self._noise.clear()

        for b in data:
            if self._frame is not None:
                if b == SOH:  # a new frame before this one ended: this one was cut short
                    self._noise += self._frame
                    flush_noise()
                    self._frame = bytearray([SOH])
                    continue
                self._frame.append(b)
                if b == EOT:
                    out.append(RawFrame(bytes(self._frame)))
                    self._frame = None
                elif len(self._frame) > self.MAX_FRAME:
                    self._noise += self._frame
                    self._frame = None
                    flush_noise()
                continue
            if b == SOH:
                flush_noise()
                self._frame = bytearray([SOH])
            elif b in (ACK, NAK):
                flush_noise()
                out.append(Control(b))
            else:
                self._noise.append(b)
        flush_noise()
        return out


# --- the information field -----------------------------------------------------------------------------
def slot_char(slot: int) -> str:
    """Slot 1..24 as the address writes it: 1..9 then A..O (p.11)."""
    if not 1 <= slot <= len(_SLOTS):
        raise ValueError(f"slot {slot} is not 1..24")
    return _SLOTS[slot - 1]


def slot_number(char: str) -> int | None:
    """The slot an address character names, or None."""
    i = _SLOTS.find(char) if len(char) == 1 else -1
    return i + 1 if i >= 0 else None


def pump_address(pillar: int, slot: int) -> str:
    """``501xy`` (p.11): x the pillar 1..3, y the slot counted bottom-up."""
    if not 1 <= pillar <= 3:
        raise ValueError(f"pillar {pillar} is not 1..3")
    return f"501{pillar}{slot_char(slot)}"


def quadruple(time_s: int, address: str, parameter: str, value: str) -> str:
    """``time,address,parameter,value`` (3.2.5.3, p.10); the commas are part of it."""
    return f"{time_s},{address},{parameter},{value}"


def parse_quadruples(information: str) -> list[tuple[int, str, str, str]]:
    """The quadruples of a response, split at RS; a value may itself contain commas, so only
    the first three commas separate fields."""
    out = []
    for item in information.split(chr(RS)):
        time_s, address, parameter, value = item.split(",", 3)
        out.append((int(time_s), address, parameter, value))
    return out
