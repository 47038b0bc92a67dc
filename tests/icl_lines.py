"""Valid ICL/1 sentences for tests that play a device by hand. Written here on purpose, from
PROTOCOL.md, independent of both the console's decoder and the simulator's encoder."""

from __future__ import annotations


def icl(body: str) -> bytes:
    """``$BODY*HH\\r\\n`` where HH is the XOR of the BODY bytes."""
    cs = 0
    for b in body.encode("ascii"):
        cs ^= b
    return f"${body}*{cs:02X}\r\n".encode("ascii")
