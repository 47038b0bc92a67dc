"""ICL/1 decoder: framing, checksum, body decoding and sequence accounting.

The contract is /work/shared/PROTOCOL.md; every choice it leaves open is written down in
docs/protocol.md. ``IclDecoder`` is an incremental state machine: ``feed`` takes bytes as
they come off the line (split anywhere, many sentences per read) and returns decoded items
in stream order; ``close`` ends the stream. It never raises on any input.

Two paths produce identical results:

* the careful path (``_frame_careful``, ``_sentence``, ``decode_body``) applies every rule
  one sentence at a time and decides the rejection reason;
* the fast path (``_frame_fast``, ``_fast_waveform``) handles well-formed traffic, which is
  almost all of it, with whole-buffer scans done in C (``bytes.count``, ``translate``,
  ``split``, a numpy prefix XOR for checksums). As soon as anything looks unusual it hands
  that buffer or that sentence to the careful path, so it never decides a rejection itself.
"""

from __future__ import annotations

import re

import numpy as np

from console.records import (
    Decoded,
    DecoderStats,
    Rejection,
    Sentence,
    Value,
    WaveformChunk,
)

MAX_LINE = 2048  # bytes from `$` to `\n` inclusive (PROTOCOL.md)
MAX_OPEN = MAX_LINE - 1  # so a sentence holds at most this many bytes before its `\n`

SEQ_MODULUS = 65536
RESTART_JUMP = 32768  # a backward SEQ jump this large is a device restart (PROTOCOL.md)
# A numeric backward jump of RESTART_JUMP or more that is a short hop forward across
# 65535 -> 0 is the counter wrapping with a few sentences lost, not a restart
# (docs/protocol.md, "Sequence counting").
WRAP_WINDOW = 1024

_PRINTABLE = bytes(range(0x20, 0x7F))
_PRINTABLE_CRLF = _PRINTABLE + b"\r\n"
_SAMPLE_CHARS = b"0123456789,-"
# Two checksum characters -> value; a dict lookup rejects anything that is not exactly two
# hex digits (int(x, 16) would accept " F", "+F" or "0_F").
_HEX2: dict[bytes, int] = {
    (a + b).encode(): int(a + b, 16)
    for a in "0123456789abcdefABCDEF"
    for b in "0123456789abcdefABCDEF"
}
_CHANNELS_B = {b"ECG": "ECG", b"PLETH": "PLETH", b"CO2": "CO2", b"RESP": "RESP"}
_CHANNELS = frozenset(_CHANNELS_B.values())

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


def _pump_alarm(text: str, what: str) -> list[str]:
    if text == "NONE":
        return []
    words = text.split("|")
    for w in words:
        if w == "NONE":
            raise _SyntaxError(f"{what}: NONE mixed with other alarms")
        if not _ALARM_WORD_RE.fullmatch(w):
            raise _SyntaxError(f"{what}: {w!r} is not an alarm word")
    # Unknown words are kept: the console shows them as high-priority pump alarms.
    return words


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


class BodyResult:
    """What ``decode_body`` found: the item, and what the sequence counter needs."""

    __slots__ = ("device", "item", "seq", "unknown_keys")

    def __init__(self, item: Decoded, device: str | None = None, seq: int | None = None,
                 unknown_keys: int = 0) -> None:
        self.item = item
        self.device = device  # "vitals" | "pump" | None when it cannot be told
        self.seq = seq  # set once SEQ and MS were valid, even if the sentence is rejected
        self.unknown_keys = unknown_keys


def decode_body(body: str, raw: bytes) -> BodyResult:
    """Decode one checksum-verified, printable BODY (``TYPE,SEQ,MS,...``)."""
    fields = body.split(",")
    kind = fields[0]
    if kind not in ("VS", "WF", "PS", "ID"):
        return BodyResult(Rejection("unknown_type", raw, f"unknown sentence type {kind!r}"))
    try:
        if len(fields) < 3:
            raise _SyntaxError("missing SEQ or MS")
        seq = _header_number(fields[1], 65535, "SEQ")
        ms = _header_number(fields[2], 4294967295, "MS")
    except _SyntaxError as exc:
        return BodyResult(Rejection("syntax", raw, str(exc)))
    if kind == "WF":
        return BodyResult(_decode_waveform(fields, seq, ms, raw), "vitals", seq)
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


def _decode_named(kind: str, fields: list[str], seq: int, ms: int, raw: bytes) -> BodyResult:
    """VS, PS or ID: ``KEY=VALUE`` fields in any order."""
    keys = _KEYS_OF_TYPE[kind]
    values: dict[str, Value] = {}
    seen: set[str] = set()
    unknown = 0
    range_error = None
    syntax_error = None
    for field in fields[3:]:
        key, eq, text = field.partition("=")
        if not field:
            syntax_error = "empty field"
        elif not eq:
            syntax_error = f"field {field!r} has no '='"
        elif not key or not text:
            syntax_error = f"field {field!r} has an empty key or value"
        elif key in seen:
            syntax_error = f"key {key} appears twice"
        if syntax_error:
            break
        seen.add(key)
        spec = keys.get(key)
        if spec is None:
            unknown += 1  # forward compatibility: ignored, counted once accepted
            continue
        name, parse = spec
        if text == "-":  # not available: a gap in that metric, not an error
            if name == "NIBP":
                values.update(NIBP_SYS=None, NIBP_DIA=None, NIBP_MEAN=None)
            else:
                values[name] = None
            continue
        try:
            value = parse(text, key)
        except _SyntaxError as exc:
            syntax_error = str(exc)
            break
        except _RangeError as exc:
            range_error = range_error or str(exc)  # keep looking: syntax outranks range
            continue
        if name == "NIBP":
            values["NIBP_SYS"], values["NIBP_DIA"], values["NIBP_MEAN"] = value
        else:
            values[name] = value

    device = _DEVICE_OF_TYPE.get(kind)
    proto_problem = None
    if kind == "ID":
        # The counter follows ROLE even when the sentence is rejected for another reason.
        role = _role_of(fields)
        device = _DEVICE_OF_ROLE.get(role) if role else None
        proto = values.get("PROTO")
        if proto is not None and proto != "1":
            proto_problem = proto
        elif syntax_error is None and range_error is None:
            missing = [k for k in ("ROLE", "PROTO") if values.get(k) is None]
            if missing:
                syntax_error = f"ID without {' and '.join(missing)}"
        if syntax_error is None and proto_problem is not None:
            syntax_error = f"unsupported protocol version PROTO={proto_problem}"
    if syntax_error is not None:
        item = Rejection("syntax", raw, syntax_error, unsupported_protocol=proto_problem)
    elif range_error is not None:
        item = Rejection("range", raw, range_error)
    else:
        item = Sentence(kind, seq, ms, values)
    return BodyResult(item, device, seq, unknown)


def _role_of(fields: list[str]) -> str | None:
    for field in fields[3:]:
        if field.startswith("ROLE="):
            return field[5:]
    return None


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
        if not data:
            return out
        buf = self._open + bytes(data) if self._open else bytes(data)
        self._open = b""
        if self._skipping or not self._frame_fast(buf, out):
            self._frame_careful(buf, out)
        return out

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
            stop = min(i for i in (newline, dollar, end) if i >= 0)
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

    def _frame_fast(self, buf: bytes, out: list[Decoded]) -> bool:
        """Decode ``buf`` when every `$` starts a line and no line is too long (the normal
        case); return False, having done nothing, to leave ``buf`` to the careful path."""
        if buf.count(b"$") != buf.count(b"\n$") + buf.startswith(b"$"):
            return False  # a `$` inside a line: a truncation the careful path reports
        lines = buf.split(b"\n")
        tail = lines.pop()  # after the last `\n`: an open sentence, or noise
        if len(tail) > MAX_OPEN or (lines and max(map(len, lines)) > MAX_OPEN):
            return False
        # Whole-buffer checks: when they pass, no line needs its own printable check.
        clean = not buf.translate(None, _PRINTABLE_CRLF) and (
            buf.count(b"\r") == buf.count(b"\r\n"))
        # cum[i] is the XOR of buf[0..i], so XOR(buf[a:b]) == cum[b-1] ^ cum[a-1].
        cum = np.bitwise_xor.accumulate(np.frombuffer(buf, dtype=np.uint8)).tobytes()
        stats = self.stats
        hex2 = _HEX2
        pos = 0
        for line in lines:
            size = len(line)
            if not line.startswith(b"$"):
                stats.noise_bytes += size + 1
                pos += size + 1
                continue
            star = size - 4 if line.endswith(b"\r") else size - 3  # index of `*` in line
            body = None
            if star >= 1 and line[star] == 42 and (
                    clean or not line[1:star + 3].translate(None, _PRINTABLE)):
                given = hex2.get(line[star + 1:star + 3])
                if given is not None and given == cum[pos + star - 1] ^ cum[pos]:
                    body = line[1:star]
            if body is None:
                self._sentence(line, out)  # let the careful path name the reason
            elif not (body.startswith(b"WF,") and self._fast_waveform(body, out)):
                self._body(body, line, out)
            pos += size + 1
        if tail.startswith(b"$"):
            self._open = tail
        else:
            stats.noise_bytes += len(tail)
        return True

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

    def _body(self, body: bytes, raw: bytes, out: list[Decoded]) -> None:
        result = decode_body(body.decode("ascii"), raw)
        item = result.item
        if result.device is not None and result.seq is not None:
            self._track(result.device, result.seq)
            item = self._screen_protocol(result.device, item, raw)
        if isinstance(item, Rejection):
            self.stats.rejected[item.reason] += 1
        else:
            self.stats.accepted += 1
            self.stats.unknown_keys += result.unknown_keys
        out.append(item)

    def _fast_waveform(self, body: bytes, out: list[Decoded]) -> bool:
        """Accept a plainly valid WF body; False means 'not sure', never 'invalid'."""
        if self._unsupported:
            return False
        parts = body.split(b",", 5)
        if len(parts) != 6:
            return False
        _, seq_b, ms_b, channel_b, rate_b, rest = parts
        channel = _CHANNELS_B.get(channel_b)
        # `rest` made only of digits, commas and minus signs means int() below accepts
        # exactly -?[0-9]+ (it would otherwise allow spaces, "+" and "_"). An in-range
        # sample written with more than 10 digits needs six leading zeros: leave those
        # rare sentences to the careful path.
        if (channel is None or not seq_b.isdigit() or len(seq_b) > 5
                or not ms_b.isdigit() or len(ms_b) > 10
                or not rate_b.isdigit() or len(rate_b) > 4
                or rest.translate(None, _SAMPLE_CHARS) or b"000000" in rest):
            return False
        seq, ms, rate = int(seq_b), int(ms_b), int(rate_b)
        if seq > 65535 or ms > 4294967295 or not 1 <= rate <= 1000:
            return False
        try:
            samples = list(map(int, rest.split(b",")))
        except ValueError:
            return False
        if len(samples) > 256 or min(samples) < -32768 or max(samples) > 32767:
            return False
        last = self._last_seq["vitals"]
        if last is not None and seq == (last + 1) & 0xFFFF:
            self._last_seq["vitals"] = seq
        else:
            self._track("vitals", seq)
        self.stats.accepted += 1
        out.append(WaveformChunk(seq, ms, channel, rate, samples))
        return True

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
        """Keep the data of a device that announced an unsupported PROTO off the screen."""
        if isinstance(item, Sentence) and item.type == "ID":
            self._unsupported.pop(device, None)  # it now speaks ICL/1
            return item
        if isinstance(item, Rejection) and item.unsupported_protocol is not None:
            self._unsupported[device] = item.unsupported_protocol
            return item
        proto = self._unsupported.get(device)
        if proto is None or (isinstance(item, Rejection) and item.reason != "range"):
            return item
        return Rejection("syntax", raw, f"device announced unsupported protocol PROTO={proto}",
                         unsupported_protocol=proto)
