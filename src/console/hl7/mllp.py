"""MLLP, the Minimal Lower Layer Protocol that carries HL7 v2 over TCP: framing, a streaming
reader, ACK parsing, and a blocking client that sends one message and waits for its ACK.

A frame is ``0x0B`` message ``0x1C 0x0D`` (HL7 MLLP Release 1, CLINICAL.md section 7). The
reader is fed whatever bytes the network gives, in any pieces, and never raises: bytes outside a
frame, a frame cut short by a new start block, a frame over the size limit or an end block not
followed by CR are dropped and counted, with the reason in words, and reading resumes at the next
start block. Qt-free; the client uses plain sockets (optionally TLS) and no event loop, so the
store-and-forward queue (console.hl7.outbox) can drive it from a thread of its own.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
from dataclasses import dataclass

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
MAX_FRAME_BYTES = 1_048_576  # an ACK is a few hundred bytes; a PCD-01 a few kB: 1 MiB is generous
ENCODING = "utf-8"  # MSH-18 "UNICODE UTF-8" (console.hl7.messages.CHARACTER_SET)


class MllpError(Exception):
    """The message was not acknowledged; ``str()`` (and ``reason``) says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def frame(message: str | bytes) -> bytes:
    """One message framed for the wire (text is sent as UTF-8)."""
    data = message.encode(ENCODING) if isinstance(message, str) else message
    if START_BLOCK in data or END_BLOCK in data:
        # The receiver would cut the message there: such a byte can never be sent inside one.
        raise ValueError("an HL7 message cannot contain the MLLP block characters 0x0B or 0x1C")
    return START_BLOCK + data + END_BLOCK + CARRIAGE_RETURN


_BLOCK_CHARACTER = re.compile(b"[\x0b\x1c]")


@dataclass(frozen=True, slots=True)
class Dropped:
    """A frame the reader dropped, and why in words."""

    why: str


class FrameReader:
    """Streaming MLLP reader: ``feed(data)`` returns the complete frames' contents so far.

    ``discarded`` counts what was dropped and ``last_problem`` says the latest problem;
    ``feed_events`` gives each drop in its place among the frames (``Dropped``, with its reason),
    whatever pieces the bytes came in. A partial frame waits for the rest (``pending`` bytes of it
    are held)."""

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._in_frame = False
        self._skipping = False  # inside an oversized frame: drop until its end or the next start
        self.discarded = 0
        self.garbage_bytes = 0
        self.last_problem: str | None = None
        self._events: list[bytes | Dropped] = []

    @property
    def pending(self) -> int:
        return len(self._buf)

    def _drop(self, why: str) -> None:
        self.discarded += 1
        self.last_problem = why
        self._events.append(Dropped(why))

    def feed(self, data: bytes) -> list[bytes]:
        return [e for e in self.feed_events(data) if isinstance(e, bytes)]

    def feed_events(self, data: bytes) -> list[bytes | Dropped]:
        """The complete frames' contents and the drops, in the order they happened."""
        frames = self._events = []
        i, n = 0, len(data)
        while i < n:
            if not self._in_frame:
                j = data.find(START_BLOCK, i)
                end = n if j < 0 else j
                if end > i:
                    self.garbage_bytes += end - i
                    self.last_problem = "bytes outside an MLLP frame were ignored"
                if j < 0:
                    break
                self._in_frame, self._skipping = True, False
                self._buf.clear()
                i = j + 1
                continue
            if self._buf[-1:] != END_BLOCK:
                # The content up to the next block character is taken in one slice: a byte at a
                # time would cost a second per few megabytes.
                m = _BLOCK_CHARACTER.search(data, i)
                j = n if m is None else m.start()
                if j > i:
                    if not self._skipping:
                        self._buf += data[i:j]
                        if len(self._buf) > self.max_bytes:
                            self._drop(f"an MLLP frame over the {self.max_bytes}-byte limit was dropped")
                            self._buf.clear()
                            self._skipping = True
                    i = j
                    continue
            byte = data[i]
            i += 1
            if byte == 0x0B:  # a new frame begins before the last one ended: that one is cut short
                if not self._skipping:
                    self._drop(f"an MLLP frame was cut short after {len(self._buf)} bytes by a new start block")
                self._buf.clear()
                self._skipping = False
                continue
            if self._buf[-1:] == END_BLOCK:
                self._buf.pop()
                if byte == 0x0D:
                    if not self._skipping:
                        frames.append(bytes(self._buf))
                elif not self._skipping:
                    self._drop("an MLLP end block 0x1C was not followed by 0x0D: the frame was dropped")
                self._buf.clear()
                self._in_frame = self._skipping = False
                continue
            # Here the byte is 0x1C: held until the next byte says whether it ends the frame.
            if self._skipping:
                self._buf[:] = END_BLOCK  # watch for the CR that ends the oversized frame
            else:
                self._buf.append(byte)
        return frames


# --- Acknowledgements ---------------------------------------------------------------------------

ACCEPTED = ("AA", "CA")  # HL7 table 0008: application accept; commit accept (enhanced mode)
ERRORS = ("AE", "CE")  # application error / commit error: the sender may try again
REJECTED = ("AR", "CR")  # application reject / commit reject: trying again will not help


@dataclass(frozen=True, slots=True)
class Ack:
    code: str  # MSA-1
    control_id: str  # MSA-2: the MSH-10 of the message it answers
    text: str  # MSA-3 and the ERR segments' texts, joined; "" when the engine gave none

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED

    @property
    def error(self) -> bool:
        return self.code in ERRORS

    @property
    def rejected(self) -> bool:
        return self.code in REJECTED


def control_id_of(message: str) -> str:
    """MSH-10 of an ER7 message, as written (the ACK's MSA-2 echoes it)."""
    first = message.split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        raise ValueError("an HL7 message begins with its MSH segment")
    fields = first.split(first[3])  # MSH-1 is the character after "MSH"; fields[n-1] is MSH-n
    if len(fields) < 10 or not fields[9]:
        raise ValueError("the message has no MSH-10 control id")
    return fields[9]


def _unescape(text: str, escape_char: str, separators: dict[str, str]) -> str:
    if not escape_char or escape_char not in text:
        return text
    out: list[str] = []
    parts = text.split(escape_char)
    # Between escape characters: alternately plain text and an escape sequence (HL7 v2.6 2.7.4).
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
        elif part in separators:
            out.append(separators[part])
        elif part.startswith("X") and len(part) % 2 == 1:
            with contextlib.suppress(ValueError):
                out.append(bytes.fromhex(part[1:]).decode(ENCODING, "replace"))
                continue
            out.append(" ")
        else:
            out.append(" ")  # a formatting or unknown escape: a space keeps the words apart
    return "".join(out)


def parse_ack(payload: bytes | str, expected_control_id: str) -> Ack:
    """The ACK in one frame's contents, checked against the message it must answer.

    Raises MllpError (in words) when it is not an ACK, has no MSA, an unknown MSA-1, or answers
    another message (MSA-2 is not ``expected_control_id``)."""
    text = payload.decode(ENCODING, "replace") if isinstance(payload, bytes) else payload
    segments = [s for s in text.replace("\n", "\r").split("\r") if s]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        raise MllpError("the engine's answer is not an HL7 message (no MSH segment)")
    field_sep = segments[0][3]
    encoding = segments[0][4:8]
    padded = encoding + "    "
    component, repetition, escape_char, subcomponent = padded[0], padded[1], padded[2], padded[3]
    if field_sep in ("\r", "\n") or not component.strip():
        raise MllpError("the engine's answer has an unreadable MSH segment")
    separators = {"F": field_sep, "S": component, "T": subcomponent, "R": repetition, "E": escape_char}

    def fields(segment: str) -> list[str]:
        return segment.split(field_sep)

    msa = next((fields(s) for s in segments if s.startswith("MSA" + field_sep)), None)
    if msa is None:
        raise MllpError("the engine's answer has no MSA segment: it is not an acknowledgement")
    code = msa[1].split(component)[0].strip() if len(msa) > 1 else ""
    control_id = msa[2] if len(msa) > 2 else ""
    if code not in ACCEPTED + ERRORS + REJECTED:
        raise MllpError(f"the engine answered with an unknown acknowledgement code {code[:20]!r} (MSA-1)")
    if control_id != expected_control_id:
        raise MllpError(f"the engine acknowledged message {control_id[:60]!r}, not {expected_control_id!r} "
                        "(MSA-2 does not match MSH-10)")
    texts: list[str] = []
    if len(msa) > 3 and msa[3]:
        texts.append(msa[3])
    for seg in segments:
        if not seg.startswith("ERR" + field_sep):
            continue
        err = fields(seg)

        def at(n: int, c: int, err: list[str] = err) -> str:
            parts = err[n].split(component) if len(err) > n else []
            return parts[c - 1] if len(parts) >= c else ""

        # ERR-8 user message and ERR-7 diagnostic text (v2.5+) say what went wrong; the error
        # code's text (ERR-3, or ERR-1.4 in the v2.4 layout some engines still send) is generic,
        # so it is kept only when the engine gave nothing more specific.
        old_layout = at(1, 4).split(subcomponent)
        specific = [t for t in (at(8, 1), at(7, 1)) if t]
        generic = at(3, 2) or at(3, 1) or (old_layout[1] if len(old_layout) > 1 else "") or old_layout[0]
        for t in specific or [generic]:
            if t and t not in texts:
                texts.append(t)
    return Ack(code, control_id, "; ".join(_unescape(t, escape_char, separators) for t in texts))


# --- The client ---------------------------------------------------------------------------------


class MllpClient:
    """Sends one message at a time to an integration engine and waits for its ACK.

    Connects on the first ``send`` and keeps the connection; after any failure the connection is
    closed and the next ``send`` connects again. A reused connection that the engine has closed
    while idle (engines do, after a few minutes) is found on the next send and that send is
    tried once more on a new connection. Every failure is an ``MllpError`` whose text says what
    happened; nothing else escapes ``send``."""

    def __init__(self, host: str, port: int, *, timeout: float, ssl_context: ssl.SSLContext | None = None,
                 max_ack_bytes: int = 65_536) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.max_ack_bytes = max_ack_bytes
        self._sock: socket.socket | None = None
        self.connects = 0

    @property
    def destination(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        where = self.destination
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except socket.gaierror as exc:
            raise MllpError(f"cannot find the engine's address {self.host}: {exc.strerror or exc}") from exc
        except ConnectionRefusedError as exc:
            raise MllpError(f"the engine at {where} refused the connection (is it listening?)") from exc
        except TimeoutError as exc:
            raise MllpError(f"no answer from the engine at {where} within {self.timeout:g} s") from exc
        except OSError as exc:
            raise MllpError(f"cannot connect to the engine at {where}: {exc.strerror or exc}") from exc
        if self.ssl_context is not None:
            try:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
            except (ssl.SSLError, ssl.CertificateError) as exc:
                sock.close()
                raise MllpError(f"the TLS handshake with {where} failed: {exc}") from exc
            except OSError as exc:
                sock.close()
                raise MllpError(f"the TLS handshake with {where} failed: {exc.strerror or exc}") from exc
        self.connects += 1
        return sock

    def send(self, message: str) -> Ack:
        """Send ``message`` and return the engine's ACK to it (AA, AE, AR or the commit codes:
        what they mean is the caller's business). Raises MllpError."""
        try:
            control_id = control_id_of(message)
            data = frame(message)
        except ValueError as exc:
            raise MllpError(f"the message cannot be sent: {exc}") from exc
        reused = self._sock is not None
        try:
            return self._exchange(data, control_id)
        except _StaleConnection as exc:
            self.close()
            if not reused:
                raise MllpError(exc.reason) from None
        except MllpError:
            self.close()
            raise
        try:  # the idle connection had been closed by the engine: once more, on a new one
            return self._exchange(data, control_id)
        except MllpError:
            self.close()
            raise

    def _exchange(self, data: bytes, control_id: str) -> Ack:
        if self._sock is None:
            self._sock = self._connect()
        sock = self._sock
        where = self.destination
        try:
            sock.settimeout(self.timeout)
            sock.sendall(data)
        except TimeoutError as exc:
            raise MllpError(f"the engine at {where} did not take the message within {self.timeout:g} s") from exc
        except OSError as exc:
            raise _StaleConnection(f"the connection to {where} failed while sending: {exc.strerror or exc}") from exc
        reader = FrameReader(self.max_ack_bytes)
        # A socket timeout is real time by nature (the engine is real): the deadline is kept on
        # the monotonic clock, not the session clock, which a test or simulation may run faster.
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MllpError(f"no ACK from the engine at {where} within {self.timeout:g} s")
            try:
                sock.settimeout(remaining)
                chunk = sock.recv(4096)
            except TimeoutError:
                raise MllpError(f"no ACK from the engine at {where} within {self.timeout:g} s") from None
            except OSError as exc:
                raise _StaleConnection(f"the connection to {where} failed while waiting for the ACK: "
                                       f"{exc.strerror or exc}") from exc
            if not chunk:
                raise _StaleConnection(f"the engine at {where} closed the connection without an ACK")
            frames = reader.feed(chunk)
            if frames:
                return parse_ack(frames[0], control_id)
            if reader.discarded:
                raise MllpError(f"the engine at {where} answered with a broken frame: {reader.last_problem}")


class _StaleConnection(MllpError):
    """The connection broke before any ACK: on a reused connection, worth one more try."""


__all__ = ["ACCEPTED", "ERRORS", "MAX_FRAME_BYTES", "REJECTED", "Ack", "FrameReader", "MllpClient", "MllpError",
           "control_id_of", "frame", "parse_ack"]
