"""ICL/1 decoder: framing, checksum, body decoding and sequence accounting.

The contract is /work/shared/PROTOCOL.md; every choice it leaves open is written down in
docs/protocol.md. ``IclDecoder`` is an incremental state machine: ``feed`` takes bytes as
they come off the line (split anywhere, many sentences per read) and returns decoded items
in stream order; ``close`` ends the stream. It never raises on any input.

Two paths produce identical results:

* the careful path (``_frame_careful``, ``_sentence``, ``decode_body``) applies every rule
  one sentence at a time and decides the rejection reason;
* the fast path (``_frame_fast``, ``_fill_waveforms``) handles
  well-formed traffic, which is almost all of it, with whole-buffer scans done in C
  (``bytes.count``, ``translate``, ``split``, a numpy prefix XOR for checksums, numpy's
  text parser for samples). As soon as anything looks unusual it hands
  that buffer or that sentence to the careful path, so it never decides a rejection itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter
from typing import cast

import numpy as np

from console.drivers.base import Driver, LineSettings
from console.records import DecoderStats, Identity, Observations, Rejection, Value, Wave


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


Decoded = Sentence | WaveformChunk | Rejection

MAX_LINE = 2048  # bytes from `$` to `\n` inclusive (PROTOCOL.md)
MAX_OPEN = MAX_LINE - 1  # so a sentence holds at most this many bytes before its `\n`

FEED_SLICE = 1 << 14  # bytes decoded at a time (see IclDecoder.feed)

SEQ_MODULUS = 65536
RESTART_JUMP = 32768  # a backward SEQ jump this large is a device restart (PROTOCOL.md)
# A numeric backward jump of RESTART_JUMP or more that is a short hop forward across
# 65535 -> 0 is the counter wrapping with a few sentences lost, not a restart
# (docs/protocol.md, "Sequence counting").
WRAP_WINDOW = 1024

_PRINTABLE = bytes(range(0x20, 0x7F))
_PRINTABLE_CRLF = _PRINTABLE + b"\r\n"
# Two checksum characters -> value; a dict lookup rejects anything that is not exactly two
# hex digits (int(x, 16) would accept " F", "+F" or "0_F").
_HEX2: dict[bytes, int] = {
    (a + b).encode(): int(a + b, 16)
    for a in "0123456789abcdefABCDEF"
    for b in "0123456789abcdefABCDEF"
}
_STAR_HEX2 = {b"*" + pair: value for pair, value in _HEX2.items()}  # "*HH" -> value
_CHANNELS_B = {b"ECG": "ECG", b"PLETH": "PLETH", b"CO2": "CO2", b"RESP": "RESP"}
_CHANNELS = frozenset(_CHANNELS_B.values())
# WF RATE as written by any device (1..1000, no leading zeros) -> value: one dict lookup
# instead of a digit check, a conversion and a range check. Other forms go careful.
_RATES = {str(rate).encode(): rate for rate in range(1, 1001)}

_INT_RE = re.compile(r"-?[0-9]{1,10}")
_DEC_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_ID_TEXT_RE = re.compile(r"[A-Za-z0-9._ -]{1,32}")
_DRUG_RE = re.compile(r"[A-Za-z0-9 -]{1,32}")
_ALARM_WORD_RE = re.compile(r"[A-Z_]{1,24}")

_DEVICE_OF_TYPE = {"VS": "vitals", "WF": "vitals", "PS": "pump"}
_DEVICE_OF_ROLE = {"VITALS": "vitals", "PUMP": "pump"}


class _SyntaxError(Exception):
    """A malformed field: the whole sentence is rejected as ``syntax``."""


class _RangeError(Exception):
    """A well-formed number outside its range: ``range`` unless a later field is malformed."""


# ---------------------------------------------------------------------------------------
# Value forms (shared with the Masimo decoder)


def parse_int(text: str, lo: int, hi: int, what: str) -> int:
    """An *integer* (``-?[0-9]{1,10}``) within lo..hi."""
    if not _INT_RE.fullmatch(text):
        raise _SyntaxError(f"{what}: {text!r} is not an integer")
    value = int(text)
    if not lo <= value <= hi:
        raise _RangeError(f"{what}: {value} outside {lo}..{hi}")
    return value


def parse_decimal(text: str, lo: float, hi: float, what: str) -> float:
    """A *decimal* (``-?[0-9]+(\\.[0-9]+)?``) within lo..hi, always a float so that a
    metric keeps one type whether or not the device wrote a decimal point."""
    if not _DEC_RE.fullmatch(text):
        raise _SyntaxError(f"{what}: {text!r} is not a decimal")
    value = float(text)
    if not lo <= value <= hi:
        raise _RangeError(f"{what}: {text} outside {lo}..{hi}")
    return value


def _word(allowed: frozenset[str]):
    def parse(text: str, what: str) -> str:
        if text not in allowed:
            raise _SyntaxError(f"{what}: {text!r} is not one of {'/'.join(sorted(allowed))}")
        return text
    return parse


def _text(pattern: re.Pattern[str]):
    def parse(text: str, what: str) -> str:
        if not pattern.fullmatch(text):
            raise _SyntaxError(f"{what}: {text!r} is not valid text")
        return text
    return parse


def _int(lo: int, hi: int):
    return lambda text, what: parse_int(text, lo, hi, what)


def _dec(lo: float, hi: float):
    return lambda text, what: parse_decimal(text, lo, hi, what)


def _nibp(text: str, what: str) -> tuple[int, int, int]:
    parts = text.split("/")
    if len(parts) != 3:
        raise _SyntaxError(f"{what}: {text!r} is not SYS/DIA/MEAN")
    # Check the form of all three before any range, so syntax wins over range.
    for part in parts:
        if not _INT_RE.fullmatch(part):
            raise _SyntaxError(f"{what}: {part!r} is not an integer")
    sys_, dia, mean = (parse_int(p, 0, 350, what) for p in parts)
    if not sys_ >= mean >= dia:
        raise _RangeError(f"{what}: needs SYS >= MEAN >= DIA, got {text}")
    return sys_, dia, mean


def _pump_alarm(text: str, what: str) -> tuple[str, ...]:
    if text == "NONE":
        return ()
    words = text.split("|")
    for w in words:
        if w == "NONE":
            raise _SyntaxError(f"{what}: NONE mixed with other alarms")
        if not _ALARM_WORD_RE.fullmatch(w):
            raise _SyntaxError(f"{what}: {w!r} is not an alarm word")
    # Unknown words are kept: the console shows them as high-priority pump alarms.
    return tuple(words)  # immutable so it can be cached; sentences get a list


# KEY -> (decoded record name, parser). NIBP expands to three names (handled below).
_VS_KEYS = {
    "HR": ("HR", _int(0, 350)),
    "PR": ("PR", _int(0, 350)),
    "SPO2": ("SPO2", _int(0, 100)),
    "PI": ("PI", _dec(0, 20)),
    "RR": ("RR", _int(0, 150)),
    "ETCO2": ("ETCO2", _int(0, 150)),
    "TEMP": ("TEMP", _dec(0, 50)),
    "NIBP": ("NIBP", _nibp),
    "NIBP_MS": ("NIBP_MS", _int(0, 4294967295)),
    "SPO2_PROBE": ("SPO2_PROBE", _word(frozenset({"OK", "OFF"}))),
    "ECG_LEADS": ("ECG_LEADS", _word(frozenset({"OK", "OFF"}))),
}
_PS_KEYS = {
    "STATE": ("PUMP_STATE", _word(frozenset(
        {"RUNNING", "PAUSED", "STOPPED", "ALARM", "KVO", "COMPLETE"}))),
    "DRUG": ("PUMP_DRUG", _text(_DRUG_RE)),
    "CONC": ("PUMP_CONC", _dec(0, 100)),
    "RATE": ("PUMP_RATE", _dec(0, 1200)),
    "VTBI": ("PUMP_VTBI", _dec(0, 5000)),
    "VI": ("PUMP_VI", _dec(0, 5000)),
    "WEIGHT": ("PUMP_WEIGHT", _dec(0, 350)),
    "DOSE_RATE": ("PUMP_DOSE_RATE", _dec(0, 100)),
    "ALARM": ("PUMP_ALARM", _pump_alarm),
    "BATT": ("PUMP_BATT", _int(0, 100)),
}
_ID_KEYS = {
    "ROLE": ("ROLE", _word(frozenset(_DEVICE_OF_ROLE))),
    "MODEL": ("MODEL", _text(_ID_TEXT_RE)),
    "SERIAL": ("SERIAL", _text(_ID_TEXT_RE)),
    "FW": ("FW", _text(_ID_TEXT_RE)),
    "PROTO": ("PROTO", _text(_ID_TEXT_RE)),
}
_KEYS_OF_TYPE = {"VS": _VS_KEYS, "PS": _PS_KEYS, "ID": _ID_KEYS}


# ---------------------------------------------------------------------------------------
# Body decoding (careful path)


# What ``decode_body`` returns: (item, device, seq, unknown_keys). ``device`` is "vitals",
# "pump" or None when it cannot be told; ``seq`` is set once SEQ and MS were valid, even if
# the sentence is then rejected, because the sentence did arrive. A plain tuple: this is on
# the path of every VS and PS sentence.
BodyResult = tuple[Decoded, str | None, int | None, int]


def decode_body(body: str, raw: bytes) -> BodyResult:
    """Decode one checksum-verified, printable BODY (``TYPE,SEQ,MS,...``)."""
    fields = body.split(",")
    kind = fields[0]
    if kind not in ("VS", "WF", "PS", "ID"):
        return Rejection("unknown_type", raw, f"unknown sentence type {kind!r}"), None, None, 0
    try:
        if len(fields) < 3:
            raise _SyntaxError("missing SEQ or MS")
        seq_text, ms_text = fields[1], fields[2]
        if (seq_text.isdigit() and ms_text.isdigit() and len(seq_text) <= 5
                and len(ms_text) <= 10 and int(seq_text) <= 65535
                and int(ms_text) <= 4294967295):
            seq, ms = int(seq_text), int(ms_text)  # the usual form, quickly
        else:
            seq = _header_number(seq_text, 65535, "SEQ")
            ms = _header_number(ms_text, 4294967295, "MS")
    except _SyntaxError as exc:
        return Rejection("syntax", raw, str(exc)), None, None, 0
    if kind == "WF":
        return _decode_waveform(fields, seq, ms, raw), "vitals", seq, 0
    return _decode_named(kind, fields, seq, ms, raw)


def _header_number(text: str, hi: int, what: str) -> int:
    # Out-of-range SEQ or MS is `syntax`, not `range` (PROTOCOL.md).
    if not _INT_RE.fullmatch(text) or not 0 <= int(text) <= hi:
        raise _SyntaxError(f"{what} {text!r} is not a number in 0..{hi}")
    return int(text)


def _decode_waveform(fields: list[str], seq: int, ms: int, raw: bytes) -> Decoded:
    if len(fields) < 6:
        return Rejection("syntax", raw, "WF needs CHANNEL, RATE and at least one sample")
    channel, rate_text, samples_text = fields[3], fields[4], fields[5:]
    if channel not in _CHANNELS:
        return Rejection("syntax", raw, f"unknown waveform channel {channel!r}")
    if len(samples_text) > 256:
        return Rejection("syntax", raw, f"{len(samples_text)} samples, at most 256 allowed")
    range_error = None
    try:
        try:
            rate = parse_int(rate_text, 1, 1000, "RATE")
        except _RangeError as exc:
            rate, range_error = 0, str(exc)
        samples = []
        for i, text in enumerate(samples_text):
            if not _INT_RE.fullmatch(text):
                raise _SyntaxError(f"sample {i + 1}: {text!r} is not an integer")
            value = int(text)
            if range_error is None and not -32768 <= value <= 32767:
                range_error = f"sample {i + 1}: {value} outside -32768..32767"
            samples.append(value)
    except _SyntaxError as exc:
        return Rejection("syntax", raw, str(exc))
    if range_error is not None:
        return Rejection("range", raw, range_error)
    return WaveformChunk(seq, ms, channel, rate, samples)


# Decoded KEY=VALUE fields, per sentence type: field text -> (KEY, (record name, value)).
# Vital signs and pump settings repeat from one sentence to the next, so looking a field
# up is much cheaper than decoding it again. Only fields that decoded cleanly to one value
# are kept (not NIBP, not unknown keys), and the cache is emptied when full so that a
# stream of ever-new values cannot grow it without bound. PS ALARM is kept as a tuple and
# handed out as a new list each time, so that no two sentences share a mutable value.
_FIELD_CACHE: dict[str, dict[str, tuple[str, tuple[str, Value]]]] = {
    "VS": {}, "PS": {}, "ID": {}}
_FIELD_CACHE_LIMIT = 4096
_PAIR = itemgetter(1)


def _decode_field(keys: dict, field: str) -> tuple[str, tuple, int]:
    """One ``KEY=VALUE`` field -> (KEY, ((record name, value), ...), 0), or (KEY, (), 1)
    for an unknown KEY. Raises _SyntaxError or _RangeError."""
    key, eq, text = field.partition("=")
    if not field:
        raise _SyntaxError("empty field")
    if not eq:
        raise _SyntaxError(f"field {field!r} has no '='")
    if not key or not text:
        raise _SyntaxError(f"field {field!r} has an empty key or value")
    spec = keys.get(key)
    if spec is None:
        return key, (), 1  # forward compatibility: ignored, counted once accepted
    name, parse = spec
    if name == "NIBP":
        nibp = (None, None, None) if text == "-" else parse(text, key)
        return key, tuple(zip(("NIBP_SYS", "NIBP_DIA", "NIBP_MEAN"), nibp, strict=True)), 0
    # `-` is "not available": a gap in that metric, not an error.
    return key, ((name, None if text == "-" else parse(text, key)),), 0


def _decode_named(kind: str, fields: list[str], seq: int, ms: int, raw: bytes) -> BodyResult:
    """VS, PS or ID: ``KEY=VALUE`` fields in any order."""
    cache = _FIELD_CACHE[kind]
    # Usual case: every field seen before. Each KEY has its own record name, so a KEY given
    # twice shows as fewer values than fields. C-level calls only, no loop over the fields.
    hits = list(map(cache.get, fields[3:]))
    if kind != "ID" and None not in hits:
        values: dict[str, Value] = dict(map(_PAIR, cast("list[tuple[str, tuple[str, Value]]]", hits)))  # no None
        if len(values) == len(hits):
            if "PUMP_ALARM" in values and values["PUMP_ALARM"] is not None:
                values["PUMP_ALARM"] = list(values["PUMP_ALARM"])  # type: ignore[arg-type]
            return Sentence(kind, seq, ms, values), _DEVICE_OF_TYPE[kind], seq, 0
    keys = _KEYS_OF_TYPE[kind]
    values = {}
    seen: set[str] = set()
    unknown = 0
    range_error = None
    syntax_error = None
    pairs: tuple[tuple[str, Value], ...]
    for field, hit in zip(fields[3:], hits, strict=True):
        if hit is not None:
            key, pairs, is_unknown = hit[0], (hit[1],), 0
        else:
            try:
                key, pairs, is_unknown = _decode_field(keys, field)
            except _SyntaxError as exc:
                syntax_error = str(exc)
                break
            except _RangeError as exc:
                range_error = range_error or str(exc)  # keep looking: syntax outranks range
                key, pairs, is_unknown = field.partition("=")[0], (), 0
            else:
                if len(pairs) == 1 and not is_unknown:
                    if len(cache) >= _FIELD_CACHE_LIMIT:
                        cache.clear()
                    cache[field] = (key, pairs[0])
        if key in seen:
            syntax_error = f"key {key} appears twice"
            break
        seen.add(key)
        unknown += is_unknown
        values.update(pairs)
    if values.get("PUMP_ALARM") is not None:
        values["PUMP_ALARM"] = list(values["PUMP_ALARM"])  # type: ignore[arg-type]

    device = _DEVICE_OF_TYPE.get(kind)
    proto_problem = None
    if kind == "ID":
        # The counter follows ROLE even when the sentence is rejected for another reason.
        role = _value_of(fields, "ROLE")
        device = _DEVICE_OF_ROLE.get(role) if role else None
        # Read PROTO from the fields themselves, so that the announced version is reported
        # even when an earlier field stopped the decoding.
        proto = _value_of(fields, "PROTO")
        if proto is not None and proto not in ("1", "-") and _ID_TEXT_RE.fullmatch(proto):
            proto_problem = proto
        elif syntax_error is None and range_error is None:
            missing = [k for k in ("ROLE", "PROTO") if values.get(k) is None]
            if missing:
                syntax_error = f"ID without {' and '.join(missing)}"
        if syntax_error is None and proto_problem is not None:
            syntax_error = f"unsupported protocol version PROTO={proto_problem}"
    item: Sentence | Rejection
    if syntax_error is not None:
        item = Rejection("syntax", raw, syntax_error, unsupported_protocol=proto_problem)
    elif range_error is not None:
        item = Rejection("range", raw, range_error)
    else:
        item = Sentence(kind, seq, ms, values)
    return item, device, seq, unknown


def _value_of(fields: list[str], key: str) -> str | None:
    """The raw value of the first ``KEY=...`` field, if any."""
    prefix = key + "="
    for field in fields[3:]:
        if field.startswith(prefix):
            return field[len(prefix):]
    return None


_SAMPLE_CHARS = b"0123456789,-"


def _parse_samples(text: bytes, count: int) -> list[int] | None:
    """Parse ``count`` comma-separated samples when every one plainly has the integer form
    and lies within -32768..32767; None when unsure (the careful path then decides).

    numpy's text parser runs in C but is lenient: it takes spaces, "+", exponents, reads a
    lone "-" as 0 and drops a trailing comma. Restricting ``text`` to digits, commas and
    minus signs, refusing "-," and a final "-", and checking the count leaves it accepting
    exactly ``-?[0-9]+`` per sample (it raises on ",,", "--5" or "5-3"). Values beyond
    int64 saturate, which the caller's range check sends to the careful path. An in-range
    sample written with more than 10 digits has six leading zeros: "000000" goes careful.
    """
    if (text.translate(None, _SAMPLE_CHARS) or b"-," in text or text.endswith(b"-")
            or b"000000" in text):
        return None
    try:
        values = np.fromstring(text, dtype=np.int64, sep=",")
    except (ValueError, DeprecationWarning):
        return None
    if len(values) != count or values.min() < -32768 or values.max() > 32767:
        return None
    return values.tolist()


def checksum(body: bytes) -> int:
    """NMEA-style XOR of every byte of BODY."""
    if not body:
        return 0
    return int(np.bitwise_xor.reduce(np.frombuffer(body, dtype=np.uint8)))


# ---------------------------------------------------------------------------------------
# The decoder


class IclDecoder:
    """Incremental ICL/1 decoder; see the module docstring."""

    protocol = "icl"

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._open = b""  # an unfinished sentence, starting with `$`
        self._skipping = False  # inside an over-long line already rejected as too_long
        self._last_seq: dict[str, int | None] = {"vitals": None, "pump": None}
        # device -> PROTO value it announced when that was not "1" (docs/protocol.md)
        self._unsupported: dict[str, str] = {}

    # -- public interface ----------------------------------------------------------------

    def feed(self, data: bytes) -> list[Decoded]:
        out: list[Decoded] = []
        # A big buffer is decoded in slices: the fast path's per-buffer arrays then stay
        # small enough for the CPU caches (one 7 MB buffer decodes at half the speed).
        for start in range(0, len(data), FEED_SLICE):
            self._feed(bytes(data[start:start + FEED_SLICE]), out)
        return out

    def _feed(self, data: bytes, out: list[Decoded]) -> None:
        buf = self._open + data if self._open else data
        self._open = b""
        if self._skipping:
            self._frame_careful(buf, out)
        else:
            self._frame_fast(buf, out)

    def close(self) -> list[Decoded]:
        out: list[Decoded] = []
        if self._open:
            self._reject(out, "truncated", self._open, "stream ended inside a sentence")
        self._open = b""
        self._skipping = False
        return out

    # -- framing -------------------------------------------------------------------------

    def _frame_careful(self, buf: bytes, out: list[Decoded]) -> None:
        """Split ``buf`` into sentences one at a time, deciding every framing anomaly."""
        stats = self.stats
        end = len(buf)
        pos = 0
        if self._skipping:
            pos = self._skip_overlong(buf, 0)
            if pos < 0:
                return
        while pos < end:
            start = buf.find(b"$", pos)
            if start < 0:
                stats.noise_bytes += end - pos
                return
            stats.noise_bytes += start - pos
            newline = buf.find(b"\n", start + 1)
            dollar = buf.find(b"$", start + 1)
            stop = end  # where this sentence stops: its `\n`, a `$`, or the end of buf
            if 0 <= newline < stop:
                stop = newline
            if 0 <= dollar < stop:
                stop = dollar
            if stop - start > MAX_OPEN:
                # Reject now rather than at the line end, so memory stays bounded.
                self._reject(out, "too_long", buf[start:start + MAX_LINE],
                             f"no line end within {MAX_LINE} bytes")
                self._skipping = True
                pos = self._skip_overlong(buf, start + MAX_OPEN)
                if pos < 0:
                    return
            elif stop == end:
                self._open = buf[start:]
                return
            elif stop == dollar:
                self._reject(out, "truncated", buf[start:dollar], "cut off by the next '$'")
                pos = dollar
            else:
                self._sentence(buf[start:newline], out)
                pos = newline + 1

    def _skip_overlong(self, buf: bytes, pos: int) -> int:
        """Discard the rest of a too_long line: up to its `\\n`, or up to a `$` where the
        decoder resynchronises. Returns where to carry on, or -1 if ``buf`` ran out."""
        newline = buf.find(b"\n", pos)
        dollar = buf.find(b"$", pos)
        if newline < 0 and dollar < 0:
            return -1
        self._skipping = False
        if dollar < 0 or 0 <= newline < dollar:
            return newline + 1
        return dollar

    def _frame_fast(self, buf: bytes, out: list[Decoded]) -> None:
        """Decode ``buf`` line by line, starting outside any sentence (the usual case).

        A line that starts with its only `$` and fits the length limit is decoded here;
        any other line (noise with a `$` in it, a `$` cutting a sentence short, an
        over-long line) and the unfinished tail go to ``_frame_careful``, which gives the
        same result on that piece as on the whole buffer because every piece starts
        outside a sentence.

        Pass 1 walks the lines in stream order: framing, checksum, sequence counting, and
        the careful decoding of anything but a plain WF. Plain WF sentences go to ``out``
        at once, but their samples are parsed after the loop, all together
        (``_fill_waveforms``): per-sample int() calls are what a pure-Python decoder
        spends its time on.
        """
        lines = buf.split(b"\n")
        tail = lines.pop()  # after the last `\n`: an open sentence, or noise
        # Whole-buffer checks: when they pass, no line needs its own printable check.
        clean = not buf.translate(None, _PRINTABLE_CRLF) and (
            buf.count(b"\r") == buf.count(b"\r\n"))
        # cum[i] is the XOR of buf[0..i], so XOR(buf[a:b]) == cum[b-1] ^ cum[a-1].
        cum = np.bitwise_xor.accumulate(np.frombuffer(buf, dtype=np.uint8)).tobytes()
        stats = self.stats
        star_hex2 = _STAR_HEX2
        channels = _CHANNELS_B
        last_seq = self._last_seq
        unsupported = self._unsupported  # the same dict all along: an ID may fill it
        rates = _RATES
        waves: list[WaveformChunk] = []  # plain WF sentences, already in `out`, and
        rests: list[bytes] = []  # the text of their samples, parsed after the loop, and
        wave_lines: list[bytes] = []  # each one's line, should the careful path be needed
        pos = 0  # where `line` starts in buf
        for line in lines:
            size = len(line)
            start, pos = pos, pos + size + 1
            if not line.startswith(b"$"):
                if b"$" in line:
                    self._frame_careful(line + b"\n", out)
                else:
                    stats.noise_bytes += size + 1
                continue
            if size > MAX_OPEN or line.find(b"$", 1) >= 0:
                self._frame_careful(line + b"\n", out)
                continue
            star = size - 4 if line.endswith(b"\r") else size - 3  # index of `*` in line
            # The given checksum (None unless "*HH") against XOR(line[1:star]).
            if not (star >= 1 and (clean or not line[1:star + 3].translate(None, _PRINTABLE))
                    and star_hex2.get(line[star:star + 3]) == cum[start + star - 1] ^ cum[start]):
                self._sentence(line, out)  # let the careful path name the reason
                continue
            body = line[1:star]
            # A WF whose header is plainly valid is queued here (inlined: this loop runs
            # once per sentence). Anything unsure goes to the careful path.
            if body.startswith(b"WF,") and not unsupported:
                parts = body.split(b",", 5)
                if len(parts) == 6:
                    _, seq_b, ms_b, channel_b, rate_b, rest = parts
                    channel = channels.get(channel_b)
                    rate = rates.get(rate_b)
                    if (channel and rate and seq_b.isdigit() and ms_b.isdigit()
                            and len(seq_b) <= 5 and len(ms_b) <= 10):
                        seq = int(seq_b)
                        ms = int(ms_b)
                        if seq <= 65535 and ms <= 4294967295:
                            # Intact with a valid header: it counts for the sequence now,
                            # in stream order, whatever its samples turn out to be.
                            last = last_seq["vitals"]
                            if last is not None and seq == (last + 1) & 0xFFFF:
                                last_seq["vitals"] = seq
                            else:
                                self._track("vitals", seq)
                            wave = WaveformChunk(seq, ms, channel, rate, None)  # type: ignore[arg-type]
                            out.append(wave)
                            waves.append(wave)
                            rests.append(rest)
                            wave_lines.append(line)
                            continue
            self._body(body, line, out)
        if waves:
            self._fill_waveforms(waves, rests, wave_lines, out)
        if tail.startswith(b"$") and len(tail) <= MAX_OPEN and tail.find(b"$", 1) < 0:
            self._open = tail  # the usual tail: the start of the next sentence
        elif tail:
            self._frame_careful(tail, out)

    def _fill_waveforms(self, waves: list[WaveformChunk], rests: list[bytes],
                        wave_lines: list[bytes], out: list[Decoded]) -> None:
        """Give the queued WF sentences their samples, parsed with one numpy call."""
        counts = [rest.count(b",") + 1 for rest in rests]
        numbers = _parse_samples(b",".join(rests), sum(counts)) if max(counts) <= 256 else None
        if numbers is not None:
            start = 0
            for wave, count in zip(waves, counts, strict=True):
                wave.samples = numbers[start:start + count]
                start += count
            self.stats.accepted += len(waves)
            return
        # Something in this buffer is unusual: settle each sentence on its own.
        where = {id(item): index for index, item in enumerate(out)}
        for wave, rest, count, line in zip(waves, rests, counts, wave_lines, strict=True):
            samples = _parse_samples(rest, count) if count <= 256 else None
            if samples is not None:
                wave.samples = samples
                self.stats.accepted += 1
            else:
                star = len(line) - (4 if line.endswith(b"\r") else 3)
                # Judged as of its place in the stream: a WF is only queued while no device
                # is unsupported, so an ID later in this buffer must not screen it.
                out[where[id(wave)]] = self._body(line[1:star], line, None, track=False,
                                                  screen=False)

    # -- sentences -----------------------------------------------------------------------

    def _sentence(self, line: bytes, out: list[Decoded]) -> None:
        """One complete sentence, `$` up to (not including) its `\\n`."""
        inner = line[1:-1] if line.endswith(b"\r") else line[1:]
        if inner.translate(None, _PRINTABLE):
            self._reject(out, "encoding", line, "byte outside printable ASCII")
            return
        given = _HEX2.get(inner[-2:]) if len(inner) >= 3 and inner[-3] == 42 else None
        if given is None:
            self._reject(out, "checksum", line, "missing or ill-formed *HH")
            return
        body = inner[:-3]
        actual = checksum(body)
        if actual != given:
            self._reject(out, "checksum", line, f"checksum {actual:02X}, sentence says "
                         f"{inner[-2:].decode('ascii')}")
            return
        self._body(body, line, out)

    def _body(self, body: bytes, raw: bytes, out: list[Decoded] | None,
              track: bool = True, screen: bool = True) -> Decoded:
        """Decode a verified body on the careful path, count it, and append it to ``out``
        (or only return it). ``track=False`` when the sequence was already counted;
        ``screen=False`` when the protocol state that applies is "all supported" (a WF
        the fast path queued, settled after later sentences of its buffer)."""
        item, device, seq, unknown = decode_body(body.decode("ascii"), raw)
        if device is not None and seq is not None:
            if track:
                last = self._last_seq[device]
                if last is not None and seq == (last + 1) & 0xFFFF:
                    self._last_seq[device] = seq
                else:
                    self._track(device, seq)
            if screen and (self._unsupported or body.startswith(b"ID,")):
                item = self._screen_protocol(device, item, raw)
        if isinstance(item, Rejection):
            self.stats.rejected[item.reason] += 1
        else:
            self.stats.accepted += 1
            self.stats.unknown_keys += unknown
        if out is not None:
            out.append(item)
        return item

    def _reject(self, out: list[Decoded], reason: str, raw: bytes, detail: str) -> None:
        self.stats.rejected[reason] += 1
        out.append(Rejection(reason, raw, detail))

    # -- per-device state ----------------------------------------------------------------

    def _track(self, device: str, seq: int) -> None:
        """Update one device's sequence counter (docs/protocol.md, "Sequence counting")."""
        last = self._last_seq[device]
        self._last_seq[device] = seq
        if last is None or seq == last:
            return  # first sentence seen, or a repeat: neither is a loss
        forward = (seq - last) % SEQ_MODULUS
        if last - seq >= RESTART_JUMP and forward > WRAP_WINDOW:
            self.stats.restarts += 1
        elif forward < RESTART_JUMP:
            self.stats.lost += forward - 1
        # else: a small backward jump (a replayed sentence, or a restart after fewer than
        # 32768 sentences): no loss; the counter follows the device from here on.

    def _screen_protocol(self, device: str, item: Decoded, raw: bytes) -> Decoded:
        """Keep the data of a device that announced an unsupported PROTO off the screen
        (docs/protocol.md, "Unsupported protocol version")."""
        if isinstance(item, Sentence) and item.type == "ID":
            self._unsupported.pop(device, None)  # it now speaks ICL/1
            return item
        if isinstance(item, Rejection) and item.unsupported_protocol is not None:
            self._unsupported[device] = item.unsupported_protocol
            return item
        proto = self._unsupported.get(device)
        if proto is None or (isinstance(item, Rejection) and raw.startswith(b"$ID,")):
            return item
        return Rejection("syntax", raw, f"device announced unsupported protocol PROTO={proto}",
                         unsupported_protocol=proto)


# ---------------------------------------------------------------------------- the driver
# PROTOCOL.md WF: ECG in microvolts, CO2 in mmHg x 10, pleth and resp unitless counts.
WAVE_SCALES: dict[str, tuple[float, str]] = {"ECG": (0.001, "mV"), "CO2": (0.1, "mmHg"),
                                             "PLETH": (1.0, ""), "RESP": (1.0, "")}


def normalize(record: Sentence | WaveformChunk) -> Observations | Wave | Identity:
    """ICL/1 already speaks the console's metric names; its waves get their unit and scale,
    and an ID sentence becomes the device's identity."""
    if isinstance(record, WaveformChunk):
        scale, unit = WAVE_SCALES[record.channel]
        return Wave(record.seq, record.ms, record.channel, record.rate, record.samples, scale, unit)
    if record.type == "ID":
        v = record.values
        role = str(v.get("ROLE") or "").lower() or None
        return Identity(record.seq, record.ms, role, str(v.get("MODEL") or ""), str(v.get("SERIAL") or ""),
                        str(v.get("FW") or ""), str(v.get("PROTO") or ""), dict(v))
    return Observations(record.seq, record.ms, record.values)


DRIVER = Driver(
    name="icl",
    title="ICL/1",
    description="ICL/1, the console's own dialect (vitals monitor or pump; the training simulator speaks it)",
    roles=frozenset({"vitals", "pump"}),
    line=LineSettings(115200),  # PROTOCOL.md: 115200 8N1 (waveforms need about 2 kB/s)
    decoder=IclDecoder,
    normalize=normalize,
    legacy_wave_scales={channel: scale for channel, (scale, _unit) in WAVE_SCALES.items()},
)
