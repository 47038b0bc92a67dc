"""B. Braun Space BCC (SpaceStation / SpaceCom ComDevice): the wire-level pieces a driver builds on.

Pure functions and one small state machine, written from B. Braun's "Technical Interface
Specification BCC" (document I0022_000030, Version 4.0, 2019-03-20); "p.N" below is the page
number in the spec's page header, "CS-70xx" its requirement ids. This module is not a driver (it
is not in ``DRIVER_MODULES``): a future read-only ``bbraun`` driver uses it for

- the link layer (3.2.3, CS-7099, p.8): ``encode_frame`` / ``decode_frame`` for
  ``<SOH>length<STX>bedId/1/1>information<ETX|ETB>check<EOT>``, where length is the 5-digit byte
  count of the whole non-stuffed message and check the 5-digit byte sum mod 256 from SOH to
  ETX/ETB inclusive; ``checksum``;
- character stuffing (3.2.3.1, CS-7100, pp.8-9): ``stuff`` / ``destuff`` (D->EX, E->EE, d->ex,
  e->ee, applied after the checksum; destuffed strictly left to right);
- the bed id (3.2.4, CS-7101, p.9): at most 15 characters from ASCII 47-57 and 65-122, followed
  by "/1/1>"; ``DEFAULT_BED_ID`` ("1") for the first ADMIN:ALIVE;
- the incremental ``BccFrameReader``: bytes split anyhow in, ``BccFrame``, ``LinkControl`` (an
  ACK or NAK between frames) or ``console.records.Rejection`` out; never raises;
- the read-only requests (3.2.6, pp.11-14): ``encode_request`` builds ADMIN:ALIVE, ADMIN:VERSION,
  MEM:GET and MEM:GETSLOT#xy and refuses any other text, so nothing built here can program a
  pump or reconfigure the ComDevice; ``ACK_BYTE`` / ``NAK_BYTE`` answer each received block
  (3.2.3: ACK for a good block, NAK for a bad one, which the ComDevice then resends);
- responses (3.2.5.3, CS-7104, pp.10-11): ``parse_information`` splits the information field at
  RS into ``Quadruple`` (time, ``BccAddress``, parameter, ``BccValue``) and gives
  ``records()``: address -> parameter -> value; ``parse_version_reply`` reads the ADMIN:VERSION
  answer, which has no value field (p.12);
- "_NV" (no value; "not to be interpreted as zero", 3.2.6 p.11) and "_NA" (not available, since
  BCC 3.36): ``BccValue.valid`` is False for both and ``BccValue.decimal()`` returns None;
- the pump address "501xy" (3.2.5.3 p.11; 3.1 p.5): pillar x 1..3, slot y 1..9 then A..O,
  counted bottom-up; 50100 is the ComDevice itself;
- GNERR codes (3.3 and 3.3.1, pp.15-16): ``describe_gnerr``.

What the codec does not know: which parameters a site enabled, their units and meanings
(3.4), the ALARM1/ALARM2/STATUS/PREALARM bit words, request timing (3.2.5.1) and which BCC
operation mode the ComDevice runs (3.6.1.5). Pure functions raise ``BccCodecError`` (its
``reason`` is one of ``console.records.REJECT_REASONS``) on bytes they cannot read, and
``ValueError`` when asked to build something the protocol cannot carry. No Qt, no I/O, no clock.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal

from console.records import Rejection

__all__ = [
    "ACK",
    "ACK_BYTE",
    "ADMIN_ALIVE",
    "ADMIN_VERSION",
    "BED_ID_SUFFIX",
    "COM_DEVICE",
    "DEFAULT_BED_ID",
    "EOT",
    "ETB",
    "ETX",
    "GNACK",
    "GNERR",
    "MAX_BED_ID_LENGTH",
    "MAX_FRAME_LENGTH",
    "MEM_GET",
    "MIN_FRAME_LENGTH",
    "NAK",
    "NAK_BYTE",
    "NOT_AVAILABLE",
    "NOT_VALID",
    "RS",
    "SLOT_CHARACTERS",
    "SOH",
    "STX",
    "BccAddress",
    "BccCodecError",
    "BccFrame",
    "BccFrameReader",
    "BccValue",
    "InformationBlock",
    "LinkControl",
    "Quadruple",
    "VersionReply",
    "checksum",
    "decode_frame",
    "describe_gnerr",
    "destuff",
    "encode_frame",
    "encode_request",
    "getslot_command",
    "is_read_only_command",
    "parse_information",
    "parse_quadruple",
    "parse_version_reply",
    "stuff",
]


class BccCodecError(Exception):
    """Bytes that are not what the BCC spec allows. ``reason`` is one of
    ``console.records.REJECT_REASONS``: "truncated" (fewer bytes than the frame needs), "too_long"
    (beyond the size bound), "checksum" (the 5-digit check does not match), "syntax" (a field
    that cannot be what it stands for), "encoding" (not UTF-8), "range" (a well-formed address
    outside the rack)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --- Link layer: control characters (3.2.3, p.8; RS from 3.2.5.3, p.11) -------------------------

SOH = 0x01  # start of header
STX = 0x02  # start of text
ETX = 0x03  # end of text: the last data block
EOT = 0x04  # end of transmission
ACK = 0x06  # host: "received a data block without errors"
NAK = 0x15  # host: found an error; "the last data block will be retransmitted"
ETB = 0x17  # end of text block: more data blocks are available
RS = 0x1E  # record separator between quadruples

ACK_BYTE = bytes((ACK,))
NAK_BYTE = bytes((NAK,))

BED_ID_SUFFIX = b"/1/1>"  # "please note that the bedId is followed by '/1/1>'!" (p.8)
DEFAULT_BED_ID = "1"  # "The default bedId (with postfix) for request with ADMIN:ALIVE is 1/1/1>" (p.9)
MAX_BED_ID_LENGTH = 15  # p.9; the "/1/1>" does not count (history v1.4, p.49)
_LENGTH_DIGITS = 5
_CHECK_DIGITS = 5
# SOH + length + STX + "/1/1>" + ETX/ETB + check + EOT: everything but the bed id and information.
_OVERHEAD = 1 + _LENGTH_DIGITS + 1 + len(BED_ID_SUFFIX) + 1 + _CHECK_DIGITS + 1
MIN_FRAME_LENGTH = _OVERHEAD + 1  # a one-character bed id and an empty information field
MAX_FRAME_LENGTH = 10**_LENGTH_DIGITS - 1  # the 5-digit length field's ceiling

_FRAMING = frozenset((SOH, STX, ETX, EOT, ETB))
# Inside the information field: values are UTF-8 text (p.11) separated by RS; GNMODEL's value ends
# in CR (p.17). TAB and LF are let through as text whitespace. Any other C0 byte is no text a
# ComDevice sends, and the framing bytes would cut the frame.
_TEXT_CONTROLS = frozenset((RS, 0x09, 0x0A, 0x0D))
_FORBIDDEN_IN_INFORMATION = frozenset(b for b in range(0x20) if b not in _TEXT_CONTROLS)


def _bed_id_problem(bed_id: bytes) -> str | None:
    """Why ``bed_id`` is not one the spec allows (p.9), or None."""
    if not 1 <= len(bed_id) <= MAX_BED_ID_LENGTH:
        return f"a bed id has 1 to {MAX_BED_ID_LENGTH} characters, not {len(bed_id)}"
    for b in bed_id:
        # "In the Bed-ID only ASCII characters between ASCII-Code 47 to 57 and 65 to 122" (p.9)
        if not (47 <= b <= 57 or 65 <= b <= 122):
            return f"byte 0x{b:02X} is not allowed in a bed id (ASCII 47-57 and 65-122 only)"
    return None


def checksum(data: bytes) -> int:
    """The BCC check: the "modulo 256"-sum of the bytes from SOH to ETX/ETB, both included (p.8)."""
    return sum(data) % 256


# --- Character stuffing (3.2.3.1, CS-7100, pp.8-9) -----------------------------------------------

_STUFF = {ord("D"): b"EX", ord("E"): b"EE", ord("d"): b"ex", ord("e"): b"ee"}
_DESTUFF = {(ord("E"), ord("X")): ord("D"), (ord("E"), ord("E")): ord("E"),
            (ord("e"), ord("x")): ord("d"), (ord("e"), ord("e")): ord("e")}


def stuff(data: bytes) -> bytes:
    """The stuffed form of a whole message: 'D' -> "EX", 'E' -> "EE", 'd' -> "ex", 'e' -> "ee".
    Applied after the checksum is computed, directly before sending (p.8)."""
    out = bytearray()
    for b in data:
        out += _STUFF.get(b, bytes((b,)))
    return bytes(out)


def destuff(data: bytes) -> bytes:
    """Undo ``stuff``, strictly left to right (p.9: "EEX" is "EX", never "ED" or "D"). A stuffed
    message has no 'd' or 'D', and each 'E'/'e' is the first of a pair; anything else is
    ``BccCodecError("syntax")``."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b in (ord("E"), ord("e")):
            if i + 1 == n:
                raise BccCodecError("syntax", f"stuffed data ends in a lone {chr(b)!r}")
            pair = (b, data[i + 1])
            if pair not in _DESTUFF:
                raise BccCodecError("syntax", f"{chr(b)!r} followed by byte 0x{data[i + 1]:02X} is no stuffing pair")
            out.append(_DESTUFF[pair])
            i += 2
        elif b in (ord("D"), ord("d")):
            raise BccCodecError("syntax", f"{chr(b)!r} cannot occur in a stuffed message")
        else:
            out.append(b)
            i += 1
    return bytes(out)


# --- Frames (3.2.3, CS-7099, p.8) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BccFrame:
    """A received frame whose length, checksum, markers and bed id checked out."""

    bed_id: str  # without the "/1/1>"; ASCII by construction
    information: bytes  # the request or the RS-separated quadruples, destuffed, still UTF-8 bytes
    last_block: bool  # True for ETX ("the last one"), False for ETB ("more data blocks are available")


def encode_frame(bed_id: str, information: bytes | str, *, last_block: bool = True, stuffing: bool) -> bytes:
    """One frame as it goes on the wire: length and checksum over the non-stuffed message (p.8),
    then the whole message stuffed when the ComDevice has stuffing on. ``information`` as ``str``
    is encoded as UTF-8 (p.11). ``ValueError`` for a bed id the spec does not allow, for framing
    or other control bytes in the information, and for a message longer than 99999 bytes."""
    bed = bed_id.encode("ascii", errors="replace")
    problem = _bed_id_problem(bed)
    if problem is not None:
        raise ValueError(f"bed id {bed_id!r}: {problem}")
    info = information.encode("utf-8") if isinstance(information, str) else bytes(information)
    bad = _FORBIDDEN_IN_INFORMATION.intersection(info)
    if bad:
        raise ValueError(f"control byte(s) {sorted(bad)} cannot be carried in the information field")
    length = _OVERHEAD + len(bed) + len(info)
    if length > MAX_FRAME_LENGTH:
        raise ValueError(f"a frame of {length} bytes does not fit the 5-digit length field")
    head = bytes((SOH,)) + b"%05d" % length + bytes((STX,)) + bed + BED_ID_SUFFIX + info + bytes(
        (ETX if last_block else ETB,))
    message = head + b"%05d" % checksum(head) + bytes((EOT,))
    return stuff(message) if stuffing else message


def _digits(field: bytes) -> int | None:
    return int(field) if len(field) > 0 and all(0x30 <= b <= 0x39 for b in field) else None


def decode_frame(wire: bytes, *, stuffing: bool) -> BccFrame:
    """Read one complete frame, SOH to EOT, as received. The receiver destuffs first and then
    checks (p.8): the length field must equal the destuffed size, the check field the sum mod 256.
    Raises ``BccCodecError``; a frame that decodes is exactly ``encode_frame`` of its fields."""
    raw = destuff(wire) if stuffing else bytes(wire)
    if len(raw) > MAX_FRAME_LENGTH:
        raise BccCodecError("too_long", f"{len(raw)} bytes; the 5-digit length field ends at {MAX_FRAME_LENGTH}")
    if len(raw) < MIN_FRAME_LENGTH:
        raise BccCodecError("truncated", f"{len(raw)} bytes; the shortest frame has {MIN_FRAME_LENGTH}")
    if raw[0] != SOH:
        raise BccCodecError("syntax", f"a frame starts with SOH (0x01), not 0x{raw[0]:02X}")
    declared = _digits(raw[1:6])
    if declared is None:
        raise BccCodecError("syntax", f"length field {raw[1:6]!r} is not 5 ASCII digits")
    if declared != len(raw):
        reason = "truncated" if len(raw) < declared else "syntax"
        raise BccCodecError(reason, f"length field says {declared} bytes, the frame has {len(raw)}")
    if raw[-1] != EOT:
        raise BccCodecError("syntax", f"a frame ends with EOT (0x04), not 0x{raw[-1]:02X}")
    if raw[6] != STX:
        raise BccCodecError("syntax", f"byte 6 is 0x{raw[6]:02X}, not STX")
    end = raw[-7]
    if end not in (ETX, ETB):
        raise BccCodecError("syntax", f"0x{end:02X} before the check field, not ETX or ETB")
    received = _digits(raw[-6:-1])
    if received is None:
        raise BccCodecError("syntax", f"check field {raw[-6:-1]!r} is not 5 ASCII digits")
    computed = checksum(raw[:-6])
    if received != computed:
        raise BccCodecError("checksum", f"check field {received}, sum mod 256 is {computed}")
    body = raw[7:-7]
    gt = body.find(b">")
    if gt < 0 or not body[:gt].endswith(BED_ID_SUFFIX[:-1]):
        raise BccCodecError("syntax", "no bedId followed by '/1/1>' after STX")
    bed = body[: gt - (len(BED_ID_SUFFIX) - 1)]
    problem = _bed_id_problem(bed)
    if problem is not None:
        raise BccCodecError("syntax", problem)
    information = body[gt + 1:]
    bad = _FORBIDDEN_IN_INFORMATION.intersection(information)
    if bad:
        raise BccCodecError("syntax", f"control byte(s) {sorted(bad)} inside the information field")
    return BccFrame(bed.decode("ascii"), information, end == ETX)


# --- The incremental reader -------------------------------------------------------------------


class LinkControl(enum.IntEnum):
    """A single ACK or NAK byte between frames: what a ComDevice receives from its host (3.2.3).
    A client sees these only from a misbehaving peer; an emulator of the ComDevice reads them."""

    ACK = ACK
    NAK = NAK


class BccFrameReader:
    """Incremental receiver of BCC frames: ``feed`` takes bytes split anyhow and returns, in order,
    each ``BccFrame`` (decoded by ``decode_frame``), each ``LinkControl`` seen between frames, and
    a ``Rejection`` for each frame that failed. It never raises.

    - Bytes outside a frame other than ACK/NAK are counted in ``noise_bytes``.
    - A SOH inside a frame (no valid frame contains one) starts a new frame; the unfinished one is
      Rejection("truncated"). A SOH right after a SOH just restarts (the first counts as noise).
    - The length field bounds the frame as soon as its 5 digits are in: not digits is
      Rejection("syntax"), below the shortest frame Rejection("range"), above ``max_frame_length``
      Rejection("too_long"). Without stuffing a frame is exactly that long; with stuffing at most
      twice that (every stuffable byte doubles). More bytes without an EOT is a rejection, and
      the rest up to the next EOT or SOH is skipped. So the reader never holds more than
      ``max_frame_length`` bytes (twice that with stuffing).
    - A frame that ends but does not decode is a Rejection with ``decode_frame``'s reason; the
      spec's answer to it is a NAK (3.2.3), which is the driver's to send.

    A rejection's ``raw`` is the frame as received (stuffed, from its SOH), cut at the bound.
    """

    def __init__(self, *, stuffing: bool, max_frame_length: int = MAX_FRAME_LENGTH) -> None:
        if not MIN_FRAME_LENGTH <= max_frame_length <= MAX_FRAME_LENGTH:
            raise ValueError(f"max_frame_length must lie in {MIN_FRAME_LENGTH}..{MAX_FRAME_LENGTH}")
        self.stuffing = stuffing
        self.max_frame_length = max_frame_length
        self.noise_bytes = 0
        self._growth = 2 if stuffing else 1
        self._frame = bytearray()
        self._in_frame = False
        self._skipping = False  # after a rejection mid-frame, waiting for its EOT or a new SOH
        self._declared: int | None = None  # the length field, once its 5 digits are in

    @property
    def pending(self) -> int:
        """Bytes of the unfinished frame held (bounded as the class says)."""
        return len(self._frame)

    def feed(self, data: bytes) -> list[BccFrame | LinkControl | Rejection]:
        out: list[BccFrame | LinkControl | Rejection] = []
        for b in data:
            if b == SOH:
                self._begin(out)
            elif self._skipping:
                if b == EOT:
                    self._skipping = False
            elif not self._in_frame:
                if b in (ACK, NAK):
                    out.append(LinkControl(b))
                else:
                    self.noise_bytes += 1
            else:
                self._frame.append(b)
                if b == EOT:
                    out.append(self._end())
                elif len(self._frame) == 1 + _LENGTH_DIGITS:
                    self._check_length_field(out)
                elif self._declared is not None and len(self._frame) >= self._growth * self._declared:
                    # Unstuffed, the EOT had to be the byte at the declared length; stuffed, the
                    # message cannot grow to twice it. Either way this frame is already lost.
                    out.append(self._reject("syntax", f"no EOT within {len(self._frame)} bytes,"
                                            f" the length field says {self._declared}"))
        return out

    def close(self) -> list[BccFrame | LinkControl | Rejection]:
        """The end of the stream: an unfinished frame is Rejection("truncated")."""
        out: list[BccFrame | LinkControl | Rejection] = []
        if self._in_frame:
            if len(self._frame) > 1:
                out.append(self._reject("truncated", "the stream ended inside a frame", skip=False))
            else:
                self.noise_bytes += 1
                self._reset()
        self._skipping = False
        return out

    def _begin(self, out: list[BccFrame | LinkControl | Rejection]) -> None:
        if self._in_frame:
            if len(self._frame) > 1:
                out.append(self._reject("truncated", "a new SOH came before this frame's EOT", skip=False))
            else:
                self.noise_bytes += 1  # SOH SOH: the first opened nothing
        self._reset()
        self._in_frame = True
        self._frame.append(SOH)

    def _check_length_field(self, out: list[BccFrame | LinkControl | Rejection]) -> None:
        declared = _digits(bytes(self._frame[1:]))
        if declared is None:
            out.append(self._reject("syntax", f"length field {bytes(self._frame[1:])!r} is not 5 ASCII digits"))
        elif declared < MIN_FRAME_LENGTH:
            out.append(self._reject("range", f"length field {declared} is below the shortest frame"))
        elif declared > self.max_frame_length:
            out.append(self._reject("too_long", f"length field {declared} is above the bound {self.max_frame_length}"))
        else:
            self._declared = declared

    def _end(self) -> BccFrame | Rejection:
        wire = bytes(self._frame)
        self._reset()
        try:
            return decode_frame(wire, stuffing=self.stuffing)
        except BccCodecError as error:
            return Rejection(error.reason, wire, error.detail)

    def _reject(self, reason: str, detail: str, *, skip: bool = True) -> Rejection:
        rejection = Rejection(reason, bytes(self._frame), detail)
        self._reset()
        self._skipping = skip
        return rejection

    def _reset(self) -> None:
        self._frame = bytearray()
        self._in_frame = False
        self._skipping = False
        self._declared = None


# --- Addresses (3.2.5.3 p.11; 3.1 p.5; 3.2.6.4 pp.13-14) ------------------------------------------

SLOT_CHARACTERS = "123456789ABCDEFGHIJKLMNO"  # y: "1 to 9 and A to O" (p.11): slots 1..24, bottom-up
_MAX_PILLARS = 3  # "For x you will find the values 1 to 3" (p.11)
_DIGITS = "0123456789"
_ADDRESS_CHARACTERS = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # syntactically a digit or capital


@dataclass(frozen=True, slots=True, order=True)
class BccAddress:
    """Where a quadruple comes from: "501xy", pillar x (1..3, left to right) and slot y (1..24,
    written 1-9, A-O, bottom-up). Pillar 0, slot 0 ("50100") is the ComDevice itself."""

    pillar: int
    slot: int

    def __post_init__(self) -> None:
        if (self.pillar, self.slot) == (0, 0):
            return
        if not 1 <= self.pillar <= _MAX_PILLARS or not 1 <= self.slot <= len(SLOT_CHARACTERS):
            raise ValueError(f"no pump at pillar {self.pillar}, slot {self.slot} (pillar 1-3, slot 1-24)")

    @property
    def is_com_device(self) -> bool:
        return self.pillar == 0

    @property
    def code(self) -> str:
        """The 5-character address as the wire writes it."""
        if self.is_com_device:
            return "50100"
        return f"501{self.pillar}{SLOT_CHARACTERS[self.slot - 1]}"

    @classmethod
    def parse(cls, text: str) -> BccAddress:
        """``BccCodecError`` for anything but "50100" or "501" + pillar + slot character."""
        if text == "50100":
            return COM_DEVICE
        if len(text) != 5 or not text.startswith("501") or text[3] not in _DIGITS or text[4] not in _ADDRESS_CHARACTERS:
            raise BccCodecError("syntax", f"address {text!r} is not 501xy")
        x, y = text[3], text[4]
        if x not in "123" or y not in SLOT_CHARACTERS:
            raise BccCodecError("range", f"address {text!r}: pillar 1-3 and slot 1-9/A-O only")
        return cls(int(x), SLOT_CHARACTERS.index(y) + 1)


COM_DEVICE = BccAddress(0, 0)


# --- Requests (3.2.5.2 CS-7072 p.10; 3.2.6 pp.11-14) --------------------------------------------

ADMIN_ALIVE = "ADMIN:ALIVE"  # initialises the link, answers GNACK and the bed id (3.2.6.1)
ADMIN_VERSION = "ADMIN:VERSION"  # protocol version (3.2.6.2)
MEM_GET = "MEM:GET"  # every value of the ComDevice and all pumps, one block per pump (3.2.6.3)
# The only requests the spec documents, all of them reads. Anything else (the spec's undocumented
# third request area, p.10) could change a pump or the ComDevice, so it cannot be built here.
_READ_ONLY = re.compile(r"ADMIN:ALIVE|ADMIN:VERSION|MEM:GET|MEM:GETSLOT#[1-3][1-9A-O]")


def getslot_command(address: BccAddress) -> str:
    """"MEM:GETSLOT#xy": every value of the pump at pillar x, slot y (3.2.6.4, p.13)."""
    if address.is_com_device:
        raise ValueError("GETSLOT addresses a pump, not the ComDevice")
    return "MEM:GETSLOT#" + address.code[3:]


def is_read_only_command(command: str) -> bool:
    return _READ_ONLY.fullmatch(command) is not None


def encode_request(bed_id: str, command: str, *, stuffing: bool) -> bytes:
    """A request frame (always ETX) carrying one of the four documented read-only requests.
    ``ValueError`` for any other command: this console monitors and never controls. The first
    ADMIN:ALIVE goes to ``DEFAULT_BED_ID``; later requests must use the bed id of the
    ComDevice's answer (p.9: "you will get an error" otherwise)."""
    if not is_read_only_command(command):
        raise ValueError(f"{command!r} is not one of the read-only BCC requests")
    return encode_frame(bed_id, command.encode("ascii"), last_block=True, stuffing=stuffing)


# --- Responses (3.2.5.3 CS-7104 pp.10-11; 3.2.6 p.11) -------------------------------------------

NOT_VALID = "_NV"  # "If no value is available, the value is set to _NV ... not to be interpreted as zero"
NOT_AVAILABLE = "_NA"  # since BCC 3.36, optionally: "temporary not available due to technical reasons"
GNACK = "GNACK"  # the answer to ADMIN:ALIVE: <time>,50100,GNACK,0 (3.2.6.1)
GNERR = "GNERR"  # an error, its code in the value field (3.3)

# "all values are UTF8-strings. The protocol uses a decimal point '.' in any case" (p.11)
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class BccValue:
    """A parameter's value as sent: the raw text, with "_NV" / "_NA" kept as not valid."""

    raw: str

    @property
    def valid(self) -> bool:
        return self.raw not in (NOT_VALID, NOT_AVAILABLE)

    @property
    def text(self) -> str | None:
        """The value, or None when the ComDevice sent _NV or _NA."""
        return self.raw if self.valid else None

    def decimal(self) -> Decimal | None:
        """The value as a number (decimal point '.'), None for _NV / _NA (never zero);
        ``BccCodecError("syntax")`` for valid text that is not a plain decimal number."""
        if not self.valid:
            return None
        if _DECIMAL.fullmatch(self.raw) is None:
            raise BccCodecError("syntax", f"{self.raw!r} is not a decimal number")
        return Decimal(self.raw)


@dataclass(frozen=True, slots=True)
class Quadruple:
    """time,address,parameter,value (p.10): time is seconds since the ComDevice was switched on."""

    time: int
    address: BccAddress
    parameter: str
    value: BccValue


# time: seconds (bounded to keep int() cheap); parameter: the codes of 3.4 are letters and digits.
_QUADRUPLE = re.compile(r"([0-9]{1,10}),([^,]*),([A-Za-z0-9_]+),(.*)", re.DOTALL)
_VERSION_REPLY = re.compile(r"([0-9]{1,10}),([^,]*),([^,]*)", re.DOTALL)


def parse_quadruple(text: str) -> Quadruple:
    """One record; the value is everything after the third comma (so it may hold commas)."""
    match = _QUADRUPLE.fullmatch(text)
    if match is None:
        raise BccCodecError("syntax", f"{text[:80]!r} is not time,address,parameter,value")
    return Quadruple(int(match[1]), BccAddress.parse(match[2]), match[3], BccValue(match[4]))


@dataclass(frozen=True, slots=True)
class InformationBlock:
    """A response's information field, split at RS. ``malformed`` keeps each record that did not
    read (raw bytes and reason), so no record is dropped unseen."""

    quadruples: tuple[Quadruple, ...]
    malformed: tuple[Rejection, ...]

    def records(self) -> dict[BccAddress, dict[str, BccValue]]:
        """Address -> parameter -> value, in the order received; a parameter repeated for the
        same address keeps the last value."""
        out: dict[BccAddress, dict[str, BccValue]] = {}
        for q in self.quadruples:
            out.setdefault(q.address, {})[q.parameter] = q.value
        return out

    def errors(self) -> list[tuple[BccAddress, str]]:
        """Each GNERR in the block: where, and its code (``describe_gnerr``)."""
        return [(q.address, q.value.raw) for q in self.quadruples if q.parameter == GNERR]


def parse_information(information: bytes) -> InformationBlock:
    """The quadruples of a response (p.11: "separated by the ASCII-character 'record separator'
    (1Eh)"). Never raises: a record that is not UTF-8 or not a quadruple goes to ``malformed``."""
    quadruples: list[Quadruple] = []
    malformed: list[Rejection] = []
    if not information:
        return InformationBlock((), ())
    for record in information.split(bytes((RS,))):
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError as error:
            malformed.append(Rejection("encoding", record, f"not UTF-8: {error.reason}"))
            continue
        try:
            quadruples.append(parse_quadruple(text))
        except BccCodecError as error:
            malformed.append(Rejection(error.reason, record, error.detail))
    return InformationBlock(tuple(quadruples), tuple(malformed))


@dataclass(frozen=True, slots=True)
class VersionReply:
    """The answer to ADMIN:VERSION: "<time>,50100,<version>", no value field (3.2.6.2, p.12)."""

    time: int
    address: BccAddress
    version: str  # as sent, e.g. "V3.30"


def parse_version_reply(information: bytes) -> VersionReply | Quadruple:
    """The ADMIN:VERSION answer, or the GNERR quadruple the ComDevice may send instead.
    ``BccCodecError`` for anything else."""
    try:
        text = information.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BccCodecError("encoding", f"not UTF-8: {error.reason}") from None
    match = _VERSION_REPLY.fullmatch(text)
    if match is not None:
        return VersionReply(int(match[1]), BccAddress.parse(match[2]), match[3])
    quadruple = parse_quadruple(text)
    if quadruple.parameter != GNERR:
        raise BccCodecError("syntax", f"{text[:80]!r} is neither a version answer nor GNERR")
    return quadruple


# GNERR codes (3.3, p.15) and the extended ones, which the website must enable (3.3.1, p.15).
_GNERR_MEANINGS = {
    "11": "no further data available or no pumps in the system",
    "39": "pump was removed from the rack frame (sent once) or can't be reached by a request",
    "68": "request has a wrong syntax or checksum",
    "811": "a wrong address of a pump or pillar was given in GETSLOT#xy",
}


def describe_gnerr(code: str) -> str:
    if code in _GNERR_MEANINGS:
        return _GNERR_MEANINGS[code]
    if code[:1] == "4":
        return f"pump communication error for this slot (extended code {code})"
    if code[:1] == "5":
        return f"invalid topology data, e.g. no working Space Cover Comfort (extended code {code})"
    return f"error code {code!r} is not in the BCC specification"
