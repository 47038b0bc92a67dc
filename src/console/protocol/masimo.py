"""Masimo ASCII 1 decoder (Rad-8, Radical-7 serial output), one line per second.

A line is ``MM/DD/YY HH:MM:SS`` followed by space-separated ``KEY=VALUE`` tokens, parsed
by key, never by column. At one line per second speed does not matter, so this decoder is
the plain careful path only. Choices PROTOCOL.md leaves open are in docs/protocol.md.
"""

from __future__ import annotations

import datetime as dt
import re

from console.protocol.icl import (
    MAX_LINE,
    MAX_OPEN,
    _RangeError,
    _SyntaxError,
    parse_decimal,
    parse_int,
)
from console.records import Decoded, DecoderStats, MasimoReading, Rejection, Value

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
