"""ICL/1 sentence encoder (see /work/shared/PROTOCOL.md, "ICL/1 framing" and "ICL/1 body").

The simulator writes its own bytes instead of borrowing the console's code, so that a
misreading of the protocol cannot hide in both the encoder and the console's decoder.

A sentence is ``$`` BODY ``*`` HH ``\\r\\n`` with BODY = ``TYPE,SEQ,MS,FIELD,...`` and
HH the XOR of every BODY byte as two upper-case hex digits.
"""

from __future__ import annotations

from collections.abc import Iterable

SEQ_MODULUS = 65536  # SEQ is 0..65535 and wraps 65535 -> 0
MS_MODULUS = 2**32  # the device clock MS is 0..4294967295 and wraps
MAX_SENTENCE_BYTES = 2048  # from '$' to '\n' inclusive


def checksum(body: bytes) -> int:
    """XOR of every byte of BODY (the bytes between '$' and '*')."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def frame(body: str) -> bytes:
    """Wrap a BODY into a complete sentence ``$BODY*HH\\r\\n``.

    Raises ValueError for a BODY the protocol forbids, so that a simulator bug shows up as an
    exception in the tests rather than as a sentence every decoder rejects.
    """
    raw = body.encode("ascii")
    if any(b < 0x20 or b > 0x7E for b in raw) or b"$" in raw or b"*" in raw:
        raise ValueError(f"BODY must be printable ASCII without '$' or '*': {body!r}")
    sentence = b"$" + raw + b"*" + f"{checksum(raw):02X}".encode("ascii") + b"\r\n"
    if len(sentence) > MAX_SENTENCE_BYTES:
        raise ValueError(f"sentence of {len(sentence)} bytes exceeds {MAX_SENTENCE_BYTES}")
    return sentence


def fmt_decimal(value: float, places: int) -> str:
    """A decimal in the protocol's form ``-?[0-9]+(\\.[0-9]+)?``, trailing zeros trimmed.

    Always '.' as the decimal point and never an exponent, whatever the locale or magnitude.
    """
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


class DeviceEncoder:
    """Encodes the sentences of one device: owns its SEQ counter.

    SEQ counts every sentence the device produces, including those a broken link later
    loses, so that the console can count the loss from the gap.
    """

    def __init__(self) -> None:
        self.seq = 0

    def sentence(self, kind: str, ms: int, fields: Iterable[str]) -> bytes:
        """Encode one sentence of type ``kind`` stamped with device time ``ms``."""
        body = ",".join([kind, str(self.seq), str(ms % MS_MODULUS), *fields])
        self.seq = (self.seq + 1) % SEQ_MODULUS
        return frame(body)

    def identity(self, ms: int, role: str, model: str, serial: str, firmware: str) -> bytes:
        """The ID sentence: who is talking (sent on connect and every 60 s)."""
        return self.sentence(
            "ID",
            ms,
            [f"ROLE={role}", f"MODEL={model}", f"SERIAL={serial}", f"FW={firmware}", "PROTO=1"],
        )

    def waveform(self, ms: int, channel: str, rate: int, samples: Iterable[int]) -> bytes:
        """A WF chunk: ``MS`` is the time of the first sample."""
        return self.sentence("WF", ms, [channel, str(rate), *map(str, samples)])
