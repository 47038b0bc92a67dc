"""Masimo ASCII 1 decoder (Rad-8, Radical-7 serial output), one line per second.

A line is ``MM/DD/YY HH:MM:SS`` followed by space-separated ``KEY=VALUE`` tokens, parsed
by key, never by column. At one line per second speed does not matter, so this decoder is
the plain careful path only. Choices PROTOCOL.md leaves open are in docs/protocol.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from console.drivers.base import Driver, LineSettings
from console.drivers.icl import (
    MAX_LINE,
    MAX_OPEN,
    _RangeError,
    _SyntaxError,
    parse_decimal,
    parse_int,
)
from console.records import DecoderStats, Observations, Rejection, Value


@dataclass(slots=True)
class MasimoReading:
    """An accepted Masimo ASCII 1 line. ``values`` holds SPO2, PR, PI (``None`` when dashed),
    EXC and ALARM as integers from their hex fields, and any other key raw as text."""

    time: dt.datetime  # device clock, no zone
    values: dict[str, Value]
    type: str = "MASIMO"

    def to_json(self) -> dict:
        return {"type": "MASIMO", "time": self.time.isoformat(), "values": self.values}


Decoded = MasimoReading | Rejection

_PRINTABLE = bytes(range(0x20, 0x7F))
_STAMP_RE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
_HEX_RE = re.compile(r"[0-9A-Fa-f]{1,8}")
# "---", "--.-", "--.--": only dashes (and the decimal point of the field's layout).
_DASHES_RE = re.compile(r"-[-.]*")

# Wire key -> (decoded name, parser); the order here is the order in ``values``.
_NUMERIC = {
    "SPO2": ("SPO2", lambda t: parse_int(t, 0, 100, "SPO2")),
    "BPM": ("PR", lambda t: parse_int(t, 0, 350, "BPM")),
    "PI": ("PI", lambda t: parse_decimal(t, 0, 20, "PI")),
}
_BIT_FIELDS = ("EXC", "ALARM")
_DECODED_NAMES = ("SPO2", "PR", "PI", "EXC", "ALARM")


def decode_line(text: str, raw: bytes) -> tuple[Decoded, int]:
    """Decode one printable, non-blank line (no line end). Returns the item and the number
    of tokens without ``=`` that were ignored."""
    stamp = _STAMP_RE.match(text)
    if stamp is None or (len(text) > stamp.end() and text[stamp.end()] != " "):
        return Rejection("syntax", raw, "line does not start with MM/DD/YY HH:MM:SS"), 0
    month, day, year, hour, minute, second = (int(g) for g in stamp.groups())
    try:
        time = dt.datetime(2000 + year, month, day, hour, minute, second)
    except ValueError as exc:
        return Rejection("syntax", raw, f"invalid date or time: {exc}"), 0

    tokens: dict[str, str] = {}
    ignored = 0
    for token in text[stamp.end():].split():
        key, eq, value = token.partition("=")
        if not eq:
            ignored += 1  # not a KEY=VALUE token: ignored, counted as an unknown key
            continue
        if not key:
            return Rejection("syntax", raw, f"token {token!r} has no key"), 0
        if key in tokens:
            return Rejection("syntax", raw, f"key {key} appears twice"), 0
        tokens[key] = value
    if not tokens:
        return Rejection("syntax", raw, "no KEY=VALUE tokens"), 0

    values: dict[str, Value] = dict.fromkeys(_DECODED_NAMES)
    range_error = None
    try:
        for key, (name, parse) in _NUMERIC.items():
            if key in tokens:
                number = tokens[key].removesuffix("%")  # a unit, not part of the number
                if _DASHES_RE.fullmatch(number):
                    continue  # not available: stays None
                try:
                    values[name] = parse(number)
                except _RangeError as exc:
                    range_error = range_error or str(exc)
        for key in _BIT_FIELDS:
            if key in tokens and not _DASHES_RE.fullmatch(tokens[key]):
                if not _HEX_RE.fullmatch(tokens[key]):
                    raise _SyntaxError(f"{key}: {tokens[key]!r} is not hexadecimal")
                values[key] = int(tokens[key], 16)
    except _SyntaxError as exc:
        return Rejection("syntax", raw, str(exc)), 0
    if range_error is not None:
        return Rejection("range", raw, range_error), 0
    for key, value in tokens.items():
        if key not in _NUMERIC and key not in _BIT_FIELDS:
            # Kept exactly as sent. A raw key named like a decoded one (only PR can be)
            # gets a suffix so it cannot overwrite the decoded BPM.
            values[key + "_RAW" if key in values else key] = value
    return MasimoReading(time, values), ignored


class MasimoDecoder:
    """Incremental Masimo ASCII 1 decoder with the same interface as ``IclDecoder``."""

    protocol = "masimo"

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._open = b""  # an unfinished line
        self._skipping = False  # inside an over-long line already rejected as too_long

    def feed(self, data: bytes) -> list[Decoded]:
        out: list[Decoded] = []
        if not data:
            return out
        lines = (self._open + bytes(data)).split(b"\n")
        self._open = lines.pop()
        for line in lines:
            if self._skipping:
                self._skipping = False  # the end of a line already rejected as too_long
                continue
            self._line(line, out)
        if self._skipping:
            self._open = b""
        elif len(self._open) > MAX_OPEN:
            self._reject(out, "too_long", self._open[:MAX_LINE],
                         f"no line end within {MAX_LINE} bytes")
            self._open = b""
            self._skipping = True
        return out

    def close(self) -> list[Decoded]:
        out: list[Decoded] = []
        if self._open.strip(b" \r"):
            self._reject(out, "truncated", self._open, "stream ended inside a line")
        else:
            self.stats.noise_bytes += len(self._open)
        self._open = b""
        self._skipping = False
        return out

    def _line(self, line: bytes, out: list[Decoded]) -> None:
        """One line without its `\\n`."""
        if len(line) > MAX_OPEN:
            self._reject(out, "too_long", line[:MAX_LINE], f"line longer than {MAX_LINE} bytes")
            return
        text = line[:-1] if line.endswith(b"\r") else line
        if not text.strip(b" "):
            self.stats.noise_bytes += len(line) + 1  # blank line: skipped, not a record
            return
        if text.translate(None, _PRINTABLE):
            self._reject(out, "encoding", line, "byte outside printable ASCII")
            return
        item, ignored = decode_line(text.decode("ascii"), line)
        if isinstance(item, Rejection):
            self.stats.rejected[item.reason] += 1
        else:
            self.stats.accepted += 1
            self.stats.unknown_keys += ignored
        out.append(item)

    def _reject(self, out: list[Decoded], reason: str, raw: bytes, detail: str) -> None:
        self.stats.rejected[reason] += 1
        out.append(Rejection(reason, raw, detail))


# ---------------------------------------------------------------------------- the driver
# PROTOCOL.md, EXC bits: which mean the probe cannot measure, and which that the signal is poor.
PROBE_PROBLEM = 0x001 | 0x002 | 0x020 | 0x080  # no sensor, defective, sensor off, unrecognised
SIGNAL_QUALITY = 0x004 | 0x010 | 0x400  # low perfusion, interference, low signal IQ
RAW_WORDS = {"EXC": "MASIMO_EXC", "ALARM": "MASIMO_ALARM"}  # kept in the record as hex text


def normalize(record: MasimoReading) -> Observations:
    """SPO2, PR, PI; the exception bits as the probe and signal-quality words; the raw bit
    fields as hex words for the record. The line's clock has no zone and one-second
    resolution, so the receive time is the better time stamp (device_ms None)."""
    v = record.values
    exc_bits = v.get("EXC")
    exc = exc_bits if isinstance(exc_bits, int) else 0
    values: dict[str, Value] = {"SPO2": v.get("SPO2"), "PR": v.get("PR"), "PI": v.get("PI"),
                                "SPO2_PROBE": "OFF" if exc & PROBE_PROBLEM else "OK",
                                "SPO2_SIGNAL": "LOW" if exc & SIGNAL_QUALITY else "OK"}
    for key, name in RAW_WORDS.items():
        if isinstance(v.get(key), int):
            values[name] = f"{v[key]:04X}"
    return Observations(None, None, values)


def upgrade_recorded(values: dict) -> dict:
    """Files written before normalized records kept the exception bits only (MASIMO_EXC):
    the signal-quality word is derived from them as the session derived it then."""
    exc = values.get("MASIMO_EXC")
    if isinstance(exc, str) and "SPO2_SIGNAL" not in values:
        try:
            bits = int(exc, 16)
        except ValueError:
            return values
        values = {**values, "SPO2_SIGNAL": "LOW" if bits & SIGNAL_QUALITY else "OK"}
    return values


DRIVER = Driver(
    name="masimo",
    title="Masimo ASCII 1 (Rad-8, Radical-7)",
    description="Masimo ASCII 1 serial output of Rad-8 and Radical-7 pulse oximeters (SpO2, PR, PI)",
    roles=frozenset({"vitals"}),
    line=LineSettings(9600),  # PROTOCOL.md: 9600 8N1, no handshake
    decoder=MasimoDecoder,
    normalize=normalize,
    upgrade_recorded=upgrade_recorded,
)
